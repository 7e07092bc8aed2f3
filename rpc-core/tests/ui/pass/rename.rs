//! `#[rpc(name = "...")]` sets the wire name; the Rust name stays the method's name on both sides.

use rpc_core::{MemoryTransport, service};

#[service]
trait System {
    /// Lists the methods.
    #[rpc(name = "system.listMethods")]
    async fn list_methods(&self) -> Vec<String>;

    #[rpc(name = "system.foo")]
    async fn foo(&self, x: i32) -> i32;

    // The name another method would have had is free to take.
    #[rpc(name = "foo")]
    async fn bar(&self) -> bool;
}

struct Impl;

impl System for Impl {
    async fn list_methods(&self) -> Vec<String> {
        Vec::new()
    }
    async fn foo(&self, x: i32) -> i32 {
        x
    }
    async fn bar(&self) -> bool {
        true
    }
}

fn main() {
    let client = SystemClient::new(MemoryTransport::new(SystemServer::new(Impl)));
    let _ = client.list_methods();
    let _ = client.foo(1);
    let _ = client.bar();

    let names: Vec<&str> = SystemServer::<Impl>::METHODS
        .iter()
        .map(|m| m.name.as_ref())
        .collect();
    assert_eq!(names, ["system.listMethods", "system.foo", "foo"]);
    assert_eq!(SystemServer::<Impl>::METHODS[0].docs, "Lists the methods.");
}

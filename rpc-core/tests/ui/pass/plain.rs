//! The simplest service: plain params and plain returns, including none at all.

use rpc_core::{MemoryTransport, service};

#[service]
trait Math {
    /// Returns num * 2.
    async fn double(&self, num: i64) -> i64;
    async fn concat(&self, a: String, b: Vec<String>) -> String;
    async fn ping(&self);
}

struct Impl;

impl Math for Impl {
    async fn double(&self, num: i64) -> i64 {
        num * 2
    }
    async fn concat(&self, a: String, b: Vec<String>) -> String {
        a + &b.concat()
    }
    async fn ping(&self) {}
}

fn assert_send<T: Send>(_: &T) {}

fn main() {
    let client = MathClient::new(MemoryTransport::new(MathServer::new(Impl)));
    // The client's futures are Send, so they can be spawned on a multi-threaded runtime.
    let call = client.double(7);
    assert_send(&call);
    let _: &dyn std::future::Future<Output = Result<i64, rpc_core::Error>> = &call;
    let _ = client.concat(String::new(), Vec::new());
    let _ = client.ping();

    let methods = MathServer::<Impl>::METHODS;
    assert_eq!(methods.len(), 3);
    assert_eq!(methods[0].docs, "Returns num * 2.");
    assert_eq!(methods[1].params[1].ty, "Vec<String>");
    assert_eq!(methods[2].returns, "()");
}

//! A `&Context` param, in any position and under any path, is given by the transport and not sent.

use rpc_core::{Context, MemoryTransport, RemoteAddr, service};

#[service]
trait Peer {
    async fn whoami(&self, cx: &rpc_core::Context) -> String;
    async fn greet(&self, greeting: String, cx: &Context, name: Option<String>) -> String;
}

struct Impl;

impl Peer for Impl {
    async fn whoami(&self, cx: &Context) -> String {
        match cx.get::<RemoteAddr>() {
            Some(RemoteAddr(addr)) => addr.to_string(),
            None => "stranger".into(),
        }
    }
    async fn greet(&self, greeting: String, cx: &Context, name: Option<String>) -> String {
        let _ = cx;
        format!("{greeting}, {}", name.unwrap_or_default())
    }
}

fn main() {
    let client = PeerClient::new(MemoryTransport::new(PeerServer::new(Impl)));
    // The client's methods have no context param.
    let _ = client.whoami();
    let _ = client.greet("hi", None);

    let methods = PeerServer::<Impl>::METHODS;
    assert!(methods[0].params.is_empty());
    let names: Vec<&str> = methods[1].params.iter().map(|p| p.name).collect();
    assert_eq!(names, ["greeting", "name"]);
}

//! What the example tests share: the interop service on each duplex transport, on a port the OS picks.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use rpc_examples::interop::{InteropServer, InteropService};
use rpc_test_support::bind_loopback;

/// A fresh instance of the interop service's dispatcher.
pub fn service() -> InteropServer<InteropService> {
    InteropServer::new(InteropService::default())
}

/// A MessagePack-RPC server of its own; its address.
pub async fn msgpack() -> String {
    let listener = bind_loopback().await;
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(rpc_msgpack::Server::new(service()).serve(listener));
    addr
}

/// A JSON-RPC server over TCP (newline-delimited) of its own; its address.
pub async fn json_tcp() -> String {
    let listener = bind_loopback().await;
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(rpc_json::duplex::Server::new(service()).serve(listener));
    addr
}

/// A JSON-RPC server over WebSocket of its own; its `ws://` URL.
pub async fn json_ws() -> String {
    let listener = bind_loopback().await;
    let addr = listener.local_addr().unwrap();
    tokio::spawn(rpc_json::duplex::Server::new(service()).serve_ws(listener));
    format!("ws://{addr}/")
}

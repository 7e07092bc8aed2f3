//! Cancellation across the wire on the duplex transports, LSP's way (`$/cancelRequest`): raw Python peers
//! (MessagePack over TCP, newline-delimited JSON over TCP, JSON over `websockets`) cancel a running call and get
//! -32800 at once, and its handler never finishes; our client cancels a call whose future is dropped (a
//! caller's `timeout`) on MessagePack-RPC and JSON-RPC over TCP and WebSocket.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use rpc_examples::interop::{InteropClient, InteropServer, InteropService};
use rpc_test_support::{bind_loopback, require_python_module, run_python};

/// `python/cancel_peer.py MODE ADDRESS`.
const CANCEL_PEER: &str = include_str!("python/cancel_peer.py");

fn service() -> InteropServer<InteropService> {
    InteropServer::new(InteropService::default())
}

/// A MessagePack-RPC server; its address.
async fn msgpack() -> String {
    let listener = bind_loopback().await;
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(rpc_msgpack::Server::new(service()).serve(listener));
    addr
}

/// A JSON-RPC server over TCP (newline-delimited); its address.
async fn json_tcp() -> String {
    let listener = bind_loopback().await;
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(rpc_json::duplex::Server::new(service()).serve(listener));
    addr
}

/// A JSON-RPC server over WebSocket; its `ws://` URL.
async fn json_ws() -> String {
    let listener = bind_loopback().await;
    let addr = listener.local_addr().unwrap();
    tokio::spawn(rpc_json::duplex::Server::new(service()).serve_ws(listener));
    format!("ws://{addr}/")
}

#[tokio::test]
async fn a_python_msgpack_peer_cancels_a_running_call() {
    require_python_module("msgpack", "msgpack==1.2.4");
    assert_eq!(run_python(CANCEL_PEER, &["msgpack", &msgpack().await]).await, "ok\n");
}

#[tokio::test]
async fn a_python_json_peer_over_tcp_cancels_a_running_call() {
    assert_eq!(run_python(CANCEL_PEER, &["ndjson", &json_tcp().await]).await, "ok\n");
}

#[tokio::test]
async fn a_python_websockets_peer_cancels_a_running_call() {
    require_python_module("websockets", "websockets==17.4");
    assert_eq!(run_python(CANCEL_PEER, &["ws", &json_ws().await]).await, "ok\n");
}

/// A call given up after 100 ms is cancelled on the server: the counter it would bump is unchanged once it
/// would have finished, and the connection serves on.
async fn check_dropped_call_is_cancelled<T: rpc_core::Transport>(transport: T) {
    let interop = InteropClient::new(transport);
    let gave_up = tokio::time::timeout(Duration::from_millis(100), interop.slow_bump(1000)).await;
    assert!(gave_up.is_err(), "slow_bump(1000) answered within 100 ms: {gave_up:?}");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(interop.counter().await.unwrap(), 0, "the dropped call ran on the server");
    assert_eq!(interop.double(4).await.unwrap(), 8);
}

#[tokio::test]
async fn our_msgpack_client_cancels_a_dropped_call() {
    let client = rpc_msgpack::Client::connect(msgpack().await.as_str()).await.unwrap();
    check_dropped_call_is_cancelled(client).await;
}

#[tokio::test]
async fn our_json_client_over_tcp_cancels_a_dropped_call() {
    let client = rpc_json::duplex::Client::connect(json_tcp().await.as_str()).await.unwrap();
    check_dropped_call_is_cancelled(client).await;
}

#[tokio::test]
async fn our_json_client_over_websocket_cancels_a_dropped_call() {
    let client = rpc_json::duplex::Client::connect_ws(&json_ws().await).await.unwrap();
    check_dropped_call_is_cancelled(client).await;
}

/// The client's own call timeout cancels the call on the server too.
#[tokio::test]
async fn a_call_timeout_cancels_the_call_on_the_server() {
    let addr = msgpack().await;
    let client = rpc_msgpack::Client::builder().timeout(Some(Duration::from_millis(100))).connect(addr.as_str()).await;
    let interop = InteropClient::new(client.unwrap());
    let err = interop.slow_bump(1000).await.unwrap_err();
    assert!(matches!(err, rpc_core::Error::Timeout(_)), "{err:?}");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(interop.counter().await.unwrap(), 0, "the timed-out call ran on the server");
}

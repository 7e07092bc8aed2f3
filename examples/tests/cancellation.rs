//! Cancellation across the wire on the duplex transports, LSP's way (`$/cancelRequest`): raw Python peers
//! (MessagePack over TCP, newline-delimited JSON over TCP, JSON over `websockets`) cancel a running call and get
//! -32800 at once, and its handler never finishes; our client cancels a call whose future is dropped (a
//! caller's `timeout`) on MessagePack-RPC and JSON-RPC over TCP and WebSocket.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{json_tcp, json_ws, msgpack, service};
use rpc_examples::interop::InteropClient;
use rpc_test_support::{bind_loopback, require_python_module, run_python};

/// `python/cancel_peer.py MODE ADDRESS`.
const CANCEL_PEER: &str = include_str!("python/cancel_peer.py");

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

// ---------------------------------------------------------------------------------------------------------
// HTTP: a client that gives up stops the handler, when its connection closes and through a proxy that keeps
// the upstream connection open (the `Rpc-Timeout-Ms` deadline).

/// A TCP proxy to `upstream` that keeps each upstream connection open after its client has gone (as a pooling
/// proxy may): the server never sees the client leave. Its address.
async fn sticky_proxy(upstream: std::net::SocketAddr) -> std::net::SocketAddr {
    let listener = bind_loopback().await;
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut kept = Vec::new();
        while let Ok((client, _)) = listener.accept().await {
            let server = tokio::net::TcpStream::connect(upstream).await.unwrap();
            let (mut client_read, mut client_write) = client.into_split();
            let (mut server_read, server_write) = server.into_split();
            let server_write = std::sync::Arc::new(tokio::sync::Mutex::new(server_write));
            kept.push(server_write.clone());
            tokio::spawn(async move {
                let mut buf = vec![0; 16 * 1024];
                loop {
                    use tokio::io::{AsyncReadExt, AsyncWriteExt};
                    match client_read.read(&mut buf).await {
                        // The client has gone: the upstream connection stays open (its write half held in `kept`).
                        Ok(0) | Err(_) => return,
                        Ok(n) => {
                            if server_write.lock().await.write_all(&buf[..n]).await.is_err() {
                                return;
                            }
                        }
                    }
                }
            });
            tokio::spawn(async move {
                let _ = tokio::io::copy(&mut server_read, &mut client_write).await;
            });
        }
    });
    addr
}

/// An HTTP server of the interop service (`xml` or else JSON-RPC); its address.
async fn http_server(xml: bool) -> std::net::SocketAddr {
    let listener = bind_loopback().await;
    let addr = listener.local_addr().unwrap();
    if xml {
        tokio::spawn(rpc_xml::Server::new(service()).serve(listener));
    } else {
        tokio::spawn(rpc_json::Server::new(service()).serve(listener));
    }
    addr
}

/// Gives up on `slow_bump(1000)` after 200 ms through `via`, then checks on `server` 1.5 s later that the
/// handler did not finish.
async fn check_http_give_up(xml: bool, server: std::net::SocketAddr, via: std::net::SocketAddr) {
    let timeout = Some(Duration::from_millis(200));
    let url = format!("http://{via}/");
    let direct = format!("http://{server}/");
    let (slow, counter) = if xml {
        let slow = rpc_xml::Client::builder().timeout(timeout).build(&url).unwrap();
        let err = InteropClient::new(slow).slow_bump(1000).await.unwrap_err();
        assert!(matches!(err, rpc_core::Error::Timeout(_)), "{err:?}");
        tokio::time::sleep(Duration::from_millis(1500)).await;
        (err, InteropClient::new(rpc_xml::Client::new(&direct).unwrap()).counter().await.unwrap())
    } else {
        let slow = rpc_json::Client::builder().timeout(timeout).build(&url).unwrap();
        let err = InteropClient::new(slow).slow_bump(1000).await.unwrap_err();
        assert!(matches!(err, rpc_core::Error::Timeout(_)), "{err:?}");
        tokio::time::sleep(Duration::from_millis(1500)).await;
        (err, InteropClient::new(rpc_json::Client::new(&direct).unwrap()).counter().await.unwrap())
    };
    assert_eq!(counter, 0, "the handler ran on after the client gave up ({slow})");
}

#[tokio::test]
async fn an_xml_rpc_client_that_gives_up_stops_the_handler() {
    let server = http_server(true).await;
    check_http_give_up(true, server, server).await;
}

#[tokio::test]
async fn a_json_rpc_http_client_that_gives_up_stops_the_handler() {
    let server = http_server(false).await;
    check_http_give_up(false, server, server).await;
}

#[tokio::test]
async fn an_xml_rpc_deadline_holds_through_a_proxy_that_keeps_the_connection() {
    let server = http_server(true).await;
    check_http_give_up(true, server, sticky_proxy(server).await).await;
}

#[tokio::test]
async fn a_json_rpc_deadline_holds_through_a_proxy_that_keeps_the_connection() {
    let server = http_server(false).await;
    check_http_give_up(false, server, sticky_proxy(server).await).await;
}

/// Without a deadline header, a closed HTTP connection alone stops the handler: the request is sent by hand,
/// and the socket closed 200 ms later.
#[tokio::test]
async fn a_closed_http_connection_drops_its_handler() {
    use tokio::io::AsyncWriteExt;
    let server = http_server(true).await;
    let body = "<?xml version=\"1.0\"?><methodCall><methodName>slow_bump</methodName>\
                <params><param><value><int>1000</int></value></param></params></methodCall>";
    let request =
        format!("POST / HTTP/1.1\r\nHost: x\r\nContent-Type: text/xml\r\nContent-Length: {}\r\n\r\n{body}", body.len());
    let mut socket = tokio::net::TcpStream::connect(server).await.unwrap();
    socket.write_all(request.as_bytes()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    drop(socket);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let counter = InteropClient::new(rpc_xml::Client::new(&format!("http://{server}/")).unwrap()).counter().await;
    assert_eq!(counter.unwrap(), 0, "the handler ran on after its connection closed");
}

// ---------------------------------------------------------------------------------------------------------
// Deadlines: a handler's calls inherit what is left of its own.

/// Relays to a second server: calls its `slow_bump(1000)` with a client whose own timeout is the default
/// (30 s), and answers how that call ended and after how long.
#[rpc_core::service]
trait Relay {
    /// The relayed call's outcome and its duration in ms.
    async fn relay(&self, cx: &rpc_core::Context) -> (String, u64);
}

struct Relayer {
    downstream: rpc_msgpack::Client,
}

impl Relay for Relayer {
    async fn relay(&self, cx: &rpc_core::Context) -> (String, u64) {
        assert!(cx.remaining().is_some_and(|left| left <= Duration::from_millis(300)), "{:?}", cx.remaining());
        let started = std::time::Instant::now();
        let outcome = InteropClient::new(self.downstream.clone()).slow_bump(1000).await;
        let outcome = match outcome {
            Err(rpc_core::Error::Timeout(_)) => "timeout".to_owned(),
            other => format!("{other:?}"),
        };
        (outcome, started.elapsed().as_millis() as u64)
    }
}

#[tokio::test]
async fn a_call_made_by_a_handler_gives_up_with_the_handler() {
    let downstream_addr = msgpack().await;
    let downstream = rpc_msgpack::Client::connect(downstream_addr.as_str()).await.unwrap();
    let listener = bind_loopback().await;
    let addr = listener.local_addr().unwrap().to_string();
    let relay = rpc_msgpack::Server::new(RelayServer::new(Relayer { downstream }))
        .handler_timeout(Some(Duration::from_millis(300)));
    tokio::spawn(relay.serve(listener));
    let client = RelayClient::new(rpc_msgpack::Client::connect(addr.as_str()).await.unwrap());
    let (outcome, ms) = client.relay().await.unwrap();
    assert_eq!(outcome, "timeout");
    assert!((250..=600).contains(&ms), "the relayed call gave up after {ms} ms, not at the handler's 300 ms");
    // And it was cancelled downstream.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let downstream = InteropClient::new(rpc_msgpack::Client::connect(downstream_addr.as_str()).await.unwrap());
    assert_eq!(downstream.counter().await.unwrap(), 0);
}

/// `with_deadline(None, ..)` frees a handler's calls from its deadline.
#[tokio::test]
async fn calls_under_with_deadline_none_wait_their_own_timeout() {
    let addr = msgpack().await;
    let interop = InteropClient::new(rpc_msgpack::Client::connect(addr.as_str()).await.unwrap());
    let soon = tokio::time::Instant::now() + Duration::from_millis(100);
    let inherited = rpc_core::with_deadline(Some(soon), interop.slow_bump(400)).await;
    assert!(matches!(inherited, Err(rpc_core::Error::Timeout(_))), "{inherited:?}");
    let freed = rpc_core::with_deadline(Some(soon), rpc_core::with_deadline(None, interop.slow_bump(400))).await;
    assert_eq!(freed.unwrap(), 1);
}

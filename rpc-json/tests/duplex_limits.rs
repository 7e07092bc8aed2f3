//! What idle connections cost a JSON-RPC duplex server (TCP and WebSocket), measured with a counting allocator
//! in this process, and that it goes on serving others meanwhile.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use rpc_examples::interop::{InteropClient, InteropServer, InteropService};
use rpc_json::duplex::{Client, Server};
use rpc_test_support::bind_loopback;

#[global_allocator]
static HEAP: rpc_test_support::CountingAlloc = rpc_test_support::CountingAlloc::new();

/// The tests measure the whole process's heap: one at a time.
static ALONE: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// 2,000 connections each (both ends live in this process, and the file-descriptor limit must hold them all;
/// 10,000 cost five times as much).
const CONNECTIONS: usize = 2000;

/// Opens `CONNECTIONS` connections with `open`, 50 at a time (more at once overflow loopback's SYN queue).
async fn open_many<T: Send + 'static, F>(open: impl Fn() -> F) -> Vec<T>
where
    F: std::future::Future<Output = T> + Send + 'static,
{
    let mut all = Vec::with_capacity(CONNECTIONS);
    for _ in (0..CONNECTIONS).step_by(50) {
        let opening: Vec<_> = (0..50).map(|_| tokio::spawn(open())).collect();
        for one in opening {
            all.push(one.await.unwrap());
        }
    }
    all
}

#[tokio::test]
async fn idle_tcp_connections_cost_little_and_do_not_block_others() {
    let _alone = ALONE.lock().await;
    let listener = bind_loopback().await;
    let addr = listener.local_addr().unwrap();
    tokio::spawn(Server::new(InteropServer::new(InteropService::default())).serve(listener));
    let bystander = InteropClient::new(Client::connect(addr).await.unwrap());
    assert_eq!(bystander.double(1).await.unwrap(), 2);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let before = HEAP.in_use();
    let silent = open_many(move || async move { tokio::net::TcpStream::connect(addr).await.unwrap() }).await;
    assert_eq!(bystander.double(2).await.unwrap(), 4);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let each = HEAP.in_use().saturating_sub(before) / CONNECTIONS;
    assert!(each < 4 * 1024, "{each} bytes per TCP connection that has sent nothing");
    assert_eq!(bystander.double(21).await.unwrap(), 42);
    drop(silent);
}

#[tokio::test]
async fn idle_websocket_connections_cost_little_and_do_not_block_others() {
    let _alone = ALONE.lock().await;
    let listener = bind_loopback().await;
    let url = format!("ws://{}/", listener.local_addr().unwrap());
    tokio::spawn(Server::new(InteropServer::new(InteropService::default())).serve_ws(listener));
    let bystander = InteropClient::new(Client::connect_ws(&url).await.unwrap());
    assert_eq!(bystander.double(1).await.unwrap(), 2);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let before = HEAP.in_use();
    // Connected and handshaken, then quiet: our own clients, so both ends are counted here.
    let quiet = open_many({
        let url = url.clone();
        move || {
            let url = url.clone();
            async move { Client::connect_ws(&url).await.unwrap() }
        }
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let each = HEAP.in_use().saturating_sub(before) / CONNECTIONS;
    // Both ends' WebSocket state (tungstenite's 8 KiB read buffer each), sessions and sockets.
    assert!(each < 64 * 1024, "{each} bytes per idle WebSocket connection, both ends");
    assert_eq!(bystander.double(21).await.unwrap(), 42);
    drop(quiet);
}

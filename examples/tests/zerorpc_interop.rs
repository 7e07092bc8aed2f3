//! zerorpc both ways with zerorpc-python 0.6.3 (on pyzmq and gevent): its client calls our server (calls, a
//! stream paced by its credits, faults as `RemoteError`, introspection, a 12 s call that our heartbeats keep
//! alive), and our client calls its server (the same, its exceptions as faults), and notices within two
//! heartbeats that a killed server is gone.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use futures_util::StreamExt;
use rpc_core::{Fault, Stream, service};
use rpc_test_support::{require_python_module, run_python, spawn_python_server};

/// `python/zerorpc_client.py ENDPOINT`.
const CLIENT: &str = include_str!("python/zerorpc_client.py");
/// `python/zerorpc_server.py HEARTBEAT_SECONDS`.
const SERVER: &str = include_str!("python/zerorpc_server.py");

fn require_zerorpc() {
    require_python_module("zerorpc", "zerorpc==0.6.3");
}

#[tokio::test]
async fn zerorpc_python_calls_our_server() {
    require_zerorpc();
    let server = rpc_zerorpc::Server::new(common::service()).name("interop");
    let bound = server.bind(&["tcp://127.0.0.1:0"]).await.unwrap();
    let endpoint = bound.endpoints()[0].clone();
    tokio::spawn(bound.run());
    assert_eq!(run_python(CLIENT, &[&endpoint]).await, "ok\n");
}

/// The zerorpc-python server's methods, as our generated client calls them.
#[allow(dead_code)]
#[service]
trait Python {
    /// Returns num * 2.
    async fn double(&self, num: i64) -> i64;
    /// 0..n, one every interval_ms.
    async fn count(&self, n: u64, interval_ms: Option<u64>) -> Stream<u64>;
    /// Raises ValueError(message).
    async fn fail(&self, message: String) -> Result<(), Fault>;
    /// Sleeps ms, then returns it.
    async fn sleep(&self, ms: u64) -> u64;
}

#[tokio::test]
async fn our_client_calls_a_zerorpc_python_server() {
    require_zerorpc();
    let peer = spawn_python_server(SERVER, &["5"]).await;
    let endpoint = format!("tcp://127.0.0.1:{}", peer.port());
    let client = PythonClient::new(rpc_zerorpc::Client::connect(&endpoint).await.unwrap());
    assert_eq!(client.double(21).await.unwrap(), 42);
    let items: Vec<u64> = client.count(3, None).await.unwrap().map(Result::unwrap).collect().await;
    assert_eq!(items, [0, 1, 2]);
    // Past the 100 credits of our buffer: we grant more as we read.
    let many: Vec<u64> = client.count(1000, None).await.unwrap().map(Result::unwrap).collect().await;
    assert_eq!(many, (0..1000).collect::<Vec<_>>());
    match client.fail("bad input").await {
        Err(rpc_core::Error::Fault(fault)) => {
            assert_eq!(
                (fault.code, fault.message.as_str()),
                (rpc_zerorpc::event::SERVER_ERROR, "ValueError: bad input")
            );
            let data = fault.data.expect("name and traceback");
            assert!(format!("{data:?}").contains("Traceback"), "{data:?}");
        }
        other => panic!("{other:?}"),
    }
    // Two of zerorpc's heartbeat intervals and more: its heartbeats keep our call alive.
    let started = std::time::Instant::now();
    assert_eq!(client.sleep(12_000).await.unwrap(), 12_000);
    assert!(started.elapsed() >= Duration::from_secs(12));
    drop(peer);
}

#[tokio::test]
async fn a_killed_zerorpc_peer_fails_our_call_within_two_heartbeats() {
    require_zerorpc();
    let peer = spawn_python_server(SERVER, &["0.5"]).await;
    let endpoint = format!("tcp://127.0.0.1:{}", peer.port());
    let transport =
        rpc_zerorpc::Client::builder().heartbeat(Duration::from_millis(500)).connect(&endpoint).await.unwrap();
    let client = PythonClient::new(transport);
    assert_eq!(client.double(1).await.unwrap(), 2);
    let call = tokio::spawn(async move { client.sleep(30_000).await });
    tokio::time::sleep(Duration::from_millis(1500)).await;
    drop(peer);
    let killed = std::time::Instant::now();
    let error = tokio::time::timeout(Duration::from_secs(5), call).await.unwrap().unwrap().unwrap_err();
    assert!(error.to_string().contains("lost the remote"), "{error}");
    // Two heartbeats of 500 ms, and the tick that notices.
    assert!(killed.elapsed() < Duration::from_millis(1500), "noticed after {:?}", killed.elapsed());
}

#[tokio::test]
async fn several_endpoints_each_way_and_ipc() {
    use rpc_examples::interop::{InteropClient, InteropServer, InteropService};
    let dir = rpc_test_support::TempDir::new("zerorpc");
    let ipc = format!("ipc://{}", dir.path().join("interop.sock").display());
    // One server bound twice (TCP and ipc), sharing one counter.
    let one = rpc_zerorpc::Server::new(InteropServer::new(InteropService::default()));
    let one = one.bind(&["tcp://127.0.0.1:0", &ipc]).await.unwrap();
    let one_tcp = one.endpoints()[0].clone();
    tokio::spawn(one.run());
    let two = rpc_zerorpc::Server::new(InteropServer::new(InteropService::default()));
    let two = two.bind(&["tcp://127.0.0.1:0"]).await.unwrap();
    let two_tcp = two.endpoints()[0].clone();
    tokio::spawn(two.run());

    let over_ipc = InteropClient::new(rpc_zerorpc::Client::connect(&ipc).await.unwrap());
    assert_eq!(over_ipc.double(4).await.unwrap(), 8);
    // Calls take the endpoints in turn: each server counts half of them.
    let both = rpc_zerorpc::Client::builder().connect_all(&[&one_tcp, &two_tcp]).await.unwrap();
    let both = InteropClient::new(both);
    for _ in 0..10 {
        both.bump(1).await.unwrap();
    }
    let (one_count, two_count) = (
        InteropClient::new(rpc_zerorpc::Client::connect(&one_tcp).await.unwrap()).counter().await.unwrap(),
        InteropClient::new(rpc_zerorpc::Client::connect(&two_tcp).await.unwrap()).counter().await.unwrap(),
    );
    assert_eq!((one_count, two_count), (5, 5));
    // The ipc endpoint is the same server as the first TCP one.
    assert_eq!(over_ipc.counter().await.unwrap(), 5);
    // A stream stays on its server.
    let items: Vec<u64> = both.count(300, None).await.unwrap().map(Result::unwrap).collect().await;
    assert_eq!(items, (0..300).collect::<Vec<_>>());
}

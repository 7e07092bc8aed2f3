//! jsonrpsee, the most used Rust JSON-RPC library, as a real peer: its WebSocket client against our server,
//! and our clients (WebSocket and HTTP) against its server.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use jsonrpsee::core::ClientError;
use jsonrpsee::core::client::ClientT;
use jsonrpsee::rpc_params;
use jsonrpsee::types::ErrorObjectOwned;
use jsonrpsee::ws_client::WsClientBuilder;
use rpc_core::{Fault, service};
use rpc_examples::interop::{InteropServer, InteropService};
use rpc_test_support::bind_loopback;

#[tokio::test]
async fn the_jsonrpsee_ws_client_calls_our_server() {
    let listener = bind_loopback().await;
    let url = format!("ws://{}/", listener.local_addr().unwrap());
    tokio::spawn(rpc_json::duplex::Server::new(InteropServer::new(InteropService::default())).serve_ws(listener));
    let client = WsClientBuilder::default().build(&url).await.unwrap();

    let n: i64 = client.request("double", rpc_params![21]).await.unwrap();
    assert_eq!(n, 42);
    let echoed: serde_json::Value =
        client.request("echo", rpc_params![serde_json::json!({"a": [1, 2.5, null]})]).await.unwrap();
    assert_eq!(echoed, serde_json::json!({"a": [1, 2.5, null]}));
    match client.request::<(), _>("fail", rpc_params![7, "seven"]).await {
        Err(ClientError::Call(e)) => assert_eq!((e.code(), e.message()), (7, "seven")),
        other => panic!("{other:?}"),
    }
    match client.request::<(), _>("nope", rpc_params![]).await {
        Err(ClientError::Call(e)) => assert_eq!(e.code(), -32601),
        other => panic!("{other:?}"),
    }
    // Notifications run before the request that follows them.
    for _ in 0..100 {
        client.notification("bump", rpc_params![1]).await.unwrap();
    }
    let counter: i64 = client.request("counter", rpc_params![]).await.unwrap();
    assert_eq!(counter, 100);
    // Pipelined on its one connection: the quick call is answered while the slow one runs.
    let started = std::time::Instant::now();
    let (slow, quick) = tokio::join!(client.request::<i64, _>("slow_bump", rpc_params![300]), async {
        let n: i64 = client.request("double", rpc_params![1]).await.unwrap();
        (n, started.elapsed())
    });
    assert_eq!(slow.unwrap(), 101);
    assert_eq!(quick.0, 2);
    assert!(quick.1 < Duration::from_millis(250), "double waited for slow_bump: {:?}", quick.1);
}

/// The jsonrpsee server's methods: only the generated client is used.
#[allow(dead_code)]
#[service]
trait Remote {
    /// Returns num * 2.
    async fn double(&self, num: i64) -> i64;
    /// Sleeps ms, then returns ms.
    async fn slow(&self, ms: u64) -> u64;
}

#[tokio::test]
async fn our_clients_call_a_jsonrpsee_server() {
    let server = jsonrpsee::server::Server::builder().build("127.0.0.1:0").await.unwrap();
    let addr = server.local_addr().unwrap();
    let mut module = jsonrpsee::RpcModule::new(());
    module
        .register_method("double", |params, _, _| {
            let (n,): (i64,) = params.parse()?;
            Ok::<i64, ErrorObjectOwned>(n * 2)
        })
        .unwrap();
    module
        .register_async_method("slow", |params, _, _| async move {
            let (ms,): (u64,) = params.parse()?;
            tokio::time::sleep(Duration::from_millis(ms)).await;
            Ok::<u64, ErrorObjectOwned>(ms)
        })
        .unwrap();
    let handle = server.start(module);

    // Over WebSocket, pipelined.
    let ws = RemoteClient::new(rpc_json::duplex::Client::connect_ws(&format!("ws://{addr}/")).await.unwrap());
    assert_eq!(ws.double(21).await.unwrap(), 42);
    let started = std::time::Instant::now();
    let (slow, quick) = tokio::join!(ws.slow(300), async { (ws.double(1).await.unwrap(), started.elapsed()) });
    assert_eq!(slow.unwrap(), 300);
    assert_eq!(quick.0, 2);
    assert!(quick.1 < Duration::from_millis(250), "double waited for slow: {:?}", quick.1);
    let err = ws.transport().call("nope", vec![]).await.unwrap_err();
    assert_eq!(err.as_fault().map(|f| f.code), Some(Fault::METHOD_NOT_FOUND), "{err}");

    // Over HTTP, on the same port.
    let http = RemoteClient::new(rpc_json::Client::new(&format!("http://{addr}/")).unwrap());
    assert_eq!(http.double(4).await.unwrap(), 8);
    handle.stop().unwrap();
}

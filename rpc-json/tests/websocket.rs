//! JSON-RPC 2.0 over WebSocket on the duplex engine: our client and server, Python's `websockets` as client
//! and as server, and hostile input.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use rpc_core::{Fault, Value, service};
use rpc_examples::interop::{InteropClient, InteropServer, InteropService};
use rpc_json::duplex::{Client, Server};
use rpc_test_support::bind_loopback;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const WEBSOCKETS: &str = "websockets==17.4";

/// A WebSocket interop server on a fresh loopback port; its `ws://` URL.
async fn serve_ws(server: Server<InteropServer<InteropService>>) -> String {
    let listener = bind_loopback().await;
    let addr = listener.local_addr().unwrap();
    tokio::spawn(server.serve_ws(listener));
    format!("ws://{addr}/")
}

fn interop() -> Server<InteropServer<InteropService>> {
    Server::new(InteropServer::new(InteropService::default()))
}

#[service]
trait Callback {
    /// Returns num * 2.
    async fn double(&self, num: i64) -> i64;
}

struct Doubler;

impl Callback for Doubler {
    async fn double(&self, num: i64) -> i64 {
        num * 2
    }
}

#[tokio::test]
async fn our_client_and_server_pipeline_and_call_both_ways() {
    let url = serve_ws(interop()).await;
    let client = Client::builder().handler(CallbackServer::new(Doubler)).connect_ws(&url).await.unwrap();
    let interop = InteropClient::new(client.clone());
    assert_eq!(interop.double(9).await.unwrap(), 18);
    let err = interop.fail(3, "three").await.unwrap_err();
    assert_eq!(err.as_fault().map(|f| (f.code, f.message.as_str())), Some((3, "three")));

    // slow_bump(300) then double(1) on one connection: double is answered first.
    let started = std::time::Instant::now();
    let (slow, quick) = tokio::join!(interop.slow_bump(300), async {
        let answer = interop.double(1).await.unwrap();
        (answer, started.elapsed())
    });
    assert_eq!(quick.0, 2);
    assert!(quick.1 < Duration::from_millis(250), "double waited for slow_bump: {:?}", quick.1);
    assert_eq!(slow.unwrap(), 1);

    // 1000 notifications, then counter: all of them have run.
    for _ in 0..1000 {
        client.notify("bump", vec![1.into()]).await.unwrap();
    }
    assert_eq!(interop.counter().await.unwrap(), 1001);

    // The server calls back into our handler while the other calls go on.
    let (asked, other) = tokio::join!(interop.ask_client("double", vec![4.into()]), interop.double(5));
    assert_eq!(asked.unwrap(), Value::Int(8));
    assert_eq!(other.unwrap(), 10);
}

#[tokio::test]
async fn python_websockets_client_calls_and_a_binary_frame_closes() {
    rpc_test_support::require_python_module("websockets", WEBSOCKETS);
    let url = serve_ws(interop()).await;
    let script = r#"
import json, sys
from websockets.sync.client import connect
from websockets.exceptions import ConnectionClosed
with connect(sys.argv[1]) as ws:
    ws.send(json.dumps({"jsonrpc": "2.0", "method": "double", "params": [21], "id": 1}))
    print(json.loads(ws.recv())["result"])
    ws.send(json.dumps([{"jsonrpc": "2.0", "method": "add", "params": {"a": 1, "b": 2}, "id": "b"}]))
    print(json.loads(ws.recv())[0]["result"])
    ws.send("not json")
    print(json.loads(ws.recv())["error"]["code"])
    ws.send(b"\x00\x01")
    print(json.loads(ws.recv())["error"]["code"])
    try:
        ws.recv(timeout=10)
        print("still open")
    except ConnectionClosed:
        print("closed")
"#;
    let out = rpc_test_support::run_python(script, &[&url]).await;
    assert_eq!(out, "42\n3\n-32700\n-32600\nclosed\n");
}

#[tokio::test]
async fn our_client_calls_a_python_websockets_server_that_calls_back() {
    rpc_test_support::require_python_module("websockets", WEBSOCKETS);
    // A JSON-RPC server in Python: `double` answers at once; `ask` calls our `double` first.
    let script = r#"
import asyncio, json
from websockets.asyncio.server import serve

async def handler(ws):
    pending = {}
    async def ask(request):
        fut = asyncio.get_running_loop().create_future()
        pending["py-1"] = fut
        await ws.send(json.dumps({"jsonrpc": "2.0", "method": "double", "params": [request["params"][0]], "id": "py-1"}))
        answer = await fut
        await ws.send(json.dumps({"jsonrpc": "2.0", "result": answer["result"] + 1, "id": request["id"]}))
    async for text in ws:
        message = json.loads(text)
        if "method" not in message:
            pending.pop(message["id"]).set_result(message)
        elif message["method"] == "double":
            await ws.send(json.dumps({"jsonrpc": "2.0", "result": message["params"][0] * 2, "id": message["id"]}))
        elif message["method"] == "ask":
            asyncio.get_running_loop().create_task(ask(message))
        else:
            await ws.send(json.dumps({"jsonrpc": "2.0", "error": {"code": -32601, "message": "no " + message["method"]}, "id": message["id"]}))

async def main():
    async with serve(handler, "127.0.0.1", 0) as server:
        print(server.sockets[0].getsockname()[1], flush=True)
        await asyncio.get_running_loop().create_future()

asyncio.run(main())
"#;
    let peer = rpc_test_support::spawn_python_server(script, &[]).await;
    let url = format!("ws://127.0.0.1:{}/", peer.port());
    let client = Client::builder().handler(CallbackServer::new(Doubler)).connect_ws(&url).await.unwrap();
    assert_eq!(client.call("double", vec![7.into()]).await.unwrap(), Value::Int(14));
    assert_eq!(client.call("ask", vec![10.into()]).await.unwrap(), Value::Int(21));
    let err = client.call("nope", vec![]).await.unwrap_err();
    assert_eq!(err.as_fault().map(|f| f.code), Some(Fault::METHOD_NOT_FOUND));
}

#[tokio::test]
async fn limits_and_stalled_handshakes_close_only_their_own_connection() {
    let server = interop().max_message_size(1024).ws_handshake_timeout(Duration::from_millis(300));
    let url = serve_ws(server).await;
    let good = InteropClient::new(Client::connect_ws(&url).await.unwrap());

    // A message over the limit: one error, then the connection is closed.
    let client = Client::connect_ws(&url).await.unwrap();
    let err = client.call("echo", vec!["x".repeat(4096).into()]).await.unwrap_err();
    assert!(err.to_string().contains("closed"), "{err}");

    // A handshake that never finishes is closed after the handshake timeout.
    let addr = url.trim_start_matches("ws://").trim_end_matches('/');
    let mut stalled = tokio::net::TcpStream::connect(addr).await.unwrap();
    stalled.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").await.unwrap();
    let mut rest = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), stalled.read_to_end(&mut rest)).await;
    assert!(read.is_ok(), "the stalled handshake was not closed");

    assert_eq!(good.double(21).await.unwrap(), 42, "the other connection was served all along");
}

#[tokio::test]
async fn the_http_server_upgrades_to_websocket_on_the_same_port() {
    let listener = bind_loopback().await;
    let addr = listener.local_addr().unwrap();
    let server = rpc_json::Server::new(InteropServer::new(InteropService::default())).websocket(true);
    tokio::spawn(server.serve(listener));
    let http = InteropClient::new(rpc_json::Client::new(&format!("http://{addr}/")).unwrap());
    let ws = InteropClient::new(
        Client::builder().handler(CallbackServer::new(Doubler)).connect_ws(&format!("ws://{addr}/")).await.unwrap(),
    );
    assert_eq!(http.double(2).await.unwrap(), 4);
    assert_eq!(ws.double(3).await.unwrap(), 6);
    assert_eq!(ws.ask_client("double", vec![5.into()]).await.unwrap(), Value::Int(10));
    http.bump(2).await.unwrap();
    assert_eq!(ws.counter().await.unwrap(), 2, "one service behind both");
    // jsonrpsee's client, too.
    use jsonrpsee::core::client::ClientT;
    let j = jsonrpsee::ws_client::WsClientBuilder::default().build(&format!("ws://{addr}/")).await.unwrap();
    let n: i64 = j.request("double", jsonrpsee::rpc_params![21]).await.unwrap();
    assert_eq!(n, 42);
    // Without websocket(true), an upgrade is a GET like any other: 405.
    let listener = bind_loopback().await;
    let plain = listener.local_addr().unwrap();
    tokio::spawn(rpc_json::Server::new(InteropServer::new(InteropService::default())).serve(listener));
    assert!(Client::connect_ws(&format!("ws://{plain}/")).await.is_err());
}

#[tokio::test]
async fn wss_with_a_private_ca_both_ways_and_on_the_http_port() {
    let pki = rpc_test_support::tls::Pki::new();
    let listener = bind_loopback().await;
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(interop().tls(pki.server_config()).serve_ws(listener));
    let client = Client::builder()
        .tls_config(pki.client_config())
        .handler(CallbackServer::new(Doubler))
        .connect_ws(&format!("wss://localhost:{port}/"))
        .await
        .unwrap();
    let interop = InteropClient::new(client);
    assert_eq!(interop.double(8).await.unwrap(), 16);
    assert_eq!(interop.ask_client("double", vec![21.into()]).await.unwrap(), Value::Int(42));
    // Without the CA, the certificate is refused.
    let err = Client::connect_ws(&format!("wss://localhost:{port}/")).await.unwrap_err();
    assert!(err.to_string().to_lowercase().contains("certificate"), "{err}");

    // HTTPS and wss:// on one port.
    let listener = bind_loopback().await;
    let port = listener.local_addr().unwrap().port();
    let server = rpc_json::Server::new(InteropServer::new(InteropService::default())).tls(pki.server_config());
    tokio::spawn(server.websocket(true).serve(listener));
    let ws = Client::builder().tls_config(pki.client_config()).connect_ws(&format!("wss://localhost:{port}/")).await;
    assert_eq!(InteropClient::new(ws.unwrap()).double(2).await.unwrap(), 4);
    let https =
        rpc_json::Client::builder().tls_config(pki.client_config()).build(&format!("https://localhost:{port}/"));
    assert_eq!(InteropClient::new(https.unwrap()).double(3).await.unwrap(), 6);
}

//! JSON-RPC 2.0 on the duplex engine (TCP, Unix sockets, stdio): typed clients, pipelining, ordered
//! notifications, calls both ways, both framings on one port, and hostile input, against our own client, raw
//! sockets, and Python's stdlib sockets.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use rpc_core::{Context, Fault, Router, Value, service};
use rpc_examples::interop::{InteropClient, InteropServer, InteropService};
use rpc_json::duplex::{Client, Server, TextFraming};
use rpc_test_support::{TempDir, bind_loopback};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// An interop server on a fresh loopback port.
async fn serve() -> std::net::SocketAddr {
    let listener = bind_loopback().await;
    let addr = listener.local_addr().unwrap();
    tokio::spawn(Server::new(InteropServer::new(InteropService::default())).serve(listener));
    addr
}

/// A raw connection that reads answers line by line.
struct Raw {
    read: BufReader<tokio::net::tcp::OwnedReadHalf>,
    write: tokio::net::tcp::OwnedWriteHalf,
}

impl Raw {
    async fn connect(addr: std::net::SocketAddr) -> Raw {
        let (read, write) = TcpStream::connect(addr).await.unwrap().into_split();
        Raw { read: BufReader::new(read), write }
    }

    async fn send(&mut self, bytes: &[u8]) {
        self.write.write_all(bytes).await.unwrap();
    }

    /// The next line, or `None` at the end of the stream.
    async fn line(&mut self) -> Option<String> {
        let mut line = String::new();
        let n = tokio::time::timeout(Duration::from_secs(10), self.read.read_line(&mut line)).await.unwrap().unwrap();
        (n > 0).then(|| line.trim_end().to_owned())
    }

    /// Reads to the end of the stream (the server closed), within 10 s.
    async fn closed(&mut self) -> String {
        let mut rest = String::new();
        tokio::time::timeout(Duration::from_secs(10), self.read.read_to_string(&mut rest)).await.unwrap().unwrap();
        rest
    }
}

#[tokio::test]
async fn a_typed_client_calls_over_tcp_with_either_framing() {
    let addr = serve().await;
    for framing in [TextFraming::Lines, TextFraming::ContentLength] {
        let client = InteropClient::new(Client::builder().framing(framing).connect(addr).await.unwrap());
        assert_eq!(client.double(9).await.unwrap(), 18, "{framing:?}");
        assert_eq!(client.echo(Value::Bytes(vec![0, 255])).await.unwrap(), Value::Bytes(vec![0, 255]));
        let err = client.fail(7, "seven").await.unwrap_err();
        assert_eq!(err.as_fault().map(|f| (f.code, f.message.as_str())), Some((7, "seven")), "{framing:?}");
        let raw = client.transport().call("nope", vec![]).await.unwrap_err();
        assert_eq!(raw.as_fault().map(|f| f.code), Some(Fault::METHOD_NOT_FOUND));
    }
}

#[tokio::test]
async fn lines_and_content_length_share_a_port_and_ids_come_back_byte_for_byte() {
    let addr = serve().await;
    let mut lines = Raw::connect(addr).await;
    lines.send(b"{\"jsonrpc\":\"2.0\",\"method\":\"double\",\"params\":[7],\"id\":1.0}\n").await;
    assert_eq!(lines.line().await.unwrap(), r#"{"jsonrpc":"2.0","result":14,"id":1.0}"#);
    lines.send(b"{\"jsonrpc\":\"2.0\",\"method\":\"double\",\"params\":{\"num\":2},\"id\":\"a\"}\r\n").await;
    assert_eq!(lines.line().await.unwrap(), r#"{"jsonrpc":"2.0","result":4,"id":"a"}"#);
    // A batch, named params inside.
    lines.send(b"[{\"jsonrpc\":\"2.0\",\"method\":\"double\",\"params\":[1],\"id\":1},{\"jsonrpc\":\"2.0\",\"method\":\"bump\",\"params\":[0]}]\n").await;
    assert_eq!(lines.line().await.unwrap(), r#"[{"jsonrpc":"2.0","result":2,"id":1}]"#);

    let mut lsp = Raw::connect(addr).await;
    let body = br#"{"jsonrpc":"2.0","method":"double","params":[21],"id":99}"#;
    lsp.send(format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes()).await;
    lsp.send(body).await;
    assert_eq!(lsp.line().await.unwrap(), "Content-Length: 37");
    assert_eq!(lsp.line().await.unwrap(), "");
    let mut answer = vec![0; 37];
    lsp.read.read_exact(&mut answer).await.unwrap();
    assert_eq!(answer, br#"{"jsonrpc":"2.0","result":42,"id":99}"#);
}

#[tokio::test]
async fn answers_go_out_as_calls_finish_and_notifications_keep_their_order() {
    let addr = serve().await;
    let mut raw = Raw::connect(addr).await;
    raw.send(b"{\"jsonrpc\":\"2.0\",\"method\":\"slow_bump\",\"params\":[300],\"id\":1}\n").await;
    raw.send(b"{\"jsonrpc\":\"2.0\",\"method\":\"double\",\"params\":[1],\"id\":2}\n").await;
    assert_eq!(raw.line().await.unwrap(), r#"{"jsonrpc":"2.0","result":2,"id":2}"#, "double is answered first");
    assert_eq!(raw.line().await.unwrap(), r#"{"jsonrpc":"2.0","result":1,"id":1}"#);

    let mut notes = String::new();
    for _ in 0..1000 {
        notes.push_str("{\"jsonrpc\":\"2.0\",\"method\":\"bump\",\"params\":[1]}\n");
    }
    notes.push_str("{\"jsonrpc\":\"2.0\",\"method\":\"counter\",\"id\":3}\n");
    raw.send(notes.as_bytes()).await;
    // The request after them starts once they have run: it sees all 1000 (and slow_bump's one).
    assert_eq!(raw.line().await.unwrap(), r#"{"jsonrpc":"2.0","result":1001,"id":3}"#);
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

#[service]
trait Asker {
    /// Asks the caller to double num.
    async fn ask(&self, num: i64, cx: &Context) -> Result<i64, Fault>;
}

struct AskBack;

impl Asker for AskBack {
    async fn ask(&self, num: i64, cx: &Context) -> Result<i64, Fault> {
        let peer = cx.get::<rpc_json::duplex::Peer>().ok_or_else(|| Fault::internal_error("no peer"))?;
        let back = CallbackClient::new(peer.clone());
        back.double(num).await.map_err(|e| Fault::internal_error(e.to_string()))
    }
}

#[tokio::test]
async fn the_server_calls_the_client_back_while_other_calls_go_on() {
    let addr = serve().await;
    let client = Client::builder().handler(CallbackServer::new(Doubler)).connect(addr).await.unwrap();
    let interop = InteropClient::new(client.clone());
    let (asked, slow, quick) =
        tokio::join!(interop.ask_client("double", vec![4.into()]), interop.slow_bump(200), interop.double(5),);
    assert_eq!(asked.unwrap(), Value::Int(8));
    assert!(slow.unwrap() >= 1);
    assert_eq!(quick.unwrap(), 10);
    // A client without a handler answers -32601, which comes back as the fault.
    let plain = InteropClient::new(Client::connect(addr).await.unwrap());
    let err = plain.ask_client("double", vec![4.into()]).await.unwrap_err();
    assert_eq!(err.as_fault().map(|f| f.code), Some(Fault::METHOD_NOT_FOUND), "{err}");

    // And the other way round: a client-side service that the server's handler calls typed.
    let listener = bind_loopback().await;
    let addr = listener.local_addr().unwrap();
    tokio::spawn(Server::new(AskerServer::new(AskBack)).serve(listener));
    let client = Client::builder().handler(CallbackServer::new(Doubler)).connect(addr).await.unwrap();
    assert_eq!(AskerClient::new(client).ask(21).await.unwrap(), 42);
}

#[tokio::test]
async fn unix_sockets_and_any_stream_carry_it() {
    let dir = TempDir::new("json-unix");
    let path = dir.path().join("rpc.sock");
    let listener = tokio::net::UnixListener::bind(&path).unwrap();
    tokio::spawn(Server::new(InteropServer::new(InteropService::default())).serve(listener));
    let client = InteropClient::new(Client::connect_unix(&path).await.unwrap());
    assert_eq!(client.double(3).await.unwrap(), 6);

    let (client_io, server_io) = tokio::io::duplex(64);
    let server = Server::new(Router::new().mount(InteropServer::new(InteropService::default())));
    tokio::spawn(async move {
        let (r, w) = tokio::io::split(server_io);
        server.serve_connection(r, w, Context::new()).await
    });
    let (r, w) = tokio::io::split(client_io);
    let client = InteropClient::new(Client::builder().connect_io(r, w));
    let big = Value::from("x".repeat(10_000));
    assert_eq!(client.echo(big.clone()).await.unwrap(), big);
}

#[tokio::test]
async fn bad_input_is_answered_and_the_server_keeps_serving() {
    let addr = serve().await;
    let good = InteropClient::new(Client::connect(addr).await.unwrap());

    // Not JSON, invalid UTF-8, an invalid request, 100,000-deep nesting: an error each, the connection goes on.
    let mut raw = Raw::connect(addr).await;
    raw.send(b"this is not json\n").await;
    let answer = raw.line().await.unwrap();
    assert!(answer.contains(r#""code":-32700"#) && answer.contains(r#""id":null"#), "{answer}");
    raw.send(b"{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"params\":[\"\xff\xfe\"],\"id\":1}\n").await;
    let answer = raw.line().await.unwrap();
    assert!(answer.contains(r#""code":-32700"#), "{answer}");
    raw.send(b"{\"jsonrpc\":\"2.0\",\"method\":5,\"id\":2}\n").await;
    let answer = raw.line().await.unwrap();
    assert!(answer.contains(r#""code":-32600"#) && answer.contains(r#""id":2"#), "{answer}");
    let deep = format!(
        "{{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"params\":[{}{}],\"id\":3}}\n",
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    raw.send(deep.as_bytes()).await;
    let answer = raw.line().await.unwrap();
    assert!(answer.contains(r#""code":-32600"#) && answer.contains(r#""id":3"#), "{answer}");
    raw.send(b"{\"jsonrpc\":\"2.0\",\"method\":\"double\",\"params\":[4],\"id\":4}\n").await;
    assert_eq!(raw.line().await.unwrap(), r#"{"jsonrpc":"2.0","result":8,"id":4}"#);

    // A Content-Length of 2^63: one error, then the connection is closed.
    let mut raw = Raw::connect(addr).await;
    raw.send(b"Content-Length: 9223372036854775808\r\n\r\n").await;
    let rest = raw.closed().await;
    assert!(rest.contains(r#""code":-32600"#) && rest.contains("over the limit"), "{rest}");

    // A line past the limit that never ends: refused once the limit is passed, without waiting for its end.
    let listener = bind_loopback().await;
    let small = listener.local_addr().unwrap();
    tokio::spawn(Server::new(InteropServer::new(InteropService::default())).max_message_size(1024).serve(listener));
    let mut raw = Raw::connect(small).await;
    raw.send(&vec![b'x'; 4096]).await;
    let rest = raw.closed().await;
    assert!(rest.contains("over the limit of 1024 bytes"), "{rest}");

    assert_eq!(good.double(21).await.unwrap(), 42, "the other connection was served all along");
}

#[tokio::test]
async fn python_raw_sockets_speak_both_framings_on_one_port() {
    let addr = serve().await;
    let script = r#"
import json, socket, sys
port = int(sys.argv[1])
s = socket.create_connection(("127.0.0.1", port))
f = s.makefile("rwb")
f.write(b'{"jsonrpc":"2.0","method":"double","params":[8],"id":1}\n'); f.flush()
print(json.loads(f.readline())["result"])
t = socket.create_connection(("127.0.0.1", port))
g = t.makefile("rwb")
body = json.dumps({"jsonrpc": "2.0", "method": "add", "params": {"a": 2, "b": 3}, "id": "x"}).encode()
g.write(b"Content-Length: %d\r\n\r\n" % len(body) + body); g.flush()
headers = {}
while True:
    line = g.readline().strip()
    if not line:
        break
    k, v = line.split(b":", 1)
    headers[k.strip().lower()] = v.strip()
answer = json.loads(g.read(int(headers[b"content-length"])))
print(answer["result"], answer["id"])
"#;
    let out = rpc_test_support::run_python(script, &[&addr.port().to_string()]).await;
    assert_eq!(out, "16\n5 x\n");
}

#[tokio::test]
async fn many_clients_pipeline_on_their_own_connections() {
    let addr = serve().await;
    let client = Arc::new(InteropClient::new(Client::connect(addr).await.unwrap()));
    let calls: Vec<_> = (0..200)
        .map(|i| {
            let client = client.clone();
            tokio::spawn(async move { client.double(i).await.unwrap() })
        })
        .collect();
    for (i, call) in calls.into_iter().enumerate() {
        assert_eq!(call.await.unwrap(), 2 * i as i64);
    }
}

//! The MessagePack-RPC examples, as users run them: the double() pair with each other and with Python's
//! `msgpack` package, and `nvim_client` against a real Neovim.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Command, Stdio};
use std::time::Duration;

use bytes::BytesMut;
use rpc_core::Value;
use rpc_msgpack::Client;
use rpc_msgpack::codec::{Codec, Message};
use rpc_test_support::{
    TempDir, example_binary, require_python_module, run_peer, run_python, spawn_nvim, spawn_peer, spawn_python_server,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::codec::Decoder;

#[tokio::test]
async fn msgpack_client_example_calls_msgpack_server_example() {
    let mut cmd = Command::new(example_binary("msgpack_server"));
    cmd.args(["--addr", "127.0.0.1:0"]);
    let server = spawn_peer(cmd, "msgpack_server example").await;
    let mut client = Command::new(example_binary("msgpack_client"));
    client.args(["--addr", &server.addr().to_string()]);
    let out = run_peer(client, "msgpack_client example", Duration::from_secs(30)).await;
    assert_eq!(out, "Double 8 is 16\n");
}

#[tokio::test]
async fn python_msgpack_client_calls_msgpack_server_example() {
    require_python_module("msgpack", "msgpack==1.2.4");
    let mut cmd = Command::new(example_binary("msgpack_server"));
    cmd.args(["--addr", "127.0.0.1:0"]);
    let server = spawn_peer(cmd, "msgpack_server example").await;
    let out = run_python(
        "import msgpack, socket, sys\n\
         s = socket.create_connection(('127.0.0.1', int(sys.argv[1])))\n\
         s.sendall(msgpack.packb([0, 1, 'double', [8]]))\n\
         u = msgpack.Unpacker()\n\
         while True:\n    u.feed(s.recv(64))\n    for m in u:\n        print(m)\n        sys.exit(0)\n",
        &[&server.port().to_string()],
    )
    .await;
    assert_eq!(out, "[1, 1, None, 16]\n");
}

#[tokio::test]
async fn msgpack_client_example_calls_a_python_server() {
    require_python_module("msgpack", "msgpack==1.2.4");
    let server = spawn_python_server(
        "import msgpack, socket\n\
         l = socket.socket()\n\
         l.bind(('127.0.0.1', 0))\n\
         l.listen()\n\
         print(l.getsockname()[1], flush=True)\n\
         while True:\n\
         \x20   c, _ = l.accept()\n\
         \x20   u = msgpack.Unpacker()\n\
         \x20   while (data := c.recv(4096)):\n\
         \x20       u.feed(data)\n\
         \x20       for kind, msgid, method, params in u:\n\
         \x20           c.sendall(msgpack.packb([1, msgid, None, params[0] * 2]))\n",
        &[],
    )
    .await;
    let mut client = Command::new(example_binary("msgpack_client"));
    client.args(["--addr", &server.addr().to_string()]);
    let out = run_peer(client, "msgpack_client example", Duration::from_secs(30)).await;
    assert_eq!(out, "Double 8 is 16\n");
}

#[tokio::test]
async fn msgpack_client_example_says_what_to_do_when_no_server_runs() {
    let closed_port = rpc_test_support::ClosedPort::new();
    let closed = closed_port.addr();
    let out = Command::new(example_binary("msgpack_client")).args(["--addr", &closed.to_string()]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("refused") && err.contains("cargo run --example msgpack_server"), "{err}");
}

#[tokio::test]
async fn nvim_client_example_talks_to_neovim_both_ways() {
    let nvim = spawn_nvim().await;
    let mut client = Command::new(example_binary("nvim_client"));
    client.args(["--addr", &nvim.addr().to_string(), "--expr", "6 * 7", "--demo"]);
    let out = run_peer(client, "nvim_client example", Duration::from_secs(30)).await;
    assert_eq!(out, "6 * 7 = 42\nNeovim called double(8) = 16\n");
}

#[tokio::test]
async fn interop_server_serves_one_instance_on_msgpack_tcp_and_unix() {
    let dir = TempDir::new("interop-msgpack");
    let socket = dir.path().join("interop.sock");
    let mut cmd = Command::new(example_binary("interop_server"));
    cmd.args(["--msgpack", "127.0.0.1:0", "--msgpack-unix"]).arg(&socket);
    let server = spawn_peer(cmd, "interop_server").await;
    let tcp = Client::connect(server.addr()).await.unwrap();
    assert_eq!(tcp.call("double", vec![8.into()]).await.unwrap(), Value::Int(16));
    // The Unix socket is announced after the TCP address: wait for it to listen.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let unix = loop {
        match Client::connect_unix(&socket).await {
            Ok(c) => break c,
            Err(e) if std::time::Instant::now() > deadline => panic!("the Unix socket never listened: {e}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    };
    // One service instance behind both: a bump over TCP shows in the counter over the Unix socket.
    let before = unix.call("counter", vec![]).await.unwrap().as_i64().unwrap();
    tcp.call("bump", vec![5.into()]).await.unwrap();
    assert_eq!(unix.call("counter", vec![]).await.unwrap(), Value::Int(before + 5));
}

#[tokio::test]
async fn interop_server_serves_msgpack_on_stdio_and_answers_after_stdin_closes() {
    let mut child = tokio::process::Command::new(example_binary("interop_server"))
        .arg("--stdio")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let (mut stdin, mut stdout) = (child.stdin.take().unwrap(), child.stdout.take().unwrap());
    let mut requests = BytesMut::new();
    Message::Request { id: 1, method: "sleep".into(), params: vec![200.into()] }.encode(&mut requests).unwrap();
    Message::Request { id: 2, method: "double".into(), params: vec![8.into()] }.encode(&mut requests).unwrap();
    stdin.write_all(&requests).await.unwrap();
    // A pipe closes one way: the answers still come, the fast one first, then the server exits.
    drop(stdin);
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stdout.read_to_end(&mut out)).await.unwrap().unwrap();
    let mut buf = BytesMut::from(&out[..]);
    let mut codec = Codec::new(1 << 20, 16);
    let mut answers = Vec::new();
    while let Some(v) = codec.decode(&mut buf).unwrap() {
        answers.push(Message::from_value(v).unwrap());
    }
    assert_eq!(
        answers,
        [
            Message::Response { id: 2, result: Ok(Value::Int(16)) },
            Message::Response { id: 1, result: Ok(Value::Int(200)) },
        ]
    );
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait()).await.unwrap().unwrap();
    assert!(status.success(), "{status}");
}

//! `interop_server --json` as a peer on JSON-RPC 2.0: Python's stdlib (`urllib.request`) and Node's `http`
//! module drive it; and the README's JSON double pair, `json_server` with `json_client` and with Python.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;
use std::time::Duration;

use rpc_test_support::{example_binary, node, run_peer, run_python, spawn_peer};

async fn interop_server() -> rpc_test_support::Peer {
    let mut cmd = Command::new(example_binary("interop_server"));
    cmd.args(["--json", "127.0.0.1:0"]);
    spawn_peer(cmd, "interop_server").await
}

#[tokio::test]
async fn python_urllib_drives_interop_server() {
    let server = interop_server().await;
    let url = format!("http://{}/", server.addr());
    let out = run_python(include_str!("python/jsonrpc_interop_client.py"), &[&url]).await;
    assert_eq!(out, "ok\n");
}

#[tokio::test]
async fn node_http_client_drives_interop_server() {
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/node/jsonrpc_client.js");
    let server = interop_server().await;
    let mut cmd = Command::new(node());
    cmd.arg(script).arg(format!("http://{}/", server.addr()));
    let out = run_peer(cmd, "node JSON-RPC client", Duration::from_secs(30)).await;
    let got: serde_json::Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    let expected = serde_json::json!({
        "double": {"value": 14},
        "addNamed": {"value": 5},
        "echo": {"value": {"s": "héllo 😀", "l": [1, "two", true, 1.5, null]}},
        "echoBytes": {"value": {"$base64": "AAH/"}},
        "fail": {"error": 42},
        "unknown": {"error": -32601},
        "badParams": {"error": -32602},
        "explode": {"error": -32603},
        "afterExplode": {"value": 16},
        "notification": 204,
        "batch": [["a", 2], ["b", -32601]],
    });
    assert_eq!(got, expected);
}

#[tokio::test]
async fn interop_server_serves_json_beside_xml_on_one_instance() {
    let mut cmd = Command::new(example_binary("interop_server"));
    cmd.args(["--xml", "127.0.0.1:0", "--json", "127.0.0.1:0"]);
    let server = spawn_peer(cmd, "interop_server").await;
    // The first line was the XML address; the JSON one follows.
    let json_line = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if let Some(line) = server.stdout().lines().find(|l| l.starts_with("json ")) {
                return line.to_owned();
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("interop_server announced no json address");
    let json_url = json_line.trim_start_matches("json ").trim().to_owned();
    assert!(json_url.starts_with("http://127.0.0.1:") && json_url.ends_with('/'), "{json_line}");
    let xml_url = format!("http://{}/", server.addr());
    // One shared instance: a bump over XML-RPC shows in counter over JSON-RPC.
    let out = run_python(
        "import sys, json, urllib.request, xmlrpc.client\n\
         xmlrpc.client.ServerProxy(sys.argv[1]).bump(3)\n\
         req = urllib.request.Request(sys.argv[2], data=b'{\"jsonrpc\":\"2.0\",\"method\":\"counter\",\"id\":1}')\n\
         print(json.load(urllib.request.urlopen(req))['result'])\n",
        &[&xml_url, &json_url],
    )
    .await;
    assert_eq!(out, "3\n");
}

#[tokio::test]
async fn json_double_pair() {
    let mut cmd = Command::new(example_binary("json_server"));
    cmd.args(["--addr", "127.0.0.1:0"]);
    let server = spawn_peer(cmd, "json_server example").await;
    let url = format!("http://{}/", server.addr());
    let mut client = Command::new(example_binary("json_client"));
    client.args(["--url", &url]);
    assert_eq!(run_peer(client, "json_client example", Duration::from_secs(30)).await, "Double 9 is 18\n");
    let out = run_python(
        "import sys, json, urllib.request\n\
         req = urllib.request.Request(sys.argv[1], data=b'{\"jsonrpc\":\"2.0\",\"method\":\"double\",\"params\":{\"num\":9},\"id\":1}')\n\
         print(json.load(urllib.request.urlopen(req)))\n",
        &[&url],
    )
    .await;
    assert_eq!(out, "{'jsonrpc': '2.0', 'result': 18, 'id': 1}\n");
}

#[tokio::test]
async fn json_client_example_says_what_to_do_when_no_server_runs() {
    let closed_port = rpc_test_support::ClosedPort::new();
    let closed = closed_port.addr();
    let out =
        Command::new(example_binary("json_client")).args(["--url", &format!("http://{closed}/")]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("refused") && err.contains("cargo run --example json_server"), "{err}");
}

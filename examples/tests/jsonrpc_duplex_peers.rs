//! JSON-RPC 2.0 on the duplex transports against the libraries editors and language servers speak it with, both
//! ways, always with LSP's `Content-Length` framing:
//!
//! - Node's `vscode-jsonrpc` (`node/vscode_jsonrpc_stdio_client.js`) runs `interop_server --json-stdio` and
//!   calls it over the child's stdio; a `vscode-jsonrpc` server (`node/vscode_jsonrpc_server.js`), on a TCP
//!   socket and on its own stdio, is called by our duplex client.
//! - Python's `python-lsp-jsonrpc` (`python/pylsp_jsonrpc_client.py`: its stream reader and writer under its
//!   `Endpoint`) calls `interop_server --json-stdio`, `--json-tcp` and `--json-unix`; a server written with it
//!   (`python/pylsp_jsonrpc_server.py`), on a TCP socket and on its stdio, is called by our duplex client.
//!
//! Each way covers typed calls, error answers (code and message), pipelined answers in the order they finish,
//! 1,000 notifications then a request that sees them all, and the server calling back into the client's own
//! handler. Python raw sockets are `rpc-json/tests/duplex.rs`'s.
//!
//! The peers must be installed (`npm ci --prefix examples/tests/node` and
//! `pip install python-lsp-jsonrpc==1.1.2`, as `.ci/run` does): without them these tests fail, they do not skip.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rpc_core::{Map, Value, service};
use rpc_examples::interop::InteropClient;
use rpc_json::duplex::{Client, TextFraming};
use rpc_test_support::{
    TempDir, example_binary, node_command, python_command, require_python_module, run_peer, run_python, spawn_peer,
};
use serde_json::json;

/// The Python package these tests need, as pip is given it.
const PYLSP_JSONRPC: &str = "python-lsp-jsonrpc==1.1.2";

/// How long one test may take before it fails: a hung peer fails the test rather than hanging it.
const TEST_TIMEOUT: Duration = Duration::from_secs(60);

/// How long one call of our client may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(20);

fn script(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests").join(relative)
}

fn require_pylsp_jsonrpc() {
    require_python_module("pylsp_jsonrpc", PYLSP_JSONRPC);
}

/// Runs `test`, failing if it takes longer than [`TEST_TIMEOUT`].
async fn within_timeout(test: impl std::future::Future<Output = ()>) {
    tokio::time::timeout(TEST_TIMEOUT, test).await.unwrap_or_else(|_| panic!("the test took over {TEST_TIMEOUT:?}"));
}

/// A peer's one line of JSON output.
fn parse(out: &str) -> serde_json::Value {
    serde_json::from_str(out).unwrap_or_else(|e| panic!("the peer printed no JSON line ({e}): {out}"))
}

// =============================================================================================================
// Their clients, our server.
// =============================================================================================================

/// What vscode-jsonrpc and python-lsp-jsonrpc see alike from `interop_server`: exact values, and our server's
/// error codes and messages. The counter starts at 1, from `slow_bump`.
fn common_results() -> serde_json::Value {
    json!({
        "double": {"value": 14},
        "addNamed": {"value": 42},
        "echo": {"value": {"s": "héllo 😀", "l": [1, "two", true, 1.5, null]}},
        "bigEcho": {"value": true},
        "fail": {"error": [42, "custom message"]},
        "unknown": {"error": [-32601, "method not found: \"nope\""]},
        "explode": {"error": [-32603, "internal error: handler for \"explode\" panicked"]},
        "order": [["double", 2], ["slow_bump", 1]],
        "counterBefore": {"value": 1},
        "counter": {"value": 1001},
    })
}

fn merged(mut base: serde_json::Value, extra: serde_json::Value) -> serde_json::Value {
    let (Some(base_map), serde_json::Value::Object(extra)) = (base.as_object_mut(), extra) else {
        unreachable!("both are objects")
    };
    base_map.extend(extra);
    base
}

#[tokio::test]
async fn vscode_jsonrpc_drives_interop_server_over_its_stdio() {
    let server = example_binary("interop_server");
    let cmd = node_command(
        &script("node/vscode_jsonrpc_stdio_client.js"),
        "vscode-jsonrpc",
        &[server.to_str().expect("a UTF-8 path")],
    );
    let got = parse(&run_peer(cmd, "node vscode-jsonrpc client", TEST_TIMEOUT).await);
    let expected = merged(
        common_results(),
        json!({
            "add": {"value": 5},
            "badParams": {"error": [-32602, concat!(
                "invalid params: double: param 1 `num` (expected i64): ",
                "invalid type: string \"x\", expected i64"
            )]},
            "askClient": {"value": 8},
            "quickMeanwhile": {"value": 10},
            // vscode-jsonrpc's own answer for a method it has no handler for, passed on by ask_client.
            "askClientUnknown": {"error": [-32601, "Unhandled method triple"]},
            "calledBack": [4],
            "protocolErrors": [],
            "exit": 0,
        }),
    );
    assert_eq!(got, expected);
}

/// An editor that sends many requests at once while the server asks it for something, as language servers do:
/// 300 `ask_client` calls at once, each answered by the server calling the client's `double`. All should be
/// answered at once, well within the 10 s the script waits.
///
/// This fails today: the session stops reading once `max_in_flight` (128) requests run and as many wait, and
/// then no longer reads the answers to its own calls either, so the running handlers wait for answers that sit
/// unread behind the waiting requests until the call timeout (30 s) fails them.
#[tokio::test]
async fn many_calls_whose_handlers_call_the_client_back_are_all_answered() {
    let server = example_binary("interop_server");
    let cmd = node_command(
        &script("node/vscode_jsonrpc_callback_flood.js"),
        "vscode-jsonrpc",
        &[server.to_str().expect("a UTF-8 path"), "300", "10000"],
    );
    let got = parse(&run_peer(cmd, "node vscode-jsonrpc client", TEST_TIMEOUT).await);
    assert_eq!(got, json!({"answered": 300, "correct": 300, "errors": []}));
}

/// The answers python-lsp-jsonrpc's client gets, over stdio and TCP alike.
fn pylsp_client_results() -> serde_json::Value {
    merged(
        common_results(),
        json!({
            "askClient": 8,
            "quickMeanwhile": 10,
            // python-lsp-jsonrpc's own answer for a method its dispatcher lacks, passed on by ask_client.
            "askClientUnknown": {"error": [-32601, "Method Not Found: triple"]},
            // Its dispatcher gets the params array as it is.
            "calledBack": [[4]],
        }),
    )
}

#[tokio::test]
async fn python_lsp_jsonrpc_drives_interop_server_over_its_stdio() {
    require_pylsp_jsonrpc();
    let server = example_binary("interop_server");
    let out =
        run_python(include_str!("python/pylsp_jsonrpc_client.py"), &["stdio", server.to_str().expect("a UTF-8 path")])
            .await;
    assert_eq!(parse(&out), merged(pylsp_client_results(), json!({"exit": 0})));
}

#[tokio::test]
async fn python_lsp_jsonrpc_drives_interop_server_over_tcp() {
    require_pylsp_jsonrpc();
    let mut cmd = Command::new(example_binary("interop_server"));
    cmd.args(["--json-tcp", "127.0.0.1:0"]);
    let server = spawn_peer(cmd, "interop_server").await;
    let out = run_python(include_str!("python/pylsp_jsonrpc_client.py"), &["tcp", &server.port().to_string()]).await;
    assert_eq!(parse(&out), pylsp_client_results());
}

#[tokio::test]
async fn python_lsp_jsonrpc_drives_interop_server_over_a_unix_socket() {
    require_pylsp_jsonrpc();
    let dir = TempDir::new("pylsp-unix");
    let socket = dir.path().join("interop.sock");
    let mut cmd = Command::new(example_binary("interop_server"));
    // The TCP address comes first, for spawn_peer to read; the client uses only the Unix socket.
    cmd.args(["--json-tcp", "127.0.0.1:0", "--json-unix"]).arg(&socket);
    let _server = spawn_peer(cmd, "interop_server").await;
    let path = socket.to_str().expect("a UTF-8 path");
    let out = run_python(include_str!("python/pylsp_jsonrpc_client.py"), &["unix", path]).await;
    assert_eq!(parse(&out), pylsp_client_results());
}

// =============================================================================================================
// Their servers, our client.
// =============================================================================================================

/// The handler our client registers, which the foreign servers call back.
#[service]
trait ClientSide {
    /// Returns num * 2.
    async fn double(&self, num: i64) -> i64;

    /// Keeps a note the server sent (as a notification).
    async fn note(&self, text: String);

    /// Takes no params (vscode-jsonrpc then sends none at all).
    async fn ping(&self) -> String;
}

#[derive(Clone, Default)]
struct Notes(Arc<Mutex<Vec<String>>>);

impl ClientSide for Notes {
    async fn double(&self, num: i64) -> i64 {
        num * 2
    }

    async fn note(&self, text: String) {
        self.0.lock().unwrap().push(text);
    }

    async fn ping(&self) -> String {
        "pong".to_owned()
    }
}

/// How a foreign server words the errors it makes itself.
struct Wording {
    /// The answer to an unknown method.
    unknown: (i64, &'static str),
    /// The answer when a handler throws something that is not a JSON-RPC error.
    explode: (i64, &'static str),
    /// Whether that answer has a `data` member with the traceback (which our client adds to the message).
    explode_traceback: bool,
}

const VSCODE_JSONRPC_WORDING: Wording = Wording {
    unknown: (-32601, "Unhandled method nope"),
    explode: (-32603, "Request explode failed with message: boom"),
    explode_traceback: false,
};

const PYLSP_JSONRPC_WORDING: Wording = Wording {
    unknown: (-32601, "Method Not Found: nope"),
    // python-lsp-jsonrpc's JsonRpcInternalError has code -32602 (not -32603), with the traceback as data.
    explode: (-32602, "RuntimeError: boom"),
    explode_traceback: true,
};

fn builder(notes: &Notes) -> rpc_json::duplex::ClientBuilder {
    Client::builder()
        .framing(TextFraming::ContentLength)
        .timeout(Some(CALL_TIMEOUT))
        .handler(ClientSideServer::new(notes.clone()))
}

fn fault(err: rpc_core::Error) -> (i64, String) {
    match err.as_fault() {
        Some(f) => (f.code, f.message.clone()),
        None => panic!("expected a fault, got {err}"),
    }
}

/// Our client's calls against a foreign server that serves the interop methods.
async fn exercise(client: Client, notes: Notes, wording: &Wording) {
    let interop = InteropClient::new(client.clone());
    assert_eq!(interop.double(7).await.unwrap(), 14);
    assert_eq!(interop.add(2, 3).await.unwrap(), 5);
    let value = Value::Map(Map::from_iter([
        ("s", Value::from("héllo 😀")),
        ("l", Value::Array(vec![1.into(), "two".into(), true.into(), 1.5.into(), Value::Nil])),
    ]));
    assert_eq!(interop.echo(value.clone()).await.unwrap(), value);
    // A message far larger than one read (1.1 MB of UTF-8 from 800,000 characters).
    let big = Value::from("é".repeat(300_000) + &"x".repeat(500_000));
    assert_eq!(interop.echo(big.clone()).await.unwrap(), big);
    // Bytes travel as {"$base64": ...}, which the peer echoes as any object: they come back as bytes.
    assert_eq!(interop.echo(Value::Bytes(vec![0, 1, 255])).await.unwrap(), Value::Bytes(vec![0, 1, 255]));
    assert_eq!(fault(interop.fail(42, "custom message").await.unwrap_err()), (42, "custom message".into()));
    let (code, message) = wording.unknown;
    assert_eq!(fault(client.call("nope", vec![]).await.unwrap_err()), (code, message.to_owned()));
    let (code, message) = wording.explode;
    let exploded = interop.explode().await.unwrap_err();
    let exploded = exploded.as_fault().expect("a fault");
    assert_eq!((exploded.code, exploded.message.as_str()), (code, message), "{exploded:?}");
    if wording.explode_traceback {
        // The peer's `data`: {"traceback": [lines...]}.
        let traceback = match exploded.data.as_deref() {
            Some(Value::Map(m)) => m.get_str("traceback"),
            _ => None,
        };
        assert!(matches!(traceback, Some(Value::Array(lines)) if !lines.is_empty()), "{exploded:?}");
    } else {
        assert_eq!(exploded.data, None);
    }

    // Pipelined: the slow call goes first, the quick one is answered first.
    let order = Mutex::new(Vec::new());
    let (slow, quick) = tokio::join!(
        async {
            let v = interop.slow_bump(300).await;
            order.lock().unwrap().push("slow_bump");
            v
        },
        async {
            let v = interop.double(1).await;
            order.lock().unwrap().push("double");
            v
        },
    );
    assert_eq!((slow.unwrap(), quick.unwrap()), (1, 2));
    assert_eq!(*order.lock().unwrap(), ["double", "slow_bump"]);

    // 1,000 notifications, then a request that sees them all.
    for _ in 0..1000 {
        client.notify("bump", vec![1.into()]).await.unwrap();
    }
    assert_eq!(interop.counter().await.unwrap(), 1001);

    // The server calls our handler back, while another call goes on.
    let (asked, meanwhile) = tokio::join!(interop.ask_client("double", vec![4.into()]), interop.double(5));
    assert_eq!((asked.unwrap(), meanwhile.unwrap()), (Value::Int(8), 10));
    assert_eq!(interop.ask_client("ping", vec![]).await.unwrap(), Value::from("pong"));
    // Our handler's own error for a method it lacks comes back through the foreign server unchanged.
    let err = interop.ask_client("triple", vec![4.into()]).await.unwrap_err();
    assert_eq!(fault(err), (-32601, "method not found: \"triple\"".to_owned()));
    // And a notification from the server reaches our handler.
    let answer = client.call("notify_client", vec!["note".into(), Value::Array(vec!["from the server".into()])]);
    assert_eq!(answer.await.unwrap(), Value::Nil);
    tokio::time::timeout(Duration::from_secs(10), async {
        while notes.0.lock().unwrap().is_empty() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the server's notification never reached our handler");
    assert_eq!(*notes.0.lock().unwrap(), ["from the server"]);
}

/// Our client over a child process's stdout and stdin; the child is killed when the test ends.
async fn over_child_stdio(cmd: Command, wording: &Wording) {
    let mut cmd = tokio::process::Command::from(cmd);
    cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::inherit()).kill_on_drop(true);
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
    let (stdout, stdin) = (child.stdout.take().unwrap(), child.stdin.take().unwrap());
    let notes = Notes::default();
    let client = builder(&notes).connect_io(stdout, stdin);
    exercise(client.clone(), notes, wording).await;
    // Closing the child's stdin ends it, cleanly.
    client.shutdown().await;
    drop(client);
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait()).await;
    assert!(matches!(status, Ok(Ok(s)) if s.success()), "the server did not exit cleanly: {status:?}");
}

#[tokio::test]
async fn our_client_calls_a_vscode_jsonrpc_server_over_tcp() {
    within_timeout(async {
        let cmd = node_command(&script("node/vscode_jsonrpc_server.js"), "vscode-jsonrpc", &["tcp"]);
        let server = spawn_peer(cmd, "node vscode-jsonrpc server").await;
        let notes = Notes::default();
        let client = builder(&notes).connect(server.addr()).await.unwrap();
        exercise(client, notes, &VSCODE_JSONRPC_WORDING).await;
    })
    .await;
}

#[tokio::test]
async fn our_client_calls_a_vscode_jsonrpc_server_over_its_stdio() {
    within_timeout(async {
        let cmd = node_command(&script("node/vscode_jsonrpc_server.js"), "vscode-jsonrpc", &["stdio"]);
        over_child_stdio(cmd, &VSCODE_JSONRPC_WORDING).await;
    })
    .await;
}

#[tokio::test]
async fn our_client_calls_a_python_lsp_jsonrpc_server_over_tcp() {
    require_pylsp_jsonrpc();
    within_timeout(async {
        let cmd = python_command(include_str!("python/pylsp_jsonrpc_server.py"), &["tcp"]);
        let server = spawn_peer(cmd, "python-lsp-jsonrpc server").await;
        let notes = Notes::default();
        let client = builder(&notes).connect(server.addr()).await.unwrap();
        exercise(client, notes, &PYLSP_JSONRPC_WORDING).await;
    })
    .await;
}

#[tokio::test]
async fn our_client_calls_a_python_lsp_jsonrpc_server_over_its_stdio() {
    require_pylsp_jsonrpc();
    within_timeout(async {
        let cmd = python_command(include_str!("python/pylsp_jsonrpc_server.py"), &["stdio"]);
        over_child_stdio(cmd, &PYLSP_JSONRPC_WORDING).await;
    })
    .await;
}

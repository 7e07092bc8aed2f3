//! Stream methods (subscriptions) on the duplex transports, with raw Python peers checking the wire byte for
//! byte (MessagePack over TCP, newline-delimited JSON over TCP, JSON over `websockets`): a finite `count` stream
//! and its end, unsubscribing (nothing of the stream after the answer, the server's stream dropped at once), a
//! closed connection dropping its stream, and a subscriber that never reads for 30 s holding its stream paused
//! in an `interop_server` process whose memory stays bounded and which serves everyone else as usual.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Stdio;
use std::sync::{Arc, Mutex};

use common::{json_tcp, json_ws, msgpack};
use rpc_test_support::{example_binary, require_python_module, run_python};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};

/// `python/stream_peer.py SCENARIO TRANSPORT ADDRESS`, or `stall NDJSON MSGPACK PID SECONDS`.
const STREAM_PEER: &str = include_str!("python/stream_peer.py");

/// Runs `scenario` of the peer against a fresh server of `transport`, which must print "ok".
async fn peer(scenario: &str, transport: &str) {
    let address = match transport {
        "msgpack" => {
            require_python_module("msgpack", "msgpack==1.2.4");
            msgpack().await
        }
        "ndjson" => json_tcp().await,
        "ws" => {
            require_python_module("websockets", "websockets==17.4");
            json_ws().await
        }
        other => panic!("no transport {other}"),
    };
    assert_eq!(run_python(STREAM_PEER, &[scenario, transport, &address]).await, "ok\n");
}

// ---------------------------------------------------------------------------------------------------------
// A finite stream: the answer, items 0..2, the end; unsubscribing an id not open answers false.

#[tokio::test]
async fn a_python_msgpack_peer_reads_a_finite_stream() {
    peer("finite", "msgpack").await;
}

#[tokio::test]
async fn a_python_json_peer_over_tcp_reads_a_finite_stream() {
    peer("finite", "ndjson").await;
}

#[tokio::test]
async fn a_python_websockets_peer_reads_a_finite_stream() {
    peer("finite", "ws").await;
}

// ---------------------------------------------------------------------------------------------------------
// Unsubscribing a stream for ever: true, nothing of it after the answer, and the server's stream dropped.

#[tokio::test]
async fn a_python_msgpack_peer_unsubscribes_and_nothing_follows() {
    peer("unsubscribe", "msgpack").await;
}

#[tokio::test]
async fn a_python_json_peer_over_tcp_unsubscribes_and_nothing_follows() {
    peer("unsubscribe", "ndjson").await;
}

#[tokio::test]
async fn a_python_websockets_peer_unsubscribes_and_nothing_follows() {
    peer("unsubscribe", "ws").await;
}

// ---------------------------------------------------------------------------------------------------------
// A subscriber's connection closing drops its stream within 100 ms (seen from another connection).

#[tokio::test]
async fn a_python_msgpack_peer_closing_its_socket_drops_its_stream() {
    peer("close", "msgpack").await;
}

#[tokio::test]
async fn a_python_json_peer_over_tcp_closing_its_socket_drops_its_stream() {
    peer("close", "ndjson").await;
}

#[tokio::test]
async fn a_python_websockets_peer_closing_its_connection_drops_its_stream() {
    peer("close", "ws").await;
}

// ---------------------------------------------------------------------------------------------------------
// A subscriber that never reads: its stream waits (backpressure), the server's memory stays bounded.

/// `interop_server` as a child process of our own (its pid is needed for its RSS): MessagePack-RPC and
/// JSON-RPC over TCP on ports it picks. Killed when dropped; its stderr is shown if the test fails.
struct InteropProcess {
    child: tokio::process::Child,
    pid: u32,
    msgpack: String,
    json_tcp: String,
    stderr: Arc<Mutex<Vec<u8>>>,
}

impl InteropProcess {
    async fn start() -> InteropProcess {
        let mut child = tokio::process::Command::new(example_binary("interop_server"))
            .args(["--msgpack", "127.0.0.1:0", "--json-tcp", "127.0.0.1:0"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let pid = child.id().unwrap();
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let mut pipe = child.stderr.take().unwrap();
        let buf = stderr.clone();
        tokio::spawn(async move {
            let mut chunk = [0u8; 8192];
            while let Ok(n @ 1..) = pipe.read(&mut chunk).await {
                buf.lock().unwrap().extend_from_slice(&chunk[..n]);
            }
        });
        // One line per transport, `msgpack 127.0.0.1:PORT` and `json-tcp 127.0.0.1:PORT`, in either order.
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let (mut msgpack, mut json_tcp) = (None, None);
        let announced = tokio::time::timeout(rpc_test_support::STARTUP_TIMEOUT, async {
            while msgpack.is_none() || json_tcp.is_none() {
                let line = lines.next_line().await.unwrap().expect("interop_server exited before announcing");
                match line.split_once(' ') {
                    Some(("msgpack", addr)) => msgpack = Some(addr.to_owned()),
                    Some(("json-tcp", addr)) => json_tcp = Some(addr.to_owned()),
                    _ => panic!("interop_server announced {line:?}"),
                }
            }
        })
        .await;
        assert!(announced.is_ok(), "interop_server did not announce its addresses");
        // Whatever else it prints is drained, so that it never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        InteropProcess { child, pid, msgpack: msgpack.unwrap(), json_tcp: json_tcp.unwrap(), stderr }
    }
}

impl Drop for InteropProcess {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
        if std::thread::panicking() {
            eprintln!("--- interop_server stderr ---\n{}", String::from_utf8_lossy(&self.stderr.lock().unwrap()));
        }
    }
}

/// For 30 s, a JSON-RPC (TCP) and a MessagePack-RPC subscriber each hold a stream at 0 ms and never read. Every
/// second: the server's VmRSS stays under 50 MB, double(21) answers 42 within 1 s on another connection, and
/// both streams stay open (paused, not dropped); once the two close their sockets, streams_open is 0 within 1 s.
#[tokio::test]
async fn a_subscriber_that_never_reads_holds_its_stream_paused_and_the_server_bounded() {
    require_python_module("msgpack", "msgpack==1.2.4");
    let server = InteropProcess::start().await;
    let started = std::time::Instant::now();
    let pid = server.pid.to_string();
    let out = run_python(STREAM_PEER, &["stall", &server.json_tcp, &server.msgpack, &pid, "30"]).await;
    assert_eq!(out, "ok\n");
    eprintln!("the stalled subscribers' test took {:.1?}", started.elapsed());
}

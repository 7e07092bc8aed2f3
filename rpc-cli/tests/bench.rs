//! `rpc bench` against interop_server's service on every protocol: the counts it reports, errors counted, and
//! its argument errors.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{rpc, servers};

/// Runs `rpc bench ... --json`, checks it succeeded, and returns its report.
async fn bench(args: &[&str]) -> serde_json::Value {
    let mut all = vec!["bench"];
    all.extend_from_slice(args);
    all.push("--json");
    let run = rpc(&all).await;
    assert_eq!((run.code, run.stderr.as_str()), (Some(0), ""), "rpc {all:?}: {run:?}");
    serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", run.stdout))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counts_every_call_on_every_protocol() {
    let s = servers().await;
    for (url, in_flight) in
        [(&s.xml, "1"), (&s.json, "1"), (&s.msgpack, "16"), (&s.unix, "4"), (&s.json_tcp, "16"), (&s.json_unix, "4")]
    {
        let report =
            bench(&[url, "double", "7", "--calls", "500", "--connections", "3", "--in-flight", in_flight]).await;
        assert_eq!(report["calls"], 500, "{url}: {report}");
        assert_eq!(report["errors"], 0, "{url}: {report}");
        assert_eq!(report["first_error"], serde_json::Value::Null, "{url}: {report}");
        assert_eq!(report["connections"], 3, "{url}: {report}");
        let latency = &report["latency_us"];
        assert!(latency["p50"].as_f64().unwrap() > 0.0, "{url}: {report}");
        assert!(
            latency["p50"].as_f64() <= latency["p99"].as_f64() && latency["p99"].as_f64() <= latency["max"].as_f64()
        );
        assert!(report["calls_per_s"].as_f64().unwrap() > 0.0, "{url}: {report}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_are_counted_as_errors() {
    let s = servers().await;
    for url in [&s.xml, &s.json, &s.msgpack, &s.json_tcp, &s.json_unix, &s.ws, &s.xml_unix] {
        let report = bench(&[url, "fail", "42", r#""boom""#, "-n", "50", "-c", "2"]).await;
        assert_eq!((report["calls"].as_u64(), report["errors"].as_u64()), (Some(50), Some(50)), "{url}: {report}");
        assert_eq!(report["first_error"], "fault 42: boom", "{url}: {report}");
        let report = bench(&[url, "nope", "-n", "20"]).await;
        assert_eq!(report["errors"], 20, "{url}: {report}");
        assert!(report["first_error"].as_str().unwrap().starts_with("fault -32601"), "{url}: {report}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timed_run_with_warmup_and_the_text_report() {
    let s = servers().await;
    let report = bench(&[&s.msgpack, "add", "-2", "5", "--duration", "300ms", "--warmup", "100ms", "-k", "8"]).await;
    assert!(report["calls"].as_u64().unwrap() > 0 && report["errors"] == 0, "{report}");
    let elapsed = report["elapsed_s"].as_f64().unwrap();
    assert!((0.29..0.31).contains(&elapsed), "the measured window is the duration: {report}");
    let run = rpc(&["bench", &s.xml, "double", "7", "-n", "10"]).await;
    assert_eq!(run.code, Some(0), "{run:?}");
    for part in
        ["double on http://", "(XML-RPC), 1 connection x 1 in flight", "calls     10 (0 errors)", "calls/s", "p99"]
    {
        assert!(run.stdout.contains(part), "{part:?} in {}", run.stdout);
    }
    let report = bench(&[&s.json_tcp, "add", "-2", "5", "--duration", "300ms", "--warmup", "100ms", "-k", "8"]).await;
    assert!(report["calls"].as_u64().unwrap() > 0 && report["errors"] == 0, "{report}");
    assert_eq!((report["protocol"].as_str(), report["in_flight"].as_u64()), (Some("JSON-RPC"), Some(8)), "{report}");
    let run = rpc(&["bench", &s.json_unix, "double", "7", "-n", "10", "-k", "2"]).await;
    assert_eq!(run.code, Some(0), "{run:?}");
    for part in ["double on jsonrpc+unix://", "(JSON-RPC), 1 connection x 2 in flight", "calls     10 (0 errors)"] {
        assert!(run.stdout.contains(part), "{part:?} in {}", run.stdout);
    }
}

/// `--in-flight` pipelines calls on one connection on every duplex scheme: eight calls that each sleep 300 ms,
/// all in flight at once, are answered within about 300 ms, not 2.4 s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_flight_calls_are_pipelined_on_every_duplex_scheme() {
    let s = servers().await;
    for url in [&s.msgpack, &s.unix, &s.json_tcp, &s.json_unix, &s.ws] {
        let report = bench(&[url, "sleep", "300", "-n", "8", "-c", "1", "-k", "8"]).await;
        assert_eq!((report["calls"].as_u64(), report["errors"].as_u64()), (Some(8), Some(0)), "{url}: {report}");
        let elapsed = report["elapsed_s"].as_f64().unwrap();
        assert!((0.29..1.2).contains(&elapsed), "{url}: 8 calls of 300 ms at once took {elapsed} s: {report}");
        let p50 = report["latency_us"]["p50"].as_f64().unwrap();
        assert!((290_000.0..1_200_000.0).contains(&p50), "{url}: {report}");
    }
}

#[tokio::test]
async fn argument_errors() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let url = format!("http://{closed}/");
    let json_url = format!("jsonrpc+http://{closed}/");
    let json_tcp_url = format!("jsonrpc+tcp://{closed}");
    for (args, wanted) in [
        (
            vec!["bench", &url, "double", "--in-flight", "4"],
            "--in-flight 4 needs a scheme that pipelines calls, ws://HOST:PORT/PATH, wss://HOST:PORT/PATH, \
             jsonrpc+tcp://HOST:PORT or jsonrpc+unix:///PATH (JSON-RPC), msgpack://HOST:PORT, msgpack+tls://HOST:PORT or msgpack+unix:///PATH (MessagePack-RPC), \
             zerorpc+tcp://HOST:PORT or zerorpc+ipc:///PATH (zerorpc): http:// (XML-RPC over HTTP) carries one call at a time per connection; use --connections",
        ),
        (
            vec!["bench", &json_url, "double", "-k", "2"],
            "--in-flight 2 needs a scheme that pipelines calls, ws://HOST:PORT/PATH, wss://HOST:PORT/PATH, jsonrpc+tcp",
        ),
        (vec!["bench", &url, "double", "--connections", "0"], "--connections takes 1 to 10000"),
        (vec!["bench", &url, "double", "--in-flight", "0"], "--in-flight takes 1 to"),
        (vec!["bench", &url, "double", "--calls", "0"], "--calls takes at least 1"),
        (vec!["bench", "ftp://x/", "double"], "bad URL"),
        (vec!["bench", &url, "double", "seven"], "argument 1 (\"seven\") is not JSON"),
        (vec!["bench", &url, "double", "-n", "5", "-d", "1s"], "cannot be used with"),
        (vec!["bench", &url, "double", "-d", "soon"], "is not a duration"),
        (vec!["bench", &url], "required"),
        (vec!["bench", &url, "double", "-n", "5"], "is the server running"),
        (vec!["bench", &json_tcp_url, "double", "-n", "5", "-k", "4"], "is the server running"),
        (vec!["bench", "jsonrpc+unix:///nonexistent/rpc.sock", "double", "-n", "5"], "cannot connect to /nonexistent"),
    ] {
        let run = rpc(&args).await;
        assert_eq!((run.code, run.stdout.as_str()), (Some(2), ""), "rpc {args:?}: {run:?}");
        assert!(run.stderr.contains(wanted), "rpc {args:?}: {:?} lacks {wanted:?}", run.stderr);
    }
}

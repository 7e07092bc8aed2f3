//! The XML-RPC server over real sockets: HTTP statuses, faults, limits, keep-alive, concurrency, timeouts and
//! graceful shutdown. Raw requests are written byte by byte so the tests see exactly what a peer sees.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use rpc_core::{Error, Fault, Transport, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

mod common;
use common::{client, post, raw, start};

fn fault_code(resp: &str) -> Option<i64> {
    let body = &resp[resp.find("\r\n\r\n")? + 4..];
    match rpc_xml::codec::decode_response(body.as_bytes(), 8) {
        Ok(Err(f)) => Some(f.code),
        _ => None,
    }
}

const DOUBLE_7: &str = "<?xml version='1.0'?><methodCall><methodName>double</methodName><params><param><value><int>7</int></value></param></params></methodCall>";

#[tokio::test]
async fn answers_on_both_paths_with_text_xml() {
    let s = start(|s| s).await;
    for path in ["/", "/RPC2"] {
        let resp = raw(s.addr, &post(path, DOUBLE_7)).await;
        assert!(resp.starts_with("HTTP/1.1 200 OK\r\n"), "{resp}");
        assert!(resp.to_ascii_lowercase().contains("content-type: text/xml\r\n"), "{resp}");
        assert!(resp.contains("<value><int>14</int></value>"), "{resp}");
    }
}

#[tokio::test]
async fn other_paths_are_404_and_other_methods_405() {
    let s = start(|s| s).await;
    let resp = raw(s.addr, &post("/nope", DOUBLE_7)).await;
    assert!(resp.starts_with("HTTP/1.1 404"), "{resp}");
    let resp = raw(s.addr, b"GET /RPC2 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await;
    assert!(resp.starts_with("HTTP/1.1 405"), "{resp}");
    assert!(resp.to_ascii_lowercase().contains("allow: post\r\n"), "{resp}");
}

#[tokio::test]
async fn bad_bodies_get_faults_and_the_server_keeps_serving() {
    let s = start(|s| s).await;
    let cases = [
        ("<methodCall><methodName>double", Fault::PARSE_ERROR),
        ("\u{feff}garbage", Fault::PARSE_ERROR),
        ("<!DOCTYPE x [<!ENTITY a 'aaaa'>]><methodCall><methodName>&a;</methodName></methodCall>", Fault::PARSE_ERROR),
        ("<methodResponse><params/></methodResponse>", Fault::INVALID_REQUEST),
        ("<methodCall><methodName>nope</methodName></methodCall>", Fault::METHOD_NOT_FOUND),
        ("<methodCall><methodName>double</methodName></methodCall>", Fault::INVALID_PARAMS),
        ("<methodCall><methodName>explode</methodName></methodCall>", Fault::INTERNAL_ERROR),
    ];
    for (body, code) in cases {
        let resp = raw(s.addr, &post("/", body)).await;
        assert!(resp.starts_with("HTTP/1.1 200"), "{body}: {resp}");
        assert_eq!(fault_code(&resp), Some(code), "{body}: {resp}");
        assert_eq!(client(s.addr).call("double", vec![1.into()]).await.unwrap(), Value::Int(2));
    }
}

#[tokio::test]
async fn oversized_bodies_get_413_declared_or_chunked() {
    let s = start(|s| s.max_body_size(1000)).await;
    let big = format!(
        "<methodCall><methodName>echo</methodName><params><param><value>{}</value></param></params></methodCall>",
        "x".repeat(2000)
    );
    let resp = raw(s.addr, &post("/", &big)).await;
    assert!(resp.starts_with("HTTP/1.1 413"), "{resp}");
    // A huge declared length with a short body is refused at once, without waiting for the bytes.
    let resp = raw(s.addr, b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4294967296\r\n\r\n<methodCall>").await;
    assert!(resp.starts_with("HTTP/1.1 413"), "{resp}");
    // Chunked bodies have no declared length: the limit applies while reading.
    let mut chunked = b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n".to_vec();
    chunked.extend_from_slice(format!("{:x}\r\n{big}\r\n0\r\n\r\n", big.len()).as_bytes());
    let resp = raw(s.addr, &chunked).await;
    assert!(resp.starts_with("HTTP/1.1 413"), "{resp}");
    assert_eq!(client(s.addr).call("double", vec![2.into()]).await.unwrap(), Value::Int(4));
}

#[tokio::test]
async fn nesting_over_the_limit_is_a_fault() {
    let s = start(|s| s.max_depth(3)).await;
    let nest = |n: usize| Value::Array((0..n).fold(vec![Value::Nil], |inner, _| vec![Value::Array(inner)]));
    let c = client(s.addr);
    assert!(c.call("echo", vec![nest(2)]).await.is_ok());
    match c.call("echo", vec![nest(5)]).await {
        Err(Error::Fault(f)) => assert_eq!(f.code, Fault::INVALID_REQUEST, "{f}"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn concurrent_slow_calls_overlap() {
    let s = start(|s| s).await;
    let c = client(s.addr);
    let started = Instant::now();
    let calls = (0..20).map(|_| {
        let c = c.clone();
        async move { c.call("sleep", vec![300.into()]).await }
    });
    let results = futures_join_all(calls).await;
    assert!(results.iter().all(|r| r.as_ref().ok() == Some(&Value::Int(300))), "{results:?}");
    assert_eq!(s.peak.load(Ordering::SeqCst), 20, "all 20 calls should run at once");
    assert!(started.elapsed() < Duration::from_secs(3), "calls queued: {:?}", started.elapsed());
}

/// Joins futures without pulling in the `futures` crate for one helper.
async fn futures_join_all<F>(futs: impl IntoIterator<Item = F>) -> Vec<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futs.into_iter().map(tokio::spawn).collect();
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.expect("task"));
    }
    out
}

#[tokio::test]
async fn keep_alive_serves_many_requests_on_one_connection() {
    let s = start(|s| s).await;
    let mut conn = TcpStream::connect(s.addr).await.expect("connect");
    let req = format!(
        "POST /RPC2 HTTP/1.1\r\nHost: x\r\nContent-Type: text/xml\r\nContent-Length: {}\r\n\r\n{DOUBLE_7}",
        DOUBLE_7.len()
    );
    for _ in 0..3 {
        conn.write_all(req.as_bytes()).await.expect("write");
        let mut buf = vec![0u8; 4096];
        let mut got = String::new();
        while !got.contains("</methodResponse>") {
            let n =
                tokio::time::timeout(Duration::from_secs(5), conn.read(&mut buf)).await.expect("timely").expect("read");
            assert!(n > 0, "the server closed a keep-alive connection");
            got.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
        assert!(got.contains("<int>14</int>"), "{got}");
    }
}

#[tokio::test]
async fn slow_headers_are_cut_off() {
    let s = start(|s| s.header_read_timeout(Duration::from_millis(300))).await;
    let mut conn = TcpStream::connect(s.addr).await.expect("connect");
    conn.write_all(b"POST / HTTP/1.1\r\nHost: x\r\n").await.expect("write");
    let started = Instant::now();
    let mut buf = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), conn.read_to_end(&mut buf)).await;
    assert!(read.is_ok(), "the connection was not closed by the header-read timeout");
    assert!(started.elapsed() < Duration::from_secs(3));
    assert_eq!(client(s.addr).call("double", vec![3.into()]).await.unwrap(), Value::Int(6));
}

#[tokio::test]
async fn graceful_shutdown_finishes_calls_in_flight() {
    let mut s = start(|s| s).await;
    let c = client(s.addr);
    let in_flight = tokio::spawn(async move { c.call("sleep", vec![400.into()]).await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    if let Some(stop) = s.stop.take() {
        let _ = stop.send(());
    }
    assert_eq!(in_flight.await.expect("task").expect("the call in flight completes"), Value::Int(400));
    tokio::time::timeout(Duration::from_secs(5), &mut s.done).await.expect("shut down").expect("task").expect("ok");
    // Nobody is listening any more.
    assert!(TcpStream::connect(s.addr).await.is_err());
}

#[tokio::test]
async fn client_reports_status_timeout_and_refused_connections() {
    let s = start(|s| s).await;
    let c = rpc_xml::Client::new(&format!("http://{}/elsewhere", s.addr)).expect("client");
    match c.call("double", vec![1.into()]).await {
        Err(Error::Transport(e)) => assert!(e.to_string().contains("404"), "{e}"),
        other => panic!("{other:?}"),
    }
    let slow = rpc_xml::Client::builder()
        .timeout(Some(Duration::from_millis(100)))
        .build(&format!("http://{}/", s.addr))
        .expect("client");
    assert!(matches!(slow.call("sleep", vec![2000.into()]).await, Err(Error::Timeout(_))));
    let closed_port = rpc_test_support::ClosedPort::new();
    let closed = closed_port.addr();
    match client(closed).call("double", vec![1.into()]).await {
        Err(e @ Error::Connect(_)) => assert!(e.to_string().to_lowercase().contains("refused"), "{e}"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn client_sends_basic_auth_from_the_url() {
    // A one-shot HTTP server that captures the request head.
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let seen = tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.expect("accept");
        let mut buf = vec![0u8; 4096];
        let n = s.read(&mut buf).await.expect("read");
        let body = "<?xml version='1.0'?><methodResponse><params><param><value><int>1</int></value></param></params></methodResponse>";
        let resp = format!("HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: {}\r\n\r\n{body}", body.len());
        s.write_all(resp.as_bytes()).await.expect("write");
        String::from_utf8_lossy(&buf[..n]).into_owned()
    });
    let c = rpc_xml::Client::new(&format!("http://al%20ice:s%3Acret@{addr}/RPC2")).expect("client");
    assert_eq!(c.call("x", vec![]).await.unwrap(), Value::Int(1));
    let head = seen.await.expect("task");
    // base64("al ice:s:cret")
    assert!(head.contains("authorization: Basic YWwgaWNlOnM6Y3JldA==\r\n"), "{head}");
    assert!(head.to_ascii_lowercase().contains("content-length: "), "{head}");
    assert!(head.starts_with("POST /RPC2 HTTP/1.1\r\n"), "{head}");
    assert!(!head.contains("al%20ice"), "credentials leaked into the request line: {head}");
}

#[tokio::test]
async fn slow_bodies_get_408() {
    let s = start(|s| s.body_read_timeout(Duration::from_millis(300))).await;
    let started = Instant::now();
    let resp = raw(s.addr, b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n<methodCall>").await;
    assert!(resp.starts_with("HTTP/1.1 408"), "{resp}");
    assert!(started.elapsed() < Duration::from_secs(3));
    assert_eq!(client(s.addr).call("double", vec![3.into()]).await.unwrap(), Value::Int(6));
}

#[tokio::test]
async fn connections_over_the_limit_get_503() {
    let s = start(|s| s.max_connections(2)).await;
    let idle1 = TcpStream::connect(s.addr).await.unwrap();
    let idle2 = TcpStream::connect(s.addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let resp = raw(s.addr, &post("/", "<methodCall><methodName>double</methodName></methodCall>")).await;
    assert!(resp.starts_with("HTTP/1.1 503"), "{resp}");
    assert!(resp.to_ascii_lowercase().contains("retry-after: 1"), "{resp}");
    drop((idle1, idle2));
    // Once the idle connections are gone, calls are served again.
    let c = client(s.addr);
    let mut served = false;
    for _ in 0..50 {
        if c.call("double", vec![1.into()]).await.is_ok() {
            served = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(served, "the server did not recover after connections closed");
}

#[tokio::test]
async fn hanging_handlers_time_out_without_hurting_other_calls() {
    let s = start(|s| s.handler_timeout(Some(Duration::from_millis(200)))).await;
    let c = client(s.addr);
    let slow = {
        let c = c.clone();
        tokio::spawn(async move { c.call("sleep", vec![5000.into()]).await })
    };
    assert_eq!(c.call("double", vec![2.into()]).await.unwrap(), Value::Int(4));
    match slow.await.unwrap() {
        Err(Error::Fault(f)) => {
            assert_eq!(f.code, Fault::INTERNAL_ERROR);
            assert!(f.message.contains("did not finish"), "{f}");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn graceful_shutdown_gives_up_after_its_deadline() {
    let mut s = start(|s| s.shutdown_timeout(Duration::from_millis(300))).await;
    let c = client(s.addr);
    let stuck = tokio::spawn(async move { c.call("sleep", vec![10_000.into()]).await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = Instant::now();
    if let Some(stop) = s.stop.take() {
        let _ = stop.send(());
    }
    tokio::time::timeout(Duration::from_secs(5), &mut s.done).await.expect("shut down in time").unwrap().unwrap();
    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
    stuck.abort();
}

#[tokio::test]
async fn http_serves_unix_sockets_too() {
    let dir = rpc_test_support::TempDir::new("xml-unix");
    let path = dir.path().join("rpc.sock");
    let listener = tokio::net::UnixListener::bind(&path).unwrap();
    tokio::spawn(rpc_xml::Server::new(common::ProbeServer::new(common::Impl::default())).serve(listener));
    let body = "<?xml version=\"1.0\"?><methodCall><methodName>double</methodName><params><param><value><int>21</int></value></param></params></methodCall>";
    let request = format!(
        "POST / HTTP/1.1\r\nHost: localhost\r\nContent-Type: text/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let mut stream = tokio::net::UnixStream::connect(&path).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("<int>42</int>") || answer.contains("<i4>42</i4>"), "{answer}");
}

#[tokio::test]
async fn shutdown_waits_for_silent_or_idle_connections_only_through_the_drain_grace() {
    let listener = rpc_test_support::bind_loopback().await;
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let grace = Duration::from_millis(300);
    let server = rpc_xml::Server::new(common::ProbeServer::new(common::Impl::default())).drain_grace(grace);
    let serving = tokio::spawn(server.serve_with_shutdown(listener, async move { drop(stopped.await) }));
    let silent = TcpStream::connect(addr).await.unwrap();
    let c = client(addr);
    assert_eq!(c.call("double", vec![1.into()]).await.unwrap(), Value::Int(2));
    tokio::time::sleep(Duration::from_millis(50)).await;
    let started = std::time::Instant::now();
    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(5), serving).await.expect("shutdown waited").unwrap().unwrap();
    // They might still send one more request until the grace is over (and not a header-read timeout longer).
    let took = started.elapsed();
    assert!(took >= grace - Duration::from_millis(50) && took < Duration::from_secs(2), "shutdown took {took:?}");
    drop(silent);
}

#[tokio::test]
async fn the_client_calls_over_a_unix_socket() {
    let dir = rpc_test_support::TempDir::new("xml-unix-client");
    let path = dir.path().join("rpc.sock");
    let listener = tokio::net::UnixListener::bind(&path).unwrap();
    tokio::spawn(rpc_xml::Server::new(common::ProbeServer::new(common::Impl::default())).serve(listener));
    let client = rpc_xml::Client::builder().unix_socket(&path).build("http://localhost/").unwrap();
    assert_eq!(client.call("double", vec![21.into()]).await.unwrap(), Value::Int(42));
    let gone =
        rpc_xml::Client::builder().unix_socket(dir.path().join("nothing.sock")).build("http://localhost/").unwrap();
    let err = gone.call("double", vec![1.into()]).await.unwrap_err();
    assert!(err.to_string().contains("nothing.sock"), "{err}");
}

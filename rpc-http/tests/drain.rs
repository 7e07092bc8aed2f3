//! A graceful shutdown of the HTTP server, over raw sockets: no request a client has sent, or is sending on a
//! connection it holds, is lost. Requests in flight are answered; a connection with nothing in flight stays open
//! for the drain grace and answers one more request with `Connection: close`; connections already waiting in the
//! listen queue are taken in and answered; new connections are refused.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rpc_core::{BoxFuture, Context};
use rpc_http::{Endpoint, Reply, ServerConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// Answers every request with its own body.
struct Echo;

impl Endpoint for Echo {
    fn handle(&self, body: bytes::Bytes, _cx: Context) -> BoxFuture<'static, Reply> {
        Box::pin(async move { Reply::ok("text/plain", body.to_vec()) })
    }
}

/// A server on `listener` until the sender is used (or dropped).
fn serve(listener: TcpListener, config: ServerConfig) -> (tokio::sync::oneshot::Sender<()>, JoinHandle<()>) {
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let done = tokio::spawn(async move {
        rpc_http::serve(listener, Echo, config, async move { drop(stopped.await) }).await.unwrap();
    });
    (stop, done)
}

async fn listen() -> (TcpListener, SocketAddr) {
    let listener = rpc_test_support::bind_loopback().await;
    let addr = listener.local_addr().unwrap();
    (listener, addr)
}

fn request(body: &str) -> Vec<u8> {
    format!("POST / HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{body}", body.len())
        .into_bytes()
}

/// One answer read off a keep-alive connection: its head (lower-cased) and body.
async fn answer(stream: &mut TcpStream) -> (String, String) {
    let mut raw = Vec::new();
    let mut chunk = [0u8; 4096];
    let deadline = Duration::from_secs(5);
    let head_end = loop {
        if let Some(i) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = tokio::time::timeout(deadline, stream.read(&mut chunk)).await.expect("an answer in time").unwrap();
        assert!(n > 0, "the connection closed before an answer: {:?}", String::from_utf8_lossy(&raw));
        raw.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&raw[..head_end]).to_ascii_lowercase();
    let length: usize =
        head.lines().find_map(|l| l.strip_prefix("content-length:")).map_or(0, |v| v.trim().parse().unwrap());
    while raw.len() < head_end + length {
        let n = tokio::time::timeout(deadline, stream.read(&mut chunk)).await.expect("the body in time").unwrap();
        assert!(n > 0, "the connection closed in the body");
        raw.extend_from_slice(&chunk[..n]);
    }
    (head, String::from_utf8_lossy(&raw[head_end..head_end + length]).into_owned())
}

/// Whether the server closed `stream` (it reads end of file) within two seconds.
async fn closed(stream: &mut TcpStream) -> bool {
    let mut byte = [0u8; 1];
    matches!(tokio::time::timeout(Duration::from_secs(2), stream.read(&mut byte)).await, Ok(Ok(0) | Err(_)))
}

#[tokio::test]
async fn an_idle_keep_alive_connection_answers_one_more_request_with_connection_close() {
    let (listener, addr) = listen().await;
    let (stop, done) = serve(listener, ServerConfig::new("echo").drain_grace(Duration::from_secs(10)));
    let mut idle = TcpStream::connect(addr).await.unwrap();
    idle.write_all(&request("one")).await.unwrap();
    let (head, body) = answer(&mut idle).await;
    assert!(head.starts_with("http/1.1 200") && !head.contains("connection: close"), "{head}");
    assert_eq!(body, "one");

    stop.send(()).unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    // The listener is closed: new connections are refused (a proxy tries the next server, having sent nothing).
    assert!(TcpStream::connect(addr).await.is_err(), "still accepting during the drain");
    // The connection the client holds still answers, and closes after it.
    idle.write_all(&request("two")).await.unwrap();
    let (head, body) = answer(&mut idle).await;
    assert!(head.starts_with("http/1.1 200") && head.contains("connection: close\r\n"), "{head}");
    assert_eq!(body, "two");
    assert!(closed(&mut idle).await, "the connection stayed open after its answer with Connection: close");
    // With no connection left, the shutdown is over long before the grace.
    tokio::time::timeout(Duration::from_secs(2), done).await.expect("the drain waited for the grace").unwrap();
}

#[tokio::test]
async fn a_connection_that_has_not_sent_its_request_yet_is_answered() {
    let (listener, addr) = listen().await;
    let (stop, done) = serve(listener, ServerConfig::new("echo").drain_grace(Duration::from_secs(10)));
    let mut fresh = TcpStream::connect(addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    stop.send(()).unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    fresh.write_all(&request("late")).await.unwrap();
    let (head, body) = answer(&mut fresh).await;
    assert!(head.starts_with("http/1.1 200") && head.contains("connection: close\r\n"), "{head}");
    assert_eq!(body, "late");
    tokio::time::timeout(Duration::from_secs(2), done).await.expect("shut down").unwrap();
}

#[tokio::test]
async fn with_nothing_coming_the_drain_grace_bounds_the_shutdown() {
    let (listener, addr) = listen().await;
    let grace = Duration::from_millis(400);
    let (stop, done) = serve(listener, ServerConfig::new("echo").drain_grace(grace));
    let mut idle = TcpStream::connect(addr).await.unwrap();
    idle.write_all(&request("one")).await.unwrap();
    answer(&mut idle).await;
    let mut silent = TcpStream::connect(addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = Instant::now();
    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(5), done).await.expect("shut down").unwrap();
    let took = started.elapsed();
    assert!(took >= grace - Duration::from_millis(50), "closed before the grace was over: {took:?}");
    assert!(took < Duration::from_secs(2), "waited past the grace: {took:?}");
    assert!(closed(&mut idle).await && closed(&mut silent).await);

    // A zero grace closes them at once.
    let (listener, addr) = listen().await;
    let (stop, done) = serve(listener, ServerConfig::new("echo").drain_grace(Duration::ZERO));
    let mut idle = TcpStream::connect(addr).await.unwrap();
    idle.write_all(&request("one")).await.unwrap();
    answer(&mut idle).await;
    let started = Instant::now();
    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(5), done).await.expect("shut down").unwrap();
    assert!(started.elapsed() < Duration::from_millis(300), "{:?}", started.elapsed());
    assert!(closed(&mut idle).await);
}

#[tokio::test]
async fn connections_waiting_in_the_listen_queue_are_taken_in_and_answered() {
    let (listener, addr) = listen().await;
    // The kernel completes these connections (and takes their requests) before the server ever accepts, and
    // the server is stopped from the start: closing the listener now would reset every one of them.
    let mut waiting = Vec::new();
    for i in 0..5 {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream.write_all(&request(&format!("queued {i}"))).await.unwrap();
        waiting.push(stream);
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    let done = tokio::spawn(async move {
        let config = ServerConfig::new("echo").drain_grace(Duration::from_millis(500));
        rpc_http::serve(listener, Echo, config, std::future::ready(())).await.unwrap();
    });
    // (One may be accepted before the server sees its signal, and answered as usual.)
    for (i, stream) in waiting.iter_mut().enumerate() {
        let (head, body) = answer(stream).await;
        assert!(head.starts_with("http/1.1 200"), "{head}");
        assert_eq!(body, format!("queued {i}"));
    }
    tokio::time::timeout(Duration::from_secs(3), done).await.expect("shut down").unwrap();
    assert!(TcpStream::connect(addr).await.is_err());
}

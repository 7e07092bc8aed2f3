//! What the XML-RPC integration tests share: a probe service, a server on an OS-picked port, raw HTTP.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use rpc_core::{Value, service};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A small service for these tests.
#[service]
pub trait Probe {
    /// Returns num * 2.
    async fn double(&self, num: i64) -> i64;
    /// Sleeps `ms` milliseconds, then returns them.
    async fn sleep(&self, ms: u64) -> u64;
    /// Panics.
    async fn explode(&self);
    /// Returns `s` unchanged.
    async fn echo(&self, s: Value) -> Value;
    /// Adds `b` (default 1) to `a`.
    async fn add(&self, a: i64, b: Option<i64>) -> i64;
}

#[derive(Default)]
pub struct Impl {
    running: Arc<AtomicUsize>,
    peak: Arc<AtomicUsize>,
}

impl Probe for Impl {
    async fn double(&self, num: i64) -> i64 {
        num * 2
    }
    async fn sleep(&self, ms: u64) -> u64 {
        let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak.fetch_max(now, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(ms)).await;
        self.running.fetch_sub(1, Ordering::SeqCst);
        ms
    }
    async fn explode(&self) {
        panic!("boom");
    }
    async fn echo(&self, s: Value) -> Value {
        s
    }
    async fn add(&self, a: i64, b: Option<i64>) -> i64 {
        a + b.unwrap_or(1)
    }
}

pub struct Running {
    pub addr: SocketAddr,
    pub peak: Arc<AtomicUsize>,
    pub stop: Option<tokio::sync::oneshot::Sender<()>>,
    pub done: tokio::task::JoinHandle<std::io::Result<()>>,
}

pub async fn start(
    configure: impl FnOnce(rpc_xml::Server<ProbeServer<Impl>>) -> rpc_xml::Server<ProbeServer<Impl>>,
) -> Running {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("local addr");
    let peak = Arc::new(AtomicUsize::new(0));
    let service = ProbeServer::new(Impl { running: Arc::default(), peak: peak.clone() });
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = configure(rpc_xml::Server::new(service));
    let done = tokio::spawn(server.serve_with_shutdown(listener, async {
        let _ = stopped.await;
    }));
    Running { addr, peak, stop: Some(stop), done }
}

pub fn client(addr: SocketAddr) -> rpc_xml::Client {
    rpc_xml::Client::new(&format!("http://{addr}/RPC2")).expect("client")
}

/// Sends raw bytes on a new connection and reads until the server closes it or `Connection: close` applies.
pub async fn raw(addr: SocketAddr, request: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    // The server may answer (413) and close before taking the whole request: read what it said anyway.
    let _ = s.write_all(request).await;
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

pub fn post(path: &str, body: &str) -> Vec<u8> {
    format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: text/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

//! What the MessagePack-RPC integration tests share: a probe service, servers on OS-picked ports, raw frames.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::BytesMut;
use rpc_core::{Context, Fault, Value, service};
use rpc_msgpack::codec::{Codec, Message, encode_value};
use rpc_msgpack::{ConnectionInfo, Peer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::codec::Decoder;

/// A small service for these tests.
#[service]
pub trait Probe {
    /// Returns num * 2.
    async fn double(&self, num: i64) -> i64;
    /// Returns its argument unchanged.
    async fn echo(&self, value: Value) -> Value;
    /// Sleeps `ms` milliseconds, then returns them (counted in `started`).
    async fn sleep(&self, ms: u64) -> u64;
    /// Fails with the given fault.
    async fn fail(&self, code: i64, message: String) -> Result<(), Fault>;
    /// Panics.
    async fn explode(&self);
    /// Records a note (sent as a notification by the tests).
    async fn record(&self, note: Value);
    /// The notes recorded so far, in order.
    async fn notes(&self) -> Vec<Value>;
    /// Returns `n` zero bytes (counted in `started`).
    async fn blob(&self, n: usize) -> serde_bytes::ByteBuf;
    /// Calls `method` with `params` on the connected peer (through the `Peer` in the context).
    async fn call_back(&self, method: String, params: Vec<Value>, cx: &Context) -> Result<Value, Fault>;
    /// Notifies the connected peer.
    async fn notify_back(&self, method: String, params: Vec<Value>, cx: &Context) -> Result<(), Fault>;
    /// Never returns (counted in `started`); counts how many of these futures have been dropped.
    async fn hang(&self);
    /// Who the connection was admitted as (the `User` the server's authenticate hook returned, if any), and
    /// whether it is TLS, from the `ConnectionInfo` in the context.
    async fn whoami(&self, cx: &Context) -> (Option<String>, Option<bool>);
}

/// The identity the tests' authenticate hooks admit connections as.
pub struct User(pub String);

/// What the probe has seen.
#[derive(Default)]
pub struct State {
    pub notes: Mutex<Vec<Value>>,
    pub started: AtomicUsize,
    pub dropped: AtomicUsize,
}

#[derive(Clone, Default)]
pub struct Impl(pub Arc<State>);

struct DropCount(Arc<State>);

impl Drop for DropCount {
    fn drop(&mut self) {
        self.0.dropped.fetch_add(1, Ordering::SeqCst);
    }
}

fn peer(cx: &Context) -> Result<&Peer, Fault> {
    cx.get::<Peer>().ok_or_else(|| Fault::internal_error("no peer in the context"))
}

impl Probe for Impl {
    async fn double(&self, num: i64) -> i64 {
        num * 2
    }
    async fn echo(&self, value: Value) -> Value {
        value
    }
    async fn sleep(&self, ms: u64) -> u64 {
        self.0.started.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(ms)).await;
        ms
    }
    async fn fail(&self, code: i64, message: String) -> Result<(), Fault> {
        Err(Fault::new(code, message))
    }
    async fn explode(&self) {
        panic!("boom");
    }
    async fn record(&self, note: Value) {
        self.0.notes.lock().unwrap().push(note);
    }
    async fn notes(&self) -> Vec<Value> {
        self.0.notes.lock().unwrap().clone()
    }
    async fn blob(&self, n: usize) -> serde_bytes::ByteBuf {
        self.0.started.fetch_add(1, Ordering::SeqCst);
        serde_bytes::ByteBuf::from(vec![0; n])
    }
    async fn call_back(&self, method: String, params: Vec<Value>, cx: &Context) -> Result<Value, Fault> {
        Ok(peer(cx)?.call(&method, params).await?)
    }
    async fn notify_back(&self, method: String, params: Vec<Value>, cx: &Context) -> Result<(), Fault> {
        Ok(peer(cx)?.notify(&method, params).await?)
    }
    async fn hang(&self) {
        self.0.started.fetch_add(1, Ordering::SeqCst);
        let _guard = DropCount(self.0.clone());
        std::future::pending::<()>().await;
    }
    async fn whoami(&self, cx: &Context) -> (Option<String>, Option<bool>) {
        (cx.get::<User>().map(|u| u.0.clone()), cx.get::<ConnectionInfo>().map(|c| c.tls))
    }
}

/// A server running on a listener until told to stop, for shutdown and restart tests.
pub struct Running {
    pub addr: SocketAddr,
    pub state: Arc<State>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    pub done: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Running {
    /// Serves the probe on `listener` with `server`'s settings until [`Running::stop`].
    pub fn start(
        listener: tokio::net::TcpListener,
        server: impl FnOnce(rpc_msgpack::Server<ProbeServer<Impl>>) -> rpc_msgpack::Server<ProbeServer<Impl>>,
    ) -> Running {
        let probe = Impl::default();
        let state = probe.0.clone();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = server(rpc_msgpack::Server::new(ProbeServer::new(probe)));
        let done = tokio::spawn(server.serve_with_shutdown(listener, async {
            let _ = stopped.await;
        }));
        Running { addr, state, stop: Some(stop), done }
    }

    /// Starts the graceful shutdown.
    pub fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }

    /// Starts the graceful shutdown and waits (up to 10 s) for the server to return.
    pub async fn stopped(mut self) {
        self.stop();
        tokio::time::timeout(Duration::from_secs(10), self.done).await.expect("shut down in time").unwrap().unwrap();
    }
}

/// The probe served over TCP on an OS-picked loopback port, with its state.
pub async fn serve(
    server: impl FnOnce(rpc_msgpack::Server<ProbeServer<Impl>>) -> rpc_msgpack::Server<ProbeServer<Impl>>,
) -> (SocketAddr, Arc<State>) {
    let probe = Impl::default();
    let state = probe.0.clone();
    let listener = rpc_test_support::bind_loopback().await;
    let addr = listener.local_addr().unwrap();
    tokio::spawn(server(rpc_msgpack::Server::new(ProbeServer::new(probe))).serve(listener));
    (addr, state)
}

/// The probe with the default settings.
pub async fn serve_default() -> (SocketAddr, Arc<State>) {
    serve(|s| s).await
}

/// A request's bytes.
pub fn request(id: u32, method: &str, params: Vec<Value>) -> Vec<u8> {
    encode(&Message::Request { id, method: method.into(), params })
}

/// A notification's bytes.
pub fn notification(method: &str, params: Vec<Value>) -> Vec<u8> {
    encode(&Message::Notification { method: method.into(), params })
}

pub fn encode(message: &Message) -> Vec<u8> {
    let mut buf = BytesMut::new();
    message.encode(&mut buf).unwrap();
    buf.to_vec()
}

pub fn encode_raw(value: &Value) -> Vec<u8> {
    let mut buf = BytesMut::new();
    encode_value(value, &mut buf).unwrap();
    buf.to_vec()
}

/// A raw MessagePack-RPC connection for sending hand-made bytes and reading messages back.
pub struct Raw {
    pub stream: TcpStream,
    codec: Codec,
    buf: BytesMut,
}

impl Raw {
    pub async fn connect(addr: SocketAddr) -> Raw {
        let stream = TcpStream::connect(addr).await.unwrap();
        stream.set_nodelay(true).unwrap();
        Raw { stream, codec: Codec::new(64 << 20, 64), buf: BytesMut::new() }
    }

    pub async fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.unwrap();
    }

    /// The next message, or `None` when the server closed the connection; fails after 10 s.
    pub async fn recv(&mut self) -> Option<Message> {
        tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                if let Some(v) = self.codec.decode(&mut self.buf).unwrap() {
                    return Some(Message::from_value(v).unwrap());
                }
                match self.stream.read_buf(&mut self.buf).await {
                    Ok(0) | Err(_) => return None,
                    Ok(_) => {}
                }
            }
        })
        .await
        .expect("no message within 10 s")
    }

    /// The next message, which must be a response to `id`; its result or error object.
    pub async fn response(&mut self, id: u32) -> Result<Value, Value> {
        match self.recv().await {
            Some(Message::Response { id: got, result }) if got == id => result,
            other => panic!("expected the response to {id}, got {other:?}"),
        }
    }

    /// Waits until the server closes the connection (reading and dropping anything it still sends).
    pub async fn closed(&mut self) -> Vec<Message> {
        let mut got = Vec::new();
        while let Some(m) = self.recv().await {
            got.push(m);
        }
        got
    }
}

/// The code of an error object `[code, message]`.
pub fn code(error: &Value) -> i64 {
    error.as_array().and_then(|e| e.first()).and_then(Value::as_i64).expect("an error object [code, message]")
}

/// Waits (up to 5 s) until `done()` holds; the caller asserts on what it then sees.
pub async fn eventually(mut done: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !done() && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Installs a `tracing` subscriber that writes to the test's captured output (for debugging a failure).
pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()))
        .with_test_writer()
        .try_init();
}

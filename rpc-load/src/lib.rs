//! The load generator of the `rpc` framework: many connections, each with calls in flight, making one call over and over, timing every
//! answer. `rpc bench` and the benchmark suite both drive it.
//!
//! It is built not to be the bottleneck. On plain HTTP and on the duplex encodings over TCP and Unix sockets it
//! does not go through the framework's clients but speaks the wire itself, on one task per connection:
//! - HTTP/1.1 ([`Target::Http`]): the request (head and body) is encoded once; each call is one write of it and
//!   reads until the response's `Content-Length` is in. A response byte for byte the same as the last good one
//!   is counted as a success without decoding it again; any other is decoded with the encoding's codec (a fault
//!   is an error). A server that closes the connection (HTTP/1.0, `Connection: close`) is reconnected to for the
//!   next call.
//! - Any duplex encoding ([`Target::Duplex`]: MessagePack-RPC, JSON-RPC over TCP, a Unix socket or WebSocket),
//!   through its [`rpc_engine::Protocol`] and nothing else: each call takes a free slot, whose number is its
//!   msgid, and its request is written with the protocol's
//!   [`encode_request`](rpc_engine::Protocol::encode_request) (once per slot, then kept), up to `in_flight` of them
//!   gathered into one write; the answers are read with [`classify`](rpc_engine::Protocol::classify) and matched
//!   to their slots by msgid. On a byte stream, requests are framed and answers cut as the protocol's client
//!   framing says; on WebSocket ([`Socket::WebSocket`], tokio-tungstenite), each is one message (text or binary
//!   as the protocol is), the answers already received taken together. One loop serves every duplex encoding on
//!   every wire.
//!
//! Any other transport (TLS) goes through a [`Caller`] the caller provides, one per connection.
//!
//! Calls sent during the warm-up are not counted. In a timed run, the calls counted are those sent within the
//! measured window (the run waits for their answers); in a run of N calls, exactly N are counted.
//!
//! ```no_run
//! use std::sync::Arc;
//! use std::time::Duration;
//!
//! use rpc_load::{Plan, Progress, Socket, Stop, Target};
//!
//! # async fn run() -> Result<(), String> {
//! let plan = Plan {
//!     method: "double".into(),
//!     params: vec![7.into()],
//!     connections: 1,
//!     in_flight: 64,
//!     stop: Stop::After(Duration::from_secs(3)),
//!     warmup: Duration::from_millis(500),
//!     timeout: Duration::from_secs(5),
//! };
//! let target = Target::duplex(rpc_msgpack::MessagePack::default(), Socket::Tcp("127.0.0.1:6666".into()));
//! let report = rpc_load::run(&target, &plan, Arc::new(Progress::default())).await?;
//! println!("{:.0} calls/s, p99 {:?}", report.calls_per_sec(), report.latency.p99);
//! # Ok(())
//! # }
//! ```

#![deny(missing_docs)]

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use base64::Engine as _;
use bytes::{Buf, Bytes, BytesMut};
use futures_util::{FutureExt as _, SinkExt as _, StreamExt as _};
use hdrhistogram::Histogram;
use rpc_core::Value;
use rpc_engine::framing::{self, FrameRead, FrameWrite, StreamReader, StreamWriter};
use rpc_engine::{Answered, Incoming, OutParams, Protocol};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::{self, Message, Utf8Bytes, protocol::WebSocketConfig};

/// A boxed, sendable future.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The deepest nesting read in an answer.
const MAX_DEPTH: usize = 64;
/// The largest answer read.
const MAX_MESSAGE: usize = 64 * 1024 * 1024;
/// The longest latency the histograms hold (longer ones are recorded as this): one hour, in nanoseconds.
const MAX_LATENCY_NS: u64 = 3_600_000_000_000;

/// Makes calls on one connection of a transport the generator does not speak itself.
pub trait Caller: Send + Sync {
    /// Calls `method`; an error (a fault included) is described in one line.
    fn call<'a>(&'a self, method: &'a str, params: Vec<Value>) -> BoxFuture<'a, Result<(), String>>;
}

/// Any [`rpc_core::Transport`] (the framework's clients) is a [`Caller`].
#[derive(Debug)]
pub struct TransportCaller<T>(pub T);

impl<T: rpc_core::Transport> Caller for TransportCaller<T> {
    fn call<'a>(&'a self, method: &'a str, params: Vec<Value>) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move { self.0.call(method, params).await.map(drop).map_err(|e| e.to_string()) })
    }
}

/// Opens one connection for a [`Target::Other`].
pub type Connector = Arc<dyn Fn() -> BoxFuture<'static, Result<Box<dyn Caller>, String>> + Send + Sync>;

/// The encodings spoken over HTTP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpEncoding {
    /// XML-RPC.
    Xml,
    /// JSON-RPC 2.0.
    Json,
}

/// Where the load goes, and how it is spoken.
#[derive(Clone)]
pub enum Target {
    /// XML-RPC or JSON-RPC at a plain `http://` URL, spoken by the generator itself.
    Http {
        /// The encoding.
        encoding: HttpEncoding,
        /// The URL (`user:password@` becomes Basic authentication).
        url: String,
    },
    /// A duplex encoding over TCP or a Unix socket, spoken by the generator itself through its protocol,
    /// pipelined (see the [module docs](self)).
    Duplex {
        /// The encoding: how requests are written, answers cut and read.
        protocol: Arc<dyn Protocol>,
        /// Where it listens.
        socket: Socket,
    },
    /// Anything else, through one [`Caller`] per connection.
    Other(Connector),
}

impl Target {
    /// The duplex encoding `protocol` at `socket` ([`Target::Duplex`]).
    pub fn duplex(protocol: impl Protocol, socket: Socket) -> Target {
        Target::Duplex { protocol: Arc::new(protocol), socket }
    }
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Http { encoding, url } => {
                f.debug_struct("Http").field("encoding", encoding).field("url", url).finish()
            }
            Target::Duplex { protocol, socket } => {
                f.debug_struct("Duplex").field("protocol", &protocol.name()).field("socket", socket).finish()
            }
            Target::Other(_) => f.write_str("Other(..)"),
        }
    }
}

/// Where a duplex encoding listens: a stream socket, or WebSocket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Socket {
    /// TCP, to `HOST:PORT`.
    Tcp(String),
    /// A Unix domain socket at this path.
    Unix(PathBuf),
    /// WebSocket (RFC 6455) over TCP at this `ws://` URL, one message per WebSocket message.
    WebSocket(String),
}

impl std::fmt::Display for Socket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Socket::Tcp(addr) | Socket::WebSocket(addr) => f.write_str(addr),
            Socket::Unix(path) => write!(f, "{}", path.display()),
        }
    }
}

/// When a run stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// After sending for this long (after the warm-up).
    After(Duration),
    /// After this many calls (after the warm-up).
    Calls(u64),
}

/// What to run.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The method called.
    pub method: String,
    /// Its params, the same on every call.
    pub params: Vec<Value>,
    /// Connections opened.
    pub connections: usize,
    /// Calls in flight per connection (more than 1 pipelines them, on a duplex encoding).
    pub in_flight: usize,
    /// When to stop.
    pub stop: Stop,
    /// How long to call before counting.
    pub warmup: Duration,
    /// How long one call (or connecting) may take before it counts as an error.
    pub timeout: Duration,
}

/// Live counters, for a progress display.
#[derive(Debug, Default)]
pub struct Progress {
    calls: AtomicU64,
    errors: AtomicU64,
}

impl Progress {
    /// Calls counted so far (not those of the warm-up).
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }

    /// Errors among them.
    pub fn errors(&self) -> u64 {
        self.errors.load(Ordering::Relaxed)
    }
}

/// Latency percentiles of the calls counted.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Latency {
    /// Median.
    pub p50: Duration,
    /// 90th percentile.
    pub p90: Duration,
    /// 99th percentile.
    pub p99: Duration,
    /// The slowest call.
    pub max: Duration,
    /// The mean.
    pub mean: Duration,
}

/// What a run measured.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Calls counted (answered or failed).
    pub calls: u64,
    /// Calls that failed: a fault, a transport error, a timeout or an answer that could not be read.
    pub errors: u64,
    /// The measured window: the timed duration, or from the warm-up's end to the last answer.
    pub elapsed: Duration,
    /// Latency of every call counted.
    pub latency: Latency,
    /// The first error, in one line.
    pub first_error: Option<String>,
}

impl Report {
    /// Calls per second over the measured window.
    pub fn calls_per_sec(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 { self.calls as f64 / secs } else { 0.0 }
    }
}

/// Runs `plan` against `target`: connects every connection, warms up, measures, and reports.
///
/// # Errors
/// A message when the plan is invalid or a connection cannot be opened at the start.
pub async fn run(target: &Target, plan: &Plan, progress: Arc<Progress>) -> Result<Report, String> {
    if plan.connections == 0 || plan.in_flight == 0 {
        return Err("connections and calls in flight must be at least 1".into());
    }
    if plan.stop == Stop::Calls(0) || plan.stop == Stop::After(Duration::ZERO) {
        return Err("a run needs at least one call and a duration above zero".into());
    }
    let kind = Kind::new(target, plan)?;
    let mut conns = Vec::with_capacity(plan.connections);
    for _ in 0..plan.connections {
        conns.push(kind.connect(plan.timeout).await?);
    }
    // Without a warm-up every call is counted, from the first: a test may compare the calls with what the server
    // saw.
    let start = Instant::now();
    let measure_from = start + plan.warmup;
    let deadline = match plan.stop {
        Stop::After(d) => Some(measure_from + d),
        Stop::Calls(_) => None,
    };
    let budget = match plan.stop {
        Stop::Calls(n) => n,
        Stop::After(_) => u64::MAX,
    };
    let Ok(hist) = Histogram::new_with_bounds(1, MAX_LATENCY_NS, 3) else {
        unreachable!("the histogram's bounds are valid")
    };
    let hist = std::sync::Mutex::new(hist);
    let clock = Arc::new(Clock { measure_from, deadline, budget, issued: AtomicU64::new(0), progress, hist });
    let mut tasks = tokio::task::JoinSet::new();
    for conn in conns {
        let (kind, clock, plan) = (kind.clone(), clock.clone(), plan.clone());
        tasks.spawn(async move { kind.drive(conn, &plan, &clock).await });
    }
    let mut total = Stats::new();
    while let Some(done) = tasks.join_next().await {
        let stats = done.map_err(|e| format!("a connection's task failed: {e}"))?;
        total.merge(stats);
    }
    let elapsed = match deadline {
        Some(deadline) => deadline - measure_from,
        None => total.last.map_or(Duration::ZERO, |last| last.saturating_duration_since(measure_from)),
    };
    let h = clock.hist.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let at = |q: f64| Duration::from_nanos(if h.is_empty() { 0 } else { h.value_at_quantile(q) });
    Ok(Report {
        calls: total.calls,
        errors: total.errors,
        elapsed,
        latency: Latency {
            p50: at(0.5),
            p90: at(0.9),
            p99: at(0.99),
            max: Duration::from_nanos(if h.is_empty() { 0 } else { h.max() }),
            mean: Duration::from_nanos(if h.is_empty() { 0 } else { h.mean() as u64 }),
        },
        first_error: total.first_error,
    })
}

/// When calls are counted and when sending stops, shared by every connection.
struct Clock {
    measure_from: Instant,
    deadline: Option<Instant>,
    budget: u64,
    issued: AtomicU64,
    progress: Arc<Progress>,
    /// One histogram for every connection: a few hundred KiB that stay in cache (one per connection would not).
    hist: std::sync::Mutex<Histogram<u64>>,
}

/// Whether a call is counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Warmup,
    Measured,
}

impl Clock {
    /// Whether to send another call now, and whether it counts; `None` once the run is over.
    fn next(&self, now: Instant) -> Option<Phase> {
        if now < self.measure_from {
            return Some(Phase::Warmup);
        }
        match self.deadline {
            Some(deadline) => (now < deadline).then_some(Phase::Measured),
            None => (self.issued.fetch_add(1, Ordering::Relaxed) < self.budget).then_some(Phase::Measured),
        }
    }
}

/// One connection's tally.
struct Stats {
    calls: u64,
    errors: u64,
    first_error: Option<String>,
    last: Option<Instant>,
}

impl Stats {
    fn new() -> Stats {
        // Three significant figures from 1 ns to an hour: a few tens of KiB per connection.
        Stats { calls: 0, errors: 0, first_error: None, last: None }
    }

    /// Counts one answered (or failed) call that was sent at `sent`.
    fn record(&mut self, clock: &Clock, phase: Phase, sent: Instant, now: Instant, outcome: Result<(), String>) {
        if phase == Phase::Warmup {
            return;
        }
        self.calls += 1;
        clock.progress.calls.fetch_add(1, Ordering::Relaxed);
        let ns = u64::try_from(now.saturating_duration_since(sent).as_nanos()).unwrap_or(u64::MAX);
        clock.hist.lock().unwrap_or_else(std::sync::PoisonError::into_inner).saturating_record(ns.max(1));
        self.last = Some(self.last.map_or(now, |l| l.max(now)));
        if let Err(e) = outcome {
            self.errors += 1;
            clock.progress.errors.fetch_add(1, Ordering::Relaxed);
            self.first_error.get_or_insert(e);
        }
    }

    fn merge(&mut self, other: Stats) {
        self.calls += other.calls;
        self.errors += other.errors;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
        self.last = match (self.last, other.last) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
    }
}

/// A target made ready to drive: requests encoded once.
#[derive(Clone)]
enum Kind {
    Http(Arc<HttpTarget>),
    Duplex(Arc<DuplexTarget>),
    Other(Connector),
}

/// An open connection (or, for HTTP, maybe one to reopen).
enum Conn {
    Http(tokio::net::TcpStream),
    Duplex(Wire),
    Other(Box<dyn Caller>),
}

impl Kind {
    fn new(target: &Target, plan: &Plan) -> Result<Kind, String> {
        match target {
            Target::Http { encoding, url } => {
                if plan.in_flight > 1 {
                    return Err("HTTP/1.1 carries one call at a time per connection: use more connections".into());
                }
                Ok(Kind::Http(Arc::new(HttpTarget::new(*encoding, url, &plan.method, &plan.params)?)))
            }
            Target::Duplex { protocol, socket } => {
                Ok(Kind::Duplex(Arc::new(DuplexTarget::new(protocol.clone(), socket.clone(), plan)?)))
            }
            Target::Other(connect) => Ok(Kind::Other(connect.clone())),
        }
    }

    async fn connect(&self, timeout: Duration) -> Result<Conn, String> {
        let (opening, at): (BoxFuture<'_, Result<Conn, String>>, &dyn std::fmt::Display) = match self {
            Kind::Http(t) => (Box::pin(async { tcp(&t.addr).await.map(Conn::Http) }), &t.addr),
            Kind::Duplex(t) => (Box::pin(async { t.connect().await.map(Conn::Duplex) }), &t.socket),
            Kind::Other(connect) => (Box::pin(async { connect().await.map(Conn::Other) }), &"the server"),
        };
        match tokio::time::timeout(timeout, opening).await {
            Ok(conn) => conn,
            Err(_) => Err(format!("connecting to {at} took longer than {timeout:?}")),
        }
    }

    async fn drive(&self, conn: Conn, plan: &Plan, clock: &Clock) -> Stats {
        match (self, conn) {
            (Kind::Http(t), Conn::Http(stream)) => http_loop(t, stream, plan, clock).await,
            (Kind::Duplex(t), Conn::Duplex(wire)) => duplex_loop(t, wire, plan, clock).await,
            (Kind::Other(_), Conn::Other(caller)) => other_loop(&*caller, plan, clock).await,
            _ => Stats::new(),
        }
    }
}

/// A TCP connection to `addr`, with `TCP_NODELAY`.
async fn tcp(addr: &str) -> Result<tokio::net::TcpStream, String> {
    let fail = |e: std::io::Error| format!("cannot connect to {addr}: {e}");
    let stream = tokio::net::TcpStream::connect(addr).await.map_err(fail)?;
    stream.set_nodelay(true).map_err(fail)?;
    Ok(stream)
}

// ---------------------------------------------------------------------------------------------------------------
// HTTP

/// An HTTP endpoint and the one request sent to it, encoded.
struct HttpTarget {
    encoding: HttpEncoding,
    addr: String,
    request: Vec<u8>,
}

impl HttpTarget {
    fn new(encoding: HttpEncoding, url: &str, method: &str, params: &[Value]) -> Result<HttpTarget, String> {
        let parsed = url::Url::parse(url).map_err(|e| format!("bad URL {url:?}: {e}"))?;
        if parsed.scheme() != "http" {
            return Err(format!("{url:?}: the generator speaks plain http:// itself; use a Caller for others"));
        }
        let host = parsed.host_str().ok_or_else(|| format!("{url:?} has no host"))?;
        let port = parsed.port_or_known_default().unwrap_or(80);
        let addr = match parsed.host() {
            Some(url::Host::Ipv6(ip)) => format!("[{ip}]:{port}"),
            _ => format!("{host}:{port}"),
        };
        let host_header = match parsed.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_owned(),
        };
        let mut path = parsed.path().to_owned();
        if let Some(query) = parsed.query() {
            path = format!("{path}?{query}");
        }
        let (body, content_type) = match encoding {
            HttpEncoding::Xml => (rpc_xml::codec::encode_call(method, params).map_err(|e| e.to_string())?, "text/xml"),
            HttpEncoding::Json => {
                // One id for every call: HTTP/1.1 answers in order, and identical answers need no decoding.
                let id = rpc_json::codec::Id::number(1);
                let params = rpc_json::codec::Params::Positional(params.to_vec());
                let body = rpc_json::codec::encode_request(Some(&id), method, &params).map_err(|e| e.to_string())?;
                (body, "application/json")
            }
        };
        let mut head = format!(
            "POST {path} HTTP/1.1\r\nHost: {host_header}\r\nUser-Agent: rpc-bench\r\nContent-Type: {content_type}\r\n\
             Content-Length: {}\r\n",
            body.len()
        );
        if !parsed.username().is_empty() || parsed.password().is_some() {
            let decode = |s: &str| percent_decode(s);
            let credentials = format!("{}:{}", decode(parsed.username()), decode(parsed.password().unwrap_or("")));
            let encoded = base64::engine::general_purpose::STANDARD.encode(credentials);
            head.push_str(&format!("Authorization: Basic {encoded}\r\n"));
        }
        head.push_str("\r\n");
        let mut request = head.into_bytes();
        request.extend_from_slice(&body);
        Ok(HttpTarget { encoding, addr, request })
    }

    /// Whether an answer's body is a result (`Ok`) or not (the fault or the decoding error).
    fn check(&self, body: &[u8]) -> Result<(), String> {
        match self.encoding {
            HttpEncoding::Xml => match rpc_xml::codec::decode_response(body, MAX_DEPTH) {
                Ok(Ok(_)) => Ok(()),
                Ok(Err(fault)) => Err(format!("fault {}: {}", fault.code, fault.message)),
                Err(e) => Err(format!("unreadable answer: {e}")),
            },
            HttpEncoding::Json => match rpc_json::codec::decode_response(body, MAX_DEPTH) {
                Ok(rpc_json::codec::Response { result: Ok(_), .. }) => Ok(()),
                Ok(rpc_json::codec::Response { result: Err(fault), .. }) => {
                    Err(format!("fault {}: {}", fault.code, fault.message))
                }
                Err(e) => Err(format!("unreadable answer: {e}")),
            },
        }
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes[i], bytes.get(i + 1).copied().and_then(hex), bytes.get(i + 2).copied().and_then(hex)) {
            (b'%', Some(hi), Some(lo)) => {
                out.push((hi * 16 + lo) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// One HTTP answer, read.
struct Answer {
    status: u16,
    keep_alive: bool,
    head_len: usize,
    body_len: usize,
}

/// Calls over one HTTP connection, one at a time, reopening it when the server closes it.
async fn http_loop(target: &HttpTarget, stream: tokio::net::TcpStream, plan: &Plan, clock: &Clock) -> Stats {
    let mut stats = Stats::new();
    let mut stream = Some(stream);
    let mut buf = BytesMut::with_capacity(16 * 1024);
    let mut last_good: Vec<u8> = Vec::new();
    let mut deadline = Deadline::new(plan.timeout);
    let mut sent = Instant::now();
    while let Some(phase) = clock.next(sent) {
        deadline.arm(sent);
        let exchange = http_exchange(target, &mut stream, &mut buf, &mut last_good);
        let outcome = match deadline.run(exchange).await {
            Some(Ok(outcome)) => outcome,
            Some(Err(broken)) => Err(broken),
            None => {
                stream = None;
                Err(format!("no answer within {:?}", plan.timeout))
            }
        };
        let broken = outcome.is_err() && stream.is_none();
        let done = Instant::now();
        stats.record(clock, phase, sent, done, outcome);
        // The next call starts now: one clock read per call.
        sent = done;
        if broken {
            // A server that refuses connections is not hammered in a tight loop.
            tokio::time::sleep(Duration::from_millis(1)).await;
            sent = Instant::now();
        }
    }
    stats
}

/// One call: `Err` when the connection broke (it is dropped), else the call's outcome.
async fn http_exchange(
    target: &HttpTarget,
    stream: &mut Option<tokio::net::TcpStream>,
    buf: &mut BytesMut,
    last_good: &mut Vec<u8>,
) -> Result<Result<(), String>, String> {
    if stream.is_none() {
        buf.clear();
        *stream = Some(tcp(&target.addr).await?);
    }
    let result = http_read(target, stream, buf).await;
    let (answer, keep_alive) = match result {
        Ok(answer) => answer,
        Err(e) => {
            *stream = None;
            return Err(e);
        }
    };
    let body = &buf[answer.head_len..answer.head_len + answer.body_len];
    let outcome = if answer.status != 200 {
        Err(format!("HTTP {}: {}", answer.status, String::from_utf8_lossy(body).trim()))
    } else if !last_good.is_empty() && body == &last_good[..] {
        Ok(())
    } else {
        let checked = target.check(body);
        if checked.is_ok() {
            last_good.clear();
            last_good.extend_from_slice(body);
        }
        checked
    };
    buf.advance(answer.head_len + answer.body_len);
    if !keep_alive {
        *stream = None;
        buf.clear();
    }
    Ok(outcome)
}

/// Sends the request and reads its whole answer into `buf`.
async fn http_read(
    target: &HttpTarget,
    stream: &mut Option<tokio::net::TcpStream>,
    buf: &mut BytesMut,
) -> Result<(Answer, bool), String> {
    let Some(s) = stream.as_mut() else { return Err("no connection".into()) };
    s.write_all(&target.request).await.map_err(|e| format!("sending: {e}"))?;
    loop {
        if let Some(answer) = parse_answer(buf)? {
            let whole = answer.head_len + answer.body_len;
            if buf.len() >= whole {
                let keep_alive = answer.keep_alive;
                return Ok((answer, keep_alive));
            }
            buf.reserve(whole - buf.len());
        } else if buf.capacity() - buf.len() < 4096 {
            buf.reserve(16 * 1024);
        }
        let n = s.read_buf(buf).await.map_err(|e| format!("reading: {e}"))?;
        if n == 0 {
            return Err("the server closed the connection before answering".into());
        }
    }
}

/// The head of the answer at the start of `buf`, once all of it is there.
fn parse_answer(buf: &[u8]) -> Result<Option<Answer>, String> {
    let mut headers = [httparse::EMPTY_HEADER; 24];
    let mut resp = httparse::Response::new(&mut headers);
    let head_len = match resp.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(format!("not an HTTP answer: {e}")),
    };
    let version = resp.version.unwrap_or(1);
    let mut keep_alive = version >= 1;
    let mut body_len = None;
    for h in resp.headers.iter() {
        if h.name.eq_ignore_ascii_case("content-length") {
            let len = std::str::from_utf8(h.value).ok().and_then(|v| v.trim().parse::<usize>().ok());
            body_len = Some(len.ok_or("a Content-Length that is not a number")?);
        } else if h.name.eq_ignore_ascii_case("connection") {
            let v = String::from_utf8_lossy(h.value).to_ascii_lowercase();
            if v.contains("close") {
                keep_alive = false;
            } else if v.contains("keep-alive") {
                keep_alive = true;
            }
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            return Err("a chunked answer: the generator reads answers with a Content-Length only".into());
        }
    }
    let body_len = body_len.ok_or("an answer without a Content-Length")?;
    if body_len > MAX_MESSAGE {
        return Err(format!("an answer of {body_len} bytes"));
    }
    Ok(Some(Answer { status: resp.code.unwrap_or(0), keep_alive, head_len, body_len }))
}

// ---------------------------------------------------------------------------------------------------------------
// Duplex encodings

/// The read half of a duplex connection, whichever socket it is on.
type BoxRead = Box<dyn AsyncRead + Send + Unpin>;
/// The write half of a duplex connection.
type BoxWrite = Box<dyn AsyncWrite + Send + Unpin>;

/// A duplex connection: a byte stream framed as its protocol's clients frame it, or a WebSocket.
enum Wire {
    Stream(StreamReader<BoxRead>, StreamWriter<BoxWrite>),
    Ws(Box<WsWire>),
}

impl Wire {
    /// Writes one request; `more` says that another follows at once (so that they are gathered into one write).
    async fn write(&mut self, request: Bytes, more: bool) -> std::io::Result<()> {
        match self {
            Wire::Stream(_, writer) => writer.write(request, more).await,
            Wire::Ws(ws) => ws.write(request, more).await,
        }
    }

    /// Waits for answers; 0 when the server closed the connection.
    async fn read(&mut self) -> std::io::Result<usize> {
        match self {
            Wire::Stream(reader, _) => reader.read().await,
            Wire::Ws(ws) => ws.read().await,
        }
    }

    /// The next whole answer received, if any.
    fn next_frame(&mut self) -> Result<Option<Bytes>, String> {
        match self {
            Wire::Stream(reader, _) => reader.next_frame().map_err(|broken| broken.reason),
            Wire::Ws(ws) => Ok(ws.frames.pop_front()),
        }
    }
}

/// A WebSocket client connection, read and written with tokio-tungstenite directly.
struct WsWire {
    ws: WebSocketStream<tokio::net::TcpStream>,
    /// Messages travel in binary frames (else in text frames).
    binary: bool,
    /// Answers received and not yet taken.
    frames: std::collections::VecDeque<Bytes>,
}

impl WsWire {
    async fn open(url: &str, binary: bool) -> Result<WsWire, String> {
        let parsed = url::Url::parse(url).map_err(|e| format!("not a WebSocket URL: {url}: {e}"))?;
        let (Some(host), Some(port)) = (parsed.host_str(), parsed.port_or_known_default()) else {
            return Err(format!("no host and port in {url}"));
        };
        let stream = tcp(&format!("{host}:{port}")).await?;
        // An 8 KiB read buffer, as rpc-engine's server has (answers are small; 32 connections of tungstenite's
        // default 128 KiB would not stay in cache).
        let config = WebSocketConfig::default()
            .max_message_size(Some(MAX_MESSAGE))
            .max_frame_size(Some(MAX_MESSAGE))
            .read_buffer_size(8 * 1024);
        let (ws, _) = tokio_tungstenite::client_async_with_config(url, stream, Some(config))
            .await
            .map_err(|e| format!("WebSocket handshake with {url}: {e}"))?;
        Ok(WsWire { ws, binary, frames: std::collections::VecDeque::new() })
    }

    /// Queues one message, and sends what is queued unless `more` follow.
    async fn write(&mut self, frame: Bytes, more: bool) -> std::io::Result<()> {
        let message = if self.binary {
            Message::Binary(frame)
        } else {
            Message::Text(
                Utf8Bytes::try_from(frame).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?,
            )
        };
        let sent = if more { self.ws.feed(message).await } else { self.ws.send(message).await };
        sent.map_err(ws_io)
    }

    /// Waits for one message, then takes every other one already received: the number of answers taken, 0 once
    /// the connection is closed.
    async fn read(&mut self) -> std::io::Result<usize> {
        let mut taken = 0;
        loop {
            let next = if taken == 0 {
                self.ws.next().await
            } else {
                match self.ws.next().now_or_never() {
                    Some(next) => next,
                    None => return Ok(taken),
                }
            };
            let message = match next {
                None | Some(Err(tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed)) => {
                    return Ok(taken);
                }
                Some(Err(e)) => return Err(ws_io(e)),
                Some(Ok(message)) => message,
            };
            match message {
                Message::Text(text) if !self.binary => self.frames.push_back(Bytes::from(text)),
                Message::Binary(bytes) if self.binary => self.frames.push_back(bytes),
                Message::Text(_) | Message::Binary(_) => {
                    let kind = if self.binary { "a text" } else { "a binary" };
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        format!("{kind} WebSocket frame, not what the protocol sends"),
                    ));
                }
                Message::Close(_) => return Ok(taken),
                // tungstenite answers pings itself.
                Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => continue,
            }
            taken += 1;
        }
    }
}

/// A WebSocket error as an I/O error.
fn ws_io(e: tungstenite::Error) -> std::io::Error {
    match e {
        tungstenite::Error::Io(e) => e,
        other => std::io::Error::other(other),
    }
}

/// A duplex endpoint, its protocol, and the one call made on it, its params encoded once.
struct DuplexTarget<P: ?Sized = dyn Protocol> {
    protocol: Arc<P>,
    socket: Socket,
    method: String,
    params: Bytes,
}

impl<P: Protocol + ?Sized> DuplexTarget<P> {
    fn new(protocol: Arc<P>, socket: Socket, plan: &Plan) -> Result<DuplexTarget<P>, String> {
        let values: Vec<&dyn rpc_core::encoding::erased_serde::Serialize> =
            plan.params.iter().map(|v| v as &dyn rpc_core::encoding::erased_serde::Serialize).collect();
        let params = protocol.encode_params(&values).map_err(|e| format!("cannot encode the params: {e}"))?;
        let target = DuplexTarget { protocol, socket, method: plan.method.clone(), params };
        // A request that cannot be written fails the run now rather than every call.
        target.encode(0, &mut BytesMut::new())?;
        Ok(target)
    }

    /// Appends the request with msgid `id`.
    fn encode(&self, id: u32, dst: &mut BytesMut) -> Result<(), String> {
        self.protocol
            .encode_request(Some(id), &self.method, OutParams::Encoded(&self.params), dst)
            .map_err(|e| format!("cannot encode the request: {e}"))
    }

    /// Opens a connection, framed as the protocol's clients frame theirs.
    async fn connect(&self) -> Result<Wire, String> {
        let (reader, writer): (BoxRead, BoxWrite) = match &self.socket {
            Socket::WebSocket(url) => {
                return Ok(Wire::Ws(Box::new(WsWire::open(url, self.protocol.binary()).await?)));
            }
            Socket::Tcp(addr) => {
                let (reader, writer) = tcp(addr).await?.into_split();
                (Box::new(reader), Box::new(writer))
            }
            Socket::Unix(path) => {
                let stream = tokio::net::UnixStream::connect(path)
                    .await
                    .map_err(|e| format!("cannot connect to {}: {e}", path.display()))?;
                let (reader, writer) = stream.into_split();
                (Box::new(reader), Box::new(writer))
            }
        };
        let (reader, writer) = framing::stream(reader, writer, self.protocol.client_framing(MAX_MESSAGE, MAX_DEPTH));
        Ok(Wire::Stream(reader, writer))
    }
}

/// The length of the request the generator sends for `method` with `params` over `protocol`, with `msgid` as
/// its id (the raw TCP baseline cuts its input by it).
///
/// # Errors
/// When the params cannot be encoded.
pub fn request_len(protocol: impl Protocol, method: &str, params: &[Value], msgid: u32) -> Result<usize, String> {
    let plan = Plan {
        method: method.to_owned(),
        params: params.to_vec(),
        connections: 1,
        in_flight: 1,
        stop: Stop::Calls(1),
        warmup: Duration::ZERO,
        timeout: Duration::ZERO,
    };
    let target = DuplexTarget::new(Arc::new(protocol), Socket::Tcp(String::new()), &plan)?;
    let mut request = BytesMut::new();
    target.encode(msgid, &mut request)?;
    Ok(request.len())
}

/// Calls over one connection of a duplex encoding, up to `in_flight` at once, reopening it if it breaks: each
/// call in flight holds a slot, whose number is its msgid.
async fn duplex_loop<P: Protocol + ?Sized>(target: &DuplexTarget<P>, wire: Wire, plan: &Plan, clock: &Clock) -> Stats {
    let protocol = &*target.protocol;
    let mut stats = Stats::new();
    let k = plan.in_flight.min(u32::MAX as usize);
    // Per slot (the msgid), when its call was sent and whether it counts.
    let mut slots: Vec<Option<(Instant, Phase)>> = vec![None; k];
    let mut free: Vec<u32> = (0..k as u32).rev().collect();
    let mut requests = Requests::new(k);
    // The requests to write next.
    let mut batch: Vec<Bytes> = Vec::with_capacity(k.min(1024));
    let mut conn = Some(wire);
    let mut over = false;
    let mut deadline = Deadline::new(plan.timeout);
    loop {
        if conn.is_none() {
            let now = Instant::now();
            if over || free.len() < k {
                break;
            }
            match target.connect().await {
                Ok(c) => conn = Some(c),
                Err(e) => {
                    // Each failed attempt costs a call, so the run ends however long the server stays away.
                    let Some(phase) = clock.next(now) else { break };
                    stats.record(clock, phase, now, Instant::now(), Err(e));
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            }
        }
        while !over {
            let Some(&slot) = free.last() else { break };
            let now = Instant::now();
            let Some(phase) = clock.next(now) else {
                over = true;
                break;
            };
            match requests.get(target, slot) {
                Ok(request) => batch.push(request),
                Err(e) => {
                    stats.record(clock, phase, now, Instant::now(), Err(e));
                    continue;
                }
            }
            free.pop();
            slots[slot as usize] = Some((now, phase));
        }
        if free.len() == k {
            break;
        }
        let Some(wire) = conn.as_mut() else { unreachable!() };
        let step = async {
            let n = batch.len();
            for (i, request) in batch.drain(..).enumerate() {
                wire.write(request, i + 1 < n).await.map_err(|e| format!("sending: {e}"))?;
            }
            match wire.read().await {
                Ok(0) => Err("the server closed the connection".to_owned()),
                Ok(_) => Ok(()),
                Err(e) => Err(format!("reading: {e}")),
            }
        };
        deadline.arm(Instant::now());
        let mut failed = match deadline.run(step).await {
            Some(result) => result.err(),
            None => Some(format!("no answer within {:?}", plan.timeout)),
        };
        if failed.is_none() {
            let now = Instant::now();
            loop {
                let frame = match wire.next_frame() {
                    Ok(Some(frame)) => frame,
                    Ok(None) => break,
                    Err(reason) => {
                        failed = Some(format!("unreadable answer: {reason}"));
                        break;
                    }
                };
                match protocol.classify(frame, MAX_DEPTH) {
                    Incoming::Response { id, answer } => {
                        let taken = slots.get_mut(id as usize).and_then(Option::take);
                        let Some((sent, phase)) = taken else {
                            failed = Some(format!("an answer to msgid {id}, which is not in flight"));
                            break;
                        };
                        free.push(id);
                        let outcome = match answer {
                            Answered::Fault(fault) => Err(format!("fault {}: {}", fault.code, fault.message)),
                            Answered::Raw(_) | Answered::Value(_) => Ok(()),
                        };
                        stats.record(clock, phase, sent, now, outcome);
                    }
                    Incoming::Invalid(why) => {
                        failed = Some(format!("not {}: {why}", protocol.name()));
                        break;
                    }
                    // The server's calls and notifications are not answered: this is a load generator.
                    _ => {}
                }
            }
        }
        if let Some(reason) = failed {
            // Every call in flight on the connection fails with it; the next call opens a new one.
            let now = Instant::now();
            for (id, slot) in slots.iter_mut().enumerate() {
                if let Some((sent, phase)) = slot.take() {
                    free.push(id as u32);
                    stats.record(clock, phase, sent, now, Err(reason.clone()));
                }
            }
            batch.clear();
            conn = None;
        }
    }
    stats
}

/// The most bytes of requests one connection keeps encoded (see [`Requests`]).
const REQUEST_CACHE: usize = 16 * 1024 * 1024;

/// The requests of a connection's slots: each encoded on its slot's first call and kept (a call then costs a
/// reference count, not an encoding), as long as they fit in [`REQUEST_CACHE`] bytes; past that, encoded on each
/// call.
struct Requests {
    cached: Vec<Option<Bytes>>,
    room: usize,
    scratch: BytesMut,
}

impl Requests {
    fn new(slots: usize) -> Requests {
        Requests { cached: vec![None; slots], room: REQUEST_CACHE, scratch: BytesMut::new() }
    }

    /// The request for `slot`'s call, its msgid the slot's number.
    fn get<P: Protocol + ?Sized>(&mut self, target: &DuplexTarget<P>, slot: u32) -> Result<Bytes, String> {
        if let Some(Some(request)) = self.cached.get(slot as usize) {
            return Ok(request.clone());
        }
        let encoded = target.encode(slot, &mut self.scratch);
        if let Err(e) = encoded {
            self.scratch.clear();
            return Err(e);
        }
        if self.scratch.len() > self.room {
            return Ok(self.scratch.split().freeze());
        }
        self.room -= self.scratch.len();
        let request = Bytes::copy_from_slice(&self.scratch);
        self.scratch.clear();
        if let Some(entry) = self.cached.get_mut(slot as usize) {
            *entry = Some(request.clone());
        }
        Ok(request)
    }
}

/// A time limit on each step of a connection, without a timer per call: one timer per connection, moved only
/// when less than the limit is left on it, so that a step fails after between 1 and 1.5 times the limit.
struct Deadline {
    sleep: Pin<Box<tokio::time::Sleep>>,
    limit: Duration,
}

impl Deadline {
    fn new(limit: Duration) -> Deadline {
        Deadline { sleep: Box::pin(tokio::time::sleep(limit + limit / 2)), limit }
    }

    /// Makes sure at least the limit is left from `now`.
    fn arm(&mut self, now: Instant) {
        let left = self.sleep.deadline().into_std().saturating_duration_since(now);
        if left < self.limit {
            self.sleep.as_mut().reset((now + self.limit + self.limit / 2).into());
        }
    }

    /// `f`'s output, or `None` if the deadline passes first.
    async fn run<F: Future>(&mut self, f: F) -> Option<F::Output> {
        tokio::select! {
            biased;
            out = f => Some(out),
            () = &mut self.sleep => None,
        }
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Other transports

/// Calls through a [`Caller`], `in_flight` at a time.
async fn other_loop(caller: &dyn Caller, plan: &Plan, clock: &Clock) -> Stats {
    let lanes = (0..plan.in_flight).map(|_| async {
        let mut stats = Stats::new();
        loop {
            let sent = Instant::now();
            let Some(phase) = clock.next(sent) else { break };
            let outcome = match tokio::time::timeout(plan.timeout, caller.call(&plan.method, plan.params.clone())).await
            {
                Ok(outcome) => outcome,
                Err(_) => Err(format!("no answer within {:?}", plan.timeout)),
            };
            stats.record(clock, phase, sent, Instant::now(), outcome);
        }
        stats
    });
    let mut total = Stats::new();
    for stats in futures_util::future::join_all(lanes).await {
        total.merge(stats);
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The `double` the tests' servers answer.
    mod service {
        /// What the tests' servers serve.
        #[rpc_core::service]
        pub trait Double {
            /// Returns num * 2.
            async fn double(&self, num: i64) -> i64;
        }

        /// The implementation.
        pub struct Doubler;

        impl Double for Doubler {
            async fn double(&self, num: i64) -> i64 {
                num * 2
            }
        }
    }

    #[test]
    fn http_answers_are_read_by_their_length_and_connection_header() {
        let ok = b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello";
        let a = parse_answer(ok).unwrap_or_default().unwrap_or_else(|| unreachable!());
        assert_eq!((a.status, a.keep_alive, a.head_len, a.body_len), (200, true, ok.len() - 5, 5));
        assert!(parse_answer(&ok[..20]).unwrap_or_default().is_none(), "a partial head waits for more");
        let python = b"HTTP/1.0 200 OK\r\nContent-length: 2\r\n\r\nhi";
        assert!(!parse_answer(python).unwrap_or_default().unwrap_or_else(|| unreachable!()).keep_alive);
        let close = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
        assert!(!parse_answer(close).unwrap_or_default().unwrap_or_else(|| unreachable!()).keep_alive);
        let chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
        assert!(parse_answer(chunked).is_err());
        assert!(parse_answer(b"garbage\r\n\r\n").is_err());
    }

    #[test]
    fn requests_are_encoded_once() {
        let msgpack = |id| request_len(rpc_msgpack::MessagePack::default(), "double", &[Value::Int(7)], id);
        // [0x94, 0, id] + fixstr "double" (7) + [7] (2): the msgid as MessagePack writes it.
        assert_eq!(msgpack(0), Ok(3 + 7 + 2));
        assert_eq!(msgpack(127), Ok(3 + 7 + 2));
        assert_eq!(msgpack(128), Ok(4 + 7 + 2));
        assert_eq!(msgpack(u32::MAX), Ok(7 + 7 + 2));
        let json = request_len(rpc_json::duplex::JsonRpc::default(), "double", &[Value::Int(7)], 42);
        assert_eq!(json, Ok(r#"{"jsonrpc":"2.0","method":"double","params":[7],"id":42}"#.len()));
        let t = HttpTarget::new(HttpEncoding::Json, "http://u:p%40ss@127.0.0.1:8080/rpc?x=1", "m", &[])
            .unwrap_or_else(|e| unreachable!("{e}"));
        let head = String::from_utf8_lossy(&t.request);
        assert!(head.starts_with("POST /rpc?x=1 HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n"), "{head}");
        assert!(head.contains("Authorization: Basic dTpwQHNz\r\n"), "u:p@ss: {head}");
        assert_eq!(t.addr, "127.0.0.1:8080");
        assert!(HttpTarget::new(HttpEncoding::Xml, "https://h/", "m", &[]).is_err());
    }

    #[tokio::test]
    async fn json_rpc_is_loaded_pipelined_over_tcp_and_websocket() {
        let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let ws = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let (tcp_addr, ws_addr) = (tcp.local_addr().unwrap(), ws.local_addr().unwrap());
        let server = || rpc_json::duplex::Server::new(service::DoubleServer::new(service::Doubler));
        tokio::spawn(server().serve(tcp));
        tokio::spawn(server().serve_ws(ws));
        let plan = Plan {
            method: "double".into(),
            params: vec![Value::Int(7)],
            connections: 2,
            in_flight: 16,
            stop: Stop::Calls(2_000),
            warmup: Duration::ZERO,
            timeout: Duration::from_secs(10),
        };
        for socket in [Socket::Tcp(tcp_addr.to_string()), Socket::WebSocket(format!("ws://{ws_addr}/"))] {
            let target = Target::duplex(rpc_json::duplex::JsonRpc::default(), socket.clone());
            let report = run(&target, &plan, Arc::default()).await.unwrap();
            assert_eq!((report.calls, report.errors), (2_000, 0), "{socket}: {:?}", report.first_error);
        }
        // A fault is an error, over WebSocket too.
        let target =
            Target::duplex(rpc_json::duplex::JsonRpc::default(), Socket::WebSocket(format!("ws://{ws_addr}/")));
        let nope = Plan { method: "nope".into(), stop: Stop::Calls(10), ..plan };
        let report = run(&target, &nope, Arc::default()).await.unwrap();
        assert_eq!(report.errors, 10, "{:?}", report.first_error);
    }

    #[test]
    fn a_run_of_n_calls_counts_exactly_n_after_the_warmup() {
        let clock = Clock {
            measure_from: Instant::now(),
            deadline: None,
            budget: 3,
            issued: AtomicU64::new(0),
            progress: Arc::default(),
            hist: std::sync::Mutex::new(Histogram::new(3).unwrap_or_else(|_| unreachable!())),
        };
        let now = Instant::now();
        let phases: Vec<_> = (0..5).map(|_| clock.next(now)).collect();
        assert_eq!(phases, [Some(Phase::Measured), Some(Phase::Measured), Some(Phase::Measured), None, None]);
        assert_eq!(clock.next(now - Duration::from_secs(1)), Some(Phase::Warmup));
    }
}

//! The HTTP/1.1 server every HTTP encoding shares: accept loop, keep-alive, limits, gzip, graceful shutdown.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use bytes::Bytes;
use bytes::BytesMut;
use http::header::{ACCEPT_ENCODING, ALLOW, CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE, VARY};
use http::{HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use rpc_core::{BoxFuture, Context, RemoteAddr};
use rpc_engine::{Acceptor, Listener, ServeConnection};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_util::sync::CancellationToken;

use crate::layer::{BoxError, HttpLayer, HttpService, Layers, RequestBody};
use crate::upgrade::{self, Upgrade};

use crate::auth::{Authenticator, Credentials};
use crate::gzip::{self, DEFAULT_GZIP_THRESHOLD};

/// The default limit on a request body: 16 MiB.
pub const DEFAULT_MAX_BODY_SIZE: usize = 16 * 1024 * 1024;
/// The default time a client has to send a request's headers (and the longest a keep-alive connection may sit
/// idle between requests): 30 seconds.
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// The default time a client has to send a request's body once its headers are in: 30 seconds.
pub const DEFAULT_BODY_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// The default number of connections served at once: 10,000.
pub const DEFAULT_MAX_CONNECTIONS: usize = 10_000;
/// The default time a graceful shutdown waits for requests in flight: 30 seconds.
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(30);
/// The default time a graceful shutdown keeps a connection with nothing in flight open for one more request:
/// 2 seconds.
pub const DEFAULT_DRAIN_GRACE: Duration = Duration::from_secs(2);

/// What an RPC encoding plugs into the HTTP server: it turns one request body into one reply.
///
/// The server has already checked the path, the method (`POST`), the size limits and the content encoding,
/// and inflated a gzip body; the [`Context`] carries the peer's [`RemoteAddr`].
pub trait Endpoint: Send + Sync + 'static {
    /// Handles one request body.
    fn handle(&self, body: Bytes, cx: Context) -> BoxFuture<'static, Reply>;
}

/// An endpoint's answer to one request.
#[derive(Debug, Clone)]
pub struct Reply {
    /// The HTTP status (200 for RPC answers, faults included, on XML-RPC and JSON-RPC).
    pub status: StatusCode,
    /// The `Content-Type` of `body`.
    pub content_type: &'static str,
    /// The body; empty with no `Content-Type` for 204.
    pub body: Vec<u8>,
}

impl Reply {
    /// A 200 reply.
    pub fn ok(content_type: &'static str, body: Vec<u8>) -> Reply {
        Reply { status: StatusCode::OK, content_type, body }
    }

    /// A reply with no body (e.g. 204 for a JSON-RPC batch of notifications).
    pub fn empty(status: StatusCode) -> Reply {
        Reply { status, content_type: "", body: Vec::new() }
    }
}

/// The settings of an HTTP server, with documented defaults. The encodings' server builders delegate to it.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    name: &'static str,
    paths: Vec<String>,
    max_body_size: usize,
    max_decompressed_size: usize,
    header_read_timeout: Duration,
    body_read_timeout: Duration,
    max_connections: usize,
    shutdown_timeout: Duration,
    drain_grace: Duration,
    gzip_threshold: Option<usize>,
    tls: Option<Arc<rustls::ServerConfig>>,
    auth: Option<Authenticator>,
    upgrade: Option<Upgrade>,
    layers: Layers,
}

impl ServerConfig {
    /// Defaults for a protocol called `name` (used in logs and error pages), answering on `/`.
    pub fn new(name: &'static str) -> ServerConfig {
        ServerConfig {
            name,
            paths: vec!["/".to_owned()],
            max_body_size: DEFAULT_MAX_BODY_SIZE,
            max_decompressed_size: DEFAULT_MAX_BODY_SIZE,
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
            body_read_timeout: DEFAULT_BODY_READ_TIMEOUT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            shutdown_timeout: DEFAULT_SHUTDOWN_TIMEOUT,
            drain_grace: DEFAULT_DRAIN_GRACE,
            gzip_threshold: Some(DEFAULT_GZIP_THRESHOLD),
            tls: None,
            auth: None,
            upgrade: None,
            layers: Layers::default(),
        }
    }

    /// Check every request's credentials (HTTP Basic or Bearer, `None` when it sent none) with `check` before
    /// reading its body: `false` answers 401 with a `WWW-Authenticate` challenge. Whatever credentials a request
    /// carries are in each call's [`Context`] as [`Credentials`], so handlers can tell who calls (and decide per
    /// method). Default: no check.
    ///
    /// ```
    /// use rpc_http::{Credentials, ServerConfig};
    ///
    /// let config = ServerConfig::new("XML-RPC").authenticate(|c| {
    ///     matches!(c, Some(Credentials::Bearer { token }) if token == "s3cret")
    /// });
    /// ```
    pub fn authenticate(
        mut self,
        check: impl Fn(Option<&Credentials>) -> bool + Send + Sync + 'static,
    ) -> ServerConfig {
        self.auth = Some(Authenticator(std::sync::Arc::new(check)));
        self
    }

    /// Serve HTTPS with this rustls configuration (certificate chain and key; ALPN is set to `http/1.1`).
    /// The TLS handshake must finish within the header-read timeout.
    ///
    /// ```no_run
    /// # fn run(certs: Vec<rustls::pki_types::CertificateDer<'static>>, key: rustls::pki_types::PrivateKeyDer<'static>) -> Result<(), rustls::Error> {
    /// let tls = rustls::ServerConfig::builder().with_no_client_auth().with_single_cert(certs, key)?;
    /// let config = rpc_http::ServerConfig::new("XML-RPC").tls(std::sync::Arc::new(tls));
    /// # Ok(())
    /// # }
    /// ```
    pub fn tls(mut self, config: std::sync::Arc<rustls::ServerConfig>) -> ServerConfig {
        let mut config = (*config).clone();
        if config.alpn_protocols.is_empty() {
            config.alpn_protocols = vec![b"http/1.1".to_vec()];
        }
        self.tls = Some(std::sync::Arc::new(config));
        self
    }

    /// Accept WebSocket upgrades (a `GET` with `Upgrade: websocket`, on the paths that answer, after the
    /// authentication check): the server answers 101 and hands the connection to `serve` (JSON-RPC over
    /// WebSocket on the same port as JSON-RPC over HTTP, as jsonrpsee does). Default: none (such a `GET` gets
    /// 405, as every `GET` does).
    pub fn websocket(mut self, serve: Upgrade) -> ServerConfig {
        self.upgrade = Some(serve);
        self
    }

    /// The paths that answer (default `/` only); others get 404.
    pub fn paths(mut self, paths: &[&str]) -> ServerConfig {
        self.paths = paths.iter().map(|p| (*p).to_owned()).collect();
        self
    }

    /// The largest request body accepted, in bytes (default [`DEFAULT_MAX_BODY_SIZE`], 16 MiB); larger ones get
    /// HTTP 413, a declared `Content-Length` before any of the body is read.
    pub fn max_body_size(mut self, bytes: usize) -> ServerConfig {
        self.max_body_size = bytes;
        self
    }

    /// The largest size a `Content-Encoding: gzip` body may inflate to (default [`DEFAULT_MAX_BODY_SIZE`],
    /// 16 MiB); larger ones get HTTP 413, and inflating stops at the limit, so a gzip bomb costs no more.
    pub fn max_decompressed_size(mut self, bytes: usize) -> ServerConfig {
        self.max_decompressed_size = bytes;
        self
    }

    /// How long a client may take to send a request's headers, which is also the longest a keep-alive
    /// connection may sit idle between requests (default [`DEFAULT_HEADER_READ_TIMEOUT`], 30 s); then the
    /// connection is closed.
    pub fn header_read_timeout(mut self, timeout: Duration) -> ServerConfig {
        self.header_read_timeout = timeout;
        self
    }

    /// How long a client may take to send a request's body once its headers are in (default
    /// [`DEFAULT_BODY_READ_TIMEOUT`], 30 s); a slower one gets HTTP 408 and the connection is closed.
    pub fn body_read_timeout(mut self, timeout: Duration) -> ServerConfig {
        self.body_read_timeout = timeout;
        self
    }

    /// How many connections are served at once (default [`DEFAULT_MAX_CONNECTIONS`], 10,000). A connection
    /// over the limit gets HTTP 503 and is closed at once; keep this under the process's file-descriptor limit.
    pub fn max_connections(mut self, connections: usize) -> ServerConfig {
        self.max_connections = connections;
        self
    }

    /// How long a graceful shutdown waits for requests in flight before closing their connections anyway
    /// (default [`DEFAULT_SHUTDOWN_TIMEOUT`], 30 s).
    pub fn shutdown_timeout(mut self, timeout: Duration) -> ServerConfig {
        self.shutdown_timeout = timeout;
        self
    }

    /// How long a graceful shutdown keeps a connection with nothing in flight (an idle keep-alive one, or one
    /// that has not sent its first request) open for one more request, which is answered with
    /// `Connection: close`; then the connection is closed (default [`DEFAULT_DRAIN_GRACE`], 2 s; at most the
    /// shutdown timeout). A connection answers at most one more request during a shutdown either way.
    ///
    /// A client may be sending a request on an idle connection at the very moment the server closes it; that
    /// request then fails, and a proxy does not resend it to another server when it was a `POST` (nginx answers
    /// 502). Behind a proxy that closes its idle upstream connections sooner than this grace (nginx:
    /// `keepalive_timeout` in the `upstream` block), every connection the server still holds when the grace ends
    /// is one the proxy has already closed, so a rolling restart fails no call. `Duration::ZERO` closes such
    /// connections at once.
    pub fn drain_grace(mut self, grace: Duration) -> ServerConfig {
        self.drain_grace = grace;
        self
    }

    /// Wrap the server's handling of every request in a tower [`Layer`](tower_layer::Layer) at the HTTP level:
    /// tower-http's `CorsLayer` (which answers a browser's `OPTIONS` preflight itself, though the server takes
    /// only `POST`), `TraceLayer`, `RequestBodyLimitLayer`, `SetResponseHeaderLayer`, or one of your own (see
    /// [`HttpLayer`] for what fits). The layer sees each request as it comes, before the server checks its path,
    /// method, credentials and size, and each answer, the server's own refusals (404, 405, 401, 413, ...)
    /// included; not the 503 of a connection over `max_connections`, which is refused before HTTP. A layer
    /// must keep the request's extensions (tower-http's do), where the server finds the connection's state.
    ///
    /// Calls stack: the first layer set is the outermost (it sees the request first and the response last), as
    /// with tower's `ServiceBuilder`. Default: none; a server without a layer does no boxing for one.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let config = rpc_http::ServerConfig::new("XML-RPC")
    ///     .http_layer(tower_http::cors::CorsLayer::permissive().max_age(Duration::from_secs(600)))
    ///     .http_layer(tower_http::limit::RequestBodyLimitLayer::new(64 * 1024));
    /// ```
    pub fn http_layer(mut self, layer: impl HttpLayer) -> ServerConfig {
        self.layers.push(layer);
        self
    }

    /// Compress replies of at least this many bytes when the client sends `Accept-Encoding: gzip` (default
    /// `Some(`[`DEFAULT_GZIP_THRESHOLD`]`)`, 1400 bytes, Python's); `None` never compresses.
    pub fn gzip_threshold(mut self, bytes: Option<usize>) -> ServerConfig {
        self.gzip_threshold = bytes;
        self
    }
}

/// Serves `endpoint` on connections from `listener` (TCP, a Unix socket, any [`Listener`]) until `signal`
/// completes; then stops accepting, answers each connection's request in flight and at most one more request
/// within the drain grace ([`ServerConfig::drain_grace`]), each with `Connection: close`, closes the
/// connections as they finish (an idle one at the end of the grace), waits for all of them up to the shutdown
/// timeout, and returns. Accepting, connection permits and TLS are the shared acceptor's (`rpc-engine`).
pub async fn serve<E: Endpoint, L: Listener>(
    listener: L,
    endpoint: E,
    config: ServerConfig,
    signal: impl Future<Output = ()> + Send,
) -> io::Result<()> {
    let mut acceptor = Acceptor::default()
        .max_connections(config.max_connections)
        .shutdown_timeout(config.shutdown_timeout)
        .tls_handshake_timeout(config.header_read_timeout);
    if let Some(tls) = config.tls.clone() {
        acceptor = acceptor.tls(tls);
    }
    let name = config.name;
    let layers = config.layers.clone();
    let shared = Arc::new(Shared { endpoint, config });
    let stack = layers.stack(|| core_service(shared.clone()));
    acceptor.run(name, listener, signal, Http { shared, stack }).await
}

/// What the acceptor hands each HTTP connection to.
struct Http<E> {
    shared: Arc<Shared<E>>,
    /// The server's handling wrapped in its layers, when it has any.
    stack: Option<HttpService>,
}

impl<E> Clone for Http<E> {
    fn clone(&self) -> Self {
        Http { shared: self.shared.clone(), stack: self.stack.clone() }
    }
}

impl<E: Endpoint> ServeConnection for Http<E> {
    async fn serve<I>(self, mut io: I, cx: Context, drain: CancellationToken)
    where
        I: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    {
        // Hold no HTTP state (hyper allocates 16 KiB of buffers per connection) until the peer sends something:
        // a connection that stays silent costs only this task and its socket, and is closed when the header-read
        // timeout passes, or the drain grace of a shutdown (its first request may be on its way: a proxy sends
        // one as soon as it has connected).
        let timeout = self.shared.config.header_read_timeout;
        let mut first = BytesMut::new();
        let read = {
            let read = tokio::time::timeout(timeout, rpc_engine::framing::read_some(&mut io, &mut first));
            let mut read = std::pin::pin!(read);
            tokio::select! {
                read = read.as_mut() => Some(read),
                () = drain.cancelled() => tokio::time::timeout(self.shared.config.drain_grace, read).await.ok(),
            }
        };
        match read {
            Some(Ok(Ok(n))) if n > 0 => {}
            Some(Ok(Ok(_))) => return tracing::debug!("connection closed before its first request"),
            Some(Ok(Err(e))) => return tracing::debug!(error = %e, "connection failed before its first request"),
            Some(Err(_)) => {
                return tracing::debug!(?timeout, "connection closed: nothing sent within the header-read timeout");
            }
            None => {
                return tracing::debug!("shutting down: closed a connection that sent nothing within the drain grace");
            }
        }
        let io = TokioIo::new(Rewind { first, io });
        let shared = self.shared;
        let peer = PeerAddr(cx.get::<RemoteAddr>().map(|a| a.0));
        match self.stack {
            None => {
                let (handler, upgrades) = (shared.clone(), drain.clone());
                let service = service_fn(move |req| {
                    let (shared, cx, drain) = (handler.clone(), cx.clone(), upgrades.clone());
                    async move {
                        let mut resp = shared.handle(req.map(ReqBody::Incoming), peer, cx, &drain).await;
                        close_when_draining(&mut resp, &drain);
                        Ok::<_, Infallible>(resp)
                    }
                });
                Box::pin(shared.serve_connection(io, service, peer, drain)).await;
            }
            Some(stack) => {
                let conn = Conn { peer, cx, drain: drain.clone() };
                let service = service_fn(move |req: Request<Incoming>| {
                    let mut req = req.map(crate::layer::box_body);
                    req.extensions_mut().insert(conn.clone());
                    let (call, drain) = (stack.call_once(req), conn.drain.clone());
                    async move {
                        let mut resp = call.await?;
                        close_when_draining(&mut resp, &drain);
                        Ok::<_, crate::layer::StackError>(resp)
                    }
                });
                Box::pin(shared.serve_connection(io, service, peer, drain)).await;
            }
        }
    }

    /// Answers a connection over the limit with 503 and closes it, without reading its request.
    async fn refuse<I>(self, mut io: I)
    where
        I: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    {
        use tokio::io::AsyncWriteExt;
        const BODY: &str = "too many connections; retry later\n";
        let reply = format!(
            "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\n\
             Retry-After: 1\r\nConnection: close\r\n\r\n{BODY}",
            BODY.len()
        );
        let _ = tokio::time::timeout(Duration::from_secs(1), io.write_all(reply.as_bytes())).await;
        let _ = io.shutdown().await;
    }
}

/// A stream whose first bytes were already read: they are read again first.
struct Rewind<I> {
    first: BytesMut,
    io: I,
}

impl<I: AsyncRead + Unpin> AsyncRead for Rewind<I> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if !self.first.is_empty() {
            let n = self.first.len().min(buf.remaining());
            buf.put_slice(&self.first.split_to(n));
            if self.first.is_empty() {
                self.first = BytesMut::new();
            }
            return Poll::Ready(Ok(()));
        }
        std::pin::Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for Rewind<I> {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        std::pin::Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        std::pin::Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<io::Result<()>> {
        std::pin::Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<io::Result<()>> {
        std::pin::Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

struct Shared<E> {
    endpoint: E,
    config: ServerConfig,
}

/// The peer's address for the log: `-` where the transport has none (a Unix socket).
#[derive(Clone, Copy)]
struct PeerAddr(Option<SocketAddr>);

impl std::fmt::Display for PeerAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(addr) => write!(f, "{addr}"),
            None => f.write_str("-"),
        }
    }
}

type HttpResponse = Response<Full<Bytes>>;

/// 401 with the challenges for the schemes we read.
fn unauthorized(peer: PeerAddr, credentials: Option<&Credentials>) -> HttpResponse {
    tracing::warn!(%peer, user = ?credentials.and_then(Credentials::user), "401: not authenticated");
    let mut resp = plain(StatusCode::UNAUTHORIZED, "authentication required\n");
    let challenge = HeaderValue::from_static("Basic realm=\"rpc\", charset=\"UTF-8\"");
    resp.headers_mut().insert(http::header::WWW_AUTHENTICATE, challenge);
    resp.headers_mut().append(http::header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"rpc\""));
    resp
}

impl<E: Endpoint> Shared<E> {
    /// The authentication hook's verdict on a request's credentials: the 401 to answer when it refuses.
    fn check_credentials<B>(&self, req: &Request<B>, peer: PeerAddr) -> Option<HttpResponse> {
        let auth = self.config.auth.as_ref()?;
        let credentials =
            req.headers().get(http::header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(Credentials::parse);
        (!(auth.0)(credentials.as_ref())).then(|| unauthorized(peer, credentials.as_ref()))
    }

    /// Serves HTTP/1.1 on one (plain or TLS) connection with `service` until it closes, or `drain` asks it to
    /// finish: then its answers carry `Connection: close` (so it closes after its request in flight, or after
    /// one more), and when the drain grace is over it closes once nothing is in flight.
    async fn serve_connection<I, S>(
        self: Arc<Self>,
        io: TokioIo<I>,
        service: S,
        peer: PeerAddr,
        drain: CancellationToken,
    ) where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
        S: hyper::service::HttpService<Incoming>,
        S::Error: std::error::Error + Send + Sync + 'static,
        S::ResBody: 'static,
        <S::ResBody as hyper::body::Body>::Error: std::error::Error + Send + Sync + 'static,
    {
        let conn = http1::Builder::new()
            // hyper applies the header-read timeout only when it has a timer (one timer-wheel entry per connection,
            // not one per request: see `timer.rs`).
            .timer(crate::timer::ConnTimer::default())
            .header_read_timeout(self.config.header_read_timeout)
            .keep_alive(true)
            .serve_connection(io, service)
            .with_upgrades();
        let mut conn = std::pin::pin!(conn);
        let ended = tokio::select! {
            ended = conn.as_mut() => ended,
            () = drain.cancelled() => {
                // Not hyper's graceful shutdown at once: it closes an idle connection there and then, under a
                // request the client may be sending (see `ServerConfig::drain_grace`).
                match tokio::time::timeout(self.config.drain_grace, conn.as_mut()).await {
                    Ok(ended) => ended,
                    Err(_) => {
                        conn.as_mut().graceful_shutdown();
                        conn.await
                    }
                }
            }
        };
        if let Err(e) = ended {
            tracing::debug!(%peer, error = %e, "connection ended with an error");
        }
    }

    async fn handle(
        &self,
        req: Request<ReqBody>,
        peer: PeerAddr,
        cx: Context,
        drain: &CancellationToken,
    ) -> HttpResponse {
        let name = self.config.name;
        let path = req.uri().path();
        if !self.config.paths.iter().any(|p| p == path) {
            tracing::debug!(%peer, path, "404: no {name} endpoint at this path");
            let paths = self.config.paths.join(" or ");
            return plain(StatusCode::NOT_FOUND, &format!("no {name} endpoint here: POST to {paths}\n"));
        }
        if let Some(upgrade) = &self.config.upgrade
            && req.method() == Method::GET
            && upgrade::is_websocket(&req)
        {
            if let Some(refused) = self.check_credentials(&req, peer) {
                return refused;
            }
            return upgrade::accept(req, upgrade.clone(), cx, drain.clone());
        }
        if req.method() != Method::POST {
            tracing::debug!(%peer, method = %req.method(), "405: {name} takes POST only");
            let mut resp = plain(StatusCode::METHOD_NOT_ALLOWED, &format!("{name} takes POST only\n"));
            resp.headers_mut().insert(ALLOW, HeaderValue::from_static("POST"));
            return resp;
        }
        // The headers this needs, in one pass (cheaper than a hash lookup for each): the first of each, and
        // whether any Accept-Encoding takes gzip.
        let (mut authorization, mut content_encoding, mut content_length, mut accepts_gzip) = (None, None, None, false);
        let mut timeout = None;
        for (name, value) in req.headers() {
            if name.as_str() == rpc_core::encoding::TIMEOUT_HEADER {
                timeout = timeout.or(Some(value));
            } else if name == http::header::AUTHORIZATION {
                authorization = authorization.or(Some(value));
            } else if name == CONTENT_ENCODING {
                content_encoding = content_encoding.or(Some(value));
            } else if name == CONTENT_LENGTH {
                content_length = content_length.or(Some(value));
            } else if name == ACCEPT_ENCODING {
                accepts_gzip = accepts_gzip || value.to_str().is_ok_and(gzip::accepts_gzip);
            }
        }
        let trace_parent = TraceParent::read(req.headers());
        let path_owned = path.to_owned();
        // The client's deadline, when it sent one: the calls in the body stop there (or at the handler timeout,
        // if that is sooner), even if a proxy keeps this connection open after the client has gone.
        let deadline = timeout
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            // A deadline past what the clock can hold (a peer's u64::MAX) is none.
            .and_then(|ms| tokio::time::Instant::now().checked_add(std::time::Duration::from_millis(ms)));
        let credentials = authorization.and_then(|v| v.to_str().ok()).and_then(Credentials::parse);
        if let Some(auth) = &self.config.auth
            && !(auth.0)(credentials.as_ref())
        {
            return unauthorized(peer, credentials.as_ref());
        }
        // Handlers see who calls (and can decide per method), whether or not the server checks.
        let cx = match credentials {
            Some(c) => cx.with(c),
            None => cx,
        };
        let gzipped = match content_encoding.map(|v| v.to_str().map(str::trim)) {
            None => false,
            Some(Ok(e)) if e.eq_ignore_ascii_case("identity") || e.is_empty() => false,
            Some(Ok(e)) if e.eq_ignore_ascii_case("gzip") || e.eq_ignore_ascii_case("x-gzip") => true,
            Some(_) => {
                tracing::debug!(%peer, "415: unsupported Content-Encoding");
                let mut resp = plain(StatusCode::UNSUPPORTED_MEDIA_TYPE, "Content-Encoding must be gzip or identity\n");
                resp.headers_mut().insert(ACCEPT_ENCODING, HeaderValue::from_static("gzip"));
                return resp;
            }
        };
        let gzip_ok = self.config.gzip_threshold.is_some() && accepts_gzip;
        let limit = self.config.max_body_size;
        let declared = content_length.and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > limit as u64) {
            tracing::warn!(%peer, declared, limit, "413: request body over the limit");
            return too_large(limit);
        }
        let mut collect = std::pin::pin!(Limited::new(req.into_body(), limit).collect());
        // A small body has usually come in with the headers: take it without arming a timer.
        let read = match std::future::poll_fn(|cx| Poll::Ready(collect.as_mut().poll(cx))).await {
            Poll::Ready(read) => Ok(read),
            Poll::Pending => tokio::time::timeout(self.config.body_read_timeout, collect).await,
        };
        let Ok(read) = read else {
            tracing::warn!(%peer, timeout = ?self.config.body_read_timeout, "408: the request body came too slowly");
            let mut resp = plain(StatusCode::REQUEST_TIMEOUT, "the request body came too slowly\n");
            resp.headers_mut().insert(http::header::CONNECTION, HeaderValue::from_static("close"));
            return resp;
        };
        let body = match read {
            Ok(collected) => collected.to_bytes(),
            Err(e) if e.is::<http_body_util::LengthLimitError>() => {
                tracing::warn!(%peer, limit, "413: request body over the limit");
                return too_large(limit);
            }
            Err(e) => {
                tracing::debug!(%peer, error = %e, "400: the request body could not be read");
                return plain(StatusCode::BAD_REQUEST, "the request body could not be read\n");
            }
        };
        let body = if gzipped {
            match gzip::inflate(&body, self.config.max_decompressed_size) {
                Ok(inflated) => Bytes::from(inflated),
                Err(gzip::InflateError::TooLarge) => {
                    let limit = self.config.max_decompressed_size;
                    tracing::warn!(%peer, limit, "413: gzip request body inflates over the limit");
                    return plain(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        &format!("the gzip request body inflates to more than the limit of {limit} bytes\n"),
                    );
                }
                Err(gzip::InflateError::Corrupt(e)) => {
                    tracing::debug!(%peer, error = %e, "400: corrupt gzip body");
                    return plain(StatusCode::BAD_REQUEST, "the gzip request body is corrupt\n");
                }
            }
        } else {
            body
        };
        let span = request_span(&path_owned, &trace_parent);
        let handled = span.in_scope(|| self.endpoint.handle(body, cx));
        let handled = tracing::Instrument::instrument(handled, span);
        let Reply { status, content_type, body } = match deadline {
            Some(deadline) => rpc_core::with_deadline(Some(deadline), handled).await,
            None => handled.await,
        };
        let gzipped = gzip_ok && !body.is_empty() && self.config.gzip_threshold.is_some_and(|t| body.len() >= t);
        let body = if gzipped { gzip::deflate(&body) } else { body };
        let mut resp = Response::new(Full::new(Bytes::from(body)));
        *resp.status_mut() = status;
        let headers = resp.headers_mut();
        if !content_type.is_empty() {
            headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
        }
        if gzipped {
            headers.insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        }
        if self.config.gzip_threshold.is_some() {
            headers.insert(VARY, HeaderValue::from_static("Accept-Encoding"));
        }
        resp
    }
}

/// A request's body: the connection's, or a layer stack's (boxed).
enum ReqBody {
    Incoming(Incoming),
    Boxed(RequestBody),
}

impl hyper::body::Body for ReqBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<Bytes>, BoxError>>> {
        match self.get_mut() {
            ReqBody::Incoming(body) => std::pin::Pin::new(body).poll_frame(cx).map_err(BoxError::from),
            ReqBody::Boxed(body) => std::pin::Pin::new(body).poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            ReqBody::Incoming(body) => body.is_end_stream(),
            ReqBody::Boxed(body) => body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        match self {
            ReqBody::Incoming(body) => body.size_hint(),
            ReqBody::Boxed(body) => body.size_hint(),
        }
    }
}

/// The connection's state, for the server's own service under a layer stack (in each request's extensions).
#[derive(Clone)]
struct Conn {
    peer: PeerAddr,
    cx: Context,
    drain: CancellationToken,
}

/// The server's own handling of a request, as the innermost service of a layer stack.
fn core_service<E: Endpoint>(shared: Arc<Shared<E>>) -> HttpService {
    HttpService::new(tower::service_fn(move |req: Request<RequestBody>| {
        let shared = shared.clone();
        async move {
            let Some(Conn { peer, cx, drain }) = req.extensions().get::<Conn>().cloned() else {
                tracing::error!("500: an HTTP layer dropped the request's extensions");
                return Ok::<_, Infallible>(plain(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "an HTTP layer of this server dropped the request's extensions\n",
                ));
            };
            Ok(shared.handle(req.map(ReqBody::Boxed), peer, cx, &drain).await)
        }
    }))
}

/// During a shutdown, an answer closes its connection (except a WebSocket's 101, whose connection the upgrade
/// drains), so that no client sends another request on it.
fn close_when_draining<B>(resp: &mut Response<B>, drain: &CancellationToken) {
    if drain.is_cancelled() && resp.status() != StatusCode::SWITCHING_PROTOCOLS {
        resp.headers_mut().insert(http::header::CONNECTION, HeaderValue::from_static("close"));
    }
}

fn too_large(limit: usize) -> HttpResponse {
    plain(StatusCode::PAYLOAD_TOO_LARGE, &format!("the request body is over the limit of {limit} bytes\n"))
}

fn plain(status: StatusCode, text: &str) -> HttpResponse {
    let mut resp = Response::new(Full::new(Bytes::from(text.to_owned())));
    *resp.status_mut() = status;
    resp.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    resp
}

/// The trace context a request came with (W3C `traceparent`, `tracestate`), read with OpenTelemetry's global
/// propagator: with the `opentelemetry` feature only (else nothing).
struct TraceParent {
    #[cfg(feature = "opentelemetry")]
    context: Option<opentelemetry::Context>,
}

impl TraceParent {
    fn read(headers: &http::HeaderMap) -> TraceParent {
        #[cfg(feature = "opentelemetry")]
        {
            let context = headers.contains_key("traceparent").then(|| {
                opentelemetry::global::get_text_map_propagator(|propagator| {
                    propagator.extract(&opentelemetry_http::HeaderExtractor(headers))
                })
            });
            TraceParent { context }
        }
        #[cfg(not(feature = "opentelemetry"))]
        {
            let _ = headers;
            TraceParent {}
        }
    }
}

/// The span of one HTTP request, the parent of the spans of the calls in it: a child of the caller's span when
/// the request carried its trace context.
fn request_span(path: &str, parent: &TraceParent) -> tracing::Span {
    let span = tracing::debug_span!(
        "http.request",
        "otel.name" = "POST",
        "otel.kind" = "server",
        "http.request.method" = "POST",
        "url.path" = path
    );
    #[cfg(feature = "opentelemetry")]
    if let Some(context) = &parent.context {
        use tracing_opentelemetry::OpenTelemetrySpanExt as _;
        let _ = span.set_parent(context.clone());
    }
    #[cfg(not(feature = "opentelemetry"))]
    let _ = parent;
    span
}

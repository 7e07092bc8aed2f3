//! The XML-RPC server: hyper HTTP/1.1, keep-alive, one task per connection.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{ACCEPT_ENCODING, ALLOW, CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE};
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use rpc_core::{Context, Dispatch, Fault, RemoteAddr};
use tokio::net::TcpListener;

use crate::codec::{self, DEFAULT_MAX_DEPTH};
use crate::gzip::{self, DEFAULT_GZIP_THRESHOLD};
use crate::system::{DEFAULT_MAX_MULTICALL, Routes, SystemConfig};

/// The default limit on a request body: 16 MiB.
pub const DEFAULT_MAX_BODY_SIZE: usize = 16 * 1024 * 1024;
/// The default time a client has to send a request's headers: 30 seconds.
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// Serves a [`Dispatch`] (a `#[service]`'s `...Server`, or a [`Router`](rpc_core::Router)) over XML-RPC.
///
/// Calls are `POST`ed to `/` or `/RPC2` (Python's paths); other paths answer 404 and other methods 405 with an
/// `Allow: POST` header. A fault is an HTTP 200 `methodResponse` with a `<fault>`, as the spec says; a body
/// over the size limit is refused with 413 before it is read.
///
/// ```no_run
/// use rpc_core::service;
///
/// #[service]
/// pub trait Services {
///     /// Returns num * 2.
///     async fn double(&self, num: i64) -> i64;
/// }
///
/// struct Doubler;
/// impl Services for Doubler {
///     async fn double(&self, num: i64) -> i64 { num * 2 }
/// }
///
/// # async fn run() -> std::io::Result<()> {
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:6789").await?;
/// rpc_xml::Server::new(ServicesServer::new(Doubler))
///     .max_body_size(1024 * 1024)
///     .serve_with_shutdown(listener, async { tokio::signal::ctrl_c().await.ok(); })
///     .await
/// # }
/// ```
#[derive(Debug)]
pub struct Server<D> {
    dispatch: Arc<D>,
    config: Config,
}

#[derive(Debug, Clone)]
struct Config {
    max_body_size: usize,
    max_decompressed_size: usize,
    max_depth: usize,
    header_read_timeout: Duration,
    gzip_threshold: Option<usize>,
    system: SystemConfig,
}

impl<D: Dispatch> Server<D> {
    /// A server for `dispatch`, with the default limits.
    pub fn new(dispatch: D) -> Server<D> {
        Server {
            dispatch: Arc::new(dispatch),
            config: Config {
                max_body_size: DEFAULT_MAX_BODY_SIZE,
                max_decompressed_size: DEFAULT_MAX_BODY_SIZE,
                max_depth: DEFAULT_MAX_DEPTH,
                header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
                gzip_threshold: Some(DEFAULT_GZIP_THRESHOLD),
                system: SystemConfig { introspection: true, multicall: true, max_multicall: DEFAULT_MAX_MULTICALL },
            },
        }
    }

    /// The largest request body accepted, in bytes (default [`DEFAULT_MAX_BODY_SIZE`], 16 MiB). Larger ones
    /// get HTTP 413.
    pub fn max_body_size(mut self, bytes: usize) -> Server<D> {
        self.config.max_body_size = bytes;
        self
    }

    /// How deeply arrays and structs may nest in a request (default [`DEFAULT_MAX_DEPTH`], 64). Deeper ones
    /// get a -32600 fault. Decoding recurses once per level, so keep this in the hundreds at most.
    pub fn max_depth(mut self, depth: usize) -> Server<D> {
        self.config.max_depth = depth;
        self
    }

    /// How long a client may take to send a request's headers, including between keep-alive requests
    /// (default [`DEFAULT_HEADER_READ_TIMEOUT`], 30 s); then the connection is closed.
    pub fn header_read_timeout(mut self, timeout: Duration) -> Server<D> {
        self.config.header_read_timeout = timeout;
        self
    }

    /// The largest size a `Content-Encoding: gzip` request body may inflate to, in bytes (default
    /// [`DEFAULT_MAX_BODY_SIZE`], 16 MiB). Larger ones get HTTP 413; inflating stops at the limit, so a gzip
    /// bomb costs no more than this.
    pub fn max_decompressed_size(mut self, bytes: usize) -> Server<D> {
        self.config.max_decompressed_size = bytes;
        self
    }

    /// Compress responses of at least this many bytes with gzip when the client sends
    /// `Accept-Encoding: gzip` (default `Some(`[`DEFAULT_GZIP_THRESHOLD`]`)`, 1400 bytes, Python's default);
    /// `None` never compresses.
    pub fn gzip_threshold(mut self, bytes: Option<usize>) -> Server<D> {
        self.config.gzip_threshold = bytes;
        self
    }

    /// Serve `system.listMethods`, `system.methodHelp` and `system.methodSignature` from the dispatcher's
    /// method metadata (default on).
    pub fn introspection(mut self, on: bool) -> Server<D> {
        self.config.system.introspection = on;
        self
    }

    /// Serve `system.multicall` (default on).
    pub fn multicall(mut self, on: bool) -> Server<D> {
        self.config.system.multicall = on;
        self
    }

    /// The most calls one `system.multicall` may carry (default [`DEFAULT_MAX_MULTICALL`], 1000); more get a
    /// -32600 fault.
    pub fn max_multicall(mut self, calls: usize) -> Server<D> {
        self.config.system.max_multicall = calls;
        self
    }

    /// Serves connections from `listener` until an accept error that is not about one connection.
    pub async fn serve(self, listener: TcpListener) -> io::Result<()> {
        self.serve_with_shutdown(listener, std::future::pending()).await
    }

    /// Serves connections from `listener` until `signal` completes; then stops accepting, lets the requests in
    /// flight finish, and returns.
    pub async fn serve_with_shutdown(
        self,
        listener: TcpListener,
        signal: impl Future<Output = ()> + Send,
    ) -> io::Result<()> {
        let routes = Arc::new(Routes::new(self.dispatch, self.config.system.clone()));
        let shared = Arc::new(Shared { routes, config: self.config });
        let graceful = GracefulShutdown::new();
        let mut signal = std::pin::pin!(signal);
        match listener.local_addr() {
            Ok(addr) => tracing::info!("XML-RPC server listening on {addr}"),
            Err(e) => tracing::info!(error = %e, "XML-RPC server listening"),
        }
        loop {
            let (stream, peer) = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok(conn) => conn,
                    Err(e) if is_per_connection(&e) => {
                        tracing::debug!(error = %e, "accept failed for one connection");
                        continue;
                    }
                    Err(e) => {
                        // Out of file descriptors and the like: back off instead of spinning.
                        tracing::error!(error = %e, "accept failed; retrying in 100 ms");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                },
                () = &mut signal => break,
            };
            let _ = stream.set_nodelay(true);
            let header_read_timeout = shared.config.header_read_timeout;
            let shared = shared.clone();
            let cx = Context::new().with(RemoteAddr(peer));
            let service = service_fn(move |req| {
                let shared = shared.clone();
                let cx = cx.clone();
                async move { Ok::<_, Infallible>(shared.handle(req, peer, cx).await) }
            });
            let conn = http1::Builder::new()
                // hyper applies the header-read timeout only when it has a timer.
                .timer(TokioTimer::new())
                .header_read_timeout(header_read_timeout)
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), service);
            let conn = graceful.watch(conn);
            tokio::spawn(async move {
                if let Err(e) = conn.await {
                    tracing::debug!(%peer, error = %e, "connection ended with an error");
                }
            });
        }
        drop(listener);
        tracing::info!("XML-RPC server shutting down; waiting for requests in flight");
        graceful.shutdown().await;
        Ok(())
    }
}

/// Accept errors that concern one connection (it was reset before we took it), not the listener.
fn is_per_connection(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionRefused
    )
}

/// What every connection task shares.
struct Shared<D> {
    routes: Arc<Routes<D>>,
    config: Config,
}

type HttpResponse = Response<Full<Bytes>>;

impl<D: Dispatch> Shared<D> {
    async fn handle(&self, req: Request<Incoming>, peer: SocketAddr, cx: Context) -> HttpResponse {
        let path = req.uri().path();
        if path != "/" && path != "/RPC2" {
            tracing::debug!(%peer, path, "404: no XML-RPC endpoint at this path");
            return plain(StatusCode::NOT_FOUND, "no XML-RPC endpoint here: POST to / or /RPC2\n");
        }
        if req.method() != Method::POST {
            tracing::debug!(%peer, method = %req.method(), "405: XML-RPC takes POST only");
            let mut resp = plain(StatusCode::METHOD_NOT_ALLOWED, "XML-RPC takes POST only\n");
            resp.headers_mut().insert(ALLOW, http::HeaderValue::from_static("POST"));
            return resp;
        }
        let gzipped = match req.headers().get(CONTENT_ENCODING).map(|v| v.to_str().map(str::trim)) {
            None => false,
            Some(Ok(e)) if e.eq_ignore_ascii_case("identity") || e.is_empty() => false,
            Some(Ok(e)) if e.eq_ignore_ascii_case("gzip") || e.eq_ignore_ascii_case("x-gzip") => true,
            Some(_) => {
                tracing::debug!(%peer, "415: unsupported Content-Encoding");
                let mut resp = plain(StatusCode::UNSUPPORTED_MEDIA_TYPE, "Content-Encoding must be gzip or identity\n");
                resp.headers_mut().insert(ACCEPT_ENCODING, http::HeaderValue::from_static("gzip"));
                return resp;
            }
        };
        let gzip_ok = self.config.gzip_threshold.is_some()
            && req.headers().get_all(ACCEPT_ENCODING).iter().any(|v| v.to_str().is_ok_and(gzip::accepts_gzip));
        let limit = self.config.max_body_size;
        let declared =
            req.headers().get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > limit as u64) {
            tracing::warn!(%peer, declared, limit, "413: request body over the limit");
            return too_large(limit);
        }
        let body = match Limited::new(req.into_body(), limit).collect().await {
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
        let result = match codec::decode_call(&body, self.config.max_depth) {
            Ok((method, params)) => {
                let result = self.routes.call(&method, params, cx).await;
                match &result {
                    Ok(_) => tracing::debug!(%peer, method, "call answered"),
                    Err(f) => tracing::debug!(%peer, method, code = f.code, "call answered with a fault"),
                }
                result
            }
            Err(e) => {
                tracing::debug!(%peer, error = %e, "bad request body");
                Err(e.to_fault())
            }
        };
        let Some(mut body) = xml_body(&result) else {
            return plain(StatusCode::INTERNAL_SERVER_ERROR, "the response could not be encoded\n");
        };
        let gzipped = gzip_ok && self.config.gzip_threshold.is_some_and(|t| body.len() >= t);
        if gzipped {
            body = gzip::deflate(&body);
        }
        let mut resp = Response::new(Full::new(Bytes::from(body)));
        let headers = resp.headers_mut();
        headers.insert(CONTENT_TYPE, http::HeaderValue::from_static("text/xml"));
        if gzipped {
            headers.insert(CONTENT_ENCODING, http::HeaderValue::from_static("gzip"));
        }
        if self.config.gzip_threshold.is_some() {
            headers.insert(http::header::VARY, http::HeaderValue::from_static("Accept-Encoding"));
        }
        resp
    }
}

/// The `methodResponse` for a result or a fault; a result that cannot be encoded becomes a -32603 fault.
fn xml_body(result: &Result<rpc_core::Value, Fault>) -> Option<Vec<u8>> {
    codec::encode_response(result.as_ref())
        .or_else(|e| {
            tracing::warn!(error = %e, "the result cannot be sent as XML-RPC");
            let fault = Fault::internal_error(format!("the result cannot be sent: {e}"));
            codec::encode_response(Err(&fault))
        })
        // A fault of an int and a string always encodes unless its message has characters XML cannot carry.
        .ok()
}

fn too_large(limit: usize) -> HttpResponse {
    plain(StatusCode::PAYLOAD_TOO_LARGE, &format!("the request body is over the limit of {limit} bytes\n"))
}

fn plain(status: StatusCode, text: &str) -> HttpResponse {
    let mut resp = Response::new(Full::new(Bytes::from(text.to_owned())));
    *resp.status_mut() = status;
    resp.headers_mut().insert(CONTENT_TYPE, http::HeaderValue::from_static("text/plain; charset=utf-8"));
    resp
}

//! The HTTP client every HTTP encoding shares: a keep-alive pool posting one body and reading one answer.

use std::fmt;
use std::time::Duration;

use bytes::Bytes;
use http::header::{ACCEPT_ENCODING, AUTHORIZATION, CONTENT_ENCODING, CONTENT_TYPE, USER_AGENT};
use http::{HeaderName, HeaderValue, Request, StatusCode, Uri};
use http_body_util::{BodyExt, Full, Limited};
use hyper_rustls::HttpsConnectorBuilder;
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};

use crate::Error;
use crate::connect::Connector;
use crate::gzip;

/// What a client adds to its wait in the [`rpc_core::encoding::TIMEOUT_HEADER`] it sends: 50 ms, so that the server stops
/// just after the client has given up (the client's caller sees its own timeout, not the server's fault).
pub const DEADLINE_SLACK: Duration = Duration::from_millis(50);

/// The default time an exchange may take, from sending to the last byte of the answer: 30 seconds.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// The default limit on a response body (after inflating gzip): 64 MiB.
pub const DEFAULT_MAX_RESPONSE_SIZE: usize = 64 * 1024 * 1024;
/// The default time an idle pooled connection is kept: 90 seconds.
pub const DEFAULT_POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(90);

/// Posts bodies to one endpoint URL over pooled keep-alive connections (cloning shares the pool).
///
/// Every request carries a `Content-Length` (Python's servers refuse chunked bodies) and
/// `Accept-Encoding: gzip`; `user:password@` in the URL becomes HTTP Basic authentication.
#[derive(Clone)]
pub struct Client {
    http: HyperClient<Connector, Full<Bytes>>,
    /// The pool's connector, for [`Client::reach`].
    connector: Connector,
    uri: Uri,
    content_type: HeaderValue,
    user_agent: HeaderValue,
    auth: Option<HeaderValue>,
    timeout: Option<Duration>,
    max_response_size: usize,
    gzip_requests_over: Option<usize>,
}

impl Client {
    /// The endpoint (without credentials).
    pub fn uri(&self) -> &Uri {
        &self.uri
    }

    /// The span of a call of `method` to this endpoint (see [`rpc_core::trace::client_span`]), for the
    /// encoding `system`.
    pub fn call_span(&self, system: &'static str, method: &str) -> tracing::Span {
        let host = self.uri.host().unwrap_or_default();
        let port = self.uri.port_u16().unwrap_or(if self.uri.scheme_str() == Some("https") { 443 } else { 80 });
        rpc_core::trace::client_span(system, method, None, Some((&host, port)))
    }

    /// Opens a connection to the endpoint (TCP, TLS, or the Unix socket) within the timeout, and lets it go:
    /// what an eager `connect` does, so that a server that cannot be reached is an error before the first call.
    /// (hyper's pool opens its own connections per request, and takes none from outside.)
    pub async fn reach(&self) -> Result<(), Error> {
        let connect = tower_service::Service::call(&mut self.connector.clone(), self.uri.clone());
        let opened = self.timed(async { connect.await.map_err(|e| Error::Connect(format!("{}: {}", self.uri, e))) });
        opened.await.map(drop)
    }

    /// Posts `body` and returns the answer's body (inflated if gzipped). A status other than 200 is an
    /// [`Error::Status`]; the whole exchange is bounded by the timeout.
    pub async fn post(&self, body: Vec<u8>) -> Result<Bytes, Error> {
        Ok(self.timed(self.exchange(body, false)).await?.unwrap_or_default())
    }

    /// Posts `body` like [`Client::post`], but also takes `204 No Content` as an answer, as `Ok(None)`: what
    /// a JSON-RPC server answers to a notification.
    pub async fn post_or_no_content(&self, body: Vec<u8>) -> Result<Option<Bytes>, Error> {
        self.timed(self.exchange(body, true)).await
    }

    async fn timed<T>(&self, exchange: impl Future<Output = Result<T, Error>>) -> Result<T, Error> {
        match rpc_core::encoding::call_limit(self.timeout) {
            Some((deadline, limit)) => {
                tokio::time::timeout_at(deadline, exchange).await.map_err(|_| Error::Timeout(limit))?
            }
            None => exchange.await,
        }
    }

    async fn exchange(&self, body: Vec<u8>, no_content_ok: bool) -> Result<Option<Bytes>, Error> {
        // How long this side waits (its timeout, or less inside a handler with a sooner deadline), sent so that
        // the server stops at that deadline too: with `DEADLINE_SLACK` more, so that this side's own timeout is
        // what its caller sees, not a timeout fault the server sent a moment before it.
        let wait = rpc_core::call_deadline(self.timeout)
            .map(|deadline| deadline.saturating_duration_since(tokio::time::Instant::now()) + DEADLINE_SLACK);
        let compress = self.gzip_requests_over.is_some_and(|t| body.len() >= t);
        let body = if compress { gzip::deflate(&body) } else { body };
        let mut req = Request::post(self.uri.clone())
            .header(CONTENT_TYPE, self.content_type.clone())
            .header(USER_AGENT, self.user_agent.clone())
            .header(ACCEPT_ENCODING, "gzip")
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| Error::Http(e.to_string()))?;
        if compress {
            req.headers_mut().insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        }
        if let Some(auth) = &self.auth {
            req.headers_mut().insert(AUTHORIZATION, auth.clone());
        }
        #[cfg(feature = "opentelemetry")]
        {
            // The current span's trace context (a call's client span), for the server's spans to join.
            use tracing_opentelemetry::OpenTelemetrySpanExt as _;
            let context = tracing::Span::current().context();
            opentelemetry::global::get_text_map_propagator(|propagator| {
                propagator.inject_context(&context, &mut opentelemetry_http::HeaderInjector(req.headers_mut()))
            });
        }
        if let Some(wait) = wait {
            let ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX).max(1);
            req.headers_mut()
                .insert(HeaderName::from_static(rpc_core::encoding::TIMEOUT_HEADER), HeaderValue::from(ms));
        }
        // A connection that could not be made means the request was never sent (`Error::Connect`).
        let resp = self.http.request(req).await.map_err(|e| match e.is_connect() {
            true => Error::Connect(format!("{}: {}", self.uri, chain(&e))),
            false => Error::Http(format!("{}: {}", self.uri, chain(&e))),
        })?;
        let status = resp.status();
        let gzipped = resp
            .headers()
            .get(CONTENT_ENCODING)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("gzip") || v.trim().eq_ignore_ascii_case("x-gzip"));
        let limit = self.max_response_size;
        let body = Limited::new(resp.into_body(), limit).collect().await.map_err(|e| {
            if e.is::<http_body_util::LengthLimitError>() {
                Error::Http(format!("the response is over the limit of {limit} bytes"))
            } else {
                Error::Http(format!("reading the response: {e}"))
            }
        })?;
        let body = body.to_bytes();
        let body = if gzipped {
            match gzip::inflate(&body, limit) {
                Ok(inflated) => Bytes::from(inflated),
                Err(gzip::InflateError::TooLarge) => {
                    return Err(Error::Http(format!(
                        "the gzip response inflates to more than the limit of {limit} bytes"
                    )));
                }
                Err(gzip::InflateError::Corrupt(e)) => return Err(Error::Http(format!("corrupt gzip response: {e}"))),
            }
        } else {
            body
        };
        if status == StatusCode::NO_CONTENT && no_content_ok {
            return Ok(None);
        }
        if status != StatusCode::OK {
            let text = String::from_utf8_lossy(&body).chars().take(200).collect::<String>().trim().to_owned();
            return Err(Error::Status { url: self.uri.to_string(), status, text });
        }
        Ok(Some(body))
    }
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("uri", &self.uri)
            .field("auth", &self.auth.as_ref().map(|_| "<redacted>"))
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// Settings for a [`Client`], with documented defaults. The encodings' client builders delegate to it.
#[derive(Debug, Clone)]
pub struct ClientBuilder {
    timeout: Option<Duration>,
    max_response_size: usize,
    pool_idle_timeout: Duration,
    gzip_requests_over: Option<usize>,
    tls: Option<std::sync::Arc<rustls::ClientConfig>>,
    credentials: Option<crate::Credentials>,
    unix: Option<std::path::PathBuf>,
}

impl Default for ClientBuilder {
    fn default() -> ClientBuilder {
        ClientBuilder {
            timeout: Some(DEFAULT_TIMEOUT),
            max_response_size: DEFAULT_MAX_RESPONSE_SIZE,
            pool_idle_timeout: DEFAULT_POOL_IDLE_TIMEOUT,
            gzip_requests_over: None,
            tls: None,
            credentials: None,
            unix: None,
        }
    }
}

impl ClientBuilder {
    /// How long one exchange may take (default [`DEFAULT_TIMEOUT`], 30 s); `None` waits for ever.
    pub fn timeout(mut self, timeout: Option<Duration>) -> ClientBuilder {
        self.timeout = timeout;
        self
    }

    /// The largest response body accepted, after inflating gzip (default [`DEFAULT_MAX_RESPONSE_SIZE`],
    /// 64 MiB).
    pub fn max_response_size(mut self, bytes: usize) -> ClientBuilder {
        self.max_response_size = bytes;
        self
    }

    /// How long an idle pooled connection is kept (default [`DEFAULT_POOL_IDLE_TIMEOUT`], 90 s).
    pub fn pool_idle_timeout(mut self, timeout: Duration) -> ClientBuilder {
        self.pool_idle_timeout = timeout;
        self
    }

    /// Compress request bodies of at least this many bytes with gzip (default `None`: never, like Python's
    /// `Transport.encode_threshold`); only for servers that accept `Content-Encoding: gzip`.
    pub fn gzip_requests_over(mut self, bytes: Option<usize>) -> ClientBuilder {
        self.gzip_requests_over = bytes;
        self
    }

    /// Send these credentials (HTTP Basic or a Bearer token) with every request, instead of any
    /// `user:password@` in the URL.
    pub fn credentials(mut self, credentials: crate::Credentials) -> ClientBuilder {
        self.credentials = Some(credentials);
        self
    }

    /// The rustls configuration for `https://` URLs (e.g. to trust a private CA or present a client
    /// certificate). By default the system's root certificates are trusted, or Mozilla's bundled ones
    /// (webpki-roots) where the system has none.
    pub fn tls_config(mut self, config: std::sync::Arc<rustls::ClientConfig>) -> ClientBuilder {
        self.tls = Some(config);
        self
    }

    /// Connect to the Unix socket at `path` instead of the URL's host (an `http://` URL still gives the path
    /// and `Host` of each request: `http://localhost/`), the way Docker's API is reached.
    pub fn unix_socket(mut self, path: impl Into<std::path::PathBuf>) -> ClientBuilder {
        self.unix = Some(path.into());
        self
    }

    /// A client posting `content_type` bodies to `url` (`http://` or `https://`); `user:password@` becomes
    /// Basic authentication. `user_agent` names the encoding crate.
    pub fn build(self, url: &str, content_type: &'static str, user_agent: &'static str) -> Result<Client, Error> {
        let parsed = url::Url::parse(url).map_err(|e| Error::Url(format!("{url:?}: {e}")))?;
        match parsed.scheme() {
            "http" | "https" => {}
            other => return Err(Error::Url(format!("{url:?}: unsupported scheme {other:?}; use http:// or https://"))),
        }
        let credentials = match self.credentials {
            Some(c) => Some(c),
            None if parsed.username().is_empty() && parsed.password().is_none() => None,
            None => {
                let decode = |s: &str| percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned();
                let password = decode(parsed.password().unwrap_or(""));
                Some(crate::Credentials::Basic { user: decode(parsed.username()), password })
            }
        };
        let auth = match credentials {
            Some(c) => Some(HeaderValue::from_str(&c.header_value()).map_err(|e| Error::Url(e.to_string()))?),
            None => None,
        };
        let mut clean = parsed.clone();
        let _ = clean.set_username("");
        let _ = clean.set_password(None);
        clean.set_fragment(None);
        let uri: Uri = clean.as_str().parse().map_err(|e| Error::Url(format!("{url:?}: {e}")))?;
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        // `http://` URLs need the plain connector to accept any scheme; TLS is layered on for `https://`.
        connector.enforce_http(false);
        let tls = match self.tls {
            Some(config) => HttpsConnectorBuilder::new().with_tls_config((*config).clone()),
            None => HttpsConnectorBuilder::new().with_native_roots().unwrap_or_else(|e| {
                tracing::debug!(error = %e, "no system root certificates; trusting the bundled webpki roots");
                HttpsConnectorBuilder::new().with_webpki_roots()
            }),
        };
        let connector = match self.unix {
            Some(path) => Connector::Unix(std::sync::Arc::new(path)),
            None => Connector::Net(tls.https_or_http().enable_http1().wrap_connector(connector)),
        };
        let http = HyperClient::builder(TokioExecutor::new())
            .pool_idle_timeout(self.pool_idle_timeout)
            .pool_timer(TokioTimer::new())
            .build(connector.clone());
        Ok(Client {
            http,
            connector,
            uri,
            content_type: HeaderValue::from_static(content_type),
            user_agent: HeaderValue::from_static(user_agent),
            auth,
            timeout: self.timeout,
            max_response_size: self.max_response_size,
            gzip_requests_over: self.gzip_requests_over,
        })
    }
}

/// An error with its sources, for messages (hyper's own `Display` hides the cause, e.g. "connection refused").
fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(inner) = source {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        source = inner.source();
    }
    s
}

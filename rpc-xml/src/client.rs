//! The XML-RPC client: a [`Transport`] over a keep-alive connection pool.

use std::fmt;
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_TYPE, USER_AGENT};
use http::{HeaderValue, Request, StatusCode, Uri};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use rpc_core::{BoxFuture, Transport, Value};

use crate::Error;
use crate::codec::{self, DEFAULT_MAX_DEPTH};

/// The default time a call may take, from sending to the last byte of the answer: 30 seconds.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// The default limit on a response body: 64 MiB.
pub const DEFAULT_MAX_RESPONSE_SIZE: usize = 64 * 1024 * 1024;

/// An XML-RPC client for one endpoint URL, like Python's `ServerProxy`.
///
/// Connections are kept alive and reused across calls (cloning the client shares the pool). Every request
/// carries a `Content-Length` (Python's server refuses chunked bodies), and `user:password@` in the URL becomes
/// HTTP Basic authentication. Use it through a generated client (`ServicesClient::new(client)`) or call
/// [`Transport::call`] directly with [`Value`]s.
///
/// ```no_run
/// use rpc_core::{Transport, Value};
///
/// # async fn run() -> Result<(), rpc_core::Error> {
/// let client = rpc_xml::Client::new("http://127.0.0.1:6789/")?;
/// let result = client.call("double", vec![Value::Int(7)]).await?;
/// assert_eq!(result, Value::Int(14));
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Client {
    http: HyperClient<HttpConnector, Full<Bytes>>,
    uri: Uri,
    auth: Option<HeaderValue>,
    timeout: Option<Duration>,
    max_response_size: usize,
    max_depth: usize,
}

impl Client {
    /// A client for `url` (`http://host:port/path`) with the default settings.
    pub fn new(url: &str) -> Result<Client, Error> {
        Client::builder().build(url)
    }

    /// A builder to change the settings.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// The endpoint this client calls (without credentials).
    pub fn uri(&self) -> &Uri {
        &self.uri
    }

    async fn post(&self, body: Vec<u8>) -> Result<Bytes, Error> {
        let mut req = Request::post(self.uri.clone())
            .header(CONTENT_TYPE, "text/xml")
            .header(USER_AGENT, concat!("rpc-xml/", env!("CARGO_PKG_VERSION")))
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| Error::Http(e.to_string()))?;
        if let Some(auth) = &self.auth {
            req.headers_mut().insert(AUTHORIZATION, auth.clone());
        }
        let resp = self.http.request(req).await.map_err(|e| Error::Http(format!("{}: {}", self.uri, chain(&e))))?;
        let status = resp.status();
        let body = Limited::new(resp.into_body(), self.max_response_size).collect().await.map_err(|e| {
            if e.is::<http_body_util::LengthLimitError>() {
                Error::Http(format!("the response is over the limit of {} bytes", self.max_response_size))
            } else {
                Error::Http(format!("reading the response: {e}"))
            }
        })?;
        if status != StatusCode::OK {
            let text = String::from_utf8_lossy(&body.to_bytes()).chars().take(200).collect::<String>();
            return Err(Error::Http(format!("{} answered HTTP {status}: {}", self.uri, text.trim())));
        }
        Ok(body.to_bytes())
    }

    async fn call_inner(&self, method: &str, params: Vec<Value>) -> Result<Value, rpc_core::Error> {
        let body = codec::encode_call(method, &params)?;
        let exchange = self.post(body);
        let bytes = match self.timeout {
            Some(t) => tokio::time::timeout(t, exchange).await.map_err(|_| rpc_core::Error::Timeout(t))??,
            None => exchange.await?,
        };
        match codec::decode_response(&bytes, self.max_depth)? {
            Ok(v) => Ok(v),
            Err(fault) => Err(rpc_core::Error::Fault(fault)),
        }
    }
}

impl Transport for Client {
    fn call<'a>(&'a self, method: &'a str, params: Vec<Value>) -> BoxFuture<'a, Result<Value, rpc_core::Error>> {
        Box::pin(self.call_inner(method, params))
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

/// Settings for a [`Client`].
#[derive(Debug, Clone)]
pub struct ClientBuilder {
    timeout: Option<Duration>,
    max_response_size: usize,
    max_depth: usize,
    pool_idle_timeout: Duration,
}

impl Default for ClientBuilder {
    fn default() -> ClientBuilder {
        ClientBuilder {
            timeout: Some(DEFAULT_TIMEOUT),
            max_response_size: DEFAULT_MAX_RESPONSE_SIZE,
            max_depth: DEFAULT_MAX_DEPTH,
            pool_idle_timeout: Duration::from_secs(90),
        }
    }
}

impl ClientBuilder {
    /// How long one call may take (default [`DEFAULT_TIMEOUT`], 30 s); `None` waits for ever. A call over time
    /// fails with [`rpc_core::Error::Timeout`].
    pub fn timeout(mut self, timeout: Option<Duration>) -> ClientBuilder {
        self.timeout = timeout;
        self
    }

    /// The largest response body accepted, in bytes (default [`DEFAULT_MAX_RESPONSE_SIZE`], 64 MiB).
    pub fn max_response_size(mut self, bytes: usize) -> ClientBuilder {
        self.max_response_size = bytes;
        self
    }

    /// How deeply arrays and structs may nest in a response (default [`DEFAULT_MAX_DEPTH`], 64).
    pub fn max_depth(mut self, depth: usize) -> ClientBuilder {
        self.max_depth = depth;
        self
    }

    /// How long an idle pooled connection is kept (default 90 s).
    pub fn pool_idle_timeout(mut self, timeout: Duration) -> ClientBuilder {
        self.pool_idle_timeout = timeout;
        self
    }

    /// A client for `url`. The URL must be `http://`; `user:password@` becomes Basic authentication.
    pub fn build(self, url: &str) -> Result<Client, Error> {
        let parsed = url::Url::parse(url).map_err(|e| Error::Url(format!("{url:?}: {e}")))?;
        match parsed.scheme() {
            "http" => {}
            "https" => return Err(Error::Url(format!("{url:?}: https is not supported yet; use http://"))),
            other => return Err(Error::Url(format!("{url:?}: unsupported scheme {other:?}; use http://"))),
        }
        let auth = if parsed.username().is_empty() && parsed.password().is_none() {
            None
        } else {
            let decode = |s: &str| percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned();
            let creds = format!("{}:{}", decode(parsed.username()), decode(parsed.password().unwrap_or("")));
            let value = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(creds));
            Some(HeaderValue::from_str(&value).map_err(|e| Error::Url(e.to_string()))?)
        };
        let mut clean = parsed.clone();
        let _ = clean.set_username("");
        let _ = clean.set_password(None);
        clean.set_fragment(None);
        let uri: Uri = clean.as_str().parse().map_err(|e| Error::Url(format!("{url:?}: {e}")))?;
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        let http = HyperClient::builder(TokioExecutor::new())
            .pool_idle_timeout(self.pool_idle_timeout)
            .pool_timer(hyper_util::rt::TokioTimer::new())
            .build(connector);
        Ok(Client {
            http,
            uri,
            auth,
            timeout: self.timeout,
            max_response_size: self.max_response_size,
            max_depth: self.max_depth,
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

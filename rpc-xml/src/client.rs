//! The XML-RPC client: a [`Transport`] over a keep-alive connection pool.

use std::fmt;
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use http::header::{ACCEPT_ENCODING, AUTHORIZATION, CONTENT_ENCODING, CONTENT_TYPE, USER_AGENT};
use http::{HeaderValue, Request, StatusCode, Uri};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use rpc_core::{BoxFuture, Fault, Map, Transport, Value};

use crate::Error;
use crate::codec::{self, DEFAULT_MAX_DEPTH};
use crate::gzip;

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
    gzip_requests_over: Option<usize>,
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
        let compress = self.gzip_requests_over.is_some_and(|t| body.len() >= t);
        let body = if compress { gzip::deflate(&body) } else { body };
        let mut req = Request::post(self.uri.clone())
            .header(CONTENT_TYPE, "text/xml")
            .header(USER_AGENT, concat!("rpc-xml/", env!("CARGO_PKG_VERSION")))
            .header(ACCEPT_ENCODING, "gzip")
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| Error::Http(e.to_string()))?;
        if compress {
            req.headers_mut().insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        }
        if let Some(auth) = &self.auth {
            req.headers_mut().insert(AUTHORIZATION, auth.clone());
        }
        let resp = self.http.request(req).await.map_err(|e| Error::Http(format!("{}: {}", self.uri, chain(&e))))?;
        let status = resp.status();
        let gzipped = resp
            .headers()
            .get(CONTENT_ENCODING)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("gzip") || v.trim().eq_ignore_ascii_case("x-gzip"));
        let body = Limited::new(resp.into_body(), self.max_response_size).collect().await.map_err(|e| {
            if e.is::<http_body_util::LengthLimitError>() {
                Error::Http(format!("the response is over the limit of {} bytes", self.max_response_size))
            } else {
                Error::Http(format!("reading the response: {e}"))
            }
        })?;
        let body = body.to_bytes();
        let body = if gzipped {
            match gzip::inflate(&body, self.max_response_size) {
                Ok(inflated) => Bytes::from(inflated),
                Err(gzip::InflateError::TooLarge) => {
                    return Err(Error::Http(format!(
                        "the gzip response inflates to more than the limit of {} bytes",
                        self.max_response_size
                    )));
                }
                Err(gzip::InflateError::Corrupt(e)) => return Err(Error::Http(format!("corrupt gzip response: {e}"))),
            }
        } else {
            body
        };
        if status != StatusCode::OK {
            let text = String::from_utf8_lossy(&body).chars().take(200).collect::<String>();
            return Err(Error::Http(format!("{} answered HTTP {status}: {}", self.uri, text.trim())));
        }
        Ok(body)
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

    /// Makes several calls in one request with `system.multicall`; the answers come back in order, each the
    /// call's result or its fault. The whole request fails (an `Err`) only if the multicall itself does.
    ///
    /// ```no_run
    /// use rpc_core::Value;
    ///
    /// # async fn run() -> Result<(), rpc_core::Error> {
    /// let client = rpc_xml::Client::new("http://127.0.0.1:6789/")?;
    /// let answers = client
    ///     .multicall([("double", vec![Value::Int(7)]), ("no.such.method", vec![])])
    ///     .await?;
    /// assert_eq!(answers[0], Ok(Value::Int(14)));
    /// assert_eq!(answers[1].as_ref().unwrap_err().code, rpc_core::Fault::METHOD_NOT_FOUND);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn multicall<M: Into<String>>(
        &self,
        calls: impl IntoIterator<Item = (M, Vec<Value>)>,
    ) -> Result<Vec<Result<Value, Fault>>, rpc_core::Error> {
        let calls: Vec<Value> = calls
            .into_iter()
            .map(|(name, params)| {
                let mut entry = Map::with_capacity(2);
                entry.push("methodName", name.into());
                entry.push("params", Value::Array(params));
                Value::Map(entry)
            })
            .collect();
        let expected = calls.len();
        let answers = match self.call_inner("system.multicall", vec![Value::Array(calls)]).await? {
            Value::Array(answers) if answers.len() == expected => answers,
            other => {
                return Err(rpc_core::Error::Decode(format!(
                    "system.multicall answered {} instead of an array of {expected}",
                    other.kind()
                )));
            }
        };
        answers.into_iter().map(multicall_answer).collect()
    }
}

/// One multicall answer: `[result]`, or a fault struct.
fn multicall_answer(answer: Value) -> Result<Result<Value, Fault>, rpc_core::Error> {
    match answer {
        Value::Array(mut one) if one.len() == 1 => Ok(Ok(one.pop().unwrap_or_default())),
        Value::Map(m) => match (m.get_str("faultCode").and_then(Value::as_i64), m.get_str("faultString")) {
            (Some(code), Some(Value::String(message))) => Ok(Err(Fault::new(code, message.clone()))),
            _ => Err(rpc_core::Error::Decode("a system.multicall answer is a struct but not a fault".into())),
        },
        other => Err(rpc_core::Error::Decode(format!("a system.multicall answer is {}, not [result]", other.kind()))),
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
    gzip_requests_over: Option<usize>,
}

impl Default for ClientBuilder {
    fn default() -> ClientBuilder {
        ClientBuilder {
            timeout: Some(DEFAULT_TIMEOUT),
            max_response_size: DEFAULT_MAX_RESPONSE_SIZE,
            max_depth: DEFAULT_MAX_DEPTH,
            pool_idle_timeout: Duration::from_secs(90),
            gzip_requests_over: None,
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

    /// Compress request bodies of at least this many bytes with gzip (default `None`: never, like Python's
    /// `Transport.encode_threshold`). Only for servers that accept `Content-Encoding: gzip` (Python's and ours
    /// do). Responses are always accepted gzipped (`Accept-Encoding: gzip` is sent).
    pub fn gzip_requests_over(mut self, bytes: Option<usize>) -> ClientBuilder {
        self.gzip_requests_over = bytes;
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

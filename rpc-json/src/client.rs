//! The JSON-RPC client: a [`Transport`] over the shared pooled HTTP client of `rpc-http`, with named params
//! and batches.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use rpc_core::encoding::{Answer, Param, Slot, erased_serde};
use rpc_core::{BoxFuture, Fault, Map, Transport, Value};

use crate::Error;
use crate::codec::{self, DEFAULT_MAX_DEPTH, Id, Params, Response, Responses};

pub use rpc_http::{DEFAULT_MAX_RESPONSE_SIZE, DEFAULT_TIMEOUT};

const CONTENT_TYPE: &str = "application/json";

/// A JSON-RPC 2.0 client for one endpoint URL.
///
/// Connections are kept alive and reused across calls (cloning the client shares the pool and the id
/// counter). Ids are numbers counting up from 1. Use it through a generated client
/// (`ServicesClient::new(client)`), call [`Transport::call`] / [`Transport::notify`] directly with
/// [`Value`]s, or use [`Client::call_named`] and [`Client::batch`].
///
/// ```no_run
/// use rpc_core::{Transport, Value};
///
/// # async fn run() -> Result<(), rpc_core::Error> {
/// let client = rpc_json::Client::new("http://127.0.0.1:6789/")?;
/// assert_eq!(client.call("double", vec![Value::Int(9)]).await?, Value::Int(18));
/// client.notify("bump", vec![Value::Int(1)]).await?; // no answer awaited beyond the HTTP 204
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct Client {
    http: rpc_http::Client,
    max_depth: usize,
    next_id: Arc<AtomicU64>,
}

impl Client {
    rpc_http::http_client_constructors!(
        "`http://host:port/path` or `https://...`; the CLI's `jsonrpc+http://` is taken too"
    );

    fn next_id(&self, n: u64) -> u64 {
        self.next_id.fetch_add(n, Ordering::Relaxed)
    }

    /// Calls `method` with named params (a map of param names to values).
    ///
    /// ```no_run
    /// use rpc_core::{Map, Value};
    ///
    /// # async fn run() -> Result<(), rpc_core::Error> {
    /// let client = rpc_json::Client::new("http://127.0.0.1:6789/")?;
    /// let params: Map = [("a", 2), ("b", 3)].into_iter().collect();
    /// assert_eq!(client.call_named("add", params).await?, Value::Int(5));
    /// # Ok(())
    /// # }
    /// ```
    pub async fn call_named(&self, method: &str, params: Map) -> Result<Value, rpc_core::Error> {
        self.call_with(method, &Params::Named(params)).await
    }

    async fn call_with(&self, method: &str, params: &Params) -> Result<Value, rpc_core::Error> {
        let id = Id::number(self.next_id(1));
        let body = codec::encode_request(Some(&id), method, params)?;
        let bytes = self.http.post(body).await.map_err(Error::from)?;
        self.result(&bytes, &id)
    }

    /// The result a response body holds for request `id`, or its fault.
    fn result(&self, body: &[u8], id: &Id) -> Result<Value, rpc_core::Error> {
        read_result(body, id, self.max_depth)
    }

    /// A call on the typed path (see [`rpc_core::encoding`]): params serialised straight into the request (before
    /// this returns), the result read straight from the response when the caller reads the answer (through a
    /// value where it cannot be).
    fn call_typed<'a>(
        &'a self,
        method: &str,
        params: &[Param<'_>],
        span: tracing::Span,
    ) -> impl std::future::Future<Output = Result<Box<dyn Answer>, rpc_core::Error>> + Send + 'a {
        let id = Id::number(self.next_id(1));
        let body = codec::encode_request_typed(&id, method, params);
        async move {
            let bytes = self.http.post(body?).await.map_err(Error::from)?;
            Ok(Box::new(TypedAnswer { bytes, id, max_depth: self.max_depth, span }) as Box<dyn Answer>)
        }
    }

    async fn notify_with(&self, method: &str, params: &Params) -> Result<(), rpc_core::Error> {
        let body = codec::encode_request(None, method, params)?;
        let answer = self.http.post_or_no_content(body).await.map_err(Error::from)?;
        // Servers answer 204 (or 200 with nothing); an error object means the notification was refused.
        match answer.filter(|b| !b.iter().all(u8::is_ascii_whitespace)) {
            Some(bytes) => match codec::decode_response(&bytes, self.max_depth) {
                Ok(Response { result: Err(fault), .. }) => Err(rpc_core::Error::Fault(fault)),
                _ => Ok(()),
            },
            None => Ok(()),
        }
    }

    /// Sends a batch in one request. The answer has one entry per call of the batch (notifications have none),
    /// in the order they were added, each the call's result or its error; the whole batch fails (an `Err`)
    /// only if the exchange does or the server refuses the batch as a whole. An empty batch sends nothing.
    ///
    /// ```no_run
    /// use rpc_core::{Fault, Value};
    /// use rpc_json::Batch;
    ///
    /// # async fn run() -> Result<(), rpc_core::Error> {
    /// let client = rpc_json::Client::new("http://127.0.0.1:6789/")?;
    /// let mut batch = Batch::new();
    /// batch.call("double", vec![Value::Int(7)]).notify("bump", vec![Value::Int(1)]).call("nope", vec![]);
    /// let answers = client.batch(&batch).await?;
    /// assert_eq!(answers[0], Ok(Value::Int(14)));
    /// assert_eq!(answers[1].as_ref().unwrap_err().code, Fault::METHOD_NOT_FOUND);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn batch(&self, batch: &Batch) -> Result<Vec<Result<Value, Fault>>, rpc_core::Error> {
        if batch.entries.is_empty() {
            return Ok(Vec::new());
        }
        let calls = batch.entries.iter().filter(|e| e.call).count();
        let first = self.next_id(calls as u64);
        let mut ids = (first..).map(Id::number);
        let requests: Vec<(Option<Id>, &BatchEntry)> =
            batch.entries.iter().map(|e| (if e.call { ids.next() } else { None }, e)).collect();
        let body = codec::encode_batch(requests.iter().map(|(id, e)| (id.as_ref(), e.method.as_str(), &e.params)))?;
        let answer = self.http.post_or_no_content(body).await.map_err(Error::from)?;
        if calls == 0 {
            return Ok(Vec::new());
        }
        let Some(bytes) = answer else {
            return Err(rpc_core::Error::Decode("the server answered a batch of calls with no content".into()));
        };
        let responses = match codec::decode_responses(&bytes, self.max_depth)? {
            Responses::Batch(responses) => responses,
            // The one error a server sends for a batch it refuses whole (too large, unreadable).
            Responses::Single(Response { result: Err(fault), .. }) => return Err(rpc_core::Error::Fault(fault)),
            Responses::Single(_) => {
                return Err(rpc_core::Error::Decode("the server answered a batch with a single result".into()));
            }
        };
        requests
            .into_iter()
            .filter_map(|(id, e)| id.map(|id| (id, e)))
            .map(|(id, e)| match responses.iter().find(|r| r.id.same_as(&id)) {
                Some(r) => Ok(r.result.clone()),
                // An error the server could not tie to a request (id null) explains a missing answer.
                None => match responses.iter().find(|r| r.id.is_null() && r.result.is_err()) {
                    Some(Response { result: Err(fault), .. }) => Err(rpc_core::Error::Fault(fault.clone())),
                    _ => Err(rpc_core::Error::Decode(format!("no answer to the call of {} (id {id})", e.method))),
                },
            })
            .collect()
    }
}

/// The result a response body holds for request `id`, or its fault.
fn read_result(body: &[u8], id: &Id, max_depth: usize) -> Result<Value, rpc_core::Error> {
    let Response { id: answered, result } = codec::decode_response(body, max_depth)?;
    // A server that could not read the request answers its error with id null.
    if !(answered.same_as(id) || answered.is_null() && result.is_err()) {
        return Err(rpc_core::Error::Decode(format!("the response's id {answered} is not the request's id {id}")));
    }
    result.map_err(rpc_core::Error::Fault)
}

/// The response to a typed call, read into the caller's type when it asks.
struct TypedAnswer {
    bytes: bytes::Bytes,
    id: Id,
    max_depth: usize,
    /// The call's span, which a fault found in the answer is recorded on.
    span: tracing::Span,
}

impl Answer for TypedAnswer {
    /// The result read straight from the response where it reads, else through its value (or the fault).
    fn read(self: Box<Self>, slot: &mut dyn Slot) -> Result<(), rpc_core::Error> {
        if let Some((answered, raw)) = codec::response_parts(&self.bytes)
            && answered.same_as(&self.id)
            && let Ok(mut de) = codec::typed::Deserializer::new(raw, self.max_depth)
            && slot.deserialize(&mut <dyn erased_serde::Deserializer>::erase(&mut de)).is_ok()
            && de.end().is_ok()
        {
            return Ok(());
        }
        let result = read_result(&self.bytes, &self.id, self.max_depth);
        if let Err(e) = &result {
            // Only now is the call known to have failed (a fault in the answer): its span says so.
            rpc_core::trace::record_error(&self.span, e);
        }
        slot.set_value(result?)
    }
}

impl Transport for Client {
    fn call_typed<'a>(&'a self, method: &'a str, params: &[Param<'_>]) -> rpc_core::encoding::AnswerFuture<'a> {
        let span = self.http.call_span("jsonrpc", method);
        let call = span.in_scope(|| Client::call_typed(self, method, params, span.clone()));
        Box::pin(rpc_core::trace::traced(span, call))
    }

    fn call<'a>(&'a self, method: &'a str, params: Vec<Value>) -> BoxFuture<'a, Result<Value, rpc_core::Error>> {
        let call = async move { self.call_with(method, &Params::Positional(params)).await };
        Box::pin(rpc_core::trace::traced(self.http.call_span("jsonrpc", method), call))
    }

    /// Sends a real JSON-RPC notification (no id): the server answers HTTP 204 at once, without a result.
    fn notify<'a>(&'a self, method: &'a str, params: Vec<Value>) -> BoxFuture<'a, Result<(), rpc_core::Error>> {
        let call = async move { self.notify_with(method, &Params::Positional(params)).await };
        Box::pin(rpc_core::trace::traced(self.http.call_span("jsonrpc", method), call))
    }
}

/// Requests to send together with [`Client::batch`]: calls (answered) and notifications (not), in order.
#[derive(Debug, Clone, Default)]
pub struct Batch {
    entries: Vec<BatchEntry>,
}

#[derive(Debug, Clone)]
struct BatchEntry {
    method: String,
    params: Params,
    call: bool,
}

impl Batch {
    /// An empty batch.
    pub fn new() -> Batch {
        Batch::default()
    }

    /// Adds a call; `params` is a `Vec<Value>` (positional) or a [`Map`] (named).
    pub fn call(&mut self, method: impl Into<String>, params: impl Into<Params>) -> &mut Batch {
        self.entries.push(BatchEntry { method: method.into(), params: params.into(), call: true });
        self
    }

    /// Adds a notification; `params` as for [`Batch::call`].
    pub fn notify(&mut self, method: impl Into<String>, params: impl Into<Params>) -> &mut Batch {
        self.entries.push(BatchEntry { method: method.into(), params: params.into(), call: false });
        self
    }

    /// The number of requests (calls and notifications).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when nothing was added.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// Settings for a [`Client`]: the HTTP settings every encoding's client has, and the depth limit on results
/// (default [`DEFAULT_MAX_DEPTH`](crate::codec::DEFAULT_MAX_DEPTH), 64; at most
/// [`MAX_DEPTH`](crate::codec::MAX_DEPTH), 120).
pub type ClientBuilder = rpc_http::EncodingClientBuilder<JsonRpcOverHttp>;

/// JSON-RPC over HTTP, for the shared HTTP client builder.
#[derive(Debug)]
pub struct JsonRpcOverHttp;

impl rpc_http::HttpEncoding for JsonRpcOverHttp {
    type Client = Client;
    const FORMAT: &'static str = "JSON";
    const CONTENT_TYPE: &'static str = CONTENT_TYPE;
    const USER_AGENT: &'static str = concat!("rpc-json/", env!("CARGO_PKG_VERSION"));
    const DEFAULT_MAX_DEPTH: usize = DEFAULT_MAX_DEPTH;

    /// The CLI's `jsonrpc+http://` and `jsonrpc+https://` are taken too.
    fn url(url: &str) -> &str {
        url.strip_prefix("jsonrpc+").unwrap_or(url)
    }

    fn client(http: rpc_http::Client, max_depth: usize) -> Client {
        Client { http, max_depth, next_id: Arc::new(AtomicU64::new(1)) }
    }

    fn http(client: &Client) -> &rpc_http::Client {
        &client.http
    }
}

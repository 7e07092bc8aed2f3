//! The XML-RPC client: a [`Transport`] over the shared pooled HTTP client of `rpc-http`.

use rpc_core::encoding::{Answer, AnswerFuture, Param, Slot};
use rpc_core::{BoxFuture, Fault, Map, Transport, Value};

use crate::Error;
use crate::codec::de::SlotRead;
use crate::codec::{self, DEFAULT_MAX_DEPTH};

pub use rpc_http::{DEFAULT_MAX_RESPONSE_SIZE, DEFAULT_TIMEOUT};

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
#[derive(Clone, Debug)]
pub struct Client {
    http: rpc_http::Client,
    max_depth: usize,
}

impl Client {
    rpc_http::http_client_constructors!("`http://host:port/path`");

    /// Posts a `methodCall` (or the error encoding it gave) and reads the answer.
    async fn exchange(&self, body: Result<Vec<u8>, Error>) -> Result<Value, rpc_core::Error> {
        let bytes = self.http.post(body?).await?;
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
        let answers = match self.exchange(codec::encode_call("system.multicall", &[Value::Array(calls)])).await? {
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
        Value::Map(m) => match crate::codec::fault_from_struct(&m) {
            Some(fault) => Ok(Err(fault)),
            None => Err(rpc_core::Error::Decode("a system.multicall answer is a struct but not a fault".into())),
        },
        other => Err(rpc_core::Error::Decode(format!("a system.multicall answer is {}, not [result]", other.kind()))),
    }
}

/// The response to a typed call, read into the caller's type when it asks.
struct TypedAnswer {
    bytes: bytes::Bytes,
    max_depth: usize,
    /// The call's span, which a fault found in the answer is recorded on.
    span: tracing::Span,
}

impl Answer for TypedAnswer {
    /// The result read straight from the response where it reads, else through its value (or the fault).
    fn read(self: Box<Self>, slot: &mut dyn Slot) -> Result<(), rpc_core::Error> {
        let result = match codec::decode_response_with(&self.bytes, self.max_depth, &mut SlotRead(slot)) {
            Ok(Ok(())) => return Ok(()),
            Ok(Err(fault)) => Err(rpc_core::Error::Fault(fault)),
            // The value says what is wrong: bytes that do not read, or a result not of the caller's type.
            Err(_) => match codec::decode_response(&self.bytes, self.max_depth) {
                Ok(Ok(value)) => return slot.set_value(value),
                Ok(Err(fault)) => Err(rpc_core::Error::Fault(fault)),
                Err(e) => Err(e.into()),
            },
        };
        if let Err(e) = &result {
            // Only now is the call known to have failed (a fault in the answer): its span says so.
            rpc_core::trace::record_error(&self.span, e);
        }
        result
    }
}

/// A typed call's params are written straight into the `methodCall` (as their values would be), and its result
/// read straight from the `methodResponse` into the caller's type.
impl Transport for Client {
    fn call_typed<'a>(&'a self, method: &'a str, params: &[Param<'_>]) -> AnswerFuture<'a> {
        let span = self.http.call_span("xmlrpc", method);
        let body = codec::encode_call_typed(method, params);
        let answer_span = span.clone();
        let answer = async move {
            let bytes = self.http.post(body?).await?;
            Ok(Box::new(TypedAnswer { bytes, max_depth: self.max_depth, span: answer_span }) as Box<dyn Answer>)
        };
        Box::pin(rpc_core::trace::traced(span, answer))
    }

    fn call<'a>(&'a self, method: &'a str, params: Vec<Value>) -> BoxFuture<'a, Result<Value, rpc_core::Error>> {
        let body = codec::encode_call(method, &params);
        Box::pin(rpc_core::trace::traced(self.http.call_span("xmlrpc", method), self.exchange(body)))
    }
}

/// Settings for a [`Client`]: the HTTP settings every encoding's client has, and the depth limit on responses
/// (default [`DEFAULT_MAX_DEPTH`], 64).
pub type ClientBuilder = rpc_http::EncodingClientBuilder<XmlRpc>;

/// XML-RPC, for the shared HTTP client builder.
#[derive(Debug)]
pub struct XmlRpc;

impl rpc_http::HttpEncoding for XmlRpc {
    type Client = Client;
    const FORMAT: &'static str = "XML";
    const CONTENT_TYPE: &'static str = "text/xml";
    const USER_AGENT: &'static str = concat!("rpc-xml/", env!("CARGO_PKG_VERSION"));
    const DEFAULT_MAX_DEPTH: usize = DEFAULT_MAX_DEPTH;

    fn client(http: rpc_http::Client, max_depth: usize) -> Client {
        Client { http, max_depth }
    }

    fn http(client: &Client) -> &rpc_http::Client {
        &client.http
    }
}

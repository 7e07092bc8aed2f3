//! The JSON-RPC server: the shared HTTP server of `rpc-http` with a JSON-RPC 2.0 endpoint.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::StatusCode;
use rpc_core::encoding::{WireParams, erased_serde, serve_call};
use rpc_core::{BoxFuture, CallParams, Context, Dispatch, Fault, Map, MethodInfo, Value};
use rpc_http::{Endpoint, Reply, ServerConfig};

use crate::codec::{self, Body, DEFAULT_MAX_DEPTH, Entry, Id, Params};
use crate::discover;

pub use rpc_http::{
    DEFAULT_BODY_READ_TIMEOUT, DEFAULT_DRAIN_GRACE, DEFAULT_HEADER_READ_TIMEOUT, DEFAULT_MAX_BODY_SIZE,
    DEFAULT_MAX_CONNECTIONS, DEFAULT_SHUTDOWN_TIMEOUT,
};

/// The default cap on the number of requests in one batch.
pub const DEFAULT_MAX_BATCH: usize = 1000;

pub use rpc_core::DEFAULT_HANDLER_TIMEOUT;

const CONTENT_TYPE: &str = "application/json";

/// Serves a [`Dispatch`] (a `#[service]`'s `...Server`, or a [`Router`](rpc_core::Router)) over JSON-RPC 2.0.
///
/// Requests are `POST`ed to `/`; other paths answer 404 and other methods 405. Every answer to a request is
/// HTTP 200 with a response object (errors included); a notification, or a batch of nothing but
/// notifications, is answered with HTTP 204 and no body. A body over the size limit is refused with 413 before
/// it is read.
///
/// Params may be positional (an array) or named (an object, matched to the Rust param names of the method;
/// trailing `Option` params may be left out). `rpc.discover` answers an [OpenRPC](https://open-rpc.org)
/// document of the methods (see [`Server::introspection`]).
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
/// rpc_json::Server::new(ServicesServer::new(Doubler))
///     .max_batch(100)
///     .serve_with_shutdown(listener, async { tokio::signal::ctrl_c().await.ok(); })
///     .await
/// # }
/// ```
#[derive(Debug)]
pub struct Server<D> {
    dispatch: Arc<D>,
    http: ServerConfig,
    max_depth: usize,
    max_batch: usize,
    introspection: bool,
    handler_timeout: Option<Duration>,
    websocket: bool,
}

impl<D: Dispatch> Server<D> {
    /// A server for `dispatch`, with the default limits.
    pub fn new(dispatch: D) -> Server<D> {
        Server {
            dispatch: Arc::new(dispatch),
            http: ServerConfig::new("JSON-RPC"),
            max_depth: DEFAULT_MAX_DEPTH,
            max_batch: DEFAULT_MAX_BATCH,
            introspection: true,
            handler_timeout: Some(DEFAULT_HANDLER_TIMEOUT),
            websocket: false,
        }
    }

    rpc_http::http_server_settings!();

    /// How deeply arrays and objects may nest in a request's params (default
    /// [`DEFAULT_MAX_DEPTH`](crate::codec::DEFAULT_MAX_DEPTH), 64; at most [`MAX_DEPTH`](crate::codec::MAX_DEPTH),
    /// 120, serde_json's own limit less the request's envelope). Deeper ones get a -32600 error. The depth is
    /// counted on the raw bytes before anything is parsed, so a deep body costs one pass over it.
    pub fn max_depth(mut self, depth: usize) -> Server<D> {
        self.max_depth = depth;
        self
    }

    /// The most requests one batch may carry (default [`DEFAULT_MAX_BATCH`], 1000); a larger batch is answered
    /// with one -32600 error.
    pub fn max_batch(mut self, requests: usize) -> Server<D> {
        self.max_batch = requests;
        self
    }

    /// How long one request (each of a batch on its own) may run before it is dropped and answered with a
    /// -32603 error (default `Some(`[`DEFAULT_HANDLER_TIMEOUT`]`)`, 5 minutes); `None` lets it run for ever.
    pub fn handler_timeout(mut self, timeout: Option<Duration>) -> Server<D> {
        self.handler_timeout = timeout;
        self
    }

    /// Answer `rpc.discover` with an OpenRPC document built from the dispatcher's method metadata: names,
    /// param names and types, doc comments (default on). A method of yours called `rpc.discover` wins.
    pub fn introspection(mut self, on: bool) -> Server<D> {
        self.introspection = on;
        self
    }

    /// Also serve JSON-RPC over WebSocket on the same port (default off): a `GET` with `Upgrade: websocket` to
    /// a path that answers is upgraded (after the authentication check) and served as
    /// [`duplex::Server::serve_ws`](crate::duplex::Server) would (pipelined, calls both ways, the same
    /// limits), as jsonrpsee serves both on one port.
    pub fn websocket(mut self, on: bool) -> Server<D> {
        self.websocket = on;
        self
    }

    rpc_http::http_serve!();

    /// Its HTTP settings (with the WebSocket upgrade, when on), and the endpoint that answers its requests.
    fn into_http(self) -> (rpc_http::ServerConfig, JsonEndpoint<D>) {
        let mut http = self.http;
        if self.websocket {
            use crate::duplex::JsonRpcSettings;
            let duplex = crate::duplex::Server::from_arc(self.dispatch.clone())
                .max_depth(self.max_depth)
                .handler_timeout(self.handler_timeout)
                .max_batch(self.max_batch)
                .introspection(self.introspection);
            http = http.websocket(rpc_http::Upgrade::new(move |io, cx, drain| {
                let duplex = duplex.clone();
                Box::pin(async move { duplex.serve_ws_upgraded(io, cx, drain).await })
            }));
        }
        let inner = Inner::new(self.dispatch, self.introspection, self.max_depth, self.max_batch, self.handler_timeout);
        (http, JsonEndpoint { inner: Arc::new(inner) })
    }
}

/// JSON-RPC on the shared HTTP server: decode, route, encode.
struct JsonEndpoint<D> {
    inner: Arc<Inner<D>>,
}

pub(crate) struct Inner<D> {
    dispatch: Arc<D>,
    /// The methods' metadata by wire name, for named params.
    methods: HashMap<String, MethodInfo>,
    /// The `rpc.discover` answer, when introspection is on.
    discover: Option<Value>,
    max_depth: usize,
    max_batch: usize,
    handler_timeout: Option<Duration>,
}

/// What one request comes to: the id to answer and the outcome, or nothing for a notification.
type Answer = Option<(Id, Result<rpc_core::encoding::Reply, Fault>)>;

impl<D: Dispatch> Endpoint for JsonEndpoint<D> {
    fn handle(&self, body: Bytes, cx: Context) -> BoxFuture<'static, Reply> {
        let answer = self.inner.serve_body(&body, cx);
        Box::pin(async move {
            match answer.await {
                Some(out) => Reply::ok(CONTENT_TYPE, out),
                None => Reply::empty(StatusCode::NO_CONTENT),
            }
        })
    }
}

impl<D: Dispatch> Inner<D> {
    /// Serving `dispatch` with these limits.
    pub(crate) fn new(
        dispatch: Arc<D>,
        introspection: bool,
        max_depth: usize,
        max_batch: usize,
        handler_timeout: Option<Duration>,
    ) -> Inner<D> {
        let methods: HashMap<String, MethodInfo> =
            dispatch.methods().into_iter().map(|m| (m.name.clone().into_owned(), m)).collect();
        let discover =
            (introspection && !methods.contains_key(discover::METHOD)).then(|| discover::document(&dispatch.methods()));
        Inner { dispatch, methods, discover, max_depth, max_batch, handler_timeout }
    }

    /// Serves one message (a request, a notification or a batch): the answer to send, `None` when there is
    /// none (a notification, or a batch of nothing but notifications). Every transport serves messages so.
    pub(crate) fn serve_body(&self, body: &[u8], cx: Context) -> BoxFuture<'static, Option<Vec<u8>>> {
        if let Some(answer) = self.run_typed(body, &cx) {
            return answer;
        }
        let peer = cx.get::<rpc_core::RemoteAddr>().map(|a| a.0);
        match codec::decode_requests(body, self.max_depth, self.max_batch) {
            Err(fault) => {
                tracing::debug!(?peer, code = fault.code, message = fault.message, "bad request body");
                let mut out = Vec::new();
                codec::push_response::<Value>(&mut out, &Id::null(), "", Err(&fault));
                Box::pin(std::future::ready(Some(out)))
            }
            Ok(Body::Single(entry)) => {
                let answer = self.run(entry, cx);
                Box::pin(async move {
                    let (id, result) = answer.await?;
                    // Room for a small answer, so that writing it does not grow the buffer step by step.
                    let mut out = Vec::with_capacity(128);
                    codec::push_response(&mut out, &id, "", result.as_ref().map(|reply| reply.as_ref()));
                    Some(out)
                })
            }
            Ok(Body::Batch(entries)) => {
                let answers: Vec<_> = entries.into_iter().map(|e| self.run(e, cx.clone())).collect();
                Box::pin(async move {
                    // The requests run concurrently in this task (so they stop with it); answers keep their order.
                    let answers = futures_util::future::join_all(answers).await;
                    let mut out = Vec::with_capacity(answers.len() * 48);
                    for (id, result) in answers.iter().flatten() {
                        out.push(if out.is_empty() { b'[' } else { b',' });
                        codec::push_response(&mut out, id, "", result.as_ref().map(|reply| reply.as_ref()));
                    }
                    if out.is_empty() {
                        return None;
                    }
                    out.push(b']');
                    Some(out)
                })
            }
        }
    }

    /// Starts a single request as clients write them (see [`codec::request_parts`]): its params are handed to
    /// the dispatcher still in the body, read straight into the handler's types (or as values, where they do not
    /// read so), and the answer written straight from its result. `None` for anything else (a batch, named
    /// params, an unusual shape), which the general reading takes from the start.
    fn run_typed(&self, body: &[u8], cx: &Context) -> Option<BoxFuture<'static, Option<Vec<u8>>>> {
        let parts = codec::request_parts(body)?;
        if self.discover.is_some() && parts.method == discover::METHOD {
            return None;
        }
        let id_json = parts.id.as_ref().map(|id| id.as_json());
        let id_text = id_json.as_ref().map(|id| id as &dyn std::fmt::Display);
        let span = rpc_core::trace::server_span("jsonrpc", parts.method, id_text, cx);
        // Params nesting past the limit are the general reading's to refuse (as an invalid request).
        let json = parts.params.unwrap_or(b"[]");
        let de = codec::typed::Deserializer::for_params(json, self.max_depth).ok()?;
        let mut wire = JsonParams { de: Some(de), json, max_depth: self.max_depth };
        let params = CallParams::Wire(&mut wire);
        let call = span.in_scope(|| serve_call(&*self.dispatch, parts.method, params, cx.clone()));
        let (id, method, limit) = (parts.id, parts.method.to_owned(), self.handler_timeout);
        let recorded = span.clone();
        let answer = async move {
            let result = rpc_core::encoding::time_limit(&method, limit, call).await;
            if let Err(fault) = &result {
                rpc_core::trace::record_fault(&recorded, fault);
            }
            match id {
                Some(id) => {
                    if let Err(f) = &result {
                        tracing::debug!(method, code = f.code, "call answered with an error");
                    }
                    // Room for a small answer, so that writing it does not grow the buffer step by step.
                    let mut out = Vec::with_capacity(128);
                    codec::push_response(&mut out, &id, &method, result.as_ref().map(|reply| reply.as_ref()));
                    Some(out)
                }
                None => {
                    if let Err(f) = &result {
                        tracing::debug!(method, code = f.code, "notification failed (no reply)");
                    }
                    None
                }
            }
        };
        Some(Box::pin(tracing::Instrument::instrument(answer, span)))
    }

    /// Starts one request; its answer is `None` for a notification, whatever happened (the spec's rule), and
    /// always `Some` for an invalid request.
    fn run(&self, entry: Entry, cx: Context) -> BoxFuture<'static, Answer> {
        let peer = cx.get::<rpc_core::RemoteAddr>().map(|a| a.0);
        let (id, method, params) = match entry {
            Entry::Invalid { id, fault } => {
                tracing::debug!(?peer, %id, message = fault.message, "invalid request");
                return ready(Some((id, Err(fault))));
            }
            Entry::Call { id, method, params } => (id, method, params),
        };
        let params = params.and_then(|p| match p {
            Params::Positional(values) => Ok(values),
            Params::Named(named) => match self.methods.get(&method) {
                Some(info) => by_name(info, named),
                None => Err(Fault::method_not_found(&method)),
            },
        });
        let id_json = id.as_ref().map(|id| id.as_json());
        let id_text = id_json.as_ref().map(|id| id as &dyn std::fmt::Display);
        let span = rpc_core::trace::server_span("jsonrpc", &method, id_text, &cx);
        let outcome: rpc_core::CallFuture = match params {
            Err(fault) => ready(Err(fault)),
            Ok(params) => match &self.discover {
                Some(doc) if method == discover::METHOD => {
                    ready(discover::answer(doc, &params).map(|value| Box::new(value) as rpc_core::encoding::Reply))
                }
                _ => span.in_scope(|| Box::pin(serve_call(&*self.dispatch, &method, CallParams::Values(params), cx))),
            },
        };
        let limit = self.handler_timeout;
        let recorded = span.clone();
        Box::pin(tracing::Instrument::instrument(
            async move {
                let result = rpc_core::encoding::time_limit(&method, limit, outcome).await;
                if let Err(fault) = &result {
                    rpc_core::trace::record_fault(&recorded, fault);
                }
                match (&id, &result) {
                    (None, Ok(_)) => tracing::debug!(?peer, method, "notification handled"),
                    (None, Err(f)) => tracing::debug!(?peer, method, code = f.code, "notification failed (no reply)"),
                    (Some(_), Ok(_)) => tracing::debug!(?peer, method, "call answered"),
                    (Some(_), Err(f)) => tracing::debug!(?peer, method, code = f.code, "call answered with an error"),
                }
                id.map(|id| (id, result))
            },
            span,
        ))
    }
}

/// A request's params array, still in its body: read straight through the codec's deserializer, or as values.
struct JsonParams<'a> {
    /// The deserializer over them, made (and their nesting checked) already.
    de: Option<codec::typed::Deserializer<'a>>,
    json: &'a [u8],
    max_depth: usize,
}

impl WireParams for JsonParams<'_> {
    fn read(&mut self, read: &mut dyn FnMut(&mut dyn erased_serde::Deserializer<'_>) -> bool) -> bool {
        let made = self.de.take().map_or_else(|| codec::typed::Deserializer::for_params(self.json, self.max_depth), Ok);
        let Ok(mut de) = made else { return false };
        read(&mut <dyn erased_serde::Deserializer>::erase(&mut de)) && de.end().is_ok()
    }

    fn values(&mut self) -> Result<Vec<Value>, Fault> {
        codec::positional_params(self.json, self.max_depth)
    }
}

fn ready<T: Send + 'static>(value: T) -> BoxFuture<'static, T> {
    Box::pin(std::future::ready(value))
}

/// Named params in the method's positional order. Unknown, repeated or missing names are -32602; left-out
/// `Option` params are nil, and trailing ones are left out.
fn by_name(info: &MethodInfo, named: Map) -> Result<Vec<Value>, Fault> {
    let list = || info.params.iter().map(|p| format!("{}: {}", p.name, p.ty)).collect::<Vec<_>>().join(", ");
    let mut slots: Vec<Option<Value>> = vec![None; info.params.len()];
    for (key, value) in named {
        let name = key.as_str().unwrap_or_default();
        let Some(i) = info.params.iter().position(|p| p.name == name) else {
            return Err(Fault::invalid_params(format!("{} has no param `{name}`; it takes ({})", info.name, list())));
        };
        if slots[i].replace(value).is_some() {
            return Err(Fault::invalid_params(format!("{}: param `{name}` is given twice", info.name)));
        }
    }
    let missing: Vec<String> = info
        .params
        .iter()
        .zip(&slots)
        .filter(|(p, slot)| slot.is_none() && !p.optional)
        .map(|(p, _)| format!("`{}` ({})", p.name, p.ty))
        .collect();
    if !missing.is_empty() {
        let plural = if missing.len() == 1 { "" } else { "s" };
        return Err(Fault::invalid_params(format!("{}: missing param{plural} {}", info.name, missing.join(", "))));
    }
    let given = slots.iter().rposition(Option::is_some).map_or(0, |i| i + 1);
    Ok(slots.into_iter().take(given).map(Option::unwrap_or_default).collect())
}

#[cfg(test)]
mod tests {
    use rpc_core::ParamInfo;

    use super::*;

    static PARAMS: [ParamInfo; 3] = [
        ParamInfo::new("a", "i64", false),
        ParamInfo::new("b", "String", false),
        ParamInfo::new("c", "Option<i64>", true),
    ];

    fn named(pairs: &[(&str, Value)]) -> Map {
        pairs.iter().map(|(k, v)| (*k, v.clone())).collect()
    }

    #[test]
    fn named_params_take_their_positions() {
        let info = MethodInfo::new("m", &PARAMS, "()", "");
        let got = by_name(&info, named(&[("b", "x".into()), ("a", 1.into())])).unwrap();
        assert_eq!(got, [Value::Int(1), Value::from("x")]);
        let got = by_name(&info, named(&[("c", 3.into()), ("b", "x".into()), ("a", 1.into())])).unwrap();
        assert_eq!(got, [Value::Int(1), Value::from("x"), Value::Int(3)]);
        let err = by_name(&info, named(&[("a", 1.into()), ("z", 1.into())])).unwrap_err();
        assert_eq!(err.code, Fault::INVALID_PARAMS);
        assert!(err.message.contains("no param `z`") && err.message.contains("a: i64, b: String"), "{err}");
        let err = by_name(&info, named(&[("c", 1.into())])).unwrap_err();
        assert!(err.message.contains("missing params `a` (i64), `b` (String)"), "{err}");
        let err = by_name(&info, named(&[("a", 1.into()), ("a", 2.into())])).unwrap_err();
        assert!(err.message.contains("given twice"), "{err}");
    }
}

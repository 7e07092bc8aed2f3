//! JSON-RPC 2.0 on duplex transports: TCP, Unix sockets and stdio, on the shared engine (`rpc-engine`), with
//! pipelined answers in the order they finish and calls in both directions.
//!
//! Each message is one JSON text per line (newline-delimited, what most socket peers send), or framed with
//! LSP's `Content-Length: N\r\n\r\n` header (what language servers and editors speak, on stdio above all). A
//! server tells them apart by each connection's first byte and answers the same way; a client writes lines
//! unless told otherwise ([`ClientBuilder::framing`](rpc_engine::ClientBuilder::framing)); stdio is
//! `Content-Length` framed.
//!
//! Everything JSON-RPC over HTTP does holds here too (batches, notifications, named params, ids echoed byte for
//! byte, `rpc.discover`, the same error codes and value spellings), and handlers find a [`Peer`] in their
//! context to call the client back, which answers with the [`Dispatch`] it registered
//! ([`ClientBuilder::handler`](rpc_engine::ClientBuilder::handler)).
//!
//! Stream methods ([`rpc_core::stream`]) are subscriptions by jsonrpsee's convention, so that its clients (and
//! Ethereum tooling) work unchanged: `subscribe_<name>` answers an id, each item is
//! `{"jsonrpc":"2.0","method":"<name>","params":{"subscription":ID,"result":ITEM}}`, and the end is the same
//! with `"error"` in place of `"result"` (`null` for a stream that finished, the error object for one that
//! failed), as jsonrpsee 0.26 closes its own clients' subscriptions (`SubscriptionError` in `jsonrpsee-types`);
//! `unsubscribe_<name>` with `[ID]` answers `true`, or `false` for an unknown id. A notification of that shape
//! (named params of exactly `subscription` and `result` or `error`) is read as a subscription's message; with
//! no subscription of its name on the connection it goes to the dispatcher with the params object as its one
//! positional param.
//!
//! ```
//! use rpc_core::service;
//!
//! #[service]
//! pub trait Services {
//!     /// Returns num * 2.
//!     async fn double(&self, num: i64) -> i64;
//! }
//!
//! struct Doubler;
//! impl Services for Doubler {
//!     async fn double(&self, num: i64) -> i64 { num * 2 }
//! }
//!
//! #[tokio::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//!     let addr = listener.local_addr()?;
//!     tokio::spawn(rpc_json::duplex::Server::new(ServicesServer::new(Doubler)).serve(listener));
//!
//!     let client = ServicesClient::new(rpc_json::duplex::Client::connect(addr).await?);
//!     assert_eq!(client.double(9).await?, 18);
//!     Ok(())
//! }
//! ```
//!
//! A handler calls the client back through the connection's [`Peer`]:
//!
//! ```
//! use rpc_core::{Context, Fault, service};
//! use rpc_json::duplex::{Client, Peer, Server};
//!
//! #[service]
//! pub trait Editor {
//!     /// Asks the connected client for the text of `path`.
//!     async fn open(&self, path: String, cx: &Context) -> Result<String, Fault>;
//! }
//!
//! struct Impl;
//!
//! impl Editor for Impl {
//!     async fn open(&self, path: String, cx: &Context) -> Result<String, Fault> {
//!         let peer = cx.get::<Peer>().ok_or_else(|| Fault::internal_error("no way back"))?;
//!         let text = peer.call("read_file", vec![path.into()]).await.map_err(|e| Fault::internal_error(e.to_string()))?;
//!         Ok(text.as_str().unwrap_or_default().to_owned())
//!     }
//! }
//!
//! #[tokio::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//!     let url = format!("ws://{}/", listener.local_addr()?);
//!     tokio::spawn(Server::new(EditorServer::new(Impl)).serve_ws(listener));
//!     let client = EditorClient::new(Client::connect_ws(&url).await?);
//!     let _ = client.open("README.md").await; // -32601 from the client: it registered no read_file
//!     Ok(())
//! }
//! ```
//!
//! On the wire, `printf '{"jsonrpc":"2.0","method":"double","params":[9],"id":1}\n' | nc 127.0.0.1 PORT` is
//! answered with the line `{"jsonrpc":"2.0","result":18,"id":1}`.
//!
//! Cancellation, LSP's way: the notification `{"jsonrpc":"2.0","method":"$/cancelRequest","params":{"id":ID}}`
//! drops the handler of call `ID` (matched as its id was written) and answers it with error -32800
//! ([`Fault::REQUEST_CANCELLED`](rpc_core::Fault::REQUEST_CANCELLED)); an unknown id is ignored, and the
//! notification never reaches the dispatcher. [`Client`] sends it for a call whose future is dropped before its
//! answer (a caller's timeout, the call timeout).
//!
//! Bad input: a message that is not JSON, or not a valid request, is answered with a JSON-RPC error (-32700 or
//! -32600, with the request's id where it could be read, else `null`) and the connection goes on; bytes that
//! break the framing (a line or body over `max_message_size`, a `Content-Length` header that cannot be read)
//! get one error with id `null`, and the connection is closed.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use bytes::{Bytes, BytesMut};
use rpc_core::encoding::{Param, Reply, erased_serde};
use rpc_core::{BoxFuture, Context, Dispatch, Fault, Value};
use rpc_engine::{
    Answered, CANCEL_METHOD, Framing, Incoming, Limits, OutParams, Params, Part, Protocol, Push, Pushed, PushedEvent,
    RawPart, RequestId, method_name,
};
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::codec::{self, Id, typed};
use crate::server::{DEFAULT_MAX_BATCH, Inner};
use crate::{Error, discover};

pub use rpc_engine::{Peer, TextFraming};

/// The JSON-RPC server on duplex transports: the engine's [`Server`](rpc_engine::Server) speaking JSON-RPC
/// ([`serve`](rpc_engine::Server::serve) on a TCP or Unix listener, [`serve_stdio`](rpc_engine::Server::serve_stdio),
/// [`serve_connection`](rpc_engine::Server::serve_connection) on any stream). [`JsonRpcSettings`] adds
/// JSON-RPC's own settings.
pub type Server<D> = rpc_engine::Server<D, JsonRpc>;

/// The JSON-RPC client on duplex transports: one connection, pipelined, that can answer the server's calls.
pub type Client = rpc_engine::Client<JsonRpc>;

/// Settings for a duplex [`Client`], and the handler that answers the server's calls.
pub type ClientBuilder = rpc_engine::ClientBuilder<JsonRpc>;

/// JSON-RPC 2.0 as the duplex engine runs it.
#[derive(Clone)]
pub struct JsonRpc {
    introspection: bool,
    max_batch: usize,
    /// What serves batches, named params and `rpc.discover` (the HTTP server's own code), made once per
    /// dispatcher (keyed by its address) rather than once per message.
    whole: Arc<Mutex<Option<Cached>>>,
}

/// The server of whole messages, with the address of the dispatcher it serves.
type Cached = (usize, Arc<Whole>);

/// The HTTP server's own code, serving whole messages for one dispatcher.
type Whole = Inner<Arc<dyn Dispatch>>;

impl Default for JsonRpc {
    fn default() -> JsonRpc {
        JsonRpc { introspection: true, max_batch: DEFAULT_MAX_BATCH, whole: Arc::default() }
    }
}

impl fmt::Debug for JsonRpc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JsonRpc")
            .field("introspection", &self.introspection)
            .field("max_batch", &self.max_batch)
            .finish_non_exhaustive()
    }
}

/// The settings a duplex JSON-RPC [`Server`] has beyond the engine's.
pub trait JsonRpcSettings {
    /// The most requests one batch may carry (default [`DEFAULT_MAX_BATCH`], 1000); a larger batch is answered
    /// with one -32600 error.
    fn max_batch(self, requests: usize) -> Self;

    /// Answer `rpc.discover` with an OpenRPC document of the methods (default on).
    fn introspection(self, on: bool) -> Self;
}

impl<D: Dispatch> JsonRpcSettings for Server<D> {
    fn max_batch(self, requests: usize) -> Self {
        self.map_protocol(|p| {
            p.max_batch = requests;
            p.whole = Arc::default();
        })
    }

    fn introspection(self, on: bool) -> Self {
        self.map_protocol(|p| {
            p.introspection = on;
            p.whole = Arc::default();
        })
    }
}

/// Which members a message has, to tell a response from a request without reading it.
#[derive(Deserialize)]
struct Members<'a> {
    #[serde(borrow, default)]
    method: Option<&'a RawValue>,
    #[serde(borrow, default)]
    result: Option<&'a RawValue>,
    #[serde(borrow, default)]
    error: Option<&'a RawValue>,
}

/// The id this side sent a call with, from a response's id.
fn our_id(id: &Id) -> Option<u32> {
    id.as_json().parse().ok()
}

/// The id a request is answered with.
fn wire_id(id: &RequestId) -> Id {
    match id.as_raw() {
        Some(raw) => Id::from_text(String::from_utf8_lossy(raw).into_owned()),
        None => id.as_number().map_or_else(Id::null, Id::number),
    }
}

fn request_id(id: &Id) -> RequestId {
    RequestId::raw(Bytes::copy_from_slice(id.as_json().as_bytes()))
}

/// The peer's `$/cancelRequest` notification in `frame`: the call it names, by LSP's `{"id": ID}` (or `[ID]`),
/// matched to the request's id as written. Params without an id are ignored, as an unknown id is.
fn cancel(frame: &[u8]) -> Incoming {
    #[derive(serde::Deserialize)]
    struct Note<'a> {
        #[serde(borrow)]
        params: Option<&'a RawValue>,
    }
    #[derive(serde::Deserialize)]
    struct Named<'a> {
        #[serde(borrow)]
        id: &'a RawValue,
    }
    let params = serde_json::from_slice::<Note<'_>>(frame).ok().and_then(|note| note.params);
    let id = params.and_then(|params| match params.get().as_bytes().first() {
        Some(b'{') => serde_json::from_str::<Named<'_>>(params.get()).ok().map(|named| named.id),
        Some(b'[') => serde_json::from_str::<(&RawValue,)>(params.get()).ok().map(|(id,)| id),
        _ => None,
    });
    match id.and_then(Id::from_raw) {
        Some(id) => Incoming::Cancel(request_id(&id)),
        None => {
            tracing::debug!("a $/cancelRequest without an id; ignored");
            Incoming::Ignored
        }
    }
}

fn response(id: &Id, result: Result<&Value, &Fault>) -> Bytes {
    let mut out = Vec::with_capacity(128);
    codec::push_response(&mut out, id, "", result);
    Bytes::from(out)
}

impl JsonRpc {
    /// The general reading of a message that is not on the fast paths.
    fn classify_general(&self, frame: Bytes, max_depth: usize) -> Incoming {
        if let Ok(members) = serde_json::from_slice::<Members<'_>>(&frame)
            && members.method.is_none()
            && (members.result.is_some() || members.error.is_some())
        {
            return match codec::decode_response(&frame, max_depth) {
                Ok(codec::Response { id, result }) => match our_id(&id) {
                    Some(id) => Incoming::Response {
                        id,
                        answer: match result {
                            Ok(value) => Answered::Value(value),
                            Err(fault) => Answered::Fault(fault),
                        },
                    },
                    None => {
                        tracing::debug!(id = id.as_json(), "a response for no call of ours; dropped");
                        Incoming::Ignored
                    }
                },
                Err(e) => {
                    tracing::warn!(error = %e, "a response that cannot be read; dropped");
                    Incoming::Ignored
                }
            };
        }
        match codec::decode_request(&frame, max_depth) {
            Ok(codec::Request { id: None, method, .. }) if method == CANCEL_METHOD => cancel(&frame),
            Ok(codec::Request { id, method, params: codec::Params::Positional(params) }) => match id {
                Some(id) => {
                    Incoming::Request { id: request_id(&id), method: method.into(), params: Params::Values(params) }
                }
                None => Incoming::Notification { method: method.into(), params: Params::Values(params) },
            },
            // A subscription's message, jsonrpsee's shape: `{"subscription": ID, "result": ITEM}` (or `"error"`),
            // read by the engine as its subscription's when it has one of that name.
            Ok(codec::Request { id: None, method, params: codec::Params::Named(params) })
                if params.len() == 2
                    && params.get_str("subscription").is_some()
                    && (params.get_str("result").is_some() || params.get_str("error").is_some()) =>
            {
                Incoming::Notification { method: method.into(), params: Params::Values(vec![Value::Map(params)]) }
            }
            // Named params are matched to the method's param names by the code HTTP serves them with.
            Ok(codec::Request { params: codec::Params::Named(_), .. }) => Incoming::Whole(frame),
            Err((id, fault)) => {
                tracing::debug!(id = id.as_json(), code = fault.code, message = fault.message, "invalid request");
                Incoming::Reply(response(&id, Err(&fault)))
            }
        }
    }

    /// The server of whole messages for `dispatch`.
    fn whole(&self, dispatch: &Arc<dyn Dispatch>, limits: Limits) -> Arc<Whole> {
        let key = Arc::as_ptr(dispatch).cast::<()>() as usize;
        let mut cache = self.whole.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((k, inner)) = &*cache
            && *k == key
        {
            return inner.clone();
        }
        let inner = Arc::new(Inner::new(
            Arc::new(dispatch.clone()),
            self.introspection,
            limits.max_depth,
            self.max_batch,
            limits.handler_timeout,
        ));
        *cache = Some((key, inner.clone()));
        inner
    }
}

impl Protocol for JsonRpc {
    fn rpc_system(&self) -> &'static str {
        "jsonrpc"
    }

    fn name(&self) -> &'static str {
        "JSON-RPC"
    }

    /// Servers tell line-delimited and `Content-Length` framing apart by the first byte.
    fn framing(&self, max_message_size: usize, _: usize) -> Framing {
        Framing::detect(max_message_size)
    }

    fn client_framing(&self, max_message_size: usize, _: usize) -> Framing {
        Framing::lines(max_message_size)
    }

    fn stdio_framing(&self, max_message_size: usize, _: usize) -> Framing {
        Framing::content_length(max_message_size)
    }

    fn classify(&self, frame: Bytes, max_depth: usize) -> Incoming {
        if frame.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[') {
            return Incoming::Whole(frame);
        }
        if let Some(parts) = codec::request_parts(&frame) {
            if self.introspection && parts.method == discover::METHOD {
                return Incoming::Whole(frame);
            }
            if parts.id.is_none() && parts.method == CANCEL_METHOD {
                return cancel(&frame);
            }
            // Params nesting over the limit: refused as HTTP refuses them, with the request's id.
            if let Some(Err(e)) = parts.params.map(|p| codec::check_nesting(p, max_depth.min(codec::MAX_DEPTH), 1)) {
                let id = parts.id.unwrap_or_else(Id::null);
                return Incoming::Reply(response(&id, Err(&e.to_fault())));
            }
            let method = method_name(&frame, parts.method);
            let id = parts.id.as_ref().map(request_id);
            let range = parts.params.map(|p| RawPart::locate(&frame, p));
            let params = match range {
                Some(range) => Params::Raw(RawPart::new(frame, range)),
                None => Params::Values(Vec::new()),
            };
            return match id {
                Some(id) => Incoming::Request { id, method, params },
                None => Incoming::Notification { method, params },
            };
        } else if let Some((id, result)) = codec::response_parts(&frame)
            && let Some(id) = our_id(&id)
        {
            let range = RawPart::locate(&frame, result);
            return Incoming::Response { id, answer: Answered::Raw(RawPart::new(frame, range)) };
        }
        self.classify_general(frame, max_depth)
    }

    fn encode_cancel(&self, id: u32, dst: &mut BytesMut) -> Result<(), rpc_core::Error> {
        dst.extend_from_slice(br#"{"jsonrpc":"2.0","method":"$/cancelRequest","params":{"id":"#);
        dst.extend_from_slice(id.to_string().as_bytes());
        dst.extend_from_slice(b"}}");
        Ok(())
    }

    fn encode_request(
        &self,
        id: Option<u32>,
        method: &str,
        params: OutParams<'_>,
        dst: &mut BytesMut,
    ) -> Result<(), rpc_core::Error> {
        let mut out = request_head(method)?;
        match params {
            OutParams::Encoded(params) => out.extend_from_slice(params),
            OutParams::Values(values) => typed::to_writer(values, &mut out)?,
        }
        if let Some(id) = id {
            out.extend_from_slice(br#","id":"#);
            out.extend_from_slice(id.to_string().as_bytes());
        }
        out.push(b'}');
        dst.extend_from_slice(&out);
        Ok(())
    }

    /// jsonrpsee's shape (its `SubscriptionResponse` and `SubscriptionError`, `jsonrpsee-types` 0.26
    /// `response.rs`): `{"jsonrpc":"2.0","method":NAME,"params":{"subscription":ID,"result":ITEM}}` for an item;
    /// the end as the same with `"error"` in place of `"result"`: `null` when the stream finished, the error
    /// object when it failed. A jsonrpsee client closes its subscription on any `"error"` message.
    fn encode_pushed(
        &self,
        notification: &str,
        subscription: &Value,
        event: Push<'_>,
        dst: &mut BytesMut,
    ) -> Result<(), rpc_core::Error> {
        let mut out = request_head(notification)?;
        out.extend_from_slice(br#"{"subscription":"#);
        typed::to_writer(subscription, &mut out)?;
        match event {
            Push::Item(item) => {
                out.extend_from_slice(br#","result":"#);
                typed::to_writer(item, &mut out)?;
            }
            Push::End(None) => out.extend_from_slice(br#","error":null"#),
            Push::End(Some(fault)) => {
                out.extend_from_slice(br#","error":"#);
                codec::push_error_object(&mut out, fault)?;
            }
        }
        out.extend_from_slice(b"}}");
        dst.extend_from_slice(&out);
        Ok(())
    }

    /// jsonrpsee's shape (see [`encode_pushed`](Protocol::encode_pushed)), as `classify` passes it on: the
    /// params object as the one positional param. An `"error"` that is no error object (jsonrpsee lets a server
    /// send any JSON there, a string say) is an internal error with that text.
    fn read_pushed(&self, params: &Params, _: usize) -> Option<Pushed> {
        let Params::Values(values) = params else { return None };
        let [Value::Map(map)] = values.as_slice() else { return None };
        let subscription = map.get_str("subscription")?.clone();
        let event = match (map.get_str("result"), map.get_str("error")) {
            (Some(item), None) => PushedEvent::Item(Answered::Value(item.clone())),
            (None, Some(Value::Nil)) => PushedEvent::End(None),
            (None, Some(error)) => {
                PushedEvent::End(Some(codec::fault_of_error_value(error).unwrap_or_else(|| match error {
                    Value::String(message) => Fault::new(Fault::INTERNAL_ERROR, message.clone()),
                    other => Fault::internal_error(format!(
                        "the stream failed: {}",
                        codec::encode_value(other).unwrap_or_default()
                    )),
                })))
            }
            _ => return None,
        };
        Some(Pushed { subscription, event })
    }

    fn encode_params(&self, params: &[Param<'_>]) -> Result<Bytes, rpc_core::Error> {
        let mut out = Vec::with_capacity(32);
        typed::to_writer(params, &mut out)?;
        Ok(Bytes::from(out))
    }

    fn encode_response(&self, id: &RequestId, method: &str, result: Result<Reply, Fault>, dst: &mut BytesMut) {
        // The JSON writers append to a `Vec`: the text is written there, then copied (a small copy; the buffer it
        // lands in is shared by the connection's answers).
        let mut out = Vec::with_capacity(128);
        codec::push_response(&mut out, &wire_id(id), method, result.as_ref().map(|reply| reply.as_ref()));
        dst.extend_from_slice(&out);
    }

    fn encode_error(&self, id: Option<&RequestId>, fault: &Fault) -> Option<Bytes> {
        Some(response(&id.map_or_else(Id::null, wire_id), Err(fault)))
    }

    fn deserialize(
        &self,
        part: Part,
        bytes: &[u8],
        max_depth: usize,
        read: &mut dyn FnMut(&mut dyn erased_serde::Deserializer<'_>) -> bool,
    ) -> bool {
        let de = match part {
            Part::Params => typed::Deserializer::for_params(bytes, max_depth),
            Part::Result => typed::Deserializer::new(bytes, max_depth),
        };
        let Ok(mut de) = de else { return false };
        read(&mut <dyn erased_serde::Deserializer>::erase(&mut de)) && de.end().is_ok()
    }

    fn read_params(&self, bytes: &[u8], max_depth: usize) -> Result<Vec<Value>, Fault> {
        // The params array itself does not count against the limit.
        match codec::decode_value(bytes, max_depth.saturating_add(1)) {
            Ok(Value::Array(values)) => Ok(values),
            Ok(other) => {
                Err(Fault::invalid_request(format!("params must be an array or an object, not {}", other.kind())))
            }
            Err(e) => Err(e.to_fault()),
        }
    }

    fn read_value(&self, part: Part, bytes: &[u8], max_depth: usize) -> Result<Value, rpc_core::Error> {
        let depth = match part {
            // The params array itself does not count against the limit.
            Part::Params => max_depth.saturating_add(1),
            Part::Result => max_depth,
        };
        Ok(codec::decode_value(bytes, depth)?)
    }

    fn serve_whole(
        &self,
        dispatch: &Arc<dyn Dispatch>,
        frame: Bytes,
        cx: Context,
        limits: Limits,
    ) -> BoxFuture<'static, Option<Bytes>> {
        let answer = self.whole(dispatch, limits).serve_body(&frame, cx);
        Box::pin(async move { answer.await.map(Bytes::from) })
    }
}

/// The start of a request or notification of `method`, up to its params: `{"jsonrpc":"2.0","method":..,"params":`.
fn request_head(method: &str) -> Result<Vec<u8>, Error> {
    let mut out = Vec::with_capacity(64 + method.len());
    out.extend_from_slice(br#"{"jsonrpc":"2.0","method":"#);
    serde_json::to_writer(&mut out, method).map_err(|e| Error::Encode(e.to_string()))?;
    out.extend_from_slice(br#","params":"#);
    Ok(out)
}

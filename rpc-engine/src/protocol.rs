//! What the engine asks of an encoding: [`Protocol`], the envelopes it reads ([`Incoming`]) and writes, and the
//! parts of a message the engine keeps in wire bytes until a handler or a caller reads them ([`RawPart`]).

use std::fmt;
use std::ops::Range;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
pub use bytestring::ByteString;
use rpc_core::encoding::{Param, Reply, erased_serde};
use rpc_core::{BoxFuture, Context, Dispatch, Fault, Value};

use crate::framing::Framing;

/// An encoding as the duplex engine sees it: how to cut messages from a byte stream (its default
/// [`Framing`]), what a message is ([`classify`](Protocol::classify)), and how to write the three envelopes
/// (request, notification, response). The engine does everything else: msgid matching, pipelining, in-flight
/// bounds, ordered notifications, write batching, calls both ways, drain.
///
/// Everything here is called with `&self` from any connection: per-connection state lives in the
/// [`Framing`]. Methods that read take the connection's nesting limit (`max_depth`).
pub trait Protocol: Send + Sync + fmt::Debug + 'static {
    /// The encoding's name, for logs: `"MessagePack-RPC"`.
    fn name(&self) -> &'static str;

    /// The encoding's `rpc.system`, for the spans of calls (OpenTelemetry's semantic conventions, see
    /// [`rpc_core::trace`]): `"jsonrpc"`, `"msgpack_rpc"`.
    fn rpc_system(&self) -> &'static str;

    /// How messages are cut from a byte stream when the server or client does not say otherwise: a decoder of
    /// the encoding's own (MessagePack values delimit themselves) or one of the engine's framings.
    fn framing(&self, max_message_size: usize, max_depth: usize) -> Framing;

    /// The framing a client starts with (default: [`framing`](Protocol::framing)).
    fn client_framing(&self, max_message_size: usize, max_depth: usize) -> Framing {
        self.framing(max_message_size, max_depth)
    }

    /// The framing a server on stdio uses (default: [`framing`](Protocol::framing)).
    fn stdio_framing(&self, max_message_size: usize, max_depth: usize) -> Framing {
        self.framing(max_message_size, max_depth)
    }

    /// True when messages are binary (MessagePack): on WebSocket they travel in binary frames, else in text
    /// frames.
    fn binary(&self) -> bool {
        false
    }

    /// True when messages delimit themselves (MessagePack values): a client's choice of text framing does not
    /// apply.
    fn self_delimited(&self) -> bool {
        false
    }

    /// What one whole message (a frame, as the framing cut it) is.
    fn classify(&self, frame: Bytes, max_depth: usize) -> Incoming;

    /// Appends a request for call `id` (a notification when `id` is `None`) of `method` with `params`.
    fn encode_request(
        &self,
        id: Option<u32>,
        method: &str,
        params: OutParams<'_>,
        dst: &mut BytesMut,
    ) -> Result<(), rpc_core::Error>;

    /// Appends the notification that cancels this side's call `id` ([`CANCEL_METHOD`]), sent when a call's
    /// future is dropped before its answer (a timeout, the caller gone). The default is the notification with
    /// the positional params `[id]` (MessagePack-RPC's `[2, "$/cancelRequest", [MSGID]]`); JSON-RPC sends LSP's
    /// named `{"id": ID}`.
    fn encode_cancel(&self, id: u32, dst: &mut BytesMut) -> Result<(), rpc_core::Error> {
        self.encode_request(None, CANCEL_METHOD, OutParams::Values(&[Value::from(id)]), dst)
    }

    /// The params of a typed call, encoded as the `params` of a request ([`OutParams::Encoded`]): straight to
    /// the wire, or through values where that fails.
    fn encode_params(&self, params: &[Param<'_>]) -> Result<Bytes, rpc_core::Error>;

    /// Appends the response to request `id` of `method` to `dst`: its result (a handler's reply, or a value the
    /// engine answers with itself, boxed) or a fault. A result that cannot be encoded is answered with an internal-error fault instead.
    /// (`dst` is the connection's output buffer, which its answers are split from: appending there makes no
    /// allocation per answer.)
    fn encode_response(&self, id: &RequestId, method: &str, result: Result<Reply, Fault>, dst: &mut BytesMut);

    /// The error reply to a message that could not be read as a request: to the request `id` where its id
    /// was readable, else (`None`) the encoding's reply with no id, if it has one (JSON-RPC's `"id": null`;
    /// MessagePack-RPC has none).
    fn encode_error(&self, id: Option<&RequestId>, fault: &Fault) -> Option<Bytes>;

    /// Reads `bytes` (a request's params or a response's result, as [`classify`](Protocol::classify) kept them)
    /// with the encoding's straight deserializer, giving it to `read`; true when `read` succeeded and the
    /// bytes were read to their end. False sends the engine to the value path
    /// ([`read_value`](Protocol::read_value)), which decides.
    fn deserialize(
        &self,
        part: Part,
        bytes: &[u8],
        max_depth: usize,
        read: &mut dyn FnMut(&mut dyn erased_serde::Deserializer<'_>) -> bool,
    ) -> bool;

    /// Reads a request's params (as [`classify`](Protocol::classify) kept them) as positional values; a params
    /// text that cannot be read at all is the fault the call is answered with.
    fn read_params(&self, bytes: &[u8], max_depth: usize) -> Result<Vec<Value>, Fault>;

    /// Reads `bytes` (as for [`deserialize`](Protocol::deserialize)) as a value.
    fn read_value(&self, part: Part, bytes: &[u8], max_depth: usize) -> Result<Value, rpc_core::Error>;

    /// Appends a message of the subscription `subscription` (an id this side gave it) to a stream whose items go
    /// out as the notification `notification`: an item, or the end. The default is MessagePack-RPC's shape, the
    /// notification with positional params: `[ID, ITEM]` for an item, `[ID, nil, nil]` for the end of a stream
    /// and `[ID, nil, ERROR]` for a stream that failed, the error as the encoding writes a fault's (see
    /// [`fault_value`]). JSON-RPC writes jsonrpsee's `{"subscription": ID, "result": ITEM}`.
    fn encode_pushed(
        &self,
        notification: &str,
        subscription: &Value,
        event: Push<'_>,
        dst: &mut BytesMut,
    ) -> Result<(), rpc_core::Error> {
        let params = match event {
            Push::Item(item) => self.encode_params(&[subscription, item])?,
            Push::End(None) => self.encode_params(&[subscription, &Value::Nil, &Value::Nil])?,
            Push::End(Some(fault)) => self.encode_params(&[subscription, &Value::Nil, &fault_value(fault)])?,
        };
        self.encode_request(None, notification, OutParams::Encoded(&params), dst)
    }

    /// Reads the params of a notification named as one of this side's subscriptions' as a message of that
    /// subscription (what [`encode_pushed`](Protocol::encode_pushed) writes); `None` when they have another shape
    /// (the notification then goes to the dispatcher as any other). The default reads the positional shape.
    fn read_pushed(&self, params: &Params, max_depth: usize) -> Option<Pushed> {
        let values = match params {
            Params::Values(values) => values.clone(),
            Params::Raw(raw) => self.read_params(raw.bytes(), max_depth).ok()?,
        };
        let mut values = values.into_iter();
        let (subscription, first, error) = (values.next()?, values.next()?, values.next());
        if values.next().is_some() {
            return None;
        }
        let event = match error {
            None => PushedEvent::Item(Answered::Value(first)),
            Some(Value::Nil) if first == Value::Nil => PushedEvent::End(None),
            Some(error) if first == Value::Nil => PushedEvent::End(Some(fault_from_value(error))),
            Some(_) => return None,
        };
        Some(Pushed { subscription, event })
    }

    /// Serves a message the encoding answers as a whole ([`Incoming::Whole`]: a JSON-RPC batch, say) with
    /// `dispatch`: the answer to send, if any. Each call in it runs for up to `handler_timeout`. The default
    /// answers nothing.
    fn serve_whole(
        &self,
        dispatch: &Arc<dyn Dispatch>,
        frame: Bytes,
        cx: Context,
        limits: Limits,
    ) -> BoxFuture<'static, Option<Bytes>> {
        let _ = (dispatch, frame, cx, limits);
        Box::pin(std::future::ready(None))
    }
}

/// What [`Protocol::encode_pushed`] writes: one item of a subscription, or its end.
#[derive(Clone, Copy)]
#[allow(missing_debug_implementations)]
pub enum Push<'a> {
    /// An item, serialised straight to the wire.
    Item(Param<'a>),
    /// The end of the stream: `None` when it finished, else the fault it failed with.
    End(Option<&'a Fault>),
}

/// A message of one of this side's subscriptions, as [`Protocol::read_pushed`] reads it.
#[derive(Debug)]
pub struct Pushed {
    /// The subscription's id, as the peer gave it.
    pub subscription: Value,
    /// An item or the end.
    pub event: PushedEvent,
}

/// What a [`Pushed`] message says.
#[derive(Debug)]
pub enum PushedEvent {
    /// An item, still in the encoding's hands (read as the caller's type when it asks).
    Item(Answered),
    /// The stream ended: `None` when it finished, else with this fault.
    End(Option<Fault>),
}

/// A fault as the value the positional subscription shape carries (see [`Protocol::encode_pushed`]):
/// `[code, message]`, with the fault's data as a third element when it has some (MessagePack-RPC's error
/// shape).
pub fn fault_value(fault: &Fault) -> Value {
    let mut parts = vec![Value::from(fault.code), Value::from(fault.message.as_str())];
    if let Some(data) = &fault.data {
        parts.push((**data).clone());
    }
    Value::Array(parts)
}

/// The fault a subscription's end carries, read from its value: `[code, message]` or `[code, message, data]`
/// as [`fault_value`] writes it, or a string (the message of an internal error); anything else is an internal
/// error that shows the value.
pub fn fault_from_value(value: Value) -> Fault {
    match value {
        Value::Array(mut parts) if (2..=3).contains(&parts.len()) => {
            let data = if parts.len() == 3 { parts.pop() } else { None };
            match (parts[0].as_i64(), &parts[1]) {
                (Some(code), Value::String(message)) => {
                    let fault = Fault::new(code, message.clone());
                    match data {
                        Some(data) => fault.with_data(data),
                        None => fault,
                    }
                }
                _ => Fault::internal_error(format!("the stream failed: {:?}", Value::Array(parts))),
            }
        }
        Value::String(message) => Fault::new(Fault::INTERNAL_ERROR, message),
        other => Fault::internal_error(format!("the stream failed: {other:?}")),
    }
}

/// The notification that cancels a call, by LSP's convention (its `RequestCancelled` is
/// [`Fault::REQUEST_CANCELLED`]): the encodings read it as [`Incoming::Cancel`], so that it never reaches user
/// code or introspection.
pub const CANCEL_METHOD: &str = "$/cancelRequest";

/// What one message is, as [`Protocol::classify`] reads it.
#[derive(Debug)]
#[non_exhaustive]
pub enum Incoming {
    /// A call that wants an answer.
    Request {
        /// The id to answer it with.
        id: RequestId,
        /// The method called (see [`method_name`]).
        method: ByteString,
        /// Its params.
        params: Params,
    },
    /// A call that wants no answer.
    Notification {
        /// The method called (see [`method_name`]).
        method: ByteString,
        /// Its params.
        params: Params,
    },
    /// The answer to one of this side's calls.
    Response {
        /// The id this side sent the call with.
        id: u32,
        /// The answer.
        answer: Answered,
    },
    /// A well-framed message that is no valid call but can be answered: send this reply (an invalid request
    /// whose id was readable, say). The connection goes on.
    Reply(Bytes),
    /// A message the encoding serves as a whole ([`Protocol::serve_whole`]): a batch, or a call that needs
    /// more than a method name and positional params (JSON-RPC's named params and `rpc.discover`).
    Whole(Bytes),
    /// The peer cancels its call `id` (LSP's `$/cancelRequest` notification, [`CANCEL_METHOD`]): the engine
    /// drops the call's handler and answers it with [`Fault::REQUEST_CANCELLED`]; an id of no call running or
    /// waiting is ignored. It never reaches the dispatcher.
    Cancel(RequestId),
    /// Nothing to do (a response for no call of ours, say; the encoding has logged it).
    Ignored,
    /// Not a message of this encoding at all: the connection is closed with this reason.
    Invalid(String),
}

/// Which part of a message bytes kept by [`classify`](Protocol::classify) are: encodings may count their
/// nesting differently (JSON-RPC does not count a params array against the depth limit).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Part {
    /// A request's params.
    Params,
    /// A response's result.
    Result,
}

/// The connection's limits, for [`Protocol::serve_whole`].
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct Limits {
    /// How deeply values may nest.
    pub max_depth: usize,
    /// How long one call may run.
    pub handler_timeout: Option<std::time::Duration>,
}

/// A request's params: kept in wire bytes (read straight into the handler's types on the typed path), or
/// already read as values.
#[derive(Debug)]
pub enum Params {
    /// The bytes of the params, as [`Protocol::deserialize`] and [`Protocol::read_value`] read them.
    Raw(RawPart),
    /// The params, positional.
    Values(Vec<Value>),
}

/// An answer to one of this side's calls.
#[derive(Debug)]
pub enum Answered {
    /// The bytes of a successful result, as [`Protocol::deserialize`] and [`Protocol::read_value`] read them.
    Raw(RawPart),
    /// A successful result, already read.
    Value(Value),
    /// The peer's error reply, as a fault.
    Fault(Fault),
}

/// The params of an outgoing call, for [`Protocol::encode_request`].
#[derive(Clone, Copy, Debug)]
pub enum OutParams<'a> {
    /// Positional values.
    Values(&'a [Value]),
    /// Params already encoded by [`Protocol::encode_params`].
    Encoded(&'a [u8]),
}

/// The id of a request from the peer, as the encoding reads and echoes it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RequestId(IdRepr);

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum IdRepr {
    Number(u64),
    Raw(Bytes),
}

impl RequestId {
    /// An id that is a number (a MessagePack-RPC msgid).
    pub fn number(id: u64) -> RequestId {
        RequestId(IdRepr::Number(id))
    }

    /// An id kept as its wire bytes, to be echoed byte for byte (a JSON-RPC id).
    pub fn raw(bytes: Bytes) -> RequestId {
        RequestId(IdRepr::Raw(bytes))
    }

    /// The number, for an id made by [`number`](RequestId::number).
    pub fn as_number(&self) -> Option<u64> {
        match &self.0 {
            IdRepr::Number(n) => Some(*n),
            IdRepr::Raw(_) => None,
        }
    }

    /// The wire bytes, for an id made by [`raw`](RequestId::raw).
    pub fn as_raw(&self) -> Option<&[u8]> {
        match &self.0 {
            IdRepr::Raw(bytes) => Some(bytes),
            IdRepr::Number(_) => None,
        }
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            IdRepr::Number(n) => write!(f, "{n}"),
            IdRepr::Raw(bytes) => f.write_str(&String::from_utf8_lossy(bytes)),
        }
    }
}

/// A part of a message kept in wire bytes: the message and where the part lies in it (the message is moved
/// here, not shared: sharing a buffer's bytes costs an allocation per message).
pub struct RawPart {
    message: Bytes,
    range: Range<usize>,
}

/// `name`, a method name read from `message`, as the [`ByteString`] an [`Incoming`] carries: sharing `message`'s
/// bytes when it is a slice of them (no allocation per call), else a copy (a name that had escapes, say).
pub fn method_name(message: &Bytes, name: &str) -> ByteString {
    let range = RawPart::locate(message, name.as_bytes());
    if range.len() == name.len()
        && let Ok(shared) = ByteString::try_from(message.slice(range))
    {
        return shared;
    }
    ByteString::from(name)
}

impl RawPart {
    /// The part of `message` at `range`.
    pub fn new(message: Bytes, range: Range<usize>) -> RawPart {
        RawPart { message, range }
    }

    /// Where `part`, a slice of `whole`, lies in it (an empty range at 0 if it is not one): for
    /// [`new`](RawPart::new), found before the message is moved in.
    pub fn locate(whole: &[u8], part: &[u8]) -> Range<usize> {
        let start = (part.as_ptr() as usize).wrapping_sub(whole.as_ptr() as usize);
        if start <= whole.len() && part.len() <= whole.len() - start { start..start + part.len() } else { 0..0 }
    }

    /// The part's bytes.
    pub fn bytes(&self) -> &[u8] {
        self.message.get(self.range.clone()).unwrap_or_default()
    }
}

impl fmt::Debug for RawPart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawPart").field("len", &self.range.len()).finish_non_exhaustive()
    }
}

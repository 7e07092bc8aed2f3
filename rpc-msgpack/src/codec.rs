//! The MessagePack codec: [`Codec`] cuts a byte stream into [`Value`]s and writes them back (a tokio-util
//! [`Decoder`] and [`Encoder`]), and [`Message`] reads and writes the MessagePack-RPC envelopes in them.
//!
//! Decoding takes two steps, so that nothing a peer declares is allocated before it has arrived:
//!
//! 1. A resumable scan walks the headers of the next object as bytes arrive. It keeps its place between calls
//!    (the offset scanned so far and, per open array or map, how many items are still to come), so a message
//!    that trickles in is never re-parsed from its start. Every declared length (str, bin, ext, and the item
//!    counts of arrays and maps, each item taking at least one byte) is checked against the size limit before
//!    the scan goes on, and every array or map against the depth limit. The only memory the scan uses is that
//!    stack of counts, at most `max_depth` long.
//! 2. Once the whole object is in the buffer, it is split off (no copy) and read by the codec's one serde
//!    deserializer ([`typed::from_slice`]): into a [`Value`], or straight into any Rust type. Its recursion is
//!    bounded by the depth limit, and every length it reads has been seen to fit in the bytes at hand.
//!
//! Encoding is the one serde serializer ([`typed::to_writer`]) for values and Rust types alike, its recursion
//! bounded by [`typed::MAX_SERIALIZE_DEPTH`].
//!
//! # Type mapping
//! | MessagePack | [`Value`] |
//! |---|---|
//! | nil, bool, float 32/64 | `Nil`, `Bool`, `Float` (float 32 widened; floats always go out as float 64) |
//! | int and uint of any width | `Int`, or `UInt` above `i64::MAX` (both extremes survive) |
//! | str | `String`; a str that is not UTF-8 (Vim strings are bytes) becomes `Bytes`, keeping the data |
//! | bin | `Bytes` |
//! | array, map | `Array`, `Map` (keys of any type, order kept) |
//! | ext (including the timestamp, -1) | `Ext` (type and bytes, opaquely) |
//!
//! [`Value::DateTime`] (an XML-RPC type) goes out as a str in its `YYYYMMDDTHH:MM:SS` form.
//!
//! [`Value`] is an ordinary serde type through [`typed`]: the mapping above is what its serializer and
//! deserializer do with one, and any other serde type goes straight to these bytes and back by the same code.

use bytes::{BufMut, Bytes, BytesMut};
use rmp::Marker;
use rpc_core::{Fault, Value};
use tokio_util::codec::{Decoder, Encoder};

use rpc_core::encoding::Param;
use serde::Serialize;

use crate::Error;

pub mod typed;

/// The default limit on how deeply arrays and maps nest in one message: 64 (the message's own array counts as
/// one level, its params array as another).
pub const DEFAULT_MAX_DEPTH: usize = 64;

/// The fault code given to a peer's error object that carries no integer code of its own (a bare string, a map
/// without `code`, ...): -32000, the first of JSON-RPC's implementation-defined server error codes. See
/// [`error_to_fault`].
pub const GENERIC_ERROR_CODE: i64 = -32000;

/// The room encoders start with: most messages fit, and those that do are written without growing the buffer.
pub(crate) const SMALL_MESSAGE: usize = 64;

const REQUEST: u8 = 0;
const RESPONSE: u8 = 1;
const NOTIFICATION: u8 = 2;

/// Frames a byte stream into MessagePack objects, with a size and a depth limit.
///
/// As a [`Decoder`] it returns `Ok(None)` ("need more bytes") until a whole object has arrived, resuming its
/// scan where it stopped; an object over a limit, or bytes that are not MessagePack, are an error after which
/// the stream cannot be read further (the codec does not try to resynchronise). As an [`Encoder`] it writes
/// [`Value`]s and [`Message`]s.
///
/// ```
/// use bytes::BytesMut;
/// use rpc_core::Value;
/// use rpc_msgpack::codec::Codec;
/// use tokio_util::codec::Decoder;
///
/// let mut codec = Codec::new(1024, 8);
/// let mut buf = BytesMut::from(&[0x92, 0x01][..]); // [1, ... (one item still to come)
/// assert_eq!(codec.decode(&mut buf).unwrap(), None);
/// buf.extend_from_slice(&[0xa2, b'h', b'i']); // ..."hi"]
/// assert_eq!(codec.decode(&mut buf).unwrap(), Some(Value::Array(vec![1.into(), "hi".into()])));
///
/// // A str declaring 4 GiB is refused at once, before anything is allocated.
/// let mut buf = BytesMut::from(&[0xdb, 0xff, 0xff, 0xff, 0xff][..]);
/// assert!(matches!(codec.decode(&mut buf), Err(rpc_msgpack::Error::TooLarge { .. })));
/// ```
#[derive(Debug, Clone)]
pub struct Codec {
    max_message_size: usize,
    max_depth: usize,
    /// Bytes of the current object scanned so far (each header is scanned whole, or not at all).
    scanned: usize,
    /// Per open array or map, the number of items still to come (a map's entries count twice).
    open: Vec<u64>,
}

impl Codec {
    /// A codec that refuses objects larger than `max_message_size` bytes or nesting arrays and maps more than
    /// `max_depth` deep (a limit below 1 is taken as 1).
    pub fn new(max_message_size: usize, max_depth: usize) -> Codec {
        let max_depth = max_depth.max(1);
        Codec { max_message_size, max_depth, scanned: 0, open: Vec::with_capacity(max_depth.min(16)) }
    }

    /// The size limit, in bytes.
    pub fn max_message_size(&self) -> usize {
        self.max_message_size
    }

    /// The depth limit.
    pub fn max_depth(&self) -> usize {
        self.max_depth
    }

    /// Scans on from where the last call stopped; the length of the first object once it is all in `buf`.
    fn scan(&mut self, buf: &[u8]) -> Result<Option<usize>, Error> {
        let limit = self.max_message_size;
        loop {
            let at = self.scanned;
            let Some(head) = Head::read(buf.get(at..).unwrap_or_default())? else {
                return Ok(None);
            };
            let body = (at + head.len) as u64;
            match head.items {
                Some(items) => {
                    if self.open.len() >= self.max_depth {
                        return Err(Error::TooDeep { limit: self.max_depth });
                    }
                    // Each item takes at least one byte: a count that cannot fit is refused now.
                    let at_least = body.saturating_add(items);
                    if at_least > limit as u64 {
                        return Err(Error::TooLarge { at_least, limit });
                    }
                    self.scanned = at + head.len;
                    if items > 0 {
                        self.open.push(items);
                        continue;
                    }
                }
                None => {
                    let end = body.saturating_add(head.payload);
                    if end > limit as u64 {
                        return Err(Error::TooLarge { at_least: end, limit });
                    }
                    if end > buf.len() as u64 {
                        return Ok(None);
                    }
                    // `end` is within `buf`, so it fits in a usize.
                    self.scanned = end as usize;
                }
            }
            // One object is complete: close every container it completes.
            loop {
                let Some(left) = self.open.last_mut() else {
                    return Ok(Some(self.scanned));
                };
                *left -= 1;
                if *left > 0 {
                    break;
                }
                self.open.pop();
            }
        }
    }
}

impl Codec {
    /// Cuts the next whole object off `src`, unread: its length and depth are checked, its contents not yet
    /// (see [`read`](Codec::read), or the [`typed`] path). `None` until it is all there.
    pub fn decode_frame(&mut self, src: &mut BytesMut) -> Result<Option<BytesMut>, Error> {
        let Some(len) = self.scan(src)? else {
            return Ok(None);
        };
        self.scanned = 0;
        self.open.clear();
        // The whole buffer is taken as it is when it holds just this object: cutting it would make it shared,
        // which costs an allocation.
        Ok(Some(if len == src.len() { std::mem::take(src) } else { src.split_to(len) }))
    }

    /// Reads the value of one whole object, as [`decode_frame`](Codec::decode_frame) cuts them: through
    /// [`typed::from_slice`] with [`Value`] as the type, within the codec's depth limit.
    pub fn read(&mut self, frame: &[u8]) -> Result<Value, Error> {
        typed::from_slice(frame, self.max_depth)
    }
}

impl Decoder for Codec {
    type Item = Value;
    type Error = Error;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Value>, Error> {
        match self.decode_frame(src)? {
            Some(frame) => self.read(&frame).map(Some),
            None => Ok(None),
        }
    }
}

impl Encoder<&Value> for Codec {
    type Error = Error;

    fn encode(&mut self, item: &Value, dst: &mut BytesMut) -> Result<(), Error> {
        encode_value(item, dst)
    }
}

impl Encoder<&Message> for Codec {
    type Error = Error;

    fn encode(&mut self, item: &Message, dst: &mut BytesMut) -> Result<(), Error> {
        item.encode(dst)
    }
}

/// One object's header: its length, the payload bytes after it, and for an array or map its item count.
struct Head {
    len: usize,
    payload: u64,
    items: Option<u64>,
}

impl Head {
    /// The header at the start of `buf`, or `None` until all of its bytes are there.
    fn read(buf: &[u8]) -> Result<Option<Head>, Error> {
        let Some(&first) = buf.first() else {
            return Ok(None);
        };
        // A header of `n` bytes after the marker holding a big-endian length.
        let sized = |n: usize| buf.get(1..1 + n).map(be_uint);
        let fixed = |len: usize| Some(Head { len, payload: 0, items: None });
        let data = |len: usize, payload: Option<u64>| payload.map(|payload| Head { len, payload, items: None });
        let items = |len: usize, items: Option<u64>| items.map(|n| Head { len, payload: 0, items: Some(n) });
        let head = match Marker::from_u8(first) {
            Marker::FixPos(_) | Marker::FixNeg(_) | Marker::Null | Marker::True | Marker::False => fixed(1),
            Marker::U8 | Marker::I8 => fixed(2),
            Marker::U16 | Marker::I16 => fixed(3),
            Marker::U32 | Marker::I32 | Marker::F32 => fixed(5),
            Marker::U64 | Marker::I64 | Marker::F64 => fixed(9),
            Marker::FixStr(n) => data(1, Some(u64::from(n))),
            Marker::Str8 | Marker::Bin8 => data(2, sized(1)),
            Marker::Str16 | Marker::Bin16 => data(3, sized(2)),
            Marker::Str32 | Marker::Bin32 => data(5, sized(4)),
            // Fixed-size ext: marker, type, data.
            Marker::FixExt1 => data(2, Some(1)),
            Marker::FixExt2 => data(2, Some(2)),
            Marker::FixExt4 => data(2, Some(4)),
            Marker::FixExt8 => data(2, Some(8)),
            Marker::FixExt16 => data(2, Some(16)),
            // Sized ext: marker, length, type, data.
            Marker::Ext8 => data(3, sized(1)),
            Marker::Ext16 => data(4, sized(2)),
            Marker::Ext32 => data(6, sized(4)),
            Marker::FixArray(n) => items(1, Some(u64::from(n))),
            Marker::Array16 => items(3, sized(2)),
            Marker::Array32 => items(5, sized(4)),
            Marker::FixMap(n) => items(1, Some(2 * u64::from(n))),
            Marker::Map16 => items(3, sized(2).map(|n| 2 * n)),
            Marker::Map32 => items(5, sized(4).map(|n| 2 * n)),
            Marker::Reserved => return Err(Error::Malformed("the reserved byte 0xc1".into())),
        };
        // A header whose length bytes have not all arrived is `None`; one that has arrived short of its type
        // byte or fixed-size data is found incomplete by the caller, which waits for header and payload alike.
        Ok(head)
    }
}

fn be_uint(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0, |n, &b| (n << 8) | u64::from(b))
}

/// Writes `value` as MessagePack: strings as str, bytes as bin, [`Ext`](rpc_core::Ext) as ext, integers in their smallest
/// form; [`typed::to_writer`] with the value as the type, so that a value and the typed data it stands for are
/// written by the same code. Fails for a string, byte string or collection of 2^32 items or more, and for a
/// value nesting deeper than [`typed::MAX_SERIALIZE_DEPTH`] (no peer reads one: their limits are far lower, and
/// [`DEFAULT_MAX_DEPTH`] here); on an error `dst` is as it was.
pub fn encode_value(value: &Value, dst: &mut BytesMut) -> Result<(), Error> {
    typed::to_writer(value, dst)
}

fn check_len(len: usize, what: &str) -> Result<u32, Error> {
    u32::try_from(len).map_err(|_| Error::Encode(format!("a {what} of {len} items is over MessagePack's 2^32 - 1")))
}

/// A MessagePack-RPC message.
///
/// On the wire: a request is `[0, msgid, method, params]`, a response `[1, msgid, error, result]` and a
/// notification `[2, method, params]`, where msgid is a 32-bit unsigned integer and params an array.
#[derive(Clone, Debug, PartialEq)]
pub enum Message {
    /// A call that wants an answer.
    Request {
        /// The id its response will carry.
        id: u32,
        /// The method name (a str, or a bin holding UTF-8, on the wire).
        method: String,
        /// The positional params.
        params: Vec<Value>,
    },
    /// The answer to a request: the result, or the peer's error object (any value; see [`error_to_fault`]).
    Response {
        /// The id of the request it answers.
        id: u32,
        /// `Ok(result)` when the error slot is nil, else `Err(error)`.
        result: Result<Value, Value>,
    },
    /// A call that wants no answer.
    Notification {
        /// The method name.
        method: String,
        /// The positional params.
        params: Vec<Value>,
    },
}

impl Message {
    /// Reads a message from a decoded object. Method names may arrive as bin (pynvim sends them so) if they
    /// hold UTF-8.
    ///
    /// # Errors
    /// [`Error::Invalid`], with the msgid when the object is a request whose id could be read (it gets an error
    /// reply).
    pub fn from_value(value: Value) -> Result<Message, Error> {
        let invalid = |id: Option<u32>, reason: String| Error::Invalid { id, reason };
        let Value::Array(items) = value else {
            return Err(invalid(None, format!("a message must be an array, not {}", value.kind())));
        };
        let len = items.len();
        let mut items = items.into_iter();
        // Kept as it is: shown only in the error below (formatting it for every message costs more than reading it).
        let first = items.next();
        let kind = first.as_ref().and_then(Value::as_u64);
        let id = items.as_slice().first().and_then(Value::as_u64).and_then(|id| u32::try_from(id).ok());
        let mut next = || items.next().unwrap_or_default();
        let msgid = |raw: Value| id.ok_or_else(|| invalid(None, format!("a msgid must be a u32, not {}", show(&raw))));
        match (kind, len) {
            (Some(0), 4) => {
                let id = msgid(next())?;
                let method = method_name(next()).map_err(|r| invalid(Some(id), r))?;
                let params = params_array(next()).map_err(|r| invalid(Some(id), r))?;
                Ok(Message::Request { id, method, params })
            }
            (Some(1), 4) => {
                let id = msgid(next())?;
                let (error, result) = (next(), next());
                Ok(Message::Response { id, result: if error.is_nil() { Ok(result) } else { Err(error) } })
            }
            (Some(2), 3) => {
                let method = method_name(next()).map_err(|r| invalid(None, r))?;
                let params = params_array(next()).map_err(|r| invalid(None, r))?;
                Ok(Message::Notification { method, params })
            }
            (Some(0), n) => Err(invalid(id, format!("a request must have 4 items, not {n}"))),
            (Some(1), n) => Err(invalid(None, format!("a response must have 4 items, not {n}"))),
            (Some(2), n) => Err(invalid(None, format!("a notification must have 3 items, not {n}"))),
            _ => {
                let first = first.as_ref().map_or_else(|| "(none)".to_owned(), show);
                Err(invalid(None, format!("unknown message type {first}")))
            }
        }
    }

    /// Appends the message's MessagePack bytes to `dst`.
    pub fn encode(&self, dst: &mut BytesMut) -> Result<(), Error> {
        match self {
            Message::Request { id, method, params } => encode_request(*id, method, params, dst),
            Message::Notification { method, params } => encode_notification(method, params, dst),
            Message::Response { id, result } => {
                let (error, result) = match result {
                    Ok(v) => (&Value::Nil, v),
                    Err(e) => (e, &Value::Nil),
                };
                encode_message(dst, (4, RESPONSE, Some(*id), None), |dst| {
                    typed::to_writer(error, dst)?;
                    typed::to_writer(result, dst)
                })
            }
        }
    }
}

fn method_name(value: Value) -> Result<String, String> {
    match value {
        Value::String(s) => Ok(s),
        Value::Bytes(b) => String::from_utf8(b).map_err(|_| "a method name must be UTF-8".to_owned()),
        other => Err(format!("a method name must be a string, not {}", other.kind())),
    }
}

fn params_array(value: Value) -> Result<Vec<Value>, String> {
    match value {
        Value::Array(params) => Ok(params),
        other => Err(format!("params must be an array, not {}", other.kind())),
    }
}

/// Writes the array header (of 3 or 4 items), the type and the id (if any) and method name (if any) of a message.
fn encode_envelope(dst: &mut BytesMut, len: u8, kind: u8, id: Option<u32>, method: Option<&str>) -> Result<(), Error> {
    dst.put_slice(&[0x90 | len, kind]);
    if let Some(id) = id {
        typed::put_uint(dst, u64::from(id));
    }
    match method {
        Some(method) => typed::put_str(dst, method),
        None => Ok(()),
    }
}

/// Appends a message: its envelope, then `rest`; on an error, nothing.
fn encode_message(
    dst: &mut BytesMut,
    (len, kind, id, method): (u8, u8, Option<u32>, Option<&str>),
    rest: impl FnOnce(&mut BytesMut) -> Result<(), Error>,
) -> Result<(), Error> {
    let start = dst.len();
    let written = encode_envelope(dst, len, kind, id, method).and_then(|()| rest(dst));
    if written.is_err() {
        dst.truncate(start);
    }
    written
}

/// Appends a request `[0, id, method, params]`: each param through the codec's serializer (a [`Value`], or a
/// [`Param`] of a typed call). On an error nothing is appended.
pub fn encode_request<P: Serialize>(id: u32, method: &str, params: &[P], dst: &mut BytesMut) -> Result<(), Error> {
    encode_message(dst, (4, REQUEST, Some(id), Some(method)), |dst| typed::to_writer(params, dst))
}

/// Appends a notification `[2, method, params]`, as [`encode_request`] writes params.
pub fn encode_notification<P: Serialize>(method: &str, params: &[P], dst: &mut BytesMut) -> Result<(), Error> {
    encode_message(dst, (3, NOTIFICATION, None, Some(method)), |dst| typed::to_writer(params, dst))
}

/// Appends a request `[0, id, method, params]` of a typed call: [`encode_request`] with its params.
pub fn encode_request_typed(id: u32, method: &str, params: &[Param<'_>], dst: &mut BytesMut) -> Result<(), Error> {
    encode_request(id, method, params, dst)
}

/// The params array of a call, encoded once (to be sent again as it is).
pub(crate) fn encode_params(params: &[Param<'_>]) -> Result<BytesMut, Error> {
    let mut dst = BytesMut::with_capacity(SMALL_MESSAGE);
    typed::to_writer(params, &mut dst)?;
    Ok(dst)
}

/// Appends a request `[0, id, method, params]` (or, without an id, a notification) whose params array is already
/// encoded.
pub(crate) fn encode_with(id: Option<u32>, method: &str, params_array: &[u8], dst: &mut BytesMut) -> Result<(), Error> {
    let envelope = match id {
        Some(id) => (4, REQUEST, Some(id), Some(method)),
        None => (3, NOTIFICATION, None, Some(method)),
    };
    encode_message(dst, envelope, |dst| {
        dst.extend_from_slice(params_array);
        Ok(())
    })
}

/// The bytes of a response to request `id`: the result, or the fault's error object in `format`, as
/// [`push_response`] writes them.
pub(crate) fn response_bytes(id: u32, result: Result<&Value, &Fault>, format: ErrorFormat) -> Bytes {
    let mut dst = BytesMut::new();
    push_response(&mut dst, id, "", result, format);
    dst.freeze()
}

/// Appends the response to request `id` of `method`: the result through the codec's serializer (a [`Value`], or
/// a handler's typed reply), or the fault's error object in `format`. A result that cannot be encoded is answered
/// with an internal-error fault instead.
pub(crate) fn push_response<T: Serialize + ?Sized>(
    dst: &mut BytesMut,
    id: u32,
    method: &str,
    result: Result<&T, &Fault>,
    format: ErrorFormat,
) {
    // Room for a small answer: writing one item at a time into an empty buffer would grow it several times.
    dst.reserve(SMALL_MESSAGE);
    let encoded = match result {
        Ok(value) => encode_message(dst, (4, RESPONSE, Some(id), None), |dst| {
            dst.put_u8(typed::NIL);
            typed::to_writer(value, dst)
        }),
        Err(fault) => encode_fault_response(id, fault, format, dst),
    };
    if let Err(e) = encoded {
        tracing::error!(id, method, error = %e, "a result could not be encoded; answering with an internal error");
        let fault = rpc_core::encoding::cannot_encode(method, &e);
        if let Err(e) = encode_fault_response(id, &fault, format, dst) {
            tracing::error!(id, error = %e, "an error reply could not be encoded");
        }
    }
}

fn encode_fault_response(id: u32, fault: &Fault, format: ErrorFormat, dst: &mut BytesMut) -> Result<(), Error> {
    encode_message(dst, (4, RESPONSE, Some(id), None), |dst| {
        typed::to_writer(&fault_to_error(fault, format), dst)?;
        dst.put_u8(typed::NIL);
        Ok(())
    })
}

/// How a side writes the error objects of its responses (the spec leaves their shape free).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorFormat {
    /// `[code, message]` with the fault's code: the standard codes of [`rpc_core::Fault`] for protocol errors,
    /// the handler's own otherwise; `[code, message, data]` for a fault with [`data`](Fault::data) (a
    /// handler's own error type). The default; rpc-msgpack's client, Python and Node peers read it back as
    /// the same fault.
    #[default]
    CodeMessage,
    /// `[type, message]`, the way Neovim writes errors and the only array it reads: type 1 (a validation
    /// error) for -32600, -32601 and -32602, type 0 (an exception) for every other fault; the message as is.
    /// Neovim shows any other error object as "unknown error", so serve Neovim, and pynvim, this way.
    Neovim,
}

/// The error object a [`Fault`] goes out as (see [`ErrorFormat`]).
pub fn fault_to_error(fault: &Fault, format: ErrorFormat) -> Value {
    let code = match format {
        ErrorFormat::CodeMessage => fault.code,
        ErrorFormat::Neovim => match fault.code {
            Fault::INVALID_REQUEST | Fault::METHOD_NOT_FOUND | Fault::INVALID_PARAMS => 1,
            _ => 0,
        },
    };
    let mut error = vec![Value::Int(code), Value::String(fault.message.clone())];
    if let (ErrorFormat::CodeMessage, Some(data)) = (format, &fault.data) {
        error.push((**data).clone());
    }
    Value::Array(error)
}

/// Reads a peer's error object (the error slot of a response, which the spec leaves free-form) as a [`Fault`].
///
/// | error object | fault |
/// |---|---|
/// | `[code, message]`, an integer and a str or bin (ours; Neovim's `[type, message]`, with type 0 for an exception and 1 for a validation error) | that code and message |
/// | `[code, message, data]` (ours, for a fault with data) | that code, message and data |
/// | a map with an integer `code` and a `message` (JSON-RPC style), and perhaps `data` | that code, message and data |
/// | a str or bin | [`GENERIC_ERROR_CODE`] and that message |
/// | anything else (a map without `code`, a longer array, a number, ...) | [`GENERIC_ERROR_CODE`] and the value written out compactly |
///
/// ```
/// use rpc_core::Value;
/// use rpc_msgpack::codec::{GENERIC_ERROR_CODE, error_to_fault};
///
/// let nvim = Value::Array(vec![0.into(), "Vim:E121: Undefined variable: x".into()]);
/// assert_eq!(error_to_fault(nvim).code, 0);
/// let text = error_to_fault("no such method".into());
/// assert_eq!((text.code, text.message.as_str()), (GENERIC_ERROR_CODE, "no such method"));
/// ```
pub fn error_to_fault(error: Value) -> Fault {
    let text = |v: &Value| match v {
        Value::String(s) => Some(s.clone()),
        Value::Bytes(b) => Some(String::from_utf8_lossy(b).into_owned()),
        _ => None,
    };
    match &error {
        Value::Array(items) if items.len() == 2 || items.len() == 3 => {
            if let (Some(code), Some(message)) = (items[0].as_i64(), text(&items[1])) {
                return with_data(Fault::new(code, message), items.get(2));
            }
        }
        Value::Map(map) => {
            let code = map.get_str("code").and_then(Value::as_i64);
            let message = map.get_str("message").and_then(text);
            if let (Some(code), Some(message)) = (code, message) {
                return with_data(Fault::new(code, message), map.get_str("data"));
            }
        }
        other => {
            if let Some(message) = text(other) {
                return Fault::new(GENERIC_ERROR_CODE, message);
            }
        }
    }
    Fault::new(GENERIC_ERROR_CODE, show(&error))
}

/// `fault` with `data`, unless there is none (or it is nil).
fn with_data(fault: Fault, data: Option<&Value>) -> Fault {
    match data {
        Some(Value::Nil) | None => fault,
        Some(data) => fault.with_data(data.clone()),
    }
}

/// A compact, bounded text form of a value for messages: JSON-like, cut at about 200 characters.
pub(crate) fn show(value: &Value) -> String {
    const MAX: usize = 200;
    fn go(v: &Value, out: &mut String, depth: usize) {
        use std::fmt::Write;
        if out.len() > MAX {
            return;
        }
        if depth > 8 {
            out.push('…');
            return;
        }
        match v {
            Value::Nil => out.push_str("nil"),
            Value::Bool(b) => _ = write!(out, "{b}"),
            Value::Int(i) => _ = write!(out, "{i}"),
            Value::UInt(u) => _ = write!(out, "{u}"),
            Value::Float(f) => _ = write!(out, "{f:?}"),
            Value::String(s) => _ = write!(out, "{s:?}"),
            Value::Bytes(b) => _ = write!(out, "b{:?}", String::from_utf8_lossy(b)),
            Value::DateTime(d) => _ = write!(out, "{d}"),
            Value::Ext(e) => _ = write!(out, "ext({}, {} bytes)", e.tag, e.data.len()),
            Value::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    go(item, out, depth + 1);
                    if out.len() > MAX {
                        break;
                    }
                }
                out.push(']');
            }
            Value::Map(map) => {
                out.push('{');
                for (i, (k, v)) in map.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    go(k, out, depth + 1);
                    out.push_str(": ");
                    go(v, out, depth + 1);
                    if out.len() > MAX {
                        break;
                    }
                }
                out.push('}');
            }
        }
    }
    let mut out = String::new();
    go(value, &mut out, 0);
    if out.len() > MAX {
        let cut = (0..=MAX).rev().find(|&i| out.is_char_boundary(i)).unwrap_or(0);
        out.truncate(cut);
        out.push('…');
    }
    out
}

/// The msgid of the request at the start of `buf` (`[0, msgid, ...`), if its first bytes can be read: used to
/// answer a request that breaks a limit before its connection is closed.
pub(crate) fn peek_request_id(buf: &[u8]) -> Option<u32> {
    let [0x94, 0x00, marker, rest @ ..] = buf else {
        return None;
    };
    let id = match Marker::from_u8(*marker) {
        Marker::FixPos(n) => u64::from(n),
        Marker::U8 => be_uint(rest.get(..1)?),
        Marker::U16 => be_uint(rest.get(..2)?),
        Marker::U32 => be_uint(rest.get(..4)?),
        _ => return None,
    };
    u32::try_from(id).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rpc_core::{Ext, Map};

    fn encode(v: &Value) -> Vec<u8> {
        let mut buf = BytesMut::new();
        encode_value(v, &mut buf).unwrap();
        buf.to_vec()
    }

    fn decode_all(bytes: &[u8]) -> Result<Option<Value>, Error> {
        Codec::new(1 << 20, DEFAULT_MAX_DEPTH).decode(&mut BytesMut::from(bytes))
    }

    fn map(entries: Vec<(Value, Value)>) -> Value {
        Value::Map(Map::from(entries))
    }

    /// (value, its exact MessagePack bytes): the smallest forms, as the spec and rmp write them.
    fn cases() -> Vec<(Value, Vec<u8>)> {
        vec![
            (Value::Nil, vec![0xc0]),
            (Value::Bool(true), vec![0xc3]),
            (Value::Bool(false), vec![0xc2]),
            (Value::Int(0), vec![0x00]),
            (Value::Int(127), vec![0x7f]),
            (Value::Int(128), vec![0xcc, 0x80]),
            (Value::Int(-1), vec![0xff]),
            (Value::Int(-32), vec![0xe0]),
            (Value::Int(-33), vec![0xd0, 0xdf]),
            (Value::Int(65536), vec![0xce, 0, 1, 0, 0]),
            (Value::Int(i64::MAX), vec![0xcf, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]),
            (Value::Int(i64::MIN), vec![0xd3, 0x80, 0, 0, 0, 0, 0, 0, 0]),
            (Value::UInt(u64::MAX), vec![0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]),
            (Value::Float(1.5), vec![0xcb, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0]),
            (Value::from("hi"), vec![0xa2, b'h', b'i']),
            (Value::from("é"), vec![0xa2, 0xc3, 0xa9]),
            (Value::Bytes(vec![0, 255]), vec![0xc4, 2, 0, 255]),
            (Value::Ext(Ext::new(5, vec![1])), vec![0xd4, 5, 1]),
            (Value::Ext(Ext::new(-1, vec![0; 4])), vec![0xd6, 0xff, 0, 0, 0, 0]),
            (Value::Ext(Ext::new(3, vec![7; 3])), vec![0xc7, 3, 3, 7, 7, 7]),
            (Value::Array(vec![]), vec![0x90]),
            (Value::Array(vec![1.into(), "a".into()]), vec![0x92, 0x01, 0xa1, b'a']),
            (map(vec![(1.into(), "one".into())]), vec![0x81, 0x01, 0xa3, b'o', b'n', b'e']),
            (map(vec![(Value::Nil, Value::Array(vec![]))]), vec![0x81, 0xc0, 0x90]),
        ]
    }

    #[test]
    fn encodes_and_decodes_the_table() {
        for (value, bytes) in cases() {
            assert_eq!(encode(&value), bytes, "encoding {value:?}");
            assert_eq!(decode_all(&bytes).unwrap(), Some(value.clone()), "decoding {bytes:x?}");
        }
    }

    #[test]
    fn reads_the_forms_we_do_not_write() {
        let cases: Vec<(Vec<u8>, Value)> = vec![
            (vec![0xca, 0x3f, 0xc0, 0, 0], Value::Float(1.5)),
            (vec![0xd1, 0xff, 0x00], Value::Int(-256)),
            (vec![0xd2, 0xff, 0xff, 0xff, 0xff], Value::Int(-1)),
            (vec![0xcd, 0x01, 0x00], Value::Int(256)),
            (vec![0xd9, 2, b'h', b'i'], Value::from("hi")),
            (vec![0xda, 0, 2, b'h', b'i'], Value::from("hi")),
            (vec![0xdb, 0, 0, 0, 2, b'h', b'i'], Value::from("hi")),
            (vec![0xc5, 0, 1, 9], Value::Bytes(vec![9])),
            (vec![0xc6, 0, 0, 0, 1, 9], Value::Bytes(vec![9])),
            (vec![0xdc, 0, 1, 0xc0], Value::Array(vec![Value::Nil])),
            (vec![0xdd, 0, 0, 0, 1, 0xc0], Value::Array(vec![Value::Nil])),
            (vec![0xde, 0, 1, 1, 2], map(vec![(1.into(), 2.into())])),
            (vec![0xdf, 0, 0, 0, 1, 1, 2], map(vec![(1.into(), 2.into())])),
            (vec![0xc8, 0, 1, 4, 9], Value::Ext(Ext::new(4, vec![9]))),
            (vec![0xc9, 0, 0, 0, 1, 4, 9], Value::Ext(Ext::new(4, vec![9]))),
            // A str that is not UTF-8 keeps its bytes.
            (vec![0xa2, 0xff, 0xfe], Value::Bytes(vec![0xff, 0xfe])),
        ];
        for (bytes, value) in cases {
            assert_eq!(decode_all(&bytes).unwrap(), Some(value), "decoding {bytes:x?}");
        }
    }

    #[test]
    fn datetime_goes_out_as_a_string() {
        let d: rpc_core::DateTime = "19980717T14:08:55".parse().unwrap();
        assert_eq!(decode_all(&encode(&Value::DateTime(d))).unwrap(), Some(Value::from("19980717T14:08:55")));
    }

    #[test]
    fn deep_values_are_refused_without_overflowing() {
        let nest = |depth: usize| {
            let mut v = Value::Nil;
            for _ in 0..depth {
                v = Value::Array(vec![v]);
            }
            v
        };
        // As deep as the serializer goes: written whole.
        let bytes = encode(&nest(typed::MAX_SERIALIZE_DEPTH));
        assert_eq!(bytes.len(), typed::MAX_SERIALIZE_DEPTH + 1);
        // Deeper (no peer reads it: the decoder's limit is far lower): an error, and nothing written.
        let mut v = nest(100_000);
        let mut buf = BytesMut::from(&b"ab"[..]);
        assert!(matches!(encode_value(&v, &mut buf), Err(Error::Encode(m)) if m.contains("nesting deeper")));
        assert_eq!(&buf[..], b"ab");
        // Bytes that deep are refused by the decoder before they are read.
        let mut deep = vec![0x91; 100_000];
        deep.push(0xc0);
        assert!(matches!(decode_all(&deep), Err(Error::TooDeep { limit: DEFAULT_MAX_DEPTH })));
        // Dropping a value this deep recurses in `Vec`'s destructor: unwrap it by hand.
        while let Value::Array(mut items) = v {
            v = items.pop().unwrap_or_default();
        }
    }

    #[test]
    fn waits_for_whole_objects_byte_by_byte() {
        let mut message = BytesMut::new();
        Message::Request { id: 7, method: "double".into(), params: vec![Value::from("x".repeat(300))] }
            .encode(&mut message)
            .unwrap();
        Message::Notification { method: "n".into(), params: vec![] }.encode(&mut message).unwrap();
        let mut codec = Codec::new(1024, 8);
        let mut buf = BytesMut::new();
        let mut got = Vec::new();
        for &b in message.iter() {
            buf.extend_from_slice(&[b]);
            while let Some(v) = codec.decode(&mut buf).unwrap() {
                got.push(Message::from_value(v).unwrap());
            }
        }
        assert!(buf.is_empty());
        assert_eq!(got.len(), 2);
        assert!(
            matches!(&got[0], Message::Request { id: 7, method, params } if method == "double" && params.len() == 1)
        );
        assert!(matches!(&got[1], Message::Notification { method, .. } if method == "n"));
    }

    #[test]
    fn the_scan_resumes_where_it_stopped() {
        // An array of many small items arriving in pieces: each call scans only the new bytes.
        let items: Vec<Value> = (0..1000).map(Value::from).collect();
        let bytes = encode(&Value::Array(items.clone()));
        let mut codec = Codec::new(1 << 20, 8);
        let mut buf = BytesMut::new();
        for chunk in bytes.chunks(7) {
            let before = codec.scanned;
            buf.extend_from_slice(chunk);
            if let Some(v) = codec.decode(&mut buf).unwrap() {
                assert_eq!(v, Value::Array(items));
                return;
            }
            assert!(codec.scanned >= before && codec.scanned <= buf.len());
        }
        panic!("never decoded");
    }

    #[test]
    fn limits_are_checked_before_the_bytes_arrive() {
        let max = 1024;
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("str32 of 4 GiB", vec![0xdb, 0xff, 0xff, 0xff, 0xff]),
            ("bin32 of 4 GiB", vec![0xc6, 0xff, 0xff, 0xff, 0xff]),
            ("ext32 of 4 GiB", vec![0xc9, 0xff, 0xff, 0xff, 0xff]),
            ("array32 of 4G items", vec![0xdd, 0xff, 0xff, 0xff, 0xff]),
            ("map32 of 4G entries", vec![0xdf, 0xff, 0xff, 0xff, 0xff]),
            ("str in an array", vec![0x92, 0x01, 0xda, 0x04, 0x01]),
            ("a message of just too many bytes", {
                let mut b = vec![0xc5, 0x03, 0xfe];
                b.resize(1025, 0);
                b
            }),
        ];
        for (what, bytes) in cases {
            match Codec::new(max, 8).decode(&mut BytesMut::from(&bytes[..])) {
                Err(Error::TooLarge { limit, .. }) => assert_eq!(limit, max, "{what}"),
                other => panic!("{what}: {other:?}"),
            }
        }
        // Exactly at the limit is fine.
        let mut b = vec![0xc5, 0x03, 0xfd];
        b.resize(1024, 0);
        assert!(matches!(Codec::new(max, 8).decode(&mut BytesMut::from(&b[..])), Ok(Some(Value::Bytes(_)))));
    }

    #[test]
    fn depth_is_limited() {
        let nested = |depth: usize| {
            let mut b = vec![0x91; depth - 1];
            b.push(0x90);
            b
        };
        assert!(Codec::new(1024, 4).decode(&mut BytesMut::from(&nested(4)[..])).unwrap().is_some());
        let err = Codec::new(1024, 4).decode(&mut BytesMut::from(&nested(5)[..])).unwrap_err();
        assert!(matches!(err, Error::TooDeep { limit: 4 }));
        // Maps count too, and the error comes before the rest arrives.
        let err = Codec::new(1024, 2).decode(&mut BytesMut::from(&[0x81, 0x01, 0x81, 0x01, 0x81][..])).unwrap_err();
        assert!(matches!(err, Error::TooDeep { limit: 2 }));
    }

    #[test]
    fn the_reserved_byte_is_malformed() {
        assert!(matches!(decode_all(&[0xc1]), Err(Error::Malformed(_))));
        assert!(matches!(decode_all(&[0x92, 0x01, 0xc1]), Err(Error::Malformed(_))));
    }

    #[test]
    fn incomplete_headers_wait() {
        for bytes in [&[0xcd, 0x01][..], &[0xdb, 0, 0], &[0xc9, 0, 0, 0, 1], &[0xc7], &[0xdc, 0]] {
            assert_eq!(decode_all(bytes).unwrap(), None, "{bytes:x?}");
        }
    }

    #[test]
    fn messages_parse_and_encode() {
        let request = Message::Request { id: u32::MAX, method: "m".into(), params: vec![1.into()] };
        let response = Message::Response { id: 3, result: Err(Value::from("boom")) };
        let ok = Message::Response { id: 3, result: Ok(Value::Nil) };
        let note = Message::Notification { method: "n".into(), params: vec![] };
        for m in [request, response, ok, note] {
            let mut buf = BytesMut::new();
            Codec::new(1024, 8).encode(&m, &mut buf).unwrap();
            let v = Codec::new(1024, 8).decode(&mut buf).unwrap().unwrap();
            assert_eq!(Message::from_value(v).unwrap(), m);
        }
    }

    #[test]
    fn method_names_may_be_bin() {
        let v = Value::Array(vec![0.into(), 1.into(), Value::Bytes(b"double".to_vec()), Value::Array(vec![])]);
        assert!(matches!(Message::from_value(v).unwrap(), Message::Request { method, .. } if method == "double"));
    }

    #[test]
    fn invalid_messages_say_why_and_keep_a_readable_id() {
        let arr = |items: Vec<Value>| Value::Array(items);
        let cases: Vec<(Value, Option<u32>, &str)> = vec![
            ("hello".into(), None, "must be an array, not string"),
            (arr(vec![]), None, "unknown message type (none)"),
            (arr(vec![7.into(), 1.into()]), None, "unknown message type 7"),
            (arr(vec![0.into(), 5.into(), 42.into(), arr(vec![])]), Some(5), "method name must be a string"),
            (arr(vec![0.into(), 5.into(), "m".into(), 1.into()]), Some(5), "params must be an array, not int"),
            (arr(vec![0.into(), 5.into(), "m".into()]), Some(5), "request must have 4 items, not 3"),
            (arr(vec![0.into(), (-1).into(), "m".into(), arr(vec![])]), None, "msgid must be a u32, not -1"),
            (arr(vec![0.into(), (1u64 << 32).into(), "m".into(), arr(vec![])]), None, "msgid must be a u32"),
            (arr(vec![1.into(), 1.into(), Value::Nil]), None, "response must have 4 items"),
            (arr(vec![2.into(), "n".into()]), None, "notification must have 3 items"),
            (arr(vec![2.into(), Value::Bytes(vec![0xff]), arr(vec![])]), None, "must be UTF-8"),
        ];
        for (value, want_id, want) in cases {
            match Message::from_value(value.clone()) {
                Err(Error::Invalid { id, reason }) => {
                    assert_eq!(id, want_id, "{value:?}");
                    assert!(reason.contains(want), "{value:?}: {reason}");
                }
                other => panic!("{value:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn error_objects_become_faults() {
        let cases: Vec<(Value, i64, &str)> = vec![
            (Value::Array(vec![(-32601).into(), "method not found".into()]), -32601, "method not found"),
            (Value::Array(vec![1.into(), Value::Bytes(b"Wrong type".to_vec())]), 1, "Wrong type"),
            ("plain".into(), GENERIC_ERROR_CODE, "plain"),
            (Value::Bytes(b"bytes".to_vec()), GENERIC_ERROR_CODE, "bytes"),
            (map(vec![("code".into(), 7.into()), ("message".into(), "m".into())]), 7, "m"),
            (map(vec![("reason".into(), "x".into())]), GENERIC_ERROR_CODE, r#"{"reason": "x"}"#),
            (Value::Array(vec![1.into(), 2.into(), 3.into()]), GENERIC_ERROR_CODE, "[1, 2, 3]"),
            (Value::Bool(true), GENERIC_ERROR_CODE, "true"),
        ];
        for (error, code, message) in cases {
            let fault = error_to_fault(error.clone());
            assert_eq!((fault.code, fault.message.as_str()), (code, message), "{error:?}");
        }
        let fault = Fault::new(-32602, "invalid params: x");
        assert_eq!(error_to_fault(fault_to_error(&fault, ErrorFormat::CodeMessage)), fault);
        let nvim = |code| error_to_fault(fault_to_error(&Fault::new(code, "m"), ErrorFormat::Neovim)).code;
        assert_eq!([-32600, -32601, -32602, -32603, -32700, 42].map(nvim), [1, 1, 1, 0, 0, 0]);
    }

    #[test]
    fn show_is_bounded() {
        let long = Value::Array((0..1000).map(Value::from).collect());
        assert!(show(&long).chars().count() <= 201);
        let mut deep = Value::Nil;
        for _ in 0..20 {
            deep = Value::Array(vec![deep]);
        }
        assert!(show(&deep).contains('…'));
    }

    #[test]
    fn request_ids_are_peeked_from_partial_requests() {
        assert_eq!(peek_request_id(&[0x94, 0x00, 0x05, 0xdb]), Some(5));
        assert_eq!(peek_request_id(&[0x94, 0x00, 0xce, 0, 1, 0, 0]), Some(65536));
        assert_eq!(peek_request_id(&[0x94, 0x00, 0xce, 0, 1]), None);
        assert_eq!(peek_request_id(&[0x93, 0x02, 0x05]), None);
        assert_eq!(peek_request_id(&[0xc1]), None);
    }

    #[test]
    fn responses_carry_faults_as_code_and_message() {
        let bytes = response_bytes(9, Err(&Fault::method_not_found("nope")), ErrorFormat::CodeMessage);
        let v = Codec::new(1024, 8).decode(&mut BytesMut::from(&bytes[..])).unwrap().unwrap();
        let Ok(Message::Response { id: 9, result: Err(error) }) = Message::from_value(v) else { panic!() };
        assert_eq!(error, Value::Array(vec![(-32601).into(), r#"method not found: "nope""#.into()]));
    }
}

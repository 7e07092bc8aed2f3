//! MessagePack-RPC as the duplex engine runs it: [`MessagePack`], the [`Protocol`] impl (what a frame is, how the
//! envelopes are written), and the codec as its framing.

use bytes::{Bytes, BytesMut};
use rpc_core::encoding::{Param, Reply, erased_serde};
use rpc_core::{Fault, Value};
use rpc_engine::{
    Answered, Broken, CANCEL_METHOD, Decoder, Framing, Incoming, OutParams, Params, Part, Protocol, RawPart, RequestId,
    method_name,
};

use crate::codec::{self, Codec, ErrorFormat, Message, typed};
use crate::{ClientBuilder, Server};

/// MessagePack-RPC, for the engine: `rpc_msgpack::Server` is `rpc_engine::Server<D, MessagePack>`, and
/// `rpc_msgpack::Client` is `rpc_engine::Client<MessagePack>`. Its one setting of its own is the shape of the
/// error replies it writes ([`MessagePackSettings::error_format`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MessagePack {
    error_format: ErrorFormat,
}

/// The settings a MessagePack-RPC [`Server`] and [`ClientBuilder`] have beyond the engine's.
pub trait MessagePackSettings {
    /// How error replies are written (default [`ErrorFormat::CodeMessage`], `[code, message]`); use
    /// [`ErrorFormat::Neovim`] when serving Neovim or connected to it, so that it shows the messages.
    fn error_format(self, format: ErrorFormat) -> Self;
}

impl<D: rpc_core::Dispatch> MessagePackSettings for Server<D> {
    fn error_format(self, format: ErrorFormat) -> Self {
        self.map_protocol(|p| p.error_format = format)
    }
}

impl MessagePackSettings for ClientBuilder {
    fn error_format(self, format: ErrorFormat) -> Self {
        self.map_protocol(|p| p.error_format = format)
    }
}

/// The codec cuts whole MessagePack objects from the stream.
impl Decoder for Codec {
    fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<BytesMut>, Broken> {
        self.decode_frame(buf).map_err(|e| Broken {
            reason: e.to_string(),
            fault: e.to_fault(),
            id: codec::peek_request_id(buf).map(|id| RequestId::number(id.into())),
        })
    }
}

/// The msgid a request id stands for (every request id this protocol makes is one).
fn msgid(id: &RequestId) -> u32 {
    id.as_number().and_then(|n| u32::try_from(n).ok()).unwrap_or_default()
}

impl Protocol for MessagePack {
    fn rpc_system(&self) -> &'static str {
        "msgpack_rpc"
    }

    fn name(&self) -> &'static str {
        "MessagePack-RPC"
    }

    fn framing(&self, max_message_size: usize, max_depth: usize) -> Framing {
        Framing::delimited(Codec::new(max_message_size, max_depth))
    }

    fn self_delimited(&self) -> bool {
        true
    }

    fn binary(&self) -> bool {
        true
    }

    fn classify(&self, frame: Bytes, max_depth: usize) -> Incoming {
        if let Some(parts) = typed::request_parts(&frame) {
            let (id, method, range) =
                (parts.id, method_name(&frame, parts.method), RawPart::locate(&frame, parts.params));
            if id.is_none() && method == CANCEL_METHOD {
                return cancel(self.read_params(&frame[range], max_depth).unwrap_or_default());
            }
            let params = Params::Raw(RawPart::new(frame, range));
            return match id {
                Some(id) => Incoming::Request { id: RequestId::number(id.into()), method, params },
                None => Incoming::Notification { method, params },
            };
        } else if let Some(parts) = typed::response_parts(&frame)
            && !parts.is_error()
        {
            let (id, range) = (parts.id, RawPart::locate(&frame, parts.result));
            let answer = Answered::Raw(RawPart::new(frame, range));
            return Incoming::Response { id, answer };
        }
        let value = match Codec::new(frame.len(), max_depth).read(&frame) {
            Ok(value) => value,
            Err(e) => return Incoming::Invalid(e.to_string()),
        };
        match Message::from_value(value) {
            Ok(Message::Response { id, result: Ok(value) }) => {
                Incoming::Response { id, answer: Answered::Value(value) }
            }
            Ok(Message::Response { id, result: Err(error) }) => {
                Incoming::Response { id, answer: Answered::Fault(codec::error_to_fault(error)) }
            }
            Ok(Message::Request { id, method, params }) => {
                let method = method.into();
                Incoming::Request { id: RequestId::number(id.into()), method, params: Params::Values(params) }
            }
            Ok(Message::Notification { method, params }) if method == CANCEL_METHOD => cancel(params),
            Ok(Message::Notification { method, params }) => {
                Incoming::Notification { method: method.into(), params: Params::Values(params) }
            }
            Err(e @ crate::Error::Invalid { id: Some(id), .. }) => {
                tracing::warn!(error = %e, "answering an invalid request");
                Incoming::Reply(codec::response_bytes(id, Err(&e.to_fault()), self.error_format))
            }
            Err(e) => Incoming::Invalid(e.to_string()),
        }
    }

    fn encode_request(
        &self,
        id: Option<u32>,
        method: &str,
        params: OutParams<'_>,
        dst: &mut BytesMut,
    ) -> Result<(), rpc_core::Error> {
        Ok(match (id, params) {
            (Some(id), OutParams::Values(params)) => codec::encode_request(id, method, params, dst),
            (None, OutParams::Values(params)) => codec::encode_notification(method, params, dst),
            (id, OutParams::Encoded(params)) => codec::encode_with(id, method, params, dst),
        }?)
    }

    fn encode_params(&self, params: &[Param<'_>]) -> Result<Bytes, rpc_core::Error> {
        Ok(codec::encode_params(params)?.freeze())
    }

    fn encode_response(&self, id: &RequestId, method: &str, result: Result<Reply, Fault>, dst: &mut BytesMut) {
        let result = result.as_ref().map(|reply| reply.as_ref());
        codec::push_response(dst, msgid(id), method, result, self.error_format);
    }

    fn encode_error(&self, id: Option<&RequestId>, fault: &Fault) -> Option<Bytes> {
        // An error reply needs a msgid: without one there is nobody to answer.
        let id = msgid(id?);
        Some(codec::response_bytes(id, Err(fault), self.error_format))
    }

    fn deserialize(
        &self,
        _: Part,
        bytes: &[u8],
        max_depth: usize,
        read: &mut dyn FnMut(&mut dyn erased_serde::Deserializer<'_>) -> bool,
    ) -> bool {
        let mut de = typed::Deserializer::new(typed::Reader::new(bytes), max_depth);
        read(&mut <dyn erased_serde::Deserializer>::erase(&mut de)) && de.finish().is_ok()
    }

    fn read_params(&self, bytes: &[u8], max_depth: usize) -> Result<Vec<Value>, Fault> {
        match Codec::new(bytes.len(), max_depth).read(bytes) {
            Ok(Value::Array(values)) => Ok(values),
            Ok(other) => Err(Fault::invalid_request(format!("params must be an array, not {}", other.kind()))),
            Err(e) => Err(e.to_fault()),
        }
    }

    fn read_value(&self, _: Part, bytes: &[u8], max_depth: usize) -> Result<Value, rpc_core::Error> {
        Ok(Codec::new(bytes.len(), max_depth).read(bytes)?)
    }
}

/// The peer's `[2, "$/cancelRequest", [MSGID]]`: the call it cancels (anything else in the params is ignored, as
/// an unknown id is).
fn cancel(params: Vec<Value>) -> Incoming {
    match params.first().and_then(Value::as_i64).and_then(|id| u32::try_from(id).ok()) {
        Some(id) => Incoming::Cancel(RequestId::number(id.into())),
        None => {
            tracing::debug!(?params, "a $/cancelRequest without a msgid; ignored");
            Incoming::Ignored
        }
    }
}

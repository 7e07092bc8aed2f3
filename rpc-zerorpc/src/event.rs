//! zerorpc's event layer: an event is the MessagePack array `[header, name, args]`, one per ZeroMQ message
//! (after the ROUTER's identity frames and an empty delimiter frame). The header is a map holding `message_id`
//! (opaque: bytes from zerorpc-python, echoed as they came), `v` (the protocol version, 3) and, on every event
//! of a channel after its first, `response_to` (the channel's first `message_id`).

use std::sync::atomic::{AtomicU64, Ordering};

use bytes::{Bytes, BytesMut};
use rpc_core::{Fault, Map, Value};

/// The protocol version spoken: zerorpc's 3.
pub const VERSION: i64 = 3;

/// A heartbeat (`_zpc_hb`, args `[0]`), sent on every open channel by both ends.
pub const HEARTBEAT: &str = "_zpc_hb";
/// A credit (`_zpc_more`, args `[n]`): the sender can take `n` more events on the channel.
pub const MORE: &str = "_zpc_more";

/// One event, read.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// The event's own id.
    pub message_id: Value,
    /// The channel it belongs to, after the channel's first event.
    pub response_to: Option<Value>,
    /// `OK`, `ERR`, `STREAM`, `STREAM_DONE`, `_zpc_hb`, `_zpc_more`, or a method's name.
    pub name: String,
    /// The arguments (a tuple in practice).
    pub args: Value,
}

/// Why bytes are no event.
#[derive(Debug)]
pub enum Unreadable {
    /// Not MessagePack, or over the limits: nothing to answer.
    Malformed(String),
    /// Readable enough to answer (the id is known), but not an event this side takes.
    Refused {
        /// The event's id, to answer.
        message_id: Value,
        /// What to answer.
        fault: Fault,
    },
}

impl Event {
    /// Reads one event within `max_size` bytes and `max_depth` levels.
    pub fn read(bytes: &[u8], max_size: usize, max_depth: usize) -> Result<Event, Unreadable> {
        let value = rpc_msgpack::codec::Codec::new(max_size, max_depth)
            .read(bytes)
            .map_err(|e| Unreadable::Malformed(e.to_string()))?;
        let Value::Array(parts) = value else {
            return Err(Unreadable::Malformed(format!("an event is an array, not {}", value.kind())));
        };
        let Ok([header, name, args]) = <[Value; 3]>::try_from(parts) else {
            return Err(Unreadable::Malformed("an event is the array [header, name, args]".into()));
        };
        let Value::Map(header) = header else {
            return Err(Unreadable::Malformed(format!("an event's header is a map, not {}", header.kind())));
        };
        let message_id = header
            .get_str("message_id")
            .filter(|id| matches!(id, Value::Bytes(_) | Value::String(_) | Value::Int(_) | Value::UInt(_)))
            .cloned()
            .ok_or_else(|| Unreadable::Malformed("an event's header has no message_id".into()))?;
        let refuse = |fault: Fault| Unreadable::Refused { message_id: message_id.clone(), fault };
        match header.get_str("v").and_then(Value::as_i64) {
            Some(VERSION) => {}
            Some(v) => {
                return Err(refuse(Fault::invalid_request(format!("zerorpc protocol version {v}: only 3 is spoken"))));
            }
            None => return Err(refuse(Fault::invalid_request("the header has no protocol version (v)"))),
        }
        let Value::String(name) = name else {
            return Err(refuse(Fault::invalid_request(format!("an event's name is a string, not {}", name.kind()))));
        };
        let response_to = header.get_str("response_to").cloned();
        Ok(Event { message_id, response_to, name, args })
    }

    /// The event as one ZeroMQ frame.
    pub fn encode(&self) -> Result<Bytes, rpc_core::Error> {
        let mut header = Map::new();
        header.push("message_id", self.message_id.clone());
        header.push("v", VERSION);
        if let Some(to) = &self.response_to {
            header.push("response_to", to.clone());
        }
        let event = Value::Array(vec![Value::Map(header), Value::from(self.name.as_str()), self.args.clone()]);
        let mut out = BytesMut::with_capacity(64);
        rpc_msgpack::codec::encode_value(&event, &mut out).map_err(rpc_core::Error::from)?;
        Ok(out.freeze())
    }
}

/// Fresh message ids: 32 hexadecimal digits as bytes (UUID-sized, as zerorpc-python's), a per-process random
/// half and a counter.
#[derive(Debug)]
pub struct Ids {
    base: u64,
    next: AtomicU64,
}

impl Ids {
    /// Ids whose random half is new.
    pub fn new() -> Ids {
        use std::hash::{BuildHasher, Hasher};
        // std's hasher keys are random per process: enough to keep two clients' ids apart on one server.
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u64(std::process::id().into());
        Ids { base: hasher.finish(), next: AtomicU64::new(0) }
    }

    /// The next id.
    pub fn next(&self) -> Value {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        Value::Bytes(format!("{:016x}{n:016x}", self.base).into_bytes())
    }
}

impl Default for Ids {
    fn default() -> Ids {
        Ids::new()
    }
}

/// Writes the messages queued for a socket (a ROUTER's or a DEALER's send half), one task per socket: a message
/// that cannot be sent (a ROUTER's peer that has gone) is logged and dropped.
pub(crate) async fn write_loop(
    mut socket: impl zeromq::SocketSend,
    mut rx: tokio::sync::mpsc::Receiver<zeromq::ZmqMessage>,
) {
    while let Some(message) = rx.recv().await {
        if let Err(e) = socket.send(message).await {
            tracing::debug!(error = %e, "a zerorpc event could not be sent");
        }
    }
}

/// The key a channel is filed under: its first message id, as encoded (ids are opaque values).
pub fn key(id: &Value) -> Vec<u8> {
    let mut out = BytesMut::new();
    match rpc_msgpack::codec::encode_value(id, &mut out) {
        Ok(()) => out.to_vec(),
        Err(_) => format!("{id:?}").into_bytes(),
    }
}

/// The name of an `ERR` event for `fault`: `Fault(CODE)`, so that a peer of this crate reads the code back (and
/// zerorpc-python's `RemoteError` shows it beside the message).
pub fn error_name(fault: &Fault) -> String {
    format!("Fault({})", fault.code)
}

/// The args of the `ERR` event for `fault`: `[name, message, traceback]`; the traceback is the fault's data as
/// text, if it has any.
pub fn error_args(fault: &Fault) -> Value {
    let traceback = fault.data.as_deref().map(|data| format!("{data:?}")).unwrap_or_default();
    Value::Array(vec![error_name(fault).into(), fault.message.as_str().into(), traceback.into()])
}

/// The fault an `ERR` event's args say: `Fault(CODE)` names give the code back; any other name (a Python
/// exception's, `NameError`) is a -32000 server error whose message is `NAME: MESSAGE`, with the name and the
/// traceback as its data.
pub fn fault_of(args: &Value) -> Fault {
    let parts = args.as_array().unwrap_or_default();
    let text = |i: usize| parts.get(i).and_then(Value::as_str).unwrap_or_default();
    let (name, message, traceback) = (text(0), text(1), text(2));
    if let Some(code) = name.strip_prefix("Fault(").and_then(|n| n.strip_suffix(')')).and_then(|n| n.parse().ok()) {
        return Fault::new(code, message);
    }
    let mut data = Map::new();
    data.push("name", name);
    data.push("traceback", traceback);
    Fault::new(SERVER_ERROR, format!("{name}: {message}")).with_data(Value::Map(data))
}

/// The code of a peer's error that names no fault code: JSON-RPC's first "server error".
pub const SERVER_ERROR: i64 = -32000;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_round_trip_and_bad_ones_say_why() {
        let event = Event {
            message_id: Value::Bytes(b"abc".to_vec()),
            response_to: Some(Value::Bytes(b"xyz".to_vec())),
            name: "OK".into(),
            args: Value::Array(vec![42.into()]),
        };
        let bytes = event.encode().unwrap();
        assert_eq!(Event::read(&bytes, 1024, 16).unwrap(), event);
        assert!(matches!(Event::read(b"\x93\x80\xa1x\x90", 1024, 16), Err(Unreadable::Malformed(_))));
        // v 2: refused with the id, so that the peer can be answered.
        let mut header = Map::new();
        header.push("message_id", Value::Bytes(b"id".to_vec()));
        header.push("v", 2);
        let mut out = BytesMut::new();
        rpc_msgpack::codec::encode_value(
            &Value::Array(vec![Value::Map(header), "f".into(), Value::Array(vec![])]),
            &mut out,
        )
        .unwrap();
        match Event::read(&out, 1024, 16) {
            Err(Unreadable::Refused { message_id, fault }) => {
                assert_eq!(message_id, Value::Bytes(b"id".to_vec()));
                assert!(fault.message.contains("version 2"), "{fault:?}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn faults_both_ways() {
        let fault = Fault::new(-32601, "method not found: \"x\"");
        assert_eq!(fault_of(&error_args(&fault)), fault);
        let python = Value::Array(vec!["ValueError".into(), "bad".into(), "Traceback ...".into()]);
        let read = fault_of(&python);
        assert_eq!((read.code, read.message.as_str()), (SERVER_ERROR, "ValueError: bad"));
        assert!(Ids::new().next() != Ids::new().next());
    }
}

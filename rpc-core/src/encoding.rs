//! The typed path: what an encoding needs to serialise params and results straight to its wire format and to
//! decode them straight into the Rust types, without building a [`Value`] tree in between.
//!
//! The value tree is always there (echo, the CLI, introspection, and every case the typed path leaves to it);
//! the typed path is an optimisation with one rule: where it succeeds, it gives exactly what the value path
//! would ([`to_value`](crate::to_value) then the encoder; the decoder then [`from_value`](crate::from_value)).
//! Anything it does not handle (an error, an unusual shape) is handed back to the value path, which decides.

pub use crate::dispatch::{
    TIMEOUT_HEADER, call_limit, call_limit_at, serve_call, serve_call_typed, serve_subscribe, time_limit, time_limit_at,
};
pub use crate::value::{DATETIME_STRUCT_NAME, EXT_STRUCT_NAME};
use serde::de::DeserializeOwned;

use crate::{Error, Fault, Value};

pub use erased_serde;

/// The key that marks a one-entry map as a [`DateTime`](crate::DateTime): a straight deserializer that meets a
/// datetime on the wire presents it to `deserialize_any` as the map `{DATETIME_MARKER: "<ISO 8601 text>"}`, as
/// [`Value`]'s own deserializer does, so that a [`Value`] rebuilt from it is a
/// datetime again.
pub const DATETIME_MARKER: &str = crate::value::DATETIME_MARKER;

/// The key that marks a one-entry map as an [`Ext`](crate::Ext): a straight deserializer presents an ext value to
/// `deserialize_any` as the map `{EXT_MARKER: [tag, bytes]}` (tag an integer, bytes a byte string), as
/// [`Value`]'s own deserializer does.
pub const EXT_MARKER: &str = crate::value::EXT_MARKER;

/// Whether `key` is one of the markers ([`DATETIME_MARKER`], [`EXT_MARKER`]).
pub fn is_marker(key: Option<&str>) -> bool {
    matches!(key, Some(DATETIME_MARKER | EXT_MARKER))
}

/// A map from the wire whose first key is a marker, as a deserializer presents it: without a size hint, so that
/// [`Value`]'s visitor keeps it a map rather than reading it as a datetime or an ext (which it presents as a
/// one-entry marker map that says so).
pub fn unmarked<'de, A: serde::de::MapAccess<'de>>(access: A) -> Unmarked<A> {
    Unmarked(access)
}

/// The map access of [`unmarked`].
#[derive(Debug)]
pub struct Unmarked<A>(A);

impl<'de, A: serde::de::MapAccess<'de>> serde::de::MapAccess<'de> for Unmarked<A> {
    type Error = A::Error;

    fn next_key_seed<K: serde::de::DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, A::Error> {
        self.0.next_key_seed(seed)
    }

    fn next_value_seed<V: serde::de::DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, A::Error> {
        self.0.next_value_seed(seed)
    }
}

/// One param of a typed call: any `Serialize` value, erased so that it crosses the object-safe
/// [`Transport`](crate::Transport) trait. The encoding serialises it straight to the wire before
/// [`call_typed`](crate::Transport::call_typed) returns, so the call's future holds no borrow of it.
pub type Param<'a> = &'a dyn erased_serde::Serialize;

/// A handler's result on the typed path ([`Dispatch::call_typed`](crate::Dispatch::call_typed)): the encoding
/// serialises it straight into the answer, or through [`reply_to_value`] where it cannot.
pub type Reply = Box<dyn erased_serde::Serialize + Send>;

/// The answer to a typed call ([`Transport::call_typed`](crate::Transport::call_typed)), still in the
/// encoding's hands: the caller reads it into its result type.
pub trait Answer: Send {
    /// Reads the result into `result`: straight from the wire bytes where they read (through
    /// [`Slot::deserialize`]), else through its value ([`Slot::set_value`], whose error is the one returned).
    /// A fault from the peer is [`Error::Fault`].
    fn read(self: Box<Self>, result: &mut dyn Slot) -> Result<(), Error>;
}

/// The answer of the value path: a result already read as a value.
#[derive(Debug)]
pub struct ValueAnswer(pub Value);

impl Answer for ValueAnswer {
    fn read(self: Box<Self>, result: &mut dyn Slot) -> Result<(), Error> {
        result.set_value(self.0)
    }
}

/// Where the result of a typed call is read to (see [`Answer`]).
pub trait Slot: Send {
    /// Decodes the result straight from the encoding's deserializer over the wire bytes. An error leaves the
    /// slot empty; the transport then decodes the bytes as a value and calls [`set_value`](Slot::set_value),
    /// whose error is the one the caller sees.
    fn deserialize(&mut self, de: &mut dyn erased_serde::Deserializer<'_>) -> Result<(), erased_serde::Error>;

    /// Decodes the result from a value: the value path.
    fn set_value(&mut self, value: Value) -> Result<(), Error>;
}

/// The [`Slot`] for a result of type `T`: empty until a call fills it.
#[derive(Debug)]
pub struct ResultSlot<T>(pub Option<T>);

impl<T> Default for ResultSlot<T> {
    fn default() -> ResultSlot<T> {
        ResultSlot(None)
    }
}

impl<T: DeserializeOwned + Send + 'static> Slot for ResultSlot<T> {
    fn deserialize(&mut self, de: &mut dyn erased_serde::Deserializer<'_>) -> Result<(), erased_serde::Error> {
        self.0 = Some(erased_serde::deserialize(de)?);
        Ok(())
    }

    fn set_value(&mut self, value: Value) -> Result<(), Error> {
        self.0 = Some(crate::from_value(value)?);
        Ok(())
    }
}

/// The params of a typed call as values: the value path, for transports without a typed path and for the
/// cases a typed path hands back.
pub fn params_to_values(params: &[Param<'_>]) -> Result<Vec<Value>, Error> {
    params.iter().map(crate::to_value).collect()
}

/// A typed reply as a value: the value path. A result that cannot be encoded is the server's fault, worded as
/// the value path words it.
pub fn reply_to_value(method: &str, reply: &Reply) -> Result<Value, Fault> {
    crate::to_value(reply.as_ref()).map_err(|e| cannot_encode(method, &e))
}

pub(crate) fn cannot_encode(method: &str, e: &Error) -> Fault {
    Fault::internal_error(format!("{method}: cannot encode the result: {e}"))
}

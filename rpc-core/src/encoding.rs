//! Writing an encoding: what an encoding implements and what it calls.
//!
//! An encoding is a codec plus two small pieces of glue, and nothing else: a **server** that reads a call off
//! its wire and hands it to any [`Dispatch`](crate::Dispatch) (a generated `FooServer`, a
//! [`Router`](crate::Router)) through [`serve_call`] (or [`serve_call_value`], for params and results as
//! values), and a **client** that implements
//! [`Transport`](crate::Transport), so that any generated `FooClient<T>` calls through it. Everything else
//! (the service's types, its methods' names and params, faults, panics in handlers, middleware) is the same on
//! every encoding and lives here, in `rpc_core`.
//!
//! # A toy encoding, end to end
//! A line of text per message: a call is `ID METHOD ARG...` and its answer `ID ok VALUE` or
//! `ID err CODE MESSAGE`, each value written `i:7` (an integer) or `s:text` (a string without spaces). The
//! "wire" here is a function call into the server; a real one writes the line to a socket and reads the answer
//! back.
//!
//! ```
//! use std::sync::Arc;
//! use rpc_core::{BoxFuture, Context, Dispatch, Error, Fault, Transport, Value, encoding, service};
//!
//! // The codec: values to text and back. A value this toy cannot say is an error, never a wrong value.
//! fn write(v: &Value) -> Result<String, Error> {
//!     match v {
//!         Value::Int(i) => Ok(format!("i:{i}")),
//!         Value::String(s) if !s.contains(char::is_whitespace) => Ok(format!("s:{s}")),
//!         other => Err(Error::Encode(format!("the line encoding cannot carry {}", other.kind()))),
//!     }
//! }
//! fn read(word: &str) -> Result<Value, String> {
//!     match word.split_once(':') {
//!         Some(("i", n)) => n.parse::<i64>().map(Value::Int).map_err(|e| format!("{word}: {e}")),
//!         Some(("s", s)) => Ok(Value::from(s)),
//!         _ => Err(format!("not a value: {word:?}")),
//!     }
//! }
//!
//! // The server: a line in, a line out, for any dispatcher. Bad input gets an error line, not a panic.
//! async fn serve_line(dispatch: &impl Dispatch, line: &str) -> String {
//!     let mut words = line.split(' ');
//!     let (id, method) = (words.next().unwrap_or_default(), words.next().unwrap_or_default());
//!     let params: Result<Vec<Value>, String> = words.map(read).collect();
//!     let result = match params {
//!         // `serve_call_value` runs the handler: a panic becomes a fault, an unknown method -32601.
//!         Ok(params) => encoding::serve_call_value(dispatch, method, params, Context::new()).await,
//!         Err(why) => Err(Fault::invalid_params(why)),
//!     };
//!     let answer = result.and_then(|value| write(&value).map_err(|e| Fault::internal_error(e.to_string())));
//!     match answer {
//!         Ok(text) => format!("{id} ok {text}"),
//!         Err(fault) => format!("{id} err {} {}", fault.code, fault.message),
//!     }
//! }
//!
//! // The client: a `Transport`, so that every generated client works over it. A transport that carries values
//! // implements `call` (params as values in, the result as a value out; a fault from the peer is `Error::Fault`)
//! // and answers the generated clients' `call_typed` through it.
//! struct LineClient<D> {
//!     server: Arc<D>,
//! }
//!
//! impl<D: Dispatch> Transport for LineClient<D> {
//!     rpc_core::call_typed_through_values!();
//!
//!     fn call<'a>(&'a self, method: &'a str, params: Vec<Value>) -> BoxFuture<'a, Result<Value, Error>> {
//!         Box::pin(async move {
//!             let args: Vec<String> = params.iter().map(write).collect::<Result<_, _>>()?;
//!             let line = format!("1 {method} {}", args.join(" "));
//!             let answer = serve_line(&*self.server, line.trim_end()).await; // the wire
//!             match answer.splitn(4, ' ').collect::<Vec<_>>()[..] {
//!                 [_, "ok", value] => read(value).map_err(Error::Decode),
//!                 [_, "err", code, message] => {
//!                     let code = code.parse().map_err(|_| Error::Decode(format!("bad code {code:?}")))?;
//!                     Err(Error::Fault(Fault::new(code, message)))
//!                 }
//!                 _ => Err(Error::Decode(format!("not an answer: {answer:?}"))),
//!             }
//!         })
//!     }
//! }
//!
//! // Any service, unchanged.
//! #[service]
//! pub trait Calc {
//!     async fn double(&self, num: i64) -> i64;
//!     async fn greet(&self, name: String) -> String;
//! }
//!
//! struct Impl;
//!
//! impl Calc for Impl {
//!     async fn double(&self, num: i64) -> i64 {
//!         num * 2
//!     }
//!     async fn greet(&self, name: String) -> String {
//!         format!("hello,{name}")
//!     }
//! }
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let client = CalcClient::new(LineClient { server: Arc::new(CalcServer::new(Impl)) });
//! assert_eq!(client.double(7).await?, 14);
//! assert_eq!(client.greet("ada").await?, "hello,ada");
//! // What the server checks, it checks on every encoding: the wrong type of param is -32602, naming it.
//! let err = client.transport().call("double", vec![Value::from("seven")]).await.unwrap_err();
//! let Error::Fault(fault) = err else { panic!("{err}") };
//! assert_eq!(fault.code, Fault::INVALID_PARAMS);
//! assert!(fault.message.contains("param 1 `num` (expected i64)"), "{}", fault.message);
//! // And a value the wire cannot carry is refused before anything is sent.
//! let err = client.transport().call("greet", vec![Value::from("two words")]).await.unwrap_err();
//! assert!(matches!(err, Error::Encode(_)));
//! # Ok::<(), Error>(())
//! # }).unwrap();
//! ```
//!
//! # What a production encoding adds
//! - **Framing and a transport.** A duplex encoding (calls both ways on one connection, pipelining,
//!   cancellation, subscriptions) implements `rpc_engine::Protocol` and gets TCP, Unix sockets, stdio, TLS,
//!   limits and drain from `rpc-engine`; an HTTP encoding implements `rpc_http::Endpoint`. Their crates say how.
//! - **The typed path** (what generated code prefers, below): params serialised straight to the wire and
//!   results read straight from it, without a [`Value`] in between. A client's
//!   [`Transport::call_typed`](crate::Transport::call_typed) serialises the [`Param`]s before returning and
//!   hands back an [`Answer`] whose [`read`](Answer::read) deserializes the result into the caller's [`Slot`];
//!   a server hands [`serve_call`] the params array still on the wire ([`CallParams::Wire`](crate::CallParams),
//!   a [`WireParams`] over its bytes and its deserializer) and serialises the [`Reply`]. Write one serde serializer and one deserializer for the wire and let [`Value`] go through them
//!   as an ordinary serde type: `rpc_msgpack::codec::typed` and `rpc_json::codec::typed` are two, the
//!   [markers](DATETIME_MARKER) below are what a self-describing deserializer owes [`Value`].
//! - **Time limits.** A server bounds each handler with [`time_limit`] (its setting, or sooner when the caller
//!   sent a deadline: over HTTP the [`TIMEOUT_HEADER`]); a client waits until [`call_limit`].
//! - **Errors that say what happened.** A call that was never sent is [`Error::Connect`] (so that a balancer
//!   may send it elsewhere), one lost on the way [`Error::Transport`], bytes that do not read
//!   [`Error::Decode`], and a fault from the peer [`Error::Fault`].
//!
//! # The typed path's rule
//! The value tree is always there (echo, the CLI, introspection, params given as values); the typed path gives
//! exactly what values would ([`to_value`](crate::to_value) then the encoder; the decoder then
//! [`from_value`](crate::from_value)). Params that do not read straight into a method's types, a dispatcher
//! reads as values ([`WireParams::values`]), which says what is wrong with them: so faults are the same on every
//! encoding, whatever it reads straight.

pub use crate::dispatch::{
    TIMEOUT_HEADER, WireParams, call_limit, call_limit_at, serve_call, serve_call_value, serve_subscribe, time_limit,
    time_limit_at,
};
pub use crate::ser::{Marked, WireSerializer, marked_newtype, too_wide};
pub use crate::value::{DATETIME_STRUCT_NAME, EXT_STRUCT_NAME};
pub use crate::wire_de::{WireDeserializer, WireItem, WireReader};
use serde::de::DeserializeOwned;

use crate::{Error, Fault, Value};

pub use erased_serde;

/// Implements serde's seven `Serialize*` traits for an encoding's compound serializer (the type its
/// `serialize_seq`, `serialize_map`, `serialize_struct`, ... return) by forwarding to its inherent methods:
/// `element(&mut self, &T)` for an item of a sequence, tuple, tuple struct or tuple variant; `key(&mut self, &T)`
/// and `value(&mut self, &T)` for a map's entries; `field(&mut self, &'static str, &T)` for a struct's or a
/// struct variant's; `end_seq(self)` and `end_map(self)` to close them. Each returns `Result<(), Error>`, but the
/// two `end`s, which return `Result<Ok, Error>` (`Ok` is the third argument, `()` when left out).
///
/// ```ignore
/// rpc_core::serialize_compound!(Compound<'_, '_>, Error);
/// ```
#[macro_export]
macro_rules! serialize_compound {
    ($compound:ty, $error:ty) => {
        $crate::serialize_compound!($compound, $error, ());
    };
    ($compound:ty, $error:ty, $ok:ty) => {
        $crate::serialize_compound!(@elements $compound, $error, $ok,
            SerializeSeq serialize_element, SerializeTuple serialize_element,
            SerializeTupleStruct serialize_field, SerializeTupleVariant serialize_field);
        $crate::serialize_compound!(@fields $compound, $error, $ok, SerializeStruct, SerializeStructVariant);
        impl $crate::__private::ser::SerializeMap for $compound {
            type Ok = $ok;
            type Error = $error;
            fn serialize_key<T: $crate::__private::Serialize + ?Sized>(&mut self, key: &T) -> Result<(), $error> {
                self.key(key)
            }
            fn serialize_value<T: $crate::__private::Serialize + ?Sized>(
                &mut self,
                value: &T,
            ) -> Result<(), $error> {
                self.value(value)
            }
            fn end(self) -> Result<$ok, $error> {
                self.end_map()
            }
        }
    };
    (@elements $compound:ty, $error:ty, $ok:ty, $($trait:ident $method:ident),*) => {$(
        impl $crate::__private::ser::$trait for $compound {
            type Ok = $ok;
            type Error = $error;
            fn $method<T: $crate::__private::Serialize + ?Sized>(&mut self, value: &T) -> Result<(), $error> {
                self.element(value)
            }
            fn end(self) -> Result<$ok, $error> {
                self.end_seq()
            }
        }
    )*};
    (@fields $compound:ty, $error:ty, $ok:ty, $($trait:ident),*) => {$(
        impl $crate::__private::ser::$trait for $compound {
            type Ok = $ok;
            type Error = $error;
            fn serialize_field<T: $crate::__private::Serialize + ?Sized>(
                &mut self,
                key: &'static str,
                value: &T,
            ) -> Result<(), $error> {
                self.field(key, value)
            }
            fn end(self) -> Result<$ok, $error> {
                self.end_map()
            }
        }
    )*};
}

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

/// What [`Transport::call_typed`](crate::Transport::call_typed) returns: the call, to its answer (for the caller
/// to read) or its error.
pub type AnswerFuture<'a> = crate::BoxFuture<'a, Result<Box<dyn Answer>, Error>>;

/// One param of a typed call: any `Serialize` value, erased so that it crosses the object-safe
/// [`Transport`](crate::Transport) trait. The encoding serialises it straight to the wire before
/// [`call_typed`](crate::Transport::call_typed) returns, so the call's future holds no borrow of it.
pub type Param<'a> = &'a dyn erased_serde::Serialize;

/// A handler's result ([`Dispatch::call`](crate::Dispatch::call)): the encoding
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

/// [`Transport::call_typed`](crate::Transport::call_typed) for a transport that carries values, whose own
/// [`Transport::call`](crate::Transport::call) does the work (it must implement it: `call`'s default is this
/// the other way round): the params as values, the result read from the value.
pub fn call_through_values<'a, T: crate::Transport + ?Sized>(
    transport: &'a T,
    method: &'a str,
    params: &[Param<'_>],
) -> AnswerFuture<'a> {
    let params = params_to_values(params);
    Box::pin(async move { Ok(Box::new(ValueAnswer(transport.call(method, params?).await?)) as Box<dyn Answer>) })
}

/// The [`Transport::call_typed`](crate::Transport::call_typed) of a transport that carries values: an item
/// for its `impl Transport` block, answering through [`call_through_values`] (so the block implements `call`).
///
/// ```ignore
/// impl Transport for MyValuesTransport {
///     rpc_core::call_typed_through_values!();
///     fn call<'a>(&'a self, method: &'a str, params: Vec<Value>) -> BoxFuture<'a, Result<Value, Error>> { ... }
/// }
/// ```
#[macro_export]
macro_rules! call_typed_through_values {
    () => {
        fn call_typed<'a>(
            &'a self,
            method: &'a str,
            params: &[$crate::encoding::Param<'_>],
        ) -> $crate::encoding::AnswerFuture<'a> {
            $crate::encoding::call_through_values(self, method, params)
        }
    };
}

/// A typed reply as a value: the value path. A result that cannot be encoded is the server's fault, worded as
/// the value path words it.
pub fn reply_to_value(method: &str, reply: &Reply) -> Result<Value, Fault> {
    crate::to_value(reply.as_ref()).map_err(|e| cannot_encode(method, &e))
}

/// The fault a server answers with when the result of `method` cannot be encoded (its error `e`): an internal
/// error naming the method, unless it is not known (given as ""). Every encoding words it so.
pub fn cannot_encode(method: &str, e: &dyn std::fmt::Display) -> Fault {
    match method {
        "" => Fault::internal_error(format!("cannot encode the result: {e}")),
        method => Fault::internal_error(format!("{method}: cannot encode the result: {e}")),
    }
}

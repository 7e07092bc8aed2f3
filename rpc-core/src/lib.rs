//! The shared core of the `rpc` framework: one value model, faults and errors, and the traits that every
//! encoding and transport plugs into. Nothing here knows XML, MessagePack or JSON.
//!
//! Annotate a trait with [`#[service]`](service) and get both halves of a remote call: a typed client,
//! `<Trait>Client<T>`, that works over any [`Transport`], and a dispatcher, `<Trait>Server<S>`, that any server
//! transport can serve (it implements [`Dispatch`]).
//!
//! ```
//! use rpc_core::{MemoryTransport, service};
//!
//! #[service]
//! pub trait Services {
//!     /// Returns num * 2.
//!     async fn double(&self, num: i64) -> i64;
//! }
//!
//! struct Doubler;
//!
//! impl Services for Doubler {
//!     async fn double(&self, num: i64) -> i64 {
//!         num * 2
//!     }
//! }
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! // In-process here; `rpc-xml` serves `ServicesServer` over HTTP and gives a `Transport` for the client.
//! let client = ServicesClient::new(MemoryTransport::new(ServicesServer::new(Doubler)));
//! println!("Double 7 is {}", client.double(7).await?);
//! # Ok::<(), rpc_core::Error>(())
//! # }).unwrap();
//! ```
//!
//! # The pieces
//! - [`Value`], [`Map`], [`DateTime`], [`Ext`]: the value model, with [`to_value`] and [`from_value`] to and
//!   from any serde type.
//! - [`Fault`]: an error that travels on the wire; [`Error`]: everything that can fail a call locally.
//! - [`Dispatch`], [`Router`], [`Context`]: the server side.
//! - [`Transport`], [`MemoryTransport`]: the client side.
//!
//! # What `#[service]` accepts
//! A trait whose methods are all `async fn name(&self, params...) -> R`, where every param is an owned type
//! that is `serde::Deserialize + Serialize` (optional trailing `Option<T>` params may be left out by callers),
//! one param may be `&Context` (given by the transport, not sent on the wire), and `R` is any
//! `Serialize + Deserialize` type or `Result<T, E>` with `E: Into<Fault>` (with `E: Serialize` too, the error
//! itself travels as the fault's data). The trait's methods become
//! `fn ... -> impl Future<Output = R> + Send`, so implementations write plain `async fn`s whose futures must be
//! `Send`. `#[rpc(name = "wire.name")]` on a method sets its name on the wire; `#[service(namespace = "ns")]`
//! prefixes every name of the trait with `ns.`, for the client and the server alike. Doc comments become the
//! methods' documentation ([`MethodInfo::docs`]).
//!
//! A handler's `Err` always travels as a fault, never as a successful value. A return type is taken for a
//! `Result` when it is spelled `Result<T, E>` or its name ends in `Result` (`std::io::Result<T>`,
//! `errors::Result<T>`, `StoreResult<T>`: aliases); another alias of a `Result` (`type Res<T> = ...`) fails to
//! compile with a message saying to mark the method `#[rpc(result)]`, and a plain type whose name ends in
//! `Result` is marked `#[rpc(value)]`.
//!
//! For a trait `Foo`, the macro generates:
//! - `FooClient<T>`: `new(transport)`, `with_prefix(transport, "math")` (for a service mounted with
//!   [`Router::mount_prefixed`]: names are sent as `math.name`), `transport()`, `into_transport()`, and one
//!   `async fn` per method, whose params take [`Arg`]s (the type, a reference to it, `&str` for `String`,
//!   `&[T]` for `Vec<T>`) and which returns `Result<R, rpc_core::Error>` for a method returning `R` or
//!   `Result<R, Fault>` (a fault from the server is [`Error::Fault`]) and `Result<T, CallError<E>>` for one
//!   returning `Result<T, E>` (the service's own `E` read back from the fault's [`data`](Fault::data), see
//!   [`CallError`]). When every method returns `Result<T, E>` with `E: From<Error>`, `FooClient<T>` implements
//!   `Foo` too, so code written against `&impl Foo` takes a remote service;
//! - `FooServer<S>`: `new(impl)`, `from_arc(Arc<impl>)`, and [`Dispatch`]; unknown names answer -32601, a
//!   wrong number of params or a param of the wrong type -32602 with a message naming the method, the param and
//!   the expected type.
//!
//! Both take the typed path where the encoding offers one (JSON-RPC, MessagePack-RPC): params and results go
//! straight between the wire and the Rust types, with the value tree behind them for everything else.
//!
//! What an encoding implements and calls (the typed path's contracts, serving a call, time limits, the serde
//! names of datetimes and exts) is in [`encoding`], with a page that writes a toy encoding end to end.

#![deny(missing_docs)]

mod arg;
mod de;
mod dispatch;
pub mod encoding;
mod error;
mod fault;
mod memory;
pub mod middleware;
mod router;
mod ser;
pub mod stream;
pub mod trace;
mod transport;
mod value;
mod wire_de;

#[doc(hidden)]
pub mod __private;

pub use arg::Arg;
pub use de::from_value;
pub use dispatch::{
    BoxFuture, CallFuture, CallParams, Context, DEFAULT_HANDLER_TIMEOUT, Dispatch, MethodInfo, ParamInfo, RemoteAddr,
    StreamFuture, call_deadline, deadline, with_deadline, within_deadline,
};
pub use error::{CallError, Delivery, Error};
pub use fault::Fault;
pub use memory::MemoryTransport;
pub use router::Router;
pub use ser::to_value;
pub use stream::{Stream, Subscription};
pub use transport::Transport;
pub use value::{DateTime, Ext, Map, Value};

/// Turns a trait into an RPC service: a typed client and a dispatcher. See the [crate docs](crate).
pub use rpc_derive::service;

//! zerorpc for the `rpc` framework: dotCloud's MessagePack-RPC over ZeroMQ (protocol version 3), interoperable
//! with zerorpc-python, Node's `zerorpc` and the other ports. A [`Server`] serves any [`Dispatch`] on a ROUTER
//! socket bound to `tcp://` and `ipc://` endpoints; a [`Client`] is a [`Transport`] over DEALER sockets, so the
//! clients `#[service]` generates work over it unchanged.
//!
//! ```no_run
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
//!     let server = rpc_zerorpc::Server::new(ServicesServer::new(Doubler)).bind(&["tcp://127.0.0.1:4242"]).await?;
//!     tokio::spawn(server.run());
//!     let client = ServicesClient::new(rpc_zerorpc::Client::connect("tcp://127.0.0.1:4242").await?);
//!     println!("Double 8 is {}", client.double(8).await?);
//!     Ok(())
//! }
//! ```
//!
//! Python's zerorpc calls the same server: `zerorpc.Client("tcp://127.0.0.1:4242").double(8)` is `16`.
//!
//! # The protocol
//! Every ZeroMQ message carries one event, the MessagePack array `[header, name, args]`; the header holds
//! `message_id`, `v: 3`, and on every event of a channel but its first `response_to`, the channel's first id.
//! A request (`name` the method, `args` its params) opens a channel; it is answered `OK [result]` or
//! `ERR [name, message, traceback]`, or for a stream method with `STREAM item` events and a closing
//! `STREAM_DONE`. While a channel is open both ends send `_zpc_hb` heartbeats every 5 s (zerorpc's default,
//! [`Server::heartbeat`], [`ClientBuilder::heartbeat`]) and give the peer up after two silent intervals (the
//! call is dropped on the server; it fails on the client with an error that says the remote was lost).
//! `STREAM` events are paced by the receiver's `_zpc_more` credits: a server sends only as many items as its
//! client has room for.
//!
//! A stream method (returning [`rpc_core::Stream`]) is called by its plain name (`count`, not its
//! `subscribe_count` on other transports), as `@zerorpc.stream` methods are; [`Client`]'s subscriptions do so.
//! zerorpc has no unsubscribe: a client that drops a stream stops its heartbeats and credits, so the server
//! stops sending at once and drops the stream two heartbeat intervals later.
//!
//! `_zerorpc_name`, `_zerorpc_ping` (`["pong", name]`), `_zerorpc_list`, `_zerorpc_help(method)`,
//! `_zerorpc_args(method)` and `_zerorpc_inspect` (`{"name", "methods": {method: {"args": [{"name"}], "doc"}}}`)
//! are answered from the `#[service]` metadata.
//!
//! # Faults
//! A fault goes out as `ERR ["Fault(CODE)", message, traceback]`, the traceback being the fault's data, if any
//! (zerorpc-python raises `RemoteError` with that name and message). An `ERR` comes in as a fault: a
//! `Fault(CODE)` name gives its code back; any other name (a Python exception's, `ValueError`) is fault
//! -32000 with the message `NAME: MESSAGE` and the data `{"name", "traceback"}`.
//!
//! # Bad input
//! An event that is not MessagePack, not a 3-array, or without a `message_id` is dropped and logged; one with
//! an unknown `v` is answered `ERR` (its id is known); an event over [`Server::max_message_size`] is dropped.
//! Heartbeats and credits for channels that are not open are ignored, so a flood of them costs a lookup each.
//! The server goes on serving every other peer.
//!
//! # Why the `zeromq` crate
//! ZeroMQ comes from [`zeromq`](https://crates.io/crates/zeromq) (zmq.rs), the pure-Rust implementation of
//! ZMTP 3 on tokio, rather than the `zmq` bindings to libzmq: it is async (the bindings block a thread per
//! socket, or need their file descriptor polled by hand), needs no C library in the build, is maintained (0.7,
//! 2025), and speaks to libzmq peers: the tests run zerorpc-python (pyzmq on libzmq) against it both ways. What
//! it lacks: a limit on a frame's size before it is read (libzmq's `ZMQ_MAXMSGSIZE`): a larger event is
//! dropped once read, so a peer can make this side buffer one large frame.

mod client;
mod error;
pub mod event;
mod server;

use std::time::Duration;

pub use client::{Client, ClientBuilder, DEFAULT_CLIENT_MAX_MESSAGE_SIZE, DEFAULT_TIMEOUT};
pub use error::Error;
#[doc(no_inline)]
pub use rpc_core::{Dispatch, Transport};
pub use server::{Bound, Server};

/// How often open channels heartbeat by default: every 5 seconds, as zerorpc's.
pub const DEFAULT_HEARTBEAT: Duration = Duration::from_secs(5);
/// The default largest event a server reads: 16 MiB.
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 16 * 1024 * 1024;
/// The default nesting limit in an event: 64.
pub const DEFAULT_MAX_DEPTH: usize = 64;
/// The default limit on channels (calls and streams) a server holds open at once: 10,000.
pub const DEFAULT_MAX_CHANNELS: usize = 10_000;
/// The default number of stream items a client buffers (and grants its server credits for): 100.
pub const DEFAULT_STREAM_BUFFER: usize = 100;

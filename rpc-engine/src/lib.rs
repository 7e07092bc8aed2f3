//! The connection engine of the `rpc` framework: one duplex session for every framing, and the acceptor every
//! server shares.
//!
//! An encoding that runs over a byte stream in both directions (MessagePack-RPC; JSON-RPC over TCP, Unix
//! sockets, stdio and WebSocket) is a codec plus an impl of [`Protocol`]: how to cut a frame from the stream
//! ([`Framing`]), what a frame is ([`Incoming`]: request, notification, response, invalid), and how to write
//! the three envelopes. This crate does the rest, once, for all of them:
//!
//! - msgid matching, pipelined calls answered in the order they finish, calls in both directions ([`Peer`]);
//! - in-flight bounds per connection and per server, backpressure (no unbounded queue: a peer that does not
//!   read stops being read), notifications run one at a time in arrival order;
//! - write batching (small answers queued together go out in one write), graceful drain, calls in flight
//!   dropped when their connection closes;
//! - the [`Acceptor`]: TCP and Unix listeners, connection permits, the TLS handshake and its timeout,
//!   connection-level authentication ([`ConnectionInfo`]), and graceful shutdown.
//!
//! It is a crate of its own, not a module of `rpc-core`, because it brings tokio's networking, rustls and the
//! accept loop, which a user of `rpc-core` alone (a service trait, the in-memory transport) need not compile;
//! and because it is what every duplex encoding and every server depends on, while knowing none of them.
//!
//! Users meet it through an encoding: `rpc_msgpack::Server` is [`Server`]`<D, MessagePack>`, and a handler
//! finds the same [`Peer`] in its context whichever duplex encoding carries the call.
//!
//! # The pieces
//! - [`Protocol`], [`Incoming`], [`RawPart`]: what the engine asks of an encoding.
//! - [`Framing`], [`Decoder`]: how messages are cut from a byte stream (self-delimited, one per line, or LSP's
//!   `Content-Length` header) and written back.
//! - [`Server`], [`Client`], [`ClientBuilder`]: a duplex server and client, generic over the protocol.
//! - [`Peer`]: a handle for calling the other end of a connection, from either side.
//! - [`Acceptor`], [`Listener`], [`ConnectionInfo`]: accepting connections, for duplex and HTTP servers.
//! - [`Error`]: what can go wrong on a connection.

#![deny(missing_docs)]

/// Builder setters, each `pub fn NAME(mut self, ARG: TYPE) -> Self` after its doc comment: `=> [FIELD.PATH]`
/// sets the field to the argument, `=> [Some(FIELD)]` to `Some` of it, `=> [FIELD.METHOD()]` to the field's own
/// setter of it.
macro_rules! setters {
    ($($(#[$doc:meta])* $name:ident($arg:ident: $ty:ty) => [$($how:tt)+];)*) => {$(
        setters!(@one $(#[$doc])* $name($arg: $ty) => $($how)+);
    )*};
    (@one $(#[$doc:meta])* $name:ident($arg:ident: $ty:ty) => Some($($field:ident).+)) => {
        $(#[$doc])*
        pub fn $name(mut self, $arg: $ty) -> Self {
            self.$($field).+ = Some($arg);
            self
        }
    };
    (@one $(#[$doc:meta])* $name:ident($arg:ident: $ty:ty) => $field:ident.$method:ident()) => {
        $(#[$doc])*
        pub fn $name(mut self, $arg: $ty) -> Self {
            self.$field = self.$field.$method($arg);
            self
        }
    };
    (@one $(#[$doc:meta])* $name:ident($arg:ident: $ty:ty) => $($field:ident).+) => {
        $(#[$doc])*
        pub fn $name(mut self, $arg: $ty) -> Self {
            self.$($field).+ = $arg;
            self
        }
    };
}

mod accept;
mod auth;
mod client;
mod error;
pub mod framing;
pub mod protocol;
mod server;
mod session;
mod subscribe;
mod tls;
mod ws;

/// The WebSocket implementation (tokio-tungstenite), re-exported for servers that accept upgrades themselves.
pub use tokio_tungstenite;

/// The rustls version the TLS settings take, re-exported so users need not match it by hand.
pub use rustls;

pub use accept::{
    Acceptor, DEFAULT_MAX_CONNECTIONS, DEFAULT_SHUTDOWN_TIMEOUT, DEFAULT_TLS_HANDSHAKE_TIMEOUT, Listener,
    ServeConnection,
};
pub use auth::ConnectionInfo;
pub use client::{Client, ClientBuilder, DEFAULT_CLIENT_MAX_MESSAGE_SIZE, TextFraming};
pub use error::Error;
pub use framing::{Broken, Decoder, Framing};
pub use protocol::{
    Answered, ByteString, CANCEL_METHOD, Incoming, Limits, OutParams, Params, Part, Protocol, Push, Pushed,
    PushedEvent, RawPart, RequestId, fault_from_value, fault_value, method_name,
};
pub use server::{DEFAULT_MAX_IN_FLIGHT_TOTAL, DEFAULT_MAX_MESSAGE_SIZE, Server};
pub use session::{DEFAULT_MAX_DEPTH, DEFAULT_MAX_IN_FLIGHT, DEFAULT_TIMEOUT, DEFAULT_WRITE_QUEUE, Peer};
pub use subscribe::{DEFAULT_MAX_SUBSCRIPTIONS, DEFAULT_SUBSCRIPTION_BUFFER};
pub use ws::{DEFAULT_PING_INTERVAL, DEFAULT_WS_HANDSHAKE_TIMEOUT};

//! MessagePack-RPC for the `rpc` framework, on tokio: TCP, Unix domain sockets and stdio, pipelined calls,
//! notifications, and calls in both directions on one connection. It talks to Neovim, Python's `msgpack`,
//! pynvim and Node's `msgpack5rpc`.
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
//!
//! impl Services for Doubler {
//!     async fn double(&self, num: i64) -> i64 {
//!         num * 2
//!     }
//! }
//!
//! #[tokio::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     // Server: serve the trait's dispatcher on a listener (TCP here; a UnixListener or stdio work alike).
//!     let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//!     let addr = listener.local_addr()?;
//!     tokio::spawn(rpc_msgpack::Server::new(ServicesServer::new(Doubler)).serve(listener));
//!
//!     // Client: the generated typed client over one multiplexed connection.
//!     let client = ServicesClient::new(rpc_msgpack::Client::connect(addr).await?);
//!     println!("Double 8 is {}", client.double(8).await?);
//!     Ok(())
//! }
//! ```
//!
//! Python's `msgpack` talks to the same server over a plain socket:
//! `sock.sendall(msgpack.packb([0, 1, "double", [8]]))` is answered with `[1, 1, None, 16]`.
//!
//! # Calls in both directions
//! Either end of a connection can call the other, as Neovim and its plugins do. A server's handlers find a
//! [`Peer`] in their [`Context`](rpc_core::Context) for calling or notifying the client that called them; a
//! client registers a [`Dispatch`](rpc_core::Dispatch) with [`ClientBuilder::handler`] to answer the server.
//!
//! ```no_run
//! use rpc_core::service;
//! use rpc_msgpack::MessagePackSettings;
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
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! // Connect to `nvim --listen 127.0.0.1:6666`, serving `double` to it.
//! let nvim = rpc_msgpack::Client::builder()
//!     .handler(ServicesServer::new(Doubler))
//!     .error_format(rpc_msgpack::codec::ErrorFormat::Neovim)
//!     .connect("127.0.0.1:6666")
//!     .await?;
//! let info = nvim.call("nvim_get_api_info", vec![]).await?;
//! let channel = info.as_array().and_then(|i| i.first()).and_then(|c| c.as_i64()).unwrap_or_default();
//! // Neovim calls us back while we wait for its answer.
//! let expr = format!("rpcrequest({channel}, 'double', 8)");
//! assert_eq!(nvim.call("nvim_eval", vec![expr.into()]).await?, rpc_core::Value::Int(16));
//! # Ok(())
//! # }
//! ```
//!
//! # TLS and authentication
//! [`Server::tls`] speaks TLS (rustls, re-exported as [`rustls`]) on every connection it accepts, and
//! [`ClientBuilder::connect_tls`] connects to it, trusting the system's root certificates or the
//! [`ClientBuilder::tls_config`] given (a private CA, a client certificate). [`Server::authenticate`] decides on
//! each connection once it is accepted, from its [`ConnectionInfo`] (the peer's address, the TLS client's
//! certificates): it refuses it, or admits it as an identity of any type that the connection's handlers then
//! find in their [`Context`](rpc_core::Context), next to the `ConnectionInfo`.
//!
//! ```no_run
//! use std::sync::Arc;
//!
//! use rpc_core::Context;
//! use rpc_msgpack::rustls::{self, pki_types::{CertificateDer, PrivateKeyDer}};
//! use rpc_msgpack::{ConnectionInfo, Server};
//!
//! /// Who is calling: the admitted client's certificate.
//! struct Caller(CertificateDer<'static>);
//!
//! /// A handler that tells who calls (`cx` is its `&Context` param).
//! fn caller(cx: &Context) -> Option<&Caller> {
//!     cx.get::<Caller>()
//! }
//!
//! # async fn run(certs: Vec<CertificateDer<'static>>, key: PrivateKeyDer<'static>, ca: rustls::RootCertStore)
//! #     -> Result<(), Box<dyn std::error::Error>> {
//! // Ask clients for certificates from our CA; admit only those that present one.
//! let verifier = rustls::server::WebPkiClientVerifier::builder(Arc::new(ca)).build()?;
//! let tls = rustls::ServerConfig::builder().with_client_cert_verifier(verifier).with_single_cert(certs, key)?;
//! let server = Server::new(rpc_core::Router::new())
//!     .tls(Arc::new(tls))
//!     .authenticate(|c: &ConnectionInfo| Some(Caller(c.peer_certificates.as_ref()?.first()?.clone())));
//! server.serve(tokio::net::TcpListener::bind("0.0.0.0:6789").await?).await?;
//! # Ok(())
//! # }
//! ```
//!
//! # Cancellation
//! A peer cancels its call `MSGID` with the notification `[2, "$/cancelRequest", [MSGID]]` (LSP's convention):
//! the server drops the handler and answers the call with the error `[-32800, "cancelled: ..."]`
//! ([`Fault::REQUEST_CANCELLED`](rpc_core::Fault::REQUEST_CANCELLED)); an unknown msgid is ignored. [`Client`]
//! sends it for a call whose future is dropped before its answer (a `tokio::time::timeout` around the call, the
//! call timeout), so giving up on a call stops the work on the server too.
//!
//! # Streams
//! A stream method (one returning [`rpc_core::Stream`], see [`rpc_core::stream`]) is a subscription:
//! `[0, MSGID, "subscribe_<name>", PARAMS]` is answered with the subscription's id (`[1, MSGID, nil, ID]`, a
//! number per connection); each item then comes as the notification `[2, "<name>", [ID, ITEM]]`, and the end
//! as one last `[2, "<name>", [ID, nil, nil]]`, or `[2, "<name>", [ID, nil, [CODE, MESSAGE]]]` (the fault's data
//! as a third element, if any) for a stream that failed; `[0, MSGID, "unsubscribe_<name>", [ID]]` ends it
//! early and is answered `true` once the stream has been dropped (`false` for an unknown id). Items are polled
//! only as the connection can write them ([`Server::max_subscriptions`](rpc_engine::Server::max_subscriptions)
//! bounds the subscriptions per connection; [`ClientBuilder::subscription_buffer`] what a subscriber may leave
//! unread).
//!
//! # When the connection drops
//! Calls waiting for an answer fail with [`Error::Closed`] and are never sent again (the server may have run
//! them). A [`Client`] built with [`ClientBuilder::reconnect`] opens a new connection for the next call, so it
//! carries on once a restarted server is back; without it, the client stays closed.
//!
//! # The pieces
//! This crate is MessagePack's codec plus its [`Protocol`](rpc_engine::Protocol) impl ([`MessagePack`]); the
//! connection loop, the server's accept loop and the client are the shared engine's (`rpc-engine`), which
//! JSON-RPC's duplex transports run on too.
//! - [`Server`]: serves a dispatcher on any [`Listener`] (TCP, Unix sockets), on stdio, or on one stream.
//! - [`Client`], [`ClientBuilder`]: one connection, multiplexed; implements [`rpc_core::Transport`].
//! - [`Peer`]: a handle for calling the other end of a connection, from either side.
//! - [`ConnectionInfo`]: what a server knows about a connection, for its authentication hook and handlers.
//! - [`codec`]: the incremental MessagePack [`Codec`](codec::Codec) (a tokio-util decoder and encoder) and the
//!   [`Message`](codec::Message) envelopes.
//! - [`Error`]: what can go wrong here, and the fault each case answers with.
//!
//! # Wire format
//! - Messages are `[0, msgid, method, params]`, `[1, msgid, error, result]` and `[2, method, params]`, back to
//!   back on the stream. Strings go out as str, bytes as bin, [`Ext`](rpc_core::Ext) as ext; integers keep
//!   their full `i64` and `u64` range; map keys may be any value. A method name, or a str param, may arrive as
//!   bin (pynvim sends method names so). See [`codec`] for the whole type mapping.
//! - Errors go out as `[code, message]` with the standard codes of [`rpc_core::Fault`], or as Neovim's
//!   `[type, message]` ([`ErrorFormat`](codec::ErrorFormat), a builder setting: Neovim shows any other error
//!   as "unknown error"). An error object from a peer may be any value and is read as described at
//!   [`codec::error_to_fault`] (Neovim's `[type, message]` keeps its type as the code).
//!
//! # Limits
//! Every limit is logged (with `tracing`) when it is hit.
//!
//! | setting | default | what it bounds |
//! |---|---|---|
//! | [`Server::max_message_size`] / [`ClientBuilder::max_message_size`] | 16 MiB / 64 MiB | one incoming message, checked on each declared length before anything is allocated |
//! | `max_depth` | 64 | nesting of arrays and maps in a message |
//! | `max_in_flight` | 128 | calls handled at once per connection (as many more wait, then reading stops) |
//! | [`Server::max_in_flight_total`] | 10,000 | calls handled at once across a server's connections (more wait; then their connections stop reading) |
//! | `handler_timeout` | 5 min | one call's handler, on a server or a client (then the call is answered -32603 and its handler dropped) |
//! | `write_queue` | 128 | encoded messages waiting to be written per connection |
//! | [`ClientBuilder::timeout`] / [`Server::call_timeout`] | 30 s | one outgoing call, from queueing to its answer |
//! | [`Server::max_connections`] | 10,000 | connections served at once (more are closed on accept) |
//! | [`Server::idle_timeout`] | off | how long a connection may sit quiet with no call in flight (long-lived editor connections are quiet by design) |
//! | [`Server::tls_handshake_timeout`] | 10 s | a TLS client's handshake |
//! | [`Server::shutdown_timeout`] | 30 s | how long a graceful shutdown waits for calls in flight |
//!
//! A message over a limit, or bytes that are not MessagePack, close the connection they came on (the request
//! they were in is answered with an error first when its msgid can be read); other connections go on.
//!
//! Idle connections are cheap: until a client sends its first bytes, a server holds nothing for it but its
//! socket and a small task (about 3 KiB in all), and a connection waiting between messages holds no read or
//! write buffer (about 8 KiB in all).

#![deny(missing_docs)]

pub mod codec;
mod error;
mod protocol;

/// The rustls version this crate's TLS settings take, re-exported so users need not match it by hand.
pub use rpc_engine::rustls;

pub use error::Error;
pub use protocol::{MessagePack, MessagePackSettings};
pub use rpc_engine::{
    ConnectionInfo, DEFAULT_CLIENT_MAX_MESSAGE_SIZE, DEFAULT_MAX_CONNECTIONS, DEFAULT_MAX_IN_FLIGHT,
    DEFAULT_MAX_IN_FLIGHT_TOTAL, DEFAULT_MAX_MESSAGE_SIZE, DEFAULT_SHUTDOWN_TIMEOUT, DEFAULT_TIMEOUT,
    DEFAULT_TLS_HANDSHAKE_TIMEOUT, DEFAULT_WRITE_QUEUE, Listener, Peer,
};

/// The MessagePack-RPC server: the engine's duplex [`Server`](rpc_engine::Server) speaking MessagePack-RPC.
/// See [`rpc_engine::Server`] for its settings; [`MessagePackSettings`] adds the error shape.
pub type Server<D> = rpc_engine::Server<D, MessagePack>;

/// The MessagePack-RPC client: the engine's [`Client`](rpc_engine::Client) speaking MessagePack-RPC.
pub type Client = rpc_engine::Client<MessagePack>;

/// Settings for a [`Client`], and the handler that answers the server's calls.
pub type ClientBuilder = rpc_engine::ClientBuilder<MessagePack>;

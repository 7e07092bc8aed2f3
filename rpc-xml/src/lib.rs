//! XML-RPC over HTTP for the `rpc` framework: a quick-xml codec, a hyper server and a pooled client, which
//! interoperate both ways with Python's `xmlrpc.client` and `xmlrpc.server`.
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
//!
//! impl Services for Doubler {
//!     async fn double(&self, num: i64) -> i64 {
//!         num * 2
//!     }
//! }
//!
//! #[tokio::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     // Server: serve the trait's dispatcher on a listener.
//!     let listener = tokio::net::TcpListener::bind("127.0.0.1:6789").await?;
//!     tokio::spawn(rpc_xml::Server::new(ServicesServer::new(Doubler)).serve(listener));
//!
//!     // Client: the generated typed client over an XML-RPC transport.
//!     let client = ServicesClient::new(rpc_xml::Client::new("http://127.0.0.1:6789/")?);
//!     println!("Double 7 is {}", client.double(7).await?);
//!     Ok(())
//! }
//! ```
//!
//! Python's stdlib talks to the same server:
//! `xmlrpc.client.ServerProxy('http://127.0.0.1:6789/').double(7)` returns 14.
//!
//! # Wire format
//! - Types: `int`/`i4` (32-bit), the `i8` and `nil` extensions (Apache's `ex:` prefixed forms are read too),
//!   `boolean`, `double`, `string` (untagged text in a `<value>` is a string too), `dateTime.iso8601`,
//!   `base64`, `array`, `struct`. Integers outside 32 bits go out as `<i8>`. A [`Value::UInt`](rpc_core::Value)
//!   above `i64::MAX`, a non-finite double, a struct key that is not a string and a MessagePack ext cannot be
//!   sent: encoding them is an error, not a corrupted message.
//! - Faults: HTTP 200 with a `<fault>` struct of `faultCode` and `faultString`. Malformed XML answers -32700,
//!   a well-formed body that is not a valid call -32600, then -32601/-32602/-32603 as in [`rpc_core::Fault`].
//! - Safety: the body must be UTF-8; a DOCTYPE and any entity beyond the five predefined ones are refused
//!   (never expanded); nesting is bounded ([`Server::max_depth`]); bodies are bounded
//!   ([`Server::max_body_size`], HTTP 413).

#![deny(missing_docs)]

mod client;
pub mod codec;
mod error;
mod server;
mod system;

pub use client::{Client, ClientBuilder, DEFAULT_MAX_RESPONSE_SIZE, DEFAULT_TIMEOUT, XmlRpc};
pub use error::Error;
pub use rpc_http::gzip::DEFAULT_GZIP_THRESHOLD;
pub use server::{
    DEFAULT_BODY_READ_TIMEOUT, DEFAULT_DRAIN_GRACE, DEFAULT_HANDLER_TIMEOUT, DEFAULT_HEADER_READ_TIMEOUT,
    DEFAULT_MAX_BODY_SIZE, DEFAULT_MAX_CONNECTIONS, DEFAULT_SHUTDOWN_TIMEOUT, Server,
};
pub use system::DEFAULT_MAX_MULTICALL;

/// The README's examples, compiled and run as doctests so they stay true.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;

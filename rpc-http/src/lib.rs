//! The HTTP plumbing the `rpc` framework's HTTP encodings share (XML-RPC in `rpc-xml`, JSON-RPC in `rpc-json`):
//! a hyper 1.x HTTP/1.1 server with keep-alive, body limits, gzip both ways, a real header-read timeout and
//! graceful shutdown, and a pooled client. An encoding supplies an [`Endpoint`] (request body in, [`Reply`]
//! out) and a content type; it never touches HTTP itself.
//!
//! Around the server's handling of each request, [`ServerConfig::http_layer`] puts tower layers at the HTTP
//! level (tower-http's CORS, tracing, limits, or your own: see [`HttpLayer`]). A graceful shutdown loses no
//! request a client has sent or is sending on a connection it holds: requests in flight are answered, and a
//! connection with nothing in flight answers one more within [`ServerConfig::drain_grace`], each answer with
//! `Connection: close` (the README's "Behind a proxy" shows the nginx configuration this makes a rolling restart
//! safe with).
//!
//! ```no_run
//! use rpc_core::{BoxFuture, Context};
//! use rpc_http::{Endpoint, Reply, ServerConfig};
//!
//! /// Answers every request with its own body.
//! struct Echo;
//!
//! impl Endpoint for Echo {
//!     fn handle(&self, body: bytes::Bytes, _cx: Context) -> BoxFuture<'static, Reply> {
//!         Box::pin(async move { Reply::ok("text/plain", body.to_vec()) })
//!     }
//! }
//!
//! # async fn run() -> std::io::Result<()> {
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! rpc_http::serve(listener, Echo, ServerConfig::new("echo"), std::future::pending()).await
//! # }
//! ```

#![deny(missing_docs)]

// The settings macros' doc links name `rpc_http::...`, as the encodings that expand them do.
extern crate self as rpc_http;

mod auth;
mod client;
mod connect;
mod encoding;
mod error;
pub mod gzip;
mod layer;
mod server;
mod settings;
mod timer;
mod upgrade;

#[doc(hidden)]
pub use http as __http;
/// The rustls version this crate's TLS settings take, re-exported so users need not match it by hand.
pub use rustls;

pub use auth::Credentials;
pub use client::{
    Client, ClientBuilder, DEADLINE_SLACK, DEFAULT_MAX_RESPONSE_SIZE, DEFAULT_POOL_IDLE_TIMEOUT, DEFAULT_TIMEOUT,
};
pub use encoding::{EncodingClientBuilder, HttpEncoding};
pub use error::{EncodingError, Error};
pub use layer::{BoxError, HttpLayer, HttpService, RequestBody, ResponseBody};
pub use rpc_engine::Listener;
pub use server::{
    DEFAULT_BODY_READ_TIMEOUT, DEFAULT_DRAIN_GRACE, DEFAULT_HEADER_READ_TIMEOUT, DEFAULT_MAX_BODY_SIZE,
    DEFAULT_MAX_CONNECTIONS, DEFAULT_SHUTDOWN_TIMEOUT, Endpoint, Reply, ServerConfig, serve,
};
pub use upgrade::{Upgrade, UpgradedIo};

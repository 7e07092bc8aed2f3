//! JSON-RPC 2.0 over HTTP for the `rpc` framework: a serde_json codec, a hyper server and a pooled client on
//! the shared plumbing of `rpc-http`, with batches, notifications and named params.
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
//!     // Server: serve the trait's dispatcher on a listener (port 0: the OS picks one).
//!     let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//!     let url = format!("http://{}/", listener.local_addr()?);
//!     tokio::spawn(rpc_json::Server::new(ServicesServer::new(Doubler)).serve(listener));
//!
//!     // Client: the generated typed client over a JSON-RPC transport.
//!     let client = ServicesClient::new(rpc_json::Client::new(&url)?);
//!     println!("Double 9 is {}", client.double(9).await?);
//!     Ok(())
//! }
//! ```
//!
//! Any HTTP client talks to the same server: `curl -d '{"jsonrpc":"2.0","method":"double","params":{"num":9},"id":1}'
//! http://127.0.0.1:6789/` prints `{"jsonrpc":"2.0","result":18,"id":1}`.
//!
//! # Wire format
//! - Requests: `{"jsonrpc": "2.0", "method": ..., "params": [...] or {...}, "id": ...}`, `POST`ed to `/`.
//!   Named params are matched to the Rust param names of the `#[service]` trait (unknown, repeated or missing
//!   names are -32602; trailing `Option` params may be left out). A request without an `id` is a
//!   notification: it runs, and nothing is answered. Ids of any JSON-RPC kind (string, number, null) are
//!   echoed byte for byte, so `1.0` and `123456789012345678901234567890` come back as they were sent.
//! - Batches: an array of requests, answered by an array of the responses in the same order (requests run
//!   concurrently); notifications leave no entry, and a batch of nothing but notifications is answered with
//!   HTTP 204 and no body, as is a single notification. An empty batch gets one -32600 error; each invalid
//!   element of a batch gets its own -32600 error in place.
//! - Errors: `{"code": ..., "message": ...}` with the codes of [`rpc_core::Fault`]: -32700 for a body that is
//!   not JSON (with id null), -32600 for JSON that is not a valid request (or nests over the limit, or a batch
//!   over its limit), -32601 for an unknown method, -32602 for bad params, -32603 for a handler panic or a
//!   result that cannot be encoded; a handler's own fault keeps its code. Errors are HTTP 200.
//! - Values JSON cannot say (bytes, datetimes, ext values, maps with non-string keys, NaN and infinities)
//!   have one spelling each, `{"$base64": "..."}` and so on, listed in [`codec`]; integers keep their full
//!   `i64` and `u64` range as plain numbers.
//! - `rpc.discover` answers an OpenRPC document of the methods ([`Server::introspection`]).
//!
//! # Limits
//! | setting | default | what it bounds |
//! |---|---|---|
//! | [`Server::max_body_size`] | 16 MiB | request body (HTTP 413 above it) |
//! | [`Server::max_depth`] / [`ClientBuilder::max_depth`] | 64 (at most 120) | nesting of arrays and objects in params / a result (-32600 above it), counted on the bytes before parsing |
//! | [`Server::max_batch`] | 1000 | requests in one batch (one -32600 error above it) |
//! | [`Server::header_read_timeout`] / [`Server::body_read_timeout`] | 30 s / 30 s | time to send request headers (HTTP 408 for a slow body) |
//! | [`Server::handler_timeout`] | 5 min | one request's handler (-32603 above it) |
//! | [`Server::max_connections`] | 10,000 | connections served at once (HTTP 503 above it) |
//! | [`Server::max_decompressed_size`] | 16 MiB | what a gzip request may inflate to (HTTP 413 above it) |
//! | [`ClientBuilder::timeout`] | 30 s | one call or batch, send to last byte |
//! | [`ClientBuilder::max_response_size`] | 64 MiB | response body |

mod client;
pub mod codec;
mod discover;
pub mod duplex;
mod error;
mod server;

pub use client::{Batch, Client, ClientBuilder, DEFAULT_MAX_RESPONSE_SIZE, DEFAULT_TIMEOUT, JsonRpcOverHttp};
pub use codec::Params;
pub use error::Error;
pub use rpc_http::gzip::DEFAULT_GZIP_THRESHOLD;
pub use server::{
    DEFAULT_BODY_READ_TIMEOUT, DEFAULT_DRAIN_GRACE, DEFAULT_HANDLER_TIMEOUT, DEFAULT_HEADER_READ_TIMEOUT,
    DEFAULT_MAX_BATCH, DEFAULT_MAX_BODY_SIZE, DEFAULT_MAX_CONNECTIONS, DEFAULT_SHUTDOWN_TIMEOUT, Server,
};

//! The XML-RPC server: the shared HTTP server of `rpc-http` with an XML-RPC endpoint.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use rpc_core::{BoxFuture, Context, Dispatch};
use rpc_http::{Endpoint, Reply, ServerConfig};

use crate::codec::{self, DEFAULT_MAX_DEPTH};
use crate::system::{Answer, DEFAULT_MAX_MULTICALL, Routes, SystemConfig};

pub use rpc_http::{
    DEFAULT_BODY_READ_TIMEOUT, DEFAULT_DRAIN_GRACE, DEFAULT_HEADER_READ_TIMEOUT, DEFAULT_MAX_BODY_SIZE,
    DEFAULT_MAX_CONNECTIONS, DEFAULT_SHUTDOWN_TIMEOUT,
};

pub use rpc_core::DEFAULT_HANDLER_TIMEOUT;

/// Serves a [`Dispatch`] (a `#[service]`'s `...Server`, or a [`Router`](rpc_core::Router)) over XML-RPC.
///
/// Calls are `POST`ed to `/` or `/RPC2` (Python's paths); other paths answer 404 and other methods 405 with an
/// `Allow: POST` header. A fault is an HTTP 200 `methodResponse` with a `<fault>`, as the spec says; a body
/// over the size limit is refused with 413 before it is read.
///
/// ```no_run
/// use rpc_core::service;
///
/// #[service]
/// pub trait Services {
///     /// Returns num * 2.
///     async fn double(&self, num: i64) -> i64;
/// }
///
/// struct Doubler;
/// impl Services for Doubler {
///     async fn double(&self, num: i64) -> i64 { num * 2 }
/// }
///
/// # async fn run() -> std::io::Result<()> {
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:6789").await?;
/// rpc_xml::Server::new(ServicesServer::new(Doubler))
///     .max_body_size(1024 * 1024)
///     .serve_with_shutdown(listener, async { tokio::signal::ctrl_c().await.ok(); })
///     .await
/// # }
/// ```
#[derive(Debug)]
pub struct Server<D> {
    dispatch: Arc<D>,
    http: ServerConfig,
    max_depth: usize,
    handler_timeout: Option<Duration>,
    system: SystemConfig,
}

impl<D: Dispatch> Server<D> {
    /// A server for `dispatch`, with the default limits.
    pub fn new(dispatch: D) -> Server<D> {
        Server {
            dispatch: Arc::new(dispatch),
            http: ServerConfig::new("XML-RPC").paths(&["/", "/RPC2"]),
            max_depth: DEFAULT_MAX_DEPTH,
            handler_timeout: Some(DEFAULT_HANDLER_TIMEOUT),
            system: SystemConfig { introspection: true, multicall: true, max_multicall: DEFAULT_MAX_MULTICALL },
        }
    }

    rpc_http::http_server_settings!();

    /// How deeply arrays and structs may nest in a request (default [`DEFAULT_MAX_DEPTH`], 64). Deeper ones
    /// get a -32600 fault. Decoding recurses once per level, so keep this in the hundreds at most.
    pub fn max_depth(mut self, depth: usize) -> Server<D> {
        self.max_depth = depth;
        self
    }

    /// How long one call (a whole `system.multicall` counts as one) may run before it is dropped and answered
    /// with a -32603 fault (default `Some(`[`DEFAULT_HANDLER_TIMEOUT`]`)`, 5 minutes); `None` lets calls run for
    /// ever.
    pub fn handler_timeout(mut self, timeout: Option<Duration>) -> Server<D> {
        self.handler_timeout = timeout;
        self
    }

    /// Serve `system.listMethods`, `system.methodHelp` and `system.methodSignature` from the dispatcher's
    /// method metadata (default on).
    pub fn introspection(mut self, on: bool) -> Server<D> {
        self.system.introspection = on;
        self
    }

    /// Serve `system.multicall` (default on).
    pub fn multicall(mut self, on: bool) -> Server<D> {
        self.system.multicall = on;
        self
    }

    /// The most calls one `system.multicall` may carry (default [`DEFAULT_MAX_MULTICALL`], 1000); more get a
    /// -32600 fault.
    pub fn max_multicall(mut self, calls: usize) -> Server<D> {
        self.system.max_multicall = calls;
        self
    }

    rpc_http::http_serve!();

    /// Its HTTP settings, and the endpoint that answers its requests.
    fn into_http(self) -> (rpc_http::ServerConfig, XmlEndpoint<D>) {
        let endpoint = XmlEndpoint {
            routes: Arc::new(Routes::new(self.dispatch, self.system)),
            max_depth: self.max_depth,
            handler_timeout: self.handler_timeout,
        };
        (self.http, endpoint)
    }
}

/// XML-RPC on the shared HTTP server: decode, route, encode.
struct XmlEndpoint<D> {
    routes: Arc<Routes<D>>,
    max_depth: usize,
    handler_timeout: Option<Duration>,
}

impl<D: Dispatch> Endpoint for XmlEndpoint<D> {
    fn handle(&self, body: Bytes, cx: Context) -> BoxFuture<'static, Reply> {
        let peer = cx.get::<rpc_core::RemoteAddr>().map(|a| a.0);
        let mut span = tracing::Span::none();
        let call = match codec::decode_call(&body, self.max_depth) {
            Ok((method, params)) => {
                span = rpc_core::trace::server_span("xmlrpc", &method, None, &cx);
                let answer = span.in_scope(|| self.routes.call(&method, params, cx));
                Ok((method, answer))
            }
            Err(e) => Err(e),
        };
        let handler_timeout = self.handler_timeout;
        let recorded = span.clone();
        Box::pin(tracing::Instrument::instrument(
            async move {
                let (method, result) = match call {
                    Ok((method, answer)) => {
                        let result = rpc_core::encoding::time_limit(&method, handler_timeout, answer).await;
                        match &result {
                            Ok(_) => tracing::debug!(?peer, method, "call answered"),
                            Err(f) => {
                                rpc_core::trace::record_fault(&recorded, f);
                                tracing::debug!(?peer, method, code = f.code, "call answered with a fault");
                            }
                        }
                        (method, result)
                    }
                    Err(e) => {
                        tracing::debug!(?peer, error = %e, "bad request body");
                        (String::new(), Err(e.to_fault()))
                    }
                };
                match xml_body(&method, &result) {
                    Some(body) => Reply::ok("text/xml", body),
                    None => Reply {
                        status: http::StatusCode::INTERNAL_SERVER_ERROR,
                        content_type: "text/plain; charset=utf-8",
                        body: b"the response could not be encoded\n".to_vec(),
                    },
                }
            },
            span,
        ))
    }
}

/// The `methodResponse` for a result or a fault; a result that cannot be encoded becomes a -32603 fault.
fn xml_body(method: &str, result: &Answer) -> Option<Vec<u8>> {
    codec::encode_response_typed(result.as_ref().map(|reply| &**reply))
        .or_else(|e| {
            tracing::warn!(method, error = %e, "the result cannot be sent as XML-RPC");
            let fault = rpc_core::encoding::cannot_encode(method, &e);
            codec::encode_response(Err(&fault))
        })
        // A fault of an int and a string always encodes unless its message has characters XML cannot carry.
        .ok()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use rpc_core::Fault;

    use super::xml_body;
    use crate::codec;

    #[test]
    fn a_result_xml_rpc_cannot_carry_is_answered_with_a_fault() {
        // Written straight from the handler's type: a u64 past i64 has no XML-RPC form.
        let body = xml_body("big", &Ok(Box::new(u64::MAX))).expect("a fault body");
        let fault = codec::decode_response(&body, 8).unwrap().unwrap_err();
        assert_eq!(fault.code, Fault::INTERNAL_ERROR);
        assert!(fault.message.contains("big: cannot encode the result: cannot encode as XML-RPC"), "{fault}");
        // A typed result that fits is written as its value would be.
        let typed = xml_body("ok", &Ok(Box::new((1u8, "two")))).unwrap();
        let value = codec::encode_response(Ok(&rpc_core::to_value(&(1u8, "two")).unwrap())).unwrap();
        assert_eq!(typed, value);
    }
}

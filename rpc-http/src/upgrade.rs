//! WebSocket upgrades on the HTTP server: a `GET` with `Upgrade: websocket` is answered 101 and its connection
//! handed to whoever serves WebSocket (`ServerConfig::websocket`), so one port serves both.

use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use http::header::{CONNECTION, SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_KEY, SEC_WEBSOCKET_VERSION, UPGRADE};
use http::{HeaderValue, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use rpc_core::{BoxFuture, Context};
use rpc_engine::tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_util::sync::CancellationToken;

/// An upgraded connection: the WebSocket's bytes, after the server's 101.
pub type UpgradedIo = TokioIo<Upgraded>;

/// What serves an upgraded connection: given it, the request's [`Context`] (peer address, credentials) and a
/// token that a graceful shutdown cancels, it runs until the connection closes.
#[derive(Clone)]
pub struct Upgrade(Arc<dyn Fn(UpgradedIo, Context, CancellationToken) -> BoxFuture<'static, ()> + Send + Sync>);

impl Upgrade {
    /// Upgraded connections are served by `serve`.
    pub fn new(
        serve: impl Fn(UpgradedIo, Context, CancellationToken) -> BoxFuture<'static, ()> + Send + Sync + 'static,
    ) -> Upgrade {
        Upgrade(Arc::new(serve))
    }
}

impl fmt::Debug for Upgrade {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Upgrade(..)")
    }
}

/// True for a WebSocket opening handshake (RFC 6455 section 4.2.1).
pub(crate) fn is_websocket<B>(req: &Request<B>) -> bool {
    let has = |name, token: &str| {
        req.headers()
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .any(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
    };
    has(UPGRADE, "websocket") && has(CONNECTION, "upgrade")
}

/// Answers the handshake with 101 (or 400 / 426 when it is not one we can accept) and serves the connection
/// once hyper hands it over.
pub(crate) fn accept<B>(
    mut req: Request<B>,
    upgrade: Upgrade,
    cx: Context,
    drain: CancellationToken,
) -> Response<Full<Bytes>> {
    let plain = |status: StatusCode, text: &'static str| {
        let mut resp = Response::new(Full::new(Bytes::from_static(text.as_bytes())));
        *resp.status_mut() = status;
        resp
    };
    if req.headers().get(SEC_WEBSOCKET_VERSION).and_then(|v| v.to_str().ok()) != Some("13") {
        let mut resp = plain(StatusCode::UPGRADE_REQUIRED, "WebSocket version 13 only\n");
        resp.headers_mut().insert(SEC_WEBSOCKET_VERSION, HeaderValue::from_static("13"));
        return resp;
    }
    let Some(key) = req.headers().get(SEC_WEBSOCKET_KEY).map(|k| derive_accept_key(k.as_bytes())) else {
        return plain(StatusCode::BAD_REQUEST, "a WebSocket handshake needs Sec-WebSocket-Key\n");
    };
    let Ok(accept) = HeaderValue::from_str(&key) else {
        return plain(StatusCode::BAD_REQUEST, "bad Sec-WebSocket-Key\n");
    };
    let on_upgrade = hyper::upgrade::on(&mut req);
    tokio::spawn(async move {
        match on_upgrade.await {
            Ok(upgraded) => (upgrade.0)(TokioIo::new(upgraded), cx, drain).await,
            Err(e) => tracing::debug!(error = %e, "the WebSocket upgrade did not complete"),
        }
    });
    let mut resp = Response::new(Full::new(Bytes::new()));
    *resp.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let headers = resp.headers_mut();
    headers.insert(UPGRADE, HeaderValue::from_static("websocket"));
    headers.insert(CONNECTION, HeaderValue::from_static("Upgrade"));
    headers.insert(SEC_WEBSOCKET_ACCEPT, accept);
    resp
}

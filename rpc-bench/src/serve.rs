//! The servers the suite measures, each run as its own process (`rpc-bench serve KIND`) so it can be pinned to a
//! core and its memory read: the raw baselines, ours, and the other frameworks' (jsonrpsee, tarpc, dxr). Each prints `ready ADDR` once listening on an
//! OS-picked loopback port, and exits when its standard input closes (so none outlives the suite).

use std::convert::Infallible;
use std::io::Write;

use bytes::Bytes;
use futures_util::{FutureExt as _, SinkExt as _, StreamExt as _};
use http::header::{CONTENT_TYPE, VARY};
use http_body_util::{BodyExt, Full};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use rpc_bench::codecs::DOUBLE_ARG;
use rpc_bench::service::{DoubleServer, Doubler};
use rpc_core::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

/// The servers `rpc-bench serve` runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Kind {
    /// Raw tokio TCP: answers every request frame (`--frame-len` bytes with a one-byte msgid) with the bytes
    /// `double` answers.
    RawTcp,
    /// Raw hyper 1.x: answers every POST with the XML-RPC answer of `double`, without reading it as XML.
    RawHttpXml,
    /// Raw hyper 1.x: answers every POST with the JSON-RPC answer of `double`, without reading it as JSON.
    RawHttpJson,
    /// rpc-xml's server, serving `double`.
    Xml,
    /// rpc-json's server, serving `double`.
    Json,
    /// rpc-msgpack's server, serving `double`.
    Msgpack,
    /// Raw tokio TCP, newline-framed: answers every request line with the JSON-RPC answer of `double`, the
    /// request's id copied in, without reading it as JSON.
    RawLines,
    /// Raw tokio-tungstenite: answers every text message with the JSON-RPC answer of `double`, the request's id
    /// copied in, without reading it as JSON.
    RawWs,
    /// rpc-json's duplex server on TCP (newline-delimited, as the load generator sends), serving `double`.
    JsonTcp,
    /// rpc-json's duplex server on WebSocket, serving `double`.
    JsonWs,
    /// rpc-msgpack's server of the interop service, for its `count` stream.
    StreamMsgpack,
    /// rpc-json's duplex server of the interop service on TCP, for its `count` stream.
    StreamJsonTcp,
    /// rpc-json's duplex server of the interop service on WebSocket, for its `count` stream.
    StreamJsonWs,
    /// jsonrpsee 0.26's WebSocket server with the same subscription: `subscribe_count` sends 0, 1, 2, ... as
    /// `count` notifications as fast as its sink takes them.
    JsonrpseeWs,
    /// jsonrpsee 0.26's HTTP server (HTTP only), serving `double`.
    JsonrpseeHttp,
    /// tarpc's server over TCP with its bincode codec (`serde_transport`), serving its `Double` service.
    Tarpc,
    /// dxr's XML-RPC server (on axum), serving `double`.
    Dxr,
}

/// Connections our servers accept (above their default of 10,000, for the idle-connection measurement and its
/// probe; the suite's process limit is 20,000 descriptors).
const MAX_CONNECTIONS: usize = 15_000;

/// Runs the server until standard input closes.
pub fn serve(kind: Kind, frame_len: usize) -> std::io::Result<()> {
    std::thread::spawn(|| {
        let mut sink = Vec::new();
        let _ = std::io::Read::read_to_end(&mut std::io::stdin(), &mut sink);
        std::process::exit(0);
    });
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async move {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let mut out = std::io::stdout().lock();
        writeln!(out, "ready {addr}")?;
        out.flush()?;
        drop(out);
        let service = || DoubleServer::new(Doubler);
        match kind {
            Kind::RawTcp => raw_tcp(listener, frame_len).await,
            Kind::RawHttpXml => {
                let body = rpc_xml::codec::encode_response(Ok(&Value::Int(2 * DOUBLE_ARG)))
                    .map_err(|e| std::io::Error::other(e.to_string()))?;
                raw_http(listener, "text/xml", Bytes::from(body)).await
            }
            Kind::RawHttpJson => {
                let id = rpc_json::codec::Id::number(1);
                let body = rpc_json::codec::encode_response(&id, Ok(&Value::Int(2 * DOUBLE_ARG)))
                    .map_err(|e| std::io::Error::other(e.to_string()))?;
                raw_http(listener, "application/json", Bytes::from(body)).await
            }
            Kind::Xml => rpc_xml::Server::new(service()).max_connections(MAX_CONNECTIONS).serve(listener).await,
            Kind::Json => rpc_json::Server::new(service()).max_connections(MAX_CONNECTIONS).serve(listener).await,
            Kind::Msgpack => rpc_msgpack::Server::new(service()).max_connections(MAX_CONNECTIONS).serve(listener).await,
            Kind::RawLines => raw_lines(listener, JsonAnswer::new()?).await,
            Kind::RawWs => raw_ws(listener, JsonAnswer::new()?).await,
            Kind::JsonTcp => {
                rpc_json::duplex::Server::new(service()).max_connections(MAX_CONNECTIONS).serve(listener).await
            }
            Kind::JsonWs => {
                rpc_json::duplex::Server::new(service()).max_connections(MAX_CONNECTIONS).serve_ws(listener).await
            }
            Kind::StreamMsgpack => rpc_msgpack::Server::new(interop()).serve(listener).await,
            Kind::StreamJsonTcp => rpc_json::duplex::Server::new(interop()).serve(listener).await,
            Kind::StreamJsonWs => rpc_json::duplex::Server::new(interop()).serve_ws(listener).await,
            Kind::JsonrpseeWs => jsonrpsee_ws(listener).await,
            Kind::JsonrpseeHttp => jsonrpsee_http(listener).await,
            Kind::Tarpc => tarpc_server(listener).await,
            Kind::Dxr => dxr_server(listener).await,
        }
    })
}

/// The interop service, whose `count(0, 0)` is the stream the subscription rows measure.
fn interop() -> rpc_examples::interop::InteropServer<rpc_examples::interop::InteropService> {
    rpc_examples::interop::InteropServer::new(rpc_examples::interop::InteropService::default())
}

/// jsonrpsee's server with the interop service's subscription, `subscribe_count(n, interval_ms)` (notifications
/// `count`, `unsubscribe_count`): 0, 1, ..., n - 1 (n = 0: for ever) sent as fast as its sink takes them, the
/// idiomatic way (`PendingSubscriptionSink::accept`, then `send` each item, which waits while the connection's
/// buffer is full; jsonrpsee's own examples). Only `interval_ms` 0 (or left out) is served.
async fn jsonrpsee_ws(listener: TcpListener) -> std::io::Result<()> {
    let server = jsonrpsee::server::Server::builder().build_from_tcp(listener.into_std()?)?;
    let mut module = jsonrpsee::RpcModule::new(());
    module
        .register_subscription("subscribe_count", "count", "unsubscribe_count", |params, pending, _, _| async move {
            let mut params = params.sequence();
            let n: u64 = params.optional_next()?.unwrap_or(0);
            if params.optional_next::<u64>()?.unwrap_or(0) != 0 {
                pending.reject(jsonrpsee::types::ErrorObject::owned(-32602, "only interval_ms 0", None::<()>)).await;
                return Ok(());
            }
            let sink = pending.accept().await?;
            let mut i: u64 = 0;
            while n == 0 || i < n {
                sink.send(serde_json::value::to_raw_value(&i)?).await?;
                i += 1;
            }
            Ok(())
        })
        .map_err(std::io::Error::other)?;
    server.start(module).stopped().await;
    Ok(())
}

/// jsonrpsee's HTTP server with `double`, registered as its docs show (`RpcModule::register_method`, the param
/// read with `Params::one`).
async fn jsonrpsee_http(listener: TcpListener) -> std::io::Result<()> {
    let config = jsonrpsee::server::ServerConfig::builder().http_only().build();
    let server = jsonrpsee::server::Server::builder().set_config(config).build_from_tcp(listener.into_std()?)?;
    let mut module = jsonrpsee::RpcModule::new(());
    module
        .register_method("double", |params, _, _| {
            let num: i64 = params.one()?;
            Ok::<_, jsonrpsee::types::ErrorObjectOwned>(num.wrapping_mul(2))
        })
        .map_err(std::io::Error::other)?;
    server.start(module).stopped().await;
    Ok(())
}

/// tarpc's side of the framework-against-framework rows: its service, its generated server and client.
pub mod tarpc_service {
    /// `double`, as tarpc's `#[tarpc::service]` declares a service.
    #[tarpc::service]
    pub trait Double {
        /// Returns num * 2.
        async fn double(num: i64) -> i64;
    }

    /// The implementation.
    #[derive(Debug, Clone, Copy)]
    pub struct Doubler;

    impl Double for Doubler {
        async fn double(self, _: tarpc::context::Context, num: i64) -> i64 {
            num.wrapping_mul(2)
        }
    }

    /// tarpc's TCP transport with its bincode codec over `stream`, as `tarpc::serde_transport::tcp` makes it
    /// (length-delimited frames), with `TCP_NODELAY` set as our servers and clients set it.
    pub fn transport<Item, SinkItem>(
        stream: tokio::net::TcpStream,
    ) -> std::io::Result<
        tarpc::serde_transport::Transport<
            tokio::net::TcpStream,
            Item,
            SinkItem,
            tarpc::tokio_serde::formats::Bincode<Item, SinkItem>,
        >,
    >
    where
        Item: for<'de> serde::Deserialize<'de>,
        SinkItem: serde::Serialize,
    {
        stream.set_nodelay(true)?;
        let framed = tokio_util::codec::LengthDelimitedCodec::builder().new_framed(stream);
        Ok(tarpc::serde_transport::new(framed, tarpc::tokio_serde::formats::Bincode::default()))
    }
}

/// tarpc's server as its README runs one: a `BaseChannel` per connection, each request's response future
/// spawned (so the calls of one connection run concurrently).
async fn tarpc_server(listener: TcpListener) -> std::io::Result<()> {
    use tarpc::server::Channel as _;
    use tarpc_service::Double as _;
    loop {
        let (stream, _) = listener.accept().await?;
        let channel = tarpc::server::BaseChannel::with_defaults(tarpc_service::transport(stream)?);
        tokio::spawn(channel.execute(tarpc_service::Doubler.serve()).for_each(|response| async move {
            tokio::spawn(response);
        }));
    }
}

/// dxr's XML-RPC server: its axum route with `double` as a handler function, on `listener` with `TCP_NODELAY`
/// (as our servers set it).
async fn dxr_server(listener: TcpListener) -> std::io::Result<()> {
    use dxr_server::axum::serve::ListenerExt as _;
    let double: dxr_server::HandlerFn = dxr_double;
    let route = dxr_server::RouteBuilder::new().add_method("double", Box::new(double)).build();
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    dxr_server::Server::from_route(route).serve_listener(listener).await.map_err(std::io::Error::other)
}

/// `double` for dxr: XML-RPC's `int` is dxr's `i32` (its `i8` feature would read `<i8>` only).
fn dxr_double(params: &[dxr::Value], _: http::HeaderMap) -> dxr_server::HandlerResult {
    use dxr::{TryFromParams as _, TryToValue as _};
    let num = i32::try_from_params(params).map_err(dxr::Fault::from)?;
    let doubled = num.checked_mul(2).ok_or_else(|| dxr::Fault::new(-32602, format!("double({num}) overflows")))?;
    doubled.try_to_value().map_err(dxr::Fault::from)
}

/// The physical limit of a MessagePack-RPC exchange here: no decoding, no dispatch, no task per call. Requests
/// are cut by their known length (`frame_len`, that of a request whose msgid is below 128, plus the bytes a larger
/// msgid takes); each answer is `double`'s, with the request's msgid copied in.
async fn raw_tcp(listener: TcpListener, frame_len: usize) -> std::io::Result<()> {
    if frame_len < 8 {
        return Err(std::io::Error::other("raw-tcp needs --frame-len of the requests"));
    }
    let mut result = bytes::BytesMut::new();
    rpc_msgpack::codec::encode_value(&Value::Int(2 * DOUBLE_ARG), &mut result)
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    let result = result.freeze();
    loop {
        let (mut stream, _) = listener.accept().await?;
        stream.set_nodelay(true)?;
        let result = result.clone();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 64 * 1024];
            let mut filled = 0;
            let mut out = Vec::with_capacity(16 * 1024);
            loop {
                let n = match stream.read(&mut buf[filled..]).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => n,
                };
                filled += n;
                let mut at = 0;
                // [0x94, 0x00, msgid (a positive fixint, or uint 8, 16 or 32), ...]: the msgid as the load
                // generator writes it.
                while let Some((id, id_len)) = msgid(&buf[at..filled]) {
                    let len = frame_len - 1 + id_len;
                    if filled - at < len {
                        break;
                    }
                    out.extend_from_slice(&[0x94, 0x01]);
                    let _ = rmp::encode::write_uint(&mut out, u64::from(id));
                    out.push(0xc0);
                    out.extend_from_slice(&result);
                    at += len;
                }
                buf.copy_within(at..filled, 0);
                filled -= at;
                if !out.is_empty() {
                    if stream.write_all(&out).await.is_err() {
                        return;
                    }
                    out.clear();
                }
            }
        });
    }
}

/// The msgid of the request at the start of `frame` and how many bytes it takes, once they are there.
fn msgid(frame: &[u8]) -> Option<(u32, usize)> {
    let be = |n: usize| frame.get(3..3 + n).map(|b| b.iter().fold(0u32, |id, &b| id << 8 | u32::from(b)));
    match *frame.get(2)? {
        id @ 0..=0x7f => Some((u32::from(id), 1)),
        0xcc => Some((be(1)?, 2)),
        0xcd => Some((be(2)?, 3)),
        0xce => Some((be(4)?, 5)),
        // Not a request the generator writes: nothing more is answered on this connection.
        _ => None,
    }
}

/// The physical limit of an HTTP/1.1 exchange here: hyper 1.x reads each request's body and answers a canned
/// body with the headers our servers send (keep-alive, `TCP_NODELAY`).
async fn raw_http(listener: TcpListener, content_type: &'static str, body: Bytes) -> std::io::Result<()> {
    loop {
        let (stream, _) = listener.accept().await?;
        stream.set_nodelay(true)?;
        let body = body.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req: http::Request<hyper::body::Incoming>| {
                let body = body.clone();
                async move {
                    let _ = req.into_body().collect().await;
                    let mut resp = http::Response::new(Full::new(body));
                    resp.headers_mut().insert(CONTENT_TYPE, http::HeaderValue::from_static(content_type));
                    resp.headers_mut().insert(VARY, http::HeaderValue::from_static("Accept-Encoding"));
                    Ok::<_, Infallible>(resp)
                }
            });
            let _ = http1::Builder::new().keep_alive(true).serve_connection(TokioIo::new(stream), service).await;
        });
    }
}

/// JSON-RPC's answer of `double`, cut around its id: the raw JSON baselines copy each request's id in between,
/// as the raw MessagePack baseline copies the msgid, so that the load generator matches answers as it does ours.
#[derive(Clone)]
struct JsonAnswer {
    before_id: Bytes,
    after_id: Bytes,
}

impl JsonAnswer {
    fn new() -> std::io::Result<JsonAnswer> {
        // An id no other part of the answer spells, to find where the id goes.
        const MARK: u64 = 987_654_321_012;
        let id = rpc_json::codec::Id::number(MARK);
        let answer = rpc_json::codec::encode_response(&id, Ok(&Value::Int(2 * DOUBLE_ARG)))
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        let mark = MARK.to_string();
        let at = answer
            .windows(mark.len())
            .position(|w| w == mark.as_bytes())
            .ok_or_else(|| std::io::Error::other("no id in the JSON-RPC answer"))?;
        Ok(JsonAnswer {
            before_id: Bytes::copy_from_slice(&answer[..at]),
            after_id: Bytes::copy_from_slice(&answer[at + mark.len()..]),
        })
    }

    /// Appends the answer to `request` (one JSON-RPC request, as the load generator writes it: its id last);
    /// false when it has no id there.
    fn answer(&self, request: &[u8], out: &mut Vec<u8>) -> bool {
        let Some(id) = json_id(request) else { return false };
        out.extend_from_slice(&self.before_id);
        out.extend_from_slice(&request[id]);
        out.extend_from_slice(&self.after_id);
        true
    }

    /// The answer to `request` as text, for a WebSocket text message.
    fn answer_text(&self, request: &str) -> Option<String> {
        let id = request.get(json_id(request.as_bytes())?)?;
        // The halves of an answer serde_json wrote are UTF-8.
        let before = std::str::from_utf8(&self.before_id).ok()?;
        let after = std::str::from_utf8(&self.after_id).ok()?;
        let mut out = String::with_capacity(before.len() + id.len() + after.len());
        out.push_str(before);
        out.push_str(id);
        out.push_str(after);
        Some(out)
    }
}

/// Where the id is in a request written as `{..., "id":ID}`: the bytes after its last `"id":`, up to the closing
/// brace, blanks trimmed.
fn json_id(request: &[u8]) -> Option<std::ops::Range<usize>> {
    let mut start = request.windows(5).rposition(|w| w == b"\"id\":")? + 5;
    let mut end = start + request[start..].iter().rposition(|&b| b == b'}')?;
    while start < end && request[start].is_ascii_whitespace() {
        start += 1;
    }
    while end > start && request[end - 1].is_ascii_whitespace() {
        end -= 1;
    }
    Some(start..end)
}

/// The physical limit of newline-delimited JSON-RPC over TCP here: no JSON parsing, no dispatch, no task per
/// call; each line is answered with `double`'s answer line, the request's id copied in.
async fn raw_lines(listener: TcpListener, answer: JsonAnswer) -> std::io::Result<()> {
    loop {
        let (mut stream, _) = listener.accept().await?;
        stream.set_nodelay(true)?;
        let answer = answer.clone();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 64 * 1024];
            let mut filled = 0;
            let mut out = Vec::with_capacity(16 * 1024);
            loop {
                if filled == buf.len() {
                    // A line longer than the buffer: not a request the generator writes.
                    return;
                }
                let n = match stream.read(&mut buf[filled..]).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => n,
                };
                let scanned = filled;
                filled += n;
                let mut at = 0;
                let mut from = scanned;
                while let Some(nl) = buf[from..filled].iter().position(|&b| b == b'\n') {
                    let end = from + nl;
                    if !answer.answer(&buf[at..end], &mut out) {
                        return;
                    }
                    out.push(b'\n');
                    at = end + 1;
                    from = at;
                }
                buf.copy_within(at..filled, 0);
                filled -= at;
                if !out.is_empty() {
                    if stream.write_all(&out).await.is_err() {
                        return;
                    }
                    out.clear();
                }
            }
        });
    }
}

/// The physical limit of JSON-RPC over WebSocket here: tokio-tungstenite alone, no JSON parsing, no dispatch,
/// no task per call; each text message is answered with `double`'s answer, the request's id copied in, the
/// answers to the messages already received sent together.
async fn raw_ws(listener: TcpListener, answer: JsonAnswer) -> std::io::Result<()> {
    loop {
        let (stream, _) = listener.accept().await?;
        stream.set_nodelay(true)?;
        let answer = answer.clone();
        tokio::spawn(async move {
            let Ok(mut ws) = tokio_tungstenite::accept_async_with_config(stream, Some(ws_config())).await else {
                return;
            };
            loop {
                let mut next = ws.next().await;
                loop {
                    match next {
                        Some(Ok(Message::Text(text))) => {
                            let Some(reply) = answer.answer_text(text.as_str()) else { return };
                            if ws.feed(Message::Text(reply.into())).await.is_err() {
                                return;
                            }
                        }
                        // tungstenite answers pings itself.
                        Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => {}
                        Some(Ok(Message::Binary(_) | Message::Close(_)) | Err(_)) | None => {
                            let _ = ws.flush().await;
                            return;
                        }
                    }
                    match ws.next().now_or_never() {
                        Some(more) => next = more,
                        None => break,
                    }
                }
                if ws.flush().await.is_err() {
                    return;
                }
            }
        });
    }
}

/// tungstenite's settings as rpc-engine's WebSocket server has them (an 8 KiB read buffer, writes gathered up to
/// 64 KiB), so that the baseline differs from ours only by the engine.
fn ws_config() -> WebSocketConfig {
    let mut config = WebSocketConfig::default().read_buffer_size(8 * 1024);
    config.write_buffer_size = 64 * 1024;
    config
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_json_answers_copy_the_request_id() {
        let answer = JsonAnswer::new().unwrap_or_else(|e| unreachable!("{e}"));
        let mut out = Vec::new();
        assert!(answer.answer(br#"{"jsonrpc":"2.0","method":"double","params":[7],"id":42}"#, &mut out));
        let reply: serde_json::Value = serde_json::from_slice(&out).unwrap_or_default();
        assert_eq!(reply, serde_json::json!({"jsonrpc": "2.0", "result": 14, "id": 42}));
        let text = answer.answer_text(r#"{"jsonrpc":"2.0","method":"double","params":[7],"id": 7 }"#);
        assert_eq!(text.as_deref(), Some(r#"{"jsonrpc":"2.0","result":14,"id":7}"#));
        assert!(!answer.answer(br#"{"jsonrpc":"2.0","method":"double","params":[7]}"#, &mut out));
    }
}

//! The servers the suite measures, each run as its own process (`rpc-bench serve KIND`) so it can be pinned to a
//! core and its memory read: the raw baselines and ours. Each prints `ready ADDR` once listening on an
//! OS-picked loopback port, and exits when its standard input closes (so none outlives the suite).

use std::convert::Infallible;
use std::io::Write;

use bytes::Bytes;
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
        }
    })
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

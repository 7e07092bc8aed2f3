//! The HTTP request path: arbitrary bytes sent to a live XML-RPC or JSON-RPC server over a fresh TCP
//! connection. Whatever arrives, the server answers or closes the connection and goes on serving: every
//! [`CHECK_EVERY`] inputs a normal client must still get `double(7) == 14` from both servers.
//!
//! Input layout: byte 0 picks the server (bit 0: XML-RPC or JSON-RPC) and how the rest is sent (bits 1-2):
//! as raw bytes, as the body of a well-formed `POST /`, or as a gzip-compressed body. Raw bytes exercise
//! hyper's parsing and the server's checks; a wrapped body goes straight to the decoders (JSON-RPC request
//! decoding is reachable only this way) and to the dispatcher.
//!
//! Replaying an input with `RPC_FUZZ_SHOW=1` in the environment prints the servers' answers.
//!
//! Both servers run in this process on one current-thread tokio runtime, created once; each input is sent
//! from inside `block_on`, which drives the servers' tasks too, so nothing runs between inputs.

#![no_main]

use std::io::Write as _;
use std::net::SocketAddr;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use flate2::Compression;
use flate2::write::GzEncoder;
use libfuzzer_sys::fuzz_target;
use rpc_core::{Router, Transport, Value, service};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Runtime;

/// How often the servers are checked with a normal call.
const CHECK_EVERY: u64 = 256;
/// How long one input may take to be answered (the servers' own timeouts are a second; a healthy answer
/// takes well under a millisecond).
const ANSWER_TIMEOUT: Duration = Duration::from_secs(5);
/// The most of an answer that is read.
const MAX_ANSWER: usize = 1 << 20;

/// The methods the servers expose: enough for a request to reach a handler and a result to be encoded.
#[service]
pub trait Fuzzed {
    /// Returns num * 2 (wrapping: the fuzzer sends any i64).
    async fn double(&self, num: i64) -> i64;
    /// Gives any value back.
    async fn echo(&self, value: Value) -> Value;
    /// Takes optional params.
    async fn add(&self, a: i64, b: Option<i64>) -> i64;
}

struct Impl;

impl Fuzzed for Impl {
    async fn double(&self, num: i64) -> i64 {
        num.wrapping_mul(2)
    }
    async fn echo(&self, value: Value) -> Value {
        value
    }
    async fn add(&self, a: i64, b: Option<i64>) -> i64 {
        a.wrapping_add(b.unwrap_or(0))
    }
}

struct Harness {
    rt: Runtime,
    xml: SocketAddr,
    json: SocketAddr,
    xml_client: rpc_xml::Client,
    json_client: rpc_json::Client,
    inputs: AtomicU64,
}

fn router() -> Router {
    Router::new().mount(FuzzedServer::new(Impl))
}

fn harness() -> &'static Harness {
    static HARNESS: OnceLock<Harness> = OnceLock::new();
    HARNESS.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a tokio runtime");
        let (xml, json, xml_client, json_client) = rt.block_on(async {
            let limit = 64 * 1024;
            let second = Duration::from_secs(1);
            let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind 127.0.0.1:0");
            let xml = listener.local_addr().expect("a local address");
            let server = rpc_xml::Server::new(router())
                .max_body_size(limit)
                .max_decompressed_size(limit)
                .header_read_timeout(second)
                .body_read_timeout(second)
                .handler_timeout(Some(second))
                .gzip_threshold(Some(256));
            tokio::spawn(server.serve(listener));
            let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind 127.0.0.1:0");
            let json = listener.local_addr().expect("a local address");
            let server = rpc_json::Server::new(router())
                .max_body_size(limit)
                .max_decompressed_size(limit)
                .header_read_timeout(second)
                .body_read_timeout(second)
                .handler_timeout(Some(second))
                .gzip_threshold(Some(256));
            tokio::spawn(server.serve(listener));
            let xml_client = rpc_xml::Client::new(&format!("http://{xml}/")).expect("an XML-RPC client");
            let json_client = rpc_json::Client::new(&format!("http://{json}/")).expect("a JSON-RPC client");
            (xml, json, xml_client, json_client)
        });
        let harness = Harness { rt, xml, json, xml_client, json_client, inputs: AtomicU64::new(0) };
        harness.check_alive();
        harness
    })
}

impl Harness {
    /// Both servers still answer a normal call.
    fn check_alive(&self) {
        self.rt.block_on(async {
            for (name, client) in
                [("XML-RPC", &self.xml_client as &dyn Transport), ("JSON-RPC", &self.json_client as &dyn Transport)]
            {
                let call = client.call("double", vec![Value::Int(7)]);
                match tokio::time::timeout(ANSWER_TIMEOUT, call).await {
                    Ok(Ok(v)) => assert_eq!(v, Value::Int(14), "{name} server answered double(7) wrongly"),
                    Ok(Err(e)) => panic!("{name} server no longer serves: {e}"),
                    Err(_) => panic!("{name} server did not answer double(7) within {ANSWER_TIMEOUT:?}"),
                }
            }
        });
    }

    /// Sends `bytes` on a fresh connection, closes the sending side and reads the answer until the server
    /// closes the connection (or the answer gets too long or too slow).
    fn send(&self, addr: SocketAddr, bytes: &[u8]) {
        self.rt.block_on(async {
            let exchange = async {
                let mut stream = TcpStream::connect(addr).await?;
                // The server may answer (e.g. 413) and close before it has read everything: not a failure.
                if stream.write_all(bytes).await.is_ok() {
                    let _ = stream.shutdown().await;
                }
                let mut answer = Vec::new();
                let _ = (&mut stream).take(MAX_ANSWER as u64).read_to_end(&mut answer).await;
                std::io::Result::Ok(answer)
            };
            match tokio::time::timeout(ANSWER_TIMEOUT, exchange).await {
                Ok(Ok(answer)) => {
                    if std::env::var_os("RPC_FUZZ_SHOW").is_some() {
                        eprintln!("--- {addr} answered:\n{}", String::from_utf8_lossy(&answer));
                    }
                }
                Ok(Err(e)) => panic!("cannot connect to the server at {addr}: {e}"),
                Err(_) => panic!("no answer or close within {ANSWER_TIMEOUT:?}"),
            }
        });
    }
}

/// `body` as a well-formed POST to `/`.
fn post(body: &[u8], content_type: &str, gzip: bool) -> Vec<u8> {
    let body = if gzip {
        let mut enc = GzEncoder::new(Vec::new(), Compression::fast());
        let _ = enc.write_all(body);
        enc.finish().unwrap_or_default()
    } else {
        body.to_vec()
    };
    let mut out = format!(
        "POST / HTTP/1.1\r\nHost: fuzz\r\nContent-Type: {content_type}\r\nAccept-Encoding: gzip\r\n\
         Content-Length: {}\r\n{}\r\n",
        body.len(),
        if gzip { "Content-Encoding: gzip\r\n" } else { "" },
    )
    .into_bytes();
    out.extend_from_slice(&body);
    out
}

fuzz_target!(|data: &[u8]| {
    let h = harness();
    let [mode, rest @ ..] = data else { return };
    let (addr, content_type) = if mode & 1 == 0 { (h.xml, "text/xml") } else { (h.json, "application/json") };
    match (mode >> 1) & 3 {
        0 | 3 => h.send(addr, rest),
        1 => h.send(addr, &post(rest, content_type, false)),
        _ => h.send(addr, &post(rest, content_type, true)),
    }
    if h.inputs.fetch_add(1, Ordering::Relaxed) % CHECK_EVERY == CHECK_EVERY - 1 {
        h.check_alive();
    }
});

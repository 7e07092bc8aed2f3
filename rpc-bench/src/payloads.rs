//! Large payloads through client and server: the ~1 MB struct and the 100,000-item list, each sent as a typed
//! call's param and answered back as its result (`echo_mixed`, `echo_list` of `#[service] trait Echo`), one
//! call at a time over one connection, on each encoding. Beside each, the same data through serde_json or
//! rmp-serde alone, straight into the type: what the call costs beyond the bare serde round trip (written and
//! read there, written and read back), the floor any framework on that format stands on.

use std::fmt::Write as _;
use std::future::Future;
use std::hint::black_box;
use std::time::{Duration, Instant};

use rpc_bench::codecs::{self, Mixed};
use rpc_bench::service::{EchoClient, EchoServer, Echoer};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::suite::Settings;

/// An encoding, with our server and client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wire {
    Json,
    Msgpack,
    Xml,
}

impl Wire {
    const ALL: [Wire; 3] = [Wire::Json, Wire::Msgpack, Wire::Xml];

    fn label(self) -> &'static str {
        match self {
            Wire::Json => "JSON-RPC over HTTP (rpc-json server and `Client`)",
            Wire::Msgpack => "MessagePack-RPC over TCP (rpc-msgpack server and `Client`)",
            Wire::Xml => "XML-RPC over HTTP (rpc-xml server and `Client`)",
        }
    }

    /// The serde crate its rows are set beside: serde_json for the text formats (XML-RPC has no serde crate of
    /// that standing), rmp-serde for MessagePack.
    fn baseline(self) -> &'static str {
        match self {
            Wire::Json | Wire::Xml => "serde_json",
            Wire::Msgpack => "rmp-serde",
        }
    }
}

/// What goes there and back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Payload {
    /// The ~1 MB mixed struct (`codecs::mixed`).
    Mixed,
    /// The 100,000-item list (`codecs::list`).
    List,
}

impl Payload {
    const ALL: [Payload; 2] = [Payload::Mixed, Payload::List];

    fn label(self) -> &'static str {
        match self {
            Payload::Mixed => "1 MB struct",
            Payload::List => "100,000-item list",
        }
    }
}

/// The payloads, made once.
struct Data {
    mixed: Mixed,
    list: Vec<i64>,
}

impl Data {
    /// The payload's size as compact JSON, in bytes: the "MB" of the MB/s figures on every encoding.
    fn json_len(&self, payload: Payload) -> usize {
        match payload {
            Payload::Mixed => serde_json::to_vec(&self.mixed).map_or(0, |b| b.len()),
            Payload::List => serde_json::to_vec(&self.list).map_or(0, |b| b.len()),
        }
    }
}

/// A client of ours on one encoding, through the generated `EchoClient`.
enum Client {
    Json(EchoClient<rpc_json::Client>),
    Msgpack(EchoClient<rpc_msgpack::Client>),
    Xml(EchoClient<rpc_xml::Client>),
}

/// `$call` on whichever client it is, its error as text.
macro_rules! on_client {
    ($client:expr, $c:ident => $call:expr) => {
        match $client {
            Client::Json($c) => $call.await.map_err(|e| e.to_string()),
            Client::Msgpack($c) => $call.await.map_err(|e| e.to_string()),
            Client::Xml($c) => $call.await.map_err(|e| e.to_string()),
        }
    };
}

impl Client {
    /// One round trip of `payload`, its answer checked (whole when `check`, else by its length).
    async fn round_trip(&self, data: &Data, payload: Payload, check: bool) -> Result<(), String> {
        let same = match payload {
            Payload::Mixed => {
                let back = on_client!(self, c => c.echo_mixed(&data.mixed))?;
                if check { back == data.mixed } else { back.records.len() == data.mixed.records.len() }
            }
            Payload::List => {
                let back = on_client!(self, c => c.echo_list(&data.list))?;
                if check { back == data.list } else { back.len() == data.list.len() }
            }
        };
        if same { Ok(()) } else { Err(format!("{} came back changed", payload.label())) }
    }
}

/// Starts our server of `Echo` on `wire` in this process, on an OS-picked loopback port, and connects a client.
async fn start(wire: Wire) -> Result<Client, String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.map_err(|e| e.to_string())?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let url = format!("http://{addr}/");
    let service = EchoServer::new(Echoer);
    let e = |e: &dyn std::fmt::Display| e.to_string();
    Ok(match wire {
        Wire::Json => {
            tokio::spawn(rpc_json::Server::new(service).serve(listener));
            Client::Json(EchoClient::new(rpc_json::Client::connect(&url).await.map_err(|x| e(&x))?))
        }
        Wire::Msgpack => {
            tokio::spawn(rpc_msgpack::Server::new(service).serve(listener));
            Client::Msgpack(EchoClient::new(rpc_msgpack::Client::connect(addr).await.map_err(|x| e(&x))?))
        }
        Wire::Xml => {
            tokio::spawn(rpc_xml::Server::new(service).serve(listener));
            Client::Xml(EchoClient::new(rpc_xml::Client::connect(&url).await.map_err(|x| e(&x))?))
        }
    })
}

/// The bare serde round trip of `value` on `wire`'s baseline crate: written and read into the type there,
/// written and read back.
fn serde_round_trip<T: Serialize + DeserializeOwned>(wire: Wire, value: &T) -> Result<T, String> {
    fn once<T: Serialize + DeserializeOwned>(wire: Wire, value: &T) -> Result<T, String> {
        match wire {
            Wire::Json | Wire::Xml => {
                let bytes = serde_json::to_vec(black_box(value)).map_err(|e| e.to_string())?;
                serde_json::from_slice(black_box(&bytes)).map_err(|e| e.to_string())
            }
            Wire::Msgpack => {
                let bytes = rmp_serde::to_vec(black_box(value)).map_err(|e| e.to_string())?;
                rmp_serde::from_slice(black_box(&bytes)).map_err(|e| e.to_string())
            }
        }
    }
    once(wire, &once(wire, value)?)
}

/// Round trips per second over one run of at least `duration` (and at least one round trip).
async fn timed<F: Future<Output = Result<(), String>>>(
    duration: Duration,
    mut round_trip: impl FnMut(bool) -> F,
) -> Result<f64, String> {
    let start = Instant::now();
    let mut done = 0u32;
    while done == 0 || start.elapsed() < duration {
        round_trip(done == 0).await?;
        done += 1;
    }
    Ok(f64::from(done) / start.elapsed().as_secs_f64())
}

/// One row: an encoding and a payload, the round trips/s of each run through client and server, and of the
/// bare serde round trip measured beside each run.
#[derive(Debug)]
struct Row {
    wire: Wire,
    payload: Payload,
    /// The payload's size as compact JSON, in bytes.
    json_len: usize,
    calls: Vec<f64>,
    serde: Vec<f64>,
    failure: Option<String>,
}

/// The median of some rates (0 when there are none).
fn median(rates: &[f64]) -> f64 {
    crate::drive::median_by(rates, |r| *r).copied().unwrap_or(0.0)
}

/// The measured rows.
#[derive(Debug, Default)]
pub struct Rows(Vec<Row>);

impl Rows {
    /// True when the section was not selected.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The section of BENCHMARKS.md.
    pub fn render(&self, md: &mut String, settings: &Settings) {
        let _ = writeln!(md, "\n## Large payloads through client and server\n");
        let _ = writeln!(
            md,
            "The ~1 MB struct and the 100,000-item list of the codec table, sent as the param of a typed call and \
             answered back as its result (`echo_mixed` / `echo_list` of `#[service] trait Echo`, through the \
             generated `EchoClient`), one call at a time over one connection; every answer is checked (whole on \
             a run's first call, by its length after). Server and client in this process (the suite's core, CPU \
             {}). Every side has its defaults: on HTTP the answers travel gzipped (our client accepts gzip, and \
             the server compresses answers of {} bytes or more, as Python's `xmlrpc.server` does), the requests \
             do not. *MB/s*: the payload's size as compact JSON, both ways, per second, so that the encodings compare \
             on the same data. *serde alone*: the same data written and read straight into the type, there and \
             back, by serde_json (JSON-RPC, XML-RPC) or rmp-serde (MessagePack), in the same process between the \
             runs; *vs serde alone*: its round trips/s over the call's, the times the bare serde round trip the \
             call costs (lower is better). Median of {} run(s) of {:.1} s.\n",
            crate::suite::LOAD_CPU,
            rpc_http::gzip::DEFAULT_GZIP_THRESHOLD,
            settings.runs,
            settings.duration.as_secs_f64(),
        );
        let _ = writeln!(
            md,
            "| protocol | payload | round trips/s | per round trip | MB/s | serde alone | serde alone MB/s | \
             vs serde alone | runs |"
        );
        let _ = writeln!(md, "|---|---|---:|---:|---:|---|---:|---:|---|");
        for row in &self.0 {
            let (label, what) = (row.wire.label(), row.payload.label());
            if let Some(why) = &row.failure {
                let _ = writeln!(md, "| {label} | {what} | failed: {why} | | | | | | |");
                continue;
            }
            let (calls, serde) = (median(&row.calls), median(&row.serde));
            let mb = row.json_len as f64 * 2.0 / 1e6;
            let runs: Vec<String> = row.calls.iter().map(|r| format!("{r:.1}")).collect();
            let _ = writeln!(
                md,
                "| {label} | {what} | {calls:.1} | {:.2} ms | {:.0} | {} {:.2} ms | {:.0} | {:.2}x | {} |",
                1e3 / calls.max(f64::MIN_POSITIVE),
                calls * mb,
                row.wire.baseline(),
                1e3 / serde.max(f64::MIN_POSITIVE),
                serde * mb,
                serde / calls.max(f64::MIN_POSITIVE),
                runs.join(" / "),
            );
        }
    }
}

/// Measures every row: a server and a client per encoding, started here; the rows measured in turn, run by run,
/// each run followed by its serde round trip.
pub async fn measure(settings: &Settings) -> Rows {
    eprintln!("== large payloads through client and server");
    let data = Data { mixed: codecs::mixed(), list: codecs::list() };
    let mut rows = Vec::new();
    let mut clients = Vec::new();
    for wire in Wire::ALL {
        let client = start(wire).await;
        for payload in Payload::ALL {
            let failure = client.as_ref().err().cloned();
            rows.push(Row { wire, payload, json_len: data.json_len(payload), calls: vec![], serde: vec![], failure });
        }
        if let Ok(client) = client {
            clients.push((wire, client));
        }
    }
    for _ in 0..settings.runs {
        for row in rows.iter_mut().filter(|r| r.failure.is_none()) {
            let Some((_, client)) = clients.iter().find(|(w, _)| *w == row.wire) else {
                continue;
            };
            let (data, payload) = (&data, row.payload);
            match timed(settings.duration, |first| client.round_trip(data, payload, first)).await {
                Ok(rate) => row.calls.push(rate),
                Err(e) => {
                    eprintln!("   {} {}: {e}", row.wire.label(), payload.label());
                    row.failure = Some(e);
                    continue;
                }
            }
            let wire = row.wire;
            let serde = timed(settings.duration, |_| {
                let done = match payload {
                    Payload::Mixed => serde_round_trip(wire, &data.mixed).map(|b| black_box(b.records.len())),
                    Payload::List => serde_round_trip(wire, &data.list).map(|b| black_box(b.len())),
                };
                std::future::ready(done.map(drop))
            })
            .await;
            match serde {
                Ok(rate) => row.serde.push(rate),
                Err(e) => row.failure = Some(format!("{}: {e}", wire.baseline())),
            }
            eprintln!(
                "   {} {}: {:.1} round trips/s; {} alone {:.1}",
                row.wire.label(),
                payload.label(),
                row.calls.last().copied().unwrap_or(0.0),
                wire.baseline(),
                row.serde.last().copied().unwrap_or(0.0)
            );
        }
    }
    Rows(rows)
}

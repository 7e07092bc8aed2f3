//! The subscription rows of the suite: items per second of one subscription to a stream that never ends and
//! yields as fast as it can (the interop service's `count(0)`), each server a process of its own on the server
//! core and the subscriber here on the load core, measured in turn, run by run, as the call rows are.

use std::fmt::Write as _;
use std::time::Duration;

use futures_util::{SinkExt as _, StreamExt as _};
use rpc_examples::interop::InteropClient;

use crate::serve::Kind;

/// The buffer jsonrpsee's client is given per subscription (its default, 1024, closes the subscription at once).
const JSONRPSEE_BUFFER: usize = 1 << 20;

/// Who subscribes, and how it counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Subscriber {
    /// Our JSON-RPC WebSocket client, through the generated `InteropClient`.
    OursWs,
    /// Our JSON-RPC client on TCP (newline-delimited).
    OursTcp,
    /// Our MessagePack-RPC client.
    OursMsgpack,
    /// jsonrpsee 0.26's WebSocket client, with a buffer of [`JSONRPSEE_BUFFER`] items per subscription.
    Jsonrpsee,
    /// A raw tokio-tungstenite reader that counts messages without reading them.
    RawWs,
}

/// One row: a server and its subscriber.
#[derive(Debug, Clone, Copy)]
struct System {
    label: &'static str,
    kind: Kind,
    subscriber: Subscriber,
}

const SYSTEMS: [System; 5] = [
    System { label: "rpc-json over WebSocket, our client", kind: Kind::StreamJsonWs, subscriber: Subscriber::OursWs },
    System { label: "rpc-json over TCP, our client", kind: Kind::StreamJsonTcp, subscriber: Subscriber::OursTcp },
    System {
        label: "rpc-msgpack over TCP, our client",
        kind: Kind::StreamMsgpack,
        subscriber: Subscriber::OursMsgpack,
    },
    System {
        label: "jsonrpsee 0.26 over WebSocket, its client",
        kind: Kind::JsonrpseeWs,
        subscriber: Subscriber::Jsonrpsee,
    },
    System {
        label: "rpc-json over WebSocket, a raw reader (no decoding)",
        kind: Kind::StreamJsonWs,
        subscriber: Subscriber::RawWs,
    },
];

/// The measured rows: each system's items/s (median of its runs) or why it failed.
#[derive(Debug, Default)]
pub struct Rows(Vec<(System, Result<Vec<f64>, String>)>);

impl Rows {
    fn median(&self, subscriber: Subscriber) -> Option<f64> {
        let (_, runs) = self.0.iter().find(|(s, _)| s.subscriber == subscriber)?;
        median(runs.as_ref().ok()?)
    }

    /// Ours over WebSocket against jsonrpsee's, each with its own client.
    pub fn ours_vs_jsonrpsee(&self) -> (Option<f64>, Option<f64>) {
        (self.median(Subscriber::OursWs), self.median(Subscriber::Jsonrpsee))
    }

    /// True when nothing was measured (the section is left out).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The section of BENCHMARKS.md.
    pub fn render(&self, md: &mut String, settings: &crate::suite::Settings) {
        let _ = writeln!(md, "\n## Subscriptions\n");
        let _ = writeln!(
            md,
            "One subscription to a stream that never ends and yields as fast as it can (`subscribe_count` with \
             `[0]`: the interop service's `count`, and the same on jsonrpsee's server, whose stream `send`s each \
             item to its sink), each server on CPU 0 and the subscriber on CPU 1; items counted for {:.1} s after \
             {:.1} s of warm-up, each checked to be the next number (a gap fails the run); median of {} run(s). \
             Framework against framework, each with its own client; the raw reader shows our server's ceiling \
             apart from our client. jsonrpsee's client drops a subscription whose buffer fills (1024 items by \
             default: at this speed within a few thousand items), so it is given {JSONRPSEE_BUFFER} here; ours \
             keeps its default of 1024 and pauses the connection instead.\n",
            settings.duration.as_secs_f64(),
            settings.warmup.as_secs_f64(),
            settings.runs
        );
        let jsonrpsee = self.median(Subscriber::Jsonrpsee);
        let raw = self.median(Subscriber::RawWs);
        let _ = writeln!(md, "| server and subscriber | items/s | vs jsonrpsee | vs the raw reader | runs |");
        let _ = writeln!(md, "|---|---:|---:|---:|---|");
        for (system, runs) in &self.0 {
            match runs {
                Ok(runs) => {
                    let Some(m) = median(runs) else { continue };
                    let vs = |base: Option<f64>| base.map_or("".to_owned(), |b| format!("{:.2}x", m / b));
                    let all: Vec<String> = runs.iter().map(|r| format!("{:.0}", r)).collect();
                    let _ = writeln!(
                        md,
                        "| {} | {:.0} | {} | {} | {} |",
                        system.label,
                        m,
                        vs(jsonrpsee),
                        if system.kind == Kind::StreamJsonWs { vs(raw) } else { String::new() },
                        all.join(", ")
                    );
                }
                Err(why) => {
                    let _ = writeln!(md, "| {} | failed: {why} | | | |", system.label);
                }
            }
        }
    }
}

fn median(runs: &[f64]) -> Option<f64> {
    let mut sorted = runs.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted.get(sorted.len() / 2).copied()
}

/// Measures every row, `settings.runs` times each, in turn.
pub async fn measure(settings: &crate::suite::Settings, pin: bool) -> Rows {
    let mut servers = Vec::new();
    let mut rows = Rows::default();
    for system in SYSTEMS {
        match crate::suite::spawn_kind(system.kind, pin) {
            Ok(server) => servers.push((system, server, Ok(Vec::new()))),
            Err(e) => rows.0.push((system, Err(e))),
        }
    }
    eprintln!("== subscriptions: {}", servers.iter().map(|(s, ..)| s.label).collect::<Vec<_>>().join(", "));
    for _ in 0..settings.runs {
        for (system, server, runs) in &mut servers {
            let Ok(done) = runs else { continue };
            match once(system.subscriber, &server.addr, settings.warmup, settings.duration).await {
                Ok(rate) => done.push(rate),
                Err(e) => {
                    eprintln!("   {}: {e}", system.label);
                    *runs = Err(e);
                }
            }
        }
    }
    rows.0.extend(servers.into_iter().map(|(system, _, runs)| (system, runs)));
    rows
}

/// One run: subscribes, reads through the warm-up, then counts for `duration`; items/s.
async fn once(subscriber: Subscriber, addr: &str, warmup: Duration, duration: Duration) -> Result<f64, String> {
    let url = format!("ws://{addr}/");
    let e = |e: &dyn std::fmt::Display| e.to_string();
    match subscriber {
        Subscriber::OursWs | Subscriber::OursTcp | Subscriber::OursMsgpack => {
            let transport: Box<dyn rpc_core::Transport> = match subscriber {
                Subscriber::OursWs => Box::new(rpc_json::duplex::Client::connect_ws(&url).await.map_err(|x| e(&x))?),
                Subscriber::OursTcp => Box::new(rpc_json::duplex::Client::connect(addr).await.map_err(|x| e(&x))?),
                _ => Box::new(rpc_msgpack::Client::connect(addr).await.map_err(|x| e(&x))?),
            };
            let client = InteropClient::new(transport);
            let items = client.count(0, None).await.map_err(|x| e(&x))?;
            count(items.map(|item| item.map_err(|x| x.to_string())), warmup, duration).await
        }
        Subscriber::Jsonrpsee => {
            use jsonrpsee::core::client::SubscriptionClientT;
            // jsonrpsee's client closes a subscription whose buffer (1024 items by default) fills, which at full
            // speed happens within a few thousand items: a buffer this large lets it run the measured seconds.
            let client = jsonrpsee::ws_client::WsClientBuilder::default()
                .max_buffer_capacity_per_subscription(JSONRPSEE_BUFFER)
                .build(&url)
                .await
                .map_err(|x| e(&x))?;
            let items = client
                .subscribe::<u64, _>("subscribe_count", jsonrpsee::rpc_params![0], "unsubscribe_count")
                .await
                .map_err(|x| e(&x))?;
            count(items.map(|item| item.map_err(|x| x.to_string())), warmup, duration).await
        }
        Subscriber::RawWs => {
            // The crate is built without its connecting helpers: the TCP connection is opened here.
            let tcp = tokio::net::TcpStream::connect(addr).await.map_err(|x| e(&x))?;
            let (mut ws, _) = tokio_tungstenite::client_async(url.as_str(), tcp).await.map_err(|x| e(&x))?;
            let request = r#"{"jsonrpc":"2.0","id":1,"method":"subscribe_count","params":[0]}"#;
            ws.send(tokio_tungstenite::tungstenite::Message::text(request)).await.map_err(|x| e(&x))?;
            // The answer, then one message per item: counted by position, not read.
            let mut next = 0u64;
            let items = ws.filter_map(|message| {
                let item = match message {
                    Ok(tokio_tungstenite::tungstenite::Message::Text(_)) => {
                        let n = next;
                        next += 1;
                        Some(Ok(n))
                    }
                    Ok(_) => None,
                    Err(x) => Some(Err(x.to_string())),
                };
                std::future::ready(item)
            });
            count(items.skip(1).map(|n| n.map(|n| n - 1)), warmup, duration).await
        }
    }
}

/// Reads `items` through `warmup`, then counts them for `duration`, checking each is the next number.
async fn count(
    items: impl futures_util::Stream<Item = Result<u64, String>>,
    warmup: Duration,
    duration: Duration,
) -> Result<f64, String> {
    let mut items = std::pin::pin!(items);
    let mut expected = 0u64;
    let started = tokio::time::Instant::now();
    let (measuring, end) = (started + warmup, started + warmup + duration);
    let mut counted = 0u64;
    loop {
        let next = match tokio::time::timeout_at(end, items.next()).await {
            Err(_) => break,
            Ok(None) => return Err(format!("the stream ended after {expected} items")),
            Ok(Some(Err(why))) => return Err(format!("after {expected} items: {why}")),
            Ok(Some(Ok(n))) => n,
        };
        if next != expected {
            return Err(format!("item {next} came where {expected} was due"));
        }
        expected += 1;
        // The clock is read for every item: a stream whose items are always ready never lets the timeout above
        // see its deadline.
        let now = tokio::time::Instant::now();
        if now >= end {
            break;
        }
        if now >= measuring {
            counted += 1;
        }
    }
    Ok(counted as f64 / duration.as_secs_f64())
}

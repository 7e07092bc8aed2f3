//! The subscription rows of the suite: items per second delivered by one subscription to a stream that never
//! ends and yields as fast as it can (the interop service's `count(0, 0)`, and the same stream on jsonrpsee's
//! server), each server a process of its own on the server core and the subscriber here on the load core,
//! measured in turn, run by run, as the call rows are. Every item is checked to be the next number; a gap (an
//! item missing or out of order) is counted as an error.

use std::fmt::Write as _;
use std::time::Duration;

use futures_util::{SinkExt as _, StreamExt as _};
use rpc_examples::interop::InteropClient;

use crate::serve::Kind;
use crate::sys;

/// jsonrpsee 0.26's default buffer per subscription on its client (`max_buffer_capacity_per_subscription`, set
/// in `jsonrpsee-ws-client`'s `WsClientBuilder::default()`; not exported): the jsonrpsee row leaves its client
/// with it, and the report says so.
pub const JSONRPSEE_DEFAULT_BUFFER: usize = 1024;

/// The buffer of the second jsonrpsee row: large enough that its client does not close the subscription when
/// this process is held up for a moment (at the default, a stall of a few milliseconds does: the server's items
/// pile up in the socket, and its client's read task moves them into the buffer faster than they are taken out).
pub const JSONRPSEE_LARGE_BUFFER: usize = 1 << 20;

/// Who subscribes, and how it counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Subscriber {
    /// Our JSON-RPC WebSocket client, through the generated `InteropClient`.
    OursWs,
    /// Our JSON-RPC client on TCP (newline-delimited).
    OursTcp,
    /// Our MessagePack-RPC client.
    OursMsgpack,
    /// jsonrpsee 0.26's WebSocket client, with its default buffer per subscription.
    Jsonrpsee,
    /// jsonrpsee 0.26's WebSocket client, with [`JSONRPSEE_LARGE_BUFFER`] items per subscription.
    JsonrpseeLargeBuffer,
    /// A raw tokio-tungstenite reader that counts messages without decoding them.
    RawWs,
}

/// One row: a server and its subscriber.
#[derive(Debug, Clone, Copy)]
struct System {
    server: &'static str,
    subscriber_label: &'static str,
    kind: Kind,
    subscriber: Subscriber,
}

const SYSTEMS: [System; 6] = [
    System {
        server: "rpc-json duplex, JSON-RPC over WebSocket",
        subscriber_label: "our client (`rpc_json::duplex::Client::connect_ws`)",
        kind: Kind::StreamJsonWs,
        subscriber: Subscriber::OursWs,
    },
    System {
        server: "rpc-json duplex, JSON-RPC over TCP (lines)",
        subscriber_label: "our client (`rpc_json::duplex::Client::connect`)",
        kind: Kind::StreamJsonTcp,
        subscriber: Subscriber::OursTcp,
    },
    System {
        server: "rpc-msgpack, MessagePack-RPC over TCP",
        subscriber_label: "our client (`rpc_msgpack::Client::connect`)",
        kind: Kind::StreamMsgpack,
        subscriber: Subscriber::OursMsgpack,
    },
    System {
        server: "jsonrpsee 0.26, JSON-RPC over WebSocket",
        subscriber_label: "jsonrpsee's `WsClient`, default buffer (1024)",
        kind: Kind::JsonrpseeWs,
        subscriber: Subscriber::Jsonrpsee,
    },
    System {
        server: "rpc-json duplex, JSON-RPC over WebSocket",
        subscriber_label: "a raw tokio-tungstenite reader (counts messages, no decoding)",
        kind: Kind::StreamJsonWs,
        subscriber: Subscriber::RawWs,
    },
    System {
        server: "jsonrpsee 0.26, JSON-RPC over WebSocket",
        subscriber_label: "jsonrpsee's `WsClient`, buffer of 1,048,576 (for reference)",
        kind: Kind::JsonrpseeWs,
        subscriber: Subscriber::JsonrpseeLargeBuffer,
    },
];

/// One run of one row.
#[derive(Debug, Clone, Copy)]
struct Run {
    /// Items per second over the measured time.
    rate: f64,
    /// Items that were not the next number (a gap, or one out of order), warm-up included.
    gaps: u64,
    /// The share of one core the server and this process used over the measured time (100 = one core busy).
    server_cpu: f64,
    subscriber_cpu: f64,
}

/// A row's runs in order, each measured or why it failed (a subscription that ended or failed, a server that
/// did not start).
type Runs = Vec<Result<Run, String>>;

/// The measured rows.
#[derive(Debug, Default)]
pub struct Rows(Vec<(System, Runs)>);

impl Rows {
    /// The median run (by items/s) of the row whose subscriber is `subscriber`, if it was measured.
    fn median(&self, subscriber: Subscriber) -> Option<Run> {
        let (_, runs) = self.0.iter().find(|(s, _)| s.subscriber == subscriber)?;
        median(runs)
    }

    /// The jsonrpsee row the others are compared with: its client with its default buffer, or, when none of
    /// those runs lasted (its client closed the subscription each time), with [`JSONRPSEE_LARGE_BUFFER`].
    fn jsonrpsee_base(&self) -> Option<(Subscriber, f64)> {
        [Subscriber::Jsonrpsee, Subscriber::JsonrpseeLargeBuffer]
            .into_iter()
            .find_map(|s| self.median(s).map(|r| (s, r.rate)))
    }

    /// The buffer of jsonrpsee's client on the row the others are compared with (see [`Rows::render`]).
    fn base_buffer(base: Subscriber) -> usize {
        if base == Subscriber::Jsonrpsee { JSONRPSEE_DEFAULT_BUFFER } else { JSONRPSEE_LARGE_BUFFER }
    }

    /// The target's line: items/s of ours over WebSocket and of jsonrpsee's, each with its own client, and
    /// what jsonrpsee's client was given when it is not its default buffer.
    pub fn ours_vs_jsonrpsee(&self) -> (Option<f64>, Option<f64>, Option<String>) {
        let ours = self.median(Subscriber::OursWs).map(|r| r.rate);
        let base = self.jsonrpsee_base();
        let note = base.filter(|(s, _)| *s != Subscriber::Jsonrpsee).map(|(s, _)| {
            format!(
                "its client with a buffer of {}: at its default of {JSONRPSEE_DEFAULT_BUFFER}, no run lasted",
                crate::suite::rate(Self::base_buffer(s) as f64)
            )
        });
        (ours, base.map(|(_, rate)| rate), note)
    }

    /// True when nothing was measured (the section is left out).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The section of BENCHMARKS.md.
    pub fn render(&self, md: &mut String, settings: &crate::suite::Settings, pinned: bool) {
        let _ = writeln!(md, "\n## Subscriptions: one subscription, items/s\n");
        let placement = if pinned {
            format!(
                "Each server is a process of its own on CPU {}, the subscriber is in this process on CPU {}",
                crate::suite::SERVER_CPU,
                crate::suite::LOAD_CPU
            )
        } else {
            "Servers and subscriber are not pinned (fewer than 2 CPUs or no taskset)".to_owned()
        };
        let _ = writeln!(
            md,
            "Items per second delivered by one subscription to a stream that never ends and yields as fast as it \
             can: the interop service's `count(0, 0)` (`subscribe_count` with `[0, 0]`; each item a notification \
             `{{\"jsonrpc\":\"2.0\",\"method\":\"count\",\"params\":{{\"subscription\":ID,\"result\":N}}}}` on \
             JSON-RPC, `[2, \"count\", [ID, N]]` on MessagePack-RPC), and on jsonrpsee's server an `RpcModule` \
             whose `subscribe_count` accepts its `PendingSubscriptionSink` and `send`s 0, 1, 2, ... as fast as \
             the sink takes them. {placement}; the servers run side by side and are measured in turn, run by \
             run; each run is a fresh connection and subscription, its items counted for {:.1} s after {:.1} s of \
             warm-up; median of {} run(s). Every item is checked to be the next number (the raw reader's are \
             counted, not read): each gap or item out of order is an error, and so is a run whose subscription \
             ended or failed (the median is of the other runs). *vs jsonrpsee*: framework against framework, \
             each with its own client: against jsonrpsee's server read by its client with its default buffer, \
             or, when none of those runs lasted, by its client with a buffer of {} (said below the table). \
             jsonrpsee's client closes a subscription whose buffer ({JSONRPSEE_DEFAULT_BUFFER} items by default) \
             fills, which a stall of a few milliseconds on the subscriber's side does at this rate; ours keeps its default `subscription_buffer` of {} and, past it, pauses reading \
             the connection instead. The raw reader subscribes to our WebSocket server and counts its messages \
             without decoding them: our server's ceiling, apart from our client. CPU: share of one core each \
             side used over the measured time of the median run (100% = one core busy).\n",
            settings.duration.as_secs_f64(),
            settings.warmup.as_secs_f64(),
            settings.runs,
            crate::suite::rate(JSONRPSEE_LARGE_BUFFER as f64),
            rpc_engine::DEFAULT_SUBSCRIPTION_BUFFER,
        );
        let base = self.jsonrpsee_base();
        let jsonrpsee = base.map(|(_, rate)| rate);
        let _ = writeln!(
            md,
            "| server | subscriber | items/s | vs jsonrpsee | runs | errors | server CPU | subscriber CPU |"
        );
        let _ = writeln!(md, "|---|---|---:|---:|---|---:|---:|---:|");
        let mut notes = Vec::new();
        for (system, runs) in &self.0 {
            let failed: Vec<(usize, &String)> =
                runs.iter().enumerate().filter_map(|(i, r)| r.as_ref().err().map(|e| (i + 1, e))).collect();
            for (i, why) in &failed {
                notes.push(format!("{} / {}, run {i}: {why}", system.server, system.subscriber_label));
            }
            let Some(m) = median(runs) else {
                let why = failed.first().map_or("no run", |(_, why)| why.as_str());
                let _ = writeln!(md, "| {} | {} | failed: {why} | | | | | |", system.server, system.subscriber_label);
                continue;
            };
            let vs = jsonrpsee.map_or(String::new(), |b| format!("{:.2}x", m.rate / b));
            let all: Vec<String> = runs
                .iter()
                .map(|r| r.as_ref().map_or("failed".to_owned(), |r| format!("{:.0}k", r.rate / 1000.0)))
                .collect();
            let gaps: u64 = runs.iter().filter_map(|r| r.as_ref().ok()).map(|r| r.gaps).sum();
            let errors = match failed.len() {
                0 => gaps.to_string(),
                n => format!("{} ({gaps} gaps, {n} failed run{})", gaps + n as u64, if n == 1 { "" } else { "s" }),
            };
            let _ = writeln!(
                md,
                "| {} | {} | {} | {vs} | {} | {errors} | {:.0}% | {:.0}% |",
                system.server,
                system.subscriber_label,
                crate::suite::rate(m.rate),
                all.join(" / "),
                m.server_cpu,
                m.subscriber_cpu
            );
        }
        match (self.median(Subscriber::OursWs), self.median(Subscriber::RawWs)) {
            (Some(ours), Some(raw)) if raw.rate > 0.0 => {
                let _ = writeln!(
                    md,
                    "\nOur WebSocket server read by our client, against the same server read by the raw reader: \
                     {:.2}x.",
                    ours.rate / raw.rate
                );
            }
            _ => {
                let _ = writeln!(md, "\nOur WebSocket server read by our client, against the raw reader: n/a.");
            }
        }
        match base {
            Some((Subscriber::Jsonrpsee, _)) => {
                let _ = writeln!(
                    md,
                    "\n*vs jsonrpsee* is against jsonrpsee's client with its default buffer \
                     ({JSONRPSEE_DEFAULT_BUFFER})."
                );
            }
            Some((other, _)) => {
                let _ = writeln!(
                    md,
                    "\n*vs jsonrpsee* is against jsonrpsee's client with a buffer of {}: with its default \
                     ({JSONRPSEE_DEFAULT_BUFFER}), no run of its client lasted (below).",
                    crate::suite::rate(Self::base_buffer(other) as f64)
                );
            }
            None => {
                let _ = writeln!(md, "\n*vs jsonrpsee*: n/a, no jsonrpsee run lasted.");
            }
        }
        if !notes.is_empty() {
            let _ = writeln!(md, "\nFailed runs:\n");
            for note in notes {
                let _ = writeln!(md, "- {note}");
            }
        }
    }
}

/// The median of the runs measured, by items/s.
fn median(runs: &[Result<Run, String>]) -> Option<Run> {
    crate::drive::median_by(runs.iter().filter_map(|r| r.as_ref().ok()), |r| r.rate).copied()
}

/// Measures every row, `settings.runs` times each, in turn (row by row within each run).
pub async fn measure(settings: &crate::suite::Settings, pin: bool) -> Rows {
    let mut servers = Vec::new();
    let mut rows = Rows::default();
    for system in SYSTEMS {
        match crate::suite::spawn_kind(system.kind, pin) {
            Ok(server) => servers.push((system, server, Vec::new())),
            Err(e) => {
                eprintln!("   {} / {}: {e}", system.server, system.subscriber_label);
                rows.0.push((system, vec![Err(e)]));
            }
        }
    }
    eprintln!("== subscriptions: {} rows, one subscription each", servers.len());
    for _ in 0..settings.runs {
        for (system, server, runs) in &mut servers {
            let run = once(system.subscriber, &server.addr, server.pid, settings.warmup, settings.duration).await;
            if let Err(e) = &run {
                eprintln!("   {} / {}: {e}", system.server, system.subscriber_label);
            }
            runs.push(run);
        }
    }
    for (system, _, runs) in &servers {
        if let Some(m) = median(runs) {
            eprintln!(
                "   {} / {}: {:.0} items/s (runs: {}), {} gaps, server CPU {:.0}%, subscriber CPU {:.0}%",
                system.server,
                system.subscriber_label,
                m.rate,
                runs.iter()
                    .map(|r| r.as_ref().map_or("failed".to_owned(), |r| format!("{:.0}", r.rate)))
                    .collect::<Vec<_>>()
                    .join(", "),
                runs.iter().filter_map(|r| r.as_ref().ok()).map(|r| r.gaps).sum::<u64>(),
                m.server_cpu,
                m.subscriber_cpu
            );
        }
    }
    rows.0.extend(servers.into_iter().map(|(system, _, runs)| (system, runs)));
    rows
}

/// The request the raw reader subscribes with: `count(0, 0)`.
const RAW_SUBSCRIBE: &str = r#"{"jsonrpc":"2.0","id":1,"method":"subscribe_count","params":[0,0]}"#;

/// One run: subscribes on a fresh connection, reads through the warm-up, then counts for `duration`.
async fn once(
    subscriber: Subscriber,
    addr: &str,
    server_pid: u32,
    warmup: Duration,
    duration: Duration,
) -> Result<Run, String> {
    let url = format!("ws://{addr}/");
    let e = |e: &dyn std::fmt::Display| e.to_string();
    let clock = Clock { server_pid, warmup, duration };
    match subscriber {
        Subscriber::OursWs | Subscriber::OursTcp | Subscriber::OursMsgpack => {
            let transport: Box<dyn rpc_core::Transport> = match subscriber {
                Subscriber::OursWs => Box::new(rpc_json::duplex::Client::connect_ws(&url).await.map_err(|x| e(&x))?),
                Subscriber::OursTcp => Box::new(rpc_json::duplex::Client::connect(addr).await.map_err(|x| e(&x))?),
                _ => Box::new(rpc_msgpack::Client::connect(addr).await.map_err(|x| e(&x))?),
            };
            let client = InteropClient::new(transport);
            // `[0, 0]` on the wire: for ever, as fast as it can.
            let items = client.count(0, Some(0)).await.map_err(|x| e(&x))?;
            clock.count(items.map(|item| item.map_err(|x| x.to_string()))).await
        }
        Subscriber::Jsonrpsee | Subscriber::JsonrpseeLargeBuffer => {
            use jsonrpsee::core::client::SubscriptionClientT;
            // The default buffer per subscription is left as it is on the first row.
            let mut builder = jsonrpsee::ws_client::WsClientBuilder::default();
            let buffer = if subscriber == Subscriber::Jsonrpsee {
                JSONRPSEE_DEFAULT_BUFFER
            } else {
                builder = builder.max_buffer_capacity_per_subscription(JSONRPSEE_LARGE_BUFFER);
                JSONRPSEE_LARGE_BUFFER
            };
            let client = builder.build(&url).await.map_err(|x| e(&x))?;
            let items = client
                .subscribe::<u64, _>("subscribe_count", jsonrpsee::rpc_params![0, 0], "unsubscribe_count")
                .await
                .map_err(|x| e(&x))?;
            // Its subscription ends (`None`) when it is closed; why (it lagged, or the connection closed) is
            // told by `close_reason`.
            let items = futures_util::stream::unfold(Some(items), move |items| async move {
                let mut items = items?;
                match items.next().await {
                    Some(item) => Some((item.map_err(|x| x.to_string()), Some(items))),
                    None => {
                        let why = match items.close_reason() {
                            Some(jsonrpsee::core::client::SubscriptionCloseReason::Lagged) => format!(
                                "jsonrpsee's client closed the subscription: it lagged (more than {buffer} \
                                 items unread)"
                            ),
                            other => format!("the subscription ended ({other:?})"),
                        };
                        Some((Err(why), None))
                    }
                }
            });
            clock.count(items).await
        }
        Subscriber::RawWs => {
            // The crate is built without its connecting helpers: the TCP connection is opened here.
            let tcp = tokio::net::TcpStream::connect(addr).await.map_err(|x| e(&x))?;
            let (mut ws, _) = tokio_tungstenite::client_async(url.as_str(), tcp).await.map_err(|x| e(&x))?;
            ws.send(tokio_tungstenite::tungstenite::Message::text(RAW_SUBSCRIBE)).await.map_err(|x| e(&x))?;
            // The answer, then one text message per item: counted by position, not read.
            let mut next = 0u64;
            let items = ws.filter_map(|message| {
                let item = match message {
                    Ok(tokio_tungstenite::tungstenite::Message::Text(_)) => {
                        let n = next;
                        next += 1;
                        Some(Ok(n))
                    }
                    Ok(tokio_tungstenite::tungstenite::Message::Close(_)) => Some(Err("the server closed".to_owned())),
                    Ok(_) => None,
                    Err(x) => Some(Err(x.to_string())),
                };
                std::future::ready(item)
            });
            clock.count(items.skip(1).map(|n| n.map(|n| n - 1))).await
        }
    }
}

/// How one run is timed: a warm-up, then the measured time, with the server's CPU read over it.
struct Clock {
    server_pid: u32,
    warmup: Duration,
    duration: Duration,
}

impl Clock {
    /// Reads `items` through the warm-up, then counts them for the measured time, checking each is the next
    /// number (a gap is counted, and the count goes on from the item that came). An error item, or the end of
    /// the stream, fails the run.
    async fn count(&self, items: impl futures_util::Stream<Item = Result<u64, String>>) -> Result<Run, String> {
        let mut items = std::pin::pin!(items);
        let me = std::process::id();
        // Read once before the clock starts: the first read looks up the clock tick (a `getconf`), which would
        // hold this thread up while the items come.
        let _ = sys::cpu_seconds(me);
        let started = tokio::time::Instant::now();
        let (measuring, end) = (started + self.warmup, started + self.warmup + self.duration);
        // One timer for the whole run, polled only when no item is ready.
        let deadline = tokio::time::sleep_until(end);
        let mut deadline = std::pin::pin!(deadline);
        let (mut expected, mut gaps, mut received) = (0u64, 0u64, 0u64);
        // When the measured time began: the clock, the items received by then, and the CPU times.
        let mut window: Option<(tokio::time::Instant, u64, f64, f64)> = None;
        loop {
            let next = tokio::select! {
                biased;
                next = items.next() => next,
                () = &mut deadline => break,
            };
            let n = match next {
                None => return Err(format!("the stream ended after {received} items")),
                Some(Err(why)) => return Err(format!("after {received} items: {why}")),
                Some(Ok(n)) => n,
            };
            if n != expected {
                gaps += 1;
            }
            expected = n.wrapping_add(1);
            received += 1;
            // While items are always ready the deadline above is not polled: the clock is read every 64 items
            // (tens of microseconds at these rates), not for each, which would cost a few percent of the reading.
            if received % 64 == 0 {
                let now = tokio::time::Instant::now();
                if now >= end {
                    break;
                }
                if now >= measuring && window.is_none() {
                    window = Some((now, received, sys::cpu_seconds(self.server_pid), sys::cpu_seconds(me)));
                }
            }
        }
        let (from, before, server0, me0) = window.ok_or("fewer than 64 items came after the warm-up")?;
        let wall = from.elapsed().as_secs_f64().max(1e-9);
        let (server1, me1) = (sys::cpu_seconds(self.server_pid), sys::cpu_seconds(me));
        let counted = received - before;
        Ok(Run {
            rate: counted as f64 / wall,
            gaps,
            server_cpu: (server1 - server0) / wall * 100.0,
            subscriber_cpu: (me1 - me0) / wall * 100.0,
        })
    }
}

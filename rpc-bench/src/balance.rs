//! The balanced client's rows of the suite: `rpc_balance::Balanced` over three MessagePack-RPC servers against a
//! plain client of one of them, at the same total connections and calls in flight, unpipelined and pipelined. The three servers are
//! processes of their own on the server core (so the server side has the same one core either way), the clients
//! are in this process on the load core, and both rows call through `Transport::call` (the value path), so the
//! difference is what the balancer costs: picking an endpoint (power of two choices), its lock, the retry
//! budget's bookkeeping.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use rpc_bench::codecs::DOUBLE_ARG;
use rpc_bench::load::{self, Caller, Plan, Progress, Report, Stop, TransportCaller};
use rpc_core::Value;

use crate::serve::Kind;
use crate::suite::{Running, Settings};

/// Endpoints of the balanced rows.
const ENDPOINTS: usize = 3;
/// The loads, as connections x calls in flight on each: many connections with one call each (every call its own
/// write), and a few pipelined ones. The balanced client has the same total connections, a third per endpoint.
const SHAPES: [Shape; 2] = [(24, 1), (6, 16)];

/// Which client a row measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Client {
    /// `rpc_msgpack::Client`s, all to the first server.
    One,
    /// One `rpc_balance::Balanced` over the three servers.
    Balanced,
}

impl Client {
    fn label(self, connections: usize) -> String {
        match self {
            Client::One => format!("{connections} `rpc_msgpack::Client`s, one endpoint"),
            Client::Balanced => {
                format!("`rpc_balance::Balanced`, {ENDPOINTS} endpoints x {} connections", connections / ENDPOINTS)
            }
        }
    }
}

/// Connections x calls in flight on each.
type Shape = (usize, usize);

/// One row: a load shape, a client, and its runs in order.
type Row = (Shape, Client, Vec<Report>);

/// A shape's calls/s with the balanced client and with the plain ones.
pub type Ratio = (Shape, Option<f64>, Option<f64>);

/// The measured rows (or why none could be).
#[derive(Debug, Default)]
pub struct Rows(Vec<Row>, Option<String>);

impl Rows {
    fn median(&self, shape: Shape, client: Client) -> Option<&Report> {
        let (_, _, runs) = self.0.iter().find(|(s, c, _)| *s == shape && *c == client)?;
        let mut sorted: Vec<&Report> = runs.iter().collect();
        sorted.sort_by(|a, b| a.calls_per_sec().total_cmp(&b.calls_per_sec()));
        sorted.get(sorted.len() / 2).copied()
    }

    /// For each load shape, calls/s of the balanced client and of the one-endpoint client (the targets' ratios).
    pub fn balanced_vs_one(&self) -> Vec<Ratio> {
        SHAPES
            .iter()
            .map(|&shape| {
                let rate = |client| self.median(shape, client).map(Report::calls_per_sec);
                (shape, rate(Client::Balanced), rate(Client::One))
            })
            .collect()
    }

    /// True when the section was not selected.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty() && self.1.is_none()
    }

    /// The section of BENCHMARKS.md.
    pub fn render(&self, md: &mut String, settings: &Settings) {
        let _ = writeln!(md, "\n## Many endpoints: the balanced client\n");
        let _ = writeln!(
            md,
            "`rpc_balance::Balanced` over {ENDPOINTS} `rpc-msgpack` servers against plain `rpc_msgpack::Client`s \
             of one of them, at the same total connections and calls in flight, calling `double({DOUBLE_ARG})` \
             through `Transport::call` (the value path) on both. The servers are processes on the server core (one \
             core for the server side either way), the clients in this process on the load core; the rows are \
             measured in turn, run by run: median of {} run(s) of {:.1} s after {:.1} s of warm-up. Each plain \
             client is driven by its own calls in flight, so the calls that one answer frees go out on that same \
             connection, in one write; the balanced client's callers share its connections, each call going where \
             the balancer picks. *vs one endpoint*: calls/s over the plain clients' on the same load.\n",
            settings.runs,
            settings.duration.as_secs_f64(),
            settings.warmup.as_secs_f64(),
        );
        if let Some(why) = &self.1 {
            let _ = writeln!(md, "Not measured: {why}");
            return;
        }
        let _ = writeln!(
            md,
            "| client | connections x in flight | calls/s | vs one endpoint | runs | p50 | p99 | errors |"
        );
        let _ = writeln!(md, "|---|---|---:|---:|---|---:|---:|---:|");
        for (shape, client, runs) in &self.0 {
            let label = client.label(shape.0);
            let Some(median) = self.median(*shape, *client) else {
                let _ = writeln!(md, "| {label} | {} x {} | n/a | | | | | |", shape.0, shape.1);
                continue;
            };
            let one = self.median(*shape, Client::One).map(Report::calls_per_sec).filter(|o| *o > 0.0);
            let vs = one.map_or("n/a".to_owned(), |o| format!("{:.2}x", median.calls_per_sec() / o));
            let rates: Vec<String> = runs.iter().map(|r| crate::suite::rate(r.calls_per_sec())).collect();
            let _ = writeln!(
                md,
                "| {label} | {} x {} | {} | {vs} | {} | {:.0} µs | {:.0} µs | {} |",
                shape.0,
                shape.1,
                crate::suite::rate(median.calls_per_sec()),
                rates.join(", "),
                median.latency.p50.as_secs_f64() * 1e6,
                median.latency.p99.as_secs_f64() * 1e6,
                median.errors,
            );
        }
    }
}

/// Measures the rows of every shape (the servers started here, stopped at the end).
pub async fn measure(settings: &Settings, pin: bool) -> Rows {
    eprintln!("== many endpoints: the balanced client over {ENDPOINTS} MessagePack-RPC servers vs one");
    let mut servers: Vec<Running> = Vec::new();
    for _ in 0..ENDPOINTS {
        match crate::suite::spawn_kind(Kind::Msgpack, pin) {
            Ok(server) => servers.push(server),
            Err(e) => {
                eprintln!("   {e}");
                return Rows(Vec::new(), Some(e));
            }
        }
    }
    let addrs: Vec<String> = servers.iter().map(|s| s.addr.clone()).collect();
    let mut rows: Vec<Row> = Vec::new();
    for shape in SHAPES {
        let balanced = rpc_balance::Balanced::builder(|endpoint: &rpc_balance::Endpoint| {
            let addr = endpoint.name().to_owned();
            async move { rpc_msgpack::Client::connect(addr).await.map_err(rpc_core::Error::from) }
        })
        .connections_per_endpoint(shape.0 / ENDPOINTS)
        .endpoints(&addrs);
        let balanced = match balanced {
            Ok(b) => b,
            Err(e) => return Rows(Vec::new(), Some(e.to_string())),
        };
        let first = addrs[0].clone();
        let one: load::Connector = Arc::new(move || {
            let addr = first.clone();
            Box::pin(async move {
                let client = rpc_msgpack::Client::connect(addr.as_str()).await.map_err(|e| e.to_string())?;
                Ok(Box::new(TransportCaller(client)) as Box<dyn Caller>)
            })
        });
        // Every caller of the balanced row shares the one client (and its connections).
        let shared = balanced.clone();
        let spread: load::Connector = Arc::new(move || {
            let caller = Box::new(TransportCaller(shared.clone())) as Box<dyn Caller>;
            Box::pin(std::future::ready(Ok(caller)))
        });
        let plan = Plan {
            method: "double".into(),
            params: vec![Value::Int(DOUBLE_ARG)],
            connections: shape.0,
            in_flight: shape.1,
            stop: Stop::After(settings.duration),
            warmup: settings.warmup.max(Duration::from_millis(200)),
            timeout: Duration::from_secs(10),
        };
        let targets = [(Client::One, load::Target::Other(one)), (Client::Balanced, load::Target::Other(spread))];
        let first_row = rows.len();
        rows.extend(targets.iter().map(|(c, _)| (shape, *c, Vec::new())));
        for _ in 0..settings.runs {
            for (i, (client, target)) in targets.iter().enumerate() {
                let label = client.label(shape.0);
                match load::run(target, &plan, Arc::new(Progress::default())).await {
                    Ok(report) => {
                        eprintln!("   {label}: {:.0} calls/s, {} errors", report.calls_per_sec(), report.errors);
                        rows[first_row + i].2.push(report);
                    }
                    Err(e) => eprintln!("   {label}: {e}"),
                }
            }
        }
        let shares: Vec<String> =
            balanced.endpoints().iter().map(|e| format!("{}: {} calls", e.endpoint.name(), e.calls)).collect();
        eprintln!("   balanced calls per endpoint: {}", shares.join(", "));
    }
    drop(servers);
    Rows(rows, None)
}

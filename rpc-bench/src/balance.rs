//! The balanced client's rows of the suite: `rpc_balance::Balanced` over three MessagePack-RPC servers against a
//! plain client of one of them, at the same total connections and calls in flight, unpipelined and pipelined. The three servers are
//! processes of their own on the server core (so the server side has the same one core either way), the clients
//! are in this process on the load core, and both rows call through `Transport::call` (the value path), so the
//! difference is what the balancer costs: picking an endpoint (power of two choices), its lock, the retry
//! budget's bookkeeping.

use std::fmt::Write as _;
use std::time::Duration;

use rpc_bench::codecs::DOUBLE_ARG;
use rpc_bench::load::{self, Plan, Report, Stop, TransportCaller};
use rpc_core::Value;

use crate::drive::{self, Contender};
use crate::serve::Kind;
use crate::suite::{Running, Settings};

/// Endpoints of the balanced rows.
const ENDPOINTS: usize = 3;
/// The loads, as connections x calls in flight on each: many connections with one call each (every call its own
/// write), and a few pipelined ones. The balanced client has the same total connections, a third per endpoint.
const SHAPES: [Shape; 2] = [(24, 1), (6, 16)];

/// Runs of each row: at least five, since the rows differ by less than this machine's run-to-run spread
/// (about 10% at 24 x 1) and the median of three moves with it.
fn runs(settings: &Settings) -> usize {
    settings.runs.max(5)
}

/// Which client a row measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Client {
    /// `rpc_msgpack::Client`s, all to the first server, each driven by its own calls in flight.
    One,
    /// One `rpc_balance::Balanced` over the first server alone, shared by every caller.
    BalancedOne,
    /// One `rpc_balance::Balanced` over the three servers, shared by every caller.
    Balanced,
}

impl Client {
    fn label(self, connections: usize) -> String {
        match self {
            Client::One => format!("{connections} `rpc_msgpack::Client`s, one endpoint"),
            Client::BalancedOne => format!("`rpc_balance::Balanced`, 1 endpoint x {connections} connections"),
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

/// A shape, the client compared with, and calls/s of the balanced client over three endpoints and of that one.
pub type Ratio = (Shape, Client, Option<f64>, Option<f64>);

/// The measured rows (or why none could be).
#[derive(Debug, Default)]
pub struct Rows(Vec<Row>, Option<String>);

impl Rows {
    fn median(&self, shape: Shape, client: Client) -> Option<&Report> {
        let (_, _, runs) = self.0.iter().find(|(s, c, _)| *s == shape && *c == client)?;
        crate::drive::median_by(runs, Report::calls_per_sec)
    }

    /// For each load shape: calls/s of the balanced client over the three endpoints, and of the client it is
    /// held to: the plain clients unpipelined; pipelined, the balanced client over one endpoint (the plain
    /// clients batch their writes in a way no client shared by its callers does: see the section).
    pub fn balanced_vs_one(&self) -> Vec<Ratio> {
        SHAPES
            .iter()
            .map(|&shape| {
                let rate = |client| self.median(shape, client).map(Report::calls_per_sec);
                let base = if shape.1 == 1 { Client::One } else { Client::BalancedOne };
                (shape, base, rate(Client::Balanced), rate(base))
            })
            .collect()
    }

    /// A label for the client a ratio is against.
    pub fn base_label(base: Client) -> &'static str {
        match base {
            Client::One => "plain clients of one endpoint",
            Client::BalancedOne | Client::Balanced => "the same client over one endpoint",
        }
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
             measured in turn, run by run: median of {} run(s) of {:.1} s after {:.1} s of warm-up. *vs one \
             endpoint*: calls/s over the plain clients' on the same load; *vs the same client on one endpoint*: \
             over the balanced client's with one endpoint and the same connections.\n\n\
             Unpipelined, the balancer costs nothing measurable. Pipelined, a client shared by its callers loses \
             to the plain clients whether it has one endpoint or three: each plain client is driven by its own calls \
             in flight, so the calls one batch of answers frees go out together on that connection, in one write, \
             and the server reads them in one; the shared client's callers go where the balancer picks (the less \
             loaded of two connections at random), so the same calls take a write on each connection. Spreading \
             over three endpoints instead of one costs nothing more.\n",
            runs(settings),
            settings.duration.as_secs_f64(),
            settings.warmup.as_secs_f64(),
        );
        if let Some(why) = &self.1 {
            let _ = writeln!(md, "Not measured: {why}");
            return;
        }
        let _ = writeln!(
            md,
            "| client | connections x in flight | calls/s | vs one endpoint | vs the same client on one endpoint | \
             runs | p50 | p99 | errors |"
        );
        let _ = writeln!(md, "|---|---|---:|---:|---:|---|---:|---:|---:|");
        for (shape, client, runs) in &self.0 {
            let label = client.label(shape.0);
            let Some(median) = self.median(*shape, *client) else {
                let _ = writeln!(md, "| {label} | {} x {} | n/a | | | | | | |", shape.0, shape.1);
                continue;
            };
            let vs = |base| {
                let base = self.median(*shape, base).map(Report::calls_per_sec).filter(|o| *o > 0.0);
                base.map_or("n/a".to_owned(), |o| format!("{:.2}x", median.calls_per_sec() / o))
            };
            let same = if *client == Client::One { String::new() } else { vs(Client::BalancedOne) };
            let vs = vs(Client::One);
            let rates: Vec<String> = runs.iter().map(|r| crate::suite::rate(r.calls_per_sec())).collect();
            let _ = writeln!(
                md,
                "| {label} | {} x {} | {} | {vs} | {same} | {} | {:.0} µs | {:.0} µs | {} |",
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
        let open = |endpoints: &[String], per_endpoint| {
            rpc_balance::Balanced::builder(|endpoint: &rpc_balance::Endpoint| {
                let addr = endpoint.name().to_owned();
                async move { rpc_msgpack::Client::connect(addr).await.map_err(rpc_core::Error::from) }
            })
            .connections_per_endpoint(per_endpoint)
            .endpoints(endpoints)
        };
        let (balanced, on_one) = match (open(&addrs, shape.0 / ENDPOINTS), open(&addrs[..1], shape.0)) {
            (Ok(b), Ok(o)) => (b, o),
            (Err(e), _) | (_, Err(e)) => return Rows(Vec::new(), Some(e.to_string())),
        };
        let first = addrs[0].clone();
        let one = drive::each_connection(move || {
            let addr = first.clone();
            async move { rpc_msgpack::Client::connect(addr).await.map(TransportCaller).map_err(|e| e.to_string()) }
        });
        // Every caller of a balanced row shares the one client (and its connections).
        let shared = |client: &rpc_balance::Balanced| drive::shared(client.clone(), TransportCaller);
        let plan = Plan {
            method: "double".into(),
            params: vec![Value::Int(DOUBLE_ARG)],
            connections: shape.0,
            in_flight: shape.1,
            stop: Stop::After(settings.duration),
            warmup: settings.warmup.max(Duration::from_millis(200)),
            timeout: Duration::from_secs(10),
        };
        let clients = [Client::One, Client::BalancedOne, Client::Balanced];
        let targets = [one, shared(&on_one), shared(&balanced)];
        let contenders: Vec<Contender> = clients
            .iter()
            .zip(targets)
            .map(|(client, connector)| Contender {
                label: client.label(shape.0),
                target: load::Target::Other(connector),
                servers: servers.iter().map(|s| s.pid).collect(),
            })
            .collect();
        let measured = drive::in_turn(&contenders, &plan, runs(settings)).await;
        for (client, runs) in clients.into_iter().zip(measured) {
            rows.push((shape, client, runs.into_iter().map(|run| run.report).collect()));
        }
        let shares: Vec<String> =
            balanced.endpoints().iter().map(|e| format!("{}: {} calls", e.endpoint.name(), e.calls)).collect();
        eprintln!("   balanced calls per endpoint: {}", shares.join(", "));
    }
    drop(servers);
    Rows(rows, None)
}

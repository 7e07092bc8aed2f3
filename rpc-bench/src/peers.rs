//! Against the frameworks users would pick instead: each framework's server, a process of its own on the server
//! core, called through that framework's own client in this process on the load core, `double` typed on both
//! sides: rpc-json against jsonrpsee over HTTP, rpc-msgpack against tarpc over TCP, rpc-xml against dxr over
//! HTTP. The rows of one load shape are measured in turn, run by run (`drive::in_turn`), and every figure is a
//! ratio within the one run.

use std::fmt::Write as _;
use std::time::Duration;

use rpc_bench::codecs::DOUBLE_ARG;
use rpc_bench::load::{self, BoxFuture, Plan, Stop};
use rpc_bench::service::DoubleClient;
use rpc_core::Value;

use crate::drive::{self, Contender, Doubling, Run};
use crate::serve::{Kind, tarpc_service};
use crate::suite::{Running, Settings};

/// Connections x calls in flight on each.
type Shape = (usize, usize);

/// A framework: its server and its own client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framework {
    /// rpc-json's HTTP server, called through `rpc_json::Client` and the generated `DoubleClient`.
    OursJson,
    /// jsonrpsee's HTTP server, called through its `HttpClient`.
    Jsonrpsee,
    /// rpc-msgpack's server, called through `rpc_msgpack::Client` and the generated `DoubleClient`.
    OursMsgpack,
    /// tarpc's server over TCP (bincode), called through its generated `DoubleClient`.
    Tarpc,
    /// rpc-xml's server, called through `rpc_xml::Client` and the generated `DoubleClient`.
    OursXml,
    /// dxr's server (axum), called through its `Client` (reqwest).
    Dxr,
}

impl Framework {
    const ALL: [Framework; 6] = [
        Framework::OursJson,
        Framework::Jsonrpsee,
        Framework::OursMsgpack,
        Framework::Tarpc,
        Framework::OursXml,
        Framework::Dxr,
    ];

    fn protocol(self) -> &'static str {
        match self {
            Framework::OursJson | Framework::Jsonrpsee => "JSON-RPC over HTTP",
            Framework::OursMsgpack => "MessagePack-RPC over TCP",
            Framework::Tarpc => "tarpc over TCP (bincode)",
            Framework::OursXml | Framework::Dxr => "XML-RPC over HTTP",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Framework::OursJson => "rpc-json server, `rpc_json::Client` (generated `DoubleClient`)",
            Framework::Jsonrpsee => "jsonrpsee 0.26 HTTP server, its `HttpClient`",
            Framework::OursMsgpack => "rpc-msgpack server, `rpc_msgpack::Client` (generated `DoubleClient`)",
            Framework::Tarpc => "tarpc 0.38 server, its generated `DoubleClient`",
            Framework::OursXml => "rpc-xml server, `rpc_xml::Client` (generated `DoubleClient`)",
            Framework::Dxr => "dxr 0.9 server (axum), its `Client` (reqwest)",
        }
    }

    fn kind(self) -> Kind {
        match self {
            Framework::OursJson => Kind::Json,
            Framework::Jsonrpsee => Kind::JsonrpseeHttp,
            Framework::OursMsgpack => Kind::Msgpack,
            Framework::Tarpc => Kind::Tarpc,
            Framework::OursXml => Kind::Xml,
            Framework::Dxr => Kind::Dxr,
        }
    }

    /// A client of its own for each connection of the plan, to the server at `addr`.
    fn connector(self, addr: &str) -> load::Connector {
        let url = format!("http://{addr}/");
        let addr = addr.to_owned();
        let e = |e: &dyn std::fmt::Display| e.to_string();
        match self {
            Framework::OursJson => drive::each_connection(move || {
                let url = url.clone();
                async move {
                    let client = rpc_json::Client::connect(&url).await.map_err(|x| e(&x))?;
                    Ok(Doubling(DoubleClient::new(client)))
                }
            }),
            Framework::OursXml => drive::each_connection(move || {
                let url = url.clone();
                async move {
                    let client = rpc_xml::Client::connect(&url).await.map_err(|x| e(&x))?;
                    Ok(Doubling(DoubleClient::new(client)))
                }
            }),
            Framework::OursMsgpack => drive::each_connection(move || {
                let addr = addr.clone();
                async move {
                    let client = rpc_msgpack::Client::connect(addr).await.map_err(|x| e(&x))?;
                    Ok(Doubling(DoubleClient::new(client)))
                }
            }),
            Framework::Jsonrpsee => drive::each_connection(move || {
                let client = jsonrpsee::http_client::HttpClientBuilder::default().build(&url).map_err(|x| e(&x));
                std::future::ready(client.map(Doubling))
            }),
            Framework::Tarpc => drive::each_connection(move || {
                let addr = addr.clone();
                async move {
                    let stream = tokio::net::TcpStream::connect(addr).await.map_err(|x| e(&x))?;
                    let transport = tarpc_service::transport(stream).map_err(|x| e(&x))?;
                    let client = tarpc_service::DoubleClient::new(tarpc::client::Config::default(), transport);
                    Ok(Doubling(client.spawn()))
                }
            }),
            Framework::Dxr => drive::each_connection(move || {
                let client = url.parse().map(|url| dxr_client::ClientBuilder::new(url).build()).map_err(|x| e(&x));
                std::future::ready(client.map(Doubling))
            }),
        }
    }
}

impl<T: rpc_core::Transport + 'static> drive::Double for DoubleClient<T> {
    fn double(&self, num: i64) -> BoxFuture<'_, Result<i64, String>> {
        Box::pin(async move { DoubleClient::double(self, num).await.map_err(|e| e.to_string()) })
    }
}

impl drive::Double for jsonrpsee::http_client::HttpClient {
    fn double(&self, num: i64) -> BoxFuture<'_, Result<i64, String>> {
        use jsonrpsee::core::client::ClientT as _;
        Box::pin(async move {
            self.request::<i64, _>("double", jsonrpsee::rpc_params![num]).await.map_err(|e| e.to_string())
        })
    }
}

impl drive::Double for tarpc_service::DoubleClient {
    fn double(&self, num: i64) -> BoxFuture<'_, Result<i64, String>> {
        Box::pin(async move {
            tarpc_service::DoubleClient::double(self, tarpc::context::current(), num).await.map_err(|e| e.to_string())
        })
    }
}

impl drive::Double for dxr_client::Client {
    fn double(&self, num: i64) -> BoxFuture<'_, Result<i64, String>> {
        Box::pin(async move {
            // XML-RPC's `int` (dxr's `i32`), as our client sends a small `i64`.
            let num = i32::try_from(num).map_err(|e| e.to_string())?;
            self.call::<i32, i32>("double", num).await.map(i64::from).map_err(|e| e.to_string())
        })
    }
}

/// The comparisons: a load shape, ours, the other framework, and the goal (ours at least that many times its
/// calls/s).
const PAIRS: [(Shape, Framework, Framework, f64); 4] = [
    ((32, 1), Framework::OursJson, Framework::Jsonrpsee, 1.25),
    ((1, 64), Framework::OursMsgpack, Framework::Tarpc, 3.0),
    ((32, 1), Framework::OursMsgpack, Framework::Tarpc, 1.3),
    ((32, 1), Framework::OursXml, Framework::Dxr, 1.25),
];

/// The load shapes, each measured as one group of rows in turn.
const SHAPES: [Shape; 2] = [(32, 1), (1, 64)];

/// One row: a load shape, a framework, and its runs in order.
type Row = (Shape, Framework, Vec<Run>);

/// The measured rows (or why none could be).
#[derive(Debug, Default)]
pub struct Rows(Vec<Row>, Option<String>);

impl Rows {
    fn median(&self, shape: Shape, framework: Framework) -> Option<&Run> {
        let (_, _, runs) = self.0.iter().find(|(s, f, _)| *s == shape && *f == framework)?;
        drive::median(runs)
    }

    fn rate(&self, shape: Shape, framework: Framework) -> Option<f64> {
        self.median(shape, framework).map(|r| r.report.calls_per_sec())
    }

    /// The lines of the targets table: what, calls/s of ours and of the other framework, and the goal.
    pub fn goals(&self) -> Vec<(String, Option<f64>, Option<f64>, f64)> {
        if self.is_empty() {
            return Vec::new();
        }
        PAIRS
            .iter()
            .map(|&(shape, ours, theirs, goal)| {
                let what = format!(
                    "`double`, {} connection{} x {} in flight, own clients: {} vs {}",
                    shape.0,
                    if shape.0 == 1 { "" } else { "s" },
                    shape.1,
                    short(ours),
                    short(theirs)
                );
                (what, self.rate(shape, ours), self.rate(shape, theirs), goal)
            })
            .collect()
    }

    /// True when the section was not selected.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty() && self.1.is_none()
    }

    /// The section of BENCHMARKS.md.
    pub fn render(&self, md: &mut String, settings: &Settings, pinned: bool) {
        let _ = writeln!(md, "\n## Against the frameworks users would pick instead\n");
        let placement = if pinned {
            format!(
                "Each server is a process of its own on CPU {} (all of them started together, idle while another \
                 is measured); the clients are in this process on CPU {}",
                crate::suite::SERVER_CPU,
                crate::suite::LOAD_CPU
            )
        } else {
            "Servers and clients are not pinned (fewer than 2 CPUs or no taskset)".to_owned()
        };
        let _ = writeln!(
            md,
            "Framework against framework, each with its own client: each server answers `double({DOUBLE_ARG})` \
             and is called through its own framework's client the way its users call it, typed on both sides (ours \
             through the generated `DoubleClient` of `#[service] trait Double`; jsonrpsee's `HttpClient::request`; \
             tarpc's generated client of `#[tarpc::service] trait Double {{ async fn double(x: i64) -> i64; }}` \
             over its TCP `serde_transport` with its bincode codec; dxr's `Client::call`), every answer checked to \
             be {} (anything else, a fault or a transport error is an error). {placement}. *N connections x M in \
             flight*: N clients, each with its own connection, each with M calls at a time. The rows of one load \
             shape are measured in turn, run by run: median of {} run(s) of {:.1} s after {:.1} s of warm-up. \
             Every framework has its defaults but `TCP_NODELAY`, which ours set and which tarpc's and dxr's \
             servers and tarpc's client are given too (jsonrpsee sets it itself; reqwest, under dxr's client, \
             sets it by default). *vs the other*: calls/s over the other framework's on the same load. CPU: the \
             server's share of one core over the median run, and its CPU time per call.\n",
            2 * DOUBLE_ARG,
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
            "| protocol | framework: server, client | connections x in flight | calls/s | vs the other | runs | \
             p50 | p99 | errors | server CPU | server CPU per call | client CPU |"
        );
        let _ = writeln!(md, "|---|---|---|---:|---:|---|---:|---:|---:|---:|---:|---:|");
        for (shape, framework, runs) in &self.0 {
            let (protocol, label) = (framework.protocol(), framework.label());
            let Some(m) = drive::median(runs) else {
                let _ = writeln!(md, "| {protocol} | {label} | {} x {} | n/a | | | | | | | | |", shape.0, shape.1);
                continue;
            };
            let other = PAIRS.iter().filter(|(s, ..)| s == shape).find_map(|&(_, ours, theirs, _)| {
                if ours == *framework {
                    Some(theirs)
                } else if theirs == *framework {
                    Some(ours)
                } else {
                    None
                }
            });
            let vs = other
                .and_then(|o| self.rate(*shape, o))
                .filter(|o| *o > 0.0)
                .map_or(String::new(), |o| format!("{:.2}x", m.report.calls_per_sec() / o));
            let rates: Vec<String> =
                runs.iter().map(|r| format!("{:.0}k", r.report.calls_per_sec() / 1000.0)).collect();
            let errors: u64 = runs.iter().map(|r| r.report.errors).sum();
            let _ = writeln!(
                md,
                "| {protocol} | {label} | {} x {} | {} | {vs} | {} | {:.0} µs | {:.0} µs | {errors} | {:.0}% | {:.2} µs \
                 | {:.0}% |",
                shape.0,
                shape.1,
                crate::suite::rate(m.report.calls_per_sec()),
                rates.join(" / "),
                m.report.latency.p50.as_secs_f64() * 1e6,
                m.report.latency.p99.as_secs_f64() * 1e6,
                m.server_cpu,
                m.server_us_per_call(),
                m.client_cpu,
            );
        }
        let _ = writeln!(md, "\n*errors*: over every run of the row.");
    }
}

/// A framework's name in a target's line.
fn short(framework: Framework) -> &'static str {
    match framework {
        Framework::OursJson => "rpc-json",
        Framework::Jsonrpsee => "jsonrpsee",
        Framework::OursMsgpack => "rpc-msgpack",
        Framework::Tarpc => "tarpc",
        Framework::OursXml => "rpc-xml",
        Framework::Dxr => "dxr",
    }
}

/// Measures every row: the servers started here (one per framework), the rows of each shape in turn.
pub async fn measure(settings: &Settings, pin: bool) -> Rows {
    eprintln!("== against the frameworks users would pick instead: jsonrpsee, tarpc, dxr");
    let mut servers: Vec<(Framework, Running)> = Vec::new();
    for framework in Framework::ALL {
        match crate::suite::spawn_kind(framework.kind(), pin) {
            Ok(server) => servers.push((framework, server)),
            Err(e) => {
                eprintln!("   {}: {e}", framework.label());
                return Rows(Vec::new(), Some(format!("{}: {e}", framework.label())));
            }
        }
    }
    let mut rows: Vec<Row> = Vec::new();
    for shape in SHAPES {
        let in_shape: Vec<Framework> = Framework::ALL
            .into_iter()
            .filter(|f| PAIRS.iter().any(|&(s, ours, theirs, _)| s == shape && (ours == *f || theirs == *f)))
            .collect();
        let contenders: Vec<Contender> = in_shape
            .iter()
            .filter_map(|f| servers.iter().find(|(s, _)| s == f))
            .map(|(framework, server)| Contender {
                label: format!("{} {} x {}", short(*framework), shape.0, shape.1),
                target: load::Target::Other(framework.connector(&server.addr)),
                servers: vec![server.pid],
            })
            .collect();
        let plan = Plan {
            method: "double".into(),
            params: vec![Value::Int(DOUBLE_ARG)],
            connections: shape.0,
            in_flight: shape.1,
            stop: Stop::After(settings.duration),
            warmup: settings.warmup,
            timeout: Duration::from_secs(10),
        };
        let measured = drive::in_turn(&contenders, &plan, settings.runs).await;
        rows.extend(in_shape.into_iter().zip(measured).map(|(framework, runs)| (shape, framework, runs)));
    }
    drop(servers);
    Rows(rows, None)
}

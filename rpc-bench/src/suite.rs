//! The suite: starts each server as a process pinned to CPU 0, drives it from this process (pinned to CPU 1 for
//! throughput, to CPU 0 beside the server for sequential latency), reads memory and CPU time from `/proc`, times
//! the codecs, and renders `BENCHMARKS.md`.

use std::fmt::Write as _;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rpc_bench::codecs::{self, DOUBLE_ARG};
use rpc_bench::load::{self, HttpEncoding, Plan, Progress, Report, Stop};
use rpc_core::Value;

use crate::serve::Kind;
use crate::sys;

/// The suite's settings.
#[derive(Debug, Clone)]
pub struct Settings {
    pub runs: usize,
    pub duration: Duration,
    pub warmup: Duration,
    pub idle_connections: usize,
    pub only: Option<String>,
    pub wait_for_load: Option<f64>,
}

/// The core servers run on; the load generator runs on the other one for throughput.
pub(crate) const SERVER_CPU: usize = 0;
pub(crate) const LOAD_CPU: usize = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Proto {
    Xml,
    Json,
    Msgpack,
    /// JSON-RPC on the duplex engine over TCP, newline-delimited.
    JsonTcp,
    /// JSON-RPC on the duplex engine over WebSocket.
    JsonWs,
}

impl Proto {
    fn name(self) -> &'static str {
        match self {
            Proto::Xml => "XML-RPC",
            Proto::Json => "JSON-RPC",
            Proto::Msgpack => "MessagePack-RPC",
            Proto::JsonTcp => "JSON-RPC over TCP",
            Proto::JsonWs => "JSON-RPC over WebSocket",
        }
    }

    fn key(self) -> &'static str {
        match self {
            Proto::Xml => "xml",
            Proto::Json => "json",
            Proto::Msgpack => "msgpack",
            Proto::JsonTcp => "json-tcp",
            Proto::JsonWs => "json-ws",
        }
    }

    /// Whether it pipelines calls on a connection (and so is measured with calls in flight too).
    fn duplex(self) -> bool {
        matches!(self, Proto::Msgpack | Proto::JsonTcp | Proto::JsonWs)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Baseline,
    Ours,
    Peer,
}

#[derive(Debug, Clone, Copy)]
enum Launch {
    Serve(Kind),
    Python(&'static str),
}

/// One server the suite measures.
#[derive(Debug, Clone, Copy)]
struct System {
    proto: Proto,
    role: Role,
    label: &'static str,
    launch: Launch,
}

const XML_PEER: &str = include_str!("../peers/xmlrpc_server.py");
const MSGPACK_PEER: &str = include_str!("../peers/msgpack_server.py");

const SYSTEMS: [System; 13] = [
    System { proto: Proto::Msgpack, role: Role::Baseline, label: "raw tokio TCP", launch: Launch::Serve(Kind::RawTcp) },
    System { proto: Proto::Msgpack, role: Role::Ours, label: "rpc-msgpack", launch: Launch::Serve(Kind::Msgpack) },
    System {
        proto: Proto::Msgpack,
        role: Role::Peer,
        label: "Python asyncio + msgpack",
        launch: Launch::Python(MSGPACK_PEER),
    },
    System { proto: Proto::Xml, role: Role::Baseline, label: "raw hyper", launch: Launch::Serve(Kind::RawHttpXml) },
    System { proto: Proto::Xml, role: Role::Ours, label: "rpc-xml", launch: Launch::Serve(Kind::Xml) },
    System {
        proto: Proto::Xml,
        role: Role::Peer,
        label: "Python SimpleXMLRPCServer (threads)",
        launch: Launch::Python(XML_PEER),
    },
    System { proto: Proto::Json, role: Role::Baseline, label: "raw hyper", launch: Launch::Serve(Kind::RawHttpJson) },
    System { proto: Proto::Json, role: Role::Ours, label: "rpc-json", launch: Launch::Serve(Kind::Json) },
    System {
        proto: Proto::Json,
        role: Role::Peer,
        label: "jsonrpsee 0.26 HTTP server",
        launch: Launch::Serve(Kind::JsonrpseeHttp),
    },
    System {
        proto: Proto::JsonTcp,
        role: Role::Baseline,
        label: "raw tokio TCP (lines)",
        launch: Launch::Serve(Kind::RawLines),
    },
    System { proto: Proto::JsonTcp, role: Role::Ours, label: "rpc-json duplex", launch: Launch::Serve(Kind::JsonTcp) },
    System {
        proto: Proto::JsonWs,
        role: Role::Baseline,
        label: "raw tokio-tungstenite",
        launch: Launch::Serve(Kind::RawWs),
    },
    System { proto: Proto::JsonWs, role: Role::Ours, label: "rpc-json duplex", launch: Launch::Serve(Kind::JsonWs) },
];

/// A connections x in-flight shape.
type Shape = (usize, usize);

/// One measured figure: the median run, with the CPU each side used.
#[derive(Debug, Clone)]
struct Row {
    system: System,
    shape: Shape,
    sequential: bool,
    report: Report,
    /// Calls/s of every run, sorted.
    rates: Vec<f64>,
    server_cpu: f64,
    load_cpu: f64,
    peak_rss_kib: Option<u64>,
    failure: Option<String>,
}

#[derive(Debug, Clone)]
struct Idle {
    label: &'static str,
    proto: Proto,
    before_kib: u64,
    after_kib: u64,
    connections: usize,
    failure: Option<String>,
}

impl Idle {
    fn per_connection_bytes(&self) -> f64 {
        (self.after_kib.saturating_sub(self.before_kib) * 1024) as f64 / self.connections.max(1) as f64
    }
}

#[derive(Debug, Clone)]
struct CodecRow {
    codec: &'static str,
    payload: &'static str,
    path: &'static str,
    ns: f64,
}

/// A server process, killed when dropped.
pub(crate) struct Running {
    child: Child,
    pub(crate) addr: String,
    pub(crate) pid: u32,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `rpc-bench serve KIND`, pinned to the server core when `pin`.
pub(crate) fn spawn_kind(kind: Kind, pin: bool) -> Result<Running, String> {
    spawn(Launch::Serve(kind), pin, 0)
}

fn spawn(launch: Launch, pin: bool, frame_len: usize) -> Result<Running, String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find this program: {e}"))?;
    // The Python peers run in the test peers' virtual environment (installed the first time, with the msgpack
    // the interop tests pin).
    let python = match launch {
        Launch::Python(_) => rpc_test_support::python3(),
        Launch::Serve(_) => std::path::PathBuf::new(),
    };
    let mut command = if pin {
        let mut c = Command::new("taskset");
        c.args(["-c", &SERVER_CPU.to_string()]);
        c.arg(match launch {
            Launch::Serve(_) => exe.as_os_str(),
            Launch::Python(_) => python.as_os_str(),
        });
        c
    } else {
        match launch {
            Launch::Serve(_) => Command::new(&exe),
            Launch::Python(_) => Command::new(&python),
        }
    };
    match launch {
        Launch::Serve(kind) => {
            let kind = clap::ValueEnum::to_possible_value(&kind).map(|v| v.get_name().to_owned()).unwrap_or_default();
            command.args(["serve", &kind, "--frame-len", &frame_len.to_string()]);
        }
        Launch::Python(script) => {
            command.args(["-c", script]);
        }
    }
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .env("RUST_LOG", "warn")
        .spawn()
        .map_err(|e| format!("cannot start a server: {e}"))?;
    let pid = child.id();
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = rx.recv_timeout(Duration::from_secs(30)).unwrap_or_default();
    let Some(addr) = line.trim().strip_prefix("ready ") else {
        let _ = child.kill();
        let _ = child.wait();
        return Err(format!("the server did not start (it said {line:?})"));
    };
    Ok(Running { addr: addr.to_owned(), child, pid })
}

fn target_for(proto: Proto, addr: &str) -> load::Target {
    match proto {
        Proto::Xml => load::Target::Http { encoding: HttpEncoding::Xml, url: format!("http://{addr}/") },
        Proto::Json => load::Target::Http { encoding: HttpEncoding::Json, url: format!("http://{addr}/") },
        Proto::Msgpack => load::Target::duplex(rpc_msgpack::MessagePack::default(), load::Socket::Tcp(addr.to_owned())),
        Proto::JsonTcp => {
            load::Target::duplex(rpc_json::duplex::JsonRpc::default(), load::Socket::Tcp(addr.to_owned()))
        }
        Proto::JsonWs => {
            load::Target::duplex(rpc_json::duplex::JsonRpc::default(), load::Socket::WebSocket(format!("ws://{addr}/")))
        }
    }
}

fn plan(shape: Shape, stop: Stop, warmup: Duration) -> Plan {
    Plan {
        method: "double".into(),
        params: vec![Value::Int(DOUBLE_ARG)],
        connections: shape.0,
        in_flight: shape.1,
        stop,
        warmup,
        timeout: Duration::from_secs(10),
    }
}

/// Runs the suite and returns BENCHMARKS.md.
pub async fn run(settings: &Settings) -> Result<String, String> {
    let started = Instant::now();
    if let Some(limit) = settings.wait_for_load {
        wait_for_load(limit).await;
    }
    let load_start = sys::loadavg();
    let me = std::process::id();
    let pin = sys::cpus() >= 2 && sys::have_taskset();
    if !pin {
        eprintln!("note: fewer than 2 CPUs or no taskset: server and load generator are not pinned");
    }
    let selected = |name: &str| settings.only.as_deref().is_none_or(|only| name.contains(only));
    // The raw TCP baseline cuts requests by their length with a one-byte msgid (below 128), and reads the msgid.
    let frame_len = load::request_len(rpc_msgpack::MessagePack::default(), "double", &[Value::Int(DOUBLE_ARG)], 0)?;

    // Throughput and sequential latency. The servers of one protocol run side by side and are measured in turn,
    // run by run (baseline, ours, peer; again; again), so that load from elsewhere on the machine falls on all of
    // them alike rather than on whichever ran during it.
    let mut rows = Vec::new();
    for proto in [Proto::Msgpack, Proto::Xml, Proto::Json, Proto::JsonTcp, Proto::JsonWs] {
        let systems: Vec<System> = SYSTEMS
            .iter()
            .copied()
            .filter(|s| s.proto == proto && selected(&format!("{} {}", s.proto.key(), s.label)))
            .collect();
        if systems.is_empty() {
            continue;
        }
        eprintln!("== {}: {}", proto.name(), systems.iter().map(|s| s.label).collect::<Vec<_>>().join(", "));
        let mut servers = Vec::new();
        for system in systems {
            match spawn(system.launch, pin, frame_len) {
                Ok(server) => servers.push((system, server)),
                Err(e) => {
                    eprintln!("   {}: {e}", system.label);
                    rows.push(failed(system, (32, 1), false, e));
                }
            }
        }
        let mut shapes = vec![((32, 1), false)];
        if proto.duplex() {
            shapes.push(((1, 64), false));
        }
        if proto == Proto::Msgpack {
            shapes.push(((1, 256), false));
        }
        // JSON-RPC over TCP and WebSocket get their throughput rows only (1 x 64 and 32 x 1), to keep the run short.
        if !matches!(proto, Proto::JsonTcp | Proto::JsonWs) {
            shapes.push(((1, 1), true));
        }
        for (shape, sequential) in shapes {
            if pin {
                sys::pin(me, if sequential { SERVER_CPU } else { LOAD_CPU });
            }
            let mut runs: Vec<Vec<Run>> = servers.iter().map(|_| Vec::new()).collect();
            let mut failures: Vec<Option<String>> = servers.iter().map(|_| None).collect();
            for _ in 0..settings.runs {
                for (i, (_, server)) in servers.iter().enumerate() {
                    if failures[i].is_some() {
                        continue;
                    }
                    let target = target_for(proto, &server.addr);
                    match measure_once(&target, shape, server.pid, settings).await {
                        Ok(run) => runs[i].push(run),
                        Err(e) => failures[i] = Some(e),
                    }
                }
            }
            for (i, (system, server)) in servers.iter().enumerate() {
                let mut row = match failures[i].take() {
                    Some(e) => {
                        eprintln!("   {} {shape:?}: {e}", system.label);
                        failed(*system, shape, sequential, e)
                    }
                    None => median_row(*system, shape, sequential, std::mem::take(&mut runs[i])),
                };
                if shape == (32, 1) {
                    // The server's peak so far: its start and the 32-connection load.
                    row.peak_rss_kib = sys::status_kib(server.pid, "VmHWM");
                }
                rows.push(row);
            }
        }
        if pin {
            sys::pin(me, LOAD_CPU);
        }
    }

    // Memory per idle connection, each server fresh.
    let mut idle = Vec::new();
    if selected("memory") || settings.only.as_deref().is_some_and(|o| ["xml", "json", "msgpack"].contains(&o)) {
        for (label, proto, kind) in [
            ("rpc-xml", Proto::Xml, Kind::Xml),
            ("rpc-json", Proto::Json, Kind::Json),
            ("rpc-msgpack", Proto::Msgpack, Kind::Msgpack),
        ] {
            if !selected("memory") && settings.only.as_deref() != Some(proto.key()) {
                continue;
            }
            eprintln!("== memory: {label} with {} idle connections", settings.idle_connections);
            idle.push(idle_memory(label, proto, kind, pin, settings.idle_connections).await);
        }
    }

    // Subscriptions: one stream's items/s, ours beside jsonrpsee's (`--only subscriptions` runs these alone).
    let subs = if selected("subscriptions") {
        if pin {
            sys::pin(me, LOAD_CPU);
        }
        crate::subscriptions::measure(settings, pin).await
    } else {
        crate::subscriptions::Rows::default()
    };

    // Many endpoints: the balanced client over three servers against a client of one (`--only balance`).
    let balanced = if selected("balance") {
        if pin {
            sys::pin(me, LOAD_CPU);
        }
        crate::balance::measure(settings, pin).await
    } else {
        crate::balance::Rows::default()
    };

    // Framework against framework, each with its own client (`--only peers`).
    let peers = if selected("peers") {
        if pin {
            sys::pin(me, LOAD_CPU);
        }
        crate::peers::measure(settings, pin).await
    } else {
        crate::peers::Rows::default()
    };

    // Large payloads through our clients and servers, in this process (`--only payloads`).
    let payloads = if selected("payloads") {
        if pin {
            sys::pin(me, LOAD_CPU);
        }
        crate::payloads::measure(settings).await
    } else {
        crate::payloads::Rows::default()
    };

    // Codecs, in this process.
    let mut codec_rows = Vec::new();
    if selected("codecs") {
        if pin {
            sys::pin(me, LOAD_CPU);
        }
        eprintln!("== codecs");
        codecs::verify_round_trips().map_err(|codec| format!("the {codec} codec changed the 1 MB struct"))?;
        codec_rows = time_codecs(settings);
    }

    let load_end = sys::loadavg();
    let sections = Sections { subs: &subs, balanced: &balanced, peers: &peers, payloads: &payloads };
    Ok(render(settings, &rows, &idle, &codec_rows, &sections, pin, load_start, load_end, started.elapsed()))
}

async fn wait_for_load(limit: f64) {
    let give_up = Instant::now() + Duration::from_secs(15 * 60);
    loop {
        let now = sys::loadavg()[0];
        if now < limit || Instant::now() >= give_up {
            eprintln!("load average {now:.2} (limit {limit}); starting");
            return;
        }
        eprintln!("load average {now:.2} is above {limit}; waiting 30 s");
        tokio::time::sleep(Duration::from_secs(30)).await;
    }
}

fn failed(system: System, shape: Shape, sequential: bool, why: String) -> Row {
    Row {
        system,
        shape,
        sequential,
        report: Report::default(),
        rates: Vec::new(),
        server_cpu: 0.0,
        load_cpu: 0.0,
        peak_rss_kib: None,
        failure: Some(why),
    }
}

/// One run: its report, and the CPU the server and this process used over it (percent of one core).
type Run = (Report, f64, f64);

/// Runs one shape once against a server.
async fn measure_once(target: &load::Target, shape: Shape, server_pid: u32, s: &Settings) -> Result<Run, String> {
    let plan = plan(shape, Stop::After(s.duration), s.warmup);
    let run = crate::drive::measure(target, &plan, &[server_pid]).await?;
    Ok((run.report, run.server_cpu, run.client_cpu))
}

/// The row of the median run (by calls/s).
fn median_row(system: System, shape: Shape, sequential: bool, mut runs: Vec<Run>) -> Row {
    if runs.is_empty() {
        return failed(system, shape, sequential, "no run".into());
    }
    runs.sort_by(|a, b| a.0.calls_per_sec().total_cmp(&b.0.calls_per_sec()));
    let rates: Vec<f64> = runs.iter().map(|r| r.0.calls_per_sec()).collect();
    let (report, server_cpu, load_cpu) = runs.swap_remove(runs.len() / 2);
    eprintln!(
        "   {} {} x {}{}: {:.0} calls/s (runs: {}), p50 {:.1} µs, {} errors{}",
        system.label,
        shape.0,
        shape.1,
        if sequential { " (same core)" } else { "" },
        report.calls_per_sec(),
        rates.iter().map(|r| format!("{r:.0}")).collect::<Vec<_>>().join(", "),
        report.latency.p50.as_secs_f64() * 1e6,
        report.errors,
        report.first_error.as_deref().map(|e| format!(" (first: {e})")).unwrap_or_default()
    );
    Row { system, shape, sequential, report, rates, server_cpu, load_cpu, peak_rss_kib: None, failure: None }
}

/// Server RSS before and with `n` idle connections (accepted, nothing sent), on a fresh server.
async fn idle_memory(label: &'static str, proto: Proto, kind: Kind, pin: bool, n: usize) -> Idle {
    let mut idle = Idle { label, proto, before_kib: 0, after_kib: 0, connections: n, failure: None };
    if let Err(e) = idle_memory_inner(&mut idle, kind, pin).await {
        eprintln!("   {e}");
        idle.failure = Some(e);
    }
    idle
}

async fn idle_memory_inner(idle: &mut Idle, kind: Kind, pin: bool) -> Result<(), String> {
    let server = spawn(Launch::Serve(kind), pin, 0)?;
    let target = target_for(idle.proto, &server.addr);
    let calls = |n| plan((1, 1), Stop::Calls(n), Duration::ZERO);
    // Warm: the server has served calls before it is measured.
    let warm = load::run(&target, &calls(200), Arc::new(Progress::default())).await?;
    if warm.errors > 0 {
        return Err(format!("warming up: {}", warm.first_error.unwrap_or_default()));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    idle.before_kib = sys::status_kib(server.pid, "VmRSS").ok_or("no VmRSS")?;
    let mut conns = Vec::with_capacity(idle.connections);
    for _ in 0..idle.connections {
        let stream = tokio::net::TcpStream::connect(&server.addr).await.map_err(|e| format!("connecting: {e}"))?;
        conns.push(stream);
    }
    // A call on a connection opened after them all: by its answer, every one was accepted.
    let probe = load::run(&target, &calls(1), Arc::new(Progress::default())).await?;
    if probe.errors > 0 {
        return Err(format!("the probe call failed: {}", probe.first_error.unwrap_or_default()));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    idle.after_kib = sys::status_kib(server.pid, "VmRSS").ok_or("no VmRSS")?;
    eprintln!(
        "   {} KiB -> {} KiB: {:.0} bytes per connection",
        idle.before_kib,
        idle.after_kib,
        idle.per_connection_bytes()
    );
    drop(conns);
    Ok(())
}

/// Times every codec workload: the median of `runs` rounds of at least 250 ms each.
fn time_codecs(settings: &Settings) -> Vec<CodecRow> {
    let round = if settings.runs == 1 { Duration::from_millis(100) } else { Duration::from_millis(250) };
    let mut rows = Vec::new();
    for mut case in codecs::cases() {
        (case.run)();
        let mut samples = Vec::new();
        for _ in 0..settings.runs {
            let t0 = Instant::now();
            let mut iterations = 0u64;
            while t0.elapsed() < round || iterations < 3 {
                (case.run)();
                iterations += 1;
            }
            samples.push(t0.elapsed().as_nanos() as f64 / iterations as f64);
        }
        samples.sort_by(f64::total_cmp);
        let ns = samples[samples.len() / 2];
        eprintln!("   {}: {}", case.name(), nanos(ns));
        rows.push(CodecRow { codec: case.codec, payload: case.payload, path: case.path, ns });
    }
    rows
}

// ---------------------------------------------------------------------------------------------------------------
// The report

/// A rate with thousands separators.
pub(crate) fn rate(r: f64) -> String {
    let r = r.round() as u64;
    let s = r.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn micros(d: Duration) -> String {
    let us = d.as_secs_f64() * 1e6;
    if us >= 10_000.0 {
        format!("{:.1} ms", us / 1000.0)
    } else if us >= 100.0 {
        format!("{us:.0} µs")
    } else {
        format!("{us:.1} µs")
    }
}

fn nanos(ns: f64) -> String {
    if ns >= 1e6 {
        format!("{:.2} ms", ns / 1e6)
    } else if ns >= 1e3 {
        format!("{:.2} µs", ns / 1e3)
    } else {
        format!("{ns:.0} ns")
    }
}

fn find(rows: &[Row], proto: Proto, role: Role, shape: Shape, sequential: bool) -> Option<&Row> {
    rows.iter().find(|r| {
        r.system.proto == proto
            && r.system.role == role
            && r.shape == shape
            && r.sequential == sequential
            && r.failure.is_none()
    })
}

/// One line of the targets table.
struct Goal {
    what: String,
    measured: Option<f64>,
    goal: String,
    met: Option<bool>,
}

fn ratio_goal(what: String, num: Option<f64>, den: Option<f64>, at_least: Option<f64>, at_most: Option<f64>) -> Goal {
    let measured = match (num, den) {
        (Some(n), Some(d)) if d > 0.0 => Some(n / d),
        _ => None,
    };
    let goal = match (at_least, at_most) {
        (Some(l), _) => format!(">= {l}x"),
        (_, Some(m)) => format!("<= {m}x"),
        _ => String::new(),
    };
    let met = measured.map(|m| at_least.is_none_or(|l| m >= l) && at_most.is_none_or(|h| m <= h));
    Goal { what, measured, goal, met }
}

/// The sections measured by modules of their own.
struct Sections<'a> {
    subs: &'a crate::subscriptions::Rows,
    balanced: &'a crate::balance::Rows,
    peers: &'a crate::peers::Rows,
    payloads: &'a crate::payloads::Rows,
}

#[allow(clippy::too_many_arguments, clippy::too_many_lines)]
fn render(
    s: &Settings,
    rows: &[Row],
    idle: &[Idle],
    codec_rows: &[CodecRow],
    sections: &Sections<'_>,
    pinned: bool,
    load_start: [f64; 3],
    load_end: [f64; 3],
    took: Duration,
) -> String {
    let Sections { subs, balanced, peers, payloads } = *sections;
    let mut md = String::new();
    let date = sys::command_line("date", &["-u", "+%Y-%m-%d %H:%M UTC"]);
    let python = rpc_test_support::python3().to_string_lossy().into_owned();
    let _ = writeln!(md, "# Benchmarks\n");
    let _ = writeln!(
        md,
        "Written by `cargo run --release -p rpc-bench` (this run took {:.0} s); every figure below comes from that \
         one command. Do not edit by hand: change `rpc-bench` and run it again.\n",
        took.as_secs_f64()
    );
    let _ = writeln!(md, "| | |\n|---|---|");
    let _ = writeln!(md, "| date | {date} |");
    let _ = writeln!(md, "| commit | {} |", sys::commit());
    let _ = writeln!(md, "| machine | {} |", sys::machine());
    let _ = writeln!(
        md,
        "| software | {}; {}; msgpack {} |",
        sys::command_line("rustc", &["-V"]),
        sys::command_line(&python, &["-V"]),
        sys::command_line(&python, &["-c", "import msgpack; print(msgpack.version)"]),
    );
    let _ = writeln!(
        md,
        "| load average (1, 5, 15 min) | {:.2} {:.2} {:.2} at the start, {:.2} {:.2} {:.2} at the end |",
        load_start[0], load_start[1], load_start[2], load_end[0], load_end[1], load_end[2]
    );
    let placement = if pinned {
        format!(
            "throughput: server on CPU {SERVER_CPU}, load generator on CPU {LOAD_CPU} (`taskset`); sequential round \
             trips: both on CPU {SERVER_CPU} (a round trip across two idle cores mostly measures their wake-up)"
        )
    } else {
        "not pinned (fewer than 2 CPUs or no taskset)".to_owned()
    };
    let _ = writeln!(
        md,
        "| method | each figure is the median of {} run(s) of {:.1} s after {:.1} s of warm-up, on loopback; the servers \
         of one protocol run side by side and are measured in turn, run by run, so that other load on the machine \
         falls on them alike; {placement}; the call is `double({DOUBLE_ARG})`; subscriptions: the items per \
         second one subscription delivers from a stream that yields as fast as it can (`count(0, 0)`, each item \
         checked to be the next number, a gap counted as an error), placed as for throughput |",
        s.runs,
        s.duration.as_secs_f64(),
        s.warmup.as_secs_f64()
    );

    // Targets.
    let rate_of = |p, r, shape, seq| find(rows, p, r, shape, seq).map(|x| x.report.calls_per_sec());
    let mean_of = |p, r| find(rows, p, r, (1, 1), true).map(|x| x.report.latency.mean.as_secs_f64());
    let mut goals = Vec::new();
    for p in [Proto::Xml, Proto::Json] {
        goals.push(ratio_goal(
            format!("{} `double`, 32 connections, vs raw hyper", p.name()),
            rate_of(p, Role::Ours, (32, 1), false),
            rate_of(p, Role::Baseline, (32, 1), false),
            Some(0.8),
            None,
        ));
        goals.push(ratio_goal(
            format!("{} `double`, 32 connections, vs Python's SimpleXMLRPCServer", p.name()),
            rate_of(p, Role::Ours, (32, 1), false),
            rate_of(Proto::Xml, Role::Peer, (32, 1), false),
            Some(20.0),
            None,
        ));
    }
    goals.push(ratio_goal(
        "JSON-RPC `double`, 32 connections, vs jsonrpsee's server (same load)".into(),
        rate_of(Proto::Json, Role::Ours, (32, 1), false),
        rate_of(Proto::Json, Role::Peer, (32, 1), false),
        Some(1.25),
        None,
    ));
    goals.push(ratio_goal(
        "MessagePack-RPC `double`, 1 connection x 64 pipelined, vs raw TCP".into(),
        rate_of(Proto::Msgpack, Role::Ours, (1, 64), false),
        rate_of(Proto::Msgpack, Role::Baseline, (1, 64), false),
        Some(0.7),
        None,
    ));
    goals.push(ratio_goal(
        "MessagePack-RPC `double`, 32 connections, vs raw TCP".into(),
        rate_of(Proto::Msgpack, Role::Ours, (32, 1), false),
        rate_of(Proto::Msgpack, Role::Baseline, (32, 1), false),
        Some(0.8),
        None,
    ));
    for (p, baseline) in [(Proto::JsonTcp, "raw newline-framed TCP"), (Proto::JsonWs, "raw tokio-tungstenite")] {
        goals.push(ratio_goal(
            format!("{} `double`, 1 connection x 64 pipelined, vs {baseline}", p.name()),
            rate_of(p, Role::Ours, (1, 64), false),
            rate_of(p, Role::Baseline, (1, 64), false),
            Some(0.7),
            None,
        ));
        goals.push(ratio_goal(
            format!("{} `double`, 32 connections, vs {baseline}", p.name()),
            rate_of(p, Role::Ours, (32, 1), false),
            rate_of(p, Role::Baseline, (32, 1), false),
            Some(0.8),
            None,
        ));
    }
    for p in [Proto::Xml, Proto::Json, Proto::Msgpack] {
        goals.push(ratio_goal(
            format!("{} sequential round trip (mean), vs its baseline", p.name()),
            mean_of(p, Role::Ours),
            mean_of(p, Role::Baseline),
            None,
            Some(1.3),
        ));
    }
    for i in idle {
        let per = (i.failure.is_none()).then(|| i.per_connection_bytes());
        goals.push(Goal {
            what: format!("{} server memory per idle connection", i.label),
            measured: per,
            goal: "<= 16 KiB".into(),
            met: per.map(|b| b <= 16.0 * 1024.0),
        });
    }
    let codec_ns = |codec: &str, payload: &str, path: &str| {
        codec_rows.iter().find(|r| r.codec == codec && r.payload == payload && r.path == path).map(|r| r.ns)
    };
    for (codec, peer) in [("json", "serde_json"), ("msgpack", "rmp-serde")] {
        for payload in ["double", "1MB"] {
            if codec_rows.is_empty() {
                continue;
            }
            goals.push(ratio_goal(
                format!("{codec} codec, typed path, {payload}: time vs {peer} straight into the struct"),
                codec_ns(codec, payload, "typed"),
                codec_ns(codec, payload, peer),
                None,
                Some(1.5),
            ));
        }
    }
    if !codec_rows.is_empty() {
        goals.push(ratio_goal(
            "XML-RPC 100,000-item result (typed, encode + decode): time vs JSON-RPC's for the same result".into(),
            codec_ns("xml", "100k", "typed"),
            codec_ns("json", "100k", "typed"),
            None,
            Some(2.0),
        ));
    }
    if !subs.is_empty() {
        let (ours, jsonrpsee, note) = subs.ours_vs_jsonrpsee();
        let note = note.map_or(String::new(), |n| format!("; jsonrpsee: {n}"));
        goals.push(ratio_goal(
            format!("ours over WebSocket vs jsonrpsee's subscription, own clients (one subscription's items/s{note})"),
            ours,
            jsonrpsee,
            Some(1.0),
            None,
        ));
    }
    if !balanced.is_empty() {
        for ((connections, in_flight), base, spread, one) in balanced.balanced_vs_one() {
            goals.push(ratio_goal(
                format!(
                    "MessagePack-RPC: the balanced client over three endpoints vs {}, {connections} connections x \
                     {in_flight} in flight in all",
                    crate::balance::Rows::base_label(base)
                ),
                spread,
                one,
                Some(0.95),
                None,
            ));
        }
    }
    for (what, ours, theirs, at_least) in peers.goals() {
        goals.push(ratio_goal(what, ours, theirs, Some(at_least), None));
    }
    let _ = writeln!(md, "\n## Targets\n");
    let _ = writeln!(md, "| target | measured | goal | |\n|---|---:|---|---|");
    // With `--only`, the targets of the sections that did not run are left out rather than listed as not
    // measured; a full run lists every target, so that one that could not be measured shows.
    for g in goals.iter().filter(|g| s.only.is_none() || g.measured.is_some()) {
        let measured = match (&g.measured, g.goal.contains("KiB")) {
            (Some(b), true) => format!("{:.1} KiB", b / 1024.0),
            (Some(m), false) => format!("{m:.2}x"),
            (None, _) => "n/a".into(),
        };
        let met = match g.met {
            Some(true) => "met",
            Some(false) => "**missed**",
            None => "not measured",
        };
        let _ = writeln!(md, "| {} | {measured} | {} | {met} |", g.what, g.goal);
    }

    // Throughput.
    let _ = writeln!(md, "\n## Throughput\n");
    let _ = writeln!(
        md,
        "Server on CPU {SERVER_CPU}, load generator on CPU {LOAD_CPU}. *vs baseline*: calls/s over the raw \
         transport's on the same load; *runs*: calls/s of each run. CPU: share of one core each side used over \
         the median run (100% = one core busy); *server CPU per call* is the server's CPU time over the calls \
         made, the figure least disturbed by other load on the machine. Peak RSS: the server's high-water mark after its start and the 32-connection runs.\n"
    );
    let _ = writeln!(
        md,
        "| protocol | server | connections x in flight | calls/s | vs baseline | runs | p50 | p99 | max | errors | server CPU | server CPU per call | load gen CPU | peak RSS |"
    );
    let _ = writeln!(md, "|---|---|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for r in rows.iter().filter(|r| !r.sequential) {
        let base = rate_of(r.system.proto, Role::Baseline, r.shape, false);
        row_line(&mut md, r, base.map(|b| r.report.calls_per_sec() / b), true);
    }

    if !subs.is_empty() {
        subs.render(&mut md, s, pinned);
    }
    if !balanced.is_empty() {
        balanced.render(&mut md, s);
    }
    if !peers.is_empty() {
        peers.render(&mut md, s, pinned);
    }
    if !payloads.is_empty() {
        payloads.render(&mut md, s);
    }

    let _ = writeln!(md, "\n## Sequential round trip\n");
    let _ = writeln!(
        md,
        "One connection, one call at a time; server and load generator on the same core (CPU {SERVER_CPU}). *vs \
         baseline*: the mean round trip over the raw transport's (lower is better).\n"
    );
    let _ = writeln!(md, "| protocol | server | calls/s | mean | vs baseline | p50 | p90 | p99 | max | errors |");
    let _ = writeln!(md, "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for r in rows.iter().filter(|r| r.sequential) {
        if let Some(why) = &r.failure {
            let _ = writeln!(md, "| {} | {} | failed: {why} | | | | | | | |", r.system.proto.name(), r.system.label);
            continue;
        }
        let l = &r.report.latency;
        let base = mean_of(r.system.proto, Role::Baseline);
        let vs = base.map_or("".into(), |b| format!("{:.2}x", l.mean.as_secs_f64() / b));
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {vs} | {} | {} | {} | {} | {} |",
            r.system.proto.name(),
            r.system.label,
            rate(r.report.calls_per_sec()),
            micros(l.mean),
            micros(l.p50),
            micros(l.p90),
            micros(l.p99),
            micros(l.max),
            r.report.errors
        );
    }

    if !idle.is_empty() {
        let _ = writeln!(md, "\n## Memory per idle connection\n");
        let _ = writeln!(
            md,
            "A fresh server process serves 200 calls, then {} connections are opened and left silent; a call on one \
             more connection proves they were all accepted. RSS from `/proc/PID/status` (`VmRSS`), before and after.\n",
            rate(idle.first().map_or(0, |i| i.connections) as f64)
        );
        let _ = writeln!(
            md,
            "| server | RSS before | RSS with the idle connections | per connection |\n|---|---:|---:|---:|"
        );
        for i in idle {
            match &i.failure {
                Some(why) => {
                    let _ = writeln!(md, "| {} | failed: {why} | | |", i.label);
                }
                None => {
                    let _ = writeln!(
                        md,
                        "| {} ({}) | {:.1} MiB | {:.1} MiB | {:.2} KiB |",
                        i.label,
                        i.proto.name(),
                        i.before_kib as f64 / 1024.0,
                        i.after_kib as f64 / 1024.0,
                        i.per_connection_bytes() / 1024.0
                    );
                }
            }
        }
    }

    if !codec_rows.is_empty() {
        let _ = writeln!(md, "\n## Codecs\n");
        let sizes = codecs::payload_sizes();
        let _ = writeln!(
            md,
            "Encode + decode, in this process on CPU {LOAD_CPU}; the median of {} rounds (criterion has the same \
             workloads: `cargo bench -p rpc-bench`). *typed*: what generated clients and dispatchers run: on \
             JSON-RPC and MessagePack-RPC the typed path (params and results straight between the wire and the Rust \
             types, `codec::typed`; a `double` call written as a client writes it and read as the server reads \
             it; on XML-RPC the server reads a call's params as values, so its `double` is read through a `Value` \
             and `from_value`, its 1 MB struct and 100,000-item list straight); \
             *value*: the codec on a `Value` tree alone; the peer: serde_json / rmp-serde (structs as maps) \
             straight into the struct. The 1 MB struct is {} bytes as XML-RPC, {} as JSON, {} as MessagePack; the \
             100,000-item list is integers, written as a server writes a result and read as a client reads it.\n",
            s.runs, sizes[0].1, sizes[1].1, sizes[2].1
        );
        let _ = writeln!(md, "| codec | payload | typed | value | straight into the struct | typed / straight |");
        let _ = writeln!(md, "|---|---|---:|---:|---:|---:|");
        for codec in ["xml", "json", "msgpack"] {
            for payload in ["double", "1MB", "100k"] {
                let typed = codec_ns(codec, payload, "typed");
                let value = codec_ns(codec, payload, "value");
                let (peer_name, peer) = match codec {
                    "json" => ("serde_json", codec_ns(codec, payload, "serde_json")),
                    "msgpack" => ("rmp-serde", codec_ns(codec, payload, "rmp-serde")),
                    _ => ("(none for XML-RPC)", None),
                };
                let show = |ns: Option<f64>| ns.map_or("".to_owned(), nanos);
                let ratio = match (typed, peer) {
                    (Some(t), Some(p)) => format!("{:.2}x", t / p),
                    _ => String::new(),
                };
                let peer_cell =
                    if peer.is_some() { format!("{} ({peer_name})", show(peer)) } else { peer_name.to_owned() };
                let _ =
                    writeln!(md, "| {codec} | {payload} | {} | {} | {peer_cell} | {ratio} |", show(typed), show(value));
            }
        }
    }

    // The generator's own ceiling.
    let _ = writeln!(md, "\n## The load generator's ceiling\n");
    let _ = writeln!(
        md,
        "`rpc bench` and this suite share one load generator (`rpc-load`), which speaks HTTP/1.1 and \
         every duplex encoding (MessagePack-RPC, JSON-RPC over TCP and WebSocket) itself on one thread. Against \
         the raw baselines, what held each figure back (a core at 95% or more is taken as busy; with neither busy, \
         the pipeline's round trips set the pace): where both \
         cores are busy, the figure is the joint limit of one server core and one client core on this machine, \
         the generator needing about as much CPU per call as the raw server (on both sides that cost is mostly \
         the kernel's loopback TCP).\n"
    );
    let _ = writeln!(
        md,
        "| baseline | shape | calls/s | server CPU | load gen CPU | load gen CPU per call | held back by |\n\
         |---|---|---:|---:|---:|---:|---|"
    );
    for r in rows.iter().filter(|r| r.system.role == Role::Baseline && !r.sequential && r.failure.is_none()) {
        let per_call = r.load_cpu / 100.0 / r.report.calls_per_sec().max(1.0) * 1e6;
        let limit = match (r.server_cpu >= 95.0, r.load_cpu >= 95.0) {
            (true, true) => "both cores",
            (true, false) => "the server",
            (false, true) => "the load generator",
            (false, false) => "round trips",
        };
        let _ = writeln!(
            md,
            "| {} {} | {} x {} | {} | {:.0}% | {:.0}% | {per_call:.2} µs | {limit} |",
            r.system.proto.name(),
            r.system.label,
            r.shape.0,
            r.shape.1,
            rate(r.report.calls_per_sec()),
            r.server_cpu,
            r.load_cpu
        );
    }
    let _ = writeln!(md);
    md.push_str(FINDINGS);
    md
}

/// What was found and changed, kept beside the code that measures it.
const FINDINGS: &str = include_str!("../FINDINGS.md");

fn row_line(md: &mut String, r: &Row, vs: Option<f64>, throughput: bool) {
    let _ = throughput;
    if let Some(why) = &r.failure {
        let _ = writeln!(
            md,
            "| {} | {} | {} x {} | failed: {why} | | | | | | | | | | |",
            r.system.proto.name(),
            r.system.label,
            r.shape.0,
            r.shape.1
        );
        return;
    }
    let l = &r.report.latency;
    let _ = writeln!(
        md,
        "| {} | {} | {} x {} | {} | {} | {} | {} | {} | {} | {} | {:.0}% | {:.2} µs | {:.0}% | {} |",
        r.system.proto.name(),
        r.system.label,
        r.shape.0,
        r.shape.1,
        rate(r.report.calls_per_sec()),
        vs.map_or(String::new(), |v| format!("{v:.2}x")),
        r.rates.iter().map(|x| format!("{:.0}k", x / 1000.0)).collect::<Vec<_>>().join(" / "),
        micros(l.p50),
        micros(l.p99),
        micros(l.max),
        r.report.errors,
        r.server_cpu,
        r.server_cpu / 100.0 / r.report.calls_per_sec().max(1.0) * 1e6,
        r.load_cpu,
        r.peak_rss_kib.map_or(String::new(), |k| format!("{:.1} MiB", k as f64 / 1024.0)),
    );
}

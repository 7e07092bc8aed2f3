//! `rpc bench`: a load generator for any URL the other commands take, on `rpc_load`.
//!
//! The URL's scheme says how (its [`Load`]): plain `http://` (XML-RPC, JSON-RPC) and the duplex schemes on TCP
//! and Unix sockets (`msgpack://`, `msgpack+unix://`, `jsonrpc+tcp://`, `jsonrpc+unix://`) are spoken by the
//! generator itself, so that it is not the bottleneck; every other scheme (TLS) goes through the same
//! connections `rpc call` makes, one per `--connections`.

use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Args;
use rpc_balance::EndpointStats;
use rpc_core::Value;
use rpc_load::{self as load, BoxFuture, Caller, Plan, Progress, Report, Socket, Stop};

use crate::conn::{Conn, Options};
use crate::scheme::{self, Address, Load, Target};
use crate::{Failure, parse_args, parse_duration};

/// The most connections one run opens (each is a file descriptor on both sides).
const MAX_CONNECTIONS: usize = 10_000;
/// The most calls in flight per connection.
const MAX_IN_FLIGHT: usize = 65_536;
/// How long a run lasts when neither `--duration` nor `--calls` is given.
const DEFAULT_DURATION: Duration = Duration::from_secs(10);

/// `rpc bench`'s arguments.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// The server's URL; its scheme picks the protocol. Several, comma-separated, of one protocol: the calls are
    /// balanced over them (power of two choices), an endpoint that fails taken out and probed again, and
    /// `--connections` shared out among them.
    url: String,
    /// The method's name.
    method: String,
    /// One JSON value per param, in order, the same on every call (after `--` if one starts with `-` and is not a
    /// plain number).
    #[arg(allow_negative_numbers = true)]
    args: Vec<String>,
    /// Connections to open.
    #[arg(short = 'c', long, default_value_t = 1)]
    connections: usize,
    /// Calls in flight per connection, pipelined (on the duplex schemes: msgpack://, jsonrpc+tcp://, ...;
    /// HTTP/1.1 carries one at a time).
    #[arg(short = 'k', long = "in-flight", default_value_t = 1)]
    in_flight: usize,
    /// How long to measure (default 10s): 500ms, 2s, 1.5, 1m.
    #[arg(short = 'd', long, value_parser = parse_duration, conflicts_with = "calls")]
    duration: Option<Duration>,
    /// Make exactly this many calls (counted after the warm-up) instead of measuring for a time.
    #[arg(short = 'n', long)]
    calls: Option<u64>,
    /// Call for this long before counting (0 for none).
    #[arg(long, default_value = "0", value_parser = parse_warmup)]
    warmup: Duration,
    /// Print the result as one JSON object on stdout.
    #[arg(long)]
    json: bool,
    /// The method may safely run twice: with several URLs, a call that failed without an answer is sent again
    /// to another (without this, only where the server's introspection says so).
    #[arg(long)]
    idempotent: bool,
}

/// Runs the benchmark and prints its report.
pub async fn run(args: BenchArgs, opts: Options) -> Result<(), Failure> {
    let targets = Target::parse_list(&args.url)?;
    let target = targets[0].1.clone();
    let params = parse_args(&args.args)?;
    if args.connections == 0 || args.connections > MAX_CONNECTIONS {
        return Err(Failure::usage(format!("--connections takes 1 to {MAX_CONNECTIONS}, not {}", args.connections)));
    }
    if args.in_flight == 0 || args.in_flight > MAX_IN_FLIGHT {
        return Err(Failure::usage(format!("--in-flight takes 1 to {MAX_IN_FLIGHT}, not {}", args.in_flight)));
    }
    if args.calls == Some(0) {
        return Err(Failure::usage("--calls takes at least 1"));
    }
    let protocol = target.scheme.protocol;
    if args.in_flight > 1 && !target.scheme.pipelines {
        return Err(Failure::usage(format!(
            "--in-flight {} needs a scheme that pipelines calls, {}: {}:// ({protocol} over {}) carries one call \
             at a time per connection; use --connections to have more calls in flight",
            args.in_flight,
            scheme::pipelining(),
            target.scheme.name,
            target.scheme.over,
        )));
    }
    // Several endpoints: one balanced client, the connections shared out among them, that every caller of the
    // run goes through.
    let balanced = match targets.len() {
        1 => None,
        n => {
            let per_endpoint = args.connections.div_ceil(n);
            Some(Arc::new(crate::open_balanced(&targets, opts, per_endpoint, &args.method, args.idempotent).await?))
        }
    };
    let load_target = match &balanced {
        Some(conn) => {
            let conn = conn.clone();
            let connect: load::Connector = Arc::new(move || {
                let caller = Box::new(ConnCaller { conn: conn.clone() }) as Box<dyn Caller>;
                Box::pin(std::future::ready(Ok(caller)))
            });
            load::Target::Other(connect)
        }
        None => load_target(&target, opts),
    };
    let stop = match (args.calls, args.duration) {
        (Some(n), _) => Stop::Calls(n),
        (None, d) => Stop::After(d.unwrap_or(DEFAULT_DURATION)),
    };
    let plan = Plan {
        method: args.method.clone(),
        params,
        connections: args.connections,
        in_flight: args.in_flight,
        stop,
        warmup: args.warmup,
        timeout: opts.timeout,
    };
    let progress = Arc::new(Progress::default());
    let bar = (!args.json && std::io::stderr().is_terminal()).then(|| Bar::new(&plan));
    let running = load::run(&load_target, &plan, progress.clone());
    let mut running = std::pin::pin!(running);
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    let started = Instant::now();
    let report = loop {
        tokio::select! {
            report = &mut running => break report,
            _ = tick.tick() => if let Some(bar) = &bar { bar.update(&plan, &progress, started.elapsed()) },
        }
    };
    if let Some(bar) = bar {
        bar.0.finish_and_clear();
    }
    let report = report.map_err(|e| Failure::other(format!("{e}; is the server running and listening there?")))?;
    let endpoints = balanced.as_ref().and_then(|conn| conn.endpoints()).unwrap_or_default();
    let text = match args.json {
        true => json_report(&args, protocol, &report, &endpoints),
        false => text_report(&args, protocol, &report, &endpoints),
    };
    let mut out = std::io::stdout().lock();
    writeln!(out, "{text}").and_then(|()| out.flush()).map_err(|e| Failure::other(format!("writing the output: {e}")))
}

/// How the generator reaches the target, as its scheme says.
fn load_target(target: &Target, opts: Options) -> load::Target {
    match (target.scheme.load, &target.address) {
        (Load::Http(encoding), Address::Url(url)) => load::Target::Http { encoding, url: url.clone() },
        (Load::Duplex(protocol), Address::HostPort(addr)) => {
            load::Target::Duplex { protocol: protocol(), socket: Socket::Tcp(addr.clone()) }
        }
        (Load::Duplex(protocol), Address::Path(path)) => {
            load::Target::Duplex { protocol: protocol(), socket: Socket::Unix(path.clone()) }
        }
        _ => {
            let target = target.clone();
            let connect: load::Connector = Arc::new(move || {
                let target = target.clone();
                Box::pin(async move {
                    let conn = Arc::new(Conn::open(&target, opts).await.map_err(|f| f.to_string())?);
                    Ok(Box::new(ConnCaller { conn }) as Box<dyn Caller>)
                })
            });
            load::Target::Other(connect)
        }
    }
}

/// `rpc call`'s connection as a [`Caller`] (several callers share a balanced one).
struct ConnCaller {
    conn: Arc<Conn>,
}

impl Caller for ConnCaller {
    fn call<'a>(&'a self, method: &'a str, params: Vec<Value>) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move { self.conn.call(method, params).await.map(drop).map_err(|f| f.to_string()) })
    }
}

/// A warm-up of 0 is allowed (unlike other durations).
fn parse_warmup(text: &str) -> Result<Duration, String> {
    if text.trim().trim_end_matches(['m', 's']).trim().parse::<f64>() == Ok(0.0) {
        return Ok(Duration::ZERO);
    }
    parse_duration(text)
}

/// The progress bar on a terminal.
struct Bar(indicatif::ProgressBar);

impl Bar {
    fn new(plan: &Plan) -> Bar {
        let len = match plan.stop {
            Stop::Calls(n) => n,
            Stop::After(d) => u64::try_from((plan.warmup + d).as_millis()).unwrap_or(u64::MAX),
        };
        let bar = indicatif::ProgressBar::new(len);
        let style = indicatif::ProgressStyle::with_template("{bar:40} {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
        bar.set_style(style);
        Bar(bar)
    }

    fn update(&self, plan: &Plan, progress: &Progress, elapsed: Duration) {
        let calls = progress.calls();
        let measuring = elapsed.saturating_sub(plan.warmup);
        let position = match plan.stop {
            Stop::Calls(_) => calls,
            Stop::After(_) => u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX),
        };
        self.0.set_position(position);
        if elapsed < plan.warmup {
            self.0.set_message("warming up");
        } else {
            let rate = calls as f64 / measuring.as_secs_f64().max(1e-3);
            self.0.set_message(format!("{calls} calls, {} errors, {rate:.0} calls/s", progress.errors()));
        }
    }
}

fn shape(args: &BenchArgs) -> String {
    let c = if args.connections == 1 { "connection" } else { "connections" };
    format!("{} {c} x {} in flight", args.connections, args.in_flight)
}

fn text_report(args: &BenchArgs, protocol: &str, report: &Report, endpoints: &[EndpointStats]) -> String {
    let l = &report.latency;
    let mut text = format!(
        "{} on {} ({protocol}), {}, {} measured\n\
         calls     {} ({} errors)\n\
         rate      {:.0} calls/s\n\
         latency   p50 {}  p90 {}  p99 {}  max {}  (mean {})",
        args.method,
        args.url,
        shape(args),
        seconds(report.elapsed),
        report.calls,
        report.errors,
        report.calls_per_sec(),
        micros(l.p50),
        micros(l.p90),
        micros(l.p99),
        micros(l.max),
        micros(l.mean),
    );
    for e in endpoints {
        let up = if e.up { "up" } else { "down" };
        text.push_str(&format!("\nendpoint  {}: {} calls, {} errors, {up}", e.endpoint, e.calls, e.errors));
    }
    if let Some(e) = &report.first_error {
        text.push_str(&format!("\nfirst error: {e}"));
    }
    text
}

fn seconds(d: Duration) -> String {
    if d >= Duration::from_secs(1) {
        format!("{:.2} s", d.as_secs_f64())
    } else {
        format!("{:.1} ms", d.as_secs_f64() * 1e3)
    }
}

fn micros(d: Duration) -> String {
    let us = d.as_secs_f64() * 1e6;
    if us >= 10_000.0 { format!("{:.1} ms", us / 1000.0) } else { format!("{us:.0} µs") }
}

fn json_report(args: &BenchArgs, protocol: &str, report: &Report, endpoints: &[EndpointStats]) -> String {
    let us = |d: Duration| (d.as_secs_f64() * 1e7).round() / 10.0;
    let l = &report.latency;
    let mut first_error = String::new();
    match &report.first_error {
        Some(e) => push_json_string(&mut first_error, e),
        None => first_error.push_str("null"),
    }
    let mut url = String::new();
    push_json_string(&mut url, &args.url);
    let mut method = String::new();
    push_json_string(&mut method, &args.method);
    // Over several endpoints, each one's share: `"endpoints": [{"url", "calls", "errors", "up"}]`.
    let mut per_endpoint = String::new();
    if !endpoints.is_empty() {
        per_endpoint.push_str(",\"endpoints\":[");
        for (i, e) in endpoints.iter().enumerate() {
            if i > 0 {
                per_endpoint.push(',');
            }
            per_endpoint.push_str("{\"url\":");
            push_json_string(&mut per_endpoint, e.endpoint.name());
            per_endpoint.push_str(&format!(",\"calls\":{},\"errors\":{},\"up\":{}}}", e.calls, e.errors, e.up));
        }
        per_endpoint.push(']');
    }
    format!(
        "{{\"url\":{url},\"protocol\":\"{protocol}\",\"method\":{method},\"connections\":{},\"in_flight\":{},\
         \"calls\":{},\"errors\":{},\"elapsed_s\":{:.6},\"calls_per_s\":{:.1},\"latency_us\":{{\"p50\":{},\
         \"p90\":{},\"p99\":{},\"max\":{},\"mean\":{}}},\"first_error\":{first_error}{per_endpoint}}}",
        args.connections,
        args.in_flight,
        report.calls,
        report.errors,
        report.elapsed.as_secs_f64(),
        report.calls_per_sec(),
        us(l.p50),
        us(l.p90),
        us(l.p99),
        us(l.max),
        us(l.mean),
    )
}

/// Appends `s` as a JSON string.
fn push_json_string(out: &mut String, s: &str) {
    out.push_str(&crate::show(&Value::from(s), false));
}

#[cfg(test)]
mod tests {
    use rpc_load::HttpEncoding;

    use super::*;

    #[test]
    fn warmup_may_be_zero() {
        assert_eq!(parse_warmup("0"), Ok(Duration::ZERO));
        assert_eq!(parse_warmup("0s"), Ok(Duration::ZERO));
        assert_eq!(parse_warmup("2s"), Ok(Duration::from_secs(2)));
        assert!(parse_warmup("-1").is_err());
    }

    #[test]
    fn plain_http_and_duplex_sockets_are_spoken_directly() {
        let opts = Options { timeout: Duration::from_secs(1), verbose: false };
        let load = |url: &str| load_target(&Target::parse(url).unwrap_or_else(|e| unreachable!("{e}")), opts);
        assert!(matches!(load("http://127.0.0.1:1/"), load::Target::Http { encoding: HttpEncoding::Xml, .. }));
        assert!(matches!(load("jsonrpc+http://h:1/"), load::Target::Http { encoding: HttpEncoding::Json, .. }));
        for tls in ["https://127.0.0.1:1/", "jsonrpc+https://h:1/", "msgpack+tls://h:1"] {
            assert!(matches!(load(tls), load::Target::Other(_)), "{tls}");
        }
        for (url, name, socket) in [
            ("msgpack://h:1", "MessagePack-RPC", Socket::Tcp("h:1".into())),
            ("msgpack+unix:///tmp/m.sock", "MessagePack-RPC", Socket::Unix("/tmp/m.sock".into())),
            ("jsonrpc+tcp://h:2", "JSON-RPC", Socket::Tcp("h:2".into())),
            ("jsonrpc+unix:///tmp/j.sock", "JSON-RPC", Socket::Unix("/tmp/j.sock".into())),
        ] {
            let load::Target::Duplex { protocol, socket: at } = load(url) else { unreachable!("{url}") };
            assert_eq!((protocol.name(), at), (name, socket), "{url}");
        }
    }
}

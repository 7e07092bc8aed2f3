//! The benchmark suite: `cargo run --release -p rpc-bench` measures, on loopback, our servers beside the raw
//! baselines (tokio TCP, hyper 1.x), Python's servers and the Rust frameworks users would pick instead
//! (jsonrpsee, tarpc, dxr), their memory, and the codecs, then writes `BENCHMARKS.md` at the workspace root.
//!
//! ```text
//! cargo run --release -p rpc-bench                       # the whole suite (about 12 minutes), writes BENCHMARKS.md
//! cargo run --release -p rpc-bench -- --quick --stdout   # one short run of each, printed instead
//! cargo run --release -p rpc-bench -- --only msgpack     # the network scenarios whose name holds "msgpack"
//! cargo run --release -p rpc-bench -- --only subscriptions --quick --stdout  # the subscription rows alone
//! cargo run --release -p rpc-bench -- --only balance --quick --stdout        # the balanced client against one endpoint
//! cargo run --release -p rpc-bench -- --only peers --quick --stdout          # ours against jsonrpsee, tarpc and dxr
//! cargo run --release -p rpc-bench -- --only payloads --quick --stdout       # 1 MB / 100,000 items through client and server
//! ```
//!
//! `--only json` includes jsonrpsee's HTTP server, a peer row of the JSON-RPC throughput table (driven by the same
//! load generator); `--only peers` is the section where each framework is called through its own client.
//!
//! `rpc-bench serve KIND` runs one of the servers it measures (the suite starts them itself, pinned to a core).

mod balance;
mod drive;
mod payloads;
mod peers;
mod serve;
mod subscriptions;
mod suite;
mod sys;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};

/// Benchmark the rpc framework against the raw transports and Python's servers, and write BENCHMARKS.md.
#[derive(Debug, Parser)]
#[command(name = "rpc-bench")]
struct Args {
    #[command(subcommand)]
    mode: Option<Mode>,
    /// Where to write the report.
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/../BENCHMARKS.md"))]
    out: PathBuf,
    /// Print the report on stdout instead of writing it.
    #[arg(long)]
    stdout: bool,
    /// How long each run measures, in seconds.
    #[arg(long, default_value_t = 3.0)]
    duration: f64,
    /// How long each run warms up first, in seconds.
    #[arg(long, default_value_t = 0.5)]
    warmup: f64,
    /// Runs per figure (the median is reported).
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Idle connections opened for the memory measurement.
    #[arg(long, default_value_t = 10_000)]
    idle_connections: usize,
    /// One run of 1 s per figure, 2,000 idle connections: a quick look, not for BENCHMARKS.md.
    #[arg(long)]
    quick: bool,
    /// Only the network scenarios whose name contains this (e.g. `msgpack`, `xml`, `json`); skips memory,
    /// subscriptions, the balanced client, the frameworks' own clients and codecs unless it names them
    /// (`memory`, `subscriptions`, `balance`, `peers`, `codecs`).
    #[arg(long)]
    only: Option<String>,
    /// Before starting, wait (polling every 30 s, up to 15 minutes) until the 1-minute load average is below
    /// this.
    #[arg(long)]
    wait_for_load: Option<f64>,
}

#[derive(Debug, Subcommand)]
enum Mode {
    /// Run one of the measured servers on an OS-picked loopback port (prints `ready ADDR`; stops when stdin
    /// closes).
    Serve {
        /// Which server.
        #[arg(value_enum)]
        kind: serve::Kind,
        /// For raw-tcp: the length of a request frame whose msgid is below 128 (one byte).
        #[arg(long, default_value_t = 0)]
        frame_len: usize,
    },
    /// Run one codec workload (`xml/double/value`, ...) N times, for a profiler (perf, callgrind).
    Codec {
        /// The workload's name, as in the suite's output.
        name: String,
        /// How many times.
        #[arg(default_value_t = 100_000)]
        iterations: u64,
    },
}

fn main() -> ExitCode {
    let args = Args::parse();
    if let Some(Mode::Codec { name, iterations }) = &args.mode {
        let Some(mut case) = rpc_bench::codecs::cases().into_iter().find(|c| c.name() == *name) else {
            eprintln!("error: no codec workload {name:?}");
            return ExitCode::from(2);
        };
        let t0 = std::time::Instant::now();
        for _ in 0..*iterations {
            (case.run)();
        }
        eprintln!("{name}: {:?} per iteration", t0.elapsed() / u32::try_from(*iterations).unwrap_or(u32::MAX).max(1));
        return ExitCode::SUCCESS;
    }
    if let Some(Mode::Serve { kind, frame_len }) = args.mode {
        return match serve::serve(kind, frame_len) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(2)
            }
        };
    }
    let (runs, duration, warmup, idle) = if args.quick {
        (1, Duration::from_secs(1), Duration::from_millis(200), args.idle_connections.min(2_000))
    } else {
        (
            args.runs.max(1),
            Duration::from_secs_f64(args.duration),
            Duration::from_secs_f64(args.warmup),
            args.idle_connections,
        )
    };
    let settings = suite::Settings {
        runs,
        duration,
        warmup,
        idle_connections: idle,
        only: args.only,
        wait_for_load: args.wait_for_load,
    };
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let report = match runtime.block_on(suite::run(&settings)) {
        Ok(report) => report,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    if args.stdout {
        print!("{report}");
    } else {
        if let Err(e) = std::fs::write(&args.out, report) {
            eprintln!("error: cannot write {}: {e}", args.out.display());
            return ExitCode::from(2);
        }
        eprintln!("wrote {}", args.out.canonicalize().unwrap_or(args.out).display());
    }
    ExitCode::SUCCESS
}

//! Driving clients in this process and measuring runs: what the throughput rows, the balanced rows
//! (`balance.rs`) and the framework-against-framework rows (`peers.rs`) share. A client of ours or of another
//! framework is driven by the load generator as a [`Target::Other`](load::Target::Other): one [`Caller`] per
//! connection of the plan, its calls in flight as concurrent calls on it; the rows of one comparison are
//! measured in turn, run by run, so that other load on the machine falls on them alike.

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use rpc_bench::codecs::DOUBLE_ARG;
use rpc_bench::load::{self, BoxFuture, Caller, Plan, Progress, Report};

use crate::sys;

/// A client that calls `double` typed, the way its framework's users call it.
pub trait Double: Send + Sync + 'static {
    /// Calls `double(num)`; an error (a fault included) is described in one line.
    fn double(&self, num: i64) -> BoxFuture<'_, Result<i64, String>>;
}

/// A [`Caller`] that makes the typed call `double(DOUBLE_ARG)` through its client and checks the answer (a
/// wrong one is an error); the plan's method and params are not read.
#[derive(Debug, Clone)]
pub struct Doubling<C>(pub C);

impl<C: Double> Caller for Doubling<C> {
    fn call<'a>(&'a self, _: &'a str, _: Vec<rpc_core::Value>) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            match self.0.double(DOUBLE_ARG).await? {
                n if n == 2 * DOUBLE_ARG => Ok(()),
                n => Err(format!("double({DOUBLE_ARG}) answered {n}")),
            }
        })
    }
}

/// A client of its own for each connection of the plan, opened by `connect`.
pub fn each_connection<C, F, Fut>(connect: F) -> load::Connector
where
    C: Caller + 'static,
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<C, String>> + Send + 'static,
{
    Arc::new(move || {
        let opening = connect();
        Box::pin(async move { opening.await.map(|caller| Box::new(caller) as Box<dyn Caller>) })
    })
}

/// One client shared by every connection of the plan: each gets a clone (sharing its connections), made a
/// [`Caller`] by `caller`.
pub fn shared<T, C>(client: T, caller: fn(T) -> C) -> load::Connector
where
    T: Clone + Send + Sync + 'static,
    C: Caller + 'static,
{
    Arc::new(move || {
        let caller = Box::new(caller(client.clone())) as Box<dyn Caller>;
        Box::pin(std::future::ready(Ok(caller)))
    })
}

/// One run: what the load generator measured, and the share of one core the servers and this process used over
/// it (100 = one core busy).
#[derive(Debug, Clone)]
pub struct Run {
    /// The load generator's report.
    pub report: Report,
    /// The servers' CPU, summed.
    pub server_cpu: f64,
    /// This process's CPU: the client side.
    pub client_cpu: f64,
}

impl Run {
    /// The servers' CPU time per call, in µs.
    pub fn server_us_per_call(&self) -> f64 {
        self.server_cpu / 100.0 / self.report.calls_per_sec().max(1.0) * 1e6
    }
}

/// Runs `plan` once against `target`, reading the CPU time of the processes `servers` and of this one around it.
pub async fn measure(target: &load::Target, plan: &Plan, servers: &[u32]) -> Result<Run, String> {
    let me = std::process::id();
    let server_seconds = || servers.iter().map(|&pid| sys::cpu_seconds(pid)).sum::<f64>();
    let (s0, c0, t0) = (server_seconds(), sys::cpu_seconds(me), Instant::now());
    let report = load::run(target, plan, Arc::new(Progress::default())).await?;
    let wall = t0.elapsed().as_secs_f64().max(1e-9);
    let (s1, c1) = (server_seconds(), sys::cpu_seconds(me));
    Ok(Run { report, server_cpu: (s1 - s0) / wall * 100.0, client_cpu: (c1 - c0) / wall * 100.0 })
}

/// One row of a comparison: its label (for the progress lines), what the load goes to, and the server processes
/// whose CPU it is charged.
pub struct Contender {
    /// What the row is.
    pub label: String,
    /// Where the load goes, and through which client.
    pub target: load::Target,
    /// The server processes.
    pub servers: Vec<u32>,
}

/// Measures `rows` in turn, run by run (each row once, then each again, `runs` times); a run that fails is said
/// on stderr and left out of its row.
pub async fn in_turn(rows: &[Contender], plan: &Plan, runs: usize) -> Vec<Vec<Run>> {
    let mut measured: Vec<Vec<Run>> = rows.iter().map(|_| Vec::new()).collect();
    for _ in 0..runs {
        for (row, contender) in measured.iter_mut().zip(rows) {
            match measure(&contender.target, plan, &contender.servers).await {
                Ok(run) => {
                    let r = &run.report;
                    let first = r.first_error.as_deref().map(|e| format!(" (first: {e})")).unwrap_or_default();
                    eprintln!("   {}: {:.0} calls/s, {} errors{first}", contender.label, r.calls_per_sec(), r.errors);
                    row.push(run);
                }
                Err(e) => eprintln!("   {}: {e}", contender.label),
            }
        }
    }
    measured
}

/// The median run by calls/s.
pub fn median(runs: &[Run]) -> Option<&Run> {
    median_by(runs, |r| r.report.calls_per_sec())
}

/// The median of `items` by `key` (the upper one of an even count): what every section's median run is.
pub fn median_by<'a, T>(items: impl IntoIterator<Item = &'a T>, key: impl Fn(&T) -> f64) -> Option<&'a T> {
    let mut sorted: Vec<&T> = items.into_iter().collect();
    sorted.sort_by(|a, b| key(a).total_cmp(&key(b)));
    sorted.get(sorted.len() / 2).copied()
}

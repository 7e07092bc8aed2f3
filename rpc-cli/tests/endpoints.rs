//! `rpc bench` and `rpc call` over several endpoints of one protocol (comma-separated URLs): three interop
//! servers, one of them killed while the load runs and started again on its port; nothing lost, nothing sent
//! twice.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use common::rpc;
use rpc_core::Dispatch;
use rpc_core::middleware::{Layer, Request, Service};
use rpc_examples::interop::{Interop, InteropServer, InteropService};
use serde_json::Value as Json;

#[derive(Clone, Copy, Debug)]
enum Protocol {
    MessagePack,
    Xml,
    Json,
}

impl Protocol {
    fn url(self, addr: SocketAddr) -> String {
        match self {
            Protocol::MessagePack => format!("msgpack://{addr}"),
            Protocol::Xml => format!("http://{addr}/"),
            Protocol::Json => format!("jsonrpc+http://{addr}/"),
        }
    }
}

/// A counting layer: how many calls one server (one run of it) served.
#[derive(Clone)]
struct Counting(Arc<AtomicU64>);

impl<S> Layer<S> for Counting {
    type Service = Counted<S>;

    fn layer(&self, inner: S) -> Counted<S> {
        Counted { inner, calls: self.0.clone() }
    }
}

#[derive(Clone)]
struct Counted<S> {
    inner: S,
    calls: Arc<AtomicU64>,
}

impl<S: Service<Request>> Service<Request> for Counted<S> {
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> S::Future {
        self.calls.fetch_add(1, Ordering::Relaxed);
        self.inner.call(request)
    }
}

/// One running server of the shared interop service; [`Running::kill`] stops it at once, dropping the calls in
/// flight and closing every connection, as a killed process would.
struct Running {
    stop: tokio::sync::oneshot::Sender<()>,
    done: tokio::task::JoinHandle<()>,
    calls: Arc<AtomicU64>,
}

impl Running {
    async fn start(protocol: Protocol, addr: SocketAddr, service: Arc<InteropService>) -> Running {
        let listener = bind(addr).await;
        let calls = Arc::new(AtomicU64::new(0));
        let dispatch = InteropServer::from_arc(service).layer(Counting(calls.clone()));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let signal = async move { drop(stopped.await) };
        let now = Duration::ZERO;
        let done = tokio::spawn(async move {
            let _ = match protocol {
                Protocol::MessagePack => {
                    rpc_msgpack::Server::new(dispatch).shutdown_timeout(now).serve_with_shutdown(listener, signal).await
                }
                Protocol::Xml => {
                    rpc_xml::Server::new(dispatch).shutdown_timeout(now).serve_with_shutdown(listener, signal).await
                }
                Protocol::Json => {
                    rpc_json::Server::new(dispatch).shutdown_timeout(now).serve_with_shutdown(listener, signal).await
                }
            };
        });
        Running { stop, done, calls }
    }

    async fn kill(self) -> u64 {
        let _ = self.stop.send(());
        self.done.await.unwrap();
        self.calls.load(Ordering::Relaxed)
    }
}

/// A listener on `addr` again. Its port was free when the test took it, but it is in the ephemeral range: until
/// the server is back, a client's connection may have been given it as its own local port (or connected to itself
/// on it), so binding waits for that connection to close.
async fn bind(addr: SocketAddr) -> tokio::net::TcpListener {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        match tokio::net::TcpListener::bind(addr).await {
            Ok(listener) => return listener,
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse && std::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(e) => panic!("cannot listen on {addr} again: {e}"),
        }
    }
}

/// What one bench run across three servers gave, with the second killed at 2 s and back at 4 s.
struct Outcome {
    report: Json,
    restarted_calls: u64,
    service: Vec<Arc<InteropService>>,
}

async fn bench_across_a_restart(protocol: Protocol, call: &[&str], extra: &[&str]) -> Outcome {
    let service: Vec<Arc<InteropService>> = (0..3).map(|_| Arc::new(InteropService::default())).collect();
    let mut addrs = Vec::new();
    for _ in 0..3 {
        addrs.push(rpc_test_support::bind_loopback().await.local_addr().unwrap());
    }
    let mut running = Vec::new();
    for (addr, service) in addrs.iter().zip(&service) {
        running.push(Running::start(protocol, *addr, service.clone()).await);
    }
    let urls: Vec<String> = addrs.iter().map(|a| protocol.url(*a)).collect();
    let urls = urls.join(",");
    let mut args = vec!["bench", "-c", "6", "-d", "6s", "--json", &urls];
    args.extend_from_slice(call);
    args.extend_from_slice(extra);
    let args: Vec<String> = args.into_iter().map(str::to_owned).collect();
    let bench = tokio::spawn(async move { rpc(&args.iter().map(String::as_str).collect::<Vec<_>>()).await });
    tokio::time::sleep(Duration::from_secs(2)).await;
    let second = running.remove(1);
    let before = second.kill().await;
    assert!(before > 0, "{protocol:?}: the second server had calls before it was killed");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let restarted = Running::start(protocol, addrs[1], service[1].clone()).await;
    let run = bench.await.unwrap();
    assert_eq!(run.code, Some(0), "{protocol:?}: {run:?}");
    let report: Json = serde_json::from_str(run.stdout.trim()).unwrap_or_else(|e| panic!("{e}: {run:?}"));
    let restarted_calls = restarted.calls.load(Ordering::Relaxed);
    for server in running {
        server.kill().await;
    }
    restarted.kill().await;
    Outcome { report, restarted_calls, service }
}

fn endpoints(report: &Json) -> &Vec<Json> {
    report["endpoints"].as_array().unwrap_or_else(|| panic!("no endpoints in {report}"))
}

/// An idempotent method (double) across a kill and a restart: every call answered, every endpoint used, the
/// restarted one used again.
async fn nothing_lost(protocol: Protocol, extra: &[&str]) {
    let Outcome { report, restarted_calls, .. } = bench_across_a_restart(protocol, &["double", "7"], extra).await;
    assert_eq!(report["errors"], 0, "{protocol:?}: {report}");
    assert!(report["calls"].as_u64().unwrap() > 100, "{protocol:?}: {report}");
    let endpoints = endpoints(&report);
    assert_eq!(endpoints.len(), 3, "{report}");
    for e in endpoints {
        assert!(e["calls"].as_u64().unwrap() > 0, "{protocol:?}: every endpoint has calls: {report}");
    }
    assert!(restarted_calls > 0, "{protocol:?}: the restarted server got calls again: {report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messagepack_endpoints_lose_nothing_across_a_restart() {
    // MessagePack-RPC has no standard introspection to say `double` is idempotent: the flag says it.
    nothing_lost(Protocol::MessagePack, &["--idempotent"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xmlrpc_endpoints_lose_nothing_across_a_restart() {
    // `system.methodHelp` says `double` is idempotent.
    nothing_lost(Protocol::Xml, &[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jsonrpc_endpoints_lose_nothing_across_a_restart() {
    // `rpc.discover` says `double` is idempotent (`x-idempotent`).
    nothing_lost(Protocol::Json, &[]).await;
}

/// A method that is not idempotent (bump) across the same: each call succeeded or failed, and none ran twice.
async fn nothing_twice(protocol: Protocol) {
    let Outcome { report, service, .. } = bench_across_a_restart(protocol, &["bump", "1"], &[]).await;
    let (calls, errors) = (report["calls"].as_u64().unwrap(), report["errors"].as_u64().unwrap());
    // The bench counts every call it made (no warm-up here), answered or failed; each ran at most once on the
    // counter of the server it reached.
    let mut counted = 0;
    for s in &service {
        counted += s.counter().await;
    }
    let counted = u64::try_from(counted).unwrap();
    assert!(calls > 100, "{protocol:?}: {report}");
    assert!(counted >= calls - errors, "{protocol:?}: every success ran: counter {counted}, {report}");
    assert!(counted <= calls, "{protocol:?}: no call ran twice: counter {counted}, {report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messagepack_never_sends_a_call_twice() {
    nothing_twice(Protocol::MessagePack).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xmlrpc_never_sends_a_call_twice() {
    nothing_twice(Protocol::Xml).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jsonrpc_never_sends_a_call_twice() {
    nothing_twice(Protocol::Json).await;
}

#[tokio::test]
async fn call_takes_several_urls_and_skips_one_that_is_down() {
    let service = Arc::new(InteropService::default());
    let addr = rpc_test_support::bind_loopback().await.local_addr().unwrap();
    let up = Running::start(Protocol::MessagePack, addr, service).await;
    let closed = rpc_test_support::ClosedPort::new();
    let urls = format!("msgpack://{},msgpack://{addr}", closed.addr());
    // bump is not idempotent, but a call that could not be sent goes to the other endpoint.
    let run = rpc(&["call", &urls, "bump", "5"]).await;
    assert_eq!((run.code, run.stdout.trim()), (Some(0), "5"), "{run:?}");
    let mixed = rpc(&["call", &format!("msgpack://{addr},http://{addr}/"), "double", "1"]).await;
    assert_eq!(mixed.code, Some(2), "{mixed:?}");
    assert!(mixed.stderr.contains("speak one protocol"), "{mixed:?}");
    up.kill().await;
}

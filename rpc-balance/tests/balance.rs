//! The balanced client against endpoints that fail in each way a real one does: connections refused, calls
//! failing before they are sent, calls lost after they may have run, faults, timeouts; what is sent again and
//! what never is, failover and coming back, the retry budget, and the endpoint sources.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rpc_balance::{Balanced, Endpoint};
use rpc_core::middleware::Call;
use rpc_core::{BoxFuture, Delivery, Error, Fault, Transport, Value};

/// How one fake endpoint behaves now.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Mode {
    /// Answers every call (with its own name).
    Up,
    /// Refuses new connections (an existing one fails its calls, not sent).
    Refusing,
    /// Takes each call (it runs: `ran` counts it), then loses the connection before answering.
    LosesAnswers,
    /// Answers each call with a fault.
    Faults,
    /// Takes each call and never answers within the caller's time (a timeout).
    Slow,
}

/// The fake cluster: each endpoint's mode, and what happened on it.
#[derive(Default)]
struct Cluster {
    modes: Mutex<HashMap<String, Mode>>,
    /// Calls that ran on each endpoint (reached its handler).
    ran: Mutex<HashMap<String, u64>>,
    /// Connections opened to each endpoint.
    connects: Mutex<HashMap<String, u64>>,
}

impl Cluster {
    fn new(modes: &[(&str, Mode)]) -> Arc<Cluster> {
        let cluster = Cluster::default();
        *cluster.modes.lock().unwrap() = modes.iter().map(|(n, m)| ((*n).to_owned(), *m)).collect();
        Arc::new(cluster)
    }

    fn set(&self, endpoint: &str, mode: Mode) {
        self.modes.lock().unwrap().insert(endpoint.to_owned(), mode);
    }

    fn mode(&self, endpoint: &str) -> Mode {
        self.modes.lock().unwrap().get(endpoint).copied().unwrap_or(Mode::Refusing)
    }

    fn ran(&self, endpoint: &str) -> u64 {
        self.ran.lock().unwrap().get(endpoint).copied().unwrap_or(0)
    }

    fn total_ran(&self) -> u64 {
        self.ran.lock().unwrap().values().sum()
    }

    fn connects(&self, endpoint: &str) -> u64 {
        self.connects.lock().unwrap().get(endpoint).copied().unwrap_or(0)
    }

    /// A balanced client over the cluster's endpoints, with short backoffs so that tests run fast.
    fn client(
        self: &Arc<Self>,
        names: &[&str],
        tune: impl FnOnce(rpc_balance::Builder) -> rpc_balance::Builder,
    ) -> Balanced {
        let cluster = self.clone();
        let builder = Balanced::builder(move |endpoint: &Endpoint| {
            let (cluster, name) = (cluster.clone(), endpoint.name().to_owned());
            async move {
                *cluster.connects.lock().unwrap().entry(name.clone()).or_default() += 1;
                if cluster.mode(&name) == Mode::Refusing {
                    return Err(Error::connect(format!("{name}: connection refused")));
                }
                Ok(Conn { cluster, name })
            }
        })
        .backoff(Duration::from_millis(20), Duration::from_millis(50))
        .ready_timeout(Duration::from_secs(2));
        tune(builder).endpoints(names).unwrap()
    }
}

/// One connection to a fake endpoint.
struct Conn {
    cluster: Arc<Cluster>,
    name: String,
}

impl Transport for Conn {
    rpc_core::call_typed_through_values!();

    fn call<'a>(&'a self, method: &'a str, _params: Vec<Value>) -> BoxFuture<'a, Result<Value, Error>> {
        Box::pin(async move {
            let mode = self.cluster.mode(&self.name);
            if mode == Mode::Refusing {
                return Err(Error::connect(format!("{}: the connection is closed", self.name)));
            }
            *self.cluster.ran.lock().unwrap().entry(self.name.clone()).or_default() += 1;
            match mode {
                Mode::Up | Mode::Refusing => Ok(Value::from(format!("{} from {}", method, self.name))),
                Mode::LosesAnswers => Err(Error::transport("connection closed: the peer closed the connection")),
                Mode::Faults => Err(Error::Fault(Fault::new(-32000, "no"))),
                Mode::Slow => Err(Error::Timeout(Duration::from_millis(10))),
            }
        })
    }
}

async fn send(client: &Balanced, idempotent: bool) -> Result<Value, Error> {
    client.send(Call::new("m", vec![]).idempotent(idempotent)).await
}

fn stats(client: &Balanced, name: &str) -> rpc_balance::EndpointStats {
    client.endpoints().into_iter().find(|e| e.endpoint.name() == name).unwrap()
}

/// Sends calls until `done` holds, for up to 5 s: the balancer opens and probes connections as calls come (it is
/// driven by its callers, as a tower service is), so a test that waits for a change keeps calling.
async fn calling_until(client: &Balanced, what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !done() {
        assert!(Instant::now() < deadline, "not within 5 s: {what}: {:?}", client.endpoints());
        let _ = send(client, false).await;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Calls until every endpoint is up.
async fn warm(client: &Balanced) {
    calling_until(client, "every endpoint up", || {
        let endpoints = client.endpoints();
        !endpoints.is_empty() && endpoints.iter().all(|e| e.up)
    })
    .await;
}

#[tokio::test]
async fn calls_spread_over_every_endpoint() {
    let cluster = Cluster::new(&[("a", Mode::Up), ("b", Mode::Up), ("c", Mode::Up)]);
    let client = cluster.client(&["a", "b", "c"], |b| b);
    let calls: Vec<_> = (0..300)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move { send(&client, false).await })
        })
        .collect();
    for call in calls {
        call.await.unwrap().unwrap();
    }
    for name in ["a", "b", "c"] {
        let s = stats(&client, name);
        assert!(s.up && s.errors == 0, "{s:?}");
        assert!(cluster.ran(name) > 30, "{name} ran {} of 300", cluster.ran(name));
        assert_eq!(s.calls, cluster.ran(name), "{s:?}");
    }
}

#[tokio::test]
async fn an_endpoint_that_refuses_is_skipped_then_used_again_once_it_is_back() {
    let cluster = Cluster::new(&[("a", Mode::Up), ("b", Mode::Refusing)]);
    let client = cluster.client(&["a", "b"], |b| b);
    for _ in 0..50 {
        // Even a call that must not be sent twice: it was never sent to `b`.
        assert_eq!(send(&client, false).await.unwrap(), Value::from("m from a"));
    }
    assert_eq!(cluster.ran("b"), 0);
    assert!(!stats(&client, "b").up);
    // It is probed again after its backoff, so it has been tried more than once.
    calling_until(&client, "b is probed again", || cluster.connects("b") >= 2).await;
    assert_eq!(cluster.ran("b"), 0);

    cluster.set("b", Mode::Up);
    calling_until(&client, "b is up again", || stats(&client, "b").up).await;
    for _ in 0..100 {
        send(&client, false).await.unwrap();
    }
    assert!(cluster.ran("b") > 0, "b got calls again");
}

#[tokio::test]
async fn a_call_that_was_not_sent_goes_to_another_endpoint_whatever_the_method() {
    let cluster = Cluster::new(&[("a", Mode::Up), ("b", Mode::Up)]);
    let client = cluster.client(&["a", "b"], |b| b);
    // Both connections are up; now `b`'s breaks: its calls fail before they are sent.
    warm(&client).await;
    cluster.set("b", Mode::Refusing);
    let (a, b) = (cluster.ran("a"), cluster.ran("b"));
    for _ in 0..40 {
        assert_eq!(send(&client, false).await.unwrap(), Value::from("m from a"));
    }
    assert_eq!(cluster.ran("b"), b);
    assert_eq!(cluster.ran("a") - a, 40, "each call ran once");
}

#[tokio::test]
async fn a_call_that_may_have_run_is_sent_again_only_when_idempotent() {
    let cluster = Cluster::new(&[("a", Mode::Up), ("b", Mode::Up)]);
    let client = cluster.client(&["a", "b"], |b| b.max_retries(1));
    warm(&client).await;
    cluster.set("a", Mode::LosesAnswers);
    cluster.set("b", Mode::LosesAnswers);

    // Not idempotent: it ran once, failed with no answer, and is not sent again.
    let before = cluster.total_ran();
    let err = send(&client, false).await.unwrap_err();
    assert_eq!(err.delivery(), Delivery::Unknown, "{err}");
    assert!(err.to_string().contains("connection closed"), "{err}");
    assert_eq!(cluster.total_ran() - before, 1, "a call that may have run is never sent twice");

    // Idempotent: sent once more (max_retries 1), then the error.
    let before = cluster.total_ran();
    let err = send(&client, true).await.unwrap_err();
    assert_eq!(err.delivery(), Delivery::Unknown, "{err}");
    assert_eq!(cluster.total_ran() - before, 2, "sent once and once again");
}

#[tokio::test]
async fn an_idempotent_call_is_answered_by_another_endpoint_when_one_loses_it() {
    let cluster = Cluster::new(&[("a", Mode::Up), ("b", Mode::Up)]);
    let client = cluster.client(&["a", "b"], |b| b);
    warm(&client).await;
    cluster.set("a", Mode::LosesAnswers);
    let b = cluster.ran("b");
    for _ in 0..20 {
        assert_eq!(send(&client, true).await.unwrap(), Value::from("m from b"));
    }
    assert_eq!(cluster.ran("b") - b, 20, "each call answered once, by b");
    assert!(stats(&client, "a").errors >= 1, "a lost calls: {:?}", client.endpoints());
}

#[tokio::test]
async fn faults_and_timeouts_are_answers_for_the_caller_and_leave_the_endpoint_in() {
    let cluster = Cluster::new(&[("a", Mode::Faults)]);
    let client = cluster.client(&["a"], |b| b);
    for _ in 0..5 {
        match send(&client, true).await {
            Err(Error::Fault(f)) => assert_eq!(f.code, -32000),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(cluster.ran("a"), 5, "a fault is an answer: not sent again");
    assert!(stats(&client, "a").up);

    cluster.set("a", Mode::Slow);
    let err = send(&client, false).await.unwrap_err();
    assert!(matches!(err, Error::Timeout(_)), "{err}");
    assert_eq!(cluster.ran("a"), 6, "a timed-out call that is not idempotent is not sent again");
    assert!(stats(&client, "a").up, "a slow answer says nothing about the endpoint's health");
    assert_eq!(cluster.connects("a"), 1, "the connection was kept");
}

#[tokio::test]
async fn the_retry_budget_and_max_retries_bound_the_calls_sent_again() {
    // No budget at all: nothing is sent again, even an idempotent call.
    let cluster = Cluster::new(&[("a", Mode::Up)]);
    let client = cluster.client(&["a"], |b| b.retry_budget(Duration::from_secs(1), 0, 0.0));
    warm(&client).await;
    cluster.set("a", Mode::LosesAnswers);
    let before = cluster.total_ran();
    send(&client, true).await.unwrap_err();
    assert_eq!(cluster.total_ran() - before, 1, "no budget: not sent again");

    let cluster = Cluster::new(&[("a", Mode::Up)]);
    let client = cluster.client(&["a"], |b| b.max_retries(0));
    warm(&client).await;
    cluster.set("a", Mode::LosesAnswers);
    let before = cluster.total_ran();
    send(&client, true).await.unwrap_err();
    assert_eq!(cluster.total_ran() - before, 1, "max_retries(0) never sends again");
}

#[tokio::test]
async fn with_every_endpoint_down_a_call_fails_not_sent_after_the_ready_timeout() {
    let cluster = Cluster::new(&[("a", Mode::Refusing), ("b", Mode::Refusing)]);
    let client = cluster.client(&["a", "b"], |b| b.ready_timeout(Duration::from_millis(200)).max_retries(0));
    let started = Instant::now();
    let err = send(&client, false).await.unwrap_err();
    assert!(started.elapsed() >= Duration::from_millis(190), "{:?}", started.elapsed());
    assert_eq!(err.delivery(), Delivery::NotSent, "{err}");
    assert!(err.to_string().contains("none of 2 endpoints was up"), "{err}");
    assert_eq!(cluster.total_ran(), 0);
}

#[tokio::test]
async fn old_connections_are_replaced_at_their_maximum_age() {
    let cluster = Cluster::new(&[("a", Mode::Up)]);
    let client = cluster.client(&["a"], |b| b.max_connection_age(Some(Duration::from_millis(50))));
    let deadline = Instant::now() + Duration::from_millis(400);
    while Instant::now() < deadline {
        send(&client, false).await.unwrap();
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(cluster.connects("a") >= 3, "{} connections in 400 ms at an age of 50 ms", cluster.connects("a"));
    assert_eq!(stats(&client, "a").errors, 0, "no call failed while connections were replaced");
}

#[tokio::test]
async fn endpoint_sources_refuse_what_cannot_work() {
    let none: [&str; 0] = [];
    let err = Balanced::builder(|_: &Endpoint| async { Err::<Conn, _>(Error::connect("unused")) }).endpoints(none);
    assert!(err.unwrap_err().to_string().contains("at least one endpoint"));
    let err = Balanced::builder(|_: &Endpoint| async { Err::<Conn, _>(Error::connect("unused")) })
        .dns("no-port", Duration::from_secs(1));
    assert!(err.unwrap_err().to_string().contains("HOST:PORT"));
}

#[tokio::test]
async fn an_endpoint_listed_twice_is_one() {
    let cluster = Cluster::new(&[("a", Mode::Up)]);
    let client = cluster.client(&["a", "a"], |b| b);
    warm(&client).await;
    assert_eq!(client.endpoints().len(), 1, "{:?}", client.endpoints());
    assert_eq!(cluster.connects("a"), 1);
}

#[tokio::test]
async fn a_dns_name_gives_one_endpoint_per_address() {
    let connects = Arc::new(AtomicU64::new(0));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let (c, s) = (connects.clone(), seen.clone());
    let client = Balanced::builder(move |endpoint: &Endpoint| {
        c.fetch_add(1, Ordering::Relaxed);
        s.lock().unwrap().push((endpoint.name().to_owned(), endpoint.addr()));
        let cluster = Cluster::new(&[(endpoint.name(), Mode::Up)]);
        let name = endpoint.name().to_owned();
        async move { Ok(Conn { cluster, name }) }
    })
    .dns("127.0.0.1:7001", Duration::from_millis(100))
    .unwrap();
    assert_eq!(send(&client, false).await.unwrap(), Value::from("m from 127.0.0.1:7001"));
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen[0], ("127.0.0.1:7001".to_owned(), Some("127.0.0.1:7001".parse().unwrap())));
    // Resolved again every 100 ms, the same address stays the same endpoint: no new connection.
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert_eq!(connects.load(Ordering::Relaxed), 1);
    assert_eq!(client.endpoints().len(), 1);
}

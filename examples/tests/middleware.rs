//! tower middleware on both halves, on every encoding: a server's `Dispatch::layer` (tower's ConcurrencyLimit,
//! Timeout and LoadShed, a user's own counting layer) and a client's `Transport::layer` (tower's RateLimit, a
//! user's own), over XML-RPC, JSON-RPC over HTTP and over TCP, MessagePack-RPC and zerorpc, with the generated
//! client of the interop service.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context as TaskContext, Poll};
use std::time::{Duration, Instant};

use rpc_core::middleware::{Layer, Request, Service};
use rpc_core::{Dispatch, Error, RemoteAddr, Transport, Value};
use rpc_examples::interop::{InteropClient, InteropServer, InteropService};
use tower::ServiceBuilder;
use tower::limit::{ConcurrencyLimitLayer, RateLimitLayer};
use tower::load_shed::LoadShedLayer;
use tower::timeout::TimeoutLayer;

#[derive(Clone, Copy, Debug)]
enum Encoding {
    Xml,
    JsonHttp,
    JsonTcp,
    MessagePack,
    Zerorpc,
}

const ENCODINGS: [Encoding; 5] =
    [Encoding::Xml, Encoding::JsonHttp, Encoding::JsonTcp, Encoding::MessagePack, Encoding::Zerorpc];

/// A generated client over one encoding's transport.
enum AnyClient {
    Xml(InteropClient<rpc_xml::Client>),
    JsonHttp(InteropClient<rpc_json::Client>),
    JsonTcp(InteropClient<rpc_json::duplex::Client>),
    MessagePack(InteropClient<rpc_msgpack::Client>),
    Zerorpc(InteropClient<rpc_zerorpc::Client>),
}

/// Runs `$body` with `$c` bound to the client, whichever encoding it speaks.
macro_rules! with_client {
    ($any:expr, |$c:ident| $body:expr) => {
        match $any {
            AnyClient::Xml($c) => $body,
            AnyClient::JsonHttp($c) => $body,
            AnyClient::JsonTcp($c) => $body,
            AnyClient::MessagePack($c) => $body,
            AnyClient::Zerorpc($c) => $body,
        }
    };
}

/// Serves `dispatch` over `encoding` on a port the OS picks, and connects a client to it.
async fn start<D: Dispatch + 'static>(encoding: Encoding, dispatch: D) -> AnyClient {
    if let Encoding::Zerorpc = encoding {
        let bound = rpc_zerorpc::Server::new(dispatch).bind(&["tcp://127.0.0.1:0"]).await.unwrap();
        let endpoint = bound.endpoints()[0].clone();
        tokio::spawn(bound.run());
        return AnyClient::Zerorpc(InteropClient::new(rpc_zerorpc::Client::connect(&endpoint).await.unwrap()));
    }
    let listener = rpc_test_support::bind_loopback().await;
    let addr = listener.local_addr().unwrap();
    match encoding {
        Encoding::Xml => {
            tokio::spawn(rpc_xml::Server::new(dispatch).serve(listener));
            AnyClient::Xml(InteropClient::new(rpc_xml::Client::new(&format!("http://{addr}/")).unwrap()))
        }
        Encoding::JsonHttp => {
            tokio::spawn(rpc_json::Server::new(dispatch).serve(listener));
            AnyClient::JsonHttp(InteropClient::new(rpc_json::Client::new(&format!("http://{addr}/")).unwrap()))
        }
        Encoding::JsonTcp => {
            tokio::spawn(rpc_json::duplex::Server::new(dispatch).serve(listener));
            AnyClient::JsonTcp(InteropClient::new(rpc_json::duplex::Client::connect(addr).await.unwrap()))
        }
        Encoding::MessagePack => {
            tokio::spawn(rpc_msgpack::Server::new(dispatch).serve(listener));
            AnyClient::MessagePack(InteropClient::new(rpc_msgpack::Client::connect(addr).await.unwrap()))
        }
        Encoding::Zerorpc => unreachable!("served above"),
    }
}

/// The interop service, with nothing shared between tests.
fn interop() -> InteropServer<InteropService> {
    InteropServer::new(InteropService::default())
}

/// What a user's own layer saw of each call: its method, its params when they were read as values, and whether
/// the connection's address was in its context.
#[derive(Debug, Clone, PartialEq)]
struct Seen {
    method: String,
    params: Option<Vec<Value>>,
    has_peer: bool,
}

/// A user's own layer: records every call it sees.
#[derive(Clone)]
struct Record(Arc<Mutex<Vec<Seen>>>);

impl<S> Layer<S> for Record {
    type Service = Recorded<S>;

    fn layer(&self, inner: S) -> Recorded<S> {
        Recorded { inner, seen: self.0.clone() }
    }
}

#[derive(Clone)]
struct Recorded<S> {
    inner: S,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl<S: Service<Request>> Service<Request> for Recorded<S> {
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> S::Future {
        self.seen.lock().unwrap().push(Seen {
            method: request.method().to_owned(),
            params: request.params().map(<[Value]>::to_vec),
            has_peer: request.context().get::<RemoteAddr>().is_some(),
        });
        self.inner.call(request)
    }
}

#[tokio::test]
async fn a_users_own_layer_sees_every_call_on_each_encoding() {
    for encoding in ENCODINGS {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let client = start(encoding, interop().layer(Record(seen.clone()))).await;
        with_client!(client, |c| {
            assert_eq!(c.double(7).await.unwrap(), 14, "{encoding:?}");
            assert_eq!(c.add(2, 3).await.unwrap(), 5, "{encoding:?}");
            // A call that fails passes through the layer too, and its fault comes back unchanged.
            match c.fail(-32001, "no").await {
                Err(Error::Fault(f)) => assert_eq!((f.code, f.message.as_str()), (-32001, "no"), "{encoding:?}"),
                other => panic!("{encoding:?}: {other:?}"),
            }
            // The value path (untyped params) too.
            assert_eq!(c.transport().call("echo", vec![Value::from("hi")]).await.unwrap(), Value::from("hi"));
            // So does a method that does not exist: the layer sees it, the dispatcher refuses it.
            assert!(c.transport().call("no_such_method", vec![]).await.is_err(), "{encoding:?}");
        });
        let seen = seen.lock().unwrap().clone();
        let methods: Vec<&str> = seen.iter().map(|s| s.method.as_str()).collect();
        assert_eq!(methods, ["double", "add", "fail", "echo", "no_such_method"], "{encoding:?}: {seen:?}");
        for s in &seen {
            // The params are values only where the value path read them; the typed path reads them behind the
            // layer, straight into the handler's types.
            if let Some(params) = &s.params
                && s.method == "double"
            {
                assert_eq!(params, &[Value::Int(7)], "{encoding:?}");
            }
            // zerorpc (ZeroMQ) has no peer address to give; every socket transport does.
            let expect_peer = !matches!(encoding, Encoding::Zerorpc);
            assert_eq!(s.has_peer, expect_peer, "{encoding:?}: {s:?}");
        }
    }
}

/// How long two `slow_bump(200)` calls at once take, served by `dispatch` over `encoding`.
async fn two_slow_bumps<D: Dispatch + 'static>(encoding: Encoding, dispatch: D) -> Duration {
    let client = start(encoding, dispatch).await;
    with_client!(client, |c| {
        // Connected and warmed: the time is the calls'.
        assert_eq!(c.double(1).await.unwrap(), 2);
        let started = Instant::now();
        let (a, b) = tokio::join!(c.slow_bump(200), c.slow_bump(200));
        let took = started.elapsed();
        let mut counts = [a.unwrap(), b.unwrap()];
        counts.sort_unstable();
        assert_eq!(counts, [1, 2], "{encoding:?}: each ran once");
        took
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_concurrency_limit_of_one_runs_calls_one_after_the_other_on_each_encoding() {
    for encoding in ENCODINGS {
        let limited = two_slow_bumps(encoding, interop().layer(ConcurrencyLimitLayer::new(1))).await;
        assert!(limited >= Duration::from_millis(400), "{encoding:?}: two calls through a limit of one: {limited:?}");
        // Without the layer the same two calls overlap (a generous bound: 200 ms of the 400 is slack).
        let free = two_slow_bumps(encoding, interop()).await;
        assert!(free < Duration::from_millis(390), "{encoding:?}: without the limit: {free:?}");
    }
}

#[tokio::test]
async fn a_rate_limit_on_a_client_paces_its_calls_on_each_encoding() {
    for encoding in ENCODINGS {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let client = start(encoding, interop().layer(Record(seen.clone()))).await;
        // Two calls per 100 ms: six calls need three windows, so the last starts 200 ms after the first.
        let started = with_client!(client, |c| {
            let paced =
                InteropClient::new(c.into_transport().layer(RateLimitLayer::new(2, Duration::from_millis(100))));
            let started = Instant::now();
            for i in 0..6 {
                assert_eq!(paced.double(i).await.unwrap(), 2 * i, "{encoding:?}");
            }
            started
        });
        let took = started.elapsed();
        assert!(took >= Duration::from_millis(195), "{encoding:?}: six calls at two per 100 ms took {took:?}");
        assert_eq!(seen.lock().unwrap().len(), 6, "{encoding:?}: every paced call reached the server once");
    }
}

/// A client-side layer of one's own: a timeout that answers with our own error type, mapped back by the transport.
#[derive(Clone)]
struct Deadline(Duration);

impl<S> Layer<S> for Deadline {
    type Service = WithDeadline<S>;

    fn layer(&self, inner: S) -> WithDeadline<S> {
        WithDeadline { inner, after: self.0 }
    }
}

#[derive(Clone)]
struct WithDeadline<S> {
    inner: S,
    after: Duration,
}

impl<S, R> Service<R> for WithDeadline<S>
where
    S: Service<R>,
    S::Error: Into<rpc_core::middleware::BoxError>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = rpc_core::middleware::BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, request: R) -> Self::Future {
        let (call, after) = (self.inner.call(request), self.after);
        Box::pin(async move {
            match tokio::time::timeout(after, call).await {
                Ok(answer) => answer.map_err(Into::into),
                Err(_) => Err(Error::Timeout(after).into()),
            }
        })
    }
}

#[tokio::test]
async fn a_clients_own_layer_can_end_a_call_with_an_error_of_ours() {
    for encoding in ENCODINGS {
        let client = start(encoding, interop()).await;
        with_client!(client, |c| {
            let hurried = InteropClient::new(c.into_transport().layer(Deadline(Duration::from_millis(100))));
            match hurried.sleep(2000).await {
                Err(Error::Timeout(after)) => assert_eq!(after, Duration::from_millis(100), "{encoding:?}"),
                other => panic!("{encoding:?}: {other:?}"),
            }
            assert_eq!(hurried.double(3).await.unwrap(), 6, "{encoding:?}: the client still works");
        });
    }
}

#[tokio::test]
async fn the_middleware_example_prints_its_doubles_and_its_count() {
    let out = tokio::process::Command::new(rpc_test_support::example_binary("middleware")).output().await.unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    for num in 0..6 {
        assert!(stdout.contains(&format!("Double {num} is {}\n", num * 2)), "{stdout}");
    }
    assert!(stdout.contains("the server's layer counted 6 call(s) of double"), "{stdout}");
}

#[tokio::test]
async fn towers_timeout_and_load_shedding_reach_the_caller_as_faults_that_say_so_on_each_encoding() {
    for encoding in ENCODINGS {
        // Timeout: the call's handler is dropped at the limit, and the caller told why.
        let client = start(encoding, interop().layer(TimeoutLayer::new(Duration::from_millis(100)))).await;
        with_client!(client, |c| {
            match c.sleep(2000).await {
                Err(Error::Fault(f)) => {
                    assert_eq!(f.code, -32603, "{encoding:?}: {f:?}");
                    assert!(f.message.contains("sleep: the server's time limit for the call passed"), "{f:?}");
                }
                other => panic!("{encoding:?}: {other:?}"),
            }
            assert_eq!(c.double(4).await.unwrap(), 8, "{encoding:?}: the server still serves");
        });

        // Load shedding over a limit of one: while one call runs, another is turned away at once, not queued.
        let layers = ServiceBuilder::new().layer(LoadShedLayer::new()).layer(ConcurrencyLimitLayer::new(1));
        let client = start(encoding, interop().layer(layers)).await;
        with_client!(client, |c| {
            let started = Instant::now();
            let (slow, shed) = tokio::join!(c.slow_bump(300), async {
                tokio::time::sleep(Duration::from_millis(50)).await;
                c.double(1).await
            });
            assert_eq!(slow.unwrap(), 1, "{encoding:?}");
            match shed {
                Err(Error::Fault(f)) => assert!(f.message.contains("overloaded"), "{encoding:?}: {f:?}"),
                other => panic!("{encoding:?}: {other:?}"),
            }
            assert!(started.elapsed() < Duration::from_secs(2), "{encoding:?}");
            assert_eq!(c.double(2).await.unwrap(), 4, "{encoding:?}: served again once the slot is free");
        });
    }
}

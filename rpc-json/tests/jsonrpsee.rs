//! jsonrpsee, the most used Rust JSON-RPC library, as a real peer: its WebSocket client against our server,
//! and our clients (WebSocket and HTTP) against its server: calls, and subscriptions (stream methods) both ways.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use futures_util::StreamExt;
use jsonrpsee::core::ClientError;
use jsonrpsee::core::client::ClientT;
use jsonrpsee::rpc_params;
use jsonrpsee::types::ErrorObjectOwned;
use jsonrpsee::ws_client::WsClientBuilder;
use rpc_core::{Fault, service};
use rpc_examples::interop::{InteropServer, InteropService};
use rpc_test_support::bind_loopback;

#[tokio::test]
async fn the_jsonrpsee_ws_client_calls_our_server() {
    let listener = bind_loopback().await;
    let url = format!("ws://{}/", listener.local_addr().unwrap());
    tokio::spawn(rpc_json::duplex::Server::new(InteropServer::new(InteropService::default())).serve_ws(listener));
    let client = WsClientBuilder::default().build(&url).await.unwrap();

    let n: i64 = client.request("double", rpc_params![21]).await.unwrap();
    assert_eq!(n, 42);
    let echoed: serde_json::Value =
        client.request("echo", rpc_params![serde_json::json!({"a": [1, 2.5, null]})]).await.unwrap();
    assert_eq!(echoed, serde_json::json!({"a": [1, 2.5, null]}));
    match client.request::<(), _>("fail", rpc_params![7, "seven"]).await {
        Err(ClientError::Call(e)) => assert_eq!((e.code(), e.message()), (7, "seven")),
        other => panic!("{other:?}"),
    }
    match client.request::<(), _>("nope", rpc_params![]).await {
        Err(ClientError::Call(e)) => assert_eq!(e.code(), -32601),
        other => panic!("{other:?}"),
    }
    // Notifications run before the request that follows them.
    for _ in 0..100 {
        client.notification("bump", rpc_params![1]).await.unwrap();
    }
    let counter: i64 = client.request("counter", rpc_params![]).await.unwrap();
    assert_eq!(counter, 100);
    // Pipelined on its one connection: the quick call is answered while the slow one runs.
    let started = std::time::Instant::now();
    let (slow, quick) = tokio::join!(client.request::<i64, _>("slow_bump", rpc_params![300]), async {
        let n: i64 = client.request("double", rpc_params![1]).await.unwrap();
        (n, started.elapsed())
    });
    assert_eq!(slow.unwrap(), 101);
    assert_eq!(quick.0, 2);
    assert!(quick.1 < Duration::from_millis(250), "double waited for slow_bump: {:?}", quick.1);
}

/// The jsonrpsee server's methods: only the generated client is used.
#[allow(dead_code)]
#[service]
trait Remote {
    /// Returns num * 2.
    async fn double(&self, num: i64) -> i64;
    /// Sleeps ms, then returns ms.
    async fn slow(&self, ms: u64) -> u64;
}

#[tokio::test]
async fn our_clients_call_a_jsonrpsee_server() {
    let server = jsonrpsee::server::Server::builder().build("127.0.0.1:0").await.unwrap();
    let addr = server.local_addr().unwrap();
    let mut module = jsonrpsee::RpcModule::new(());
    module
        .register_method("double", |params, _, _| {
            let (n,): (i64,) = params.parse()?;
            Ok::<i64, ErrorObjectOwned>(n * 2)
        })
        .unwrap();
    module
        .register_async_method("slow", |params, _, _| async move {
            let (ms,): (u64,) = params.parse()?;
            tokio::time::sleep(Duration::from_millis(ms)).await;
            Ok::<u64, ErrorObjectOwned>(ms)
        })
        .unwrap();
    let handle = server.start(module);

    // Over WebSocket, pipelined.
    let ws = RemoteClient::new(rpc_json::duplex::Client::connect_ws(&format!("ws://{addr}/")).await.unwrap());
    assert_eq!(ws.double(21).await.unwrap(), 42);
    let started = std::time::Instant::now();
    let (slow, quick) = tokio::join!(ws.slow(300), async { (ws.double(1).await.unwrap(), started.elapsed()) });
    assert_eq!(slow.unwrap(), 300);
    assert_eq!(quick.0, 2);
    assert!(quick.1 < Duration::from_millis(250), "double waited for slow: {:?}", quick.1);
    let err = ws.transport().call("nope", vec![]).await.unwrap_err();
    assert_eq!(err.as_fault().map(|f| f.code), Some(Fault::METHOD_NOT_FOUND), "{err}");

    // Over HTTP, on the same port.
    let http = RemoteClient::new(rpc_json::Client::new(&format!("http://{addr}/")).unwrap());
    assert_eq!(http.double(4).await.unwrap(), 8);
    handle.stop().unwrap();
}

/// Waits up to `limit` for `check` to hold, polling every 2 ms: how long it took, or `None` if it never did.
async fn within<F: Future<Output = bool>>(limit: Duration, mut check: impl FnMut() -> F) -> Option<Duration> {
    let start = std::time::Instant::now();
    loop {
        if check().await {
            return Some(start.elapsed());
        }
        if start.elapsed() > limit {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// Our WebSocket server of the interop service, and a jsonrpsee WebSocket client connected to it.
async fn our_ws_server_and_a_jsonrpsee_client() -> jsonrpsee::ws_client::WsClient {
    let listener = bind_loopback().await;
    let url = format!("ws://{}/", listener.local_addr().unwrap());
    tokio::spawn(rpc_json::duplex::Server::new(InteropServer::new(InteropService::default())).serve_ws(listener));
    WsClientBuilder::default().build(&url).await.unwrap()
}

/// `streams_open` on our server, asked through jsonrpsee.
async fn streams_open(client: &jsonrpsee::ws_client::WsClient) -> u64 {
    client.request("streams_open", rpc_params![]).await.unwrap()
}

/// The next item of a jsonrpsee subscription, within a second: `None` at its end.
async fn next_of(subscription: &mut jsonrpsee::core::client::Subscription<u64>) -> Option<u64> {
    tokio::time::timeout(Duration::from_secs(1), subscription.next())
        .await
        .expect("no item and no end within a second")
        .map(|item| item.expect("an item that is no u64"))
}

#[tokio::test]
async fn the_jsonrpsee_ws_client_subscribes_to_our_server() {
    use jsonrpsee::core::client::{SubscriptionClientT, SubscriptionCloseReason, SubscriptionKind};
    use jsonrpsee::types::SubscriptionId;

    let client = our_ws_server_and_a_jsonrpsee_client().await;

    // A finite stream: its items in order, then the end (our `"error": null` message closes it).
    let mut finite =
        client.subscribe::<u64, _>("subscribe_count", rpc_params![3, 5], "unsubscribe_count").await.unwrap();
    assert!(
        matches!(finite.kind(), SubscriptionKind::Subscription(SubscriptionId::Num(1))),
        "the first id of a connection: {:?}",
        finite.kind()
    );
    assert!(finite.close_reason().is_none(), "closed before any item: {:?}", finite.close_reason());
    let mut items = Vec::new();
    for _ in 0..3 {
        items.push(next_of(&mut finite).await);
    }
    assert_eq!(items, [Some(0), Some(1), Some(2)]);
    assert_eq!(next_of(&mut finite).await, None, "the stream did not end after its 3 items");
    // jsonrpsee has no reason for a subscription its server ended: `ConnectionClosed` is all it says (not
    // `Lagged`), though the connection is still open.
    assert!(
        matches!(finite.close_reason(), Some(SubscriptionCloseReason::ConnectionClosed)),
        "{:?}",
        finite.close_reason()
    );
    assert!(client.is_connected());
    assert_eq!(streams_open(&client).await, 0, "the finished stream was not dropped");
    // The id of a stream that has ended, and one never given, are no subscriptions any more.
    assert!(!client.request::<bool, _>("unsubscribe_count", rpc_params![1]).await.unwrap());
    assert!(!client.request::<bool, _>("unsubscribe_count", rpc_params![999]).await.unwrap());
    drop(finite);

    // A forever stream, ended by jsonrpsee's `unsubscribe`.
    let mut forever =
        client.subscribe::<u64, _>("subscribe_count", rpc_params![0, 1], "unsubscribe_count").await.unwrap();
    assert!(matches!(forever.kind(), SubscriptionKind::Subscription(SubscriptionId::Num(2))), "{:?}", forever.kind());
    for expected in 0..5 {
        assert_eq!(next_of(&mut forever).await, Some(expected));
    }
    assert_eq!(streams_open(&client).await, 1);
    forever.unsubscribe().await.unwrap();
    // jsonrpsee's `unsubscribe` does not wait for the server's answer, so the stream may outlive it briefly.
    let took = within(Duration::from_millis(100), || async { streams_open(&client).await == 0 }).await;
    assert!(took.is_some(), "the stream still runs 100 ms after jsonrpsee's unsubscribe");

    // A forever stream whose jsonrpsee subscription is dropped: jsonrpsee sends the unsubscribe from its
    // background task.
    let mut dropped =
        client.subscribe::<u64, _>("subscribe_count", rpc_params![0, 1], "unsubscribe_count").await.unwrap();
    assert_eq!(next_of(&mut dropped).await, Some(0));
    assert_eq!(next_of(&mut dropped).await, Some(1));
    assert_eq!(streams_open(&client).await, 1);
    drop(dropped);
    let took = within(Duration::from_millis(100), || async { streams_open(&client).await == 0 }).await;
    assert!(took.is_some(), "the stream still runs 100 ms after the jsonrpsee subscription was dropped");

    // The connection serves on.
    let n: i64 = client.request("double", rpc_params![4]).await.unwrap();
    assert_eq!(n, 8);
}

/// How a jsonrpsee server's `count` subscription ends after its n items.
#[derive(Clone, Copy)]
enum End {
    /// `Err(SubscriptionError::from_json(null))`: the message `"error": null`, a stream that finished.
    Null,
    /// `Err(SubscriptionError::from(message))`: the message `"error": "<message>"`.
    Message(&'static str),
}

/// The longest interval the jsonrpsee server's `count` takes: it refuses the subscription past it.
const MAX_INTERVAL_MS: u64 = 10_000;

/// A jsonrpsee server whose `subscribe_count` / `count` / `unsubscribe_count` subscription takes `[n,
/// interval_ms]` and sends 0..n-1 (n = 0: for ever), the first at once, then ends as `end` says (it refuses an
/// interval above [`MAX_INTERVAL_MS`] with -32602 and data `{"max": MAX_INTERVAL_MS}`); and `double`.
/// Also the count of subscriptions whose sink found itself closed (the client unsubscribed or went away).
async fn jsonrpsee_counter(
    end: End,
) -> (std::net::SocketAddr, jsonrpsee::server::ServerHandle, std::sync::Arc<std::sync::atomic::AtomicU64>) {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};

    use jsonrpsee::core::SubscriptionError;

    let closed = Arc::new(AtomicU64::new(0));
    let server = jsonrpsee::server::Server::builder().build("127.0.0.1:0").await.unwrap();
    let addr = server.local_addr().unwrap();
    let mut module = jsonrpsee::RpcModule::new(closed.clone());
    module
        .register_method("double", |params, _, _| {
            let (n,): (i64,) = params.parse()?;
            Ok::<i64, ErrorObjectOwned>(n * 2)
        })
        .unwrap();
    module
        .register_subscription(
            "subscribe_count",
            "count",
            "unsubscribe_count",
            move |params, pending, closed, _| async move {
                let (n, interval_ms): (u64, u64) = match params.parse() {
                    Ok(params) => params,
                    Err(e) => {
                        pending.reject(e).await;
                        return Ok(());
                    }
                };
                if interval_ms > MAX_INTERVAL_MS {
                    let data = Some(serde_json::json!({"max": MAX_INTERVAL_MS}));
                    pending.reject(ErrorObjectOwned::owned(-32602, "interval too long", data)).await;
                    return Ok(());
                }
                let sink = pending.accept().await?;
                let mut i = 0;
                while n == 0 || i < n {
                    if i > 0 {
                        tokio::select! {
                            () = sink.closed() => {
                                closed.fetch_add(1, Ordering::SeqCst);
                                return Ok(());
                            }
                            () = tokio::time::sleep(Duration::from_millis(interval_ms)) => {}
                        }
                    }
                    if sink.send(serde_json::value::to_raw_value(&i).unwrap()).await.is_err() {
                        closed.fetch_add(1, Ordering::SeqCst);
                        return Ok(());
                    }
                    i += 1;
                }
                Err(match end {
                    End::Null => {
                        SubscriptionError::from_json(serde_json::value::RawValue::from_string("null".into()).unwrap())
                    }
                    End::Message(message) => SubscriptionError::from(message),
                })
            },
        )
        .unwrap();
    (addr, server.start(module), closed)
}

/// The interop service's client over our WebSocket client, connected to `addr`.
async fn our_ws_client(addr: std::net::SocketAddr) -> rpc_examples::interop::InteropClient<rpc_json::duplex::Client> {
    rpc_examples::interop::InteropClient::new(
        rpc_json::duplex::Client::connect_ws(&format!("ws://{addr}/")).await.unwrap(),
    )
}

/// The items of our subscription until its end, within two seconds.
async fn all_of(subscription: rpc_core::Subscription<u64>) -> Vec<Result<u64, rpc_core::Error>> {
    tokio::time::timeout(Duration::from_secs(2), subscription.collect()).await.expect("the subscription did not end")
}

#[tokio::test]
async fn our_client_subscribes_to_a_jsonrpsee_server_that_ends_with_null() {
    let (addr, handle, _) = jsonrpsee_counter(End::Null).await;
    let client = our_ws_client(addr).await;
    let subscription = client.count(3, Some(5)).await.unwrap();
    assert!(subscription.id().as_u64().is_some(), "jsonrpsee's ids are numbers: {:?}", subscription.id());
    let items: Vec<u64> = all_of(subscription).await.into_iter().map(Result::unwrap).collect();
    assert_eq!(items, [0, 1, 2]);
    // Two at once, with no interval: the first item may follow the subscribe answer directly.
    let (a, b) = (client.count(50, Some(0)).await.unwrap(), client.count(20, Some(0)).await.unwrap());
    assert_ne!(a.id(), b.id());
    let (a, b) = tokio::join!(all_of(a), all_of(b));
    let a: Vec<u64> = a.into_iter().map(Result::unwrap).collect();
    let b: Vec<u64> = b.into_iter().map(Result::unwrap).collect();
    assert_eq!((a, b), ((0..50).collect(), (0..20).collect()));
    // A subscription jsonrpsee refuses: the subscribe call's error, code, message and data.
    match client.count(1, Some(MAX_INTERVAL_MS + 1)).await {
        Err(rpc_core::Error::Fault(fault)) => {
            assert_eq!((fault.code, fault.message.as_str()), (-32602, "interval too long"));
            let max = fault.data.as_deref().and_then(rpc_core::Value::as_map).and_then(|data| data.get_str("max"));
            assert_eq!(max.and_then(rpc_core::Value::as_u64), Some(MAX_INTERVAL_MS), "{:?}", fault.data);
        }
        other => panic!("not refused: {other:?}"),
    }
    assert_eq!(client.double(21).await.unwrap(), 42, "the connection serves on");
    handle.stop().unwrap();
}

#[tokio::test]
async fn our_client_subscribes_to_a_jsonrpsee_server_that_ends_with_an_error_string() {
    let (addr, handle, _) = jsonrpsee_counter(End::Message("the counter broke")).await;
    let client = our_ws_client(addr).await;
    let mut items = all_of(client.count(2, Some(5)).await.unwrap()).await.into_iter();
    assert_eq!(items.next().map(Result::unwrap), Some(0));
    assert_eq!(items.next().map(Result::unwrap), Some(1));
    match items.next() {
        Some(Err(rpc_core::Error::Fault(fault))) => {
            assert_eq!((fault.code, fault.message.as_str()), (Fault::INTERNAL_ERROR, "the counter broke"));
        }
        other => panic!("not the fault: {other:?}"),
    }
    assert!(items.next().is_none(), "items after the fault");
    assert_eq!(client.double(2).await.unwrap(), 4, "the connection serves on");
    handle.stop().unwrap();
}

#[tokio::test]
async fn our_unsubscribe_and_drop_end_a_jsonrpsee_servers_subscription() {
    use std::sync::atomic::Ordering;

    let (addr, handle, closed) = jsonrpsee_counter(End::Null).await;
    let client = our_ws_client(addr).await;

    let mut subscription = client.count(0, Some(1)).await.unwrap();
    for expected in 0..3 {
        let item = tokio::time::timeout(Duration::from_secs(1), subscription.next()).await.unwrap();
        assert_eq!(item.unwrap().unwrap(), expected);
    }
    tokio::time::timeout(Duration::from_secs(1), subscription.unsubscribe()).await.unwrap().unwrap();
    let took = within(Duration::from_millis(500), || async { closed.load(Ordering::SeqCst) == 1 }).await;
    assert!(took.is_some(), "jsonrpsee's sink still open 500 ms after our unsubscribe");

    let mut dropped = client.count(0, Some(1)).await.unwrap();
    let item = tokio::time::timeout(Duration::from_secs(1), dropped.next()).await.unwrap();
    assert_eq!(item.unwrap().unwrap(), 0);
    drop(dropped);
    let took = within(Duration::from_millis(500), || async { closed.load(Ordering::SeqCst) == 2 }).await;
    assert!(took.is_some(), "jsonrpsee's sink still open 500 ms after our subscription was dropped");

    assert_eq!(client.double(3).await.unwrap(), 6, "the connection serves on");
    handle.stop().unwrap();
}

#[tokio::test]
async fn our_http_client_refuses_to_subscribe_to_a_jsonrpsee_server() {
    let (addr, handle, _) = jsonrpsee_counter(End::Null).await;
    let client = rpc_examples::interop::InteropClient::new(rpc_json::Client::new(&format!("http://{addr}/")).unwrap());
    let err = client.count(3, Some(1)).await.expect_err("HTTP cannot carry a subscription");
    assert!(err.to_string().contains("needs a duplex transport"), "{err}");
    assert_eq!(client.double(5).await.unwrap(), 10);
    handle.stop().unwrap();
}

/// A stream method of our own that fails, served to jsonrpsee's client.
#[service]
trait Failing {
    /// Counts 0..n-1, then fails with fault 7 "seven", data `[n]`.
    async fn ticks(&self, n: u64) -> rpc_core::Stream<u64>;
}

/// [`Failing`], served.
struct Fails;

impl Failing for Fails {
    async fn ticks(&self, n: u64) -> rpc_core::Stream<u64> {
        let items =
            (0..n).map(Ok).chain([Err(Fault::new(7, "seven").with_data(rpc_core::Value::Array(vec![n.into()])))]);
        rpc_core::Stream::try_new(futures_util::stream::iter(items))
    }
}

#[tokio::test]
async fn the_jsonrpsee_ws_client_sees_our_failed_stream_end() {
    use jsonrpsee::core::client::{SubscriptionClientT, SubscriptionCloseReason};

    let listener = bind_loopback().await;
    let url = format!("ws://{}/", listener.local_addr().unwrap());
    tokio::spawn(rpc_json::duplex::Server::new(FailingServer::new(Fails)).serve_ws(listener));
    let client = WsClientBuilder::default().build(&url).await.unwrap();
    let mut ticks = client.subscribe::<u64, _>("subscribe_ticks", rpc_params![2], "unsubscribe_ticks").await.unwrap();
    assert_eq!(next_of(&mut ticks).await, Some(0));
    assert_eq!(next_of(&mut ticks).await, Some(1));
    // jsonrpsee closes a subscription on an `"error"` message and does not hand the error over.
    assert_eq!(next_of(&mut ticks).await, None, "our error object did not end jsonrpsee's subscription");
    assert!(
        matches!(ticks.close_reason(), Some(SubscriptionCloseReason::ConnectionClosed)),
        "{:?}",
        ticks.close_reason()
    );
    assert!(client.is_connected(), "jsonrpsee dropped the connection over our end message");
    // It did not: the connection subscribes on.
    let mut again = client.subscribe::<u64, _>("subscribe_ticks", rpc_params![1], "unsubscribe_ticks").await.unwrap();
    assert_eq!(next_of(&mut again).await, Some(0));
    assert_eq!(next_of(&mut again).await, None);
}

//! Stream methods (subscriptions) on every duplex transport, through the generated client: items in order and
//! the end, a stream that fails, one refused at subscribe, unsubscribe and drop ending the server's stream at
//! once, a closed connection doing the same, the per-connection limit, a subscriber that falls behind, and HTTP
//! refusing with the words the client uses.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use common::{json_tcp, json_ws, msgpack, service};
use futures_util::StreamExt;
use rpc_core::{Fault, Stream, Transport, service};
use rpc_examples::interop::InteropClient;
use rpc_test_support::bind_loopback;

/// Every duplex client of the interop service, each on a server of its own: (transport, client).
async fn clients() -> Vec<(&'static str, InteropClient<Box<dyn Transport>>)> {
    let msgpack: Box<dyn Transport> = Box::new(rpc_msgpack::Client::connect(msgpack().await.as_str()).await.unwrap());
    let tcp: Box<dyn Transport> = Box::new(rpc_json::duplex::Client::connect(json_tcp().await.as_str()).await.unwrap());
    let ws: Box<dyn Transport> = Box::new(rpc_json::duplex::Client::connect_ws(&json_ws().await).await.unwrap());
    vec![
        ("MessagePack-RPC", InteropClient::new(msgpack)),
        ("JSON-RPC over TCP", InteropClient::new(tcp)),
        ("JSON-RPC over WebSocket", InteropClient::new(ws)),
    ]
}

/// Waits up to `within` for `streams_open` to reach `expected`.
async fn streams_reach(client: &InteropClient<Box<dyn Transport>>, expected: u64, within: Duration) -> u64 {
    let start = tokio::time::Instant::now();
    loop {
        let open = client.streams_open().await.unwrap();
        if open == expected || start.elapsed() > within {
            return open;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn a_finite_stream_arrives_in_order_then_ends() {
    for (name, client) in clients().await {
        let subscription = client.count(5, Some(2)).await.unwrap();
        let items: Vec<u64> = subscription.map(|item| item.unwrap()).collect().await;
        assert_eq!(items, [0, 1, 2, 3, 4], "{name}");
        assert_eq!(
            streams_reach(&client, 0, Duration::from_millis(100)).await,
            0,
            "{name}: the stream was not dropped"
        );
        // n = 0 with no items asked for: an empty stream ends at once.
        assert_eq!(client.double(4).await.unwrap(), 8, "{name}: the connection serves on");
    }
}

#[tokio::test]
async fn unsubscribe_and_drop_end_a_forever_stream_at_once() {
    for (name, client) in clients().await {
        let mut subscription = client.count(0, Some(1)).await.unwrap();
        assert_eq!(subscription.next().await.unwrap().unwrap(), 0, "{name}");
        assert_eq!(subscription.next().await.unwrap().unwrap(), 1, "{name}");
        assert_eq!(client.streams_open().await.unwrap(), 1, "{name}");
        subscription.unsubscribe().await.unwrap();
        // The unsubscribe is answered once the stream has been dropped.
        assert_eq!(client.streams_open().await.unwrap(), 0, "{name}: unsubscribe left the stream running");

        let mut dropped = client.count(0, Some(1)).await.unwrap();
        dropped.next().await.unwrap().unwrap();
        drop(dropped);
        assert_eq!(streams_reach(&client, 0, Duration::from_millis(100)).await, 0, "{name}: drop left it running");

        // Two at once, each with its own items.
        let (a, b) = (client.count(3, Some(1)).await.unwrap(), client.count(2, Some(1)).await.unwrap());
        assert_ne!(a.id(), b.id(), "{name}");
        let (a, b): (Vec<_>, Vec<_>) = tokio::join!(a.map(Result::unwrap).collect(), b.map(Result::unwrap).collect());
        assert_eq!((a, b), (vec![0, 1, 2], vec![0, 1]), "{name}");
    }
}

#[tokio::test]
async fn a_closed_connection_drops_the_stream_and_ends_the_subscription() {
    let addr = msgpack().await;
    let watcher = InteropClient::new(rpc_msgpack::Client::connect(addr.as_str()).await.unwrap());
    let client = rpc_msgpack::Client::connect(addr.as_str()).await.unwrap();
    let peer = client.peer();
    let mut subscription = InteropClient::new(client).count(0, Some(1)).await.unwrap();
    subscription.next().await.unwrap().unwrap();
    assert_eq!(watcher.streams_open().await.unwrap(), 1);
    peer.close();
    let start = tokio::time::Instant::now();
    while watcher.streams_open().await.unwrap() != 0 {
        assert!(start.elapsed() < Duration::from_millis(100), "the stream outlived its connection");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // The subscriber is told: items already read may come, then one error, then the end.
    let rest: Vec<_> = subscription.collect().await;
    let last = rest.last().expect("an error as the last item");
    let error = last.as_ref().expect_err("the last item is the error");
    assert!(error.to_string().contains("closed"), "{error}");
}

/// A service whose streams fail, or are refused.
#[service]
pub trait Faulty {
    /// Gives 1 and 2, then fails with fault 7.
    async fn fails(&self) -> Stream<u64>;

    /// Refused with fault 9 unless `ok`.
    #[rpc(subscribe = "ticks_subscribe", unsubscribe = "ticks_unsubscribe", notification = "ticks_event")]
    async fn ticks(&self, ok: bool) -> Result<Stream<u64>, Fault>;

    /// A forever stream that sets the flag when it is dropped.
    async fn watched(&self) -> Stream<u64>;
}

#[derive(Default)]
struct FaultyImpl {
    dropped: Arc<AtomicBool>,
    made: AtomicU64,
}

/// Sets its flag when dropped.
struct Flag(Arc<AtomicBool>);

impl Drop for Flag {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Release);
    }
}

impl Faulty for FaultyImpl {
    async fn fails(&self) -> Stream<u64> {
        Stream::try_new(futures_util::stream::iter([Ok(1), Ok(2), Err(Fault::new(7, "the well ran dry"))]))
    }

    async fn ticks(&self, ok: bool) -> Result<Stream<u64>, Fault> {
        if !ok {
            return Err(Fault::new(9, "not today"));
        }
        Ok(Stream::new(futures_util::stream::iter([10, 20])))
    }

    async fn watched(&self) -> Stream<u64> {
        self.made.fetch_add(1, Ordering::AcqRel);
        let flag = Flag(self.dropped.clone());
        Stream::new(futures_util::stream::unfold((0, flag), |(i, flag)| async move {
            tokio::time::sleep(Duration::from_millis(1)).await;
            Some((i, (i + 1, flag)))
        }))
    }
}

#[tokio::test]
async fn failures_and_named_subscriptions_on_both_encodings() {
    let dropped = Arc::new(AtomicBool::new(false));
    let service = || FaultyServer::new(FaultyImpl { dropped: dropped.clone(), made: AtomicU64::new(0) });
    let (m, j) = (bind_loopback().await, bind_loopback().await);
    let (m_addr, j_addr) = (m.local_addr().unwrap().to_string(), j.local_addr().unwrap().to_string());
    tokio::spawn(rpc_msgpack::Server::new(service()).max_subscriptions(2).serve(m));
    tokio::spawn(rpc_json::duplex::Server::new(service()).max_subscriptions(2).serve(j));
    let transports: Vec<(&str, Box<dyn Transport>)> = vec![
        ("MessagePack-RPC", Box::new(rpc_msgpack::Client::connect(m_addr.as_str()).await.unwrap())),
        ("JSON-RPC", Box::new(rpc_json::duplex::Client::connect(j_addr.as_str()).await.unwrap())),
    ];
    for (name, transport) in transports {
        let client = FaultyClient::new(transport);
        let items: Vec<_> = client.fails().await.unwrap().collect().await;
        assert_eq!(items.len(), 3, "{name}: {items:?}");
        assert_eq!(items[0].as_ref().unwrap(), &1);
        assert_eq!(items[1].as_ref().unwrap(), &2);
        match &items[2] {
            Err(rpc_core::Error::Fault(fault)) => {
                assert_eq!((fault.code, fault.message.as_str()), (7, "the well ran dry"), "{name}");
            }
            other => panic!("{name}: {other:?}"),
        }

        let refused = client.ticks(false).await.expect_err("refused");
        assert_eq!(refused.to_string(), "fault 9: not today", "{name}");
        let ticks: Vec<u64> = client.ticks(true).await.unwrap().map(Result::unwrap).collect().await;
        assert_eq!(ticks, [10, 20], "{name}");

        // At most two at once per connection.
        let (a, b) = (client.watched().await.unwrap(), client.watched().await.unwrap());
        let third = client.watched().await.expect_err("over the limit");
        assert!(third.to_string().contains("holds 2 subscriptions"), "{name}: {third}");
        dropped.store(false, Ordering::Release);
        a.unsubscribe().await.unwrap();
        assert!(dropped.load(Ordering::Acquire), "{name}: the stream was not dropped by the time unsubscribe answered");
        drop(b);
        let c = client.watched().await.unwrap();
        c.unsubscribe().await.unwrap();
    }
}

#[tokio::test]
async fn a_subscriber_that_stops_reading_holds_the_stream_still_end_to_end() {
    let addr = msgpack().await;
    let transport = rpc_msgpack::Client::builder().subscription_buffer(8).connect(addr.as_str()).await.unwrap();
    let client = InteropClient::new(transport);
    let watcher = InteropClient::new(rpc_msgpack::Client::connect(addr.as_str()).await.unwrap());
    let mut slow = client.count(0, Some(0)).await.unwrap();
    // Not read while the server could send millions of items: the client stops reading its socket, the
    // server's writes back up, and its stream waits, open.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(watcher.streams_open().await.unwrap(), 1, "the stream was dropped, not paused");
    for expected in 0..5000 {
        assert_eq!(slow.next().await.unwrap().unwrap(), expected, "an item was lost");
    }
}

#[tokio::test]
async fn a_call_made_while_a_subscriber_lags_ends_that_subscription_not_the_call() {
    let addr = json_tcp().await;
    let transport = rpc_json::duplex::Client::builder().subscription_buffer(8).connect(addr.as_str()).await.unwrap();
    let client = InteropClient::new(transport);
    let mut behind = client.count(0, Some(0)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    // The answer of this call sits behind items nobody reads: the lagging subscription gives way.
    let answer = tokio::time::timeout(Duration::from_secs(2), client.double(21)).await.expect("the call waited");
    assert_eq!(answer.unwrap(), 42);
    let mut read = 0;
    let error = loop {
        match behind.next().await {
            Some(Ok(_)) => read += 1,
            Some(Err(e)) => break e,
            None => panic!("ended without saying why"),
        }
    };
    assert!(read <= 9, "{read} items were buffered");
    assert!(error.to_string().contains("fell behind"), "{error}");
    assert!(behind.next().await.is_none());
    assert_eq!(streams_reach_on(&client, 0).await, 0, "the server's stream was not ended");
}

async fn streams_reach_on<T: Transport>(client: &InteropClient<T>, expected: u64) -> u64 {
    let start = tokio::time::Instant::now();
    loop {
        let open = client.streams_open().await.unwrap();
        if open == expected || start.elapsed() > Duration::from_secs(2) {
            return open;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn http_cannot_push_and_says_so_on_both_sides() {
    let listener = bind_loopback().await;
    let addr = listener.local_addr().unwrap();
    tokio::spawn(rpc_json::Server::new(service()).serve(listener));
    let client = InteropClient::new(rpc_json::Client::new(&format!("http://{addr}/")).unwrap());
    let local = client.count(3, Some(1)).await.expect_err("HTTP cannot subscribe");
    let words = "subscribe_count returns a stream, which needs a duplex transport";
    assert!(local.to_string().contains(words), "{local}");
    // A peer that calls it anyway gets a fault with the same words.
    let remote = client.transport().call("subscribe_count", vec![3.into(), 1.into()]).await.expect_err("a fault");
    match remote {
        rpc_core::Error::Fault(fault) => {
            assert_eq!(fault.code, Fault::INVALID_REQUEST);
            assert!(fault.message.contains(words), "{}", fault.message);
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn in_process_streams_work_through_memory_transport() {
    let client = InteropClient::new(rpc_core::MemoryTransport::new(service()));
    let items: Vec<u64> = client.count(3, Some(0)).await.unwrap().map(Result::unwrap).collect().await;
    assert_eq!(items, [0, 1, 2]);
}

#[tokio::test]
async fn the_subscribe_example_prints_its_streams() {
    let out = tokio::process::Command::new(rpc_test_support::example_binary("subscribe")).output().await.unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "MessagePack-RPC: 0 1 2 (the end)\nMessagePack-RPC: 0 1 2 ... unsubscribed\n\
         JSON-RPC over WebSocket: 0 1 2 (the end)\nJSON-RPC over WebSocket: 0 1 2 ... unsubscribed\n"
    );
}

#[tokio::test]
async fn a_server_shutting_down_ends_its_subscriptions_with_a_fault() {
    for json in [false, true] {
        let listener = bind_loopback().await;
        let addr = listener.local_addr().unwrap().to_string();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let signal = async move {
            let _ = stopped.await;
        };
        let server = if json {
            tokio::spawn(rpc_json::duplex::Server::new(service()).serve_with_shutdown(listener, signal))
        } else {
            tokio::spawn(rpc_msgpack::Server::new(service()).serve_with_shutdown(listener, signal))
        };
        let transport: Box<dyn Transport> = if json {
            Box::new(rpc_json::duplex::Client::connect(addr.as_str()).await.unwrap())
        } else {
            Box::new(rpc_msgpack::Client::connect(addr.as_str()).await.unwrap())
        };
        let client = InteropClient::new(transport);
        let mut subscription = client.count(0, Some(5)).await.unwrap();
        assert_eq!(subscription.next().await.unwrap().unwrap(), 0);
        stop.send(()).unwrap();
        let last = loop {
            match tokio::time::timeout(Duration::from_secs(5), subscription.next()).await.unwrap() {
                Some(Ok(_)) => continue,
                Some(Err(e)) => break e,
                None => panic!("json {json}: ended without saying why"),
            }
        };
        match last {
            rpc_core::Error::Fault(fault) => assert!(fault.message.contains("shutting down"), "{fault:?}"),
            other => panic!("json {json}: {other:?}"),
        }
        assert!(subscription.next().await.is_none());
        tokio::time::timeout(Duration::from_secs(5), server).await.unwrap().unwrap().unwrap();
    }
}

//! Client resilience: calls in flight when the connection drops fail clearly and are never sent again; a client
//! built with `reconnect(true)` opens a new connection once a restarted server is back, and one without stays
//! closed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use common::{ProbeClient, Running};
use rpc_core::{Error, Value};
use rpc_msgpack::Client;
use tokio::net::TcpListener;

#[tokio::test]
async fn a_reconnecting_client_survives_a_server_restart() {
    let listener = rpc_test_support::bind_loopback().await;
    let addr = listener.local_addr().unwrap();
    let server = Running::start(listener, |s| s);
    let client = ProbeClient::new(Client::builder().reconnect(true).connect(addr).await.unwrap());
    let one_shot = Client::connect(addr).await.unwrap();
    assert_eq!(client.double(1).await.unwrap(), 2);
    assert_eq!(one_shot.call("double", vec![1.into()]).await.unwrap(), Value::Int(2));

    server.stopped().await;
    client.transport().closed().await;
    // While the server is down: a clear transport error, no waiting.
    match client.double(2).await {
        Err(e @ Error::Connect(_)) => {
            assert!(e.to_string().to_lowercase().contains("refused"), "{e}");
            assert_eq!(e.delivery(), rpc_core::Delivery::NotSent);
        }
        other => panic!("{other:?}"),
    }

    // Back on the same port: the same client works again, from many tasks at once, on one new connection.
    let server = Running::start(TcpListener::bind(addr).await.unwrap(), |s| s);
    let client = Arc::new(client);
    let calls: Vec<_> = (0..20)
        .map(|i| {
            let client = client.clone();
            tokio::spawn(async move { client.double(i).await })
        })
        .collect();
    for (i, call) in calls.into_iter().enumerate() {
        assert_eq!(call.await.unwrap().unwrap(), 2 * i as i64);
    }
    // A client without `reconnect` stays closed, and says so.
    let err = one_shot.call("double", vec![1.into()]).await.unwrap_err();
    assert!(err.to_string().contains("connection closed"), "{err}");
    drop(server);
}

#[tokio::test]
async fn a_call_in_flight_when_the_connection_drops_fails_once_and_is_not_resent() {
    let listener = rpc_test_support::bind_loopback().await;
    let addr = listener.local_addr().unwrap();
    let first = Running::start(listener, |s| s.shutdown_timeout(Duration::from_millis(100)));
    let client = Client::builder().reconnect(true).connect(addr).await.unwrap();
    let in_flight = {
        let client = client.clone();
        tokio::spawn(async move { client.call("hang", vec![]).await })
    };
    common::eventually(|| first.state.started.load(Ordering::SeqCst) == 1).await;
    // The shutdown deadline closes the connection with the call still running.
    let state = first.state.clone();
    first.stopped().await;
    let err = in_flight.await.unwrap().unwrap_err();
    assert!(matches!(err, Error::Transport(_)), "{err:?}");
    assert!(err.to_string().contains("connection closed"), "{err}");
    assert_eq!(state.dropped.load(Ordering::SeqCst), 1, "the handler was dropped with its connection");

    // A new server on the same port: new calls go through; the one that failed was not sent again.
    let second = Running::start(TcpListener::bind(addr).await.unwrap(), |s| s);
    assert_eq!(client.call("double", vec![21.into()]).await.unwrap(), Value::Int(42));
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(second.state.started.load(Ordering::SeqCst), 0, "the failed call was sent again");
}

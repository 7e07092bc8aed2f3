//! Bad input to our zerorpc server from a raw ZeroMQ DEALER: bytes that are no event, an event that is not a
//! 3-array or has no `message_id` (dropped), an unknown protocol version (`ERR` to its id), a frame over the size
//! limit (dropped), a flood of heartbeats for channels that do not exist, too many calls at once (`ERR` busy),
//! and a peer that stops heartbeating (its stream dropped): after each, the server answers the next call.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use rpc_core::{Map, Value};
use zeromq::{Socket, SocketRecv, SocketSend, ZmqMessage};

/// The server of the interop service the tests start.
type Interop = rpc_zerorpc::Server<rpc_examples::interop::InteropServer<rpc_examples::interop::InteropService>>;

/// A raw DEALER connected to a fresh server of the interop service built by `settings`.
async fn peer(settings: impl FnOnce(Interop) -> Interop) -> (zeromq::DealerSocket, String) {
    let server = settings(rpc_zerorpc::Server::new(common::service()));
    let bound = server.bind(&["tcp://127.0.0.1:0"]).await.unwrap();
    let endpoint = bound.endpoints()[0].clone();
    tokio::spawn(bound.run());
    let mut socket = zeromq::DealerSocket::new();
    socket.connect(&endpoint).await.unwrap();
    (socket, endpoint)
}

/// Packs `value` as MessagePack.
fn pack(value: &Value) -> Bytes {
    let mut out = BytesMut::new();
    rpc_msgpack::codec::encode_value(value, &mut out).unwrap();
    out.freeze()
}

/// The event `[{"message_id": id, "v": v, ("response_to": to)}, name, args]`.
fn event(id: &[u8], v: i64, to: Option<&[u8]>, name: &str, args: Vec<Value>) -> Value {
    let mut header = Map::new();
    header.push("message_id", Value::Bytes(id.to_vec()));
    header.push("v", v);
    if let Some(to) = to {
        header.push("response_to", Value::Bytes(to.to_vec()));
    }
    Value::Array(vec![Value::Map(header), name.into(), Value::Array(args)])
}

/// Sends one payload as a DEALER does (`["", payload]`).
async fn send(socket: &mut zeromq::DealerSocket, payload: Bytes) {
    let mut message = ZmqMessage::from(payload);
    message.push_front(Bytes::new());
    socket.send(message).await.unwrap();
}

/// The next event that is no heartbeat, within 2 s.
async fn next(socket: &mut zeromq::DealerSocket) -> Value {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(2), socket.recv()).await.expect("an answer").unwrap();
        let payload = message.into_vec().pop().unwrap();
        let value = rpc_msgpack::codec::Codec::new(1 << 20, 32).read(&payload).unwrap();
        if value.as_array().and_then(|e| e.get(1)).and_then(Value::as_str) != Some("_zpc_hb") {
            return value;
        }
    }
}

/// `double(n)` as a fresh channel `id`, and its answer: `(name, args)`.
async fn double(socket: &mut zeromq::DealerSocket, id: &[u8], n: i64) -> (String, Value) {
    send(socket, pack(&event(id, 3, None, "double", vec![n.into()]))).await;
    let answer = next(socket).await;
    let parts = answer.as_array().unwrap();
    let header = parts[0].as_map().unwrap();
    assert_eq!(header.get_str("response_to"), Some(&Value::Bytes(id.to_vec())), "{answer:?}");
    (parts[1].as_str().unwrap().to_owned(), parts[2].clone())
}

#[tokio::test]
async fn events_that_are_no_events_are_dropped_and_the_server_serves_on() {
    let (mut socket, _) = peer(|s| s).await;
    send(&mut socket, Bytes::from_static(b"\xc1 not msgpack")).await;
    send(&mut socket, pack(&Value::Array(vec![1.into(), 2.into()]))).await;
    send(&mut socket, pack(&Value::Array(vec![Value::Map(Map::new()), "double".into(), Value::Array(vec![1.into()])])))
        .await;
    send(&mut socket, pack(&Value::from("a string"))).await;
    assert_eq!(double(&mut socket, b"ok-1", 21).await, ("OK".to_owned(), Value::Array(vec![42.into()])));

    // An unknown version is answered, since its id is known.
    send(&mut socket, pack(&event(b"v2", 2, None, "double", vec![1.into()]))).await;
    let answer = next(&mut socket).await;
    let parts = answer.as_array().unwrap();
    assert_eq!(parts[0].as_map().unwrap().get_str("response_to"), Some(&Value::Bytes(b"v2".to_vec())));
    assert_eq!(parts[1].as_str(), Some("ERR"));
    let args = parts[2].as_array().unwrap();
    assert_eq!(args[0].as_str(), Some("Fault(-32600)"));
    assert!(args[1].as_str().unwrap().contains("version 2"), "{args:?}");

    // An unknown method and bad params: faults, as everywhere.
    send(&mut socket, pack(&event(b"nope", 3, None, "nope", vec![]))).await;
    let answer = next(&mut socket).await;
    assert_eq!(answer.as_array().unwrap()[2].as_array().unwrap()[0].as_str(), Some("Fault(-32601)"));
    send(&mut socket, pack(&event(b"bad", 3, None, "double", vec!["x".into()]))).await;
    let answer = next(&mut socket).await;
    assert_eq!(answer.as_array().unwrap()[2].as_array().unwrap()[0].as_str(), Some("Fault(-32602)"));
    assert_eq!(double(&mut socket, b"ok-2", 2).await.0, "OK");
}

#[tokio::test]
async fn a_frame_over_the_limit_is_dropped() {
    let (mut socket, _) = peer(|s| s.max_message_size(1024)).await;
    send(&mut socket, pack(&event(b"big", 3, None, "echo", vec![Value::Bytes(vec![7; 4096])]))).await;
    // The answer that comes is the next call's: the big one was dropped.
    assert_eq!(double(&mut socket, b"after", 4).await, ("OK".to_owned(), Value::Array(vec![8.into()])));
}

#[tokio::test]
async fn a_flood_of_heartbeats_costs_nothing_visible() {
    let (mut socket, _) = peer(|s| s).await;
    for i in 0..20_000u32 {
        let to = format!("nobody-{i}");
        send(
            &mut socket,
            pack(&event(format!("hb-{i}").as_bytes(), 3, Some(to.as_bytes()), "_zpc_hb", vec![0.into()])),
        )
        .await;
    }
    let started = std::time::Instant::now();
    assert_eq!(double(&mut socket, b"after-flood", 5).await.0, "OK");
    assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
}

#[tokio::test]
async fn calls_over_the_channel_limit_are_refused_busy() {
    let (mut socket, _) = peer(|s| s.max_channels(1)).await;
    send(&mut socket, pack(&event(b"slow", 3, None, "sleep", vec![500.into()]))).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    send(&mut socket, pack(&event(b"second", 3, None, "double", vec![1.into()]))).await;
    let busy = next(&mut socket).await;
    let parts = busy.as_array().unwrap();
    assert_eq!(parts[0].as_map().unwrap().get_str("response_to"), Some(&Value::Bytes(b"second".to_vec())));
    assert!(parts[2].as_array().unwrap()[1].as_str().unwrap().contains("busy"), "{busy:?}");
    let slow = next(&mut socket).await;
    assert_eq!(slow.as_array().unwrap()[1].as_str(), Some("OK"));
}

#[tokio::test]
async fn a_peer_that_stops_heartbeating_loses_its_stream() {
    let (mut socket, endpoint) = peer(|s| s.heartbeat(Duration::from_millis(100))).await;
    // A forever stream: the first item comes on the one credit a channel starts with; then nothing more, since
    // this peer grants no more and sends no heartbeat.
    send(&mut socket, pack(&event(b"forever", 3, None, "count", vec![0.into(), 1.into()]))).await;
    let first = next(&mut socket).await;
    assert_eq!(first.as_array().unwrap()[1].as_str(), Some("STREAM"));
    let watcher = rpc_examples::interop::InteropClient::new(
        rpc_zerorpc::Client::builder().heartbeat(Duration::from_millis(100)).connect(&endpoint).await.unwrap(),
    );
    assert_eq!(watcher.streams_open().await.unwrap(), 1);
    // Two silent intervals, and the tick that notices.
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(watcher.streams_open().await.unwrap(), 0, "the silent peer's stream is still open");
}

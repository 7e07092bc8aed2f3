//! The server and client over real sockets: pipelining, concurrency, notifications, errors, calls both ways,
//! timeouts, closing and shutdown.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use common::{Impl, ProbeClient, ProbeServer, Raw, Running, code, notification, request, serve, serve_default};
use rpc_core::{Ext, Fault, Map, Router, Value};
use rpc_msgpack::codec::Message;
use rpc_msgpack::{Client, Server};

#[tokio::test]
async fn the_typed_client_calls_the_server() {
    let (addr, _) = serve_default().await;
    let client = ProbeClient::new(Client::connect(addr).await.unwrap());
    assert_eq!(client.double(8).await.unwrap(), 16);
    assert_eq!(client.sleep(1).await.unwrap(), 1);
}

#[tokio::test]
async fn a_thousand_pipelined_requests_in_one_write_are_all_answered() {
    let (addr, _) = serve_default().await;
    let mut raw = Raw::connect(addr).await;
    let mut batch = Vec::new();
    for id in 0..1000u32 {
        batch.extend(request(id, "double", vec![Value::from(id)]));
    }
    raw.send(&batch).await;
    let mut seen = vec![false; 1000];
    for _ in 0..1000 {
        match raw.recv().await {
            Some(Message::Response { id, result: Ok(v) }) => {
                assert_eq!(v, Value::from(2 * i64::from(id)), "the answer to {id}");
                assert!(!std::mem::replace(&mut seen[id as usize], true), "{id} answered twice");
            }
            other => panic!("{other:?}"),
        }
    }
    assert!(seen.iter().all(|&s| s));
}

#[tokio::test]
async fn a_slow_call_does_not_hold_up_a_fast_one() {
    let (addr, _) = serve_default().await;
    let mut raw = Raw::connect(addr).await;
    let mut batch = request(1, "sleep", vec![500.into()]);
    batch.extend(request(2, "double", vec![4.into()]));
    let started = Instant::now();
    raw.send(&batch).await;
    assert_eq!(raw.response(2).await, Ok(Value::Int(8)));
    assert!(started.elapsed() < Duration::from_millis(400), "the fast call waited {:?}", started.elapsed());
    assert_eq!(raw.response(1).await, Ok(Value::Int(500)));
}

#[tokio::test]
async fn calls_from_many_tasks_share_one_connection() {
    let (addr, _) = serve_default().await;
    let client = Arc::new(ProbeClient::new(Client::connect(addr).await.unwrap()));
    let tasks: Vec<_> = (0..200)
        .map(|i| {
            let client = client.clone();
            tokio::spawn(async move { (i, client.double(i).await.unwrap()) })
        })
        .collect();
    for task in tasks {
        let (i, doubled) = task.await.unwrap();
        assert_eq!(doubled, 2 * i);
    }
}

#[tokio::test]
async fn notifications_run_in_order_without_an_answer() {
    let (addr, state) = serve_default().await;
    let mut raw = Raw::connect(addr).await;
    let mut batch = Vec::new();
    for i in 0..50 {
        batch.extend(notification("record", vec![i.into()]));
    }
    // A notification of an unknown method, or one that panics, is dropped quietly.
    batch.extend(notification("no_such_method", vec![]));
    batch.extend(notification("explode", vec![]));
    batch.extend(request(7, "double", vec![1.into()]));
    raw.send(&batch).await;
    // The first message back is the request's answer: notifications get none.
    assert_eq!(raw.response(7).await, Ok(Value::Int(2)));
    let client = ProbeClient::new(Client::connect(addr).await.unwrap());
    common::eventually(|| state.notes.lock().unwrap().len() >= 50).await;
    assert_eq!(client.notes().await.unwrap(), (0..50).map(Value::from).collect::<Vec<_>>());
    // And the typed client's notify goes out as a notification too.
    rpc_core::Transport::notify(client.transport(), "record", vec!["last".into()]).await.unwrap();
    common::eventually(|| state.notes.lock().unwrap().len() >= 51).await;
    assert_eq!(state.notes.lock().unwrap().last(), Some(&Value::from("last")));
}

#[tokio::test]
async fn errors_are_answered_as_code_and_message() {
    let (addr, _) = serve_default().await;
    let mut raw = Raw::connect(addr).await;
    let cases: Vec<(&str, Vec<Value>, i64, &str)> = vec![
        ("no_such_method", vec![], Fault::METHOD_NOT_FOUND, "no_such_method"),
        ("double", vec!["eight".into()], Fault::INVALID_PARAMS, "num"),
        ("double", vec![], Fault::INVALID_PARAMS, "double"),
        ("explode", vec![], Fault::INTERNAL_ERROR, "panicked"),
        ("fail", vec![42.into(), "my fault".into()], 42, "my fault"),
    ];
    for (i, (method, params, want_code, want_text)) in cases.into_iter().enumerate() {
        let id = i as u32;
        raw.send(&request(id, method, params)).await;
        let error = raw.response(id).await.unwrap_err();
        assert_eq!(code(&error), want_code, "{method}: {error:?}");
        let text = error.as_array().unwrap()[1].as_str().unwrap().to_owned();
        assert!(text.contains(want_text), "{method}: {text}");
    }
    // The server goes on serving on the same connection.
    raw.send(&request(99, "double", vec![5.into()])).await;
    assert_eq!(raw.response(99).await, Ok(Value::Int(10)));
}

#[tokio::test]
async fn invalid_requests_get_invalid_request_and_other_objects_close_the_connection() {
    let (addr, _) = serve_default().await;
    let mut raw = Raw::connect(addr).await;
    let arr = Value::Array;
    // A request whose method is not a string, and one whose params are not an array: -32600 with their ids.
    raw.send(&common::encode_raw(&arr(vec![0.into(), 1.into(), 42.into(), arr(vec![])]))).await;
    assert_eq!(code(&raw.response(1).await.unwrap_err()), Fault::INVALID_REQUEST);
    raw.send(&common::encode_raw(&arr(vec![0.into(), 2.into(), "double".into(), 8.into()]))).await;
    assert_eq!(code(&raw.response(2).await.unwrap_err()), Fault::INVALID_REQUEST);
    raw.send(&request(3, "double", vec![8.into()])).await;
    assert_eq!(raw.response(3).await, Ok(Value::Int(16)));
    // Objects that are no message at all, with no id to answer: the peer does not speak MessagePack-RPC.
    let not_messages = [
        Value::from("hello"),
        arr(vec![9.into(), 1.into()]),
        arr(vec![0.into(), (-1).into(), "double".into(), arr(vec![])]),
        arr(vec![1.into(), 1.into(), Value::Nil]),
    ];
    for object in not_messages {
        let mut raw = Raw::connect(addr).await;
        raw.send(&common::encode_raw(&object)).await;
        assert_eq!(raw.closed().await, [], "{object:?}");
    }
}

#[tokio::test]
async fn method_names_and_strings_may_arrive_as_bin() {
    let (addr, _) = serve_default().await;
    let mut raw = Raw::connect(addr).await;
    let bin = |s: &str| Value::Bytes(s.as_bytes().to_vec());
    let req = Value::Array(vec![0.into(), 1.into(), bin("double"), Value::Array(vec![8.into()])]);
    raw.send(&common::encode_raw(&req)).await;
    assert_eq!(raw.response(1).await, Ok(Value::Int(16)));
    // A String param sent as bin is read as the string.
    let req = Value::Array(vec![0.into(), 2.into(), bin("fail"), Value::Array(vec![3.into(), bin("as bin")])]);
    raw.send(&common::encode_raw(&req)).await;
    assert_eq!(raw.response(2).await, Err(Value::Array(vec![3.into(), "as bin".into()])));
}

#[tokio::test]
async fn values_survive_the_round_trip() {
    let (addr, _) = serve_default().await;
    let client = Client::connect(addr).await.unwrap();
    let mut int_keys = Map::new();
    int_keys.push(1, "one");
    int_keys.push(Value::Nil, Value::Array(vec![]));
    int_keys.push(Value::Bytes(vec![0]), -1);
    let values = vec![
        Value::UInt(u64::MAX),
        Value::Int(i64::MIN),
        Value::Int(i64::MAX),
        Value::Float(-0.0),
        Value::Float(f64::NAN),
        Value::Bytes(vec![0, 255, 1]),
        Value::from("ünïcode"),
        Value::Ext(Ext::new(0, vec![1])),
        Value::Ext(Ext::new(-1, vec![0; 12])),
        Value::Ext(Ext::new(42, vec![7; 300])),
        Value::Map(int_keys),
        Value::Nil,
        Value::Bool(true),
    ];
    for v in values {
        assert_eq!(client.call("echo", vec![v.clone()]).await.unwrap(), v);
    }
}

#[tokio::test]
async fn a_server_handler_calls_the_client_back() {
    let (addr, _) = serve_default().await;
    // The client serves the probe too, so the server can call its `double` and `record`.
    let mine = Impl::default();
    let client =
        ProbeClient::new(Client::builder().handler(ProbeServer::new(mine.clone())).connect(addr).await.unwrap());
    assert_eq!(client.call_back("double", vec![21.into()]).await.unwrap(), Value::Int(42));
    // Calls nest: the server calls the client, whose handler calls the server again.
    let nested = client.call_back("call_back", vec!["double".into(), vec![Value::from(5)].into()]).await;
    assert_eq!(nested.unwrap(), Value::Int(10));
    // An error from the client's handler comes back to the server's handler as a fault, and on to us.
    let err = client.call_back("no_such_method", vec![]).await.unwrap_err();
    assert_eq!(err.as_fault().unwrap().code, Fault::METHOD_NOT_FOUND);
    // Notifications go both ways.
    client.notify_back("record", vec!["from the server".into()]).await.unwrap();
    common::eventually(|| !mine.0.notes.lock().unwrap().is_empty()).await;
    assert_eq!(*mine.0.notes.lock().unwrap(), [Value::from("from the server")]);
}

#[tokio::test]
async fn a_client_without_a_handler_answers_method_not_found() {
    let (addr, _) = serve_default().await;
    let client = ProbeClient::new(Client::connect(addr).await.unwrap());
    let err = client.call_back("double", vec![1.into()]).await.unwrap_err();
    assert_eq!(err.as_fault().unwrap().code, Fault::METHOD_NOT_FOUND);
}

#[tokio::test]
async fn calls_time_out_and_late_answers_are_dropped() {
    let (addr, _) = serve_default().await;
    let client =
        ProbeClient::new(Client::builder().timeout(Some(Duration::from_millis(100))).connect(addr).await.unwrap());
    let err = client.sleep(300).await.unwrap_err();
    assert!(matches!(err, rpc_core::Error::Timeout(_)), "{err}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    // The late answer to the timed-out call did not confuse the next one.
    assert_eq!(client.double(3).await.unwrap(), 6);
}

#[tokio::test]
async fn pending_calls_fail_clearly_when_the_connection_drops() {
    // A "server" that reads requests and then hangs up without answering.
    let listener = rpc_test_support::bind_loopback().await;
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        let mut buf = [0u8; 1024];
        let _ = tokio::io::AsyncReadExt::read(&mut stream, &mut buf).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    });
    let client = Arc::new(Client::connect(addr).await.unwrap());
    let calls: Vec<_> = (0..10)
        .map(|i| {
            let client = client.clone();
            tokio::spawn(async move { client.call("double", vec![i.into()]).await })
        })
        .collect();
    for call in calls {
        let err = call.await.unwrap().unwrap_err();
        assert!(matches!(err, rpc_core::Error::Transport(_)), "{err}");
        assert_eq!(err.to_string(), "transport error: connection closed: the peer closed the connection");
    }
    client.closed().await;
    let err = client.call("double", vec![1.into()]).await.unwrap_err();
    assert!(err.to_string().contains("connection closed"), "{err}");
    // Known closed before it was written: not sent (the calls above were sent, and may have run).
    assert_eq!(err.delivery(), rpc_core::Delivery::NotSent, "{err:?}");
}

#[tokio::test]
async fn handlers_in_flight_are_dropped_when_the_connection_closes() {
    let (addr, state) = serve_default().await;
    let mut raw = Raw::connect(addr).await;
    let mut batch = Vec::new();
    for id in 0..5 {
        batch.extend(request(id, "hang", vec![]));
    }
    raw.send(&batch).await;
    common::eventually(|| state.started.load(Ordering::SeqCst) >= 5).await;
    assert_eq!(state.started.load(Ordering::SeqCst), 5);
    assert_eq!(state.dropped.load(Ordering::SeqCst), 0);
    drop(raw);
    common::eventually(|| state.dropped.load(Ordering::SeqCst) >= 5).await;
    assert_eq!(state.dropped.load(Ordering::SeqCst), 5, "the handlers of a closed connection are dropped");
}

#[tokio::test]
async fn in_flight_calls_per_connection_are_bounded() {
    let (addr, state) = serve(|s| s.max_in_flight(3)).await;
    let mut raw = Raw::connect(addr).await;
    let mut batch = Vec::new();
    for id in 0..10 {
        batch.extend(request(id, "hang", vec![]));
    }
    raw.send(&batch).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(state.started.load(Ordering::SeqCst), 3, "only max_in_flight handlers run at once");
    // Another connection is not held up.
    let client = ProbeClient::new(Client::connect(addr).await.unwrap());
    assert_eq!(client.double(2).await.unwrap(), 4);
}

#[tokio::test]
async fn dropping_the_client_closes_the_connection() {
    let (addr, state) = serve_default().await;
    let client = ProbeClient::new(Client::connect(addr).await.unwrap());
    let call = {
        let transport = client.transport().clone();
        tokio::spawn(async move { transport.call("hang", vec![]).await })
    };
    common::eventually(|| state.started.load(Ordering::SeqCst) >= 1).await;
    drop(client);
    // A clone is still held by the spawned call: the connection stays open until it is gone.
    assert_eq!(state.dropped.load(Ordering::SeqCst), 0);
    call.abort();
    let _ = call.await;
    common::eventually(|| state.dropped.load(Ordering::SeqCst) >= 1).await;
    assert_eq!(state.dropped.load(Ordering::SeqCst), 1, "the server saw the connection close");
}

#[tokio::test]
async fn a_notification_sent_just_before_the_client_is_dropped_is_delivered() {
    let (addr, state) = serve_default().await;
    let client = Client::connect(addr).await.unwrap();
    client.notify("record", vec!["bye".into()]).await.unwrap();
    drop(client);
    common::eventually(|| !state.notes.lock().unwrap().is_empty()).await;
    assert_eq!(*state.notes.lock().unwrap(), [Value::from("bye")]);
}

/// A peer that sends notifications and closes at once (a script, `rpc notify`) still has them all run, in
/// order; a request sent with them goes unanswered (there is no one to answer).
#[tokio::test]
async fn notifications_sent_just_before_the_peer_closes_all_run_in_order() {
    let (addr, state) = serve_default().await;
    let mut raw = Raw::connect(addr).await;
    let mut batch = notification("sleep", vec![100.into()]);
    batch.extend(request(1, "sleep", vec![5_000.into()]));
    for i in 0..5 {
        batch.extend(notification("record", vec![i.into()]));
    }
    raw.send(&batch).await;
    drop(raw);
    common::eventually(|| state.notes.lock().unwrap().len() == 5).await;
    assert_eq!(*state.notes.lock().unwrap(), (0..5).map(Value::from).collect::<Vec<_>>());
}

/// `Client::shutdown` returns only once what was queued is written: the client's runtime is dropped right after
/// it (as when a program exits), and the peer still reads every notification.
#[test]
fn shutdown_writes_every_queued_notification_before_it_returns() {
    use std::io::Read;
    const NOTES: u32 = 40;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let reader = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut bytes = Vec::new();
        stream.read_to_end(&mut bytes).unwrap();
        bytes
    });
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let client = Client::builder().write_queue(NOTES as usize).connect(addr).await.unwrap();
        let big = Value::Bytes(vec![7; 256 * 1024]);
        for i in 0..NOTES {
            client.notify("note", vec![Value::from(i), big.clone()]).await.unwrap();
        }
        client.shutdown().await;
        assert!(client.is_closed());
    });
    drop(runtime);
    let mut bytes = bytes::BytesMut::from(&reader.join().unwrap()[..]);
    let mut codec = rpc_msgpack::codec::Codec::new(1 << 30, 64);
    let mut seen = Vec::new();
    while let Some(value) = tokio_util::codec::Decoder::decode(&mut codec, &mut bytes).unwrap() {
        match Message::from_value(value).unwrap() {
            Message::Notification { params, .. } => seen.push(params[0].clone()),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(seen, (0..NOTES).map(Value::from).collect::<Vec<_>>());
}

#[tokio::test]
async fn graceful_shutdown_finishes_every_call_in_flight_and_refuses_new_ones() {
    let listener = rpc_test_support::bind_loopback().await;
    let mut server = Running::start(listener, |s| s);
    let addr = server.addr;
    let client = ProbeClient::new(Client::connect(addr).await.unwrap());
    let mut raw = Raw::connect(addr).await;
    // Calls in flight on two connections: three through the client, three pipelined on the raw one.
    let slow: Vec<_> = (0..3)
        .map(|_| {
            let transport = client.transport().clone();
            tokio::spawn(async move { transport.call("sleep", vec![300.into()]).await })
        })
        .collect();
    raw.send(&(1..=3).flat_map(|id| request(id, "sleep", vec![300.into()])).collect::<Vec<_>>()).await;
    common::eventually(|| server.state.started.load(Ordering::SeqCst) == 6).await;
    server.stop();
    tokio::time::sleep(Duration::from_millis(50)).await;

    // New calls on open connections are refused with a clear error, and so are new connections.
    let refused = client.double(1).await.unwrap_err();
    assert!(refused.as_fault().is_some_and(|f| f.code == Fault::INTERNAL_ERROR), "{refused}");
    assert!(refused.to_string().contains("the server is shutting down"), "{refused}");
    raw.send(&request(9, "double", vec![1.into()])).await;
    let error = raw.response(9).await.unwrap_err();
    assert_eq!(code(&error), Fault::INTERNAL_ERROR, "{error:?}");
    let err = Client::connect(addr).await.unwrap_err();
    assert!(err.to_string().to_lowercase().contains("refused"), "{err}");

    // Every call in flight completes.
    for call in slow {
        assert_eq!(call.await.unwrap().unwrap(), Value::Int(300));
    }
    let mut answered: Vec<u32> = Vec::new();
    for _ in 0..3 {
        match raw.recv().await {
            Some(Message::Response { id, result: Ok(Value::Int(300)) }) => answered.push(id),
            other => panic!("{other:?}"),
        }
    }
    answered.sort_unstable();
    assert_eq!(answered, [1, 2, 3]);
    // Then the connections close and the server returns.
    assert_eq!(raw.closed().await, []);
    client.transport().closed().await;
    tokio::time::timeout(Duration::from_secs(5), server.done).await.unwrap().unwrap().unwrap();
}

#[tokio::test]
async fn the_shutdown_deadline_closes_connections_whose_calls_hang() {
    let listener = rpc_test_support::bind_loopback().await;
    let deadline = Duration::from_millis(300);
    let mut server = Running::start(listener, |s| s.shutdown_timeout(deadline));
    let client = Client::connect(server.addr).await.unwrap();
    let hanging = {
        let client = client.clone();
        tokio::spawn(async move { client.call("hang", vec![]).await })
    };
    common::eventually(|| server.state.started.load(Ordering::SeqCst) == 1).await;
    let started = Instant::now();
    server.stop();
    tokio::time::timeout(Duration::from_secs(5), &mut server.done).await.unwrap().unwrap().unwrap();
    assert!(started.elapsed() >= deadline, "returned after {:?}", started.elapsed());
    let err = hanging.await.unwrap().unwrap_err();
    assert!(err.to_string().contains("connection closed"), "{err}");
    assert_eq!(server.state.dropped.load(Ordering::SeqCst), 1, "the hanging handler was dropped");
}

#[tokio::test]
async fn a_hanging_handler_costs_its_call_an_error_and_nothing_else() {
    let (addr, state) = serve(|s| s.handler_timeout(Some(Duration::from_millis(200)))).await;
    let mut raw = Raw::connect(addr).await;
    let mut batch = request(1, "hang", vec![]);
    batch.extend(request(2, "double", vec![4.into()]));
    // A hanging notification would hold up the ones behind it (they run in order): it is bounded too.
    batch.extend(notification("hang", vec![]));
    batch.extend(notification("record", vec!["after the hang".into()]));
    raw.send(&batch).await;
    assert_eq!(raw.response(2).await, Ok(Value::Int(8)));
    let error = raw.response(1).await.unwrap_err();
    assert_eq!(code(&error), Fault::INTERNAL_ERROR, "{error:?}");
    let text = error.as_array().unwrap()[1].as_str().unwrap().to_owned();
    assert!(text.contains("hang") && text.contains("did not finish within 200ms"), "{text}");
    common::eventually(|| state.dropped.load(Ordering::SeqCst) >= 2).await;
    assert_eq!(state.dropped.load(Ordering::SeqCst), 2, "the timed-out handlers are dropped");
    common::eventually(|| !state.notes.lock().unwrap().is_empty()).await;
    assert_eq!(*state.notes.lock().unwrap(), [Value::from("after the hang")]);
    // The connection goes on.
    raw.send(&request(3, "double", vec![5.into()])).await;
    assert_eq!(raw.response(3).await, Ok(Value::Int(10)));
}

#[tokio::test]
async fn a_clients_hanging_handler_answers_the_server_with_an_error() {
    let (addr, _) = serve_default().await;
    let mine = Impl::default();
    let client = Client::builder()
        .handler(ProbeServer::new(mine.clone()))
        .handler_timeout(Some(Duration::from_millis(200)))
        .connect(addr)
        .await
        .unwrap();
    let client = ProbeClient::new(client);
    // The server calls the client's `hang`, which times out: the server's handler gets -32603 and passes it on.
    let err = client.call_back("hang", vec![]).await.unwrap_err();
    let fault = err.as_fault().expect("a fault");
    assert_eq!(fault.code, Fault::INTERNAL_ERROR, "{fault:?}");
    assert!(fault.message.contains("did not finish within 200ms"), "{fault:?}");
    assert_eq!(mine.0.dropped.load(Ordering::SeqCst), 1);
    assert_eq!(client.double(2).await.unwrap(), 4);
}

#[tokio::test]
async fn calls_in_flight_across_connections_are_bounded_with_backpressure() {
    let (addr, state) = serve(|s| s.max_in_flight_total(4).max_in_flight(3)).await;
    let hangs = |ids: std::ops::Range<u32>| ids.flat_map(|id| request(id, "hang", vec![])).collect::<Vec<_>>();
    let mut first = Raw::connect(addr).await;
    first.send(&hangs(0..3)).await;
    common::eventually(|| state.started.load(Ordering::SeqCst) == 3).await;
    let mut second = Raw::connect(addr).await;
    second.send(&hangs(0..3)).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(state.started.load(Ordering::SeqCst), 4, "max_in_flight_total calls run at once, in all");
    // A call on a third connection waits for room: it is neither refused nor run.
    let client = ProbeClient::new(Client::connect(addr).await.unwrap());
    let waiting = tokio::spawn(async move { client.double(21).await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!waiting.is_finished(), "the call ran over the total limit");
    // When the first connection goes, its calls free their room: the others start, the waiting call runs.
    drop(first);
    assert_eq!(tokio::time::timeout(Duration::from_secs(5), waiting).await.unwrap().unwrap().unwrap(), 42);
    assert_eq!(state.started.load(Ordering::SeqCst), 6);
    drop(second);
}

#[tokio::test]
async fn idle_connections_are_closed_when_asked_and_busy_ones_are_not() {
    let idle = Duration::from_millis(300);
    let (addr, _) = serve(|s| s.idle_timeout(Some(idle))).await;
    let started = Instant::now();
    // Silent, and stopped half-way through a message: both closed after the idle timeout.
    let mut silent = Raw::connect(addr).await;
    let mut stalled = Raw::connect(addr).await;
    stalled.send(&[0x94, 0x00]).await;
    assert_eq!(silent.closed().await, []);
    assert_eq!(stalled.closed().await, []);
    assert!(started.elapsed() >= idle, "closed after {:?}", started.elapsed());
    // A call that runs longer than the idle timeout keeps its connection open until it is answered.
    let mut busy = Raw::connect(addr).await;
    busy.send(&request(1, "sleep", vec![700.into()])).await;
    assert_eq!(busy.response(1).await, Ok(Value::Int(700)));
    // A client that keeps calling is never idle; once it stops, its connection closes and it is told so.
    let client = Client::connect(addr).await.unwrap();
    for i in 0..8 {
        assert_eq!(client.call("double", vec![i.into()]).await.unwrap(), Value::Int(2 * i));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::timeout(Duration::from_secs(5), client.closed()).await.expect("closed once idle");
    let err = client.call("double", vec![1.into()]).await.unwrap_err();
    assert!(err.to_string().contains("connection closed"), "{err}");
}

#[cfg(unix)]
#[tokio::test]
async fn unix_sockets_work_both_ways() {
    let dir = rpc_test_support::TempDir::new("rpc-msgpack");
    let path = dir.path().join("rpc.sock");
    let listener = tokio::net::UnixListener::bind(&path).unwrap();
    tokio::spawn(Server::new(ProbeServer::new(Impl::default())).serve(listener));
    let mine = Impl::default();
    let client = Client::builder().handler(ProbeServer::new(mine)).connect_unix(&path).await.unwrap();
    let client = ProbeClient::new(client);
    assert_eq!(client.double(8).await.unwrap(), 16);
    assert_eq!(client.call_back("double", vec![2.into()]).await.unwrap(), Value::Int(4));
}

#[tokio::test]
async fn any_byte_stream_can_carry_a_connection() {
    let (client_io, server_io) = tokio::io::duplex(64);
    let server = Server::new(ProbeServer::new(Impl::default()));
    let serving = tokio::spawn(async move {
        let (r, w) = tokio::io::split(server_io);
        server.serve_connection(r, w, rpc_core::Context::new()).await
    });
    let (r, w) = tokio::io::split(client_io);
    let client = ProbeClient::new(Client::builder().connect_io(r, w));
    // Bigger than the duplex's buffer: the writes go through in pieces.
    let big = Value::from("x".repeat(10_000));
    assert_eq!(client.echo(big.clone()).await.unwrap(), big);
    assert_eq!(client.double(8).await.unwrap(), 16);
    drop(client);
    serving.await.unwrap().unwrap();
}

#[tokio::test]
async fn a_router_serves_several_services() {
    let router = Router::new().mount_prefixed("probe", ProbeServer::new(Impl::default()));
    let listener = rpc_test_support::bind_loopback().await;
    let addr = listener.local_addr().unwrap();
    tokio::spawn(Server::new(router).serve(listener));
    let client = Client::connect(addr).await.unwrap();
    assert_eq!(client.call("probe.double", vec![4.into()]).await.unwrap(), Value::Int(8));
}

/// The typed path is the one taken: generated clients serialise params straight to the wire and read results
/// straight from it, and the server reads the params of calls and notifications straight into the handler's
/// types (a `PathProbe` read from a `Value` would say so).
#[tokio::test]
async fn generated_code_takes_the_typed_path_both_ways() {
    use rpc_test_support::PathProbe;

    #[rpc_core::service]
    trait Paths {
        /// Says how the server read `probe`, in a probe the client reads.
        async fn path(&self, probe: PathProbe) -> PathProbe;
        /// Remembers how the server read `probe`.
        async fn note(&self, probe: PathProbe);
        /// How the last `note` was read.
        async fn last_note(&self) -> Option<String>;
    }
    #[derive(Default)]
    struct Impl(std::sync::Mutex<Option<String>>);
    fn how(probe: &PathProbe) -> &'static str {
        if probe.borrowed { "typed" } else { "value" }
    }
    impl Paths for Impl {
        async fn path(&self, probe: PathProbe) -> PathProbe {
            PathProbe::new(how(&probe))
        }
        async fn note(&self, probe: PathProbe) {
            *self.0.lock().unwrap() = Some(how(&probe).to_owned());
        }
        async fn last_note(&self) -> Option<String> {
            self.0.lock().unwrap().clone()
        }
    }

    let listener = rpc_test_support::bind_loopback().await;
    let addr = listener.local_addr().unwrap();
    tokio::spawn(Server::new(PathsServer::new(Impl::default())).serve(listener));
    let client = PathsClient::new(Client::connect(addr).await.unwrap());
    let answer = client.path(PathProbe::new("x")).await.unwrap();
    assert_eq!((answer.text.as_str(), answer.borrowed), ("typed", true));
    // The value API alongside: the server reads the params of any request straight.
    let value = client.transport().call("path", vec!["x".into()]).await.unwrap();
    assert_eq!(value, Value::from("typed"));
    client.transport().notify("note", vec!["x".into()]).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut noted = None;
    while noted.is_none() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
        noted = client.last_note().await.unwrap();
    }
    assert_eq!(noted.as_deref(), Some("typed"));
}

#[tokio::test]
async fn websocket_carries_it_in_binary_frames() {
    let listener = rpc_test_support::bind_loopback().await;
    let url = format!("ws://{}/", listener.local_addr().unwrap());
    tokio::spawn(Server::new(ProbeServer::new(Impl::default())).serve_ws(listener));
    let client = Client::builder().handler(ProbeServer::new(Impl::default())).connect_ws(&url).await.unwrap();
    let client = ProbeClient::new(client);
    assert_eq!(client.double(8).await.unwrap(), 16);
    let big = Value::Bytes(vec![0xc1; 100_000]);
    assert_eq!(client.echo(big.clone()).await.unwrap(), big);
    assert_eq!(client.call_back("double", vec![2.into()]).await.unwrap(), Value::Int(4));
}

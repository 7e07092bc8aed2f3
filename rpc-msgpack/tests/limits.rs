//! Hostile peers: malformed bytes, huge declared lengths, deep nesting, a client that never reads. Each test
//! here runs alone (a lock) under an allocator that counts heap bytes, so "no large allocation" and "bounded
//! memory" are measured, not assumed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::alloc::System;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use cap::Cap;
use common::{ProbeClient, Raw, code, request, serve};
use rpc_core::{Fault, Value};
use rpc_msgpack::Client;
use rpc_msgpack::codec::Message;
use tokio::io::AsyncWriteExt;

#[global_allocator]
static HEAP: Cap<System> = Cap::new(System, usize::MAX);

/// The tests of this file, one at a time: they measure the whole process's heap.
static ALONE: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const MIB: usize = 1024 * 1024;

/// The probe with the default settings, and a client of it that must go on being served whatever others do.
async fn serve_with_bystander() -> (std::net::SocketAddr, ProbeClient<Client>) {
    common::init_tracing();
    let (addr, _) = serve(|s| s).await;
    let bystander = ProbeClient::new(Client::connect(addr).await.unwrap());
    assert_eq!(bystander.double(1).await.unwrap(), 2);
    (addr, bystander)
}

/// What each hostile stream gets: an error reply to the request it was in (if its id could be read), then the
/// connection closed.
#[tokio::test]
async fn hostile_bytes_close_only_their_connection_without_large_allocations() {
    let _alone = ALONE.lock().await;
    let (addr, bystander) = serve_with_bystander().await;
    let peak_before = HEAP.max_allocated();

    let four_gib = [0xff, 0xff, 0xff, 0xff];
    let in_request = |id: u8, rest: &[u8]| [&[0x94, 0x00, id][..], rest].concat();
    let mut deep = in_request(9, &[0xa1, b'x']);
    deep.extend(std::iter::repeat_n(0x91, 100_000));
    deep.push(0x01);
    /// What is sent, its bytes, and the (msgid, code) of the error reply it gets, if any.
    type Case = (&'static str, Vec<u8>, Option<(u32, i64)>);
    let cases: Vec<Case> = vec![
        ("the reserved byte 0xc1", vec![0xc1], None),
        ("0xc1 inside a request", in_request(1, &[0xc1]), Some((1, Fault::PARSE_ERROR))),
        ("a str32 declaring 4 GiB", [&[0xdb][..], &four_gib].concat(), None),
        ("a request whose method is a str32 of 4 GiB", in_request(2, &[&[0xdb][..], &four_gib].concat()), {
            Some((2, Fault::INVALID_REQUEST))
        }),
        ("a bin32 of 4 GiB", [&[0xc6][..], &four_gib].concat(), None),
        ("an ext32 of 4 GiB", [&[0xc9][..], &four_gib, &[1]].concat(), None),
        ("an array32 of 4G items", [&[0xdd][..], &four_gib].concat(), None),
        ("a map32 of 4G entries", [&[0xdf][..], &four_gib].concat(), None),
        ("100,000-deep nesting", deep, Some((9, Fault::INVALID_REQUEST))),
        ("an HTTP request", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(), None),
    ];
    for (what, bytes, reply) in cases {
        let mut raw = Raw::connect(addr).await;
        raw.send(&bytes).await;
        let got = raw.closed().await;
        match reply {
            None => assert!(got.is_empty(), "{what}: {got:?}"),
            Some((id, want)) => match &got[..] {
                [rpc_msgpack::codec::Message::Response { id: got_id, result: Err(e) }] => {
                    assert_eq!((*got_id, code(e)), (id, want), "{what}: {e:?}");
                }
                other => panic!("{what}: {other:?}"),
            },
        }
        // Everyone else is still served.
        assert_eq!(bystander.double(2).await.unwrap(), 4, "after {what}");
    }

    // A stream that ends inside a message is closed too.
    let mut raw = Raw::connect(addr).await;
    raw.send(&[0x92, 0x01]).await;
    raw.stream.shutdown().await.unwrap();
    assert_eq!(raw.closed().await, []);
    assert_eq!(bystander.double(3).await.unwrap(), 6);

    let peak = HEAP.max_allocated();
    assert!(peak < peak_before + 16 * MIB, "the heap peaked at {} MiB (from {} MiB)", peak / MIB, peak_before / MIB);
}

#[tokio::test]
async fn a_message_over_the_size_limit_is_refused_and_its_connection_closed() {
    let _alone = ALONE.lock().await;
    let (addr, _) = serve(|s| s.max_message_size(MIB)).await;
    let mut raw = Raw::connect(addr).await;
    // Just under the limit is fine.
    let fits = Value::from("x".repeat(MIB - 100));
    raw.send(&request(1, "echo", vec![fits.clone()])).await;
    assert_eq!(raw.response(1).await, Ok(fits));
    // Over it: the request's header announces the size, so it is refused before the rest is read.
    raw.send(&request(2, "echo", vec![Value::from("x".repeat(2 * MIB))])).await;
    let error = raw.response(2).await.unwrap_err();
    assert_eq!(code(&error), Fault::INVALID_REQUEST, "{error:?}");
    assert!(error.as_array().unwrap()[1].as_str().unwrap().contains("over the limit of 1048576 bytes"));
    assert_eq!(raw.closed().await, []);
}

#[tokio::test]
async fn a_client_that_never_reads_cannot_grow_server_memory() {
    let _alone = ALONE.lock().await;
    let (addr, state) = serve(|s| s.max_in_flight(8).write_queue(8)).await;
    let live_before = HEAP.allocated();
    let mut raw = Raw::connect(addr).await;
    // 5,000 calls answered with 64 KiB each: 312 MiB of answers if the server buffered them all.
    const CALLS: u32 = 5000;
    for chunk in (0..CALLS).collect::<Vec<_>>().chunks(100) {
        let batch: Vec<u8> = chunk.iter().flat_map(|&id| request(id, "blob", vec![65536.into()])).collect();
        tokio::time::timeout(Duration::from_secs(5), raw.send(&batch)).await.expect("the requests fit in buffers");
    }
    // Wait for the server to stall: it has filled the sockets' buffers and its own bounded queues.
    let mut last = 0;
    let mut still_since = Instant::now();
    let deadline = Instant::now() + Duration::from_secs(20);
    while still_since.elapsed() < Duration::from_millis(500) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let now = state.started.load(Ordering::SeqCst);
        if now != last {
            last = now;
            still_since = Instant::now();
        }
    }
    let started = state.started.load(Ordering::SeqCst);
    let live = HEAP.allocated();
    // The kernel holds what fits in the two sockets' buffers (tens of MiB on loopback); the server holds at
    // most max_in_flight + write_queue answers and one write buffer.
    assert!(started < 1200, "the server kept starting calls for a client that does not read: {started}");
    assert!(
        live < live_before + 32 * MIB,
        "the server's heap grew by {} MiB for a client that does not read",
        (live - live_before) / MIB
    );
    // Other clients are still served.
    let other = ProbeClient::new(Client::connect(addr).await.unwrap());
    assert_eq!(other.double(21).await.unwrap(), 42);
    // Once the client goes, so does what the server held for it.
    drop(raw);
    common::eventually(|| HEAP.allocated() <= live_before + 4 * MIB).await;
    assert!(HEAP.allocated() < live_before + 4 * MIB, "{} MiB still held", (HEAP.allocated() - live_before) / MIB);
}

/// What a server does with a message that is well-framed but cannot be taken as the call it looks like.
#[derive(Debug)]
enum Outcome {
    /// The request is answered (the result, or an error object with this code) and the connection goes on.
    Answered(u32, Result<Value, i64>),
    /// The connection is closed, after an error reply with this (msgid, code) if there is one.
    Closed(Option<(u32, i64)>),
}

#[tokio::test]
async fn bad_strings_msgids_and_length_bombs_in_requests_are_answered_or_close_their_connection() {
    let _alone = ALONE.lock().await;
    let (addr, bystander) = serve_with_bystander().await;
    let peak_before = HEAP.max_allocated();
    let str_of = |s: &[u8]| [&[0xa0 | s.len() as u8][..], s].concat();
    let not_utf8 = str_of(&[0xff, 0xfe, 0xc3]);
    // [0, id, method, params] with the method and params given as raw bytes.
    let raw_request = |id: u8, method: &[u8], params: &[u8]| [&[0x94, 0x00, id][..], method, params].concat();
    // [0, id, method, [param]] with the one param given as raw bytes.
    let with_param =
        |id: u8, method: &[u8], param: &[u8]| raw_request(id, &str_of(method), &[&[0x91][..], param].concat());
    let msgid = |id: Value| common::encode_raw(&Value::Array(vec![0.into(), id, "double".into(), vec![1].into()]));
    let bomb = |marker: u8| [&[marker][..], &[0xff; 4]].concat();
    let closed_with = |id: u32| Outcome::Closed(Some((id, Fault::INVALID_REQUEST)));
    let bad_response = common::encode_raw(&Value::Array(vec![1.into(), (-1).into(), Value::Nil, 1.into()]));
    let cases: Vec<(&str, Vec<u8>, Outcome)> = vec![
        // Invalid UTF-8 where a method name is expected: -32600, and the stream goes on.
        ("a method name that is not UTF-8", raw_request(1, &not_utf8, &[0x90]), {
            Outcome::Answered(1, Err(Fault::INVALID_REQUEST))
        }),
        // In params, a str that is not UTF-8 keeps its bytes (Vim strings are bytes), and is no `String`.
        ("a str param that is not UTF-8, as a value", with_param(2, b"echo", &not_utf8), {
            Outcome::Answered(2, Ok(Value::Bytes(vec![0xff, 0xfe, 0xc3])))
        }),
        (
            "a str param that is not UTF-8, for a String",
            raw_request(3, &str_of(b"fail"), &[&[0x92, 0x01][..], &not_utf8].concat()),
            { Outcome::Answered(3, Err(Fault::INVALID_PARAMS)) },
        ),
        // No msgid to answer: the peer does not speak MessagePack-RPC.
        (
            "a notification whose method is not UTF-8",
            [&[0x93, 0x02][..], &not_utf8, &[0x90]].concat(),
            Outcome::Closed(None),
        ),
        ("a negative msgid", msgid(Value::Int(-1)), Outcome::Closed(None)),
        ("a msgid of 2^32", msgid(Value::Int(1 << 32)), Outcome::Closed(None)),
        ("a msgid of u64::MAX", msgid(Value::UInt(u64::MAX)), Outcome::Closed(None)),
        ("a float msgid", msgid(Value::Float(1.0)), Outcome::Closed(None)),
        ("a str msgid", msgid(Value::from("1")), Outcome::Closed(None)),
        ("a nil msgid", msgid(Value::Nil), Outcome::Closed(None)),
        ("a response with a negative msgid", bad_response, Outcome::Closed(None)),
        // Length bombs inside a request whose msgid is readable: -32600, then closed (nothing allocated).
        ("params of an array32 of 2^32-1 items", raw_request(4, &str_of(b"echo"), &bomb(0xdd)), closed_with(4)),
        ("a param of a map32 of 2^32-1 entries", with_param(5, b"echo", &bomb(0xdf)), closed_with(5)),
        ("a param of a bin32 of 2^32-1 bytes", with_param(6, b"echo", &bomb(0xc6)), closed_with(6)),
        ("a param of a str32 of 2^32-1 bytes", with_param(7, b"echo", &bomb(0xdb)), closed_with(7)),
    ];
    for (what, bytes, outcome) in cases {
        let mut raw = Raw::connect(addr).await;
        raw.send(&bytes).await;
        match outcome {
            Outcome::Answered(id, want) => {
                let got = raw.response(id).await.map_err(|e| code(&e));
                assert_eq!(got, want, "{what}");
                raw.send(&request(99, "double", vec![4.into()])).await;
                assert_eq!(raw.response(99).await, Ok(Value::Int(8)), "the connection goes on after {what}");
            }
            Outcome::Closed(reply) => {
                let got = raw.closed().await;
                let got: Vec<_> = got
                    .iter()
                    .map(|m| match m {
                        Message::Response { id, result: Err(e) } => (*id, code(e)),
                        other => panic!("{what}: {other:?}"),
                    })
                    .collect();
                assert_eq!(got, reply.into_iter().collect::<Vec<_>>(), "{what}");
            }
        }
        assert_eq!(bystander.double(2).await.unwrap(), 4, "after {what}");
    }
    let peak = HEAP.max_allocated();
    assert!(peak < peak_before + 16 * MIB, "the heap peaked at {} MiB (from {} MiB)", peak / MIB, peak_before / MIB);
}

#[tokio::test]
async fn a_message_dripped_one_byte_at_a_time_is_read_without_growing_memory() {
    let _alone = ALONE.lock().await;
    let (addr, _) = serve(|s| s).await;
    // 20,000 small items: a decoder that re-parsed from the start on every byte would walk 200 million items.
    let items: Vec<Value> = (0..20_000).map(|i| Value::from(i % 100)).collect();
    let message = request(1, "echo", vec![Value::Array(items.clone())]);
    let peak_before = HEAP.max_allocated();
    let mut raw = Raw::connect(addr).await;
    let started = Instant::now();
    for (i, byte) in message.iter().enumerate() {
        raw.send(&[*byte]).await;
        // Now and then, let the server read what has come so far, so it really arrives in small pieces.
        if i % 1000 == 0 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
    assert_eq!(raw.response(1).await, Ok(Value::Array(items)));
    let elapsed = started.elapsed();
    let peak = HEAP.max_allocated();
    assert!(peak < peak_before + 4 * MIB, "the heap peaked {} KiB higher", (peak - peak_before) / 1024);
    assert!(elapsed < Duration::from_secs(30), "dripping {} bytes took {elapsed:?}", message.len());
    // The same connection goes on.
    raw.send(&request(2, "double", vec![4.into()])).await;
    assert_eq!(raw.response(2).await, Ok(Value::Int(8)));
}

/// 4,000 idle connections (4,000 client sockets plus the server's 4,000 stay well under the process's
/// file-descriptor limit; 10,000 of each would not), first silent since they connected, then quiet after one
/// call each: the server's heap per idle connection, measured in this process, is under 4 KiB and 16 KiB, so
/// 10,000 of them cost it under 40 MiB and 160 MiB. The client sockets' own bookkeeping is counted too, so the
/// real figures are lower.
#[tokio::test]
async fn idle_connections_cost_little_memory_each() {
    let _alone = ALONE.lock().await;
    const CONNECTIONS: usize = 4000;
    let (addr, bystander) = serve_with_bystander().await;
    // Warm up the runtime, the listener and the allocator's caches before measuring.
    drop(call_once(tokio::net::TcpStream::connect(addr).await.unwrap(), 0).await);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let before = HEAP.allocated();
    let per_connection = || HEAP.allocated().saturating_sub(before) / CONNECTIONS;

    let mut silent = Vec::with_capacity(CONNECTIONS);
    // In groups of 50: many more connecting at once overflow loopback's SYN queue, and retries take a second.
    for _ in (0..CONNECTIONS).step_by(50) {
        let opening: Vec<_> = (0..50).map(|_| tokio::spawn(tokio::net::TcpStream::connect(addr))).collect();
        for open in opening {
            silent.push(open.await.unwrap().unwrap());
        }
    }
    // Once the bystander's call is answered, the server has accepted every connection made before it.
    assert_eq!(bystander.double(1).await.unwrap(), 2);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let each = per_connection();
    assert!(each < 4 * 1024, "{each} bytes per connection that has sent nothing");

    let mut quiet = Vec::with_capacity(CONNECTIONS);
    let mut ids = 0..;
    while !silent.is_empty() {
        let group: Vec<_> = silent.drain(..silent.len().min(50)).collect();
        let calling: Vec<_> = group.into_iter().map(|s| tokio::spawn(call_once(s, ids.next().unwrap()))).collect();
        for call in calling {
            quiet.push(call.await.unwrap());
        }
    }
    // Let every connection settle into waiting for its next message.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let each = per_connection();
    assert!(each < 16 * 1024, "{each} bytes per connection quiet after a call");

    // The server still serves a normal client.
    assert_eq!(bystander.double(21).await.unwrap(), 42);
    // And what the connections held goes with them.
    drop(quiet);
    common::eventually(|| HEAP.allocated() <= before + MIB).await;
    assert!(HEAP.allocated() <= before + MIB, "{} KiB still held", HEAP.allocated().saturating_sub(before) / 1024);
}

/// `stream` once it has called `double` and read the answer, holding nothing but its socket.
async fn call_once(mut stream: tokio::net::TcpStream, id: u32) -> tokio::net::TcpStream {
    use tokio::io::AsyncReadExt;
    stream.write_all(&request(id, "double", vec![1.into()])).await.unwrap();
    let answer = common::encode(&Message::Response { id, result: Ok(Value::Int(2)) });
    let mut buf = [0u8; 16];
    stream.read_exact(&mut buf[..answer.len()]).await.unwrap();
    assert_eq!(buf[..answer.len()], answer[..]);
    stream
}

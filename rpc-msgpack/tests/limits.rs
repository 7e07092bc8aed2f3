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
use tokio::io::AsyncWriteExt;

#[global_allocator]
static HEAP: Cap<System> = Cap::new(System, usize::MAX);

/// The tests of this file, one at a time: they measure the whole process's heap.
static ALONE: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const MIB: usize = 1024 * 1024;

/// What each hostile stream gets: an error reply to the request it was in (if its id could be read), then the
/// connection closed.
#[tokio::test]
async fn hostile_bytes_close_only_their_connection_without_large_allocations() {
    let _alone = ALONE.lock().await;
    common::init_tracing();
    let (addr, _) = serve(|s| s).await;
    let bystander = ProbeClient::new(Client::connect(addr).await.unwrap());
    assert_eq!(bystander.double(1).await.unwrap(), 2);
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

//! Hostile peers against the XML-RPC server (and so the shared HTTP server): each case asserts the answer,
//! that a normal client is still served afterwards, and that the heap stays bounded. The tests of this file run
//! one at a time under an allocator that counts heap bytes, so "bounded" is measured, not assumed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::time::{Duration, Instant};

use rpc_core::{Fault, Transport, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

mod common;
use common::{client, raw, start};

#[global_allocator]
static HEAP: rpc_test_support::CountingAlloc = rpc_test_support::CountingAlloc::new();

/// One test at a time: they measure the whole process's heap.
static ALONE: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const MIB: usize = 1024 * 1024;

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

fn request(headers: &str, body: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "POST /RPC2 HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\nConnection: close\r\n{headers}\r\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body);
    out
}

fn fault_code(resp: &str) -> Option<i64> {
    let body = &resp[resp.find("\r\n\r\n")? + 4..];
    rpc_xml::codec::decode_response(body.as_bytes(), 8).ok()?.err().map(|f| f.code)
}

#[tokio::test]
async fn hostile_bodies_get_their_answer_with_bounded_memory() {
    let _alone = ALONE.lock().await;
    let s = start(|s| s).await;
    let c = client(s.addr);
    assert_eq!(c.call("double", vec![1.into()]).await.unwrap(), Value::Int(2));

    let laughs = {
        let mut doc = String::from("<?xml version='1.0'?><!DOCTYPE lolz [<!ENTITY lol 'lol'>");
        doc.push_str("<!ENTITY lol1 '&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;'>");
        for i in 2..10 {
            let prev = format!("&lol{};", i - 1);
            doc.push_str(&format!("<!ENTITY lol{i} '{}'>", prev.repeat(10)));
        }
        doc.push_str("]><methodCall><methodName>&lol9;</methodName></methodCall>");
        doc.into_bytes()
    };
    let xxe = b"<?xml version='1.0'?><!DOCTYPE x [<!ENTITY xxe SYSTEM 'file:///etc/passwd'>]>\
                <methodCall><methodName>echo</methodName><params><param><value>&xxe;</value></param></params></methodCall>"
        .to_vec();
    let deep = {
        let mut doc = String::from("<methodCall><methodName>echo</methodName><params><param>");
        doc.push_str(&"<value><array><data>".repeat(100_000));
        doc.push_str(&"</data></array></value>".repeat(100_000));
        doc.push_str("</param></params></methodCall>");
        doc.into_bytes()
    };
    let entry = "<value><struct><member><name>methodName</name><value>double</value></member>\
                 <member><name>params</name><value><array><data><value><int>1</int></value></data></array></value>\
                 </member></struct></value>";
    let million = format!(
        "<methodCall><methodName>system.multicall</methodName><params><param><value><array><data>{}</data></array>\
         </value></param></params></methodCall>",
        entry.repeat(1_000_000)
    )
    .into_bytes();
    let million_gz = gzip(&million);
    let bomb = gzip(&vec![b' '; 256 * MIB]);
    let over_cap = format!(
        "<methodCall><methodName>system.multicall</methodName><params><param><value><array><data>{}</data></array>\
         </value></param></params></methodCall>",
        entry.repeat(1001)
    );

    enum Want {
        Fault(i64),
        Status(u16),
    }
    let cases: Vec<(&str, Vec<u8>, Want)> = vec![
        ("billion laughs", request("", &laughs), Want::Fault(Fault::PARSE_ERROR)),
        ("external entity", request("", &xxe), Want::Fault(Fault::PARSE_ERROR)),
        ("100,000-deep nesting", request("", &deep), Want::Fault(Fault::INVALID_REQUEST)),
        (
            "a Content-Length of 4 GiB with a short body",
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4294967296\r\n\r\n<methodCall>".to_vec(),
            Want::Status(413),
        ),
        ("a 256 MiB gzip bomb", request("Content-Encoding: gzip\r\n", &bomb), Want::Status(413)),
        ("a multicall of 1,000,000 calls", request("", &million), Want::Status(413)),
        (
            "a multicall of 1,000,000 calls, gzipped under the size limit",
            request("Content-Encoding: gzip\r\n", &million_gz),
            Want::Status(413),
        ),
        ("a multicall over the call cap", request("", over_cap.as_bytes()), Want::Fault(Fault::INVALID_REQUEST)),
    ];
    drop((laughs, xxe, deep, million, bomb));
    for (what, bytes, want) in cases {
        let base = HEAP.in_use();
        HEAP.reset_peak();
        let resp = raw(s.addr, &bytes).await;
        drop(bytes);
        match want {
            Want::Fault(code) => {
                assert!(resp.starts_with("HTTP/1.1 200"), "{what}: {}", &resp[..resp.len().min(200)]);
                assert_eq!(fault_code(&resp), Some(code), "{what}: {}", &resp[..resp.len().min(400)]);
            }
            Want::Status(code) => {
                assert!(resp.starts_with(&format!("HTTP/1.1 {code}")), "{what}: {}", &resp[..resp.len().min(200)])
            }
        }
        let grew = HEAP.peak().saturating_sub(base);
        // The body limit is 16 MiB (and 16 MiB inflated): nothing may cost much more than holding that.
        assert!(grew < 48 * MIB, "{what}: the heap grew by {} MiB", grew / MIB);
        assert_eq!(c.call("double", vec![21.into()]).await.unwrap(), Value::Int(42), "after {what}");
    }
}

#[tokio::test]
async fn slowloris_headers_and_bodies_are_cut_off() {
    let _alone = ALONE.lock().await;
    let s = start(|s| s.header_read_timeout(Duration::from_millis(800)).body_read_timeout(Duration::from_millis(800)))
        .await;
    // Headers one byte at a time, 100 ms apart: the header deadline is total, not per byte.
    let mut conn = TcpStream::connect(s.addr).await.unwrap();
    let started = Instant::now();
    let head = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n";
    let mut closed = false;
    for b in head {
        if conn.write_all(&[*b]).await.is_err() {
            closed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        if started.elapsed() > Duration::from_secs(3) {
            break;
        }
    }
    let mut buf = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(3), conn.read_to_end(&mut buf)).await;
    assert!(closed || read.is_ok(), "a header dripped byte by byte kept the connection open");
    assert!(started.elapsed() < Duration::from_secs(5));
    // A body one byte at a time: 408.
    let mut conn = TcpStream::connect(s.addr).await.unwrap();
    conn.write_all(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n").await.unwrap();
    let started = Instant::now();
    let dripping = async {
        for _ in 0..100 {
            if conn.write_all(b"<").await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    let _ = tokio::time::timeout(Duration::from_millis(1500), dripping).await;
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(3), conn.read_to_end(&mut buf)).await;
    let resp = String::from_utf8_lossy(&buf);
    assert!(resp.starts_with("HTTP/1.1 408"), "{resp}");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(client(s.addr).call("double", vec![3.into()]).await.unwrap(), Value::Int(6));
}

#[tokio::test]
async fn idle_connections_cost_little_and_do_not_block_others() {
    let _alone = ALONE.lock().await;
    let s = start(|s| s).await;
    let c = client(s.addr);
    assert_eq!(c.call("double", vec![1.into()]).await.unwrap(), Value::Int(2));
    // 4,000 here (the process's file-descriptor limit must hold both ends); the cost per connection is what
    // matters: 10,000 cost 2.5 times as much.
    const N: usize = 4000;
    let before = HEAP.in_use();
    let mut idle = Vec::with_capacity(N);
    for _ in 0..N {
        idle.push(TcpStream::connect(s.addr).await.unwrap());
    }
    // Let the server accept them all and park each connection waiting for a request.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(c.call("double", vec![2.into()]).await.unwrap(), Value::Int(4), "served while {N} sit idle");
    let per_connection = HEAP.in_use().saturating_sub(before) / N;
    assert!(per_connection < 16 * 1024, "{per_connection} bytes per idle connection");
    drop(idle);
}

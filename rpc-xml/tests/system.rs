//! `system.multicall`, introspection and gzip, over real sockets.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};

use rpc_core::{Error, Fault, Map, Transport, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

mod common;
use common::{client, start};

fn strings(v: &Value) -> Vec<&str> {
    v.as_array().unwrap().iter().map(|s| s.as_str().unwrap()).collect()
}

fn entry(name: &str, params: Vec<Value>) -> Value {
    let mut m = Map::new();
    m.push("methodName", name);
    m.push("params", Value::Array(params));
    Value::Map(m)
}

fn fault_of(v: &Value) -> (i64, String) {
    let m = v.as_map().expect("a fault struct");
    (m.get_str("faultCode").unwrap().as_i64().unwrap(), m.get_str("faultString").unwrap().as_str().unwrap().into())
}

#[tokio::test]
async fn multicall_answers_in_order_with_faults_in_place() {
    let s = start(|s| s).await;
    let c = client(s.addr);
    let calls = vec![
        entry("double", vec![7.into()]),
        entry("nope", vec![]),
        entry("double", vec!["x".into()]),
        entry("explode", vec![]),
        entry("system.multicall", vec![Value::Array(vec![])]),
        Value::from("not a struct"),
        entry("system.listMethods", vec![]),
        entry("add", vec![1.into()]),
    ];
    let out = c.call("system.multicall", vec![Value::Array(calls)]).await.unwrap();
    let out = out.as_array().unwrap();
    assert_eq!(out.len(), 8);
    assert_eq!(out[0], Value::Array(vec![14.into()]));
    assert_eq!(fault_of(&out[1]).0, Fault::METHOD_NOT_FOUND);
    assert_eq!(fault_of(&out[2]).0, Fault::INVALID_PARAMS);
    assert_eq!(fault_of(&out[3]).0, Fault::INTERNAL_ERROR);
    assert_eq!(fault_of(&out[4]).0, Fault::INVALID_REQUEST, "nested multicall is refused");
    assert_eq!(fault_of(&out[5]).0, Fault::INVALID_REQUEST);
    assert!(out[6].as_array().unwrap()[0].as_array().is_some(), "system methods work inside a multicall");
    assert_eq!(out[7], Value::Array(vec![2.into()]));
}

#[tokio::test]
async fn multicall_client_api_and_cap() {
    let s = start(|s| s.max_multicall(3)).await;
    let c = client(s.addr);
    let answers = c.multicall([("double", vec![Value::Int(2)]), ("nope", vec![])]).await.unwrap();
    assert_eq!(answers[0], Ok(Value::Int(4)));
    assert_eq!(answers[1].as_ref().unwrap_err().code, Fault::METHOD_NOT_FOUND);
    let four = (0..4).map(|i| ("double", vec![Value::Int(i)]));
    match c.multicall(four).await {
        Err(Error::Fault(f)) => assert!(f.code == Fault::INVALID_REQUEST && f.message.contains("limit of 3"), "{f}"),
        other => panic!("{other:?}"),
    }
    match c.call("system.multicall", vec!["x".into()]).await {
        Err(Error::Fault(f)) => assert_eq!(f.code, Fault::INVALID_PARAMS),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn introspection_lists_documents_and_types_every_method() {
    let s = start(|s| s).await;
    let c = client(s.addr);
    let names = c.call("system.listMethods", vec![]).await.unwrap();
    assert_eq!(
        strings(&names),
        [
            "add",
            "double",
            "echo",
            "explode",
            "sleep",
            "system.listMethods",
            "system.methodHelp",
            "system.methodSignature",
            "system.multicall"
        ]
    );
    let help = c.call("system.methodHelp", vec!["double".into()]).await.unwrap();
    assert_eq!(help, Value::from("Returns num * 2."));
    let sig = c.call("system.methodSignature", vec!["double".into()]).await.unwrap();
    assert_eq!(sig, Value::Array(vec![Value::Array(vec!["int".into(), "int".into()])]));
    let sig = c.call("system.methodSignature", vec!["add".into()]).await.unwrap();
    let sigs: Vec<Vec<&str>> = sig.as_array().unwrap().iter().map(strings).collect();
    assert_eq!(sigs, [vec!["int", "int"], vec!["int", "int", "int"]], "one signature per allowed arity");
    let sig = c.call("system.methodSignature", vec!["echo".into()]).await.unwrap();
    assert_eq!(sig, Value::Array(vec![Value::Array(vec!["any".into(), "any".into()])]));
    let help = c.call("system.methodHelp", vec!["system.multicall".into()]).await.unwrap();
    assert!(help.as_str().unwrap().contains("methodName"));
    match c.call("system.methodHelp", vec!["nope".into()]).await {
        Err(Error::Fault(f)) => assert_eq!(f.code, Fault::METHOD_NOT_FOUND),
        other => panic!("{other:?}"),
    }
    match c.call("system.methodHelp", vec![]).await {
        Err(Error::Fault(f)) => assert_eq!(f.code, Fault::INVALID_PARAMS),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn system_methods_can_be_turned_off() {
    let s = start(|s| s.introspection(false).multicall(false)).await;
    let c = client(s.addr);
    for (method, params) in [("system.listMethods", vec![]), ("system.multicall", vec![Value::Array(vec![])])] {
        match c.call(method, params).await {
            Err(Error::Fault(f)) => assert_eq!(f.code, Fault::METHOD_NOT_FOUND, "{method}"),
            other => panic!("{method}: {other:?}"),
        }
    }
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

fn gunzip(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(data).read_to_end(&mut out).unwrap();
    out
}

/// One raw request; returns (head, body bytes).
async fn exchange(addr: std::net::SocketAddr, headers: &str, body: &[u8]) -> (String, Vec<u8>) {
    let mut conn = TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /RPC2 HTTP/1.1\r\nHost: x\r\nContent-Type: text/xml\r\nContent-Length: {}\r\nConnection: close\r\n{headers}\r\n",
        body.len()
    );
    conn.write_all(head.as_bytes()).await.unwrap();
    conn.write_all(body).await.unwrap();
    let mut out = Vec::new();
    conn.read_to_end(&mut out).await.unwrap();
    let split = out.windows(4).position(|w| w == b"\r\n\r\n").expect("a response head") + 4;
    (String::from_utf8_lossy(&out[..split]).to_ascii_lowercase(), out[split..].to_vec())
}

fn echo_call(text: &str) -> Vec<u8> {
    rpc_xml::codec::encode_call("echo", &[Value::from(text)]).unwrap()
}

#[tokio::test]
async fn gzip_requests_are_inflated_and_big_responses_compressed() {
    let s = start(|s| s).await;
    let big = "abc".repeat(2000);
    let (head, body) =
        exchange(s.addr, "Content-Encoding: gzip\r\nAccept-Encoding: gzip\r\n", &gzip(&echo_call(&big))).await;
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(head.contains("content-encoding: gzip\r\n"), "{head}");
    let xml = gunzip(&body);
    assert_eq!(rpc_xml::codec::decode_response(&xml, 8).unwrap().unwrap(), Value::from(big.as_str()));
    // Small responses, and clients that do not ask, get plain bodies.
    let (head, _) = exchange(s.addr, "Accept-Encoding: gzip\r\n", &echo_call("small")).await;
    assert!(!head.contains("content-encoding"), "{head}");
    let (head, body) = exchange(s.addr, "", &echo_call(&big)).await;
    assert!(!head.contains("content-encoding"), "{head}");
    assert!(String::from_utf8_lossy(&body).contains(&big));
}

#[tokio::test]
async fn gzip_bombs_bad_gzip_and_unknown_encodings_are_refused() {
    let s = start(|s| s.max_decompressed_size(1 << 20)).await;
    let bomb = gzip(&[b' '; 32 << 20]);
    let (head, _) = exchange(s.addr, "Content-Encoding: gzip\r\n", &bomb).await;
    assert!(head.starts_with("http/1.1 413"), "{head}");
    let (head, _) = exchange(s.addr, "Content-Encoding: gzip\r\n", b"not gzip at all").await;
    assert!(head.starts_with("http/1.1 400"), "{head}");
    let (head, _) = exchange(s.addr, "Content-Encoding: br\r\n", b"whatever").await;
    assert!(head.starts_with("http/1.1 415"), "{head}");
    assert_eq!(client(s.addr).call("double", vec![5.into()]).await.unwrap(), Value::Int(10));
}

#[tokio::test]
async fn client_compresses_requests_and_inflates_responses() {
    let s = start(|s| s).await;
    let c = rpc_xml::Client::builder().gzip_requests_over(Some(100)).build(&format!("http://{}/", s.addr)).unwrap();
    let big = Value::from("xyz".repeat(10_000));
    assert_eq!(c.call("echo", vec![big.clone()]).await.unwrap(), big);
}

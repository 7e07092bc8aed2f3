//! The examples of the JSON-RPC 2.0 specification (section 7), adapted to interop_server's methods, sent as raw
//! HTTP to a real server and answered byte for byte; then ids, errors, limits and values beyond the examples.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;

use rpc_examples::interop::{InteropServer, InteropService};
use rpc_test_support::{HttpAnswer, bind_loopback, http_post};

/// interop_server's service on JSON-RPC, on an OS-picked port, with `configure` applied.
async fn start(
    configure: impl FnOnce(
        rpc_json::Server<InteropServer<InteropService>>,
    ) -> rpc_json::Server<InteropServer<InteropService>>,
) -> SocketAddr {
    let listener = bind_loopback().await;
    let addr = listener.local_addr().unwrap();
    let server = configure(rpc_json::Server::new(InteropServer::new(InteropService::default())));
    tokio::spawn(server.serve(listener));
    addr
}

async fn post(addr: SocketAddr, body: &str) -> HttpAnswer {
    http_post(addr, "/", "application/json", body.as_bytes()).await
}

/// Sends `request` and checks the answer is HTTP 200 with exactly `response` (compared as text).
async fn exchange(addr: SocketAddr, request: &str, response: &str) {
    let answer = post(addr, request).await;
    assert_eq!((answer.status, answer.body.as_str()), (200, response), "request: {request}");
    assert_eq!(answer.header("content-type"), Some("application/json"));
}

/// Sends `request` and checks the answer is HTTP 204 with no body.
async fn no_content(addr: SocketAddr, request: &str) {
    let answer = post(addr, request).await;
    assert_eq!((answer.status, answer.body.as_str()), (204, ""), "request: {request}");
    assert_eq!(answer.header("content-type"), None);
}

#[tokio::test]
async fn positional_params() {
    let addr = start(|s| s).await;
    exchange(
        addr,
        r#"{"jsonrpc": "2.0", "method": "add", "params": [42, -23], "id": 1}"#,
        r#"{"jsonrpc":"2.0","result":19,"id":1}"#,
    )
    .await;
    exchange(
        addr,
        r#"{"jsonrpc": "2.0", "method": "add", "params": [23, 42], "id": 2}"#,
        r#"{"jsonrpc":"2.0","result":65,"id":2}"#,
    )
    .await;
}

#[tokio::test]
async fn named_params() {
    let addr = start(|s| s).await;
    exchange(
        addr,
        r#"{"jsonrpc": "2.0", "method": "add", "params": {"b": -23, "a": 42}, "id": 3}"#,
        r#"{"jsonrpc":"2.0","result":19,"id":3}"#,
    )
    .await;
    exchange(
        addr,
        r#"{"jsonrpc": "2.0", "method": "add", "params": {"a": 42, "b": 23}, "id": 4}"#,
        r#"{"jsonrpc":"2.0","result":65,"id":4}"#,
    )
    .await;
    exchange(
        addr,
        r#"{"jsonrpc": "2.0", "method": "add", "params": {"a": 1, "c": 2}, "id": 5}"#,
        r#"{"jsonrpc":"2.0","error":{"code":-32602,"message":"invalid params: add has no param `c`; it takes (a: i64, b: i64)"},"id":5}"#,
    )
    .await;
    exchange(
        addr,
        r#"{"jsonrpc": "2.0", "method": "add", "params": {"a": 1}, "id": 6}"#,
        r#"{"jsonrpc":"2.0","error":{"code":-32602,"message":"invalid params: add: missing param `b` (i64)"},"id":6}"#,
    )
    .await;
    exchange(
        addr,
        r#"{"jsonrpc": "2.0", "method": "add", "params": {"a": 1, "b": "x"}, "id": 7}"#,
        r#"{"jsonrpc":"2.0","error":{"code":-32602,"message":"invalid params: add: param 2 `b` (expected i64): invalid type: string \"x\", expected i64"},"id":7}"#,
    )
    .await;
}

#[tokio::test]
async fn notifications() {
    let addr = start(|s| s).await;
    no_content(addr, r#"{"jsonrpc": "2.0", "method": "bump", "params": [5]}"#).await;
    no_content(addr, r#"{"jsonrpc": "2.0", "method": "counter"}"#).await;
    // A notification's errors are not answered either.
    no_content(addr, r#"{"jsonrpc": "2.0", "method": "nope"}"#).await;
    no_content(addr, r#"{"jsonrpc": "2.0", "method": "explode"}"#).await;
    exchange(addr, r#"{"jsonrpc": "2.0", "method": "counter", "id": 1}"#, r#"{"jsonrpc":"2.0","result":5,"id":1}"#)
        .await;
}

#[tokio::test]
async fn unknown_method() {
    let addr = start(|s| s).await;
    exchange(
        addr,
        r#"{"jsonrpc": "2.0", "method": "foobar", "id": "1"}"#,
        r#"{"jsonrpc":"2.0","error":{"code":-32601,"message":"method not found: \"foobar\""},"id":"1"}"#,
    )
    .await;
}

#[tokio::test]
async fn invalid_json() {
    let addr = start(|s| s).await;
    exchange(
        addr,
        r#"{"jsonrpc": "2.0", "method": "foobar, "params": "bar", "baz]"#,
        r#"{"jsonrpc":"2.0","error":{"code":-32700,"message":"parse error: expected `,` or `}` at line 1 column 40"},"id":null}"#,
    )
    .await;
}

#[tokio::test]
async fn invalid_request() {
    let addr = start(|s| s).await;
    exchange(
        addr,
        r#"{"jsonrpc": "2.0", "method": 1, "params": "bar"}"#,
        r#"{"jsonrpc":"2.0","error":{"code":-32600,"message":"invalid request: method must be a string"},"id":null}"#,
    )
    .await;
}

#[tokio::test]
async fn batch_with_invalid_json() {
    let addr = start(|s| s).await;
    exchange(
        addr,
        r#"[
  {"jsonrpc": "2.0", "method": "add", "params": [1,2,4], "id": "1"},
  {"jsonrpc": "2.0", "method"
]"#,
        r#"{"jsonrpc":"2.0","error":{"code":-32700,"message":"parse error: expected `:` at line 4 column 1"},"id":null}"#,
    )
    .await;
}

#[tokio::test]
async fn empty_batch() {
    let addr = start(|s| s).await;
    exchange(
        addr,
        "[]",
        r#"{"jsonrpc":"2.0","error":{"code":-32600,"message":"invalid request: empty batch"},"id":null}"#,
    )
    .await;
}

#[tokio::test]
async fn invalid_batches() {
    let addr = start(|s| s).await;
    let one = r#"{"jsonrpc":"2.0","error":{"code":-32600,"message":"invalid request: a request must be an object"},"id":null}"#;
    exchange(addr, "[1]", &format!("[{one}]")).await;
    exchange(addr, "[1,2,3]", &format!("[{one},{one},{one}]")).await;
}

#[tokio::test]
async fn mixed_batch() {
    let addr = start(|s| s).await;
    exchange(
        addr,
        r#"[
        {"jsonrpc": "2.0", "method": "add", "params": [1,2], "id": "1"},
        {"jsonrpc": "2.0", "method": "bump", "params": [7]},
        {"jsonrpc": "2.0", "method": "add", "params": [42,23], "id": "2"},
        {"foo": "boo"},
        {"jsonrpc": "2.0", "method": "foo.get", "params": {"name": "myself"}, "id": "5"},
        {"jsonrpc": "2.0", "method": "double", "params": [9], "id": "9"}
    ]"#,
        concat!(
            r#"[{"jsonrpc":"2.0","result":3,"id":"1"},"#,
            r#"{"jsonrpc":"2.0","result":65,"id":"2"},"#,
            r#"{"jsonrpc":"2.0","error":{"code":-32600,"message":"invalid request: jsonrpc must be \"2.0\""},"id":null},"#,
            r#"{"jsonrpc":"2.0","error":{"code":-32601,"message":"method not found: \"foo.get\""},"id":"5"},"#,
            r#"{"jsonrpc":"2.0","result":18,"id":"9"}]"#
        ),
    )
    .await;
}

#[tokio::test]
async fn all_notification_batch() {
    let addr = start(|s| s).await;
    // bump takes one param: the first call fails, silently, as the notification it is.
    no_content(addr, r#"[{"jsonrpc": "2.0", "method": "bump", "params": [1,2,4]}, {"jsonrpc": "2.0", "method": "bump", "params": [7]}]"#).await;
    no_content(
        addr,
        r#"[{"jsonrpc": "2.0", "method": "bump", "params": [1]}, {"jsonrpc": "2.0", "method": "bump", "params": [7]}]"#,
    )
    .await;
    exchange(addr, r#"{"jsonrpc":"2.0","method":"counter","id":0}"#, r#"{"jsonrpc":"2.0","result":15,"id":0}"#).await;
}

#[tokio::test]
async fn batch_answers_keep_request_order_while_running_concurrently() {
    let addr = start(|s| s).await;
    let started = std::time::Instant::now();
    exchange(
        addr,
        r#"[{"jsonrpc":"2.0","method":"sleep","params":[300],"id":1},{"jsonrpc":"2.0","method":"sleep","params":[10],"id":2},{"jsonrpc":"2.0","method":"sleep","params":[300],"id":3}]"#,
        r#"[{"jsonrpc":"2.0","result":300,"id":1},{"jsonrpc":"2.0","result":10,"id":2},{"jsonrpc":"2.0","result":300,"id":3}]"#,
    )
    .await;
    assert!(started.elapsed() < std::time::Duration::from_millis(550), "the batch's calls ran one after another");
}

#[tokio::test]
async fn ids_are_echoed_exactly() {
    let addr = start(|s| s).await;
    for id in [
        r#""abc""#,
        r#""\u00e9""#,
        "0",
        "-1",
        "1.0",
        "1e3",
        "-0",
        "123456789012345678901234567890",
        "18446744073709551616",
        "null",
    ] {
        exchange(
            addr,
            &format!(r#"{{"jsonrpc":"2.0","method":"double","params":[1],"id":{id}}}"#),
            &format!(r#"{{"jsonrpc":"2.0","result":2,"id":{id}}}"#),
        )
        .await;
    }
    for bad in ["true", "[1]", r#"{"a":1}"#] {
        exchange(
            addr,
            &format!(r#"{{"jsonrpc":"2.0","method":"double","params":[1],"id":{bad}}}"#),
            r#"{"jsonrpc":"2.0","error":{"code":-32600,"message":"invalid request: id must be a string, a number or null"},"id":null}"#,
        )
        .await;
    }
    // The id of an otherwise invalid request is still echoed.
    exchange(
        addr,
        r#"{"jsonrpc":"1.0","method":"double","params":[1],"id":"x"}"#,
        r#"{"jsonrpc":"2.0","error":{"code":-32600,"message":"invalid request: jsonrpc must be \"2.0\""},"id":"x"}"#,
    )
    .await;
    exchange(
        addr,
        r#"{"jsonrpc":"2.0","method":"counter","params":null,"id":"z"}"#,
        r#"{"jsonrpc":"2.0","result":0,"id":"z"}"#,
    )
    .await;
    exchange(
        addr,
        r#"{"jsonrpc":"2.0","method":"double","params":"7","id":"y"}"#,
        r#"{"jsonrpc":"2.0","error":{"code":-32600,"message":"invalid request: params must be an array or an object"},"id":"y"}"#,
    )
    .await;
}

#[tokio::test]
async fn faults_panics_and_bad_params() {
    let addr = start(|s| s).await;
    exchange(
        addr,
        r#"{"jsonrpc":"2.0","method":"fail","params":[42,"custom message"],"id":1}"#,
        r#"{"jsonrpc":"2.0","error":{"code":42,"message":"custom message"},"id":1}"#,
    )
    .await;
    exchange(
        addr,
        r#"{"jsonrpc":"2.0","method":"explode","id":2}"#,
        r#"{"jsonrpc":"2.0","error":{"code":-32603,"message":"internal error: handler for \"explode\" panicked"},"id":2}"#,
    )
    .await;
    exchange(
        addr,
        r#"{"jsonrpc":"2.0","method":"double","params":[8],"id":3}"#,
        r#"{"jsonrpc":"2.0","result":16,"id":3}"#,
    )
    .await;
    exchange(
        addr,
        r#"{"jsonrpc":"2.0","method":"double","params":[],"id":4}"#,
        r#"{"jsonrpc":"2.0","error":{"code":-32602,"message":"invalid params: double takes 1 param (num: i64), got 0"},"id":4}"#,
    )
    .await;
    exchange(
        addr,
        r#"{"jsonrpc":"2.0","method":"echo","params":[{"$base64":"!!"}],"id":5}"#,
        r#"{"jsonrpc":"2.0","error":{"code":-32602,"message":"invalid params: $base64: invalid base64: Invalid symbol 33, offset 0. at line 1 column 17"},"id":5}"#,
    )
    .await;
}

#[tokio::test]
async fn values_json_cannot_say_travel_in_their_spelling() {
    let addr = start(|s| s).await;
    for value in [
        r#"{"$base64":"AP8="}"#,
        r#"{"$datetime":"19980717T14:08:55"}"#,
        r#"{"$ext":[5,"AQID"]}"#,
        r#"{"$map":[[1,"one"],[[2],"two"]]}"#,
        r#"{"$map":[["$base64","a map, not bytes"]]}"#,
        r#"{"$float":"NaN"}"#,
        r#"{"$float":"-Infinity"}"#,
        "18446744073709551615",
        "-9223372036854775808",
        "1.0",
        r#"{"b":1,"a":[null,true,"é"],"$ext":"two keys: a plain object"}"#,
    ] {
        exchange(
            addr,
            &format!(r#"{{"jsonrpc":"2.0","method":"echo","params":[{value}],"id":1}}"#),
            &format!(r#"{{"jsonrpc":"2.0","result":{value},"id":1}}"#),
        )
        .await;
    }
    // Named params are an object of params, never read as a spelling.
    exchange(
        addr,
        r#"{"jsonrpc":"2.0","method":"echo","params":{"value":{"$datetime":"1998-07-17T14:08:55Z"}},"id":1}"#,
        r#"{"jsonrpc":"2.0","result":{"$datetime":"19980717T14:08:55"},"id":1}"#,
    )
    .await;
}

#[tokio::test]
async fn limits() {
    let addr = start(|s| s.max_depth(3).max_batch(2).max_body_size(1000)).await;
    exchange(
        addr,
        r#"{"jsonrpc":"2.0","method":"echo","params":[[[[1]]]],"id":1}"#,
        r#"{"jsonrpc":"2.0","result":[[[1]]],"id":1}"#,
    )
    .await;
    exchange(
        addr,
        r#"{"jsonrpc":"2.0","method":"echo","params":[[[[[1]]]]],"id":1}"#,
        r#"{"jsonrpc":"2.0","error":{"code":-32602,"message":"invalid params: values nest deeper than 3 levels"},"id":1}"#,
    )
    .await;
    // Deeper than the body may go at all: refused before parsing, whatever else is wrong with it.
    exchange(
        addr,
        &format!(r#"{{"jsonrpc":"2.0","method":"echo","params":{},"id":1}}"#, "[".repeat(500)),
        r#"{"jsonrpc":"2.0","error":{"code":-32600,"message":"invalid request: values nest deeper than 3 levels"},"id":null}"#,
    )
    .await;
    exchange(
        addr,
        r#"[{"jsonrpc":"2.0","method":"counter","id":1},{"jsonrpc":"2.0","method":"counter","id":2},{"jsonrpc":"2.0","method":"counter","id":3}]"#,
        r#"{"jsonrpc":"2.0","error":{"code":-32600,"message":"invalid request: a batch may hold at most 2 requests"},"id":null}"#,
    )
    .await;
    let big = format!(r#"{{"jsonrpc":"2.0","method":"echo","params":["{}"],"id":1}}"#, "x".repeat(1000));
    assert_eq!(post(addr, &big).await.status, 413);
}

#[tokio::test]
async fn http_rules() {
    let addr = start(|s| s).await;
    assert_eq!(http_post(addr, "/other", "application/json", b"{}").await.status, 404);
    let get = {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await.unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).await.unwrap();
        out
    };
    assert!(get.starts_with("HTTP/1.1 405") && get.to_ascii_lowercase().contains("allow: post"), "{get}");
}

#[tokio::test]
async fn discover_describes_the_methods() {
    let addr = start(|s| s).await;
    let answer = post(addr, r#"{"jsonrpc":"2.0","method":"rpc.discover","id":1}"#).await;
    let doc: serde_json::Value = serde_json::from_str(&answer.body).unwrap();
    let methods = doc["result"]["methods"].as_array().unwrap();
    let double = methods.iter().find(|m| m["name"] == "double").unwrap();
    assert_eq!(double["description"], "Returns num * 2.");
    assert_eq!(double["params"][0]["name"], "num");
    assert_eq!(double["params"][0]["schema"]["type"], "integer");
    assert_eq!(doc["result"]["openrpc"], "1.3.2");
    let off = start(|s| s.introspection(false)).await;
    exchange(
        off,
        r#"{"jsonrpc":"2.0","method":"rpc.discover","id":1}"#,
        r#"{"jsonrpc":"2.0","error":{"code":-32601,"message":"method not found: \"rpc.discover\""},"id":1}"#,
    )
    .await;
}

//! Hostile peers against the JSON-RPC server: each case asserts the answer, that a normal client is still served
//! afterwards, and that the heap stays bounded (the tests run one at a time under a counting allocator). The
//! HTTP-level cases (slow peers, 4 GiB Content-Length, gzip bombs, idle connections) are rpc-http's and are
//! covered once, in rpc-xml's adversarial suite.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use rpc_core::{Transport, Value};
use rpc_examples::interop::{InteropServer, InteropService};
use rpc_test_support::{bind_loopback, http_post};

#[global_allocator]
static HEAP: rpc_test_support::CountingAlloc = rpc_test_support::CountingAlloc::new();

const MIB: usize = 1024 * 1024;

#[tokio::test]
async fn hostile_bodies_get_their_answer_with_bounded_memory() {
    let listener = bind_loopback().await;
    let addr = listener.local_addr().unwrap();
    tokio::spawn(rpc_json::Server::new(InteropServer::new(InteropService::default())).serve(listener));
    let c = rpc_json::Client::new(&format!("http://{addr}/")).unwrap();
    assert_eq!(c.call("double", vec![1.into()]).await.unwrap(), Value::Int(2));

    let deep = format!(
        r#"{{"jsonrpc":"2.0","method":"echo","params":[{}{}],"id":1}}"#,
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    let deep_envelope = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let million = format!("[{}1]", "1,".repeat(999_999));
    let million_calls =
        format!("[{}]", vec![r#"{"jsonrpc":"2.0","method":"double","params":[1],"id":1}"#; 200_000].join(","));
    let long_string = format!(r#"{{"jsonrpc":"2.0","method":"echo","params":["{}"],"id":2}}"#, "x".repeat(8 * MIB));
    let huge_id = format!(r#"{{"jsonrpc":"2.0","method":"double","params":[1],"id":{}}}"#, "9".repeat(100_000));
    let cases: Vec<(&str, String, &str)> = vec![
        ("100,000-deep params", deep, r#""code":-32600"#),
        ("100,000-deep batch envelope", deep_envelope, r#""code":-32600"#),
        ("a batch of 1,000,000 elements", million, "a batch may hold at most 1000 requests"),
        ("a batch of 200,000 calls", million_calls, "a batch may hold at most 1000 requests"),
        ("an 8 MiB string param", long_string, r#""result":"xxxx"#),
        ("a 100,000-digit id", huge_id, r#""result":2"#),
    ];
    for (what, body, want) in cases {
        let base = HEAP.in_use();
        HEAP.reset_peak();
        let answer = http_post(addr, "/", "application/json", body.as_bytes()).await;
        let grew = HEAP.peak().saturating_sub(base);
        drop(body);
        assert_eq!(answer.status, 200, "{what}");
        assert!(answer.body.contains(want), "{what}: {}", &answer.body[..answer.body.len().min(300)]);
        // The body limit is 16 MiB: nothing may cost much more than holding the body and its answer.
        assert!(grew < 48 * MIB, "{what}: the heap grew by {} MiB", grew / MIB);
        assert_eq!(c.call("double", vec![21.into()]).await.unwrap(), Value::Int(42), "after {what}");
    }
}

//! The `#[service]` API as a user meets it, on all three encodings (XML-RPC and JSON-RPC over HTTP,
//! MessagePack-RPC over TCP): the same trait's client reaching a service mounted under a prefix
//! (`Client::with_prefix`) and a service that names its own namespace (`#[service(namespace = ..)]`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use rpc_core::{Router, Transport, service};
use tokio::net::TcpListener;

/// Mounted under a prefix the trait knows nothing of.
#[service]
pub trait Math {
    /// Twice `n`.
    async fn double(&self, n: i64) -> i64;
}

/// Names its own namespace, for both halves.
#[service(namespace = "text")]
pub trait Text {
    /// `s` in capitals.
    async fn upper(&self, s: String) -> String;
    /// The length of `s` in bytes.
    #[rpc(name = "len")]
    async fn length(&self, s: String) -> u64;
}

struct Impl;

impl Math for Impl {
    async fn double(&self, n: i64) -> i64 {
        2 * n
    }
}

impl Text for Impl {
    async fn upper(&self, s: String) -> String {
        s.to_uppercase()
    }
    async fn length(&self, s: String) -> u64 {
        s.len() as u64
    }
}

fn router() -> Router {
    Router::new().mount_prefixed("math", MathServer::new(Impl)).mount(TextServer::new(Impl))
}

async fn listener() -> (TcpListener, String) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    (listener, addr)
}

/// What every encoding must do with the router: the prefixed client and the namespaced one reach their
/// methods; the plain client gets "method not found" for the prefixed service.
async fn check<T: Transport + Clone>(transport: T) {
    let math = MathClient::with_prefix(transport.clone(), "math");
    assert_eq!(math.double(21).await.unwrap(), 42);
    let text = TextClient::new(transport.clone());
    assert_eq!(text.upper("abc".into()).await.unwrap(), "ABC");
    assert_eq!(text.length("abcd".into()).await.unwrap(), 4);
    let unprefixed = MathClient::new(transport.clone());
    let fault = unprefixed.double(1).await.unwrap_err();
    assert_eq!(fault.as_fault().map(|f| f.code), Some(rpc_core::Fault::METHOD_NOT_FOUND), "{fault:?}");
    // The wire names are the ones listed.
    let names: Vec<String> = router().method_names().map(str::to_owned).collect();
    assert_eq!(names, ["math.double", "text.upper", "text.len"]);
}

#[tokio::test]
async fn prefixes_and_namespaces_over_xml_rpc() {
    let (listener, addr) = listener().await;
    tokio::spawn(rpc_xml::Server::new(router()).serve(listener));
    check(rpc_xml::Client::new(&format!("http://{addr}/")).unwrap()).await;
}

#[tokio::test]
async fn prefixes_and_namespaces_over_json_rpc() {
    let (listener, addr) = listener().await;
    tokio::spawn(rpc_json::Server::new(router()).serve(listener));
    check(rpc_json::Client::new(&format!("http://{addr}/")).unwrap()).await;
}

#[tokio::test]
async fn prefixes_and_namespaces_over_msgpack_rpc() {
    let (listener, addr) = listener().await;
    tokio::spawn(rpc_msgpack::Server::new(router()).serve(listener));
    check(rpc_msgpack::Client::connect(addr.as_str()).await.unwrap()).await;
}

//! Spans by OpenTelemetry's conventions for RPC, exported with the SDK's in-memory exporter: one trace across
//! client and server on XML-RPC and JSON-RPC over HTTP (the W3C `traceparent` header), and the attributes on
//! both sides for every encoding (`rpc.system`, `rpc.method`, `rpc.jsonrpc.request_id`,
//! `rpc.jsonrpc.error_code`, `server.address`, `network.transport`, the status).
//!
//! Each test runs on one thread (tokio's current-thread runtime) under a subscriber of its own.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use opentelemetry::trace::{SpanKind, TracerProvider as _};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use rpc_examples::interop::{InteropClient, InteropServer, InteropService};
use rpc_test_support::bind_loopback;
use tracing_subscriber::layer::SubscriberExt as _;

/// Spans exported while `run` runs.
async fn exported<F: std::future::Future<Output = ()>>(run: F) -> Vec<SpanData> {
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder().with_simple_exporter(exporter.clone()).build();
    let subscriber =
        tracing_subscriber::registry().with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
    let guard = tracing::subscriber::set_default(subscriber);
    run.await;
    // Let the server tasks finish their spans.
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    drop(guard);
    exporter.get_finished_spans().unwrap()
}

fn attr(span: &SpanData, key: &str) -> Option<String> {
    span.attributes.iter().find(|kv| kv.key.as_str() == key).map(|kv| kv.value.to_string())
}

/// The spans of `method` of `kind`.
fn of<'a>(spans: &'a [SpanData], method: &str, kind: SpanKind) -> Vec<&'a SpanData> {
    spans.iter().filter(|s| s.name == method && s.span_kind == kind).collect()
}

fn service() -> InteropServer<InteropService> {
    InteropServer::new(InteropService::default())
}

/// Checks a call's two spans: the attributes of both sides, and (`one_trace`) one trace id across them.
fn check_pair(spans: &[SpanData], system: &str, method: &str, one_trace: bool) -> (SpanData, SpanData) {
    let client = of(spans, method, SpanKind::Client);
    let server = of(spans, method, SpanKind::Server);
    assert_eq!((client.len(), server.len()), (1, 1), "{method}: {spans:#?}");
    let (client, server) = (client[0].clone(), server[0].clone());
    for span in [&client, &server] {
        assert_eq!(attr(span, "rpc.system").as_deref(), Some(system), "{span:#?}");
        assert_eq!(attr(span, "rpc.method").as_deref(), Some(method));
    }
    assert_eq!(attr(&client, "server.address").as_deref(), Some("127.0.0.1"), "{client:#?}");
    assert!(attr(&client, "server.port").is_some());
    assert_eq!(attr(&client, "network.transport").as_deref(), Some("tcp"));
    assert_eq!(attr(&server, "client.address").as_deref(), Some("127.0.0.1"), "{server:#?}");
    if one_trace {
        assert_eq!(client.span_context.trace_id(), server.span_context.trace_id(), "one trace across the call");
    }
    (client, server)
}

async fn http_calls(xml: bool) -> Vec<SpanData> {
    exported(async move {
        let listener = bind_loopback().await;
        let url = format!("http://{}/", listener.local_addr().unwrap());
        if xml {
            tokio::spawn(rpc_xml::Server::new(service()).serve(listener));
            let interop = InteropClient::new(rpc_xml::Client::new(&url).unwrap());
            assert_eq!(interop.double(7).await.unwrap(), 14);
            assert!(interop.fail(42, "no").await.is_err());
        } else {
            tokio::spawn(rpc_json::Server::new(service()).serve(listener));
            let interop = InteropClient::new(rpc_json::Client::new(&url).unwrap());
            assert_eq!(interop.double(7).await.unwrap(), 14);
            assert!(interop.fail(42, "no").await.is_err());
        }
    })
    .await
}

#[tokio::test]
async fn xml_rpc_calls_are_one_trace_across_client_and_server() {
    let spans = http_calls(true).await;
    check_pair(&spans, "xmlrpc", "double", true);
    let (client, server) = check_pair(&spans, "xmlrpc", "fail", true);
    for span in [client, server] {
        assert_eq!(attr(&span, "rpc.jsonrpc.error_code").as_deref(), Some("42"), "{span:#?}");
        assert!(matches!(span.status, opentelemetry::trace::Status::Error { .. }), "{span:#?}");
    }
}

#[tokio::test]
async fn json_rpc_calls_over_http_are_one_trace_across_client_and_server() {
    let spans = http_calls(false).await;
    let (_, server) = check_pair(&spans, "jsonrpc", "double", true);
    assert_eq!(attr(&server, "rpc.jsonrpc.version").as_deref(), Some("2.0"));
    assert!(attr(&server, "rpc.jsonrpc.request_id").is_some(), "{server:#?}");
    let (client, server) = check_pair(&spans, "jsonrpc", "fail", true);
    for span in [client, server] {
        assert_eq!(attr(&span, "rpc.jsonrpc.error_code").as_deref(), Some("42"), "{span:#?}");
    }
}

/// Duplex wires carry no trace context: each side's span has the attributes, and the server's is a child of
/// its connection's span.
#[tokio::test]
async fn duplex_calls_have_spans_on_both_sides() {
    let spans = exported(async {
        let listener = bind_loopback().await;
        let addr = listener.local_addr().unwrap().to_string();
        tokio::spawn(rpc_msgpack::Server::new(service()).serve(listener));
        let interop = InteropClient::new(rpc_msgpack::Client::connect(addr.as_str()).await.unwrap());
        assert_eq!(interop.double(7).await.unwrap(), 14);
        assert!(interop.fail(42, "no").await.is_err());
    })
    .await;
    let (_, server) = check_pair(&spans, "msgpack_rpc", "double", false);
    assert!(attr(&server, "rpc.jsonrpc.request_id").is_some(), "the msgid: {server:#?}");
    let connection = spans.iter().find(|s| s.name == "connection").expect("the connection's span");
    assert_eq!(server.parent_span_id, connection.span_context.span_id(), "{server:#?}");
    let (client, server) = check_pair(&spans, "msgpack_rpc", "fail", false);
    for span in [client, server] {
        assert_eq!(attr(&span, "rpc.jsonrpc.error_code").as_deref(), Some("42"), "{span:#?}");
    }

    let spans = exported(async {
        let listener = bind_loopback().await;
        let addr = listener.local_addr().unwrap().to_string();
        tokio::spawn(rpc_json::duplex::Server::new(service()).serve(listener));
        let interop = InteropClient::new(rpc_json::duplex::Client::connect(addr.as_str()).await.unwrap());
        assert_eq!(interop.double(7).await.unwrap(), 14);
    })
    .await;
    let (client, _) = check_pair(&spans, "jsonrpc", "double", false);
    assert!(attr(&client, "rpc.jsonrpc.request_id").is_some(), "{client:#?}");
}

/// The `otel_stdout` example prints the double() line and spans of one trace from both sides.
#[tokio::test]
async fn the_stdout_example_exports_one_trace() {
    let cmd = std::process::Command::new(rpc_test_support::example_binary("otel_stdout"));
    let out = rpc_test_support::run_peer(cmd, "otel_stdout example", std::time::Duration::from_secs(30)).await;
    assert!(out.contains("Double 7 is 14"), "{out}");
    let traces: std::collections::BTreeSet<&str> =
        out.lines().filter_map(|l| l.trim().strip_prefix("TraceId      : ")).collect();
    assert_eq!(traces.len(), 1, "one trace across client and server: {traces:?}");
    assert!(out.contains("rpc.system: String(Owned(\"xmlrpc\"))"), "{out}");
}

/// On a Unix socket, both sides' spans say so (`network.transport`), without an address.
#[tokio::test]
async fn unix_socket_calls_name_their_transport() {
    let dir = rpc_test_support::TempDir::new("otel");
    let path = dir.path().join("s");
    let spans = exported(async {
        let listener = tokio::net::UnixListener::bind(&path).unwrap();
        tokio::spawn(rpc_msgpack::Server::new(service()).serve(listener));
        let interop = InteropClient::new(rpc_msgpack::Client::connect_unix(&path).await.unwrap());
        assert_eq!(interop.double(7).await.unwrap(), 14);
    })
    .await;
    for kind in [SpanKind::Client, SpanKind::Server] {
        let span = of(&spans, "double", kind);
        assert_eq!(span.len(), 1, "{spans:#?}");
        assert_eq!(attr(span[0], "network.transport").as_deref(), Some("unix"), "{:#?}", span[0]);
    }
}

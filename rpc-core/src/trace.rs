//! One `tracing` span per call, on each side, named and tagged by OpenTelemetry's semantic conventions for RPC
//! (`rpc.system`, `rpc.method`, `rpc.jsonrpc.request_id`, `rpc.jsonrpc.error_code`, `server.address`,
//! `network.transport`; the outcome as `otel.status_code`, the duration as the span's own). Every transport
//! makes its spans here, at `DEBUG` level (as tower-http's `TraceLayer` does): a subscriber that enables them
//! (`RUST_LOG=rpc_core=debug`, or a filter of its own) sees them, and with `tracing-opentelemetry` they are
//! exported as OpenTelemetry spans (`otel.name` is the method, `otel.kind` the side).
//!
//! On HTTP, the crates' `opentelemetry` feature also carries the W3C trace context (`traceparent`,
//! `tracestate`) from client to server, so one trace follows a call across processes. Duplex wires have no room
//! for it: there a call's server span is a child of its connection's span.

use std::fmt::Display;
use std::net::SocketAddr;

use crate::Fault;

/// The transport a connection runs on, for the spans' `network.transport` (OpenTelemetry's values: `"tcp"`,
/// `"unix"`, `"pipe"`), put in the [`Context`](crate::Context) by transports that have no
/// [`RemoteAddr`](crate::RemoteAddr) (TCP is known by its address).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct NetworkTransport(pub &'static str);

/// The span of a call being served: `system` is the protocol's `rpc.system` (`"jsonrpc"`, `"xmlrpc"`,
/// `"msgpack_rpc"`), `id` the request's id where it has one; the caller's address is the context's
/// [`RemoteAddr`](crate::RemoteAddr), where the transport set one (it is then TCP).
pub fn server_span(system: &'static str, method: &str, id: Option<&dyn Display>, cx: &crate::Context) -> tracing::Span {
    let span = tracing::debug_span!(
        "rpc.server",
        "otel.name" = method,
        "otel.kind" = "server",
        "otel.status_code" = tracing::field::Empty,
        "rpc.system" = system,
        "rpc.method" = method,
        "rpc.jsonrpc.version" = tracing::field::Empty,
        "rpc.jsonrpc.request_id" = tracing::field::Empty,
        "rpc.jsonrpc.error_code" = tracing::field::Empty,
        "rpc.jsonrpc.error_message" = tracing::field::Empty,
        "client.address" = tracing::field::Empty,
        "client.port" = tracing::field::Empty,
        "network.transport" = tracing::field::Empty,
    );
    if !span.is_disabled() {
        let peer = cx.get::<crate::RemoteAddr>().map(|peer| ("client", peer.0.ip().to_string(), peer.0.port()));
        fill(&span, system, id, peer);
        if let Some(NetworkTransport(transport)) = cx.get::<NetworkTransport>() {
            span.record("network.transport", *transport);
        }
    }
    span
}

/// The span of a call made to `server`, its host and port where known (the transport is then TCP).
pub fn client_span(
    system: &'static str,
    method: &str,
    id: Option<&dyn Display>,
    server: Option<(&dyn Display, u16)>,
) -> tracing::Span {
    let span = tracing::debug_span!(
        "rpc.client",
        "otel.name" = method,
        "otel.kind" = "client",
        "otel.status_code" = tracing::field::Empty,
        "rpc.system" = system,
        "rpc.method" = method,
        "rpc.jsonrpc.version" = tracing::field::Empty,
        "rpc.jsonrpc.request_id" = tracing::field::Empty,
        "rpc.jsonrpc.error_code" = tracing::field::Empty,
        "rpc.jsonrpc.error_message" = tracing::field::Empty,
        "server.address" = tracing::field::Empty,
        "server.port" = tracing::field::Empty,
        "network.transport" = tracing::field::Empty,
    );
    if !span.is_disabled() {
        fill(&span, system, id, server.map(|(host, port)| ("server", host.to_string(), port)));
    }
    span
}

/// The span of a call made over a connection to `server` (a socket address, where the transport has one; else
/// the connection's `transport`, if known).
pub fn client_span_to(
    system: &'static str,
    method: &str,
    id: Option<&dyn Display>,
    server: Option<SocketAddr>,
    transport: Option<&'static str>,
) -> tracing::Span {
    let ip = server.map(|server| server.ip());
    let server_host = ip.as_ref().zip(server).map(|(ip, server)| (ip as &dyn Display, server.port()));
    let span = client_span(system, method, id, server_host);
    if let (None, Some(transport)) = (server, transport) {
        span.record("network.transport", transport);
    }
    span
}

fn fill(span: &tracing::Span, system: &'static str, id: Option<&dyn Display>, addr: Option<(&str, String, u16)>) {
    if system == "jsonrpc" {
        span.record("rpc.jsonrpc.version", "2.0");
    }
    if let Some(id) = id {
        span.record("rpc.jsonrpc.request_id", tracing::field::display(id));
    }
    if let Some((side, host, port)) = addr {
        let (address_field, port_field) = match side {
            "client" => ("client.address", "client.port"),
            _ => ("server.address", "server.port"),
        };
        span.record(address_field, host.as_str());
        span.record(port_field, port);
        span.record("network.transport", "tcp");
    }
}

/// Records a call's outcome on its span: a fault's code and message, and the error status.
pub fn record_fault(span: &tracing::Span, fault: &Fault) {
    span.record("otel.status_code", "ERROR");
    span.record("rpc.jsonrpc.error_code", fault.code);
    span.record("rpc.jsonrpc.error_message", fault.message.as_str());
}

/// Records a call's outcome on its span: for an error, its status and, for a fault, its code and message.
pub fn record_error(span: &tracing::Span, error: &crate::Error) {
    match error {
        crate::Error::Fault(fault) => record_fault(span, fault),
        other => {
            span.record("otel.status_code", "ERROR");
            span.record("rpc.jsonrpc.error_message", tracing::field::display(other));
        }
    }
}

/// Runs a client's `call` in `span` (see [`client_span`]), recording how it ended.
pub async fn traced<T>(
    span: tracing::Span,
    call: impl Future<Output = Result<T, crate::Error>>,
) -> Result<T, crate::Error> {
    let result = tracing::Instrument::instrument(call, span.clone()).await;
    if let Err(e) = &result {
        record_error(&span, e);
    }
    result
}

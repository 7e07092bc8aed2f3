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
/// [`RemoteAddr`](crate::RemoteAddr), where the transport set one (it is then TCP), else the context's
/// [`NetworkTransport`] names the transport.
pub fn server_span(system: &'static str, method: &str, id: Option<&dyn Display>, cx: &crate::Context) -> tracing::Span {
    let span = call_span("server", system, method, id);
    if !span.is_disabled() {
        match cx.get::<crate::RemoteAddr>() {
            Some(peer) => record_peer(&span, "client.address", "client.port", &peer.0.ip(), peer.0.port()),
            None => record_transport(&span, cx.get::<NetworkTransport>().map(|t| t.0)),
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
    let span = call_span("client", system, method, id);
    if let Some((host, port)) = server.filter(|_| !span.is_disabled()) {
        record_peer(&span, "server.address", "server.port", host, port);
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
    let span = call_span("client", system, method, id);
    if !span.is_disabled() {
        match server {
            Some(server) => record_peer(&span, "server.address", "server.port", &server.ip(), server.port()),
            None => record_transport(&span, transport),
        }
    }
    span
}

/// The one span of a call, on the side `kind` (`"client"` or `"server"`), with every field either side records.
fn call_span(kind: &'static str, system: &'static str, method: &str, id: Option<&dyn Display>) -> tracing::Span {
    let span = tracing::debug_span!(
        "rpc.call",
        "otel.name" = method,
        "otel.kind" = kind,
        "otel.status_code" = tracing::field::Empty,
        "rpc.system" = system,
        "rpc.method" = method,
        "rpc.jsonrpc.version" = tracing::field::Empty,
        "rpc.jsonrpc.request_id" = tracing::field::Empty,
        "rpc.jsonrpc.error_code" = tracing::field::Empty,
        "rpc.jsonrpc.error_message" = tracing::field::Empty,
        "client.address" = tracing::field::Empty,
        "client.port" = tracing::field::Empty,
        "server.address" = tracing::field::Empty,
        "server.port" = tracing::field::Empty,
        "network.transport" = tracing::field::Empty,
    );
    if !span.is_disabled() {
        if system == "jsonrpc" {
            span.record("rpc.jsonrpc.version", "2.0");
        }
        if let Some(id) = id {
            span.record("rpc.jsonrpc.request_id", tracing::field::display(id));
        }
    }
    span
}

/// The other side's host and port, in the fields of its side; the transport is then TCP.
fn record_peer(span: &tracing::Span, address: &str, port_field: &str, host: &dyn Display, port: u16) {
    span.record(address, tracing::field::display(host));
    span.record(port_field, port);
    span.record("network.transport", "tcp");
}

fn record_transport(span: &tracing::Span, transport: Option<&'static str>) {
    if let Some(transport) = transport {
        span.record("network.transport", transport);
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

//! Spans of RPC calls exported as OpenTelemetry spans to stdout: an XML-RPC server and client in one process,
//! one trace across them (the W3C `traceparent` header the HTTP crates' `opentelemetry` feature sends and
//! reads), each span named and tagged by OpenTelemetry's RPC conventions.
//!
//! ```text
//! cargo run -p rpc-examples --example otel_stdout
//! ```

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use rpc_core::service;
use tracing_subscriber::layer::SubscriberExt as _;

/// The seed's service.
#[service]
pub trait Services {
    /// Returns num * 2.
    async fn double(&self, num: i64) -> i64;
}

struct Doubler;

impl Services for Doubler {
    async fn double(&self, num: i64) -> i64 {
        num * 2
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // W3C trace context on the wire, spans to stdout.
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    let provider =
        SdkTracerProvider::builder().with_simple_exporter(opentelemetry_stdout::SpanExporter::default()).build();
    let otel = tracing_opentelemetry::layer().with_tracer(provider.tracer("otel_stdout"));
    tracing::subscriber::set_global_default(tracing_subscriber::registry().with(otel))?;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/", listener.local_addr()?);
    tokio::spawn(rpc_xml::Server::new(ServicesServer::new(Doubler)).serve(listener));

    let client = ServicesClient::new(rpc_xml::Client::new(&url)?);
    println!("Double 7 is {}", client.double(7).await?);
    // The server's spans end as its task finishes the answer.
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    provider.shutdown()?;
    Ok(())
}

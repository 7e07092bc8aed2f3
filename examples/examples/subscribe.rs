//! A stream method end to end: a `Ticker` service whose `count` returns `rpc_core::Stream<u64>`, served on
//! MessagePack-RPC over TCP and on JSON-RPC over WebSocket (ports the OS picks), and subscribed to through the
//! generated client on each: the items as they come, then a stream that never ends, left early.
//!
//! ```text
//! cargo run --example subscribe
//! MessagePack-RPC: 0 1 2 (the end)
//! MessagePack-RPC: 0 1 2 ... unsubscribed
//! JSON-RPC over WebSocket: 0 1 2 (the end)
//! JSON-RPC over WebSocket: 0 1 2 ... unsubscribed
//! ```

use std::time::Duration;

use futures_util::StreamExt;
use rpc_core::{Stream, Transport, service};

/// Counts.
#[service]
pub trait Ticker {
    /// Counts 0, 1, ..., n - 1 (n = 0: for ever), one every interval_ms milliseconds.
    async fn count(&self, n: u64, interval_ms: u64) -> Stream<u64>;
}

struct Impl;

impl Ticker for Impl {
    async fn count(&self, n: u64, interval_ms: u64) -> Stream<u64> {
        let every = Duration::from_millis(interval_ms);
        let items = futures_util::stream::iter((0..).take_while(move |i| n == 0 || *i < n));
        Stream::new(items.then(move |i| async move {
            tokio::time::sleep(every).await;
            i
        }))
    }
}

/// Subscribes twice through `transport`: a finite stream read to its end, and a forever one left after three.
async fn show(name: &str, transport: impl Transport) -> Result<(), rpc_core::Error> {
    let ticker = TickerClient::new(transport);
    let mut items = Vec::new();
    let mut counts = ticker.count(3, 10).await?;
    while let Some(n) = counts.next().await {
        items.push(n?.to_string());
    }
    println!("{name}: {} (the end)", items.join(" "));

    let mut forever = ticker.count(0, 10).await?;
    let mut first = Vec::new();
    while first.len() < 3
        && let Some(n) = forever.next().await
    {
        first.push(n?.to_string());
    }
    // Ends the stream on the server (dropping `forever` would too, without waiting for the answer).
    forever.unsubscribe().await?;
    println!("{name}: {} ... unsubscribed", first.join(" "));
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let msgpack = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = msgpack.local_addr()?;
    tokio::spawn(rpc_msgpack::Server::new(TickerServer::new(Impl)).serve(msgpack));
    show("MessagePack-RPC", rpc_msgpack::Client::connect(addr).await?).await?;

    let ws = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("ws://{}/", ws.local_addr()?);
    tokio::spawn(rpc_json::duplex::Server::new(TickerServer::new(Impl)).serve_ws(ws));
    show("JSON-RPC over WebSocket", rpc_json::duplex::Client::connect_ws(&url).await?).await?;
    Ok(())
}

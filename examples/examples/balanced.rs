//! A client over three servers: `rpc_balance::Balanced` spreads `double()` calls over three MessagePack-RPC
//! servers in this process, keeps answering while one of them is stopped, and uses it again once it is back on
//! its port. `double` is marked `#[rpc(idempotent)]`, so a call lost with the stopped server is sent again to
//! another one; a method not marked would never be sent twice.
//!
//! ```text
//! cargo run --example balanced
//! # 300 calls over 3 endpoints, 0 failed
//! # 127.0.0.1:PORT: ... calls, 0 errors, up ...
//! ```

use std::net::SocketAddr;
use std::time::Duration;

use rpc_examples::{Doubler, ServicesClient, ServicesServer};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// One server on `addr`, stopped at once (connections and calls in flight dropped) when `stop` fires.
async fn serve(addr: SocketAddr) -> std::io::Result<(SocketAddr, oneshot::Sender<()>)> {
    let listener = TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = oneshot::channel::<()>();
    let server = rpc_msgpack::Server::new(ServicesServer::new(Doubler)).shutdown_timeout(Duration::ZERO);
    tokio::spawn(server.serve_with_shutdown(listener, async move { drop(stopped.await) }));
    Ok((addr, stop))
}

#[tokio::main]
async fn main() {
    if let Err(e) = run().await {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let mut servers = Vec::new();
    for _ in 0..3 {
        servers.push(serve("127.0.0.1:0".parse()?).await?);
    }
    let names: Vec<String> = servers.iter().map(|(addr, _)| addr.to_string()).collect();
    let balanced = rpc_balance::Balanced::builder(|endpoint: &rpc_balance::Endpoint| {
        let addr = endpoint.name().to_owned();
        async move { rpc_msgpack::Client::connect(addr).await.map_err(rpc_core::Error::from) }
    })
    .endpoints(&names)?;
    let client = ServicesClient::new(balanced.clone());

    let (mut failed, mut stopped) = (0, None);
    for n in 0..300 {
        if n == 100 {
            // Stop the second server: its calls go to the other two.
            let (addr, stop) = servers.remove(1);
            let _ = stop.send(());
            println!("stopped {addr}");
            stopped = Some(addr);
        }
        if n == 200
            && let Some(addr) = stopped.take()
        {
            // Back on its port: probed after a backoff (the balancer probes as calls come), then used again.
            servers.insert(1, serve(addr).await?);
            println!("started {addr} again");
        }
        if n >= 200 {
            // A call every 10 ms from here: the last 100 calls span a second, longer than the longest backoff.
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        match client.double(n).await {
            Ok(doubled) if doubled == 2 * n => {}
            Ok(other) => return Err(format!("double({n}) answered {other}").into()),
            Err(e) => {
                failed += 1;
                eprintln!("double({n}) failed: {e}");
            }
        }
    }
    println!("300 calls over 3 endpoints, {failed} failed");
    for e in balanced.endpoints() {
        let up = if e.up { "up" } else { "down" };
        println!("{}: {} calls, {} errors, {up}", e.endpoint.name(), e.calls, e.errors);
    }
    Ok(())
}

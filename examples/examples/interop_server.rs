//! The test peer: one `Interop` service instance served on every transport asked for, at once.
//!
//! ```text
//! cargo run --example interop_server -- --xml 127.0.0.1:6789
//! ```
//!
//! For each transport it prints one line on stdout once it listens, e.g. `xml http://127.0.0.1:6789/`, so
//! scripts and tests can start it on port 0 and read the address. Ctrl-C shuts every server down gracefully.

use std::net::SocketAddr;
use std::sync::Arc;

use clap::Parser;
use rpc_examples::interop::{InteropServer, InteropService};
use tokio::net::TcpListener;

/// Serve the interop test service.
#[derive(Debug, Parser)]
#[command(group(clap::ArgGroup::new("transport").required(true).multiple(true)))]
struct Args {
    /// Serve XML-RPC over HTTP on this address (port 0 picks a free one).
    #[arg(long, value_name = "ADDR", group = "transport")]
    xml: Option<SocketAddr>,
}

#[tokio::main]
async fn main() {
    rpc_examples::init_logging("info");
    let args = Args::parse();
    let service = Arc::new(InteropService::default());
    let (stop, _) = tokio::sync::watch::channel(false);
    let mut servers = tokio::task::JoinSet::new();

    if let Some(addr) = args.xml {
        let listener = bind(addr).await;
        announce("xml", &format!("http://{}/", local(&listener)));
        let mut stopped = stop.subscribe();
        let server = rpc_xml::Server::new(InteropServer::from_arc(service.clone()));
        servers.spawn(async move {
            let _ = server
                .serve_with_shutdown(listener, async move {
                    let _ = stopped.wait_for(|s| *s).await;
                })
                .await;
        });
    }

    let _ = tokio::signal::ctrl_c().await;
    tracing::info!("shutting down");
    let _ = stop.send(true);
    while servers.join_next().await.is_some() {}
}

async fn bind(addr: SocketAddr) -> TcpListener {
    match TcpListener::bind(addr).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: cannot listen on {addr}: {e}");
            std::process::exit(1);
        }
    }
}

fn local(listener: &TcpListener) -> SocketAddr {
    match listener.local_addr() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    }
}

/// One line per transport on stdout, flushed at once, for whoever started us.
fn announce(transport: &str, address: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{transport} {address}");
    let _ = out.flush();
}

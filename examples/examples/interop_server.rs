//! The test peer: one `Interop` service instance served on every transport asked for, at once.
//!
//! ```text
//! cargo run --example interop_server -- --xml 127.0.0.1:6789
//! cargo run --example interop_server -- --json 127.0.0.1:6791
//! cargo run --example interop_server -- --msgpack 127.0.0.1:6790 --msgpack-unix /tmp/interop.sock
//! ```
//!
//! For each transport it prints one line on stdout once it listens, e.g. `xml http://127.0.0.1:6789/`, so
//! scripts and tests can start it on port 0 and read the address. Ctrl-C shuts every server down gracefully.
//!
//! With `--stdio` it also serves MessagePack-RPC on its stdin and stdout (the way Neovim's
//! `jobstart(cmd, {'rpc': v:true})` runs a plugin): the announcements then go to stderr, and the process exits
//! when stdin closes.

use std::net::SocketAddr;
use std::sync::Arc;

use clap::Parser;
use rpc_examples::interop::{InteropServer, InteropService};

/// Serve the interop test service.
#[derive(Debug, Parser)]
#[command(group(clap::ArgGroup::new("transport").required(true).multiple(true)))]
struct Args {
    /// Serve XML-RPC over HTTP on this address (port 0 picks a free one).
    #[arg(long, value_name = "ADDR", group = "transport")]
    xml: Option<SocketAddr>,
    /// Serve JSON-RPC 2.0 over HTTP on this address (port 0 picks a free one).
    #[arg(long, value_name = "ADDR", group = "transport")]
    json: Option<SocketAddr>,
    /// Serve MessagePack-RPC over TCP on this address (port 0 picks a free one).
    #[arg(long, value_name = "ADDR", group = "transport")]
    msgpack: Option<SocketAddr>,
    /// Serve MessagePack-RPC on a Unix domain socket at this path (a stale socket file there is replaced).
    #[arg(long, value_name = "PATH", group = "transport")]
    msgpack_unix: Option<std::path::PathBuf>,
    /// Serve MessagePack-RPC on stdin and stdout, until stdin closes.
    #[arg(long, group = "transport")]
    stdio: bool,
}

#[tokio::main]
async fn main() {
    rpc_examples::init_logging("info");
    let args = Args::parse();
    STDOUT_TAKEN.store(args.stdio, std::sync::atomic::Ordering::SeqCst);
    let service = Arc::new(InteropService::default());
    let (stop, _) = tokio::sync::watch::channel(false);
    let mut servers = tokio::task::JoinSet::new();

    if let Some(addr) = args.xml {
        let (listener, local) = rpc_examples::listen(addr).await;
        announce("xml", &format!("http://{local}/"));
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

    if let Some(addr) = args.json {
        let (listener, local) = rpc_examples::listen(addr).await;
        announce("json", &format!("http://{local}/"));
        let mut stopped = stop.subscribe();
        let server = rpc_json::Server::new(InteropServer::from_arc(service.clone()));
        servers.spawn(async move {
            let _ = server.serve_with_shutdown(listener, async move { drop(stopped.wait_for(|s| *s).await) }).await;
        });
    }

    let msgpack = rpc_msgpack::Server::new(InteropServer::from_arc(service.clone()));
    if let Some(addr) = args.msgpack {
        let (listener, local) = rpc_examples::listen(addr).await;
        announce("msgpack", &local.to_string());
        let mut stopped = stop.subscribe();
        let server = msgpack.clone();
        servers.spawn(async move {
            let _ = server.serve_with_shutdown(listener, async move { drop(stopped.wait_for(|s| *s).await) }).await;
        });
    }
    if let Some(path) = args.msgpack_unix {
        let _ = std::fs::remove_file(&path);
        let listener = match tokio::net::UnixListener::bind(&path) {
            Ok(l) => l,
            Err(e) => {
                eprintln!("error: cannot listen on {}: {e}", path.display());
                std::process::exit(1);
            }
        };
        announce("msgpack-unix", &path.display().to_string());
        let mut stopped = stop.subscribe();
        let server = msgpack.clone();
        servers.spawn(async move {
            let _ = server.serve_with_shutdown(listener, async move { drop(stopped.wait_for(|s| *s).await) }).await;
        });
    }
    let stdio = args.stdio.then(|| {
        announce("stdio", "stdin/stdout");
        tokio::spawn(msgpack.serve_stdio())
    });

    match stdio {
        Some(stdio) => tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            ended = stdio => tracing::info!(?ended, "stdio connection ended"),
        },
        None => drop(tokio::signal::ctrl_c().await),
    }
    tracing::info!("shutting down");
    let _ = stop.send(true);
    while servers.join_next().await.is_some() {}
    if args.stdio {
        // Tokio reads stdin on a thread that cannot be interrupted: exit instead of waiting for it.
        std::process::exit(0);
    }
}

/// Set when stdout carries MessagePack-RPC (`--stdio`): announcements go to stderr instead.
static STDOUT_TAKEN: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// One line per transport on stdout, flushed at once, for whoever started us.
fn announce(transport: &str, address: &str) {
    use std::io::Write;
    if STDOUT_TAKEN.load(std::sync::atomic::Ordering::SeqCst) {
        eprintln!("{transport} {address}");
        return;
    }
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{transport} {address}");
    let _ = out.flush();
}

//! The test peer: one `Interop` service instance served on every transport asked for, at once.
//!
//! ```text
//! cargo run --example interop_server -- --xml 127.0.0.1:6789
//! cargo run --example interop_server -- --json 127.0.0.1:6791
//! cargo run --example interop_server -- --msgpack 127.0.0.1:6790 --msgpack-unix /tmp/interop.sock
//! cargo run --example interop_server -- --json-tcp 127.0.0.1:6792 --json-unix /tmp/interop-json.sock
//! cargo run --example interop_server -- --json-ws 127.0.0.1:6793
//! ```
//!
//! For each transport it prints one line on stdout once it listens, e.g. `xml http://127.0.0.1:6789/`, so
//! scripts and tests can start it on port 0 and read the address. Ctrl-C or SIGTERM shuts every server down
//! gracefully: each stops accepting, answers its calls in flight, and exits once they are done (HTTP servers
//! also answer one more request on each connection within their drain grace; see `rpc_http::ServerConfig`).
//!
//! With `--stdio` it also serves MessagePack-RPC on its stdin and stdout (the way Neovim's
//! `jobstart(cmd, {'rpc': v:true})` runs a plugin), and with `--json-stdio` JSON-RPC with LSP's
//! `Content-Length` framing (the way an editor runs a language server): the announcements then go to stderr,
//! and the process exits when stdin closes.

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
    #[arg(long, group = "transport", conflicts_with = "json_stdio")]
    stdio: bool,
    /// Serve JSON-RPC 2.0 over TCP on this address: one message per line or `Content-Length` framed.
    #[arg(long, value_name = "ADDR", group = "transport")]
    json_tcp: Option<SocketAddr>,
    /// Serve JSON-RPC 2.0 on a Unix domain socket at this path (a stale socket file there is replaced).
    #[arg(long, value_name = "PATH", group = "transport")]
    json_unix: Option<std::path::PathBuf>,
    /// Serve JSON-RPC 2.0 over WebSocket on this address (any path; announced with `/`).
    #[arg(long, value_name = "ADDR", group = "transport")]
    json_ws: Option<SocketAddr>,
    /// Serve JSON-RPC 2.0 on stdin and stdout with `Content-Length` framing, until stdin closes.
    #[arg(long, group = "transport")]
    json_stdio: bool,
    /// Serve zerorpc (MessagePack over ZeroMQ) on this endpoint: `tcp://HOST:PORT` (port 0 picks a free one)
    /// or `ipc:///PATH`; may be given several times.
    #[arg(long, value_name = "ENDPOINT", group = "transport")]
    zerorpc: Vec<String>,
}

#[tokio::main]
async fn main() {
    rpc_examples::init_logging("info");
    let args = Args::parse();
    // Before anything is announced: a SIGTERM from then on drains.
    let shutdown = rpc_examples::shutdown_signal();
    let on_stdio = args.stdio || args.json_stdio;
    STDOUT_TAKEN.store(on_stdio, std::sync::atomic::Ordering::SeqCst);
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
    let json = rpc_json::duplex::Server::new(InteropServer::from_arc(service.clone()));
    if let Some(addr) = args.msgpack {
        let (listener, local) = rpc_examples::listen(addr).await;
        announce("msgpack", &local.to_string());
        servers.spawn(serve_until(msgpack.clone(), listener, stop.subscribe()));
    }
    if let Some(path) = args.msgpack_unix {
        announce("msgpack-unix", &path.display().to_string());
        servers.spawn(serve_until(msgpack.clone(), listen_unix(&path), stop.subscribe()));
    }
    if let Some(addr) = args.json_tcp {
        let (listener, local) = rpc_examples::listen(addr).await;
        announce("json-tcp", &local.to_string());
        servers.spawn(serve_until(json.clone(), listener, stop.subscribe()));
    }
    if let Some(addr) = args.json_ws {
        let (listener, local) = rpc_examples::listen(addr).await;
        announce("json-ws", &format!("ws://{local}/"));
        let (server, mut stopped) = (json.clone(), stop.subscribe());
        servers.spawn(async move {
            let _ = server.serve_ws_with_shutdown(listener, async move { drop(stopped.wait_for(|s| *s).await) }).await;
        });
    }
    if let Some(path) = args.json_unix {
        announce("json-unix", &path.display().to_string());
        servers.spawn(serve_until(json.clone(), listen_unix(&path), stop.subscribe()));
    }
    if !args.zerorpc.is_empty() {
        let endpoints: Vec<&str> = args.zerorpc.iter().map(String::as_str).collect();
        let server = rpc_zerorpc::Server::new(InteropServer::from_arc(service.clone())).name("interop");
        let bound = match server.bind(&endpoints).await {
            Ok(bound) => bound,
            Err(e) => {
                eprintln!("error: {e}");
                std::process::exit(1);
            }
        };
        for endpoint in bound.endpoints() {
            announce("zerorpc", endpoint);
        }
        let mut stopped = stop.subscribe();
        servers.spawn(async move {
            let _ = bound.run_with_shutdown(async move { drop(stopped.wait_for(|s| *s).await) }).await;
        });
    }
    let stdio = if args.stdio {
        announce("stdio", "stdin/stdout");
        Some(tokio::spawn(msgpack.serve_stdio()))
    } else if args.json_stdio {
        announce("json-stdio", "stdin/stdout");
        Some(tokio::spawn(json.serve_stdio()))
    } else {
        None
    };

    match stdio {
        Some(stdio) => tokio::select! {
            () = shutdown => {}
            ended = stdio => tracing::info!(?ended, "stdio connection ended"),
        },
        None => shutdown.await,
    }
    tracing::info!("shutting down");
    let _ = stop.send(true);
    while servers.join_next().await.is_some() {}
    if on_stdio {
        // Tokio reads stdin on a thread that cannot be interrupted: exit instead of waiting for it.
        std::process::exit(0);
    }
}

/// Serves `server` on `listener` until `stop` turns true.
async fn serve_until<D, P, L>(
    server: rpc_engine::Server<D, P>,
    listener: L,
    mut stop: tokio::sync::watch::Receiver<bool>,
) where
    D: rpc_core::Dispatch,
    P: rpc_engine::Protocol + Clone + Default,
    L: rpc_engine::Listener,
{
    let _ = server.serve_with_shutdown(listener, async move { drop(stop.wait_for(|s| *s).await) }).await;
}

/// A Unix listener at `path` (a stale socket file there is replaced); exits on failure.
fn listen_unix(path: &std::path::Path) -> tokio::net::UnixListener {
    let _ = std::fs::remove_file(path);
    match tokio::net::UnixListener::bind(path) {
        Ok(listener) => listener,
        Err(e) => {
            eprintln!("error: cannot listen on {}: {e}", path.display());
            std::process::exit(1);
        }
    }
}

/// Set when stdout carries RPC (`--stdio`, `--json-stdio`) (`--stdio`): announcements go to stderr instead.
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

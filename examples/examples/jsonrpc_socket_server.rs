//! A JSON-RPC 2.0 server exposing `double` on the duplex transports: TCP (one JSON text per line or LSP's
//! `Content-Length` framing, told apart per connection), a Unix socket, WebSocket, or stdio (`Content-Length`
//! framed, the way an editor runs a language server). Each call is logged on stderr as one line at info.
//!
//! ```text
//! cargo run --example jsonrpc_socket_server                          # TCP on 127.0.0.1:6789
//! cargo run --example jsonrpc_socket_server -- --ws                  # WebSocket on ws://127.0.0.1:6789/
//! cargo run --example jsonrpc_socket_server -- --unix /tmp/rpc.sock  # a Unix socket
//! cargo run --example jsonrpc_socket_server -- --stdio               # stdin/stdout
//! printf '{"jsonrpc":"2.0","method":"double","params":[10],"id":1}\n' | nc 127.0.0.1 6789
//! ```

use std::net::SocketAddr;

use clap::Parser;
use rpc_examples::{AccessLog, Doubler, ServicesServer};

/// Serve `double(num)` over JSON-RPC on a socket, WebSocket or stdio.
#[derive(Debug, Parser)]
struct Args {
    /// Address to listen on (TCP, or WebSocket with --ws).
    #[arg(long, default_value = "127.0.0.1:6789")]
    addr: SocketAddr,
    /// Speak WebSocket on --addr.
    #[arg(long, conflicts_with_all = ["unix", "stdio"])]
    ws: bool,
    /// Listen on a Unix socket at this path instead (a stale socket file there is replaced).
    #[arg(long, value_name = "PATH", conflicts_with = "stdio")]
    unix: Option<std::path::PathBuf>,
    /// Serve on stdin and stdout until stdin closes.
    #[arg(long)]
    stdio: bool,
}

#[tokio::main]
async fn main() {
    rpc_examples::init_logging("info");
    let args = Args::parse();
    let server = rpc_json::duplex::Server::new(AccessLog::new(ServicesServer::new(Doubler)));
    let served = if args.stdio {
        // stdout carries the answers: the log goes to stderr, as always.
        server.serve_stdio().await.map_err(|e| e.to_string())
    } else if let Some(path) = args.unix {
        let _ = std::fs::remove_file(&path);
        match tokio::net::UnixListener::bind(&path) {
            Ok(listener) => {
                println!("serving double() over JSON-RPC on the Unix socket {}", path.display());
                server.serve_with_shutdown(listener, rpc_examples::ctrl_c()).await.map_err(|e| e.to_string())
            }
            Err(e) => Err(format!("cannot listen on {}: {e}", path.display())),
        }
    } else {
        let (listener, addr) = rpc_examples::listen(args.addr).await;
        if args.ws {
            println!("serving double() over JSON-RPC over WebSocket at ws://{addr}/");
            server.serve_ws_with_shutdown(listener, rpc_examples::ctrl_c()).await.map_err(|e| e.to_string())
        } else {
            println!("serving double() over JSON-RPC over TCP at {addr}");
            server.serve_with_shutdown(listener, rpc_examples::ctrl_c()).await.map_err(|e| e.to_string())
        }
    };
    if let Err(e) = served {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
    if args.stdio {
        // Tokio reads stdin on a thread that cannot be interrupted: exit instead of waiting for it.
        std::process::exit(0);
    }
}

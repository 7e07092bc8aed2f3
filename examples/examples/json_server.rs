//! A JSON-RPC 2.0 server exposing `double`, the JSON twin of `xmlrpc_server`: each request is logged.
//!
//! ```text
//! cargo run --example json_server                      # listens on 127.0.0.1:6789
//! curl -d '{"jsonrpc":"2.0","method":"double","params":[9],"id":1}' http://127.0.0.1:6789/
//! ```

use std::net::SocketAddr;

use clap::Parser;
use rpc_examples::{Doubler, ServicesServer};

/// Serve `double(num)` over JSON-RPC.
#[derive(Debug, Parser)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:6789")]
    addr: SocketAddr,
}

#[tokio::main]
async fn main() {
    rpc_examples::init_logging("info,rpc_json=debug");
    let args = Args::parse();
    let listener = match tokio::net::TcpListener::bind(args.addr).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: cannot listen on {}: {e} (is another server running? try --addr 127.0.0.1:0)", args.addr);
            std::process::exit(1);
        }
    };
    if let Ok(addr) = listener.local_addr() {
        println!("serving double() over JSON-RPC at http://{addr}/");
    }
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    if let Err(e) = rpc_json::Server::new(ServicesServer::new(Doubler)).serve_with_shutdown(listener, shutdown).await {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

//! A JSON-RPC 2.0 server exposing `double`, the JSON twin of `xmlrpc_server`: each call is logged on stderr as one
//! line at info (method, peer, duration, outcome); `RUST_LOG=warn` quiets it.
//!
//! ```text
//! cargo run --example json_server                      # listens on 127.0.0.1:6789
//! curl -d '{"jsonrpc":"2.0","method":"double","params":[9],"id":1}' http://127.0.0.1:6789/
//! ```

use std::net::SocketAddr;

use clap::Parser;
use rpc_examples::{AccessLog, Doubler, ServicesServer};

/// Serve `double(num)` over JSON-RPC.
#[derive(Debug, Parser)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:6789")]
    addr: SocketAddr,
}

#[tokio::main]
async fn main() {
    rpc_examples::init_logging("info");
    let args = Args::parse();
    let (listener, addr) = rpc_examples::listen(args.addr).await;
    println!("serving double() over JSON-RPC at http://{addr}/");
    let server = rpc_json::Server::new(AccessLog::new(ServicesServer::new(Doubler)));
    if let Err(e) = server.serve_with_shutdown(listener, rpc_examples::ctrl_c()).await {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

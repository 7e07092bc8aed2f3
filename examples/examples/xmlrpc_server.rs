//! An XML-RPC server exposing `double`, like the `SimpleXMLRPCServer` of *Introducing Python*: each call is logged
//! on stderr as one line at info (method, peer, duration, outcome); `RUST_LOG=warn` quiets it.
//!
//! ```text
//! cargo run --example xmlrpc_server                    # listens on 127.0.0.1:6789
//! python3 -c "import xmlrpc.client as x; print(x.ServerProxy('http://127.0.0.1:6789/').double(7))"
//! ```

use std::net::SocketAddr;

use clap::Parser;
use rpc_examples::{AccessLog, Doubler, ServicesServer};

/// Serve `double(num)` over XML-RPC.
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
    println!("serving double() over XML-RPC at http://{addr}/");
    let server = rpc_xml::Server::new(AccessLog::new(ServicesServer::new(Doubler)));
    if let Err(e) = server.serve_with_shutdown(listener, rpc_examples::ctrl_c()).await {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

//! An XML-RPC server exposing `double`, like the seed's `SimpleXMLRPCServer`: each request is logged.
//!
//! ```text
//! cargo run --example xmlrpc_server                    # listens on 127.0.0.1:6789
//! python3 -c "import xmlrpc.client as x; print(x.ServerProxy('http://127.0.0.1:6789/').double(7))"
//! ```

use std::net::SocketAddr;

use clap::Parser;
use rpc_examples::{Doubler, ServicesServer};

/// Serve `double(num)` over XML-RPC.
#[derive(Debug, Parser)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:6789")]
    addr: SocketAddr,
}

#[tokio::main]
async fn main() {
    rpc_examples::init_logging("info,rpc_xml=debug");
    let args = Args::parse();
    let listener = match tokio::net::TcpListener::bind(args.addr).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: cannot listen on {}: {e} (is another server running? try --addr 127.0.0.1:0)", args.addr);
            std::process::exit(1);
        }
    };
    if let Ok(addr) = listener.local_addr() {
        println!("serving double() over XML-RPC at http://{addr}/");
    }
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    if let Err(e) = rpc_xml::Server::new(ServicesServer::new(Doubler)).serve_with_shutdown(listener, shutdown).await {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

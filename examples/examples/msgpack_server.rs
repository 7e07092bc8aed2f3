//! A MessagePack-RPC server exposing `double` over TCP: the msgpack half of the double() pair.
//!
//! ```text
//! cargo run --example msgpack_server                   # listens on 127.0.0.1:6789
//! cargo run --example msgpack_client                   # Double 8 is 16
//! python3 -c "import msgpack, socket; s = socket.create_connection(('127.0.0.1', 6789)); \
//!   s.sendall(msgpack.packb([0, 1, 'double', [8]])); print(msgpack.unpackb(s.recv(64)))"   # [1, 1, None, 16]
//! ```

use std::net::SocketAddr;

use clap::Parser;
use rpc_examples::{Doubler, ServicesServer};

/// Serve `double(num)` over MessagePack-RPC on TCP.
#[derive(Debug, Parser)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:6789")]
    addr: SocketAddr,
}

#[tokio::main]
async fn main() {
    rpc_examples::init_logging("info,rpc_msgpack=debug");
    let args = Args::parse();
    let listener = match tokio::net::TcpListener::bind(args.addr).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: cannot listen on {}: {e} (is another server running? try --addr 127.0.0.1:0)", args.addr);
            std::process::exit(1);
        }
    };
    if let Ok(addr) = listener.local_addr() {
        println!("serving double() over MessagePack-RPC at {addr}");
    }
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    if let Err(e) = rpc_msgpack::Server::new(ServicesServer::new(Doubler)).serve_with_shutdown(listener, shutdown).await
    {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

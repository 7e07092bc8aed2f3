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
    let (listener, addr) = rpc_examples::listen(args.addr).await;
    println!("serving double() over MessagePack-RPC at {addr}");
    let server = rpc_msgpack::Server::new(ServicesServer::new(Doubler));
    if let Err(e) = server.serve_with_shutdown(listener, rpc_examples::ctrl_c()).await {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

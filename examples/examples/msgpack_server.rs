//! A MessagePack-RPC server exposing `double` over TCP: the msgpack half of the double() pair. Each call is logged
//! on stderr as one line at info (method, peer, duration, outcome); `RUST_LOG=warn` quiets it.
//!
//! ```text
//! cargo run --example msgpack_server                   # listens on 127.0.0.1:6789
//! cargo run --example msgpack_client                   # Double 8 is 16
//! pip install msgpack                                  # for the Python one-liner
//! python3 -c "import msgpack, socket; s = socket.create_connection(('127.0.0.1', 6789)); \
//!   s.sendall(msgpack.packb([0, 1, 'double', [8]])); print(msgpack.unpackb(s.recv(64)))"   # [1, 1, None, 16]
//! ```

use std::net::SocketAddr;

use clap::Parser;
use rpc_examples::{AccessLog, Doubler, ServicesServer};

/// Serve `double(num)` over MessagePack-RPC on TCP.
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
    println!("serving double() over MessagePack-RPC at {addr}");
    let server = rpc_msgpack::Server::new(AccessLog::new(ServicesServer::new(Doubler)));
    if let Err(e) = server.serve_with_shutdown(listener, rpc_examples::ctrl_c()).await {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

//! A JSON-RPC 2.0 client calling `double(10)` over a duplex transport: prints `Double 10 is 20`.
//!
//! ```text
//! cargo run --example jsonrpc_socket_client                                 # TCP to 127.0.0.1:6789
//! cargo run --example jsonrpc_socket_client -- --url ws://127.0.0.1:6789/   # WebSocket
//! cargo run --example jsonrpc_socket_client -- --unix /tmp/rpc.sock         # a Unix socket
//! cargo run --example jsonrpc_socket_client -- --spawn target/debug/examples/jsonrpc_socket_server
//!                                           # runs the server as a child and talks to its stdio
//! ```

use std::net::SocketAddr;

use clap::Parser;
use rpc_examples::ServicesClient;

/// Call `double(num)` on a JSON-RPC server over TCP, WebSocket, a Unix socket or a child's stdio.
#[derive(Debug, Parser)]
struct Args {
    /// The server's TCP address.
    #[arg(long, default_value = "127.0.0.1:6789")]
    addr: SocketAddr,
    /// A `ws://` or `wss://` URL to call instead.
    #[arg(long, conflicts_with_all = ["unix", "spawn"])]
    url: Option<String>,
    /// A Unix socket to call instead.
    #[arg(long, value_name = "PATH", conflicts_with = "spawn")]
    unix: Option<std::path::PathBuf>,
    /// Run this server program (with `--stdio`) and call it over its stdin and stdout instead.
    #[arg(long, value_name = "PROGRAM")]
    spawn: Option<std::path::PathBuf>,
    /// The number to double.
    #[arg(long, default_value_t = 10)]
    num: i64,
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let builder = rpc_json::duplex::Client::builder();
    let transport = if let Some(url) = &args.url {
        builder.connect_ws(url).await
    } else if let Some(path) = &args.unix {
        builder.connect_unix(path).await
    } else if let Some(program) = &args.spawn {
        let mut command = tokio::process::Command::new(program);
        command.arg("--stdio").env("RUST_LOG", "warn");
        builder.spawn(command)
    } else {
        builder.connect(args.addr).await
    };
    let transport = match transport {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {e}");
            eprintln!("(is the server running? start one with `cargo run --example jsonrpc_socket_server`)");
            std::process::exit(1);
        }
    };
    let client = ServicesClient::new(transport);
    match client.double(args.num).await {
        Ok(result) => println!("Double {} is {result}", args.num),
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    }
}

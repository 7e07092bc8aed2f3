//! A MessagePack-RPC client calling `double(8)` over TCP: prints `Double 8 is 16`.
//!
//! ```text
//! cargo run --example msgpack_client                   # calls 127.0.0.1:6789
//! ```

use clap::Parser;
use rpc_examples::ServicesClient;

/// Call `double(num)` on a MessagePack-RPC server.
#[derive(Debug, Parser)]
struct Args {
    /// The server's address (HOST:PORT).
    #[arg(long, default_value = "127.0.0.1:6789")]
    addr: String,
    /// The number to double.
    #[arg(long, default_value_t = 8)]
    num: i64,
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let transport = match rpc_msgpack::Client::connect(args.addr.as_str()).await {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: cannot connect to {}: {e}", args.addr);
            eprintln!("(is the server running? start one with `cargo run --example msgpack_server`)");
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

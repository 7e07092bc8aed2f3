//! A zerorpc client calling `double(8)` over ZeroMQ: prints `Double 8 is 16`.
//!
//! ```text
//! cargo run --example zerorpc_client                   # calls tcp://127.0.0.1:4242
//! cargo run --example zerorpc_client -- --endpoint ipc:///tmp/double.sock
//! ```

use clap::Parser;
use rpc_examples::ServicesClient;

/// Call `double(num)` on a zerorpc server.
#[derive(Debug, Parser)]
struct Args {
    /// The server's TCP address (HOST:PORT).
    #[arg(long, default_value = "127.0.0.1:4242")]
    addr: String,
    /// The server's endpoint, instead of --addr: `tcp://HOST:PORT` or `ipc:///PATH`.
    #[arg(long)]
    endpoint: Option<String>,
    /// The number to double.
    #[arg(long, default_value_t = 8)]
    num: i64,
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let endpoint = args.endpoint.unwrap_or_else(|| format!("tcp://{}", args.addr));
    let transport = match rpc_zerorpc::Client::connect(&endpoint).await {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    };
    let client = ServicesClient::new(transport);
    match client.double(args.num).await {
        Ok(result) => println!("Double {} is {result}", args.num),
        Err(e) => {
            eprintln!("error: {e}");
            eprintln!("(is the server running? start one with `cargo run --example zerorpc_server`)");
            std::process::exit(1);
        }
    }
}

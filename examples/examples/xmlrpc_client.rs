//! An XML-RPC client calling `double(7)`, like the `ServerProxy` client of *Introducing Python*: prints
//! `Double 7 is 14`.
//!
//! ```text
//! cargo run --example xmlrpc_client                    # calls http://127.0.0.1:6789/
//! ```

use clap::Parser;
use rpc_examples::ServicesClient;

/// Call `double(num)` on an XML-RPC server.
#[derive(Debug, Parser)]
struct Args {
    /// The server's URL.
    #[arg(long, default_value = "http://127.0.0.1:6789/")]
    url: String,
    /// The number to double.
    #[arg(long, default_value_t = 7)]
    num: i64,
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let transport = match rpc_xml::Client::new(&args.url) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
    };
    let client = ServicesClient::new(transport);
    match client.double(args.num).await {
        Ok(result) => println!("Double {} is {result}", args.num),
        Err(e) => {
            eprintln!("error: {e}");
            eprintln!("(is the server running? start one with `cargo run --example xmlrpc_server`)");
            std::process::exit(1);
        }
    }
}

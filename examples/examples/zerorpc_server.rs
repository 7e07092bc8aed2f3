//! A zerorpc server exposing `double` over ZeroMQ: the zerorpc half of the double() pair, on zerorpc's own
//! default endpoint. Each call is logged on stderr as one line at info; `RUST_LOG=warn` quiets it.
//!
//! ```text
//! cargo run --example zerorpc_server                   # listens on tcp://127.0.0.1:4242
//! cargo run --example zerorpc_client                   # Double 8 is 16
//! pip install zerorpc                                  # for Python's client
//! python3 -c "import zerorpc; print(zerorpc.Client('tcp://127.0.0.1:4242').double(8))"   # 16
//! zerorpc tcp://127.0.0.1:4242 double 8                # zerorpc's own command line: 16
//! ```

use std::net::SocketAddr;

use clap::Parser;
use rpc_examples::{AccessLog, Doubler, ServicesServer};

/// Serve `double(num)` over zerorpc.
#[derive(Debug, Parser)]
struct Args {
    /// The TCP address to bind (`tcp://ADDR`; port 0 picks a free one).
    #[arg(long, default_value = "127.0.0.1:4242")]
    addr: SocketAddr,
    /// More endpoints to bind as well: `tcp://HOST:PORT` or `ipc:///PATH`.
    #[arg(long, value_name = "ENDPOINT")]
    endpoint: Vec<String>,
}

#[tokio::main]
async fn main() {
    rpc_examples::init_logging("info");
    let args = Args::parse();
    let mut endpoints = vec![format!("tcp://{}", args.addr)];
    endpoints.extend(args.endpoint);
    let endpoints: Vec<&str> = endpoints.iter().map(String::as_str).collect();
    let server = rpc_zerorpc::Server::new(AccessLog::new(ServicesServer::new(Doubler))).name("double");
    let bound = match server.bind(&endpoints).await {
        Ok(bound) => bound,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    };
    println!("serving double() over zerorpc at {}", bound.endpoints().join(" "));
    if let Err(e) = bound.run_with_shutdown(rpc_examples::ctrl_c()).await {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

//! A Neovim client: connects to a running Neovim, evaluates an expression, and serves a `double` handler that
//! Neovim can call back with `rpcrequest` on the same connection.
//!
//! ```text
//! nvim --listen 127.0.0.1:6666                                   # in one terminal (or :echo v:servername)
//! cargo run --example nvim_client -- --addr 127.0.0.1:6666       # or --socket /run/user/1000/nvim.1234.0
//! ```
//!
//! It prints the expression's value and the channel id, and says what to type in Neovim to call back
//! (`:echo rpcrequest(CHANNEL, 'double', 21)` shows 42); it serves until Neovim closes the connection or
//! Ctrl-C. With `--demo` it makes Neovim call `double(8)` itself, prints the answer and exits.

use std::path::PathBuf;

use clap::Parser;
use rpc_core::Value;
use rpc_examples::{Doubler, ServicesServer};
use rpc_msgpack::Client;
use rpc_msgpack::MessagePackSettings;
use rpc_msgpack::codec::ErrorFormat;

/// Talk to a running Neovim over MessagePack-RPC, both ways.
#[derive(Debug, Parser)]
#[command(group(clap::ArgGroup::new("nvim").required(true)))]
struct Args {
    /// Neovim's TCP address (`nvim --listen HOST:PORT`).
    #[arg(long, group = "nvim")]
    addr: Option<String>,
    /// Neovim's Unix socket (`v:servername`, or `$NVIM` inside Neovim's terminal).
    #[arg(long, group = "nvim")]
    socket: Option<PathBuf>,
    /// The Vim expression to evaluate.
    #[arg(long, default_value = "1 + 2")]
    expr: String,
    /// Have Neovim call `double(8)` back, print the answer, and exit.
    #[arg(long)]
    demo: bool,
}

#[tokio::main]
async fn main() {
    rpc_examples::init_logging("warn");
    let args = Args::parse();
    if let Err(e) = run(args).await {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

async fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    // Serve `double` to Neovim, with errors in the form Neovim shows.
    let builder = Client::builder().handler(ServicesServer::new(Doubler)).error_format(ErrorFormat::Neovim);
    let nvim = match (&args.addr, &args.socket) {
        (Some(addr), _) => builder.connect(addr.as_str()).await?,
        (None, Some(path)) => builder.connect_unix(path).await?,
        (None, None) => unreachable!("clap requires --addr or --socket"),
    };

    let value = nvim.call("nvim_eval", vec![args.expr.clone().into()]).await?;
    println!("{} = {}", args.expr, show(&value));

    let info = nvim.call("nvim_get_api_info", vec![]).await?;
    let channel = info.as_array().and_then(|i| i.first()).and_then(Value::as_i64).ok_or("no channel id")?;
    if args.demo {
        let doubled = nvim.call("nvim_eval", vec![format!("rpcrequest({channel}, 'double', 8)").into()]).await?;
        println!("Neovim called double(8) = {}", show(&doubled));
        return Ok(());
    }
    println!("connected as channel {channel}; in Neovim, try  :echo rpcrequest({channel}, 'double', 21)");
    nvim.notify("nvim_out_write", vec![format!("rpc: channel {channel} serves double()\n").into()]).await?;
    tokio::select! {
        () = nvim.closed() => println!("Neovim closed the connection"),
        _ = tokio::signal::ctrl_c() => {}
    }
    Ok(())
}

/// A value as a line of text.
fn show(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Int(i) => i.to_string(),
        other => format!("{other:?}"),
    }
}

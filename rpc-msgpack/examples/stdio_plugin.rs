//! A MessagePack-RPC server on its own stdin and stdout, the shape of a Neovim remote plugin: Neovim starts it
//! with `jobstart(cmd, {'rpc': v:true})` and calls it with `rpcrequest`. Logs go to stderr.
//!
//! ```vim
//! let job = jobstart(['cargo', 'run', '-q', '-p', 'rpc-msgpack', '--example', 'stdio_plugin'], {'rpc': v:true})
//! echo rpcrequest(job, 'double', 8)          " 16
//! echo rpcrequest(job, 'ask', '40 + 2')      " 42: the plugin asks Neovim to evaluate it
//! ```

use rpc_core::{Context, Fault, Value, service};
use rpc_msgpack::MessagePackSettings;
use rpc_msgpack::Peer;
use rpc_msgpack::codec::ErrorFormat;

/// What the plugin offers.
#[service]
pub trait Plugin {
    /// Returns num * 2.
    async fn double(&self, num: i64) -> i64;

    /// Evaluates `expr` in the Neovim that called: a call back over the same stdio connection.
    async fn ask(&self, expr: String, cx: &Context) -> Result<Value, Fault>;
}

struct Impl;

impl Plugin for Impl {
    async fn double(&self, num: i64) -> i64 {
        num * 2
    }

    async fn ask(&self, expr: String, cx: &Context) -> Result<Value, Fault> {
        let nvim = cx.get::<Peer>().ok_or_else(|| Fault::internal_error("no peer"))?;
        Ok(nvim.call("nvim_eval", vec![expr.into()]).await?)
    }
}

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info,rpc_msgpack=debug".into()),
        )
        .with_ansi(false)
        .with_writer(std::io::stderr)
        .init();
    let server = rpc_msgpack::Server::new(PluginServer::new(Impl)).error_format(ErrorFormat::Neovim);
    match server.serve_stdio().await {
        Ok(()) => tracing::info!("stdin closed; exiting"),
        Err(e) => {
            tracing::error!(error = %e, "the connection broke");
            // Tokio's stdin reader cannot be interrupted: exit rather than wait for it.
            std::process::exit(1);
        }
    }
}

//! The connectors of the zerorpc schemes: `zerorpc+tcp://HOST:PORT` and `zerorpc+ipc:///PATH`, through
//! `rpc_zerorpc::Client` (a `Transport` like the others; `--verbose` shows nothing of its wire).

use std::path::PathBuf;

use crate::Failure;
use crate::conn::Options;
use crate::scheme::Connecting;

/// The connector of `zerorpc+tcp://HOST:PORT`.
pub fn tcp(addr: String, opts: Options) -> Connecting {
    connect(format!("tcp://{addr}"), opts)
}

/// The connector of `zerorpc+ipc:///PATH`.
pub fn ipc(path: PathBuf, opts: Options) -> Connecting {
    connect(format!("ipc://{}", path.display()), opts)
}

fn connect(endpoint: String, opts: Options) -> Connecting {
    Box::pin(async move {
        match rpc_zerorpc::Client::builder().timeout(Some(opts.timeout)).connect(&endpoint).await {
            Ok(client) => Ok(Box::new(client) as Box<dyn rpc_core::Transport>),
            Err(e) => Err(Failure::other(format!("cannot connect to {endpoint}: {e}; is a zerorpc server there?"))),
        }
    })
}

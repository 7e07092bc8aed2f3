//! Interop with Node: `msgpack5rpc` (the library under Neovim's Node client) as a client of our server, in
//! `node/client.js`: the double pair, pipelining, a slow call before a fast one, a notification, error replies,
//! bin values, and our server calling back into Node.
//!
//! `node` must be on `PATH` and the package installed (`npm ci --prefix rpc-msgpack/tests/node`, as `.ci/run`
//! does): without them this test fails, it does not skip.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::time::Duration;

use rpc_test_support::{node_command, run_peer};

#[tokio::test]
async fn msgpack5rpc_client_drives_our_server() {
    let (addr, _) = common::serve_default().await;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/node/client.js");
    let cmd = node_command(&script, "msgpack5rpc", &[&addr.ip().to_string(), &addr.port().to_string()]);
    let out = run_peer(cmd, "node msgpack5rpc client", Duration::from_secs(30)).await;
    assert_eq!(out, "ok\n");
}

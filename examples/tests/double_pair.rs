//! The README's double() pair, as users run it: our example server with Python's `ServerProxy`, and our example
//! client against Python's `SimpleXMLRPCServer`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

use rpc_test_support::{example_binary, run_peer, run_python, spawn_peer, spawn_python_server};

#[tokio::test]
async fn python_client_calls_xmlrpc_server_example() {
    let mut cmd = Command::new(example_binary("xmlrpc_server"));
    cmd.args(["--addr", "127.0.0.1:0"]);
    let server = spawn_peer(cmd, "xmlrpc_server example").await;
    let url = format!("http://{}/", server.addr());
    let out =
        run_python("import sys, xmlrpc.client as x\nprint(x.ServerProxy(sys.argv[1]).double(7))\n", &[&url]).await;
    assert_eq!(out, "14\n");
}

#[tokio::test]
async fn xmlrpc_client_example_calls_python_server() {
    // The seed's server, on a port the OS picks.
    let server = spawn_python_server(
        "from xmlrpc.server import SimpleXMLRPCServer\n\
         def double(num):\n    return num * 2\n\
         server = SimpleXMLRPCServer(('127.0.0.1', 0), logRequests=False)\n\
         server.register_function(double, 'double')\n\
         print(server.server_address[1], flush=True)\n\
         server.serve_forever()\n",
        &[],
    )
    .await;
    let mut client = Command::new(example_binary("xmlrpc_client"));
    client.args(["--url", &format!("http://{}/", server.addr())]);
    let out = run_peer(client, "xmlrpc_client example", std::time::Duration::from_secs(30)).await;
    assert_eq!(out, "Double 7 is 14\n");
}

#[tokio::test]
async fn xmlrpc_client_example_says_what_to_do_when_no_server_runs() {
    let closed_port = rpc_test_support::ClosedPort::new();
    let closed = closed_port.addr();
    let out =
        Command::new(example_binary("xmlrpc_client")).args(["--url", &format!("http://{closed}/")]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("refused") && err.contains("cargo run --example xmlrpc_server"), "{err}");
}

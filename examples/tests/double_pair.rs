//! The README's double() pair, as users run it: our example server with Python's `ServerProxy`, our example
//! client against Python's `SimpleXMLRPCServer`, and the three example servers' faults and access log.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::process::{Command, Stdio};

use rpc_core::{Fault, Transport};
use rpc_examples::ServicesClient;
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
    // The SimpleXMLRPCServer of *Introducing Python*, on a port the OS picks.
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

/// The example servers and a client of each one's encoding.
const SERVERS: [&str; 4] = ["xmlrpc_server", "json_server", "msgpack_server", "zerorpc_server"];

/// An example server started on a free port, with its stderr kept for [`Example::stop`].
struct Example {
    child: std::process::Child,
    addr: SocketAddr,
}

impl Example {
    /// Starts `name` with `RUST_LOG` set to `rust_log`, or unset, and reads where it listens from its first line
    /// (`serving double() over XML-RPC at http://127.0.0.1:PORT/`).
    fn start(name: &str, rust_log: Option<&str>) -> Example {
        let mut cmd = Command::new(example_binary(name));
        cmd.args(["--addr", "127.0.0.1:0"]).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        match rust_log {
            Some(filter) => cmd.env("RUST_LOG", filter),
            None => cmd.env_remove("RUST_LOG"),
        };
        let mut child = cmd.spawn().unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let addr = line.split_whitespace().last().unwrap_or_default();
        let addr = addr.trim_start_matches("http://").trim_start_matches("tcp://").trim_end_matches('/');
        let addr = addr.parse().unwrap_or_else(|e| panic!("{name} printed {line:?}, not its address: {e}"));
        Example { child, addr }
    }

    /// A client of the server's encoding.
    async fn client(&self, name: &str) -> ServicesClient<Box<dyn Transport>> {
        let transport: Box<dyn Transport> = match name {
            "xmlrpc_server" => Box::new(rpc_xml::Client::new(&format!("http://{}/", self.addr)).unwrap()),
            "json_server" => Box::new(rpc_json::Client::new(&format!("http://{}/", self.addr)).unwrap()),
            "msgpack_server" => Box::new(rpc_msgpack::Client::connect(self.addr).await.unwrap()),
            "zerorpc_server" => Box::new(rpc_zerorpc::Client::connect(&format!("tcp://{}", self.addr)).await.unwrap()),
            other => panic!("no client for {other}"),
        };
        ServicesClient::new(transport)
    }

    /// Stops the server and returns all it wrote to stderr: every line was written before its call was answered.
    fn stop(mut self) -> String {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
        let mut stderr = String::new();
        self.child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
        stderr
    }
}

impl Drop for Example {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn example_servers_answer_an_overflowing_double_with_a_fault_and_keep_serving() {
    for name in SERVERS {
        let server = Example::start(name, None);
        let client = server.client(name).await;
        let fault = client.double(i64::MAX).await.unwrap_err();
        assert_eq!(
            fault.as_fault(),
            Some(&Fault::new(-32602, "double(9223372036854775807) overflows a 64-bit integer")),
            "{name}: {fault}"
        );
        let fault = client.double(i64::MIN).await.unwrap_err();
        assert_eq!(fault.as_fault().map(|f| f.code), Some(-32602), "{name}: {fault}");
        assert_eq!(client.double(-7).await.unwrap(), -14, "{name}");
        assert_eq!(client.double(i64::MAX / 2).await.unwrap(), i64::MAX - 1, "{name}");
        drop(client);
        server.stop();
    }
}

#[tokio::test]
async fn example_servers_log_one_access_line_per_call_at_info_and_no_debug() {
    for name in SERVERS {
        let server = Example::start(name, None);
        let client = server.client(name).await;
        assert_eq!(client.double(7).await.unwrap(), 14);
        assert!(client.double(i64::MAX).await.is_err());
        drop(client);
        let stderr = server.stop();
        let calls: Vec<&str> = stderr.lines().filter(|l| l.contains(" call ")).collect();
        assert_eq!(calls.len(), 2, "{name}: one line per call:\n{stderr}");
        for (line, outcome) in calls.iter().zip(["outcome=ok", "outcome=fault -32602"]) {
            assert!(line.contains(" INFO "), "{name}: {line}");
            // ZeroMQ does not tell a ROUTER its peers' addresses, only their identities: zerorpc has none to log.
            let peer = if name == "zerorpc_server" { "method=double peer=- " } else { "method=double peer=127.0.0.1:" };
            assert!(line.contains(peer), "{name}: {line}");
            assert!(line.contains(" duration=") && line.ends_with(outcome), "{name}: {line}");
        }
        assert!(!stderr.contains("DEBUG"), "{name}: nothing at debug by default:\n{stderr}");
    }
}

#[tokio::test]
async fn rust_log_quiets_the_access_log() {
    for name in SERVERS {
        let server = Example::start(name, Some("warn"));
        let client = server.client(name).await;
        assert_eq!(client.double(7).await.unwrap(), 14);
        drop(client);
        assert_eq!(server.stop(), "", "{name}");
    }
}

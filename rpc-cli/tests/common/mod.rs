//! What the `rpc` binary's integration tests share: running it, and the interop service on every protocol.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use rpc_examples::interop::{InteropServer, InteropService};
use rpc_test_support::{TempDir, bind_loopback};

/// What one run of `rpc` did.
#[derive(Debug)]
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

pub async fn rpc(args: &[&str]) -> Run {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_rpc"))
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .expect("run rpc");
    Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// The interop service on every protocol at once, sharing one instance.
pub struct Servers {
    pub xml: String,
    pub json: String,
    pub msgpack: String,
    pub unix: String,
    /// JSON-RPC over TCP (`jsonrpc+tcp://`).
    pub json_tcp: String,
    /// JSON-RPC over a Unix socket (`jsonrpc+unix://`).
    pub json_unix: String,
    /// JSON-RPC over WebSocket (`ws://`).
    pub ws: String,
    /// XML-RPC over HTTP on a Unix socket (`http+unix://`).
    pub xml_unix: String,
    /// zerorpc over ZeroMQ on TCP (`zerorpc+tcp://`).
    pub zerorpc: String,
    _dir: TempDir,
}

impl Servers {
    /// Every URL, each protocol and transport once.
    pub fn all(&self) -> [&str; 9] {
        [
            &self.xml,
            &self.json,
            &self.msgpack,
            &self.unix,
            &self.json_tcp,
            &self.json_unix,
            &self.ws,
            &self.xml_unix,
            &self.zerorpc,
        ]
    }
}

pub async fn servers() -> Servers {
    let service = Arc::new(InteropService::default());
    let (xml, json, msgpack) = (bind_loopback().await, bind_loopback().await, bind_loopback().await);
    let json_tcp = bind_loopback().await;
    let dir = TempDir::new("rpc-cli-test");
    let socket = dir.path().join("interop.sock");
    let unix = tokio::net::UnixListener::bind(&socket).unwrap();
    let json_socket = dir.path().join("interop-json.sock");
    let json_unix = tokio::net::UnixListener::bind(&json_socket).unwrap();
    let ws = bind_loopback().await;
    let xml_socket = dir.path().join("interop-xml.sock");
    let xml_unix = tokio::net::UnixListener::bind(&xml_socket).unwrap();
    let urls = Servers {
        xml: format!("http://{}/", xml.local_addr().unwrap()),
        json: format!("jsonrpc+http://{}/", json.local_addr().unwrap()),
        msgpack: format!("msgpack://{}", msgpack.local_addr().unwrap()),
        unix: format!("msgpack+unix://{}", socket.display()),
        json_tcp: format!("jsonrpc+tcp://{}", json_tcp.local_addr().unwrap()),
        json_unix: format!("jsonrpc+unix://{}", json_socket.display()),
        ws: format!("ws://{}/", ws.local_addr().unwrap()),
        xml_unix: format!("http+unix://{}", xml_socket.display()),
        zerorpc: String::new(),
        _dir: dir,
    };
    let zerorpc = rpc_zerorpc::Server::new(InteropServer::from_arc(service.clone())).name("interop");
    let zerorpc = zerorpc.bind(&["tcp://127.0.0.1:0"]).await.unwrap();
    let urls = Servers { zerorpc: zerorpc.endpoints()[0].replace("tcp://", "zerorpc+tcp://"), ..urls };
    tokio::spawn(zerorpc.run());
    tokio::spawn(rpc_xml::Server::new(InteropServer::from_arc(service.clone())).serve(xml));
    tokio::spawn(rpc_xml::Server::new(InteropServer::from_arc(service.clone())).serve(xml_unix));
    tokio::spawn(rpc_json::Server::new(InteropServer::from_arc(service.clone())).serve(json));
    let jd = rpc_json::duplex::Server::new(InteropServer::from_arc(service.clone()));
    tokio::spawn(jd.clone().serve(json_tcp));
    tokio::spawn(jd.clone().serve_ws(ws));
    tokio::spawn(jd.serve(json_unix));
    let mp = rpc_msgpack::Server::new(InteropServer::from_arc(service));
    tokio::spawn(mp.clone().serve(msgpack));
    tokio::spawn(mp.serve(unix));
    urls
}

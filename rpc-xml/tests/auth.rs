//! Authentication: the server's hook admits or refuses (401) each request; handlers see the caller's
//! credentials; clients send Basic from the URL or Basic/Bearer from the builder.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use rpc_core::{Context, Error, Transport, Value, service};
use rpc_http::Credentials;
use tokio::net::TcpListener;

/// Tells the caller who they are.
#[service]
pub trait WhoAmI {
    /// The caller's user name or `bearer`.
    async fn whoami(&self, cx: &Context) -> String;
}

struct Impl;

impl WhoAmI for Impl {
    async fn whoami(&self, cx: &Context) -> String {
        match cx.get::<Credentials>() {
            Some(Credentials::Basic { user, .. }) => user.clone(),
            Some(Credentials::Bearer { .. }) => "bearer".into(),
            _ => "nobody".into(),
        }
    }
}

async fn server() -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = rpc_xml::Server::new(WhoAmIServer::new(Impl)).authenticate(|c| match c {
        Some(Credentials::Basic { user, password }) => user == "alice" && password == "pa:ss wörd",
        Some(Credentials::Bearer { token }) => token == "t0ken",
        _ => false,
    });
    tokio::spawn(server.serve(listener));
    addr
}

#[tokio::test]
async fn admitted_callers_are_known_to_handlers() {
    let addr = server().await;
    let url = format!("http://alice:pa%3Ass%20w%C3%B6rd@{addr}/");
    let c = rpc_xml::Client::new(&url).unwrap();
    assert_eq!(c.call("whoami", vec![]).await.unwrap(), Value::from("alice"));
    let bearer = rpc_xml::Client::builder()
        .credentials(Credentials::Bearer { token: "t0ken".into() })
        .build(&format!("http://{addr}/"))
        .unwrap();
    assert_eq!(bearer.call("whoami", vec![]).await.unwrap(), Value::from("bearer"));
    let basic = rpc_xml::Client::builder()
        .credentials(Credentials::Basic { user: "alice".into(), password: "pa:ss wörd".into() })
        .build(&format!("http://nobody:wrong@{addr}/"))
        .unwrap();
    assert_eq!(basic.call("whoami", vec![]).await.unwrap(), Value::from("alice"), "the builder wins over the URL");
}

#[tokio::test]
async fn others_get_401_with_a_challenge() {
    let addr = server().await;
    for url in [format!("http://{addr}/"), format!("http://alice:wrong@{addr}/")] {
        match rpc_xml::Client::new(&url).unwrap().call("whoami", vec![]).await {
            Err(Error::Transport(e)) => assert!(e.to_string().contains("401"), "{e}"),
            other => panic!("{url}: {other:?}"),
        }
    }
    let resp = raw_head(addr).await;
    assert!(resp.starts_with("HTTP/1.1 401"), "{resp}");
    assert!(resp.to_ascii_lowercase().contains("www-authenticate: basic realm=\"rpc\""), "{resp}");
}

/// The raw head of an unauthenticated request.
async fn raw_head(addr: std::net::SocketAddr) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").await.unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.unwrap();
    String::from_utf8_lossy(&out).into_owned()
}

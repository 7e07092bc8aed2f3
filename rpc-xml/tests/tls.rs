//! XML-RPC over HTTPS with a certificate made in the test (rcgen): calls work, and plain or broken TLS clients
//! neither get through nor hurt the server.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use rpc_core::{Error, Transport, Value};
use rpc_http::rustls;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

mod common;
use common::start;

struct Pki {
    server: Arc<rustls::ServerConfig>,
    client: Arc<rustls::ClientConfig>,
}

fn pki() -> Pki {
    let key = rcgen::generate_simple_self_signed(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
    let cert = key.cert.der().clone();
    let private = rustls::pki_types::PrivateKeyDer::Pkcs8(key.signing_key.serialize_der().into());
    let server =
        rustls::ServerConfig::builder().with_no_client_auth().with_single_cert(vec![cert.clone()], private).unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert).unwrap();
    let client = rustls::ClientConfig::builder().with_root_certificates(roots).with_no_client_auth();
    Pki { server: Arc::new(server), client: Arc::new(client) }
}

#[tokio::test]
async fn calls_over_https() {
    let pki = pki();
    let s = start(|s| s.tls(pki.server.clone())).await;
    let c = rpc_xml::Client::builder()
        .tls_config(pki.client.clone())
        .build(&format!("https://localhost:{}/", s.addr.port()))
        .unwrap();
    assert_eq!(c.call("double", vec![21.into()]).await.unwrap(), Value::Int(42));
    let big = Value::from("x".repeat(100_000));
    assert_eq!(c.call("echo", vec![big.clone()]).await.unwrap(), big);
    // By IP address too (the certificate names 127.0.0.1).
    let by_ip = rpc_xml::Client::builder().tls_config(pki.client).build(&format!("https://{}/", s.addr)).unwrap();
    assert_eq!(by_ip.call("double", vec![1.into()]).await.unwrap(), Value::Int(2));
}

#[tokio::test]
async fn untrusted_certificates_are_refused_by_the_client() {
    let pki = pki();
    let s = start(|s| s.tls(pki.server)).await;
    // Default roots do not include the test's self-signed certificate.
    let c = rpc_xml::Client::new(&format!("https://localhost:{}/", s.addr.port())).unwrap();
    match c.call("double", vec![1.into()]).await {
        // The handshake is part of connecting: the call was not sent.
        Err(e @ Error::Connect(_)) => {
            let msg = e.to_string().to_lowercase();
            assert!(msg.contains("certificate") || msg.contains("unknownissuer"), "{msg}");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn plain_and_broken_clients_do_not_hurt_a_tls_server() {
    let pki = pki();
    let s = start(|s| s.tls(pki.server.clone()).header_read_timeout(Duration::from_millis(500))).await;
    // Plain HTTP to a TLS port: the handshake fails, the connection closes.
    let plain =
        rpc_xml::Client::builder().timeout(Some(Duration::from_secs(5))).build(&format!("http://{}/", s.addr)).unwrap();
    assert!(plain.call("double", vec![1.into()]).await.is_err());
    // Garbage, and a client that never finishes its handshake.
    let mut junk = TcpStream::connect(s.addr).await.unwrap();
    junk.write_all(&[0x16, 0x03, 0x01, 0xff, 0xff, 0, 0, 0]).await.unwrap();
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(3), junk.read_to_end(&mut buf)).await.expect("closed");
    let silent = TcpStream::connect(s.addr).await.unwrap();
    let c = rpc_xml::Client::builder()
        .tls_config(pki.client)
        .build(&format!("https://localhost:{}/", s.addr.port()))
        .unwrap();
    assert_eq!(c.call("double", vec![5.into()]).await.unwrap(), Value::Int(10));
    drop(silent);
}

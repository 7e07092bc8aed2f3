//! MessagePack-RPC over TLS with certificates made in the test (rcgen): calls both ways, an untrusted
//! certificate refused by the client, and plain, broken or silent clients that neither get through nor hurt the
//! server.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::{Impl, ProbeClient, ProbeServer, serve};
use rpc_core::Value;
use rpc_msgpack::Client;
use rpc_test_support::tls::Pki;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[tokio::test]
async fn calls_go_both_ways_over_tls() {
    let pki = Pki::new();
    let (addr, _) = serve(|s| s.tls(pki.server_config())).await;
    let client = Client::builder()
        .tls_config(pki.client_config())
        .handler(ProbeServer::new(Impl::default()))
        .connect_tls(&format!("localhost:{}", addr.port()))
        .await
        .unwrap();
    let client = ProbeClient::new(client);
    assert_eq!(client.double(8).await.unwrap(), 16);
    let big = Value::from("x".repeat(200_000));
    assert_eq!(client.echo(big.clone()).await.unwrap(), big);
    // The server calls the client back over the same TLS connection.
    assert_eq!(client.call_back("double", vec![21.into()]).await.unwrap(), Value::Int(42));
    // Handlers know the connection is TLS.
    assert_eq!(client.whoami().await.unwrap(), (None, Some(true)));
    // By IP address too (the certificate names 127.0.0.1).
    let by_ip = Client::builder().tls_config(pki.client_config()).connect_tls(&addr.to_string()).await.unwrap();
    assert_eq!(by_ip.call("double", vec![1.into()]).await.unwrap(), Value::Int(2));
}

#[tokio::test]
async fn an_untrusted_certificate_is_refused_by_the_client() {
    let pki = Pki::new();
    let (addr, _) = serve(|s| s.tls(pki.server_config())).await;
    // The default roots (the system's, or webpki's) do not include the test's CA.
    let err = Client::connect_tls(&format!("localhost:{}", addr.port())).await.unwrap_err();
    let text = err.to_string().to_lowercase();
    assert!(text.contains("certificate") || text.contains("unknownissuer"), "{text}");
    // Another CA's client does not trust it either.
    let other = Pki::new();
    let err = Client::builder().tls_config(other.client_config()).connect_tls(&addr.to_string()).await.unwrap_err();
    assert!(err.to_string().to_lowercase().contains("certificate"), "{err}");
    // A name that is no host is refused before connecting.
    let err = Client::connect_tls("not a host:1").await.unwrap_err();
    assert!(err.to_string().contains("cannot name a TLS server"), "{err}");
}

#[tokio::test]
async fn plain_broken_and_silent_clients_do_not_hurt_a_tls_server() {
    let pki = Pki::new();
    let handshake = Duration::from_millis(300);
    let (addr, _) = serve(|s| s.tls(pki.server_config()).tls_handshake_timeout(handshake)).await;
    let tls_client = Client::builder().tls_config(pki.client_config()).connect_tls(&addr.to_string()).await.unwrap();
    assert_eq!(tls_client.call("double", vec![1.into()]).await.unwrap(), Value::Int(2));

    // MessagePack-RPC in the clear: the handshake fails and the connection is closed; the call says so.
    let plain = Client::builder().timeout(Some(Duration::from_secs(5))).connect(addr).await.unwrap();
    let err = plain.call("double", vec![1.into()]).await.unwrap_err();
    assert!(err.to_string().contains("connection closed"), "{err}");

    // A broken TLS record, and a client that connects and never starts its handshake: both closed, the
    // silent one once the handshake timeout has passed.
    let mut junk = TcpStream::connect(addr).await.unwrap();
    junk.write_all(&[0x16, 0x03, 0x01, 0xff, 0xff, 0, 0, 0]).await.unwrap();
    let mut silent = TcpStream::connect(addr).await.unwrap();
    let started = Instant::now();
    for stream in [&mut junk, &mut silent] {
        let mut buf = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut buf)).await;
        assert!(read.is_ok(), "the server did not close the connection");
    }
    assert!(started.elapsed() >= handshake - Duration::from_millis(50), "closed after {:?}", started.elapsed());

    // All the while, the TLS client was served, and new ones are.
    assert_eq!(tls_client.call("double", vec![2.into()]).await.unwrap(), Value::Int(4));
    let fresh = Client::builder().tls_config(pki.client_config()).connect_tls(&addr.to_string()).await.unwrap();
    assert_eq!(fresh.call("double", vec![3.into()]).await.unwrap(), Value::Int(6));
}

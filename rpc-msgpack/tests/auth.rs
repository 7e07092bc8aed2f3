//! The per-connection authentication hook: it admits or refuses each connection from what the server knows of
//! it (the peer's address, a TLS client certificate), and handlers see the identity it admitted them as.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{ProbeClient, User, serve};
use rpc_core::Value;
use rpc_msgpack::{Client, ConnectionInfo};
use rpc_test_support::tls::Pki;

#[tokio::test]
async fn the_hook_admits_by_address_and_handlers_see_the_identity() {
    let (addr, _) = serve(|s| {
        s.authenticate(|c: &ConnectionInfo| {
            let ip = c.remote_addr?.ip();
            ip.is_loopback().then(|| User(format!("local {ip}")))
        })
    })
    .await;
    let client = ProbeClient::new(Client::connect(addr).await.unwrap());
    assert_eq!(client.whoami().await.unwrap(), (Some("local 127.0.0.1".into()), Some(false)));
}

#[tokio::test]
async fn the_hook_admits_by_client_certificate_and_refuses_the_others() {
    let pki = Pki::new();
    let expected = pki.client_certificate();
    let server_tls = pki.server_config_with_client_auth();
    let (addr, state) = serve(move |s| {
        s.tls(server_tls).authenticate(move |c: &ConnectionInfo| {
            let presented = c.peer_certificates.as_ref()?.first()?;
            (*presented == expected).then(|| User("test client".into()))
        })
    })
    .await;
    let with_cert = Client::builder().tls_config(pki.client_config_with_certificate());
    let without_cert = Client::builder().tls_config(pki.client_config());

    let admitted = ProbeClient::new(with_cert.clone().connect_tls(&addr.to_string()).await.unwrap());
    assert_eq!(admitted.whoami().await.unwrap(), (Some("test client".into()), Some(true)));

    // Without a certificate the handshake completes (the server config lets such clients in), then the hook
    // closes the connection before reading anything: the call fails, nothing ran.
    for _ in 0..3 {
        let refused = without_cert.clone().connect_tls(&addr.to_string()).await.unwrap();
        let err = refused.call("hang", vec![]).await.unwrap_err();
        assert!(err.to_string().contains("connection closed"), "{err}");
    }
    // Plain MessagePack-RPC does not get in either.
    let plain = Client::connect(addr).await.unwrap();
    assert!(plain.call("hang", vec![]).await.is_err());
    assert_eq!(state.started.load(std::sync::atomic::Ordering::SeqCst), 0, "a refused connection ran a call");

    // The admitted client is still served, and so is a new one.
    assert_eq!(admitted.double(4).await.unwrap(), 8);
    let again = with_cert.connect_tls(&format!("localhost:{}", addr.port())).await.unwrap();
    assert_eq!(again.call("double", vec![5.into()]).await.unwrap(), Value::Int(10));
}

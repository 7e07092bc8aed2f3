//! Client resilience: it reconnects after the server restarts, and a call whose connection drops mid-way fails
//! clearly instead of being retried behind the caller's back (the server may have run it).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use rpc_core::{Error, Transport, Value};
use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;

mod common;
use common::{Impl, ProbeServer};

async fn serve_on(
    listener: TcpListener,
) -> (tokio::sync::oneshot::Sender<()>, tokio::task::JoinHandle<std::io::Result<()>>) {
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = rpc_xml::Server::new(ProbeServer::new(Impl::default()));
    let done = tokio::spawn(server.serve_with_shutdown(listener, async {
        let _ = stopped.await;
    }));
    (stop, done)
}

#[tokio::test]
async fn reconnects_after_the_server_restarts() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, done) = serve_on(listener).await;
    let c = rpc_xml::Client::new(&format!("http://{addr}/")).unwrap();
    assert_eq!(c.call("double", vec![1.into()]).await.unwrap(), Value::Int(2));
    stop.send(()).unwrap();
    done.await.unwrap().unwrap();
    // While it is down: a clear error, saying the call was not sent.
    assert!(matches!(c.call("double", vec![1.into()]).await, Err(Error::Connect(_))));
    // Back on the same port: the same client works again, on a new connection.
    let listener = TcpListener::bind(addr).await.unwrap();
    let (_stop, _done) = serve_on(listener).await;
    assert_eq!(c.call("double", vec![2.into()]).await.unwrap(), Value::Int(4));
}

#[tokio::test]
async fn a_call_cut_off_mid_way_fails_once_and_is_not_retried() {
    // A server that reads each request and hangs up without answering.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let requests = Arc::new(AtomicUsize::new(0));
    let seen = requests.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let seen = seen.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 65536];
                if matches!(s.read(&mut buf).await, Ok(n) if n > 0) {
                    seen.fetch_add(1, Ordering::SeqCst);
                }
                drop(s);
            });
        }
    });
    let c = rpc_xml::Client::new(&format!("http://{addr}/")).unwrap();
    match c.call("bump", vec![1.into()]).await {
        Err(Error::Transport(e)) => {
            let msg = e.to_string().to_lowercase();
            assert!(msg.contains("closed") || msg.contains("incomplete") || msg.contains("reset"), "{msg}");
        }
        other => panic!("{other:?}"),
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(requests.load(Ordering::SeqCst), 1, "the call was sent again without the caller knowing");
}

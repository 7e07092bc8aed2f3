//! Our JSON-RPC client against our server (typed and dynamic calls, named params, notifications, batches,
//! timeouts, shutdown) and against a small JSON-RPC server written in Python's stdlib.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rpc_core::{Error, Fault, Map, Transport, Value};
use rpc_examples::interop::{InteropClient, InteropServer, InteropService};
use rpc_json::{Batch, Client};
use rpc_test_support::{bind_loopback, spawn_python_server};

async fn start() -> (SocketAddr, tokio::sync::oneshot::Sender<()>, tokio::task::JoinHandle<std::io::Result<()>>) {
    let listener = bind_loopback().await;
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = rpc_json::Server::new(InteropServer::new(InteropService::default()));
    let done = tokio::spawn(server.serve_with_shutdown(listener, async {
        let _ = stopped.await;
    }));
    (addr, stop, done)
}

fn named(pairs: &[(&str, Value)]) -> Map {
    pairs.iter().map(|(k, v)| (*k, v.clone())).collect()
}

#[tokio::test]
async fn typed_and_dynamic_calls() {
    let (addr, _stop, _done) = start().await;
    let client = Client::new(&format!("http://{addr}/")).unwrap();
    let typed = InteropClient::new(client.clone());
    assert_eq!(typed.double(9).await.unwrap(), 18);
    assert_eq!(typed.add(2, 3).await.unwrap(), 5);
    let fault = typed.fail(42, "custom").await.unwrap_err();
    assert_eq!(fault.as_fault(), Some(&Fault::new(42, "custom")));
    assert_eq!(typed.explode().await.unwrap_err().as_fault().unwrap().code, Fault::INTERNAL_ERROR);
    let mut m = Map::new();
    m.push(1, Value::Bytes(vec![0, 255]));
    m.push("when", Value::DateTime("19980717T14:08:55".parse().unwrap()));
    let everything = Value::Array(vec![
        Value::UInt(u64::MAX),
        Value::Int(i64::MIN),
        Value::Float(f64::NAN),
        Value::Float(2.0),
        Value::Map(m),
        Value::Ext(rpc_core::Ext::new(3, [9])),
    ]);
    assert_eq!(typed.echo(everything.clone()).await.unwrap(), everything);
    // The CLI's spelling of the URL works too.
    let aliased = Client::new(&format!("jsonrpc+http://{addr}/")).unwrap();
    assert_eq!(aliased.call("double", vec![Value::Int(1)]).await.unwrap(), Value::Int(2));
    assert_eq!(client.call_named("add", named(&[("b", 1.into()), ("a", 2.into())])).await.unwrap(), Value::Int(3));
    let err = client.call_named("add", named(&[("a", 1.into())])).await.unwrap_err();
    assert_eq!(err.as_fault().unwrap().code, Fault::INVALID_PARAMS);
}

#[tokio::test]
async fn notifications_and_batches() {
    let (addr, _stop, _done) = start().await;
    let client = Client::new(&format!("http://{addr}/")).unwrap();
    client.notify("bump", vec![Value::Int(5)]).await.unwrap();
    // A notification that fails is not answered, so it is not an error here either.
    client.notify("nope", vec![]).await.unwrap();
    assert_eq!(client.call("counter", vec![]).await.unwrap(), Value::Int(5));

    let mut batch = Batch::new();
    batch
        .call("double", vec![Value::Int(7)])
        .notify("bump", vec![Value::Int(1)])
        .call("nope", vec![])
        .call("add", named(&[("a", 40.into()), ("b", 2.into())]))
        .call("sleep", vec![Value::Int(10)]);
    assert_eq!(batch.len(), 5);
    let answers = client.batch(&batch).await.unwrap();
    assert_eq!(answers.len(), 4);
    assert_eq!(answers[0], Ok(Value::Int(14)));
    assert_eq!(answers[1].as_ref().unwrap_err().code, Fault::METHOD_NOT_FOUND);
    assert_eq!(answers[2], Ok(Value::Int(42)));
    assert_eq!(answers[3], Ok(Value::Int(10)));

    let mut only_notifications = Batch::new();
    only_notifications.notify("bump", vec![Value::Int(1)]).notify("bump", vec![Value::Int(1)]);
    assert_eq!(client.batch(&only_notifications).await.unwrap(), vec![]);
    assert_eq!(client.batch(&Batch::new()).await.unwrap(), vec![]);
    assert_eq!(client.call("counter", vec![]).await.unwrap(), Value::Int(8));
}

#[tokio::test]
async fn a_batch_over_the_limit_fails_whole() {
    let listener = bind_loopback().await;
    let addr = listener.local_addr().unwrap();
    tokio::spawn(rpc_json::Server::new(InteropServer::new(InteropService::default())).max_batch(1).serve(listener));
    let client = Client::new(&format!("http://{addr}/")).unwrap();
    let mut batch = Batch::new();
    batch.call("counter", vec![]).call("counter", vec![]);
    let err = client.batch(&batch).await.unwrap_err();
    assert_eq!(err.as_fault().unwrap().code, Fault::INVALID_REQUEST, "{err}");
}

#[tokio::test]
async fn timeouts_and_unreachable_servers() {
    let (addr, _stop, _done) = start().await;
    let client = Client::builder().timeout(Some(Duration::from_millis(200))).build(&format!("http://{addr}/")).unwrap();
    let started = Instant::now();
    match client.call("sleep", vec![Value::Int(2000)]).await {
        Err(Error::Timeout(t)) => assert_eq!(t, Duration::from_millis(200)),
        other => panic!("{other:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(1));
    let closed_port = rpc_test_support::ClosedPort::new();
    let closed = closed_port.addr();
    let err = Client::new(&format!("http://{closed}/")).unwrap().call("double", vec![]).await.unwrap_err();
    assert!(matches!(err, Error::Connect(_)) && err.to_string().contains("refused"), "{err}");
    assert_eq!(err.delivery(), rpc_core::Delivery::NotSent);
}

#[tokio::test]
async fn shutdown_lets_calls_in_flight_finish() {
    let (addr, stop, done) = start().await;
    let client = Client::new(&format!("http://{addr}/")).unwrap();
    let slow = tokio::spawn(async move { client.call("sleep", vec![Value::Int(300)]).await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    stop.send(()).unwrap();
    assert_eq!(slow.await.unwrap().unwrap(), Value::Int(300));
    done.await.unwrap().unwrap();
    assert!(tokio::net::TcpStream::connect(addr).await.is_err(), "the server stopped listening");
}

#[tokio::test]
async fn our_client_calls_a_python_jsonrpc_server() {
    let server = spawn_python_server(include_str!("python/jsonrpc_server.py"), &[]).await;
    let client = Client::builder()
        .timeout(Some(Duration::from_millis(500)))
        .build(&format!("http://{}/", server.addr()))
        .unwrap();
    assert_eq!(client.call("double", vec![Value::Int(9)]).await.unwrap(), Value::Int(18));
    assert_eq!(client.call_named("add", named(&[("a", 2.into()), ("b", 3.into())])).await.unwrap(), Value::Int(5));
    // Python's ints are unbounded and its json keeps object order: values come back exactly.
    let mut m = Map::new();
    m.push("z", 1);
    m.push("a", Value::Bytes(vec![1, 2]));
    m.push(7, "int key");
    let value = Value::Array(vec![Value::UInt(u64::MAX), Value::Float(0.5), Value::Map(m), Value::Nil]);
    assert_eq!(client.call("echo", vec![value.clone()]).await.unwrap(), value);
    match client.call("fail", vec![Value::Int(7), "no".into()]).await {
        Err(Error::Fault(f)) => {
            let data = Value::Map(Map::from_iter([("server", "python")]));
            assert_eq!(f, Fault::new(7, "no").with_data(data));
        }
        other => panic!("{other:?}"),
    }
    let err = client.call("nope", vec![]).await.unwrap_err();
    assert_eq!(err.as_fault().unwrap().code, Fault::METHOD_NOT_FOUND);
    client.notify("record", vec![Value::Int(1), "x".into()]).await.unwrap();
    let mut batch = Batch::new();
    batch.notify("record", vec![Value::Int(2)]).call("notified", vec![]).call("double", vec!["ab".into()]);
    let answers = client.batch(&batch).await.unwrap();
    let want = Value::Array(vec![Value::Array(vec![1.into(), "x".into()]), Value::Array(vec![2.into()])]);
    assert_eq!(answers, vec![Ok(want), Ok(Value::from("abab"))]);
    assert!(matches!(client.call("sleep", vec![Value::Int(3000)]).await, Err(Error::Timeout(_))));
}

/// The typed path is the one taken: the generated client serialises params straight into the request and reads
/// the result straight from the response, and the server reads params straight into the handler's types (a
/// `PathProbe` read from a `Value` would say so). Named params and the value API still work beside it.
#[tokio::test]
async fn generated_code_takes_the_typed_path_both_ways() {
    use rpc_test_support::PathProbe;

    #[rpc_core::service]
    trait Paths {
        /// Says how the server read `probe`, in a probe the client reads.
        async fn path(&self, probe: PathProbe) -> PathProbe;
    }
    struct Impl;
    impl Paths for Impl {
        async fn path(&self, probe: PathProbe) -> PathProbe {
            PathProbe::new(if probe.borrowed { "typed" } else { "value" })
        }
    }

    let listener = bind_loopback().await;
    let addr = listener.local_addr().unwrap();
    tokio::spawn(rpc_json::Server::new(PathsServer::new(Impl)).serve(listener));
    let client = PathsClient::new(Client::new(&format!("http://{addr}/")).unwrap());
    let answer = client.path(PathProbe::new("x")).await.unwrap();
    assert_eq!((answer.text.as_str(), answer.borrowed), ("typed", true));
    assert_eq!(client.transport().call("path", vec!["x".into()]).await.unwrap(), Value::from("typed"));
    // Named params take the value path.
    let named = client.transport().call_named("path", named(&[("probe", "x".into())])).await.unwrap();
    assert_eq!(named, Value::from("value"));
}

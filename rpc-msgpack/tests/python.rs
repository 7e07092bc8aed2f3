//! Interop with Python, both ways: the `msgpack` package over raw sockets as a client of our server
//! (`python/client.py`) and as a server for our client (`python/server.py`), and pynvim's session as a client
//! (`python/pynvim_client.py`).
//!
//! python3 with `msgpack` and `pynvim` must be installed (`pip install msgpack==1.2.4 pynvim==0.6.0`, as
//! `.ci/run` does): without them these tests fail, they do not skip.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Impl, ProbeClient, ProbeServer, serve_default};
use rpc_core::{Fault, Value};
use rpc_msgpack::Client;
use rpc_msgpack::codec::GENERIC_ERROR_CODE;
use rpc_test_support::{require_python_module, run_python, spawn_python_server};

const PY_CLIENT: &str = include_str!("python/client.py");
const PY_SERVER: &str = include_str!("python/server.py");
const PYNVIM_CLIENT: &str = include_str!("python/pynvim_client.py");

#[tokio::test]
async fn python_msgpack_client_drives_our_server() {
    require_python_module("msgpack", "msgpack==1.2.4");
    // The probe plus `py_double`/`py_fail` exist on the Python side: `call_back` reaches them.
    let (addr, _) = serve_default().await;
    let out = run_python(PY_CLIENT, &[&addr.ip().to_string(), &addr.port().to_string()]).await;
    assert_eq!(out, "ok\n");
}

#[tokio::test]
async fn pynvim_session_calls_our_server() {
    require_python_module("pynvim", "pynvim==0.6.0");
    let (addr, _) = serve_default().await;
    let out = run_python(PYNVIM_CLIENT, &[&addr.ip().to_string(), &addr.port().to_string()]).await;
    assert_eq!(out, "ok\n");
}

#[tokio::test]
async fn our_client_drives_a_python_msgpack_server() {
    require_python_module("msgpack", "msgpack==1.2.4");
    let server = spawn_python_server(PY_SERVER, &[]).await;
    // Our client serves the probe, so the Python server can call back into it.
    let client = Client::builder().handler(ProbeServer::new(Impl::default())).connect(server.addr()).await.unwrap();
    let client = Arc::new(ProbeClient::new(client));

    // The double pair.
    assert_eq!(client.double(8).await.unwrap(), 16);

    // Many concurrent calls from many tasks, answered out of order by Python's threads.
    let started = Instant::now();
    let tasks: Vec<_> = (0..100i64)
        .map(|i| {
            let client = client.clone();
            tokio::spawn(async move {
                if i % 10 == 0 {
                    assert_eq!(client.sleep(200 - i as u64).await.unwrap(), 200 - i as u64);
                } else {
                    assert_eq!(client.double(i).await.unwrap(), 2 * i);
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    assert!(started.elapsed() < Duration::from_secs(2), "the calls did not overlap: {:?}", started.elapsed());

    // A notification, then what it left behind.
    rpc_core::Transport::notify(client.transport(), "record", vec!["from rust".into()]).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    let notes = loop {
        let notes = client.notes().await.unwrap();
        if !notes.is_empty() || Instant::now() > deadline {
            break notes;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(notes, [Value::from("from rust")]);

    // Error objects of every shape become faults.
    let transport = client.transport();
    let fault = |r: Result<Value, rpc_core::Error>| r.unwrap_err().as_fault().cloned().expect("a fault");
    let f = fault(transport.call("fail_list", vec![3.into(), "three".into()]).await);
    assert_eq!((f.code, f.message.as_str()), (3, "three"));
    let f = fault(transport.call("fail_str", vec![]).await);
    assert_eq!((f.code, f.message.as_str()), (GENERIC_ERROR_CODE, "a plain string error"));
    let f = fault(transport.call("fail_map", vec![]).await);
    assert_eq!((f.code, f.message.as_str()), (5, "from a map"));
    let f = fault(transport.call("no_such_method", vec![]).await);
    assert_eq!(f.code, Fault::METHOD_NOT_FOUND);

    // The Python server calls our client's handler while answering us.
    let asked = transport.call("ask_client", vec!["double".into(), Value::Array(vec![21.into()])]).await;
    assert_eq!(asked.unwrap(), Value::Int(42));
}

//! tower middleware on both halves of a call, in one process: a MessagePack-RPC server whose calls pass through
//! a `ServiceBuilder` stack (a timeout, a concurrency limit, and a layer of our own that counts calls by method),
//! and a client whose calls pass through a rate limit. The same layers fit every server and every transport.
//!
//! ```text
//! cargo run --example middleware
//! # Double 0 is 0 ... Double 5 is 10 (two calls per 100 ms: about 200 ms in all)
//! # the server's layer counted 6 call(s) of double
//! ```

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use rpc_core::middleware::{Layer, Request, Service};
use rpc_core::{Dispatch, Transport};
use rpc_examples::{Doubler, ServicesClient, ServicesServer};
use tower::ServiceBuilder;
use tower::limit::{ConcurrencyLimitLayer, RateLimitLayer};
use tower::timeout::TimeoutLayer;

/// Our own server layer: counts the calls it sees, by method name.
#[derive(Clone, Default)]
struct CountCalls(Arc<Mutex<BTreeMap<String, u64>>>);

impl<S> Layer<S> for CountCalls {
    type Service = Counted<S>;

    fn layer(&self, inner: S) -> Counted<S> {
        Counted { inner, counts: self.0.clone() }
    }
}

#[derive(Clone)]
struct Counted<S> {
    inner: S,
    counts: Arc<Mutex<BTreeMap<String, u64>>>,
}

impl<S: Service<Request>> Service<Request> for Counted<S> {
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> S::Future {
        if let Ok(mut counts) = self.counts.lock() {
            *counts.entry(request.method().to_owned()).or_default() += 1;
        }
        self.inner.call(request)
    }
}

#[tokio::main]
async fn main() {
    let counts = CountCalls::default();
    // The first layer is the outermost: a call is counted, then waits for one of 64 slots, then has 5 s to run
    // (past that the caller gets a fault saying the server's time limit passed).
    let layers = ServiceBuilder::new()
        .layer(counts.clone())
        .layer(ConcurrencyLimitLayer::new(64))
        .layer(TimeoutLayer::new(Duration::from_secs(5)));
    let server = rpc_msgpack::Server::new(ServicesServer::new(Doubler).layer(layers));
    let listener = match tokio::net::TcpListener::bind("127.0.0.1:0").await {
        Ok(listener) => listener,
        Err(e) => return fail(&format!("cannot listen on 127.0.0.1: {e}")),
    };
    let addr = match listener.local_addr() {
        Ok(addr) => addr,
        Err(e) => return fail(&e.to_string()),
    };
    tokio::spawn(server.serve(listener));

    // The client: any transport, with tower layers around each call (here: at most two calls per 100 ms).
    let transport = match rpc_msgpack::Client::connect(addr).await {
        Ok(transport) => transport,
        Err(e) => return fail(&format!("cannot connect to {addr}: {e}")),
    };
    let client = ServicesClient::new(transport.layer(RateLimitLayer::new(2, Duration::from_millis(100))));
    let started = Instant::now();
    for num in 0..6 {
        match client.double(num).await {
            Ok(doubled) => println!("Double {num} is {doubled}"),
            Err(e) => return fail(&e.to_string()),
        }
    }
    println!("six calls at two per 100 ms took {:?}", started.elapsed());
    if let Ok(counts) = counts.0.lock() {
        for (method, n) in counts.iter() {
            println!("the server's layer counted {n} call(s) of {method}");
        }
    }
}

fn fail(message: &str) {
    eprintln!("error: {message}");
    std::process::exit(1);
}

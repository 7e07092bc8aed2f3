//! tower layers at the HTTP level of the JSON-RPC server (`Server::http_layer`): tower-http's CORS, tracing and
//! body limit, and a layer of the user's own, seen from a client on the wire.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use http::{HeaderValue, Method, Request, Response};
use rpc_examples::interop::{InteropClient, InteropServer, InteropService};
use rpc_test_support::{HttpAnswer, bind_loopback};
use tower::{Layer, Service};
use tower_http::cors::CorsLayer;

const ORIGIN: &str = "https://app.example";
const DOUBLE_9: &str = r#"{"jsonrpc":"2.0","method":"double","params":[9],"id":1}"#;

/// A JSON-RPC server of the interop service, configured by `configure`; its address.
async fn start(
    configure: impl FnOnce(
        rpc_json::Server<InteropServer<InteropService>>,
    ) -> rpc_json::Server<InteropServer<InteropService>>,
) -> SocketAddr {
    let listener = bind_loopback().await;
    let addr = listener.local_addr().unwrap();
    let server = configure(rpc_json::Server::new(InteropServer::new(InteropService::default())));
    tokio::spawn(server.serve(listener));
    addr
}

/// Sends one raw request (`Connection: close` is added) and reads the whole answer.
async fn exchange(addr: SocketAddr, head: &str, body: &str) -> HttpAnswer {
    rpc_test_support::http_exchange(addr, head, body.as_bytes()).await
}

fn cors() -> CorsLayer {
    CorsLayer::new()
        .allow_origin(tower_http::cors::AllowOrigin::list([HeaderValue::from_static(ORIGIN)]))
        .allow_methods([Method::POST])
        .allow_headers([http::header::CONTENT_TYPE])
}

#[tokio::test]
async fn cors_answers_a_browsers_preflight_and_marks_the_real_answer() {
    let preflight = format!(
        "OPTIONS / HTTP/1.1\r\nOrigin: {ORIGIN}\r\nAccess-Control-Request-Method: POST\r\n\
         Access-Control-Request-Headers: content-type"
    );
    // Without the layer, the server takes POST only.
    let plain = start(|s| s).await;
    assert_eq!(exchange(plain, &preflight, "").await.status, 405);

    let addr = start(|s| s.http_layer(cors())).await;
    let answer = exchange(addr, &preflight, "").await;
    assert_eq!(answer.status, 200, "{answer:?}");
    assert_eq!(answer.header("access-control-allow-origin"), Some(ORIGIN), "{answer:?}");
    assert!(answer.header("access-control-allow-methods").is_some_and(|m| m.contains("POST")), "{answer:?}");
    assert!(answer.header("access-control-allow-headers").is_some_and(|h| h.contains("content-type")), "{answer:?}");

    let post = format!("POST / HTTP/1.1\r\nOrigin: {ORIGIN}\r\nContent-Type: application/json");
    let answer = exchange(addr, &post, DOUBLE_9).await;
    assert_eq!(answer.status, 200, "{answer:?}");
    assert_eq!(answer.body, r#"{"jsonrpc":"2.0","result":18,"id":1}"#);
    assert_eq!(answer.header("access-control-allow-origin"), Some(ORIGIN), "{answer:?}");
    // Another origin gets the answer, but no permission for its page to read it.
    let elsewhere =
        exchange(addr, "POST / HTTP/1.1\r\nOrigin: https://evil.example\r\nContent-Type: application/json", DOUBLE_9)
            .await;
    assert_eq!(elsewhere.status, 200);
    assert_eq!(elsewhere.header("access-control-allow-origin"), None, "{elsewhere:?}");
}

/// The user's own HTTP layer: counts the requests it sees and stamps each answer with the count so far; and
/// writes `name in` / `name out` to a shared log, to show the order layers run in.
#[derive(Clone)]
struct Counting {
    name: &'static str,
    seen: Arc<AtomicUsize>,
    log: Arc<Mutex<Vec<String>>>,
}

impl<S> Layer<S> for Counting {
    type Service = CountingService<S>;

    fn layer(&self, inner: S) -> CountingService<S> {
        CountingService { layer: self.clone(), inner }
    }
}

#[derive(Clone)]
struct CountingService<S> {
    layer: Counting,
    inner: S,
}

impl<S, B, R> Service<Request<B>> for CountingService<S>
where
    S: Service<Request<B>, Response = Response<R>>,
    S::Future: Send + 'static,
    R: 'static,
    S::Error: 'static,
{
    type Response = Response<R>;
    type Error = S::Error;
    type Future = std::pin::Pin<Box<dyn Future<Output = Result<Response<R>, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let n = self.layer.seen.fetch_add(1, Ordering::SeqCst) + 1;
        let (name, log) = (self.layer.name, self.layer.log.clone());
        log.lock().unwrap().push(format!("{name} in {} {}", req.method(), req.uri().path()));
        let answer = self.inner.call(req);
        Box::pin(async move {
            let mut resp = answer.await?;
            log.lock().unwrap().push(format!("{name} out {}", resp.status().as_u16()));
            resp.headers_mut()
                .insert(http::HeaderName::try_from(format!("x-{name}-count")).unwrap(), HeaderValue::from(n));
            Ok(resp)
        })
    }
}

#[tokio::test]
async fn a_users_layer_sees_every_request_and_layers_stack_first_outermost() {
    let log = Arc::new(Mutex::new(Vec::new()));
    let outer = Counting { name: "outer", seen: Arc::default(), log: log.clone() };
    let inner = Counting { name: "inner", seen: Arc::default(), log: log.clone() };
    let addr = start(|s| s.http_layer(outer.clone()).http_layer(inner.clone())).await;

    // Calls through our client on one keep-alive connection, each seen.
    let client = InteropClient::new(rpc_json::Client::new(&format!("http://{addr}/")).unwrap());
    for n in 1..=5 {
        assert_eq!(client.double(n).await.unwrap(), 2 * n);
    }
    assert_eq!(outer.seen.load(Ordering::SeqCst), 5);
    {
        let mut log = log.lock().unwrap();
        assert_eq!(log[..4], ["outer in POST /", "inner in POST /", "inner out 200", "outer out 200"], "{log:?}");
        log.clear();
    }
    // The server's own refusals pass back through the layers too.
    let missing = exchange(addr, "POST /nope HTTP/1.1\r\nContent-Type: application/json", DOUBLE_9).await;
    assert_eq!(missing.status, 404);
    assert_eq!(missing.header("x-outer-count"), Some("6"), "{missing:?}");
    let get = exchange(addr, "GET / HTTP/1.1", "").await;
    assert_eq!(get.status, 405);
    assert_eq!(get.header("x-inner-count"), Some("7"), "{get:?}");
    assert_eq!(outer.seen.load(Ordering::SeqCst), 7);
    assert_eq!(inner.seen.load(Ordering::SeqCst), 7);
    assert_eq!(
        *log.lock().unwrap(),
        [
            "outer in POST /nope",
            "inner in POST /nope",
            "inner out 404",
            "outer out 404",
            "outer in GET /",
            "inner in GET /",
            "inner out 405",
            "outer out 405"
        ]
    );
}

#[tokio::test]
async fn trace_and_body_limit_layers_serve() {
    let addr = start(|s| {
        s.http_layer(tower_http::trace::TraceLayer::new_for_http())
            .http_layer(tower_http::limit::RequestBodyLimitLayer::new(256))
            .http_layer(cors())
    })
    .await;
    let client = InteropClient::new(rpc_json::Client::new(&format!("http://{addr}/")).unwrap());
    assert_eq!(client.double(21).await.unwrap(), 42);
    assert_eq!(client.echo(rpc_core::Value::from("small")).await.unwrap(), rpc_core::Value::from("small"));
    // A body over the layer's limit is refused by the layer, before the server reads it.
    let big = format!(r#"{{"jsonrpc":"2.0","method":"echo","params":["{}"],"id":1}}"#, "x".repeat(1000));
    let answer = exchange(addr, "POST / HTTP/1.1\r\nContent-Type: application/json", &big).await;
    assert_eq!(answer.status, 413, "{answer:?}");
    let err = client.echo(rpc_core::Value::from("x".repeat(1000))).await.unwrap_err();
    assert!(err.to_string().contains("413"), "{err}");
    // The server still serves.
    assert_eq!(client.double(4).await.unwrap(), 8);
}

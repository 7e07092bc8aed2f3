//! The `#[service]` macro end to end over the in-memory transport: typed calls, param checking, faults,
//! panics, renames, optional params, context, state, metadata, and a router of several services.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use rpc_core::{
    Context, Dispatch, Error, Fault, MemoryTransport, RemoteAddr, Router, Transport, Value, service, to_value,
};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
/// A param and result of struct type.
pub struct Point {
    x: i32,
    y: i32,
}

/// A handler error type.
#[derive(Debug)]
pub struct Denied(String);

impl From<Denied> for Fault {
    fn from(d: Denied) -> Fault {
        Fault::new(403, format!("denied: {}", d.0))
    }
}

/// The interop peer's shape, in small.
#[service]
pub trait Services {
    /// Returns num * 2.
    async fn double(&self, num: i64) -> i64;

    /// Adds two numbers; `b` defaults to 1.
    async fn add(&self, a: i64, b: Option<i64>) -> i64;

    /// Moves a point.
    async fn shift(&self, p: Point, dx: i32) -> Point;

    /// Fails on purpose.
    async fn check(&self, user: String) -> Result<String, Denied>;

    /// Panics on purpose.
    async fn explode(&self);

    /// Adds n to the shared counter.
    async fn bump(&self, n: i64) -> i64;

    /// Dotted wire name.
    #[rpc(name = "system.echo")]
    async fn echo(&self, value: Value) -> Value;

    /// Reads the caller's address from the context.
    async fn whoami(&self, cx: &Context, greeting: String) -> String;

    /// A default body.
    async fn answer(&self) -> u8 {
        42
    }
}

#[derive(Default)]
struct Impl {
    counter: Arc<AtomicI64>,
}

impl Services for Impl {
    async fn double(&self, num: i64) -> i64 {
        num * 2
    }
    async fn add(&self, a: i64, b: Option<i64>) -> i64 {
        a + b.unwrap_or(1)
    }
    async fn shift(&self, p: Point, dx: i32) -> Point {
        Point { x: p.x + dx, y: p.y }
    }
    async fn check(&self, user: String) -> Result<String, Denied> {
        if user == "root" { Err(Denied(user)) } else { Ok(format!("ok {user}")) }
    }
    async fn explode(&self) {
        panic!("boom");
    }
    async fn bump(&self, n: i64) -> i64 {
        self.counter.fetch_add(n, Ordering::SeqCst) + n
    }
    async fn echo(&self, value: Value) -> Value {
        value
    }
    async fn whoami(&self, cx: &Context, greeting: String) -> String {
        match cx.get::<RemoteAddr>() {
            Some(RemoteAddr(addr)) => format!("{greeting}, {addr}"),
            None => format!("{greeting}, stranger"),
        }
    }
}

fn client() -> ServicesClient<MemoryTransport<ServicesServer<Impl>>> {
    ServicesClient::new(MemoryTransport::new(ServicesServer::new(Impl::default())))
}

fn fault(e: Error) -> Fault {
    match e {
        Error::Fault(f) => f,
        other => panic!("expected a fault, got {other:?}"),
    }
}

/// The fault of a method whose error type does not read back (no `Deserialize`): it stays a fault.
fn opaque_fault<E: std::fmt::Debug>(e: rpc_core::CallError<E>) -> Fault {
    match e {
        rpc_core::CallError::Rpc(e) => fault(e),
        other => panic!("expected a fault, got {other:?}"),
    }
}

#[tokio::test]
async fn typed_calls() {
    let c = client();
    assert_eq!(c.double(7).await.unwrap(), 14);
    assert_eq!(c.add(2, Some(3)).await.unwrap(), 5);
    assert_eq!(c.add(2, None).await.unwrap(), 3);
    assert_eq!(c.shift(Point { x: 1, y: 2 }, 10).await.unwrap(), Point { x: 11, y: 2 });
    assert_eq!(c.check("ada").await.unwrap(), "ok ada");
    assert_eq!(c.answer().await.unwrap(), 42);
    let v = Value::Array(vec![Value::Nil, Value::UInt(u64::MAX), "x".into()]);
    assert_eq!(c.echo(v.clone()).await.unwrap(), v);
}

#[tokio::test]
async fn handler_errors_become_their_faults() {
    let f = opaque_fault(client().check("root").await.unwrap_err());
    assert_eq!((f.code, f.message.as_str()), (403, "denied: root"));
}

#[tokio::test]
async fn panics_become_internal_errors_and_the_service_lives_on() {
    let c = client();
    let f = fault(c.explode().await.unwrap_err());
    assert_eq!(f.code, Fault::INTERNAL_ERROR);
    assert!(f.message.contains("explode"), "{}", f.message);
    assert!(!f.message.contains("boom"), "panic text must stay in the log: {}", f.message);
    assert_eq!(c.double(1).await.unwrap(), 2);
}

#[tokio::test]
async fn state_is_shared_across_calls() {
    let c = client();
    assert_eq!(c.bump(2).await.unwrap(), 2);
    assert_eq!(c.bump(3).await.unwrap(), 5);
}

#[tokio::test]
async fn context_reaches_the_handler_and_is_not_a_wire_param() {
    let addr: std::net::SocketAddr = "127.0.0.1:9".parse().unwrap();
    let t =
        MemoryTransport::new(ServicesServer::new(Impl::default())).with_context(Context::new().with(RemoteAddr(addr)));
    assert_eq!(ServicesClient::new(t).whoami("hi").await.unwrap(), "hi, 127.0.0.1:9");
    assert_eq!(client().whoami("hi").await.unwrap(), "hi, stranger");
    let info = &ServicesServer::<Impl>::METHODS[7];
    assert_eq!(info.params.len(), 1);
}

/// Raw calls, as a peer on the wire would make them.
async fn raw(method: &str, params: Vec<Value>) -> Result<Value, Fault> {
    let t = MemoryTransport::new(ServicesServer::new(Impl::default()));
    t.call(method, params).await.map_err(fault)
}

#[tokio::test]
async fn unknown_method_is_32601() {
    let f = raw("nope", vec![]).await.unwrap_err();
    assert_eq!(f.code, Fault::METHOD_NOT_FOUND);
    assert!(f.message.contains("nope"));
    // The Rust name of a renamed method is not on the wire.
    assert_eq!(raw("echo", vec![1.into()]).await.unwrap_err().code, Fault::METHOD_NOT_FOUND);
    assert_eq!(raw("system.echo", vec![1.into()]).await.unwrap(), Value::Int(1));
}

#[tokio::test]
async fn wrong_count_is_32602_naming_the_params() {
    let f = raw("double", vec![]).await.unwrap_err();
    assert_eq!(f.code, Fault::INVALID_PARAMS);
    assert_eq!(f.message, "invalid params: double takes 1 param (num: i64), got 0");
    let f = raw("double", vec![1.into(), 2.into()]).await.unwrap_err();
    assert!(f.message.ends_with("got 2"), "{}", f.message);
    let f = raw("add", vec![]).await.unwrap_err();
    assert_eq!(f.message, "invalid params: add takes 1 to 2 params (a: i64, b: Option<i64>), got 0");
    assert_eq!(raw("add", vec![1.into()]).await.unwrap(), Value::Int(2));
    assert_eq!(raw("add", vec![1.into(), Value::Nil]).await.unwrap(), Value::Int(2));
}

#[tokio::test]
async fn wrong_type_is_32602_naming_param_and_type() {
    let f = raw("double", vec!["seven".into()]).await.unwrap_err();
    assert_eq!(f.code, Fault::INVALID_PARAMS);
    assert!(f.message.contains("double: param 1 `num` (expected i64)"), "{}", f.message);
    assert!(f.message.contains("\"seven\""), "{}", f.message);
    // Out of range is an error, never a wrap-around.
    let f = raw("shift", vec![to_value(&Point { x: 1, y: 2 }).unwrap(), Value::Int(1 << 40)]).await.unwrap_err();
    assert!(f.message.contains("`dx` (expected i32)") && f.message.contains("1099511627776"), "{}", f.message);
    let f = raw("shift", vec![Value::Int(1), Value::Int(1)]).await.unwrap_err();
    assert!(f.message.contains("`p` (expected Point)"), "{}", f.message);
}

#[test]
fn metadata_describes_every_method() {
    let m = ServicesServer::<Impl>::METHODS;
    let names: Vec<_> = m.iter().map(|i| i.name.as_ref()).collect();
    assert_eq!(names, ["double", "add", "shift", "check", "explode", "bump", "system.echo", "whoami", "answer"]);
    assert_eq!(m[0].docs, "Returns num * 2.");
    assert_eq!((m[0].params[0].name, m[0].params[0].ty, m[0].returns), ("num", "i64", "i64"));
    assert!(m[1].params[1].optional);
    assert_eq!(m[1].required_params(), 1);
    assert_eq!(m[3].returns, "String");
    assert_eq!(m[4].returns, "()");
}

/// A second service for the router tests.
#[service]
pub trait Greeter {
    /// Says hello.
    async fn hello(&self, name: String) -> String;
}

struct Hi;
impl Greeter for Hi {
    async fn hello(&self, name: String) -> String {
        format!("hello, {name}")
    }
}

#[tokio::test]
async fn router_mounts_services_with_and_without_prefix() {
    let router =
        Router::new().mount(GreeterServer::new(Hi)).mount_prefixed("math", ServicesServer::new(Impl::default()));
    let names: Vec<_> = router.method_names().collect();
    assert_eq!(names[0], "hello");
    assert!(names.contains(&"math.double") && names.contains(&"math.system.echo"));
    assert_eq!(router.methods().len(), 10);
    let t = MemoryTransport::new(router);
    assert_eq!(t.call("math.double", vec![4.into()]).await.unwrap(), Value::Int(8));
    assert_eq!(t.call("hello", vec!["ada".into()]).await.unwrap(), Value::from("hello, ada"));
    for unknown in ["double", "math.", "math.hello", "", "hello.x"] {
        assert_eq!(fault(t.call(unknown, vec![]).await.unwrap_err()).code, Fault::METHOD_NOT_FOUND, "{unknown}");
    }
    // Typed clients work through a router too: the prefix is part of the transport's job here.
    let greeter = GreeterClient::new(&t);
    assert_eq!(greeter.hello("bob").await.unwrap(), "hello, bob");
}

#[test]
fn router_refuses_a_name_twice() {
    let r = Router::new().mount(GreeterServer::new(Hi));
    let (r, err) = r.try_mount(GreeterServer::new(Hi)).unwrap_err();
    assert!(err.contains("\"hello\""), "{err}");
    assert!(r.try_mount_prefixed("g", GreeterServer::new(Hi)).is_ok());
    let panicked =
        std::panic::catch_unwind(|| Router::new().mount(GreeterServer::new(Hi)).mount(GreeterServer::new(Hi)));
    assert!(panicked.is_err());
}

#[tokio::test]
async fn a_shared_arc_serves_and_is_observed() {
    let shared = Arc::new(Impl::default());
    let t = MemoryTransport::new(ServicesServer::from_arc(shared.clone()));
    ServicesClient::new(t).bump(5).await.unwrap();
    assert_eq!(shared.counter.load(Ordering::SeqCst), 5);
}

/// The generated dispatcher reads params on the wire straight into their types (here a wire over values), and
/// reads what does not read straight as values, which answers with the exact fault.
#[tokio::test]
async fn the_dispatcher_reads_params_straight_and_as_values_what_it_cannot() {
    use rpc_core::encoding::{WireParams, erased_serde};

    /// A wire over values that counts how the dispatcher read it.
    struct Wire {
        params: Vec<Value>,
        as_values: bool,
    }
    impl WireParams for Wire {
        fn read(&mut self, read: &mut dyn FnMut(&mut dyn erased_serde::Deserializer<'_>) -> bool) -> bool {
            read(&mut <dyn erased_serde::Deserializer>::erase(Value::Array(self.params.clone())))
        }
        fn values(&mut self) -> Result<Vec<Value>, Fault> {
            self.as_values = true;
            Ok(std::mem::take(&mut self.params))
        }
    }

    let server = Router::new().mount_prefixed("math", ServicesServer::new(Impl::default()));
    // The answer, and whether the params were read as values.
    let call = |method: &str, params: Vec<Value>| {
        let mut wire = Wire { params, as_values: false };
        let answer = server.call(method, rpc_core::CallParams::Wire(&mut wire), Context::new());
        async move { (answer.await.map(|reply| to_value(&*reply).unwrap()), wire.as_values) }
    };
    assert_eq!(call("math.double", vec![7.into()]).await, (Ok(Value::Int(14)), false));
    assert_eq!(call("math.add", vec![2.into()]).await, (Ok(Value::Int(3)), false), "optional left out");
    assert_eq!(call("math.add", vec![2.into(), Value::Nil]).await, (Ok(Value::Int(3)), false), "nil");
    let point = to_value(&Point { x: 1, y: 2 }).unwrap();
    let shifted = to_value(&Point { x: 11, y: 2 }).unwrap();
    assert_eq!(call("math.shift", vec![point, 10.into()]).await, (Ok(shifted), false), "a struct");
    assert_eq!(call("math.whoami", vec!["hi".into()]).await, (Ok(Value::from("hi, stranger")), false), "context");
    let (denied, as_values) = call("math.check", vec!["root".into()]).await;
    assert_eq!((denied.unwrap_err().code, as_values), (403, false));
    for (method, params, code) in [
        ("math.double", vec!["x".into()], Fault::INVALID_PARAMS),
        ("math.double", vec![], Fault::INVALID_PARAMS),
        ("math.double", vec![1.into(), 2.into()], Fault::INVALID_PARAMS),
        ("math.add", vec![], Fault::INVALID_PARAMS),
    ] {
        let (answer, as_values) = call(method, params.clone()).await;
        assert_eq!((answer.unwrap_err().code, as_values), (code, true), "{method} {params:?}");
    }
    for method in ["double", "math.nope"] {
        let (answer, _) = call(method, vec![1.into()]).await;
        assert_eq!(answer.unwrap_err().code, Fault::METHOD_NOT_FOUND, "{method}");
    }
}

/// Methods with as many params as the typed path reads (12), and one more (the value path): both work.
#[tokio::test]
async fn methods_with_many_params() {
    #[service]
    trait Wide {
        #[allow(clippy::too_many_arguments)]
        async fn twelve(
            &self,
            a: i64,
            b: i64,
            c: i64,
            d: i64,
            e: i64,
            f: i64,
            g: i64,
            h: i64,
            i: i64,
            j: i64,
            k: i64,
            l: Option<i64>,
        ) -> i64;
        #[allow(clippy::too_many_arguments)]
        async fn thirteen(
            &self,
            a: i64,
            b: i64,
            c: i64,
            d: i64,
            e: i64,
            f: i64,
            g: i64,
            h: i64,
            i: i64,
            j: i64,
            k: i64,
            l: i64,
            m: Option<i64>,
        ) -> i64;
    }
    struct Sum;
    impl Wide for Sum {
        async fn twelve(
            &self,
            a: i64,
            b: i64,
            c: i64,
            d: i64,
            e: i64,
            f: i64,
            g: i64,
            h: i64,
            i: i64,
            j: i64,
            k: i64,
            l: Option<i64>,
        ) -> i64 {
            a + b + c + d + e + f + g + h + i + j + k + l.unwrap_or(100)
        }
        async fn thirteen(
            &self,
            a: i64,
            b: i64,
            c: i64,
            d: i64,
            e: i64,
            f: i64,
            g: i64,
            h: i64,
            i: i64,
            j: i64,
            k: i64,
            l: i64,
            m: Option<i64>,
        ) -> i64 {
            a + b + c + d + e + f + g + h + i + j + k + l + m.unwrap_or(100)
        }
    }
    let c = WideClient::new(MemoryTransport::new(WideServer::new(Sum)));
    assert_eq!(c.twelve(1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, None).await.unwrap(), 111);
    assert_eq!(c.twelve(1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, Some(1)).await.unwrap(), 12);
    assert_eq!(c.thirteen(1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, None).await.unwrap(), 112);
    assert_eq!(c.thirteen(1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, Some(1)).await.unwrap(), 13);
}

/// Params need not be `Sync` (a `Cell` inside): the generated client serialises them before its future waits,
/// and that future is still `Send`.
#[tokio::test]
async fn params_need_not_be_sync() {
    #[service]
    trait Cells {
        async fn get(&self, cell: std::cell::Cell<i32>) -> i32;
    }
    struct Impl;
    impl Cells for Impl {
        async fn get(&self, cell: std::cell::Cell<i32>) -> i32 {
            cell.get()
        }
    }
    fn send<T: Send>(t: T) -> T {
        t
    }
    let c = CellsClient::new(MemoryTransport::new(CellsServer::new(Impl)));
    assert_eq!(send(c.get(std::cell::Cell::new(5))).await.unwrap(), 5);
}

/// `Result`s behind aliases: each error travels as a fault, never as a successful `{"Err": ..}` value.
mod aliases {
    use super::*;

    /// An alias whose name says nothing: the method is marked `#[rpc(result)]`.
    type Res<T> = Result<T, Denied>;
    /// An alias whose name ends in `Result`.
    type StoreResult<T> = Result<T, Denied>;

    /// A crate's own `Result`, as `anyhow::Result` is spelled.
    mod errors {
        pub type Result<T> = std::result::Result<T, super::Denied>;
    }

    /// A plain value whose name ends in `Result`, marked `#[rpc(value)]`.
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub struct SearchResult {
        hits: u32,
    }

    #[service]
    pub trait Aliased {
        #[rpc(result)]
        async fn marked(&self, fail: bool) -> Res<u8>;
        async fn named(&self, fail: bool) -> StoreResult<u8>;
        async fn module(&self, fail: bool) -> errors::Result<u8>;
        async fn io(&self, fail: bool) -> std::io::Result<String>;
        #[rpc(value)]
        async fn search(&self) -> SearchResult;
    }

    struct Impl;

    fn outcome(fail: bool) -> Result<u8, Denied> {
        if fail { Err(Denied("alias".into())) } else { Ok(7) }
    }

    impl Aliased for Impl {
        async fn marked(&self, fail: bool) -> Res<u8> {
            outcome(fail)
        }
        async fn named(&self, fail: bool) -> StoreResult<u8> {
            outcome(fail)
        }
        async fn module(&self, fail: bool) -> errors::Result<u8> {
            outcome(fail)
        }
        async fn io(&self, fail: bool) -> std::io::Result<String> {
            if fail {
                Err(std::io::Error::new(std::io::ErrorKind::NotFound, "no such key"))
            } else {
                Ok("found".into())
            }
        }
        async fn search(&self) -> SearchResult {
            SearchResult { hits: 3 }
        }
    }

    #[tokio::test]
    async fn errors_behind_aliases_are_faults() {
        let c = AliasedClient::new(MemoryTransport::new(AliasedServer::new(Impl)));
        assert_eq!(c.marked(false).await.unwrap(), 7);
        assert_eq!(c.named(false).await.unwrap(), 7);
        assert_eq!(c.module(false).await.unwrap(), 7);
        assert_eq!(c.io(false).await.unwrap(), "found");
        for f in [
            opaque_fault(c.marked(true).await.unwrap_err()),
            opaque_fault(c.named(true).await.unwrap_err()),
            opaque_fault(c.module(true).await.unwrap_err()),
        ] {
            assert_eq!((f.code, f.message.as_str()), (403, "denied: alias"));
        }
        let f = opaque_fault(c.io(true).await.unwrap_err());
        assert_eq!((f.code, f.message.as_str()), (Fault::INTERNAL_ERROR, "internal error: no such key"));
        assert_eq!(c.search().await.unwrap(), SearchResult { hits: 3 });
        // The metadata names what a successful call returns.
        let returns: Vec<&str> = AliasedServer::<Impl>::METHODS.iter().map(|m| m.returns).collect();
        assert_eq!(returns, ["u8", "u8", "u8", "String", "SearchResult"]);
    }

    #[tokio::test]
    async fn errors_behind_aliases_are_faults_on_the_value_path() {
        let server = AliasedServer::new(Impl);
        let answer =
            rpc_core::encoding::serve_call_value(&server, "named", vec![Value::Bool(true)], Context::new()).await;
        assert_eq!(answer.unwrap_err().code, 403);
        let answer = rpc_core::encoding::serve_call_value(&server, "io", vec![Value::Bool(true)], Context::new()).await;
        assert_eq!(answer.unwrap_err().code, Fault::INTERNAL_ERROR);
    }
}

/// `#[cfg]` on a method reaches everything generated for it; lint attributes reach the client's method.
mod configured {
    use super::*;

    #[service]
    pub trait Configured {
        async fn kept(&self) -> u8;
        /// Compiled out: nothing generated names it.
        #[cfg(any())]
        async fn gone(&self) -> u8;
        #[cfg(test)]
        async fn present(&self, n: u8) -> u8;
        /// Old; use `kept`.
        #[deprecated = "use `kept`"]
        async fn old(&self) -> u8;
    }

    struct Impl;

    impl Configured for Impl {
        async fn kept(&self) -> u8 {
            1
        }
        async fn present(&self, n: u8) -> u8 {
            n + 1
        }
        async fn old(&self) -> u8 {
            0
        }
    }

    #[tokio::test]
    async fn methods_compiled_out_leave_nothing_behind() {
        let names: Vec<&str> = ConfiguredServer::<Impl>::METHODS.iter().map(|m| &*m.name).collect();
        assert_eq!(names, ["kept", "present", "old"]);
        let c = ConfiguredClient::new(MemoryTransport::new(ConfiguredServer::new(Impl)));
        assert_eq!(c.kept().await.unwrap(), 1);
        assert_eq!(c.present(4).await.unwrap(), 5);
        #[allow(deprecated)]
        let old = c.old().await.unwrap();
        assert_eq!(old, 0);
        let gone = c.transport().call("gone", vec![]).await.unwrap_err();
        assert_eq!(fault(gone).code, Fault::METHOD_NOT_FOUND);
        // The value path reads params against the right method's metadata.
        let server = ConfiguredServer::new(Impl);
        let wrong = rpc_core::encoding::serve_call_value(&server, "present", vec!["x".into()], Context::new())
            .await
            .unwrap_err();
        assert!(wrong.message.contains("present"), "{}", wrong.message);
    }
}

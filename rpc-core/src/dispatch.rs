//! The server side: [`Dispatch`] routes a method name and its params to an implementation.

use std::any::{Any, TypeId};
use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Poll, ready};

use crate::typed::Reply;
use crate::{Fault, Value};

/// A boxed, sendable future: what the object-safe traits of this crate return.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Something a server transport can serve: it takes a method name and positional params and answers with a
/// value or a [`Fault`].
///
/// `#[service]` implements it for `<Trait>Server<S>`; a [`Router`](crate::Router) implements it for several
/// services mounted together. Transports call it through [`serve_call`], which turns a handler panic into a
/// fault.
pub trait Dispatch: Send + Sync + 'static {
    /// Starts handling one call. Unknown names answer [`Fault::METHOD_NOT_FOUND`].
    fn call(&self, method: &str, params: Vec<Value>, cx: Context) -> BoxFuture<'static, Result<Value, Fault>>;

    /// The methods this dispatcher answers, for routing and introspection.
    fn methods(&self) -> Vec<MethodInfo>;

    /// Starts handling one call on the typed path (see [`typed`](crate::typed)): `params` deserializes the
    /// call's params array straight from the wire, and the answer is a [`Reply`] that the encoding serialises
    /// straight to the wire.
    ///
    /// `None` hands the call back to [`call`](Dispatch::call) with the params as values: for a method this
    /// dispatcher has no typed path for, an unknown one, or params that do not read straight into the method's
    /// types (the value path then answers with its exact fault). The default has no typed path.
    fn call_typed(
        &self,
        method: &str,
        params: &mut dyn erased_serde::Deserializer<'_>,
        cx: &Context,
    ) -> Option<BoxFuture<'static, Result<Reply, Fault>>> {
        let _ = (method, params, cx);
        None
    }
}

impl<D: Dispatch + ?Sized> Dispatch for Arc<D> {
    fn call(&self, method: &str, params: Vec<Value>, cx: Context) -> BoxFuture<'static, Result<Value, Fault>> {
        (**self).call(method, params, cx)
    }
    fn methods(&self) -> Vec<MethodInfo> {
        (**self).methods()
    }
    fn call_typed(
        &self,
        method: &str,
        params: &mut dyn erased_serde::Deserializer<'_>,
        cx: &Context,
    ) -> Option<BoxFuture<'static, Result<Reply, Fault>>> {
        (**self).call_typed(method, params, cx)
    }
}

impl<D: Dispatch + ?Sized> Dispatch for Box<D> {
    fn call(&self, method: &str, params: Vec<Value>, cx: Context) -> BoxFuture<'static, Result<Value, Fault>> {
        (**self).call(method, params, cx)
    }
    fn methods(&self) -> Vec<MethodInfo> {
        (**self).methods()
    }
    fn call_typed(
        &self,
        method: &str,
        params: &mut dyn erased_serde::Deserializer<'_>,
        cx: &Context,
    ) -> Option<BoxFuture<'static, Result<Reply, Fault>>> {
        (**self).call_typed(method, params, cx)
    }
}

/// The default time a call may run before it is dropped and answered with a [`Fault::INTERNAL_ERROR`] fault:
/// 5 minutes. Every server transport's handler-timeout setting starts here.
pub const DEFAULT_HANDLER_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(300);

/// Awaits a call's answer under a time limit: a call still running after `limit` is dropped (its handler future
/// with it) and answered with an [`Fault::INTERNAL_ERROR`] fault naming the method, and the event is logged.
/// `None` lets it run for ever. Needs a tokio runtime with the timer enabled.
pub async fn time_limit<T>(
    method: &str,
    limit: Option<std::time::Duration>,
    answer: impl Future<Output = Result<T, Fault>>,
) -> Result<T, Fault> {
    let Some(limit) = limit else { return answer.await };
    // Most calls are answered at their first poll: those need no timer (arming and clearing one costs more
    // than a small call itself).
    let mut answer = std::pin::pin!(answer);
    if let Poll::Ready(result) = std::future::poll_fn(|cx| Poll::Ready(answer.as_mut().poll(cx))).await {
        return result;
    }
    match tokio::time::timeout(limit, answer).await {
        Ok(result) => result,
        Err(_) => {
            tracing::warn!(method, ?limit, "handler timed out");
            Err(Fault::internal_error(format!("{method} did not finish within {limit:?}")))
        }
    }
}

/// Calls `dispatch` the way every server transport should: a panic in the handler (while starting or while
/// running) becomes an [`Fault::INTERNAL_ERROR`] fault and is logged, so one bad call never takes the
/// connection or the server down.
pub fn serve_call<D: Dispatch + ?Sized>(
    dispatch: &D,
    method: &str,
    params: Vec<Value>,
    cx: Context,
) -> impl Future<Output = Result<Value, Fault>> + Send + 'static {
    let started = catch(|| dispatch.call(method, params, cx));
    let method = method.to_owned();
    CatchPanic { inner: started.map_err(|panic| panic_fault(&method, panic)), method }
}

/// [`serve_call`] on the typed path ([`Dispatch::call_typed`]): `None` when the dispatcher hands the call back
/// to the value path. A panic while the params are read or the handler runs is a fault, as in `serve_call`.
pub fn serve_call_typed<D: Dispatch + ?Sized>(
    dispatch: &D,
    method: &str,
    params: &mut dyn erased_serde::Deserializer<'_>,
    cx: &Context,
) -> Option<impl Future<Output = Result<Reply, Fault>> + Send + 'static + use<D>> {
    let started = match catch(|| dispatch.call_typed(method, params, cx)) {
        Ok(None) => return None,
        Ok(Some(fut)) => Ok(fut),
        Err(panic) => Err(panic_fault(method, panic)),
    };
    Some(CatchPanic { inner: started, method: method.to_owned() })
}

struct CatchPanic<T> {
    inner: Result<BoxFuture<'static, Result<T, Fault>>, Fault>,
    method: String,
}

impl<T> Future for CatchPanic<T> {
    type Output = Result<T, Fault>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let fut = match &mut this.inner {
            Ok(fut) => fut,
            Err(fault) => return Poll::Ready(Err(fault.clone())),
        };
        match catch(|| fut.as_mut().poll(cx)) {
            Ok(poll) => Poll::Ready(ready!(poll)),
            Err(panic) => {
                let fault = panic_fault(&this.method, panic);
                // Never poll the broken future again.
                this.inner = Err(fault.clone());
                Poll::Ready(Err(fault))
            }
        }
    }
}

/// A panic caught in a handler: its payload, and where it happened (as the panic hook saw it).
struct Caught {
    payload: Box<dyn Any + Send>,
    location: Option<String>,
}

std::thread_local! {
    /// True while this thread runs handler code under [`catch`]: the panic hook then stays quiet.
    static IN_HANDLER: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    /// Where the last panic under [`catch`] on this thread happened.
    static LOCATION: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
}

/// Runs handler code, catching a panic. A handler's panic is answered with a fault and logged as one `tracing`
/// error event (method, message, location, in [`panic_fault`]); the process's panic hook, which would print the
/// message and perhaps a backtrace to stderr for every such call, is not run for it. It is run when
/// `RUST_BACKTRACE` asks for backtraces (set and not `0`), and for every panic outside handlers.
fn catch<R>(f: impl FnOnce() -> R) -> Result<R, Caught> {
    install_quiet_hook();
    let outer = IN_HANDLER.with(|h| h.replace(true));
    let result = std::panic::catch_unwind(AssertUnwindSafe(f));
    IN_HANDLER.with(|h| h.set(outer));
    result.map_err(|payload| Caught { payload, location: LOCATION.with(|l| l.borrow_mut().take()) })
}

/// Wraps the process's panic hook, once, with one that notes where a handler's panic happened and stays quiet
/// for it (see [`catch`]). A hook the application sets later replaces this one (and then prints as it likes).
fn install_quiet_hook() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let backtraces = std::env::var_os("RUST_BACKTRACE").is_some_and(|v| v != "0");
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if IN_HANDLER.with(std::cell::Cell::get) {
                let location = info.location().map(|l| format!("{}:{}:{}", l.file(), l.line(), l.column()));
                LOCATION.with(|l| *l.borrow_mut() = location);
                if !backtraces {
                    return;
                }
            }
            previous(info);
        }));
    });
}

fn panic_fault(method: &str, panic: Caught) -> Fault {
    let payload = &panic.payload;
    let what = payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)");
    let location = panic.location.as_deref().unwrap_or("(unknown)");
    tracing::error!(method, panic = what, location, "handler panicked");
    // The panic message stays in the server's log: it may hold details the peer should not see.
    Fault::internal_error(format!("handler for {method:?} panicked"))
}

/// Per-call information a transport hands to the handler: typed values such as the peer's address or, in
/// later transports, credentials and a handle for calling back.
///
/// A handler receives it by taking a `&Context` parameter (which is not a wire param). Cloning is cheap.
///
/// ```
/// use rpc_core::{Context, RemoteAddr};
///
/// let cx = Context::new().with(RemoteAddr("127.0.0.1:4000".parse().unwrap()));
/// assert_eq!(cx.get::<RemoteAddr>().unwrap().0.port(), 4000);
/// assert!(cx.get::<String>().is_none());
/// ```
#[derive(Clone, Default)]
pub struct Context {
    /// A handful of entries at most: a list is faster to search than a hash map (which is looked up on every
    /// call).
    values: Option<Arc<Vec<Entry>>>,
}

/// One value in a [`Context`], under its type.
type Entry = (TypeId, Arc<dyn Any + Send + Sync>);

impl Context {
    /// An empty context.
    pub fn new() -> Context {
        Context::default()
    }

    /// This context with `value` added (replacing one of the same type).
    pub fn with<T: Any + Send + Sync>(mut self, value: T) -> Context {
        let list = Arc::make_mut(self.values.get_or_insert_with(Default::default));
        let entry: Entry = (TypeId::of::<T>(), Arc::new(value));
        match list.iter_mut().find(|(id, _)| *id == entry.0) {
            Some(slot) => *slot = entry,
            None => list.push(entry),
        }
        self
    }

    /// The value of type `T`, if the transport set one.
    pub fn get<T: Any + Send + Sync>(&self) -> Option<&T> {
        let id = TypeId::of::<T>();
        self.values.as_ref()?.iter().find(|(t, _)| *t == id)?.1.downcast_ref::<T>()
    }
}

impl fmt::Debug for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Context").field("values", &self.values.as_ref().map_or(0, |m| m.len())).finish()
    }
}

/// The network address of the peer that made the call, set in the [`Context`] by socket transports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RemoteAddr(pub std::net::SocketAddr);

/// What a server knows about one method: its wire name, params, result type and documentation.
///
/// `#[service]` generates these from the trait; introspection (`system.methodHelp` and friends) and named
/// params read them.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct MethodInfo {
    /// The name on the wire (after any `#[rpc(name = "...")]` and router prefix).
    pub name: Cow<'static, str>,
    /// The wire params, in order.
    pub params: &'static [ParamInfo],
    /// The Rust type of the result, as written (the `T` of `Result<T, E>`).
    pub returns: &'static str,
    /// The method's doc comment, trimmed.
    pub docs: &'static str,
}

impl MethodInfo {
    /// Method metadata (used by generated code; hand-written dispatchers can use it too).
    pub const fn new(
        name: &'static str,
        params: &'static [ParamInfo],
        returns: &'static str,
        docs: &'static str,
    ) -> MethodInfo {
        MethodInfo { name: Cow::Borrowed(name), params, returns, docs }
    }

    /// How many params a call must send: the rest are trailing `Option`s that may be left out.
    pub fn required_params(&self) -> usize {
        self.params.iter().rposition(|p| !p.optional).map_or(0, |i| i + 1)
    }
}

/// One param of a [`MethodInfo`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ParamInfo {
    /// The param's name in the trait (JSON-RPC named params use it).
    pub name: &'static str,
    /// Its Rust type, as written.
    pub ty: &'static str,
    /// True for `Option<T>`: a trailing optional param may be left out of a call.
    pub optional: bool,
}

impl ParamInfo {
    /// Param metadata.
    pub const fn new(name: &'static str, ty: &'static str, optional: bool) -> ParamInfo {
        ParamInfo { name, ty, optional }
    }
}

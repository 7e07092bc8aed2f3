//! The server side: [`Dispatch`] routes a method name and its params to an implementation.

use std::any::{Any, TypeId};
use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Poll, ready};

use crate::encoding::Reply;
use crate::stream::{ItemStream, StreamInfo};
use crate::{Fault, Value};

/// A boxed, sendable future: what the object-safe traits of this crate return.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What [`Dispatch::call`] returns: the handler's run, to its reply or fault.
pub type CallFuture = BoxFuture<'static, Result<Reply, Fault>>;

/// What [`Dispatch::subscribe`] returns: the start of a stream method, to its items or a fault.
pub type StreamFuture = BoxFuture<'static, Result<ItemStream, Fault>>;

/// Something a server transport can serve: it takes a method name and the call's params and answers with the
/// handler's result (a [`Reply`] the encoding serialises) or a [`Fault`].
///
/// `#[service]` implements it for `<Trait>Server<S>`; a [`Router`](crate::Router) implements it for several
/// services mounted together. Transports call it through [`serve_call`], which turns a handler panic into a
/// fault.
pub trait Dispatch: Send + Sync + 'static {
    /// Starts handling one call: reads `params` (before it returns: the future holds no borrow of them) and runs
    /// the handler. Params on the wire are read straight into the method's types; what does not read that way
    /// is read as values, so that the fault for params that do not fit is the same on every encoding. Unknown
    /// names answer [`Fault::METHOD_NOT_FOUND`].
    fn call(&self, method: &str, params: CallParams<'_>, cx: Context) -> CallFuture;

    /// The methods this dispatcher answers, for routing and introspection.
    fn methods(&self) -> Vec<MethodInfo>;

    /// Starts a subscription to a stream method (see [`stream`](crate::stream)): `method` is its subscribe name
    /// (the [`MethodInfo::name`] of a method with a [`MethodInfo::stream`]), and the answer is the stream of its
    /// items, which a duplex transport sends as notifications. Transports call it through
    /// [`serve_subscribe`]. The default knows no stream method: [`Fault::METHOD_NOT_FOUND`].
    fn subscribe(&self, method: &str, params: Vec<Value>, cx: Context) -> StreamFuture {
        let _ = (params, cx);
        let fault = Fault::method_not_found(method);
        Box::pin(async move { Err(fault) })
    }

    /// This dispatcher with `layer` (any tower [`Layer`](crate::middleware::Layer), a `ServiceBuilder` stack of
    /// them) around each of its calls: see [`middleware`](crate::middleware).
    fn layer<L>(self, layer: L) -> crate::middleware::Layered<Self, L::Service>
    where
        Self: Sized,
        L: crate::middleware::Layer<crate::middleware::Handler<Self>>,
    {
        crate::middleware::Layered::new(self, layer)
    }
}

/// `Dispatch` for the smart pointers over a dispatcher: every method forwarded.
macro_rules! forward_dispatch {
    ($($pointer:ident),*) => {$(
        impl<D: Dispatch + ?Sized> Dispatch for $pointer<D> {
            fn call(
                &self,
                method: &str,
                params: CallParams<'_>,
                cx: Context,
            ) -> CallFuture {
                (**self).call(method, params, cx)
            }
            fn methods(&self) -> Vec<MethodInfo> {
                (**self).methods()
            }
            fn subscribe(
                &self,
                method: &str,
                params: Vec<Value>,
                cx: Context,
            ) -> StreamFuture {
                (**self).subscribe(method, params, cx)
            }
        }
    )*};
}

forward_dispatch!(Arc, Box);

/// The default time a call may run before it is dropped and answered with a [`Fault::INTERNAL_ERROR`] fault:
/// 5 minutes. Every server transport's handler-timeout setting starts here.
pub const DEFAULT_HANDLER_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(300);

/// Awaits a call's answer under a time limit: a call still running after `limit` is dropped (its handler future
/// with it) and answered with an [`Fault::INTERNAL_ERROR`] fault naming the method, and the event is logged.
/// `None` lets it run for ever. Needs a tokio runtime with the timer enabled.
///
/// The limit is also the call's [deadline](deadline) while it runs (or the deadline already in force, such as
/// the one an HTTP client sent in [`TIMEOUT_HEADER`], when that is sooner): the handler reads it from its
/// [`Context`], and the calls it makes with generated clients inherit it.
pub async fn time_limit<T>(
    method: &str,
    limit: Option<std::time::Duration>,
    answer: impl Future<Output = Result<T, Fault>>,
) -> Result<T, Fault> {
    time_limit_at(method, call_limit(limit), answer).await
}

/// [`time_limit`] with the call's deadline and limit worked out already (by [`call_limit`], when the call
/// started): for a server that polls a call once before it decides whether to wait for it (under
/// [`within_deadline`]).
pub async fn time_limit_at<T>(
    method: &str,
    limit: Option<(tokio::time::Instant, std::time::Duration)>,
    answer: impl Future<Output = Result<T, Fault>>,
) -> Result<T, Fault> {
    let Some((deadline, limit)) = limit else { return answer.await };
    // Most calls are answered at their first poll: those need no timer (arming and clearing one costs more
    // than a small call itself).
    let mut answer = std::pin::pin!(DEADLINE.scope(Some(deadline), answer));
    if let Poll::Ready(result) = std::future::poll_fn(|cx| Poll::Ready(answer.as_mut().poll(cx))).await {
        return result;
    }
    match tokio::time::timeout_at(deadline, answer).await {
        Ok(result) => result,
        Err(_) => {
            tracing::warn!(method, ?limit, "handler timed out");
            Err(Fault::internal_error(format!("{method} did not finish within {limit:?}")))
        }
    }
}

/// The HTTP request header in which clients send how long they will wait for the answer, and servers read it
/// from: `Rpc-Timeout-Ms`, whole milliseconds. A server stops the call at that deadline even when the connection
/// stays open (a proxy between the two may keep it open after the client has gone), and answers with the
/// timeout fault. Relative, as gRPC's `grpc-timeout` and Connect's `Connect-Timeout-Ms` are, so that the
/// clocks of client and server need not agree; a name of our own, since those two belong to their protocols.
pub const TIMEOUT_HEADER: &str = "rpc-timeout-ms";

tokio::task_local! {
    /// The deadline of the call the current task is handling.
    static DEADLINE: Option<tokio::time::Instant>;
}

/// The deadline of the call being handled, if it has one: set by the server while a handler runs (from its
/// handler timeout, or a sooner deadline the client sent), and `None` outside a handler. Clients made by
/// `#[service]` over this framework's transports stop waiting at it (tarpc's rule): a call made from inside a
/// handler gives up when the call it serves does, unless it runs under [`with_deadline`]`(None, ..)`.
pub fn deadline() -> Option<tokio::time::Instant> {
    DEADLINE.try_with(|deadline| *deadline).ok().flatten()
}

/// The deadline of a call made or served now: `timeout` from now, or sooner when the call being handled has a
/// sooner [`deadline`]. What every client of this framework waits for, and what servers give their handlers
/// (from their handler timeout). A timeout past what the clock can hold is none.
pub fn call_deadline(timeout: Option<std::time::Duration>) -> Option<tokio::time::Instant> {
    call_limit(timeout).map(|(deadline, _)| deadline)
}

/// [`call_deadline`], with how far off it is: `timeout` itself when that is what binds (so that an error can
/// say "200ms", as configured), else what is left of the inherited [`deadline`].
pub fn call_limit(timeout: Option<std::time::Duration>) -> Option<(tokio::time::Instant, std::time::Duration)> {
    call_limit_at(tokio::time::Instant::now(), timeout)
}

/// [`call_limit`] for a call that starts at `now` (a time the caller read already: a server reads the clock once
/// for all the calls it starts together).
pub fn call_limit_at(
    now: tokio::time::Instant,
    timeout: Option<std::time::Duration>,
) -> Option<(tokio::time::Instant, std::time::Duration)> {
    let own = timeout.and_then(|timeout| Some((now.checked_add(timeout)?, timeout)));
    let inherited = deadline().map(|deadline| (deadline, deadline.saturating_duration_since(now)));
    match (own, inherited) {
        (Some(own), Some(inherited)) => Some(if inherited.0 < own.0 { inherited } else { own }),
        (own, inherited) => own.or(inherited),
    }
}

/// Runs `future` with `deadline` as the [`deadline`] it and the calls it makes see: `None` frees the calls
/// made inside from the deadline of the call being handled (each client then waits its own timeout).
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// use std::time::Duration;
/// let soon = tokio::time::Instant::now() + Duration::from_millis(300);
/// rpc_core::with_deadline(Some(soon), async {
///     assert_eq!(rpc_core::deadline(), Some(soon));
///     rpc_core::with_deadline(None, async { assert_eq!(rpc_core::deadline(), None) }).await;
/// })
/// .await;
/// # });
/// ```
pub async fn with_deadline<F: Future>(deadline: Option<tokio::time::Instant>, future: F) -> F::Output {
    DEADLINE.scope(deadline, future).await
}

/// Runs `f` (one poll of a call, say) with `deadline` as the [`deadline`] the code inside sees: the
/// synchronous [`with_deadline`].
pub fn within_deadline<R>(deadline: Option<tokio::time::Instant>, f: impl FnOnce() -> R) -> R {
    DEADLINE.sync_scope(deadline, f)
}

/// The params of one incoming call, as a transport hands them to [`Dispatch::call`].
pub enum CallParams<'a> {
    /// Positional values: from a dynamic caller, an encoding without a straight read (XML-RPC), or named params
    /// put in order.
    Values(Vec<Value>),
    /// The params array still on the wire, which the dispatcher reads straight into the method's types.
    Wire(&'a mut dyn WireParams),
}

impl CallParams<'_> {
    /// The params as values (read from the wire where they are there); an error is the fault to answer with.
    pub fn into_values(self) -> Result<Vec<Value>, Fault> {
        match self {
            CallParams::Values(values) => Ok(values),
            CallParams::Wire(wire) => wire.values(),
        }
    }
}

impl From<Vec<Value>> for CallParams<'_> {
    fn from(values: Vec<Value>) -> Self {
        CallParams::Values(values)
    }
}

impl fmt::Debug for CallParams<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallParams::Values(values) => f.debug_tuple("Values").field(values).finish(),
            CallParams::Wire(_) => f.write_str("Wire(..)"),
        }
    }
}

/// A call's params array on the wire, as an encoding holds it ([`CallParams::Wire`]): readable straight into
/// Rust types through the encoding's deserializer, and as values, as often as asked.
pub trait WireParams {
    /// Hands `read` the encoding's deserializer over the params array; true if `read` took it (returned true) and
    /// the array was read whole and well.
    fn read(&mut self, read: &mut dyn FnMut(&mut dyn erased_serde::Deserializer<'_>) -> bool) -> bool;

    /// The params as values; an error is the fault to answer with (params that are not an array, say).
    fn values(&mut self) -> Result<Vec<Value>, Fault>;
}

/// Calls `dispatch` the way every server transport should: a panic in the handler (while its params are read,
/// while it starts or while it runs) becomes an [`Fault::INTERNAL_ERROR`] fault and is logged, so one bad call
/// never takes the connection or the server down.
pub fn serve_call<D: Dispatch + ?Sized>(
    dispatch: &D,
    method: &str,
    params: CallParams<'_>,
    cx: Context,
) -> impl Future<Output = Result<Reply, Fault>> + Send + 'static + use<D> {
    let started = catch(|| dispatch.call(method, params, cx));
    let method = method.to_owned();
    CatchPanic { inner: started.map_err(|panic| panic_fault(&method, panic)), method }
}

/// [`serve_call`] for a transport that carries values (XML-RPC, an in-process caller): the handler's result as
/// a value.
pub fn serve_call_value<D: Dispatch + ?Sized>(
    dispatch: &D,
    method: &str,
    params: Vec<Value>,
    cx: Context,
) -> impl Future<Output = Result<Value, Fault>> + Send + 'static + use<D> {
    let call = serve_call(dispatch, method, CallParams::Values(params), cx);
    let method = method.to_owned();
    async move { crate::encoding::reply_to_value(&method, &call.await?) }
}

/// Starts a subscription the way every server transport should ([`Dispatch::subscribe`]): a panic while it
/// starts is a fault, as in [`serve_call`], and so is one while an item is made (that item is the stream's
/// last).
pub fn serve_subscribe<D: Dispatch + ?Sized>(
    dispatch: &D,
    method: &str,
    params: Vec<Value>,
    cx: Context,
) -> impl Future<Output = Result<ItemStream, Fault>> + Send + 'static {
    let started = catch(|| dispatch.subscribe(method, params, cx)).map_err(|panic| panic_fault(method, panic));
    let method = method.to_owned();
    async move {
        let items = CatchPanic { inner: started, method: method.clone() }.await?;
        Ok(Box::pin(CatchItemPanic { items: Some(items), method }) as ItemStream)
    }
}

/// A stream of items whose `poll_next` may panic: the panic is the stream's last item, as a fault.
struct CatchItemPanic {
    items: Option<ItemStream>,
    method: String,
}

impl futures_util::Stream for CatchItemPanic {
    type Item = Result<Reply, Fault>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        let Some(items) = &mut this.items else { return Poll::Ready(None) };
        match catch(|| items.as_mut().poll_next(cx)) {
            Ok(poll) => poll,
            Err(panic) => {
                this.items = None;
                Poll::Ready(Some(Err(panic_fault(&this.method, panic))))
            }
        }
    }
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

    /// The deadline of the call being handled (see [`deadline`](crate::deadline)): when the server will drop
    /// it.
    pub fn deadline(&self) -> Option<tokio::time::Instant> {
        deadline()
    }

    /// How long the call being handled has left before its deadline (zero once it has passed); `None` when it
    /// has none.
    pub fn remaining(&self) -> Option<std::time::Duration> {
        deadline().map(|deadline| deadline.saturating_duration_since(tokio::time::Instant::now()))
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
    /// For a stream method (one that returns [`Stream`](crate::Stream)), its other names on the wire: `name` is
    /// the method called to subscribe, and `returns` the type of each item.
    pub stream: Option<StreamInfo>,
    /// True for a method marked `#[rpc(idempotent)]`: running it twice does what running it once does, so a
    /// client may send it again when it failed without an answer (another endpoint, a reconnect).
    pub idempotent: bool,
}

impl MethodInfo {
    /// Method metadata (used by generated code; hand-written dispatchers can use it too).
    pub const fn new(
        name: &'static str,
        params: &'static [ParamInfo],
        returns: &'static str,
        docs: &'static str,
    ) -> MethodInfo {
        MethodInfo { name: Cow::Borrowed(name), params, returns, docs, stream: None, idempotent: false }
    }

    /// Metadata of a stream method: subscribed to as `subscribe`, its items sent as `notification`s, ended early
    /// with `unsubscribe` (used by generated code).
    pub const fn new_stream(
        subscribe: &'static str,
        params: &'static [ParamInfo],
        item: &'static str,
        docs: &'static str,
        notification: &'static str,
        unsubscribe: &'static str,
    ) -> MethodInfo {
        let stream = StreamInfo { notification: Cow::Borrowed(notification), unsubscribe: Cow::Borrowed(unsubscribe) };
        MethodInfo {
            name: Cow::Borrowed(subscribe),
            params,
            returns: item,
            docs,
            stream: Some(stream),
            idempotent: false,
        }
    }

    /// This method marked idempotent, or not (see [`idempotent`](MethodInfo::idempotent); used by generated
    /// code).
    #[must_use]
    pub const fn with_idempotent(mut self, idempotent: bool) -> MethodInfo {
        self.idempotent = idempotent;
        self
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

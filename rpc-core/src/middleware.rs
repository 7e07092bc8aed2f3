//! Middleware: [tower] layers around each call, on both halves.
//!
//! **Server.** [`Dispatch::layer`] wraps a dispatcher in any [`Layer`] whose service takes a [`Request`] (the
//! method name, the params, the [`Context`]) and answers a [`Response`]. Every server takes the result, since it
//! is a [`Dispatch`] like any other, and each call passes through the layers once, whichever path (typed or
//! value) its params take. tower's own layers work unchanged: `ConcurrencyLimitLayer`, `RateLimitLayer`,
//! `TimeoutLayer`, `LoadShedLayer`, `ServiceBuilder` stacks of them, and a user's own.
//!
//! ```
//! use std::sync::Arc;
//! use std::sync::atomic::{AtomicUsize, Ordering};
//! use rpc_core::middleware::{Request, Service, layer_fn};
//! use rpc_core::{Dispatch, MemoryTransport, service};
//!
//! #[service]
//! pub trait Services {
//!     /// Returns num * 2.
//!     async fn double(&self, num: i64) -> i64;
//! }
//! struct Doubler;
//! impl Services for Doubler {
//!     async fn double(&self, num: i64) -> i64 { num * 2 }
//! }
//!
//! // A layer of one's own: counts the calls (tower's `layer_fn` and `service_fn` would do as well).
//! #[derive(Clone)]
//! struct Count<S>(S, Arc<AtomicUsize>);
//! impl<S: Service<Request>> Service<Request> for Count<S> {
//!     type Response = S::Response;
//!     type Error = S::Error;
//!     type Future = S::Future;
//!     fn poll_ready(&mut self, cx: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), S::Error>> {
//!         self.0.poll_ready(cx)
//!     }
//!     fn call(&mut self, request: Request) -> S::Future {
//!         self.1.fetch_add(1, Ordering::Relaxed);
//!         self.0.call(request)
//!     }
//! }
//!
//! # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
//! let calls = Arc::new(AtomicUsize::new(0));
//! let counted = calls.clone();
//! let server = ServicesServer::new(Doubler).layer(layer_fn(move |s| Count(s, counted.clone())));
//! let client = ServicesClient::new(MemoryTransport::new(server));
//! assert_eq!(client.double(7).await.unwrap(), 14);
//! assert_eq!(calls.load(Ordering::Relaxed), 1);
//! # });
//! ```
//!
//! **Client.** A transport is a tower service for one [`Call`] ([`TransportService`]), and any such service is
//! a transport again ([`ServiceTransport`]), so a generated client works over a `ServiceBuilder` stack:
//! [`Transport::layer`] does both steps. Calls through a layered transport take the value path (a [`Call`]
//! carries its params as values, so that a retry can send them again).
//!
//! Both halves keep one instance of the layered service and take calls into it one at a time, in order (the
//! `poll_ready` then `call` of tower's contract, under an async mutex); the calls then run concurrently. So a
//! rate limit is one limit for the whole server or client, not one per connection, and a service need not be
//! `Clone` (tower's `RateLimit` is not).

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};

pub use tower_layer::{Layer, layer_fn};
pub use tower_service::Service;

use crate::encoding::{self, Answer, AnswerFuture, Param, Reply, ValueAnswer};
use crate::stream::{ItemStream, StreamNames, SubscriptionSource};
use crate::{BoxFuture, CallFuture, CallParams, Context, Dispatch, Error, Fault, MethodInfo, Transport, Value};

/// The error type tower's layers return (`tower::BoxError`): a layer's own error, or the inner service's.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// One call, as server middleware sees it: what [`Dispatch::layer`]'s layers take.
pub struct Request {
    method: String,
    params: Params,
    cx: Context,
    subscribe: bool,
}

enum Params {
    /// The value path: the params as values.
    Values(Vec<Value>),
    /// The typed path: the params were read straight into the handler's types, whose call waits here.
    Read(CallFuture),
}

impl Request {
    /// A call of `method` with `params` as values (what a middleware that makes its own calls, or a test, sends
    /// to the service inside it).
    pub fn new(method: impl Into<String>, params: Vec<Value>, cx: Context) -> Request {
        Request { method: method.into(), params: Params::Values(params), cx, subscribe: false }
    }

    /// The method's name on the wire.
    pub fn method(&self) -> &str {
        &self.method
    }

    /// The params as values, when the call took the value path. `None` on the typed path: there the params have
    /// been read straight into the handler's Rust types (which is why the [`Context`] can only be read here: the
    /// handler already has its own).
    pub fn params(&self) -> Option<&[Value]> {
        match &self.params {
            Params::Values(values) => Some(values),
            Params::Read(_) => None,
        }
    }

    /// The call's context: the peer's address, its credentials, what the transport set.
    pub fn context(&self) -> &Context {
        &self.cx
    }

    /// True for the call that starts a subscription to a stream method (its [`Response`] is the stream).
    pub fn is_subscription(&self) -> bool {
        self.subscribe
    }
}

impl fmt::Debug for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Request")
            .field("method", &self.method)
            .field("params", &self.params())
            .field("subscribe", &self.subscribe)
            .finish_non_exhaustive()
    }
}

/// A call's answer, as server middleware sees it: a result (as a value or as the handler's typed result), or
/// the stream of a subscription.
pub struct Response(Answered);

enum Answered {
    Value(Value),
    Reply(Reply),
    Stream(ItemStream),
}

impl Response {
    /// An answer given as a value (what a middleware answering by itself, a cache say, returns).
    pub fn value(value: Value) -> Response {
        Response(Answered::Value(value))
    }

    /// True for the answer to a subscription: its stream of items.
    pub fn is_stream(&self) -> bool {
        matches!(self.0, Answered::Stream(_))
    }

    fn into_reply(self, method: &str) -> Result<Reply, Fault> {
        match self.0 {
            Answered::Value(value) => Ok(Box::new(value)),
            Answered::Reply(reply) => Ok(reply),
            Answered::Stream(_) => Err(misanswered(method)),
        }
    }
}

impl fmt::Debug for Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match &self.0 {
            Answered::Value(value) => return f.debug_tuple("Response").field(value).finish(),
            Answered::Reply(_) => "typed result",
            Answered::Stream(_) => "stream",
        };
        f.debug_tuple("Response").field(&kind).finish()
    }
}

fn misanswered(method: &str) -> Fault {
    Fault::internal_error(format!(
        "{method}: the middleware answered a call with a stream, or a subscription with a result"
    ))
}

/// The service at the heart of a server's layers: it hands each [`Request`] to the dispatcher.
#[derive(Debug)]
pub struct Handler<D> {
    dispatch: Arc<D>,
}

impl<D> Clone for Handler<D> {
    fn clone(&self) -> Handler<D> {
        Handler { dispatch: self.dispatch.clone() }
    }
}

impl<D: Dispatch> Service<Request> for Handler<D> {
    type Response = Response;
    type Error = Fault;
    type Future = BoxFuture<'static, Result<Response, Fault>>;

    fn poll_ready(&mut self, _: &mut TaskContext<'_>) -> Poll<Result<(), Fault>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let Request { method, params, cx, subscribe } = request;
        match params {
            Params::Read(answer) => Box::pin(async move { Ok(Response(Answered::Reply(answer.await?))) }),
            Params::Values(params) if subscribe => {
                let stream = self.dispatch.subscribe(&method, params, cx);
                Box::pin(async move { Ok(Response(Answered::Stream(stream.await?))) })
            }
            Params::Values(params) => {
                let answer = self.dispatch.call(&method, CallParams::Values(params), cx);
                Box::pin(async move { Ok(Response(Answered::Reply(answer.await?))) })
            }
        }
    }
}

/// A dispatcher with layers around each call: what [`Dispatch::layer`] returns, and a [`Dispatch`] itself (so
/// it can be served, routed and layered again).
pub struct Layered<D, S> {
    dispatch: Arc<D>,
    service: Arc<tokio::sync::Mutex<S>>,
}

impl<D, S> Layered<D, S> {
    /// `dispatch` with `layer` around each of its calls.
    pub fn new<L: Layer<Handler<D>, Service = S>>(dispatch: D, layer: L) -> Layered<D, S> {
        let dispatch = Arc::new(dispatch);
        let service = layer.layer(Handler { dispatch: dispatch.clone() });
        Layered { dispatch, service: Arc::new(tokio::sync::Mutex::new(service)) }
    }
}

impl<D, S> fmt::Debug for Layered<D, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Layered").field("service", &std::any::type_name::<S>()).finish_non_exhaustive()
    }
}

/// Takes `request` into `service` (waiting until it is ready) and waits for its answer.
async fn through<S, R>(service: &tokio::sync::Mutex<S>, request: R) -> Result<S::Response, BoxError>
where
    S: Service<R>,
    S::Error: Into<BoxError>,
{
    let answer = {
        let mut service = service.lock().await;
        std::future::poll_fn(|cx| service.poll_ready(cx)).await.map_err(Into::into)?;
        service.call(request)
    };
    answer.await.map_err(Into::into)
}

/// A layer's error as the fault the caller gets: a fault as it is; tower's timeout and load shedding as faults
/// that say so; anything else as an internal error with its message.
fn fault_of(method: &str, error: BoxError) -> Fault {
    match error.downcast::<Fault>() {
        Ok(fault) => *fault,
        Err(error) if error.is::<tower::timeout::error::Elapsed>() => {
            Fault::internal_error(format!("{method}: the server's time limit for the call passed"))
        }
        Err(error) if error.is::<tower::load_shed::error::Overloaded>() => {
            Fault::internal_error(format!("{method}: the server is overloaded and turned the call away; try again"))
        }
        Err(error) => Fault::internal_error(format!("{method}: {error}")),
    }
}

impl<D, S> Dispatch for Layered<D, S>
where
    D: Dispatch,
    S: Service<Request, Response = Response> + Send + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
{
    /// Params as values go through the layers as they are (a layer sees them: [`Request::params`]); params on
    /// the wire are read first (the dispatcher starts the call), and the started call goes through the layers.
    fn call(&self, method: &str, params: CallParams<'_>, cx: Context) -> CallFuture {
        let params = match params {
            CallParams::Values(values) => Params::Values(values),
            wire => Params::Read(self.dispatch.call(method, wire, cx.clone())),
        };
        let (service, method) = (self.service.clone(), method.to_owned());
        Box::pin(async move {
            let request = Request { method: method.clone(), params, cx, subscribe: false };
            through(&service, request).await.map_err(|e| fault_of(&method, e))?.into_reply(&method)
        })
    }

    fn methods(&self) -> Vec<MethodInfo> {
        self.dispatch.methods()
    }

    fn subscribe(&self, method: &str, params: Vec<Value>, cx: Context) -> crate::StreamFuture {
        let (service, method) = (self.service.clone(), method.to_owned());
        Box::pin(async move {
            let request = Request { method: method.clone(), params: Params::Values(params), cx, subscribe: true };
            match through(&service, request).await.map_err(|e| fault_of(&method, e))?.0 {
                Answered::Stream(items) => Ok(items),
                _ => Err(misanswered(&method)),
            }
        })
    }
}

/// One call, as client middleware sees it: what a [`TransportService`] takes. Cloning it is what a retry does.
#[derive(Clone, Debug, PartialEq)]
pub struct Call {
    method: Cow<'static, str>,
    params: Vec<Value>,
    idempotent: bool,
    notification: bool,
}

impl Call {
    /// A call of `method` with `params`.
    pub fn new(method: impl Into<Cow<'static, str>>, params: Vec<Value>) -> Call {
        Call { method: method.into(), params, idempotent: false, notification: false }
    }

    /// This call, marked as one of a method that may safely run twice (`#[rpc(idempotent)]`), so that it may be
    /// sent again when it failed without an answer.
    #[must_use]
    pub fn idempotent(mut self, idempotent: bool) -> Call {
        self.idempotent = idempotent;
        self
    }

    /// This call as a notification: sent without waiting for a result (its answer is nil).
    #[must_use]
    pub fn notification(mut self) -> Call {
        self.notification = true;
        self
    }

    /// The method's name on the wire.
    pub fn method(&self) -> &str {
        &self.method
    }

    /// The params.
    pub fn params(&self) -> &[Value] {
        &self.params
    }

    /// True for a method marked `#[rpc(idempotent)]`: sending it twice does no harm.
    pub fn is_idempotent(&self) -> bool {
        self.idempotent
    }

    /// True for a notification.
    pub fn is_notification(&self) -> bool {
        self.notification
    }

    /// The method's name and the params, taken out of the call.
    pub fn into_parts(self) -> (Cow<'static, str>, Vec<Value>) {
        (self.method, self.params)
    }
}

/// A [`Transport`] as a tower service for one [`Call`]: the service at the heart of a client's layers.
#[derive(Debug)]
pub struct TransportService<T: ?Sized> {
    transport: Arc<T>,
}

impl<T: ?Sized> TransportService<T> {
    /// The service that sends each call over `transport`.
    pub fn new(transport: Arc<T>) -> TransportService<T> {
        TransportService { transport }
    }
}

impl<T: ?Sized> Clone for TransportService<T> {
    fn clone(&self) -> TransportService<T> {
        TransportService { transport: self.transport.clone() }
    }
}

impl<T: Transport + ?Sized + 'static> Service<Call> for TransportService<T> {
    type Response = Value;
    type Error = Error;
    type Future = BoxFuture<'static, Result<Value, Error>>;

    fn poll_ready(&mut self, _: &mut TaskContext<'_>) -> Poll<Result<(), Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, call: Call) -> Self::Future {
        let transport = self.transport.clone();
        Box::pin(async move {
            if call.notification {
                transport.notify(&call.method, call.params).await.map(|()| Value::Nil)
            } else {
                transport.call(&call.method, call.params).await
            }
        })
    }
}

/// Any tower service for one [`Call`] as a [`Transport`], so that a generated client calls through it (what
/// [`Transport::layer`] returns).
pub struct ServiceTransport<S> {
    service: tokio::sync::Mutex<S>,
    /// Where subscriptions go (they bypass the layers): the transport inside, when there is one.
    streams: Option<Arc<dyn Transport>>,
}

impl<S> ServiceTransport<S> {
    /// `service` as a transport. It has no subscriptions (they fail with
    /// [`needs_duplex`](crate::stream::needs_duplex)'s words); [`Transport::layer`] keeps those of the transport
    /// inside.
    pub fn new(service: S) -> ServiceTransport<S> {
        ServiceTransport { service: tokio::sync::Mutex::new(service), streams: None }
    }
}

impl<S> fmt::Debug for ServiceTransport<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceTransport").field("service", &std::any::type_name::<S>()).finish_non_exhaustive()
    }
}

/// A client layer's error as the caller's [`Error`]: ours as it is, tower's own (a timeout, a shed call) as a
/// transport error.
fn error_of(error: BoxError) -> Error {
    match error.downcast::<Error>() {
        Ok(error) => *error,
        Err(error) => match error.downcast::<Fault>() {
            Ok(fault) => Error::Fault(*fault),
            Err(other) => Error::Transport(other),
        },
    }
}

impl<S> SendCall for ServiceTransport<S>
where
    S: Service<Call, Response = Value> + Send,
    S::Error: Into<BoxError>,
    S::Future: Send,
{
    fn send_call(&self, call: Call) -> BoxFuture<'_, Result<Value, Error>> {
        Box::pin(async move { through(&self.service, call).await.map_err(error_of) })
    }

    fn subscribe_call<'a>(
        &'a self,
        names: StreamNames<'a>,
        params: &[Param<'_>],
    ) -> BoxFuture<'a, Result<Box<dyn SubscriptionSource>, Error>> {
        match &self.streams {
            Some(transport) => transport.subscribe(names, params),
            None => needs_duplex(names),
        }
    }
}

crate::transport_via_send_call!(impl[S] ServiceTransport<S> where [
    S: Service<Call, Response = Value> + Send,
    S::Error: Into<BoxError>,
    S::Future: Send,
]);

/// A client that sends whole [`Call`]s (the tower stack behind [`Transport::layer`], a balancer over many
/// endpoints): its [`Transport`] comes from [`transport_via_send_call!`](crate::transport_via_send_call), every
/// method of which makes a `Call` (with the idempotent and notification flags set) and sends it.
pub trait SendCall: Send + Sync {
    /// Sends `call` and waits for its result (a notification's is nil).
    fn send_call(&self, call: Call) -> BoxFuture<'_, Result<Value, Error>>;

    /// [`Transport::subscribe`]; the default fails at once with [`needs_duplex`](crate::stream::needs_duplex)'s
    /// words, as `Transport`'s does.
    fn subscribe_call<'a>(
        &'a self,
        names: StreamNames<'a>,
        params: &[Param<'_>],
    ) -> BoxFuture<'a, Result<Box<dyn SubscriptionSource>, Error>> {
        let _ = params;
        needs_duplex(names)
    }
}

fn needs_duplex<T: Send + 'static>(names: StreamNames<'_>) -> BoxFuture<'static, Result<T, Error>> {
    let error = Error::Transport(crate::stream::needs_duplex(names.subscribe).into());
    Box::pin(std::future::ready(Err(error)))
}

/// A typed call through a [`SendCall`]: its params as values, its result read from the value.
#[doc(hidden)]
pub fn send_typed<'a, S: SendCall + ?Sized>(
    sender: &'a S,
    method: &'a str,
    params: &[Param<'_>],
    idempotent: bool,
) -> AnswerFuture<'a> {
    let params = encoding::params_to_values(params);
    Box::pin(async move {
        let call = Call::new(method.to_owned(), params?).idempotent(idempotent);
        Ok(Box::new(ValueAnswer(sender.send_call(call).await?)) as Box<dyn Answer>)
    })
}

/// Implements [`Transport`] for a type that implements [`SendCall`]: `impl[generics] Type where [bounds]`.
///
/// ```ignore
/// rpc_core::transport_via_send_call!(impl[] Balanced);
/// ```
#[macro_export]
macro_rules! transport_via_send_call {
    (impl[$($generics:tt)*] $ty:ty $(where [$($bounds:tt)*])?) => {
        impl<$($generics)*> $crate::Transport for $ty $(where $($bounds)*)? {
            fn call<'a>(
                &'a self,
                method: &'a str,
                params: ::std::vec::Vec<$crate::Value>,
            ) -> $crate::BoxFuture<'a, ::std::result::Result<$crate::Value, $crate::Error>> {
                $crate::middleware::SendCall::send_call(self, $crate::middleware::Call::new(method.to_owned(), params))
            }

            fn notify<'a>(
                &'a self,
                method: &'a str,
                params: ::std::vec::Vec<$crate::Value>,
            ) -> $crate::BoxFuture<'a, ::std::result::Result<(), $crate::Error>> {
                let call = $crate::middleware::Call::new(method.to_owned(), params).notification();
                let sent = $crate::middleware::SendCall::send_call(self, call);
                ::std::boxed::Box::pin(async move { sent.await.map(drop) })
            }

            fn call_typed<'a>(
                &'a self,
                method: &'a str,
                params: &[$crate::encoding::Param<'_>],
            ) -> $crate::encoding::AnswerFuture<'a> {
                $crate::middleware::send_typed(self, method, params, false)
            }

            fn call_idempotent<'a>(
                &'a self,
                method: &'a str,
                params: &[$crate::encoding::Param<'_>],
            ) -> $crate::encoding::AnswerFuture<'a> {
                $crate::middleware::send_typed(self, method, params, true)
            }

            fn subscribe<'a>(
                &'a self,
                names: $crate::stream::StreamNames<'a>,
                params: &[$crate::encoding::Param<'_>],
            ) -> $crate::BoxFuture<'a, ::std::result::Result<::std::boxed::Box<dyn $crate::stream::SubscriptionSource>, $crate::Error>> {
                $crate::middleware::SendCall::subscribe_call(self, names, params)
            }
        }
    };
}

/// [`Transport::layer`]: `transport` with `layer` around each call.
pub(crate) fn layer_transport<T, L>(transport: T, layer: L) -> ServiceTransport<L::Service>
where
    T: Transport + 'static,
    L: Layer<TransportService<T>>,
{
    let transport = Arc::new(transport);
    let service = layer.layer(TransportService::new(transport.clone()));
    ServiceTransport { service: tokio::sync::Mutex::new(service), streams: Some(transport) }
}

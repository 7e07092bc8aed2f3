//! tower layers over the HTTP server ([`ServerConfig::http_layer`](crate::ServerConfig::http_layer)): CORS,
//! tracing, request limits, or a layer of your own, around everything the server does with a request.
//!
//! Each layer wraps an [`HttpService`]: a type-erased tower `Service` that takes an `http::Request` of any body
//! (so that layers which change the request body, such as tower-http's `RequestBodyLimitLayer`, fit) and answers
//! an `http::Response<`[`ResponseBody`]`>`. The layered stack gets each request with its body boxed as a
//! [`RequestBody`]; the boxing, like the stack itself, exists only on a server that has a layer.

use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::BodyExt;
use http_body_util::combinators::UnsyncBoxBody;
use hyper::body::Body;
use tower::ServiceExt;
use tower::util::BoxCloneSyncService;
use tower_layer::Layer;
use tower_service::Service;

/// The error type of the layered HTTP service and of its bodies: any error, boxed.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The request body a layer sees: the connection's body, boxed (a layer may replace it with its own, e.g. a
/// `Limited` one).
pub type RequestBody = UnsyncBoxBody<Bytes, BoxError>;

/// The response body of an [`HttpService`]: whatever body the server or a layer answered with, boxed.
pub type ResponseBody = UnsyncBoxBody<Bytes, BoxError>;

/// The HTTP service a layer wraps: the server's own handling of a request (path, method, authentication,
/// limits, the encoding's endpoint), or that already wrapped in the layers set after this one.
///
/// It takes a request of any body whose data is [`Bytes`] (boxing it as a [`RequestBody`]), is always ready,
/// and clones cheaply.
#[derive(Clone)]
pub struct HttpService(BoxCloneSyncService<Request<RequestBody>, Response<ResponseBody>, BoxError>);

impl HttpService {
    /// Erases `service`, boxing its response body and error.
    pub(crate) fn new<S, B>(service: S) -> HttpService
    where
        S: Service<Request<RequestBody>, Response = Response<B>> + Clone + Send + Sync + 'static,
        S::Error: Into<BoxError>,
        S::Future: Send + 'static,
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        let service = service
            .map_response(box_response as fn(Response<B>) -> Response<ResponseBody>)
            .map_err(into_box_error as fn(S::Error) -> BoxError);
        HttpService(BoxCloneSyncService::new(service))
    }
}

type ErasedService = BoxCloneSyncService<Request<RequestBody>, Response<ResponseBody>, BoxError>;

impl HttpService {
    /// One call of the stack, once it is ready, for the connection.
    pub(crate) fn call_once(&self, req: Request<RequestBody>) -> StackCall {
        StackCall { service: self.0.clone(), req: Some(req), answer: None }
    }
}

/// One call of a layer stack: waits for it to be ready, calls it, and gives its answer as hyper takes it. A
/// future of its own, with no bounds to prove, rather than an `async` block or tower's `Oneshot` (whose bounds on
/// the boxed `dyn Error` rustc cannot prove where it checks the connection's future is `Send`).
pub(crate) struct StackCall {
    service: ErasedService,
    req: Option<Request<RequestBody>>,
    answer: Option<<ErasedService as Service<Request<RequestBody>>>::Future>,
}

impl std::future::Future for StackCall {
    type Output = Result<Response<StackBody>, StackError>;

    fn poll(self: std::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        loop {
            if let Some(answer) = &mut this.answer {
                return answer.as_mut().poll(cx).map(|r| r.map(|resp| resp.map(StackBody)).map_err(StackError));
            }
            match this.service.poll_ready(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(StackError(e))),
                Poll::Ready(Ok(())) => match this.req.take() {
                    Some(req) => this.answer = Some(this.service.call(req)),
                    None => return Poll::Ready(Err(StackError("the request was already sent".into()))),
                },
            }
        }
    }
}

/// The answer of a layer stack, as hyper gets it: a body and an error of concrete types (the connection's
/// future must be `Send`, which rustc cannot prove of hyper's bounds on a boxed `dyn Error`: it loses the
/// `'static` there).
pub(crate) struct StackBody(pub(crate) ResponseBody);

impl Body for StackBody {
    type Data = Bytes;
    type Error = StackError;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<Bytes>, StackError>>> {
        std::pin::Pin::new(&mut self.get_mut().0).poll_frame(cx).map_err(StackError)
    }

    fn is_end_stream(&self) -> bool {
        self.0.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.0.size_hint()
    }
}

/// What a layer stack or its body failed with (hyper then closes the connection).
#[derive(Debug)]
pub(crate) struct StackError(pub(crate) BoxError);

impl fmt::Display for StackError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HTTP layer: {}", self.0)
    }
}

impl std::error::Error for StackError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&*self.0)
    }
}

impl fmt::Debug for HttpService {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("HttpService(..)")
    }
}

impl<B> Service<Request<B>> for HttpService
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Response = Response<ResponseBody>;
    type Error = BoxError;
    type Future = <BoxCloneSyncService<Request<RequestBody>, Response<ResponseBody>, BoxError> as Service<
        Request<RequestBody>,
    >>::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        self.0.call(req.map(box_body))
    }
}

/// A body, boxed (not boxed again when it already is one).
pub(crate) fn box_body<B>(body: B) -> UnsyncBoxBody<Bytes, BoxError>
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let mut body = Some(body);
    if let Some(boxed) = (&mut body as &mut dyn std::any::Any).downcast_mut::<Option<UnsyncBoxBody<Bytes, BoxError>>>()
        && let Some(boxed) = boxed.take()
    {
        return boxed;
    }
    match body {
        Some(body) => body.map_err(into_box_error as fn(B::Error) -> BoxError).boxed_unsync(),
        None => UnsyncBoxBody::default(),
    }
}

/// An error, boxed (a function, not a closure: a closure's `Into::into` is taken as generic over lifetimes, which
/// the boxed error's `'static` does not satisfy).
fn into_box_error<E: Into<BoxError>>(error: E) -> BoxError {
    error.into()
}

fn box_response<B>(response: Response<B>) -> Response<ResponseBody>
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    response.map(box_body)
}

/// A tower [`Layer`] the HTTP servers take ([`ServerConfig::http_layer`](crate::ServerConfig::http_layer)):
/// implemented for every `Layer<HttpService>` whose service takes a `Request<RequestBody>` and answers an
/// `http::Response` with a body of [`Bytes`], as tower-http's layers (`CorsLayer`, `TraceLayer`,
/// `RequestBodyLimitLayer`, `SetResponseHeaderLayer`, ...) and most tower layers do.
pub trait HttpLayer: Send + Sync + 'static {
    /// Wraps `inner` in this layer, type-erased.
    #[doc(hidden)]
    fn wrap(&self, inner: HttpService) -> HttpService;
}

impl<L, B> HttpLayer for L
where
    L: Layer<HttpService> + Send + Sync + 'static,
    L::Service: Service<Request<RequestBody>, Response = Response<B>> + Clone + Send + Sync + 'static,
    <L::Service as Service<Request<RequestBody>>>::Error: Into<BoxError>,
    <L::Service as Service<Request<RequestBody>>>::Future: Send + 'static,
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    fn wrap(&self, inner: HttpService) -> HttpService {
        HttpService::new(self.layer(inner))
    }
}

/// The layers of a server, in the order they were set (the first is the outermost).
#[derive(Clone, Default)]
pub(crate) struct Layers(Vec<Arc<dyn HttpLayer>>);

impl Layers {
    pub(crate) fn push(&mut self, layer: impl HttpLayer) {
        self.0.push(Arc::new(layer));
    }

    /// `core` wrapped in every layer, the first set outermost; `None` when there is none.
    pub(crate) fn stack(&self, core: impl FnOnce() -> HttpService) -> Option<HttpService> {
        if self.0.is_empty() {
            return None;
        }
        Some(self.0.iter().rev().fold(core(), |inner, layer| layer.wrap(inner)))
    }
}

impl fmt::Debug for Layers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} layer(s)", self.0.len())
    }
}

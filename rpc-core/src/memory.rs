//! [`MemoryTransport`]: client and server in one process, for tests and for embedding.

use std::fmt;
use std::sync::Arc;

use crate::encoding::{self, Answer, AnswerFuture, Param, Slot, erased_serde};
use crate::encoding::{WireParams, serve_call, serve_subscribe};
use crate::stream::{ItemStream, StreamNames, SubscriptionSource};
use crate::{BoxFuture, CallParams, Context, Dispatch, Error, Transport, Value};

/// A [`Transport`] that calls a [`Dispatch`] in the same process.
///
/// Params and results still pass through the value model (`to_value` on the way in, `from_value` on the way
/// out; generated clients and dispatchers take their typed path over it), and panics become faults as on a real
/// server, so a service behaves here as it does on the wire.
///
/// ```
/// use rpc_core::{MemoryTransport, service};
///
/// #[service]
/// pub trait Services {
///     /// Returns num * 2.
///     async fn double(&self, num: i64) -> i64;
/// }
///
/// struct Doubler;
/// impl Services for Doubler {
///     async fn double(&self, num: i64) -> i64 { num * 2 }
/// }
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let client = ServicesClient::new(MemoryTransport::new(ServicesServer::new(Doubler)));
/// assert_eq!(client.double(7).await.unwrap(), 14);
/// # });
/// ```
pub struct MemoryTransport<D> {
    dispatch: Arc<D>,
    cx: Context,
}

impl<D: Dispatch> MemoryTransport<D> {
    /// A transport that calls `dispatch` directly.
    pub fn new(dispatch: D) -> MemoryTransport<D> {
        MemoryTransport { dispatch: Arc::new(dispatch), cx: Context::new() }
    }

    /// The same, with the [`Context`] each call's handler receives.
    pub fn with_context(mut self, cx: Context) -> MemoryTransport<D> {
        self.cx = cx;
        self
    }
}

impl<D: Dispatch> Transport for MemoryTransport<D> {
    /// The value model stands in for the wire: the dispatcher reads the params straight from their values (or
    /// as values, where they do not read straight), and the result is read from its value the typed way.
    fn call_typed<'a>(&'a self, method: &'a str, params: &[Param<'_>]) -> AnswerFuture<'a> {
        let started = encoding::params_to_values(params).map(|params| {
            let mut wire = ValueWire(params);
            serve_call(&*self.dispatch, method, CallParams::Wire(&mut wire), self.cx.clone())
        });
        Box::pin(async move {
            let reply = started?.await.map_err(Error::Fault)?;
            let value = encoding::reply_to_value(method, &reply).map_err(Error::Fault)?;
            Ok(Box::new(MemoryAnswer(value)) as Box<dyn Answer>)
        })
    }

    /// Subscribes in process: the items come straight from the service's stream (each through its value, as
    /// a remote caller would read it), and dropping the subscription drops that stream.
    fn subscribe<'a>(
        &'a self,
        names: StreamNames<'a>,
        params: &[Param<'_>],
    ) -> BoxFuture<'a, Result<Box<dyn SubscriptionSource>, Error>> {
        let params = encoding::params_to_values(params);
        Box::pin(async move {
            let started = serve_subscribe(&*self.dispatch, names.subscribe, params?, self.cx.clone());
            let items = started.await.map_err(Error::Fault)?;
            let method = names.subscribe.to_owned();
            Ok(Box::new(MemorySubscription { items: Some(items), method, id: Value::from(0u8) })
                as Box<dyn SubscriptionSource>)
        })
    }
}

/// An in-process subscription: the service's stream itself, read until it ends or fails.
struct MemorySubscription {
    items: Option<ItemStream>,
    method: String,
    id: Value,
}

impl SubscriptionSource for MemorySubscription {
    fn id(&self) -> &Value {
        &self.id
    }

    fn poll_item(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<Box<dyn Answer>, Error>>> {
        let Some(items) = &mut self.items else { return std::task::Poll::Ready(None) };
        let item = match std::task::ready!(items.as_mut().poll_next(cx)) {
            Some(Ok(reply)) => match encoding::reply_to_value(&self.method, &reply) {
                Ok(value) => Some(Ok(Box::new(MemoryAnswer(value)) as Box<dyn Answer>)),
                Err(fault) => Some(Err(Error::Fault(fault))),
            },
            Some(Err(fault)) => Some(Err(Error::Fault(fault))),
            None => None,
        };
        // After the end or a fault, the stream is not polled again (and is dropped now).
        if !matches!(item, Some(Ok(_))) {
            self.items = None;
        }
        std::task::Poll::Ready(item)
    }

    fn unsubscribe(self: Box<Self>) -> BoxFuture<'static, Result<(), Error>> {
        Box::pin(std::future::ready(Ok(())))
    }
}

/// Params as values, read as an encoding reads them from its wire.
struct ValueWire(Vec<Value>);

impl WireParams for ValueWire {
    fn read(&mut self, read: &mut dyn FnMut(&mut dyn erased_serde::Deserializer<'_>) -> bool) -> bool {
        read(&mut <dyn erased_serde::Deserializer>::erase(Value::Array(self.0.clone())))
    }

    fn values(&mut self) -> Result<Vec<Value>, crate::Fault> {
        Ok(std::mem::take(&mut self.0))
    }
}

/// A result read the typed way from its value.
struct MemoryAnswer(Value);

impl Answer for MemoryAnswer {
    fn read(self: Box<Self>, result: &mut dyn Slot) -> Result<(), Error> {
        if result.deserialize(&mut <dyn erased_serde::Deserializer>::erase(self.0.clone())).is_ok() {
            return Ok(());
        }
        result.set_value(self.0)
    }
}

impl<D> Clone for MemoryTransport<D> {
    fn clone(&self) -> Self {
        MemoryTransport { dispatch: self.dispatch.clone(), cx: self.cx.clone() }
    }
}

impl<D> fmt::Debug for MemoryTransport<D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryTransport").finish_non_exhaustive()
    }
}

//! The client side: [`Transport`] sends a call and brings back its answer.

use std::sync::Arc;

use crate::encoding::{AnswerFuture, Param, ResultSlot};
use crate::stream::{StreamNames, SubscriptionSource};
use crate::{BoxFuture, Error, Value};

/// What a generated client (`<Trait>Client<T>`) calls through: one encoding over one connection or pool.
///
/// Implementations encode the method name and params for their wire, send them, and decode the answer; a
/// fault from the peer comes back as [`Error::Fault`].
pub trait Transport: Send + Sync {
    /// Calls `method`: the params serialised to the wire before this returns (the future holds no borrow of
    /// them), and the answer handed back for the caller to read into its result type (straight from the wire
    /// where the encoding can, see [`encoding`](crate::encoding)). Generated clients call this; it is the one
    /// method a transport must implement.
    fn call_typed<'a>(&'a self, method: &'a str, params: &[Param<'_>]) -> AnswerFuture<'a>;

    /// Calls `method` with params given as values and waits for the result as a value: for dynamic callers (a
    /// proxy, the command line, tests). [`call_typed`](Transport::call_typed) with the values as its params.
    fn call<'a>(&'a self, method: &'a str, params: Vec<Value>) -> BoxFuture<'a, Result<Value, Error>> {
        let answer = {
            let params: Vec<Param<'_>> = params.iter().map(|value| value as Param<'_>).collect();
            self.call_typed(method, &params)
        };
        Box::pin(async move {
            let mut slot = ResultSlot::<Value>::default();
            answer.await?.read(&mut slot)?;
            slot.0.ok_or_else(|| Error::Decode(format!("{method}: the transport gave no result")))
        })
    }

    /// Sends `method` without waiting for a result. Protocols without notifications (XML-RPC) make a normal
    /// call and drop the result, which is what this default does.
    fn notify<'a>(&'a self, method: &'a str, params: Vec<Value>) -> BoxFuture<'a, Result<(), Error>> {
        Box::pin(async move { self.call(method, params).await.map(drop) })
    }

    /// [`call_typed`](Transport::call_typed) for a method marked `#[rpc(idempotent)]`, one that may safely run
    /// twice: a transport that can send a call again (a client over several endpoints) may resend it when it
    /// failed without an answer, which it never does for other calls. Generated clients call this for such
    /// methods; the default is `call_typed`.
    fn call_idempotent<'a>(&'a self, method: &'a str, params: &[Param<'_>]) -> AnswerFuture<'a> {
        self.call_typed(method, params)
    }

    /// Subscribes to a stream method (see [`stream`](crate::stream)): calls `names.subscribe` with `params`
    /// (serialised before this returns) and, once the server has answered with the subscription's id, hands
    /// back the subscription its items arrive on. Generated clients call this. The default is for transports
    /// that cannot push (HTTP): it fails at once with [`needs_duplex`](crate::stream::needs_duplex)'s words.
    fn subscribe<'a>(
        &'a self,
        names: StreamNames<'a>,
        params: &[Param<'_>],
    ) -> BoxFuture<'a, Result<Box<dyn SubscriptionSource>, Error>> {
        let _ = params;
        let error = Error::Transport(crate::stream::needs_duplex(names.subscribe).into());
        Box::pin(std::future::ready(Err(error)))
    }

    /// This transport with `layer` (any tower [`Layer`](crate::middleware::Layer) over a
    /// [`TransportService`](crate::middleware::TransportService), a `ServiceBuilder` stack) around each call:
    /// see [`middleware`](crate::middleware). Subscriptions go to this transport directly.
    fn layer<L>(self, layer: L) -> crate::middleware::ServiceTransport<L::Service>
    where
        Self: Sized + 'static,
        L: crate::middleware::Layer<crate::middleware::TransportService<Self>>,
    {
        crate::middleware::layer_transport(self, layer)
    }
}

/// `Transport` for references and smart pointers to a transport: every method forwarded.
macro_rules! forward_transport {
    ($($pointer:ty),*) => {$(
        impl<T: Transport + ?Sized> Transport for $pointer {
            fn call<'a>(&'a self, method: &'a str, params: Vec<Value>) -> BoxFuture<'a, Result<Value, Error>> {
                (**self).call(method, params)
            }
            fn notify<'a>(&'a self, method: &'a str, params: Vec<Value>) -> BoxFuture<'a, Result<(), Error>> {
                (**self).notify(method, params)
            }
            fn call_typed<'a>(
                &'a self,
                method: &'a str,
                params: &[Param<'_>],
            ) -> AnswerFuture<'a> {
                (**self).call_typed(method, params)
            }
            fn call_idempotent<'a>(
                &'a self,
                method: &'a str,
                params: &[Param<'_>],
            ) -> AnswerFuture<'a> {
                (**self).call_idempotent(method, params)
            }
            fn subscribe<'a>(
                &'a self,
                names: StreamNames<'a>,
                params: &[Param<'_>],
            ) -> BoxFuture<'a, Result<Box<dyn SubscriptionSource>, Error>> {
                (**self).subscribe(names, params)
            }
        }
    )*};
}

forward_transport!(&T, Arc<T>, Box<T>);

//! The client side: [`Transport`] sends a call and brings back its answer.

use std::sync::Arc;

use crate::{BoxFuture, Error, Value};

/// What a generated client (`<Trait>Client<T>`) calls through: one encoding over one connection or pool.
///
/// Implementations encode the method name and params for their wire, send them, and decode the answer; a
/// fault from the peer comes back as [`Error::Fault`].
pub trait Transport: Send + Sync {
    /// Calls `method` with positional `params` and waits for the result.
    fn call<'a>(&'a self, method: &'a str, params: Vec<Value>) -> BoxFuture<'a, Result<Value, Error>>;

    /// Sends `method` without waiting for a result. Protocols without notifications (XML-RPC) make a normal
    /// call and drop the result, which is what this default does.
    fn notify<'a>(&'a self, method: &'a str, params: Vec<Value>) -> BoxFuture<'a, Result<(), Error>> {
        Box::pin(async move { self.call(method, params).await.map(drop) })
    }
}

impl<T: Transport + ?Sized> Transport for &T {
    fn call<'a>(&'a self, method: &'a str, params: Vec<Value>) -> BoxFuture<'a, Result<Value, Error>> {
        (**self).call(method, params)
    }
    fn notify<'a>(&'a self, method: &'a str, params: Vec<Value>) -> BoxFuture<'a, Result<(), Error>> {
        (**self).notify(method, params)
    }
}

impl<T: Transport + ?Sized> Transport for Arc<T> {
    fn call<'a>(&'a self, method: &'a str, params: Vec<Value>) -> BoxFuture<'a, Result<Value, Error>> {
        (**self).call(method, params)
    }
    fn notify<'a>(&'a self, method: &'a str, params: Vec<Value>) -> BoxFuture<'a, Result<(), Error>> {
        (**self).notify(method, params)
    }
}

impl<T: Transport + ?Sized> Transport for Box<T> {
    fn call<'a>(&'a self, method: &'a str, params: Vec<Value>) -> BoxFuture<'a, Result<Value, Error>> {
        (**self).call(method, params)
    }
    fn notify<'a>(&'a self, method: &'a str, params: Vec<Value>) -> BoxFuture<'a, Result<(), Error>> {
        (**self).notify(method, params)
    }
}

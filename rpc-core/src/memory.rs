//! [`MemoryTransport`]: client and server in one process, for tests and for embedding.

use std::fmt;
use std::sync::Arc;

use crate::{BoxFuture, Context, Dispatch, Error, Transport, Value, serve_call};

/// A [`Transport`] that calls a [`Dispatch`] in the same process.
///
/// Params and results still pass through the value model (`to_value` on the way in, `from_value` on the way
/// out), and panics become faults as on a real server, so a service behaves here as it does on the wire.
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
    fn call<'a>(&'a self, method: &'a str, params: Vec<Value>) -> BoxFuture<'a, Result<Value, Error>> {
        let fut = serve_call(&*self.dispatch, method, params, self.cx.clone());
        Box::pin(async move { fut.await.map_err(Error::Fault) })
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

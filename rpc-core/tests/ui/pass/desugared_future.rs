//! `fn .. -> impl Future<Output = T> + Send`, what `async fn` becomes, is taken as `async fn .. -> T`, with or
//! without a default body; implementations may write either form.

use std::future::Future;

use rpc_core::{MemoryTransport, service};

#[service]
trait Math {
    fn double(&self, n: i64) -> impl Future<Output = i64> + Send;
    fn triple(&self, n: i64) -> impl Future<Output = Result<i64, rpc_core::Fault>> + Send {
        async move { Ok(3 * n) }
    }
}

struct Impl;

impl Math for Impl {
    fn double(&self, n: i64) -> impl Future<Output = i64> + Send {
        async move { 2 * n }
    }
}

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread().build().expect("a runtime");
    let client = MathClient::new(MemoryTransport::new(MathServer::new(Impl)));
    assert_eq!(runtime.block_on(client.double(7)).ok(), Some(14));
    assert_eq!(runtime.block_on(client.triple(7)).ok(), Some(21));
}

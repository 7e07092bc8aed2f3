//! A method with a default body: implementations may leave it out, and the body may use `self`, params and
//! other methods.

use rpc_core::{MemoryTransport, service};

#[service]
trait Defaults {
    async fn base(&self) -> i64;

    async fn answer(&self) -> u8 {
        42
    }

    async fn plus_base(&self, n: i64) -> i64 {
        self.base().await + n
    }

    async fn describe(&self, name: String) -> Result<String, rpc_core::Fault> {
        if name.is_empty() {
            return Err(rpc_core::Fault::invalid_params("empty name"));
        }
        Ok(format!("{name}: {}", self.answer().await))
    }
}

struct Impl;

impl Defaults for Impl {
    async fn base(&self) -> i64 {
        10
    }
}

struct Overrides;

impl Defaults for Overrides {
    async fn base(&self) -> i64 {
        0
    }
    async fn answer(&self) -> u8 {
        7
    }
}

fn main() {
    let client = DefaultsClient::new(MemoryTransport::new(DefaultsServer::new(Impl)));
    let _ = client.answer();
    let _ = client.plus_base(1);
    let _ = client.describe("x");
    let _ = DefaultsServer::new(Overrides);
}

use std::rc::Rc;

use rpc_core::service;

#[service]
trait Math {
    async fn double(&self, num: i64) -> i64;
}

async fn yield_now() {}

struct Impl;

impl Math for Impl {
    async fn double(&self, num: i64) -> i64 {
        let shared = Rc::new(num);
        yield_now().await;
        *shared * 2
    }
}

fn main() {}

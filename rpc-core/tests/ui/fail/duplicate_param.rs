use rpc_core::service;

#[service]
trait Math {
    async fn add(&self, a: i64, a: i64) -> i64;
}

fn main() {}

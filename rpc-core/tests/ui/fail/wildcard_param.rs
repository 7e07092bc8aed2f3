use rpc_core::service;

#[service]
trait Math {
    async fn double(&self, _: i64) -> i64;
}

fn main() {}

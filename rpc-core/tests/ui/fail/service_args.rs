use rpc_core::service;

#[service(name = "math")]
trait Math {
    async fn double(&self, num: i64) -> i64;
}

fn main() {}

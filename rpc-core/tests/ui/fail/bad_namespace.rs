use rpc_core::service;

#[service(namespace = "math.")]
trait Math {
    async fn double(&self, n: i64) -> i64;
}

fn main() {}

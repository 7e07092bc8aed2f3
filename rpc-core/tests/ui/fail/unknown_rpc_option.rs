use rpc_core::service;

#[service]
trait Math {
    #[rpc(rename = "math.add")]
    async fn add(&self, a: i64, b: i64) -> i64;
}

fn main() {}

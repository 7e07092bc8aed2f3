use rpc_core::service;

#[service]
trait Counter {
    async fn bump(&mut self, n: i64) -> i64;
}

fn main() {}

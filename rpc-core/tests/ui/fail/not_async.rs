use rpc_core::service;

#[service]
trait Math {
    fn double(&self, num: i64) -> i64;
}

fn main() {}

use rpc_core::service;

#[service]
trait Accounts {
    async fn new(&self, name: String) -> u64;
}

fn main() {}

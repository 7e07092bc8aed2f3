use rpc_core::service;

#[service]
trait Greeter {
    async fn hello(&self, name: &str) -> String;
}

fn main() {}

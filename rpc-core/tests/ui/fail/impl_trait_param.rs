use rpc_core::service;

#[service]
trait Greeter {
    async fn hello(&self, name: impl Into<String>) -> String;
}

fn main() {}

use rpc_core::service;

#[service]
trait Store {
    type Item;

    async fn get(&self, key: String) -> Option<String>;
}

fn main() {}

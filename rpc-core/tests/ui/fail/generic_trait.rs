use rpc_core::service;

#[service]
trait Store<T> {
    async fn get(&self, key: String) -> Option<String>;
}

fn main() {}

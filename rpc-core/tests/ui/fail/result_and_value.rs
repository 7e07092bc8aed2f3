use rpc_core::service;

#[service]
trait Store {
    #[rpc(result, value)]
    async fn get(&self) -> u8;
}

fn main() {}

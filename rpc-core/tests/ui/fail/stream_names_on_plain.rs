use rpc_core::service;

#[service]
trait Feed {
    #[rpc(notification = "ticks")]
    async fn ticks(&self) -> u64;
}

fn main() {}

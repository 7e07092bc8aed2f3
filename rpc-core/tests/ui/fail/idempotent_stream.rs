use rpc_core::service;

#[service]
trait Feed {
    #[rpc(idempotent)]
    async fn ticks(&self) -> rpc_core::Stream<u64>;
}

fn main() {}

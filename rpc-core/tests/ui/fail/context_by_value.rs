use rpc_core::service;

#[service]
trait Peer {
    async fn whoami(&self, cx: rpc_core::Context) -> String;
}

fn main() {}

use rpc_core::service;

#[service]
trait Text {
    async fn upper<'a>(&self, s: String) -> String;
}

fn main() {}

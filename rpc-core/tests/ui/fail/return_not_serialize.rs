use rpc_core::service;

/// Neither Serialize nor Deserialize.
pub struct Opaque;

#[service]
trait Store {
    async fn get(&self, key: String) -> Opaque;
}

fn main() {}

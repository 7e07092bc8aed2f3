use rpc_core::service;

/// Neither Serialize nor Deserialize.
pub struct Opaque;

#[service]
trait Store {
    async fn put(&self, key: String, value: Opaque);
}

fn main() {}

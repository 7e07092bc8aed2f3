use rpc_core::service;

/// An error type with no `From<NotFound> for Fault`.
#[derive(Debug)]
pub struct NotFound;

#[service]
trait Store {
    async fn get(&self, key: String) -> Result<String, NotFound>;
}

fn main() {}

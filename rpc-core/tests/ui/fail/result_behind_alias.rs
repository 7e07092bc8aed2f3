//! A `Result` behind an alias whose name says nothing: not taken for a plain value (its errors would travel as
//! successful values), but refused with what to write.
use rpc_core::{Fault, service};

#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct Denied;

impl From<Denied> for Fault {
    fn from(_: Denied) -> Fault {
        Fault::new(403, "denied")
    }
}

type Res<T> = Result<T, Denied>;

#[service]
trait Store {
    async fn get(&self, key: String) -> Res<u8>;
}

fn main() {}

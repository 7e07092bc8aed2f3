//! `Result<T, E>` returns with `E: Into<Fault>`: the client's method returns `Result<T, rpc_core::CallError<E>>`,
//! or `Result<T, rpc_core::Error>` where `E` is `Fault`.

use rpc_core::{CallError, Error, Fault, MemoryTransport, service};

#[derive(Debug)]
struct Denied;

impl From<Denied> for Fault {
    fn from(_: Denied) -> Fault {
        Fault::new(403, "denied")
    }
}

#[service]
trait Guarded {
    async fn check(&self, user: String) -> Result<String, Denied>;
    async fn fault(&self) -> Result<(), Fault>;
    async fn qualified(&self) -> std::result::Result<u8, Denied>;
}

struct Impl;

impl Guarded for Impl {
    async fn check(&self, user: String) -> Result<String, Denied> {
        if user == "root" {
            Err(Denied)
        } else {
            Ok(user)
        }
    }
    async fn fault(&self) -> Result<(), Fault> {
        Err(Fault::new(1, "always"))
    }
    async fn qualified(&self) -> std::result::Result<u8, Denied> {
        Ok(1)
    }
}

fn main() {
    let client = GuardedClient::new(MemoryTransport::new(GuardedServer::new(Impl)));
    let _: &dyn std::future::Future<Output = Result<String, CallError<Denied>>> = &client.check("ada");
    let _: &dyn std::future::Future<Output = Result<(), Error>> = &client.fault();
    let _: &dyn std::future::Future<Output = Result<u8, CallError<Denied>>> = &client.qualified();
    // The metadata shows the type a successful call returns.
    assert_eq!(GuardedServer::<Impl>::METHODS[0].returns, "String");
}

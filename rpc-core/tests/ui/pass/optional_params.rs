//! Trailing `Option` params may be left out by callers; an `Option` before a required param is required.

use rpc_core::{MemoryTransport, service};

#[service]
trait Search {
    async fn find(&self, query: String, limit: Option<u32>, offset: Option<u32>) -> Vec<String>;
    async fn middle(&self, a: Option<i64>, b: i64) -> i64;
    async fn only(&self, a: std::option::Option<bool>) -> bool;
}

struct Impl;

impl Search for Impl {
    async fn find(&self, query: String, limit: Option<u32>, offset: Option<u32>) -> Vec<String> {
        let _ = (limit, offset);
        vec![query]
    }
    async fn middle(&self, a: Option<i64>, b: i64) -> i64 {
        a.unwrap_or(0) + b
    }
    async fn only(&self, a: Option<bool>) -> bool {
        a.unwrap_or(true)
    }
}

fn main() {
    let client = SearchClient::new(MemoryTransport::new(SearchServer::new(Impl)));
    let _ = client.find("x", None, Some(2));
    let _ = client.middle(None, 1);
    let _ = client.only(None);

    let methods = SearchServer::<Impl>::METHODS;
    assert_eq!(methods[0].required_params(), 1);
    assert_eq!(methods[1].required_params(), 2);
    assert_eq!(methods[2].required_params(), 0);
}

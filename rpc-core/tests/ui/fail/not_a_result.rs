//! A plain value whose name ends in `Result` is taken for a `Result` alias: the error says to mark it.
use rpc_core::service;

#[derive(serde::Serialize, serde::Deserialize)]
pub struct SearchResult {
    hits: u32,
}

#[service]
trait Search {
    async fn search(&self, query: String) -> SearchResult;
}

fn main() {}

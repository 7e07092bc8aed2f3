//! Where the balancer's members come from: a fixed list of endpoints, or a DNS name resolved again on an
//! interval, as the stream of changes tower's `Discover` is.

use std::collections::BTreeSet;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures_util::{Stream, StreamExt, stream};
use tower::discover::Change;

use crate::Endpoint;
use crate::member::{ConnectFn, Health, Member, Settings};

/// A member's key: its endpoint's name and which of the endpoint's connections it is.
pub(crate) type Key = (Arc<str>, usize);

/// The changes to the balancer's members.
pub(crate) type Changes = Pin<Box<dyn Stream<Item = Result<Change<Key, Member>, Infallible>> + Send>>;

/// The endpoints known now, with their health, in the order they came.
pub(crate) type Registry = Mutex<Vec<(Endpoint, Arc<Health>)>>;

/// Makes the members of each endpoint and keeps the registry.
pub(crate) struct Members {
    pub(crate) connect: Arc<ConnectFn>,
    pub(crate) settings: Arc<Settings>,
    pub(crate) per_endpoint: usize,
    pub(crate) registry: Arc<Registry>,
}

impl Members {
    fn insert(&self, endpoint: Endpoint) -> Vec<Change<Key, Member>> {
        let health = Arc::new(Health::default());
        self.registry.lock().unwrap_or_else(PoisonError::into_inner).push((endpoint.clone(), health.clone()));
        (0..self.per_endpoint)
            .map(|i| {
                let member = Member::new(endpoint.clone(), self.connect.clone(), self.settings.clone(), health.clone());
                Change::Insert((endpoint.name.clone(), i), member)
            })
            .collect()
    }

    fn remove(&self, endpoint: &Endpoint) -> Vec<Change<Key, Member>> {
        self.registry.lock().unwrap_or_else(PoisonError::into_inner).retain(|(known, _)| known != endpoint);
        (0..self.per_endpoint).map(|i| Change::Remove((endpoint.name.clone(), i))).collect()
    }
}

/// A fixed list: every endpoint at once, and nothing after.
pub(crate) fn fixed(members: Members, endpoints: Vec<Endpoint>) -> Changes {
    let changes: Vec<_> = endpoints.into_iter().flat_map(|e| members.insert(e)).map(Ok).collect();
    Box::pin(stream::iter(changes).chain(stream::pending()))
}

/// The addresses `name` (`HOST:PORT`) resolves to, resolved now and again every `every`: an address that
/// appears becomes an endpoint, one that goes is taken out. A failed resolution changes nothing.
pub(crate) fn dns(members: Members, name: String, every: Duration) -> Changes {
    let known = BTreeSet::<SocketAddr>::new();
    let changes = stream::unfold((members, name, known, true), move |(members, name, mut known, first)| async move {
        if !first {
            tokio::time::sleep(every).await;
        }
        let mut changes = Vec::new();
        match tokio::net::lookup_host(name.as_str()).await {
            Ok(addrs) => {
                let now: BTreeSet<SocketAddr> = addrs.collect();
                for gone in known.difference(&now) {
                    tracing::info!(name, address = %gone, "endpoint no longer in DNS");
                    changes.extend(members.remove(&Endpoint::resolved(*gone)));
                }
                for new in now.difference(&known) {
                    tracing::debug!(name, address = %new, "endpoint from DNS");
                    changes.extend(members.insert(Endpoint::resolved(*new)));
                }
                known = now;
            }
            Err(e) => tracing::warn!(name, error = %e, "cannot resolve the endpoints' name; keeping those known"),
        }
        Some((changes, (members, name, known, false)))
    });
    Box::pin(changes.flat_map(|changes| stream::iter(changes.into_iter().map(Ok))))
}

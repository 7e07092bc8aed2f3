//! A client over many endpoints of one protocol: [`Balanced`] is a [`Transport`] that spreads calls over
//! several servers with tower's power-of-two-choices balancer (the less loaded of two ready connections, by
//! calls in flight), takes an endpoint out when a call on it fails on the way and probes it again after a
//! backoff, and sends a call again only where that is safe.
//!
//! - **Which calls are sent again.** A call that was never sent (the connection could not be made:
//!   [`Delivery::NotSent`]) goes to another endpoint, whatever the method. A call that may have run with no
//!   answer back (the connection broke, it timed out, a gateway answered 502/503: [`Delivery::Unknown`]) is sent
//!   again only for a method marked `#[rpc(idempotent)]`, which generated clients say through
//!   [`Transport::call_idempotent`]. A method not marked is never sent twice. Retries draw on tower's retry
//!   budget (by default, 20% on top of the calls of the last 10 seconds, and 10 a second whatever the load),
//!   so that a sick cluster is not sent a storm of them.
//! - **Failover.** An endpoint whose call failed on the way (not a timeout: a slow answer says nothing about
//!   health) is taken out; a new connection is opened after a backoff (100 ms, doubling up to 1 s), and the
//!   endpoint is back once it opens. A call waits up to [`Builder::ready_timeout`] for an endpoint to be up.
//! - **Endpoints.** A fixed list ([`Builder::endpoints`]), or a DNS name resolved again on an interval
//!   ([`Builder::dns`]). [`Builder::max_connection_age`] replaces each connection after an age, so that
//!   balancers upstream that balance connections (HAProxy, Envoy, a Kubernetes Service) spread the load again.
//!
//! ```
//! use rpc_core::{MemoryTransport, service};
//!
//! #[service]
//! pub trait Services {
//!     /// Returns num * 2.
//!     #[rpc(idempotent)]
//!     async fn double(&self, num: i64) -> i64;
//! }
//! struct Doubler;
//! impl Services for Doubler {
//!     async fn double(&self, num: i64) -> i64 { num * 2 }
//! }
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! // Each endpoint's connection: here in process; `rpc_msgpack::Client::connect(endpoint.name())` over TCP.
//! let balanced = rpc_balance::Balanced::builder(|_endpoint: &rpc_balance::Endpoint| {
//!     std::future::ready(Ok(MemoryTransport::new(ServicesServer::new(Doubler))))
//! })
//! .endpoints(["a", "b", "c"])?;
//! let client = ServicesClient::new(balanced.clone());
//! for n in 0..30 {
//!     assert_eq!(client.double(n).await?, 2 * n);
//! }
//! assert!(balanced.endpoints().iter().all(|e| e.up));
//! assert_eq!(balanced.endpoints().iter().map(|e| e.calls).sum::<u64>(), 30);
//! # Ok::<(), rpc_core::Error>(())
//! # }).unwrap();
//! ```

#![deny(missing_docs)]

mod discover;
mod member;

use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, PoisonError};
use std::task::Poll;
use std::time::Duration;

use rpc_core::middleware::{Call, SendCall};
use rpc_core::{BoxFuture, Delivery, Error, Transport, Value};
use tower::Service;
use tower::balance::p2c::Balance;
use tower::retry::budget::{Budget, TpsBudget};

use crate::discover::{Changes, Members, Registry};
use crate::member::{ConnectFn, Settings};

/// The default first wait before probing an endpoint that was taken out: 100 ms (it doubles on each failure).
pub const DEFAULT_BACKOFF: Duration = Duration::from_millis(100);
/// The default longest wait between probes of an endpoint that stays down: 1 second.
pub const DEFAULT_MAX_BACKOFF: Duration = Duration::from_secs(1);
/// The default longest time a call waits for an endpoint to be up: 5 seconds.
pub const DEFAULT_READY_TIMEOUT: Duration = Duration::from_secs(5);
/// The default most times one call is sent again: 2.
pub const DEFAULT_MAX_RETRIES: usize = 2;

/// One endpoint: its name as given (a URL, `HOST:PORT`, a path: whatever the connect function takes), or the
/// `IP:PORT` a DNS name resolved to.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Endpoint {
    name: Arc<str>,
    addr: Option<SocketAddr>,
}

impl Endpoint {
    /// An endpoint by name.
    pub fn new(name: &str) -> Endpoint {
        Endpoint { name: name.into(), addr: None }
    }

    fn resolved(addr: SocketAddr) -> Endpoint {
        Endpoint { name: addr.to_string().into(), addr: Some(addr) }
    }

    /// Its name: as listed, or `IP:PORT` for one that DNS gave.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The address, for an endpoint that DNS gave.
    pub fn addr(&self) -> Option<SocketAddr> {
        self.addr
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

/// What a [`Balanced`] client knows of one endpoint ([`Balanced::endpoints`]).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct EndpointStats {
    /// The endpoint.
    pub endpoint: Endpoint,
    /// Calls answered on it (a fault is an answer).
    pub calls: u64,
    /// Calls that failed on it on the way (never sent, or no answer); those sent again elsewhere are among them.
    pub errors: u64,
    /// Whether a connection to it is up now.
    pub up: bool,
}

/// Settings for a [`Balanced`] client; the endpoints come last ([`endpoints`](Builder::endpoints) or
/// [`dns`](Builder::dns)), which make it.
pub struct Builder {
    connect: Arc<ConnectFn>,
    settings: Settings,
    per_endpoint: usize,
    ready_timeout: Duration,
    max_retries: usize,
    budget: (Duration, u32, f32),
}

impl fmt::Debug for Builder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("settings", &self.settings)
            .field("per_endpoint", &self.per_endpoint)
            .field("ready_timeout", &self.ready_timeout)
            .field("max_retries", &self.max_retries)
            .field("budget", &self.budget)
            .finish_non_exhaustive()
    }
}

impl Builder {
    /// Connections per endpoint (default 1, at least 1): for a transport that multiplexes one connection
    /// (MessagePack-RPC, JSON-RPC over TCP), more spread the load over more sockets; an HTTP client pools its own.
    pub fn connections_per_endpoint(mut self, connections: usize) -> Builder {
        self.per_endpoint = connections.max(1);
        self
    }

    /// The wait before probing an endpoint that was taken out (default [`DEFAULT_BACKOFF`]), doubling on each
    /// failed probe up to `max` (default [`DEFAULT_MAX_BACKOFF`]).
    pub fn backoff(mut self, first: Duration, max: Duration) -> Builder {
        self.settings.backoff = first;
        self.settings.max_backoff = max.max(first);
        self
    }

    /// Replaces each connection once it is this old (default: never), opening the new one before letting the
    /// old one go, so that a balancer upstream that balances connections spreads them again.
    pub fn max_connection_age(mut self, age: Option<Duration>) -> Builder {
        self.settings.max_connection_age = age;
        self
    }

    /// How long a call waits for an endpoint to be up before it fails, not sent (default
    /// [`DEFAULT_READY_TIMEOUT`]).
    pub fn ready_timeout(mut self, timeout: Duration) -> Builder {
        self.ready_timeout = timeout;
        self
    }

    /// The most times one call is sent again (default [`DEFAULT_MAX_RETRIES`]; 0 for never).
    pub fn max_retries(mut self, retries: usize) -> Builder {
        self.max_retries = retries;
        self
    }

    /// The retry budget (tower's `TpsBudget`): retries may add `retry_percent` (0 to 1000, as a fraction: 0.2
    /// is 20%) to the calls of the last `ttl` (1 to 60 s), plus `min_per_sec` a second whatever the load.
    /// Default 10 s, 10 a second, 0.2. Values out of range are brought into it.
    pub fn retry_budget(mut self, ttl: Duration, min_per_sec: u32, retry_percent: f32) -> Builder {
        let ttl = ttl.clamp(Duration::from_secs(1), Duration::from_secs(60));
        let percent = if retry_percent.is_nan() { 0.0 } else { retry_percent.clamp(0.0, 1000.0) };
        self.budget = (ttl, min_per_sec.min(i32::MAX as u32 - 1), percent);
        self
    }

    /// The client over a fixed list of endpoints (at least one; one listed twice counts once). Needs a tokio runtime: the connections are
    /// opened now, on tasks of their own.
    pub fn endpoints<I, S>(self, endpoints_in: I) -> Result<Balanced, Error>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        // An endpoint listed twice is one endpoint (its connections are keyed by its name).
        let mut endpoints: Vec<Endpoint> = Vec::new();
        for name in endpoints_in {
            let endpoint = Endpoint::new(name.as_ref());
            if !endpoints.contains(&endpoint) {
                endpoints.push(endpoint);
            }
        }
        if endpoints.is_empty() {
            return Err(Error::connect("a balanced client needs at least one endpoint"));
        }
        let described = format!("{} endpoints", endpoints.len());
        Ok(self.finish(described, |members| discover::fixed(members, endpoints)))
    }

    /// The client over the addresses `name` (`HOST:PORT`) resolves to, resolved now and again every `every`:
    /// an address that appears becomes an endpoint (its [`Endpoint::addr`] set, its name the `IP:PORT`), one that
    /// goes is taken out. Needs a tokio runtime.
    pub fn dns(self, name: &str, every: Duration) -> Result<Balanced, Error> {
        match name.rsplit_once(':') {
            Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok() => {}
            _ => return Err(Error::connect(format!("{name:?}: a DNS name for endpoints is HOST:PORT"))),
        }
        let (name, every) = (name.to_owned(), every.max(Duration::from_millis(100)));
        Ok(self.finish(format!("the addresses of {name}"), |members| discover::dns(members, name, every)))
    }

    fn finish(self, described: String, changes: impl FnOnce(Members) -> Changes) -> Balanced {
        let registry = Arc::new(Registry::default());
        let members = Members {
            connect: self.connect,
            settings: Arc::new(self.settings),
            per_endpoint: self.per_endpoint,
            registry: registry.clone(),
        };
        let (ttl, min_per_sec, percent) = self.budget;
        Balanced {
            inner: Arc::new(Inner {
                balance: tokio::sync::Mutex::new(Balance::new(changes(members))),
                registry,
                budget: TpsBudget::new(ttl, min_per_sec, percent),
                ready_timeout: self.ready_timeout,
                max_retries: self.max_retries,
                described,
            }),
        }
    }
}

/// A [`Transport`] over many endpoints of one protocol (see the [crate docs](crate)). Cloning is cheap and
/// shares the connections.
#[derive(Clone)]
pub struct Balanced {
    inner: Arc<Inner>,
}

struct Inner {
    balance: tokio::sync::Mutex<Balance<Changes, Call>>,
    registry: Arc<Registry>,
    budget: TpsBudget,
    ready_timeout: Duration,
    max_retries: usize,
    described: String,
}

impl fmt::Debug for Balanced {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Balanced").field("endpoints", &self.endpoints()).finish_non_exhaustive()
    }
}

impl Balanced {
    /// A builder whose `connect` opens a connection to one endpoint: a transport of any protocol (for
    /// example `rpc_msgpack::Client::connect(endpoint.name())`). An eager connect (one that fails when the
    /// server cannot be reached) makes failover fastest.
    pub fn builder<F, Fut, T>(connect: F) -> Builder
    where
        F: Fn(&Endpoint) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<T, Error>> + Send + 'static,
        T: Transport + 'static,
    {
        let connect: Arc<ConnectFn> = Arc::new(move |endpoint: &Endpoint| {
            let opening = connect(endpoint);
            Box::pin(async move { Ok(Arc::new(opening.await?) as Arc<dyn Transport>) })
                as BoxFuture<'static, Result<Arc<dyn Transport>, Error>>
        });
        Builder {
            connect,
            settings: Settings { backoff: DEFAULT_BACKOFF, max_backoff: DEFAULT_MAX_BACKOFF, max_connection_age: None },
            per_endpoint: 1,
            ready_timeout: DEFAULT_READY_TIMEOUT,
            max_retries: DEFAULT_MAX_RETRIES,
            budget: (Duration::from_secs(10), 10, 0.2),
        }
    }

    /// What is known of each endpoint now: calls, errors, whether it is up.
    pub fn endpoints(&self) -> Vec<EndpointStats> {
        let registry = self.inner.registry.lock().unwrap_or_else(PoisonError::into_inner);
        registry
            .iter()
            .map(|(endpoint, health)| EndpointStats {
                endpoint: endpoint.clone(),
                calls: health.calls.load(Ordering::Relaxed),
                errors: health.errors.load(Ordering::Relaxed),
                up: health.up.load(Ordering::Relaxed) > 0,
            })
            .collect()
    }

    /// Sends `call` (a [`Call`], which says whether its method is idempotent), and again where it failed on
    /// the way and may be sent again: what generated clients' calls come to, for callers with values in hand
    /// (a proxy, a command line).
    pub async fn send(&self, call: Call) -> Result<Value, Error> {
        self.inner.budget.deposit();
        let mut retries = 0;
        loop {
            let error = match self.attempt(call.clone()).await {
                Ok(answer) => return Ok(answer),
                Err(e) => e,
            };
            let again = match error.delivery() {
                Delivery::NotSent => true,
                Delivery::Unknown => call.is_idempotent(),
                _ => false,
            };
            if !again || retries >= self.inner.max_retries || !self.inner.budget.withdraw() {
                return Err(error);
            }
            retries += 1;
            tracing::debug!(method = call.method(), error = %error, retries, "sending the call again");
        }
    }

    /// One attempt: the balancer picks a ready connection (waiting up to the ready timeout) and the call goes
    /// there.
    async fn attempt(&self, call: Call) -> Result<Value, Error> {
        let inner = &*self.inner;
        let pick = async {
            let mut balance = inner.balance.lock().await;
            std::future::poll_fn(|cx| balance.poll_ready(cx)).await?;
            Ok::<_, tower::BoxError>(balance.call(call))
        };
        let mut pick = std::pin::pin!(pick);
        // Most calls find a connection ready at once: only one that waits gets a timer (a timer per call costs
        // more than the balancer's pick).
        let picked = match std::future::poll_fn(|cx| Poll::Ready(pick.as_mut().poll(cx))).await {
            Poll::Ready(picked) => Ok(picked),
            Poll::Pending => Box::pin(tokio::time::timeout(inner.ready_timeout, pick)).await,
        };
        let answer = match picked {
            Ok(Ok(answer)) => answer,
            Ok(Err(e)) => return Err(Error::connect(e)),
            Err(_) => {
                let limit = inner.ready_timeout;
                return Err(Error::connect(format!("none of {} was up within {limit:?}", inner.described)));
            }
        };
        answer.await.map_err(|e| match e.downcast::<Error>() {
            Ok(e) => *e,
            Err(other) => Error::Transport(other),
        })
    }
}

impl SendCall for Balanced {
    fn send_call(&self, call: Call) -> BoxFuture<'_, Result<Value, Error>> {
        Box::pin(self.send(call))
    }
}

rpc_core::transport_via_send_call!(impl[] Balanced);

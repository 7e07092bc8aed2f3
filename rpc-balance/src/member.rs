//! One connection of the balancer ([`Member`]): a tower service that is ready while its endpoint is up, taken
//! out when a call on it fails on the way, and probed again (a fresh connection) after a backoff.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use rpc_core::middleware::Call;
use rpc_core::{BoxFuture, Delivery, Error, Transport, Value};
use tokio::task::JoinHandle;
use tokio::time::{Instant, Sleep};

use crate::Endpoint;

/// Opens a connection to one endpoint: what [`Builder`](crate::Builder) is given, type-erased.
pub(crate) type ConnectFn =
    dyn Fn(&Endpoint) -> BoxFuture<'static, Result<Arc<dyn Transport>, Error>> + Send + Sync + 'static;

/// The settings every member shares.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub(crate) backoff: Duration,
    pub(crate) max_backoff: Duration,
    pub(crate) max_connection_age: Option<Duration>,
}

/// What is known of one endpoint, shared by its connections and read by [`Balanced::endpoints`](crate::Balanced::endpoints).
#[derive(Debug, Default)]
pub(crate) struct Health {
    /// Calls answered on this endpoint (a fault is an answer).
    pub(crate) calls: AtomicU64,
    /// Calls that failed on the way (not sent, or no answer).
    pub(crate) errors: AtomicU64,
    /// Connections of this endpoint that are up.
    pub(crate) up: AtomicUsize,
}

/// One connection to one endpoint, as the balancer sees it.
pub(crate) struct Member {
    endpoint: Endpoint,
    connect: Arc<ConnectFn>,
    settings: Arc<Settings>,
    health: Arc<Health>,
    /// Set by a call that failed on the way: the next readiness check takes the connection out.
    failed: Arc<AtomicBool>,
    in_flight: Arc<AtomicUsize>,
    state: State,
    /// The next wait before probing again: doubles on each failure up to the maximum, reset once up.
    backoff: Duration,
}

enum State {
    /// Opening a connection (the first one, or a probe).
    Connecting(Task),
    /// Up: calls go to `transport`; after the maximum age, a new connection is opened beside it (`fresh`) and
    /// takes over once open, the old one finishing its calls.
    Up { transport: Arc<dyn Transport>, since: Instant, fresh: Option<Task> },
    /// Down: waiting out the backoff before the next probe.
    Down(Pin<Box<Sleep>>),
}

/// A connection being opened, on a task of its own (so that it progresses while nobody calls), aborted when
/// the member goes.
struct Task(JoinHandle<Result<Arc<dyn Transport>, Error>>);

impl Drop for Task {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Future for Task {
    type Output = Result<Arc<dyn Transport>, Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Poll::Ready(match ready!(Pin::new(&mut self.0).poll(cx)) {
            Ok(opened) => opened,
            Err(e) => Err(Error::connect(format!("the connection task failed: {e}"))),
        })
    }
}

impl Member {
    pub(crate) fn new(
        endpoint: Endpoint,
        connect: Arc<ConnectFn>,
        settings: Arc<Settings>,
        health: Arc<Health>,
    ) -> Member {
        let backoff = settings.backoff;
        let state = State::Connecting(open(&connect, &endpoint));
        let (failed, in_flight) = (Arc::default(), Arc::default());
        Member { endpoint, connect, settings, health, failed, in_flight, state, backoff }
    }

    /// Takes the connection out and waits out the backoff before the next probe.
    fn down(&mut self, why: &Error) {
        if matches!(self.state, State::Up { .. }) {
            self.health.up.fetch_sub(1, Ordering::Relaxed);
        }
        tracing::info!(endpoint = %self.endpoint, error = %why, retry_in = ?self.backoff, "endpoint taken out");
        self.state = State::Down(Box::pin(tokio::time::sleep(self.backoff)));
        self.backoff = (self.backoff * 2).min(self.settings.max_backoff);
    }
}

fn open(connect: &Arc<ConnectFn>, endpoint: &Endpoint) -> Task {
    Task(tokio::spawn(connect(endpoint)))
}

impl Drop for Member {
    fn drop(&mut self) {
        if matches!(self.state, State::Up { .. }) {
            self.health.up.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

impl tower::Service<Call> for Member {
    type Response = Value;
    type Error = Error;
    type Future = BoxFuture<'static, Result<Value, Error>>;

    /// Ready while up. Never an error (the balancer would drop the member for good): a connection that fails
    /// is pending until a probe opens a new one.
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        loop {
            match &mut self.state {
                State::Connecting(task) => match ready!(Pin::new(task).poll(cx)) {
                    Ok(transport) => {
                        if self.backoff > self.settings.backoff {
                            tracing::info!(endpoint = %self.endpoint, "endpoint back");
                        }
                        self.backoff = self.settings.backoff;
                        self.failed.store(false, Ordering::Relaxed);
                        self.health.up.fetch_add(1, Ordering::Relaxed);
                        self.state = State::Up { transport, since: Instant::now(), fresh: None };
                    }
                    Err(e) => self.down(&e),
                },
                State::Up { transport, since, fresh } => {
                    if self.failed.swap(false, Ordering::Relaxed) {
                        self.down(&Error::transport("a call on it failed without an answer"));
                        continue;
                    }
                    if let Some(age) = self.settings.max_connection_age
                        && fresh.is_none()
                        && since.elapsed() >= age
                    {
                        *fresh = Some(open(&self.connect, &self.endpoint));
                    }
                    if let Some(task) = fresh
                        && let Poll::Ready(opened) = Pin::new(task).poll(cx)
                    {
                        match opened {
                            Ok(new) => *transport = new,
                            Err(e) => {
                                tracing::debug!(endpoint = %self.endpoint, error = %e, "could not replace an old connection")
                            }
                        }
                        (*since, *fresh) = (Instant::now(), None);
                    }
                    return Poll::Ready(Ok(()));
                }
                State::Down(sleep) => {
                    ready!(sleep.as_mut().poll(cx));
                    self.state = State::Connecting(open(&self.connect, &self.endpoint));
                }
            }
        }
    }

    fn call(&mut self, call: Call) -> Self::Future {
        let State::Up { transport, .. } = &self.state else {
            // tower's contract: `call` follows a `poll_ready` that answered ready, which only `Up` does.
            let error = Error::connect(format!("{}: called while not up", self.endpoint));
            return Box::pin(std::future::ready(Err(error)));
        };
        let (transport, health, failed) = (transport.clone(), self.health.clone(), self.failed.clone());
        let in_flight = InFlight::new(self.in_flight.clone());
        Box::pin(async move {
            let notification = call.is_notification();
            let (method, params) = call.into_parts();
            let answer = match notification {
                true => transport.notify(&method, params).await.map(|()| Value::Nil),
                false => transport.call(&method, params).await,
            };
            drop(in_flight);
            match &answer {
                Err(e) if e.delivery() != Delivery::Answered => {
                    health.errors.fetch_add(1, Ordering::Relaxed);
                    // A slow answer says nothing about the endpoint's health; a broken connection does.
                    if !matches!(e, Error::Timeout(_)) {
                        failed.store(true, Ordering::Relaxed);
                    }
                }
                _ => drop(health.calls.fetch_add(1, Ordering::Relaxed)),
            }
            answer
        })
    }
}

impl tower::load::Load for Member {
    type Metric = usize;

    /// The calls in flight on this connection: the lesser of two is picked.
    fn load(&self) -> usize {
        self.in_flight.load(Ordering::Relaxed)
    }
}

/// One call counted in flight until dropped.
struct InFlight(Arc<AtomicUsize>);

impl InFlight {
    fn new(count: Arc<AtomicUsize>) -> InFlight {
        count.fetch_add(1, Ordering::Relaxed);
        InFlight(count)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

//! Subscriptions on a connection (stream methods, see [`rpc_core::stream`]), both ways.
//!
//! **Serving.** A request named as a stream method's subscribe name (the [`Streams`] of the dispatcher) starts
//! the method's stream ([`rpc_core::encoding::serve_subscribe`]), under the call's permits, handler timeout and
//! cancellation as any call; it is answered with a fresh id (a number, counted per connection), and only then
//! does the stream's task start polling. Each item is encoded as the encoding's notification
//! ([`Protocol::encode_pushed`]) and queued for writing; the task polls the next item only once the last one is
//! in the connection's write queue, so a peer that does not read fills its socket, then the queue, and the
//! stream is left alone until it drains: nothing piles up. When the stream ends or fails, one last message says
//! so. An unsubscribe naming the id stops the task (the stream is dropped at once) and is answered `true` once
//! nothing more of that subscription can be written; `false` for an id of no subscription of the connection.
//! A closed connection aborts every stream task. A connection holds at most `max_subscriptions` at once.
//!
//! **Calling.** [`Peer::subscribe`](crate::Peer::subscribe) sends the subscribe request with a place for its
//! items, registered with the call, so that the read loop, when the answer comes, files the subscription under
//! its notification name and id before it reads the next message (the first item may follow the answer
//! directly). Notifications of that name are read as the subscription's messages ([`Protocol::read_pushed`])
//! and handed to it through a queue of `subscription_buffer` items. A subscriber that leaves that many unread
//! holds the connection still: the read loop keeps the next item and reads nothing more until there is room,
//! so the peer's writes back up and its stream waits (backpressure from the subscriber to the server's stream).
//! Unless calls of this side wait for answers, which cannot be read meanwhile: then (or when one starts while
//! the loop waits) the subscription that fell behind is ended instead, with an error saying so, and this side
//! unsubscribes. Dropping the subscription unsubscribes.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::Poll;

use bytes::BytesMut;
use futures_util::StreamExt;
use rpc_core::encoding::Answer;
use rpc_core::stream::{ItemStream, SubscriptionSource};
use rpc_core::{BoxFuture, Dispatch, Fault, Value};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::protocol::{Answered, Push};
use crate::session::Shared;

/// The default limit on the subscriptions one connection holds at once (as jsonrpsee's): 1024. Past it, a
/// subscribe call is answered with an error.
pub const DEFAULT_MAX_SUBSCRIPTIONS: usize = 1024;
/// The default number of items a subscriber may leave unread before the connection stops reading: 1024.
pub const DEFAULT_SUBSCRIPTION_BUFFER: usize = 1024;

/// The stream methods a dispatcher serves, by the names their calls come in with (`None` from
/// [`Streams::of`] for a dispatcher without any: most, which then pay nothing per call).
#[derive(Debug)]
pub(crate) struct Streams {
    /// Subscribe name to (notification name, unsubscribe name).
    subscribe: HashMap<String, (Arc<str>, Arc<str>)>,
    unsubscribe: std::collections::HashSet<String>,
}

/// What a request to a stream method's name is.
pub(crate) enum Route {
    Subscribe { notification: Arc<str> },
    Unsubscribe,
}

impl Streams {
    pub(crate) fn of(dispatch: &dyn Dispatch) -> Option<Arc<Streams>> {
        let mut streams = Streams { subscribe: HashMap::new(), unsubscribe: Default::default() };
        for info in dispatch.methods() {
            if let Some(stream) = info.stream {
                let names = (Arc::from(&*stream.notification), Arc::from(&*stream.unsubscribe));
                streams.subscribe.insert(info.name.into_owned(), names);
                streams.unsubscribe.insert(stream.unsubscribe.into_owned());
            }
        }
        (!streams.subscribe.is_empty()).then(|| Arc::new(streams))
    }

    pub(crate) fn route(&self, method: &str) -> Option<Route> {
        if let Some((notification, _)) = self.subscribe.get(method) {
            return Some(Route::Subscribe { notification: notification.clone() });
        }
        self.unsubscribe.contains(method).then_some(Route::Unsubscribe)
    }

    /// The unsubscribe name of the stream subscribed to as `method`.
    fn unsubscribe_of(&self, method: &str) -> Option<Arc<str>> {
        self.subscribe.get(method).map(|(_, unsubscribe)| unsubscribe.clone())
    }
}

/// The subscriptions a connection serves.
#[derive(Default)]
pub(crate) struct Served {
    next: AtomicU64,
    count: AtomicUsize,
    open: Mutex<HashMap<u64, Open>>,
}

/// One subscription being served: how to stop its task, and how to know it has stopped.
struct Open {
    notification: Arc<str>,
    unsubscribe: Arc<str>,
    stop: CancellationToken,
    stopped: CancellationToken,
}

/// A place among a connection's `max_subscriptions`, given back when dropped.
pub(crate) struct Place(Arc<Served>);

impl Drop for Place {
    fn drop(&mut self) {
        self.0.count.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Served {
    /// A place for one more subscription, if the connection has room.
    pub(crate) fn reserve(self: &Arc<Self>, max: usize) -> Option<Place> {
        let before = self.count.fetch_add(1, Ordering::AcqRel);
        let place = Place(self.clone());
        (before < max).then_some(place)
    }

    /// Stops the subscription `id` if it is one of `unsubscribe`'s: the token that is cancelled once its task
    /// has stopped (nothing more of it can be written then).
    pub(crate) fn stop(&self, id: u64, unsubscribe: &str) -> Option<CancellationToken> {
        let open = self.lock();
        let open = open.get(&id).filter(|open| &*open.unsubscribe == unsubscribe)?;
        open.stop.cancel();
        Some(open.stopped.clone())
    }

    /// Stops every subscription (the server shuts down): each one's id, notification name, and the token
    /// cancelled once its task has stopped.
    pub(crate) fn stop_all(&self) -> Vec<(u64, Arc<str>, CancellationToken)> {
        let open = self.lock();
        open.iter()
            .map(|(id, open)| {
                open.stop.cancel();
                (*id, open.notification.clone(), open.stopped.clone())
            })
            .collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Open>> {
        self.open.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Takes a served subscription out of its connection's table when its task ends (finished, stopped or
/// aborted), and says it has stopped.
struct Closing {
    served: Arc<Served>,
    id: u64,
    stopped: CancellationToken,
    _place: Place,
}

impl Drop for Closing {
    fn drop(&mut self) {
        self.served.lock().remove(&self.id);
        self.stopped.cancel();
    }
}

/// A stream the dispatcher started, ready to be served on `shared`'s connection.
pub(crate) struct Started {
    pub(crate) items: ItemStream,
    pub(crate) place: Place,
    pub(crate) method: String,
    pub(crate) notification: Arc<str>,
}

impl Started {
    /// Registers the subscription under a fresh id, which the caller answers the subscribe call with; then
    /// [`Registered::run`] sends its items.
    pub(crate) fn register(self, served: &Arc<Served>, streams: &Streams) -> Registered {
        let id = served.next.fetch_add(1, Ordering::Relaxed) + 1;
        let (stop, stopped) = (CancellationToken::new(), CancellationToken::new());
        let unsubscribe = streams.unsubscribe_of(&self.method).unwrap_or_else(|| Arc::from(""));
        let open =
            Open { notification: self.notification.clone(), unsubscribe, stop: stop.clone(), stopped: stopped.clone() };
        served.lock().insert(id, open);
        let closing = Closing { served: served.clone(), id, stopped, _place: self.place };
        Registered { id, items: self.items, method: self.method, notification: self.notification, stop, closing }
    }
}

/// A registered subscription, whose task sends its items.
pub(crate) struct Registered {
    pub(crate) id: u64,
    items: ItemStream,
    method: String,
    notification: Arc<str>,
    stop: CancellationToken,
    closing: Closing,
}

impl Registered {
    /// The token that stops the subscription (unsubscribe, a shutdown), for waits before [`Registered::run`].
    pub(crate) fn stop_token(&self) -> CancellationToken {
        self.stop.clone()
    }

    /// Sends the items as they come, each once the last is queued for writing, until the stream ends (then
    /// says so), the subscription is stopped, or the connection closes.
    pub(crate) async fn run(self, shared: Arc<Shared>) {
        let Registered { id, mut items, method, notification, stop, closing } = self;
        let subscription = Value::from(id);
        loop {
            let next = tokio::select! {
                biased;
                () = stop.cancelled() => break,
                next = items.next() => next,
            };
            let mut frame = BytesMut::new();
            let (encoded, last) = match &next {
                Some(Ok(item)) => (
                    shared.protocol().encode_pushed(&notification, &subscription, Push::Item(&**item), &mut frame),
                    false,
                ),
                Some(Err(fault)) => {
                    tracing::debug!(id, method, code = fault.code, "a stream ended with a fault");
                    (
                        shared.protocol().encode_pushed(
                            &notification,
                            &subscription,
                            Push::End(Some(fault)),
                            &mut frame,
                        ),
                        true,
                    )
                }
                None => {
                    (shared.protocol().encode_pushed(&notification, &subscription, Push::End(None), &mut frame), true)
                }
            };
            let last = match encoded {
                Ok(()) => last,
                Err(e) => {
                    // An item that cannot be encoded ends the stream with the fault that says so.
                    tracing::warn!(id, method, error = %e, "a stream's item cannot be encoded; the stream ends");
                    let fault = Fault::internal_error(format!("{method}: cannot encode an item: {e}"));
                    frame.clear();
                    let end = Push::End(Some(&fault));
                    if shared.protocol().encode_pushed(&notification, &subscription, end, &mut frame).is_err() {
                        break;
                    }
                    true
                }
            };
            tokio::select! {
                biased;
                () = stop.cancelled() => break,
                sent = shared.send(frame.freeze()) => if sent.is_err() { break },
            }
            if last {
                break;
            }
        }
        // The stream goes first, so that its `Drop` has run when the unsubscribe is answered.
        drop(items);
        drop(closing);
    }
}

/// A subscription of this side's, from its subscribe call until it ends: where its items go.
pub(crate) struct Subscribing {
    pub(crate) notification: Arc<str>,
    pub(crate) unsubscribe: Arc<str>,
    items: mpsc::Sender<Answered>,
    end: Arc<Mutex<Option<rpc_core::Error>>>,
}

impl Subscribing {
    /// Ends the subscription with `error`, its last item.
    pub(crate) fn fail(self, error: rpc_core::Error) {
        *self.end.lock().unwrap_or_else(PoisonError::into_inner) = Some(error);
    }

    /// Hands an item over, if the subscriber has room for it.
    pub(crate) fn deliver(&self, item: Answered) -> Result<(), Lost> {
        match self.items.try_send(item) {
            Ok(()) => Ok(()),
            Err(mpsc::error::TrySendError::Full(item)) => Err(Lost::Full(item, self.items.clone())),
            Err(mpsc::error::TrySendError::Closed(_)) => Err(Lost::Gone),
        }
    }
}

/// Why an item could not be handed to a subscriber.
pub(crate) enum Lost {
    /// It has left `subscription_buffer` items unread: the item, and where it goes once there is room.
    Full(Answered, mpsc::Sender<Answered>),
    /// It dropped its subscription.
    Gone,
}

/// An item held back until its subscriber has room: the connection reads nothing more meanwhile, so the peer's
/// writes back up and its stream waits (end-to-end backpressure).
pub(crate) struct Stall {
    pub(crate) item: Answered,
    pub(crate) to: mpsc::Sender<Answered>,
    pub(crate) method: String,
    pub(crate) subscription: Value,
}

/// The subscriber's end, before its subscribe call is answered.
pub(crate) struct Waiting {
    items: mpsc::Receiver<Answered>,
    end: Arc<Mutex<Option<rpc_core::Error>>>,
}

/// A new subscription's two ends, its items queued up to `buffer`.
pub(crate) fn subscribing(notification: &str, unsubscribe: &str, buffer: usize) -> (Subscribing, Waiting) {
    let (tx, rx) = mpsc::channel(buffer.max(1));
    let end = Arc::new(Mutex::new(None));
    let subscribing = Subscribing {
        notification: Arc::from(notification),
        unsubscribe: Arc::from(unsubscribe),
        items: tx,
        end: end.clone(),
    };
    (subscribing, Waiting { items: rx, end })
}

/// The key a subscription is filed under: its id, as a number or a string (what servers give).
pub(crate) fn key(id: &Value) -> Option<String> {
    match id {
        Value::String(s) => Some(format!("s{s}")),
        other => other.as_u64().map(|n| format!("n{n}")).or_else(|| other.as_i64().map(|n| format!("n{n}"))),
    }
}

/// A subscription of this side's, as the generated client's [`rpc_core::Subscription`] holds it.
pub(crate) struct EngineSubscription {
    pub(crate) shared: Arc<Shared>,
    pub(crate) id: Value,
    pub(crate) notification: Arc<str>,
    pub(crate) unsubscribe: Arc<str>,
    pub(crate) waiting: Waiting,
    pub(crate) max_depth: usize,
    /// Unsubscribed already (or ended): nothing to do when dropped.
    pub(crate) done: bool,
}

impl EngineSubscription {
    /// Forgets the subscription on this side: items that still come for it are dropped.
    fn forget(&self) -> bool {
        match key(&self.id) {
            Some(key) => self.shared.forget_subscription(&self.notification, &key),
            None => false,
        }
    }
}

impl SubscriptionSource for EngineSubscription {
    fn id(&self) -> &Value {
        &self.id
    }

    fn poll_item(&mut self, cx: &mut std::task::Context<'_>) -> Poll<Option<Result<Box<dyn Answer>, rpc_core::Error>>> {
        match std::task::ready!(self.waiting.items.poll_recv(cx)) {
            Some(item) => Poll::Ready(Some(Ok(self.shared.typed_answer(item, self.max_depth)))),
            None => {
                // The stream has ended (it said so, or was lost on the way: then the error is its last item).
                self.done = true;
                let end = self.waiting.end.lock().unwrap_or_else(PoisonError::into_inner).take();
                Poll::Ready(end.map(Err))
            }
        }
    }

    fn unsubscribe(mut self: Box<Self>) -> BoxFuture<'static, Result<(), rpc_core::Error>> {
        let still_open = !self.done && self.forget();
        self.done = true;
        let (shared, method, id) = (self.shared.clone(), self.unsubscribe.clone(), self.id.clone());
        Box::pin(async move {
            if !still_open {
                return Ok(());
            }
            // `false` says the server had ended it already: it has ended either way.
            crate::Peer::of(shared).call(&method, vec![id]).await.map(drop)
        })
    }
}

impl Drop for EngineSubscription {
    fn drop(&mut self) {
        if !self.done && self.forget() {
            self.shared.unsubscribe_quietly(&self.unsubscribe, self.id.clone());
        }
    }
}

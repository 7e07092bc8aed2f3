//! One connection, in either role: the [`Session`] reads messages, runs the calls that come in, and matches the
//! answers to the calls that went out; [`Peer`] is the handle for calling the other side.
//!
//! A connection is two loops in one task, plus a task per call being handled:
//! - the read loop decodes messages. Responses go to the callers waiting for them. Requests and notifications queue
//!   in a backlog and start as permits allow (`max_in_flight` at once on the connection, and on a server
//!   `max_in_flight_total` across its connections); each request runs as its own task, for up to `handler_timeout`,
//!   and queues its response when it finishes, so answers go out in the order calls finish. Notifications run one at
//!   a time on a task of their own (started with the first one), in arrival order (Neovim's buffer events must be
//!   applied in order), and a request read after notifications starts once they have run (a peer that notifies, then
//!   asks, sees what it notified). When the backlog is as long as `max_in_flight`, the loop stops reading: the peer's
//!   writes back up; but not while calls of ours wait for the peer's answers (they may sit behind its calls: pausing
//!   then would deadlock), when the peer's calls queue up to four times the limit, and past that are refused with a
//!   "busy" error. With an `idle_timeout`, a peer that sends nothing for that long while no call is in flight either
//!   way is closed.
//! - the write loop takes encoded messages from a queue of `write_queue` entries and writes them, flushing when
//!   the queue runs empty (small answers queued together go out in one write). A peer that does not read fills
//!   its socket, then the queue; handlers wait to queue their answers, holding their permits; the read loop
//!   stops. Memory per connection stays bounded, and a connection waiting between messages holds neither a read
//!   nor a write buffer.
//!
//! A call can be cancelled by its caller, LSP's way: the notification `$/cancelRequest` naming its id (read by the
//! encoding as `Incoming::Cancel`). A call still in the backlog is taken out, a running one has its handler future
//! dropped (its task, told through the call's token, stops polling it); either is answered at once with
//! `Fault::REQUEST_CANCELLED` (-32800). An id of no call waiting or running (answered already, or never seen) is
//! ignored. This side cancels its own calls the same way: a call whose future is dropped after its request was
//! queued and before its answer came (the call timeout, a caller's `select!` or `timeout`) sends the notification.
//!
//! When either loop ends (end of stream, an error, a limit hit that breaks the framing, or the local side
//! closing), the session closes: every call waiting for an answer fails with the reason, the handler tasks of
//! calls in flight are aborted (their futures dropped), and what is queued is written out briefly before the
//! write half is shut down. Notifications the peer sent before it closed the connection still run, in order,
//! in the background: they want no answer, and dropping them would lose what the peer sent last.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::io;
use std::pin::{Pin, pin};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use rpc_core::encoding::{Answer, Param, Reply, Slot};
use rpc_core::encoding::{WireParams, erased_serde, serve_call, time_limit};
use rpc_core::stream::{StreamNames, SubscriptionSource};
use rpc_core::{BoxFuture, CallParams, Context, Dispatch, Fault, RemoteAddr, Transport, Value};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::Error;
use crate::framing::{FrameRead, FrameWrite};
use crate::protocol::{
    Answered, ByteString, Incoming, Limits, OutParams, Params, Part, Protocol, Pushed, PushedEvent, RequestId,
};
use crate::subscribe::{Route, Served, Streams, Subscribing};

/// The default limit on calls handled at once per connection (as many more wait, read, before the connection
/// stops reading): 128.
pub const DEFAULT_MAX_IN_FLIGHT: usize = 128;
/// The default number of encoded messages queued for writing per connection: 128.
pub const DEFAULT_WRITE_QUEUE: usize = 128;
/// The default time an outgoing call may take, from queueing it to its answer: 30 seconds.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// The default limit on nesting in a message (arrays and maps, or objects, the message's own envelope counting
/// as one level): 64.
pub const DEFAULT_MAX_DEPTH: usize = 64;
/// How long a closing connection goes on writing what was queued before it (e.g. a notification sent just
/// before a client is dropped).
const CLOSE_GRACE: Duration = Duration::from_secs(5);
/// While calls of ours wait for the peer's answers, the peer's calls may queue up to this many times
/// `max_in_flight` before new ones are refused.
const OVERFLOW: usize = 4;
/// Room reserved for a small message: writing one item at a time into an empty buffer would grow it often.
const SMALL_MESSAGE: usize = 64;

/// The size of the chunks a connection's answers are written into (see `ReadLoop::out`).
const OUT_CHUNK: usize = 2048;

/// Settings every connection has, whichever side opened it.
#[derive(Clone, Debug)]
pub(crate) struct Config {
    pub(crate) max_message_size: usize,
    pub(crate) max_depth: usize,
    pub(crate) max_in_flight: usize,
    pub(crate) write_queue: usize,
    pub(crate) call_timeout: Option<Duration>,
    pub(crate) handler_timeout: Option<Duration>,
    pub(crate) idle_timeout: Option<Duration>,
    /// The subscriptions a connection serves at once, and the items a subscription of this side's may leave
    /// unread.
    pub(crate) max_subscriptions: usize,
    pub(crate) subscription_buffer: usize,
    /// The stream methods of the dispatcher the connections answer with, worked out once (`None`: it has none).
    pub(crate) streams: Option<Arc<Streams>>,
    /// Permits for the calls handled at once across every connection of a server (`None`: no such bound).
    pub(crate) total: Option<Arc<Semaphore>>,
}

impl Config {
    /// The settings both sides start from; `max_message_size` differs between them.
    pub(crate) fn new(max_message_size: usize) -> Config {
        Config {
            max_message_size,
            max_depth: DEFAULT_MAX_DEPTH,
            max_in_flight: DEFAULT_MAX_IN_FLIGHT,
            write_queue: DEFAULT_WRITE_QUEUE,
            call_timeout: Some(DEFAULT_TIMEOUT),
            handler_timeout: Some(rpc_core::DEFAULT_HANDLER_TIMEOUT),
            idle_timeout: None,
            max_subscriptions: crate::subscribe::DEFAULT_MAX_SUBSCRIPTIONS,
            subscription_buffer: crate::subscribe::DEFAULT_SUBSCRIPTION_BUFFER,
            streams: None,
            total: None,
        }
    }
}

/// What a connection's loops and its [`Peer`] handles share.
pub(crate) struct Shared {
    protocol: Arc<dyn Protocol>,
    tx: mpsc::Sender<Bytes>,
    calls: Mutex<Calls>,
    closed: CancellationToken,
    call_timeout: Option<Duration>,
    /// The depth limit answers are read with.
    max_depth: usize,
    /// How many items a subscription of this side's may leave unread.
    subscription_buffer: usize,
    /// The other side's address, where the transport has one, else the transport's name, where known (for the
    /// spans of calls to it).
    remote: Option<std::net::SocketAddr>,
    transport: Option<&'static str>,
    /// Handler tasks still working out their answer: while there are some, the write loop lets them run once
    /// before writing, so the answers to pipelined calls go out in one write rather than one write each.
    answering: AtomicUsize,
    /// Set once the connection's loops have ended (everything that could be written was, and the write half is
    /// shut down), with a wake-up for [`Peer::shutdown`]'s waiters.
    finished: AtomicBool,
    finished_wake: tokio::sync::Notify,
    /// Set while the read loop holds an item back for a subscriber with no room (see `Stall`): a call of ours
    /// then wakes it through `call_started`, since its answer could not be read while the loop waits.
    stalled: AtomicBool,
    call_started: tokio::sync::Notify,
}

/// The error of a subscription whose subscriber left `buffer` items unread while a call needed the connection.
fn fell_behind(method: &str, buffer: usize) -> rpc_core::Error {
    tracing::warn!(
        method,
        buffer,
        "a subscriber left too many items unread while calls waited; its subscription was ended"
    );
    rpc_core::Error::Transport(
        format!(
            "{method}: the subscriber fell behind: {buffer} items were left unread while calls waited for answers on \
             the connection; the subscription was ended"
        )
        .into(),
    )
}

/// The result of an answer as a value, or the peer's error as a fault.
fn answer_value(protocol: &dyn Protocol, answered: Answered, max_depth: usize) -> Result<Value, rpc_core::Error> {
    match answered {
        Answered::Raw(raw) => protocol.read_value(Part::Result, raw.bytes(), max_depth),
        Answered::Value(value) => Ok(value),
        Answered::Fault(fault) => Err(rpc_core::Error::Fault(fault)),
    }
}

/// The answer of a typed call, read into the caller's type when it asks.
struct TypedAnswer {
    protocol: Arc<dyn Protocol>,
    answered: Answered,
    max_depth: usize,
}

impl Answer for TypedAnswer {
    /// The result read straight from its bytes where they read, else through its value.
    fn read(self: Box<Self>, slot: &mut dyn Slot) -> Result<(), rpc_core::Error> {
        if let Answered::Raw(raw) = &self.answered
            && self
                .protocol
                .deserialize(Part::Result, raw.bytes(), self.max_depth, &mut |de| slot.deserialize(de).is_ok())
        {
            return Ok(());
        }
        slot.set_value(answer_value(&*self.protocol, self.answered, self.max_depth)?)
    }
}

/// The calls waiting for an answer, this side's subscriptions, and why the connection closed once it has.
struct Calls {
    next_id: u32,
    pending: HashMap<u32, oneshot::Sender<Answered>>,
    /// The subscribe calls among `pending`: where their items go once they are answered.
    subscribing: HashMap<u32, Subscribing>,
    /// This side's subscriptions, by notification name and then by id ([`crate::subscribe::key`]).
    subscriptions: HashMap<Arc<str>, HashMap<String, Subscribing>>,
    closed: Option<String>,
}

impl Calls {
    /// Takes one of this side's subscriptions out (and its notification's entry, once that holds none).
    fn take_subscription(&mut self, notification: &str, key: &str) -> Option<Subscribing> {
        let of_name = self.subscriptions.get_mut(notification)?;
        let subscription = of_name.remove(key);
        if of_name.is_empty() {
            self.subscriptions.remove(notification);
        }
        subscription
    }
}

impl Shared {
    fn calls(&self) -> MutexGuard<'_, Calls> {
        self.calls.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Closes the connection for `reason` (the first reason given wins): waiting calls fail, the loops stop.
    pub(crate) fn close(&self, reason: impl Into<String>) {
        let (pending, subscribing, subscriptions, reason) = {
            let mut calls = self.calls();
            let reason = calls.closed.get_or_insert_with(|| reason.into()).clone();
            let subscribing = std::mem::take(&mut calls.subscribing);
            (std::mem::take(&mut calls.pending), subscribing, std::mem::take(&mut calls.subscriptions), reason)
        };
        // Dropping the senders wakes every waiting caller, who then reads the reason.
        drop(pending);
        drop(subscribing);
        // Each subscription's last item says why it ended.
        for subscription in subscriptions.into_values().flat_map(HashMap::into_values) {
            subscription.fail(Error::Closed(reason.clone()).into());
        }
        self.closed.cancel();
    }

    /// The encoding.
    pub(crate) fn protocol(&self) -> &dyn Protocol {
        &*self.protocol
    }

    /// An answer (a call's, or a subscription's item) for the caller to read into its type.
    pub(crate) fn typed_answer(&self, answered: Answered, max_depth: usize) -> Box<dyn Answer> {
        Box::new(TypedAnswer { protocol: self.protocol.clone(), answered, max_depth })
    }

    /// True when this side has a subscription whose items come as notifications named `method`.
    fn subscribed_to(&self, method: &str) -> bool {
        let calls = self.calls();
        !calls.subscriptions.is_empty() && calls.subscriptions.contains_key(method)
    }

    /// Hands a message of one of this side's subscriptions to it: `Err` with the item when its subscriber has no
    /// room and no call of ours waits for an answer (the read loop then waits for room, reading nothing more);
    /// with calls waiting, their answers must be read, so the subscription that fell behind is ended instead.
    /// `Ok(false)` when the message is of no subscription (one that was dropped, say: it is dropped).
    fn deliver(&self, method: &str, pushed: Pushed) -> Result<bool, Box<crate::subscribe::Stall>> {
        let Some(key) = crate::subscribe::key(&pushed.subscription) else { return Ok(false) };
        let mut calls = self.calls();
        let calls_waiting = !calls.pending.is_empty();
        let Some(of_name) = calls.subscriptions.get_mut(method) else { return Ok(false) };
        let (lost, failed) = match pushed.event {
            PushedEvent::Item(item) => match of_name.get(&key).map(|subscription| subscription.deliver(item)) {
                None => return Ok(false),
                Some(Ok(())) => return Ok(true),
                Some(Err(crate::subscribe::Lost::Full(item, to))) if !calls_waiting => {
                    let (method, subscription) = (method.to_owned(), pushed.subscription);
                    return Err(Box::new(crate::subscribe::Stall { item, to, method, subscription }));
                }
                Some(Err(lost)) => (Some(lost), None),
            },
            PushedEvent::End(failed) => (None, failed),
        };
        let Some(subscription) = calls.take_subscription(method, &key) else { return Ok(false) };
        drop(calls);
        #[allow(clippy::match_same_arms)]
        match (lost, failed) {
            (Some(crate::subscribe::Lost::Full(_, to)), _) => {
                self.unsubscribe_quietly(&subscription.unsubscribe, pushed.subscription);
                subscription.fail(fell_behind(method, to.max_capacity()));
            }
            (Some(crate::subscribe::Lost::Gone), _) => {
                self.unsubscribe_quietly(&subscription.unsubscribe, pushed.subscription);
            }
            (None, Some(fault)) => subscription.fail(rpc_core::Error::Fault(fault)),
            // The stream finished: the subscriber's queue ends with its last item.
            (None, _) => drop(subscription),
        }
        Ok(true)
    }

    /// Ends the subscription an item was held back for (a call of ours needs the connection read), with the
    /// error that says it fell behind.
    fn end_stalled(&self, stall: crate::subscribe::Stall) {
        let Some(key) = crate::subscribe::key(&stall.subscription) else { return };
        let subscription = self.calls().take_subscription(&stall.method, &key);
        if let Some(subscription) = subscription {
            self.unsubscribe_quietly(&subscription.unsubscribe, stall.subscription);
            subscription.fail(fell_behind(&stall.method, stall.to.max_capacity()));
        }
    }

    /// Forgets one of this side's subscriptions (items that still come for it are dropped); false if it was
    /// no longer there.
    pub(crate) fn forget_subscription(&self, notification: &str, key: &str) -> bool {
        self.calls().take_subscription(notification, key).is_some()
    }

    /// Sends the unsubscribe call `method([id])` without waiting for its answer (for a subscription dropped or
    /// lost), if the write queue has room; the answer, when it comes, is for no call and dropped.
    pub(crate) fn unsubscribe_quietly(&self, method: &str, id: Value) {
        let call = {
            let mut calls = self.calls();
            if calls.closed.is_some() {
                return;
            }
            let mut call = calls.next_id;
            while calls.pending.contains_key(&call) {
                call = call.wrapping_add(1);
            }
            calls.next_id = call.wrapping_add(1);
            call
        };
        let mut frame = BytesMut::with_capacity(SMALL_MESSAGE);
        if let Err(e) = self.protocol.encode_request(Some(call), method, OutParams::Values(&[id]), &mut frame) {
            tracing::debug!(method, error = %e, "the unsubscribe could not be encoded");
            return;
        }
        if self.tx.try_send(frame.freeze()).is_err() {
            tracing::debug!(method, "a subscription was dropped; the write queue had no room to unsubscribe");
        }
    }

    /// Waits until the connection's loops have ended.
    async fn finished(&self) {
        let mut woken = pin!(self.finished_wake.notified());
        loop {
            // Registered before the check, so a wake-up between the two is not missed.
            woken.as_mut().enable();
            if self.finished.load(Ordering::Acquire) {
                return;
            }
            woken.as_mut().await;
            woken.set(self.finished_wake.notified());
        }
    }

    fn closed_error(&self) -> rpc_core::Error {
        Error::Closed(self.closed_reason()).into()
    }

    /// The connection is closed and this message was not queued for writing: it was never sent
    /// ([`rpc_core::Error::Connect`], so that a caller may send it elsewhere whatever it was).
    fn not_sent_error(&self) -> rpc_core::Error {
        rpc_core::Error::Connect(Box::new(Error::Closed(self.closed_reason())))
    }

    fn closed_reason(&self) -> String {
        self.calls().closed.clone().unwrap_or_else(|| "the connection is closed".to_owned())
    }

    /// Queues an encoded message for writing, waiting for room in the queue (backpressure). A message the
    /// closed connection did not take is not sent (`rpc_core::Error::Connect`).
    pub(crate) async fn send(&self, frame: Bytes) -> Result<(), rpc_core::Error> {
        let frame = match self.tx.try_send(frame) {
            Ok(()) => return Ok(()),
            Err(mpsc::error::TrySendError::Closed(_)) => return Err(self.not_sent_error()),
            Err(mpsc::error::TrySendError::Full(frame)) => {
                let limit = self.tx.max_capacity();
                tracing::debug!(limit, "the write queue is full (the peer is not reading fast enough); waiting");
                frame
            }
        };
        tokio::select! {
            biased;
            sent = self.tx.send(frame) => sent.map_err(|_| self.not_sent_error()),
            () = self.closed.cancelled() => Err(self.not_sent_error()),
        }
    }

    /// Tells the peer that this side no longer waits for its call `id`, if the write queue has room (a call
    /// being dropped cannot wait for it; a peer too slow to take one more message is not worth one).
    fn cancel(&self, id: u32) {
        let mut frame = BytesMut::with_capacity(SMALL_MESSAGE);
        if let Err(e) = self.protocol.encode_cancel(id, &mut frame) {
            tracing::debug!(id, error = %e, "the cancellation could not be encoded");
            return;
        }
        match self.tx.try_send(frame.freeze()) {
            Ok(()) => tracing::debug!(id, "call cancelled"),
            Err(_) => tracing::debug!(id, "call dropped; the write queue had no room to cancel it on the peer"),
        }
    }

    /// Routes a response to the call waiting for it. The answer to a subscribe call files the subscription
    /// first, so that the items that follow it find their subscriber.
    fn answer(&self, id: u32, result: Answered) {
        let (waiting, subscribing) = {
            let mut calls = self.calls();
            (calls.pending.remove(&id), calls.subscribing.remove(&id))
        };
        let result = match (subscribing, &waiting) {
            (Some(subscribing), Some(_)) => self.subscribed(subscribing, result),
            _ => result,
        };
        match waiting {
            Some(tx) => drop(tx.send(result)),
            // A call that timed out or was dropped, or a peer answering an id we never sent.
            None => tracing::debug!(id, "a response for no call in flight; dropped"),
        }
    }
}

impl Shared {
    /// Files the subscription a subscribe call was answered with: the answer, its id, as a value (or the
    /// fault that says why there is no subscription).
    fn subscribed(&self, subscribing: Subscribing, result: Answered) -> Answered {
        let id = match result {
            Answered::Raw(raw) => match self.protocol.read_value(Part::Result, raw.bytes(), self.max_depth) {
                Ok(id) => id,
                Err(e) => {
                    return Answered::Fault(Fault::internal_error(format!("the subscription id cannot be read: {e}")));
                }
            },
            Answered::Value(id) => id,
            fault @ Answered::Fault(_) => return fault,
        };
        let Some(key) = crate::subscribe::key(&id) else {
            let fault = Fault::internal_error(format!(
                "the server answered the subscription with an id that is neither a number nor a string: {id:?}"
            ));
            return Answered::Fault(fault);
        };
        let mut calls = self.calls();
        if calls.closed.is_none() {
            let notification = subscribing.notification.clone();
            calls.subscriptions.entry(notification).or_default().insert(key, subscribing);
        }
        Answered::Value(id)
    }
}

/// A handle for calling the other end of a connection: the client a server handler is serving, or the server
/// a client is connected to (both can call each other on every duplex transport).
///
/// A server's handlers find it in their [`Context`] (`cx.get::<Peer>()`), as do a client's own handlers;
/// [`Client::peer`](crate::Client::peer) gives one too. It is cheap to clone, and implements [`Transport`], so a
/// generated client works over it. A handle does not keep its connection open: once the connection has closed,
/// calls fail with [`Error::Closed`] (as [`rpc_core::Error::Transport`]).
///
/// ```no_run
/// use rpc_core::{Context, Value, service};
/// use rpc_engine::Peer;
///
/// #[service]
/// pub trait Plugin {
///     /// Asks the connected client (say, Neovim) to evaluate `expr`, and returns the answer.
///     async fn ask(&self, expr: String, cx: &Context) -> Result<Value, rpc_core::Fault>;
/// }
///
/// struct Impl;
///
/// impl Plugin for Impl {
///     async fn ask(&self, expr: String, cx: &Context) -> Result<Value, rpc_core::Fault> {
///         let peer = cx.get::<Peer>().ok_or_else(|| rpc_core::Fault::internal_error("not on a duplex transport"))?;
///         peer.notify("nvim_out_write", vec![format!("evaluating {expr}\n").into()]).await?;
///         Ok(peer.call("nvim_eval", vec![expr.into()]).await?)
///     }
/// }
/// ```
#[derive(Clone)]
pub struct Peer {
    shared: Arc<Shared>,
}

impl Peer {
    /// Calls `method` on the other side with positional `params` and waits for its answer, up to the
    /// connection's call timeout. An error reply becomes [`rpc_core::Error::Fault`] (the encoding's docs say
    /// how any error object maps to a fault).
    pub async fn call(&self, method: &str, params: Vec<Value>) -> Result<Value, rpc_core::Error> {
        let protocol = &*self.shared.protocol;
        let answer = self
            .exchange(method, |id, frame| protocol.encode_request(Some(id), method, OutParams::Values(&params), frame));
        answer_value(protocol, answer.await?, self.shared.max_depth)
    }

    /// Calls `method` on the typed path (see [`rpc_core::encoding`]): the params serialised straight to the wire
    /// (before this returns) and the answer handed back to be read straight into the caller's type, each through
    /// its value where it cannot be. Generated clients call this through [`Transport::call_typed`].
    pub fn call_typed<'a>(
        &'a self,
        method: &'a str,
        params: &[Param<'_>],
    ) -> impl std::future::Future<Output = Result<Box<dyn Answer>, rpc_core::Error>> + Send + 'a {
        let params = self.shared.protocol.encode_params(params);
        async move { self.call_encoded(method, &params?).await }
    }

    /// The params of a typed call, encoded for [`call_encoded`](Peer::call_encoded).
    pub(crate) fn encode_params(&self, params: &[Param<'_>]) -> Result<Bytes, rpc_core::Error> {
        self.shared.protocol.encode_params(params)
    }

    /// A typed call whose params are already encoded (by [`Protocol::encode_params`]).
    pub(crate) async fn call_encoded(&self, method: &str, params: &[u8]) -> Result<Box<dyn Answer>, rpc_core::Error> {
        let protocol = &self.shared.protocol;
        let answered = self
            .exchange(method, |id, frame| protocol.encode_request(Some(id), method, OutParams::Encoded(params), frame))
            .await?;
        Ok(Box::new(TypedAnswer { protocol: protocol.clone(), answered, max_depth: self.shared.max_depth }))
    }

    /// Subscribes to a stream method of the other side (see [`rpc_core::stream`]): calls `names.subscribe`
    /// with `params` (encoded before this returns) and, once it is answered with an id, gives the subscription its
    /// items arrive on (`names.notification` notifications carrying that id). Generated clients call this through
    /// [`Transport::subscribe`].
    pub fn subscribe<'a>(
        &'a self,
        names: StreamNames<'_>,
        params: &[Param<'_>],
    ) -> impl std::future::Future<Output = Result<Box<dyn SubscriptionSource>, rpc_core::Error>> + Send + 'a {
        let params = self.shared.protocol.encode_params(params);
        self.subscribe_encoded(names, params)
    }

    /// [`subscribe`](Peer::subscribe) with the params encoded already (by [`Protocol::encode_params`]).
    pub(crate) fn subscribe_encoded<'a>(
        &'a self,
        names: StreamNames<'_>,
        params: Result<Bytes, rpc_core::Error>,
    ) -> impl std::future::Future<Output = Result<Box<dyn SubscriptionSource>, rpc_core::Error>> + Send + 'a {
        let (subscribing, waiting) =
            crate::subscribe::subscribing(names.notification, names.unsubscribe, self.shared.subscription_buffer);
        let (notification, unsubscribe) = (subscribing.notification.clone(), subscribing.unsubscribe.clone());
        let method = names.subscribe.to_owned();
        async move {
            let params = params?;
            let protocol = &*self.shared.protocol;
            let encode = |id, frame: &mut BytesMut| {
                protocol.encode_request(Some(id), &method, OutParams::Encoded(&params), frame)
            };
            let id = match self.exchange_with(&method, encode, Some(subscribing)).await? {
                Answered::Value(id) => id,
                Answered::Fault(fault) => return Err(rpc_core::Error::Fault(fault)),
                Answered::Raw(_) => return Err(Error::Closed("the subscription was not filed".to_owned()).into()),
            };
            let subscription = crate::subscribe::EngineSubscription {
                shared: self.shared.clone(),
                id,
                notification,
                unsubscribe,
                waiting,
                max_depth: self.shared.max_depth,
                done: false,
            };
            Ok(Box::new(subscription) as Box<dyn SubscriptionSource>)
        }
    }

    /// The handle of the connection `shared` is the state of.
    pub(crate) fn of(shared: Arc<Shared>) -> Peer {
        Peer { shared }
    }

    /// Sends the request `encode` writes for a fresh msgid (registered and encoded before this returns) and
    /// waits for its answer, up to the connection's call timeout.
    fn exchange(
        &self,
        method: &str,
        encode: impl FnOnce(u32, &mut BytesMut) -> Result<(), rpc_core::Error>,
    ) -> impl std::future::Future<Output = Result<Answered, rpc_core::Error>> + Send + '_ {
        self.exchange_with(method, encode, None)
    }

    /// [`exchange`](Peer::exchange), for a subscribe call when `subscribing` says where its items go.
    fn exchange_with(
        &self,
        method: &str,
        encode: impl FnOnce(u32, &mut BytesMut) -> Result<(), rpc_core::Error>,
        subscribing: Option<Subscribing>,
    ) -> impl std::future::Future<Output = Result<Answered, rpc_core::Error>> + Send + '_ {
        let sent = self.register(subscribing).and_then(|(pending, rx)| {
            let mut frame = BytesMut::with_capacity(SMALL_MESSAGE);
            encode(pending.id, &mut frame)?;
            Ok((pending, rx, frame.freeze()))
        });
        let id = sent.as_ref().map(|(pending, ..)| pending.id).ok();
        let span = rpc_core::trace::client_span_to(
            self.shared.protocol.rpc_system(),
            method,
            id.as_ref().map(|id| id as &dyn fmt::Display),
            self.shared.remote,
            self.shared.transport,
        );
        let exchange = async move {
            // The guard forgets the call if this future is dropped (timeout, caller gone) before the answer comes.
            let (mut pending, rx, frame) = sent?;
            self.shared.send(frame).await?;
            pending.sent = true;
            rx.await.map_err(|_| self.shared.closed_error())
        };
        // The call timeout, or less when this call is made from a handler whose own call has a sooner deadline.
        let limit = rpc_core::encoding::call_limit(self.shared.call_timeout);
        let answer = async move {
            let answer = match limit {
                Some((deadline, limit)) => {
                    tokio::time::timeout_at(deadline, exchange).await.unwrap_or(Err(rpc_core::Error::Timeout(limit)))
                }
                None => exchange.await,
            };
            let span = tracing::Span::current();
            match &answer {
                Err(e) => rpc_core::trace::record_error(&span, e),
                Ok(Answered::Fault(fault)) => rpc_core::trace::record_fault(&span, fault),
                Ok(_) => {}
            }
            answer
        };
        answer.instrument(span)
    }

    /// A fresh msgid with a place for its answer; the guard forgets the call when dropped.
    fn register(
        &self,
        subscribing: Option<Subscribing>,
    ) -> Result<(PendingGuard<'_>, oneshot::Receiver<Answered>), rpc_core::Error> {
        let (tx, rx) = oneshot::channel();
        let mut calls = self.shared.calls();
        if calls.closed.is_some() {
            drop(calls);
            return Err(self.shared.not_sent_error());
        }
        // Ids wrap around, skipping any still in flight.
        loop {
            let id = calls.next_id;
            calls.next_id = id.wrapping_add(1);
            if let std::collections::hash_map::Entry::Vacant(slot) = calls.pending.entry(id) {
                slot.insert(tx);
                if let Some(subscribing) = subscribing {
                    calls.subscribing.insert(id, subscribing);
                }
                if self.shared.stalled.load(Ordering::Acquire) {
                    self.shared.call_started.notify_one();
                }
                return Ok((PendingGuard { shared: &self.shared, id, sent: false }, rx));
            }
        }
    }

    /// Sends a notification: `method` with `params`, wanting no answer. Returns once it is queued for writing
    /// (waiting for room in the write queue, up to the call timeout).
    pub async fn notify(&self, method: &str, params: Vec<Value>) -> Result<(), rpc_core::Error> {
        let mut frame = BytesMut::with_capacity(SMALL_MESSAGE);
        self.shared.protocol.encode_request(None, method, OutParams::Values(&params), &mut frame)?;
        let send = self.shared.send(frame.freeze());
        match self.shared.call_timeout {
            Some(limit) => tokio::time::timeout(limit, send).await.unwrap_or(Err(rpc_core::Error::Timeout(limit))),
            None => send.await,
        }
    }

    /// True once the connection has closed.
    pub fn is_closed(&self) -> bool {
        self.shared.closed.is_cancelled()
    }

    /// Waits until the connection has closed.
    pub async fn closed(&self) {
        self.shared.closed.cancelled().await;
    }

    /// Closes the connection: calls waiting for answers fail, handlers in flight are dropped. Messages already
    /// queued are still written in the background; [`shutdown`](Peer::shutdown) waits for that.
    pub fn close(&self) {
        self.shared.close("closed locally");
    }

    /// Closes the connection as [`close`](Peer::close) does, then waits until every message queued before it
    /// (notifications and answers included) has been written and the connection shut down, or dropped after a
    /// grace period of 5 s if the peer does not read them. Call it before a program exits, so that what it sent
    /// last is not lost with the runtime.
    pub async fn shutdown(&self) {
        self.shared.close("closed locally");
        self.shared.finished().await;
    }

    /// Waits until the connection's loops have ended (after it closed, and what was queued was written).
    pub(crate) async fn finished(&self) {
        self.shared.finished().await;
    }

    /// Closes the connection, giving `reason` to the calls that fail.
    pub(crate) fn close_because(&self, reason: &str) {
        self.shared.close(reason);
    }
}

impl Transport for Peer {
    fn call<'a>(&'a self, method: &'a str, params: Vec<Value>) -> BoxFuture<'a, Result<Value, rpc_core::Error>> {
        Box::pin(Peer::call(self, method, params))
    }

    fn call_typed<'a>(&'a self, method: &'a str, params: &[Param<'_>]) -> rpc_core::encoding::AnswerFuture<'a> {
        Box::pin(Peer::call_typed(self, method, params))
    }

    fn notify<'a>(&'a self, method: &'a str, params: Vec<Value>) -> BoxFuture<'a, Result<(), rpc_core::Error>> {
        Box::pin(Peer::notify(self, method, params))
    }

    fn subscribe<'a>(
        &'a self,
        names: StreamNames<'a>,
        params: &[Param<'_>],
    ) -> BoxFuture<'a, Result<Box<dyn SubscriptionSource>, rpc_core::Error>> {
        Box::pin(Peer::subscribe(self, names, params))
    }
}

impl fmt::Debug for Peer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Peer").field("closed", &self.is_closed()).finish_non_exhaustive()
    }
}

/// Removes a call from the pending map when its caller stops waiting; once its request was queued (`sent`),
/// a call still waiting for its answer is cancelled on the peer too.
struct PendingGuard<'a> {
    shared: &'a Shared,
    id: u32,
    sent: bool,
}

impl Drop for PendingGuard<'_> {
    fn drop(&mut self) {
        let waiting = {
            let mut calls = self.shared.calls();
            calls.subscribing.remove(&self.id);
            calls.pending.remove(&self.id)
        };
        if waiting.is_some() && self.sent {
            self.shared.cancel(self.id);
        }
    }
}

/// A call that has been read and waits for a permit to start.
enum Work {
    Request {
        id: RequestId,
        method: ByteString,
        params: Params,
    },
    Notification {
        method: ByteString,
        params: Params,
    },
    /// A message the encoding serves as a whole (a JSON-RPC batch).
    Whole(Bytes),
    /// A call to a stream method's subscribe name.
    Subscribe {
        id: RequestId,
        method: ByteString,
        params: Params,
        notification: Arc<str>,
    },
}

/// A call's params still in their message, as the dispatcher reads them: straight through the protocol's
/// deserializer, or as values.
struct RawParams<'a> {
    protocol: &'a dyn Protocol,
    bytes: &'a [u8],
    max_depth: usize,
}

impl WireParams for RawParams<'_> {
    fn read(&mut self, read: &mut dyn FnMut(&mut dyn erased_serde::Deserializer<'_>) -> bool) -> bool {
        self.protocol.deserialize(Part::Params, self.bytes, self.max_depth, read)
    }

    fn values(&mut self) -> Result<Vec<Value>, Fault> {
        // Params that cannot be read at all (JSON checks them only here): the call's answer.
        self.protocol.read_params(self.bytes, self.max_depth)
    }
}

/// Starts a call (or a notification): its params read by the dispatcher, straight where they are still in wire
/// bytes.
fn start_call(
    protocol: &dyn Protocol,
    dispatch: &dyn Dispatch,
    cx: &Context,
    max_depth: usize,
    method: &str,
    params: Params,
) -> impl std::future::Future<Output = Result<Reply, Fault>> + Send + Unpin + 'static {
    match params {
        Params::Values(values) => serve_call(dispatch, method, CallParams::Values(values), cx.clone()),
        Params::Raw(raw) => {
            let mut wire = RawParams { protocol, bytes: raw.bytes(), max_depth };
            serve_call(dispatch, method, CallParams::Wire(&mut wire), cx.clone())
        }
    }
}

/// The bytes of the response to request `id`, split from `out`: a connection's output buffer (see
/// [`chunked`]), or an empty one for an answer made on its own (which the encoding sizes).
fn answer_bytes(
    protocol: &dyn Protocol,
    id: &RequestId,
    method: &str,
    result: Result<Reply, Fault>,
    out: &mut BytesMut,
) -> Bytes {
    if let Err(fault) = &result {
        tracing::debug!(%id, method, code = fault.code, "call answered with a fault");
    }
    protocol.encode_response(id, method, result, out);
    out.split().freeze()
}

/// A connection's output buffer with room for a small answer: a new chunk once the last is used up, so that
/// many answers share one allocation.
fn chunked(out: &mut BytesMut) -> &mut BytesMut {
    if out.capacity() - out.len() < SMALL_MESSAGE {
        out.reserve(OUT_CHUNK);
    }
    out
}

/// The requests of a connection running on tasks of their own, each with the token that stops it: at most
/// `max_in_flight` entries (one per task holding a permit), each removed when its call ends.
#[derive(Default)]
struct Running {
    calls: Mutex<HashMap<RequestId, (u64, CancellationToken)>>,
    next: std::sync::atomic::AtomicU64,
}

impl Running {
    /// Runs `call`, request `id` of `method`, until it ends or the peer cancels it (then its future is dropped
    /// and the answer is the cancellation fault).
    async fn run<T>(
        &self,
        id: &RequestId,
        method: &str,
        call: impl Future<Output = Result<T, Fault>>,
    ) -> Result<T, Fault> {
        let token = CancellationToken::new();
        let seq = self.next.fetch_add(1, Ordering::Relaxed);
        // A peer that reuses an id in flight replaces the older call's entry: the newer one is what it cancels.
        self.lock().insert(id.clone(), (seq, token.clone()));
        let _forget = Forget { running: self, id, seq };
        tokio::select! {
            biased;
            () = token.cancelled() => {
                tracing::debug!(%id, method, "call cancelled by the peer; its handler dropped");
                Err(Fault::request_cancelled(method))
            }
            result = call => result,
        }
    }

    /// Stops request `id` if it is running; false if no call of that id is.
    fn cancel(&self, id: &RequestId) -> bool {
        match self.lock().get(id) {
            Some((_, token)) => {
                token.cancel();
                true
            }
            None => false,
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<RequestId, (u64, CancellationToken)>> {
        self.calls.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Removes a call's entry from [`Running`] when it ends (answered, cancelled, or its task aborted).
struct Forget<'a> {
    running: &'a Running,
    id: &'a RequestId,
    seq: u64,
}

impl Drop for Forget<'_> {
    fn drop(&mut self) {
        let mut calls = self.running.lock();
        if calls.get(self.id).is_some_and(|(seq, _)| *seq == self.seq) {
            calls.remove(self.id);
        }
    }
}

/// A notification on its way to the notification task, with the permits it holds.
type Note = (ByteString, Params, Permit);

/// One connection, ready to run.
pub(crate) struct Session {
    shared: Arc<Shared>,
    rx: mpsc::Receiver<Bytes>,
    dispatch: Arc<dyn Dispatch>,
    cx: Context,
    config: Config,
}

impl Session {
    /// A session of `protocol` that answers calls with `dispatch`; its handlers get `cx` with the [`Peer`]
    /// added.
    pub(crate) fn new(
        protocol: Arc<dyn Protocol>,
        config: Config,
        dispatch: Arc<dyn Dispatch>,
        cx: Context,
    ) -> Session {
        let config = Config {
            // A shutdown waits for all the permits at once, counted in a u32.
            max_in_flight: config.max_in_flight.clamp(1, u32::MAX as usize),
            write_queue: config.write_queue.max(1),
            ..config
        };
        let (tx, rx) = mpsc::channel(config.write_queue);
        let shared = Arc::new(Shared {
            protocol,
            tx,
            calls: Mutex::new(Calls {
                next_id: 0,
                pending: HashMap::new(),
                subscribing: HashMap::new(),
                subscriptions: HashMap::new(),
                closed: None,
            }),
            closed: CancellationToken::new(),
            call_timeout: config.call_timeout,
            max_depth: config.max_depth,
            subscription_buffer: config.subscription_buffer,
            remote: cx.get::<RemoteAddr>().map(|addr| addr.0),
            transport: cx.get::<rpc_core::trace::NetworkTransport>().map(|t| t.0),
            answering: AtomicUsize::new(0),
            finished: AtomicBool::new(false),
            finished_wake: tokio::sync::Notify::new(),
            stalled: AtomicBool::new(false),
            call_started: tokio::sync::Notify::new(),
        });
        let cx = cx.with(Peer { shared: shared.clone() });
        Session { shared, rx, dispatch, cx, config }
    }

    /// The handle for calling the other side.
    pub(crate) fn peer(&self) -> Peer {
        Peer { shared: self.shared.clone() }
    }

    #[cfg(test)]
    pub(crate) fn shared(&self) -> Arc<Shared> {
        self.shared.clone()
    }

    /// Runs the connection until it closes. `shutdown`, once cancelled, drains it: calls in flight finish and
    /// are answered, new ones are refused, then it closes.
    ///
    /// The end of the input stream closes the connection at once (a socket peer that closed has gone, and its
    /// calls are dropped), unless `on_eof` is [`OnEof::Finish`]: then the calls already read are finished and
    /// answered first (a pipe closes one way; the other may still be read).
    ///
    /// Ends with the error that broke the connection, or `Ok` when the peer or this side closed it.
    pub(crate) async fn run<R, W>(
        self,
        reader: R,
        writer: W,
        shutdown: CancellationToken,
        on_eof: OnEof,
    ) -> Result<(), Error>
    where
        R: FrameRead,
        W: FrameWrite,
    {
        let Session { shared, rx, dispatch, cx, config } = self;
        // Marks the end for `Peer::shutdown` however this ends (finished, or dropped with its task).
        let _finished = Finished(&shared);
        // Both loops are built inside `join!`: futures held in locals first would take their room twice in this
        // one's state, which every idle connection pays for.
        let (read, write) = tokio::join!(
            async {
                let outcome = ReadLoop::new(&shared, dispatch, cx, &config).run(reader, shutdown, on_eof).await;
                shared.close(match &outcome {
                    Ok(reason) => (*reason).to_owned(),
                    Err(e) => e.to_string(),
                });
                outcome
            },
            async {
                let outcome = write_loop(writer, rx, &shared).await;
                if let Err(e) = &outcome {
                    shared.close(format!("writing failed: {e}"));
                }
                outcome
            },
        );
        let reason = shared.calls().closed.clone().unwrap_or_default();
        tracing::debug!(reason, protocol = shared.protocol.name(), "connection closed");
        read.map(drop).and(write.map_err(Error::Io))
    }
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session").field("config", &self.config).finish_non_exhaustive()
    }
}

/// Marks a connection's loops as ended when dropped.
struct Finished<'a>(&'a Shared);

impl Drop for Finished<'_> {
    fn drop(&mut self) {
        self.0.finished.store(true, Ordering::Release);
        self.0.finished_wake.notify_waiters();
    }
}

/// What the end of a connection's input means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum OnEof {
    /// The peer has gone: close, dropping the calls in flight (sockets).
    Close,
    /// The peer has finished sending: finish and answer the calls read, then close (pipes, such as stdio).
    Finish,
}

/// The read side of a connection and the calls it started.
struct ReadLoop<'a> {
    shared: &'a Arc<Shared>,
    dispatch: Arc<dyn Dispatch>,
    cx: Context,
    config: &'a Config,
    permits: Arc<Semaphore>,
    backlog: VecDeque<Work>,
    tasks: JoinSet<()>,
    /// The token of each request running on a task of its own, by id, for the peer's cancellations.
    running: Arc<Running>,
    /// The dispatcher's stream methods, if it has any, and the subscriptions this connection serves.
    streams: Option<Arc<Streams>>,
    /// An item held back for a subscriber of ours with no room: nothing more is read until it has some.
    stall: Option<Box<crate::subscribe::Stall>>,
    served: Arc<Served>,
    /// The notification task's queue and the task, started with the first notification (most connections never
    /// get one).
    notes: Option<(mpsc::Sender<Note>, tokio::task::JoinHandle<()>)>,
    /// How many notifications have been handed to the notification task, and how many it has run: a request
    /// read after notifications starts once they have run (a peer that notifies, then asks, sees the effect).
    notes_queued: u64,
    notes_done: Arc<NotesDone>,
    draining: bool,
    /// The input has ended (with [`OnEof::Finish`]): no more reading, only finishing.
    ended: bool,
    /// Reading is paused by the connection's limit on calls in flight (logged once per pause).
    paused: bool,
    /// Calls wait for the server's limit on calls in flight across connections (logged once per wait).
    stalled: bool,
    /// Where the answers of calls answered in this loop are written, each split off as it is done: one
    /// allocation serves many answers. Let go whenever the loop waits, so an idle connection holds none.
    out: BytesMut,
    /// The time the calls started in this turn of the loop start at: read once for all of them (the calls of
    /// one read start together), forgotten whenever the loop waits.
    now: Option<tokio::time::Instant>,
}

impl Drop for ReadLoop<'_> {
    fn drop(&mut self) {
        // Closed for any other reason than the peer finishing: queued notifications go with the connection.
        if let Some((_, task)) = self.notes.take() {
            task.abort();
        }
    }
}

/// The permits one call holds while it runs (or, for a notification, waits its turn): its connection's, and
/// the server's across connections when there is such a bound.
struct Permit {
    _connection: OwnedSemaphorePermit,
    _total: Option<OwnedSemaphorePermit>,
}

impl<'a> ReadLoop<'a> {
    fn new(shared: &'a Arc<Shared>, dispatch: Arc<dyn Dispatch>, cx: Context, config: &'a Config) -> ReadLoop<'a> {
        let streams = config.streams.clone();
        ReadLoop {
            shared,
            dispatch,
            cx,
            config,
            permits: Arc::new(Semaphore::new(config.max_in_flight)),
            backlog: VecDeque::new(),
            tasks: JoinSet::new(),
            running: Arc::default(),
            streams,
            stall: None,
            served: Arc::default(),
            notes: None,
            notes_queued: 0,
            notes_done: Arc::default(),
            draining: false,
            ended: false,
            paused: false,
            stalled: false,
            out: BytesMut::new(),
            now: None,
        }
    }

    /// Reads and dispatches until the connection ends, starting with the bytes in `buf`; `Ok` says why it
    /// ended normally.
    async fn run<R: FrameRead>(
        &mut self,
        mut reader: R,
        shutdown: CancellationToken,
        on_eof: OnEof,
    ) -> Result<&'static str, Error> {
        let closed = self.shared.closed.clone();
        let idle_timeout = self.config.idle_timeout;
        // Boxed: most connections have no idle timeout, and their task need not make room for a timer.
        let mut idle = idle_timeout.map(|limit| Box::pin(tokio::time::sleep(limit)));
        // Made once: a fresh wait per turn of the loop joins and leaves the tokens' waiter lists every time.
        let mut closed = pin!(Cancelled::new(closed.cancelled()));
        let mut shutdown = pin!(Cancelled::new(shutdown.cancelled()));
        loop {
            self.start_ready();
            // Forget finished tasks (the task set keeps their results until asked).
            if !self.tasks.is_empty() {
                while self.tasks.try_join_next().is_some() {}
            }
            let finishing = (self.draining || self.ended) && self.backlog.is_empty();
            if finishing && self.idle() {
                return Ok(if self.draining { "the server shut down" } else { "the peer finished sending" });
            }
            // With calls of ours waiting for the peer's answers, reading never pauses: the answers may sit behind
            // the peer's own calls, and handlers waiting for them would wait for ever (a deadlock). The peer's
            // calls then queue up to OVERFLOW times the limit, and past that are refused (see `on_frame`).
            let room = (self.backlog.len() < self.config.max_in_flight || !self.shared.calls().pending.is_empty())
                && self.stall.is_none();
            if room {
                self.paused = false;
                match reader.next_frame() {
                    Ok(Some(frame)) => {
                        if let Some(reply) = self.on_frame(frame)? {
                            // Rare paths are boxed, here and below: an idle connection's task keeps no room
                            // for them.
                            let _ = Box::pin(self.shared.send(reply)).await;
                        }
                        continue;
                    }
                    Ok(None) => {}
                    Err(broken) => {
                        Box::pin(self.on_broken_stream(&broken)).await;
                        return Err(Error::Broken(broken.reason));
                    }
                }
            } else if !std::mem::replace(&mut self.paused, true) {
                let limit = self.config.max_in_flight;
                tracing::debug!(limit, "max_in_flight calls running and as many waiting; reading paused");
            }
            let max_in_flight = u32::try_from(self.config.max_in_flight).unwrap_or(u32::MAX);
            let permits = self.permits.clone();
            // Answers written so far keep their part of the chunk; the loop keeps none while it waits.
            self.out = BytesMut::new();
            self.now = None;
            // Calls wait to start while the write queue is full (the peer reads slowly): their answers would
            // only wait there (see `start_ready`).
            let queue_full = self.write_queue_full();
            let shared = self.shared.clone();
            let stalled = self.stall.as_ref().map(|stall| stall.to.clone());
            tokio::select! {
                biased;
                () = &mut closed => return Ok("closed locally"),
                // The subscriber an item was held back for has room again (or has gone).
                room = async { stalled.as_ref()?.reserve().await.ok() }, if stalled.is_some() => {
                    self.shared.stalled.store(false, Ordering::Release);
                    if let Some(stall) = self.stall.take() {
                        match room {
                            Some(room) => room.send(stall.item),
                            None => self.shared.end_stalled(*stall),
                        }
                    }
                }
                // A call of ours needs its answer read: the subscription that holds the connection up ends.
                () = shared.call_started.notified(), if stalled.is_some() => {
                    self.shared.stalled.store(false, Ordering::Release);
                    if let Some(stall) = self.stall.take() {
                        self.shared.end_stalled(*stall);
                    }
                }
                () = &mut shutdown, if !self.draining => Box::pin(self.start_draining()).await,
                // Finishing: wake when every permit is back (all calls answered).
                all = permits.acquire_many(max_in_flight), if finishing => drop(all),
                room = shared.tx.reserve(), if queue_full => {
                    if room.is_err() {
                        return Ok("closed locally");
                    }
                }
                permit = acquire(self.permits.clone(), self.config.total.clone()), if !self.backlog.is_empty() && !queue_full => {
                    if let Some(permit) = permit {
                        self.start_next(Some(permit));
                    }
                }
                read = reader.read(), if room && !self.ended => match read {
                    Ok(0) if reader.partial() == 0 && on_eof == OnEof::Finish => self.ended = true,
                    Ok(0) if reader.partial() == 0 => {
                        self.finish_notifications();
                        return Ok("the peer closed the connection");
                    }
                    Ok(0) => {
                        return Err(Error::Broken(format!(
                            "the stream ended inside a message ({} bytes of it read)",
                            reader.partial()
                        )));
                    }
                    Ok(_) => {
                        if let (Some(idle), Some(limit)) = (&mut idle, idle_timeout) {
                            idle.as_mut().reset(tokio::time::Instant::now() + limit);
                        }
                    }
                    Err(e) => return Err(Error::Io(e)),
                },
                () = idle_expired(&mut idle), if idle.is_some() && !finishing => {
                    let limit = idle_timeout.unwrap_or_default();
                    if self.idle() && self.backlog.is_empty() && self.shared.calls().pending.is_empty() {
                        tracing::info!(?limit, "closing a connection that was idle too long");
                        return Ok("the connection was idle too long");
                    }
                    if let Some(idle) = &mut idle {
                        idle.as_mut().reset(tokio::time::Instant::now() + limit);
                    }
                }
            }
        }
    }

    /// The peer has closed the connection: the calls it made go unanswered, but the notifications it sent
    /// still run, in order (they want no answer; dropping them would lose what the peer sent last). They finish
    /// in the background after the connection has closed, each under the handler timeout.
    fn finish_notifications(&mut self) {
        let rest: Vec<(ByteString, Params)> = self
            .backlog
            .drain(..)
            .filter_map(|work| match work {
                Work::Notification { method, params } => Some((method, params)),
                Work::Request { .. } | Work::Whole(_) | Work::Subscribe { .. } => None,
            })
            .collect();
        let running = self.notes.take().map(|(notes, task)| {
            drop(notes);
            task
        });
        if rest.is_empty() && running.is_none() {
            return;
        }
        let (dispatch, cx, limit) = (self.dispatch.clone(), self.cx.clone(), self.config.handler_timeout);
        let (protocol, depth) = (self.shared.protocol.clone(), self.config.max_depth);
        tokio::spawn(async move {
            if let Some(task) = running {
                let _ = task.await;
            }
            for (method, params) in rest {
                run_notification(&*protocol, &*dispatch, &cx, limit, depth, &method, params).await;
            }
        });
    }

    /// No call of the peer's is running or waiting to be answered.
    fn idle(&self) -> bool {
        self.permits.available_permits() == self.config.max_in_flight
    }

    /// True when work that writes an answer is next in the backlog and the write queue has no room for one.
    fn write_queue_full(&self) -> bool {
        matches!(self.backlog.front(), Some(Work::Request { .. } | Work::Whole(_) | Work::Subscribe { .. }))
            && self.shared.tx.capacity() == 0
    }

    /// Starts backlog work while permits are free, in arrival order. Work that answers waits while the write
    /// queue is full: its answer would have nowhere to go but a task of its own, holding a permit, waiting for
    /// room (the queue and the connection's limit on calls in flight already bound what waits).
    fn start_ready(&mut self) {
        while !self.backlog.is_empty() && !self.write_queue_full() {
            // A request answered at its first poll never waits, so it need not hold permits (taking and returning
            // one locks its semaphore): they are taken only for a call that goes on.
            if self.permits.available_permits() > 0
                && self.config.total.as_ref().is_none_or(|total| total.available_permits() > 0)
                && matches!(self.backlog.front(), Some(Work::Request { .. } | Work::Whole(_)))
            {
                self.start_next(None);
                continue;
            }
            let Ok(connection) = self.permits.clone().try_acquire_owned() else {
                return;
            };
            let total = match &self.config.total {
                None => None,
                Some(total) => match total.clone().try_acquire_owned() {
                    Ok(permit) => Some(permit),
                    Err(_) => {
                        if !std::mem::replace(&mut self.stalled, true) {
                            tracing::warn!("max_in_flight_total calls are running on the server; calls wait");
                        }
                        return;
                    }
                },
            };
            self.start_next(Some(Permit { _connection: connection, _total: total }));
        }
    }

    /// Permits for a call started without them that goes on: the connection's (one is free: only this loop
    /// takes them, and it checked), and the server's if one is still free (another connection may have taken
    /// the last one since; then the call waits for one before going on).
    fn spare_permit(&self) -> Option<Permit> {
        let connection = self.permits.clone().try_acquire_owned().ok()?;
        let total = self.config.total.as_ref().and_then(|total| total.clone().try_acquire_owned().ok());
        Some(Permit { _connection: connection, _total: total })
    }

    fn start_next(&mut self, permit: Option<Permit>) {
        self.stalled = false;
        let limit = self.config.handler_timeout;
        match self.backlog.pop_front() {
            Some(Work::Request { id, method, params }) if self.notes_done.count() < self.notes_queued => {
                // Notifications read before this request are still running: it starts after them.
                let after = self.notes_queued;
                let (done, dispatch, cx) = (self.notes_done.clone(), self.dispatch.clone(), self.cx.clone());
                let (protocol, depth) = (self.shared.protocol.clone(), self.config.max_depth);
                let running = self.running.clone();
                let span = rpc_core::trace::server_span(protocol.rpc_system(), &method, Some(&id), &cx);
                let recorded = span.clone();
                let answer = async move {
                    let call = async {
                        done.reached(after).await;
                        let call = start_call(&*protocol, &*dispatch, &cx, depth, &method, params);
                        time_limit(&method, limit, call).await
                    };
                    let result = running.run(&id, &method, call).await;
                    if let Err(fault) = &result {
                        rpc_core::trace::record_fault(&recorded, fault);
                    }
                    Some(answer_bytes(&*protocol, &id, &method, result, &mut BytesMut::new()))
                };
                self.spawn_answer(permit, answer.instrument(span));
            }
            Some(Work::Request { id, method, params }) => {
                let shared_ref: &'a Arc<Shared> = self.shared;
                let protocol = &*shared_ref.protocol;
                let span = rpc_core::trace::server_span(protocol.rpc_system(), &method, Some(&id), &self.cx);
                let mut call = span.in_scope(|| {
                    start_call(protocol, &*self.dispatch, &self.cx, self.config.max_depth, &method, params)
                });
                let shared = self.shared.clone();
                // Most calls are answered at their first poll: answer those here, without a task (spawning,
                // scheduling and joining one costs more than a small call). The others go on in a task of their
                // own, which polls them again with its own waker. Every poll sees the call's deadline.
                let now = *self.now.get_or_insert_with(tokio::time::Instant::now);
                let limit = rpc_core::encoding::call_limit_at(now, limit);
                let mut noop = std::task::Context::from_waker(std::task::Waker::noop());
                let deadline = limit.map(|(deadline, _)| deadline);
                let first =
                    span.in_scope(|| rpc_core::within_deadline(deadline, || Pin::new(&mut call).poll(&mut noop)));
                if let std::task::Poll::Ready(result) = first {
                    if let Err(fault) = &result {
                        rpc_core::trace::record_fault(&span, fault);
                    }
                    match shared.tx.try_send(answer_bytes(protocol, &id, &method, result, chunked(&mut self.out))) {
                        Err(mpsc::error::TrySendError::Full(answer)) => {
                            // The write queue is full: wait for room holding the permit (the backpressure).
                            let permit = permit.or_else(|| self.spare_permit());
                            self.tasks.spawn(async move {
                                let _ = shared.send(answer).await;
                                drop(permit);
                            });
                        }
                        Ok(()) | Err(mpsc::error::TrySendError::Closed(_)) => drop(permit),
                    }
                    return;
                }
                let running = self.running.clone();
                let recorded = span.clone();
                let answer = async move {
                    let result =
                        running.run(&id, &method, rpc_core::encoding::time_limit_at(&method, limit, call)).await;
                    if let Err(fault) = &result {
                        rpc_core::trace::record_fault(&recorded, fault);
                    }
                    Some(answer_bytes(&*shared.protocol, &id, &method, result, &mut BytesMut::new()))
                };
                self.spawn_answer(permit, answer.instrument(span));
            }
            Some(Work::Subscribe { id, method, params, notification }) => {
                self.start_subscription(permit, id, method, params, notification)
            }
            Some(Work::Whole(frame)) => {
                let limits = Limits { max_depth: self.config.max_depth, handler_timeout: self.config.handler_timeout };
                let answer = self.shared.protocol.serve_whole(&self.dispatch, frame, self.cx.clone(), limits);
                self.spawn_answer(permit, answer);
            }
            Some(Work::Notification { method, params }) => {
                let Some(permit) = permit.or_else(|| self.spare_permit()) else {
                    tracing::error!("no permit for a notification; it was dropped");
                    return;
                };
                let (notes, _) = self.notes.get_or_insert_with(|| {
                    // Every queued notification holds a permit, so this queue never holds more than max_in_flight.
                    let (notes, rx) = mpsc::channel(self.config.max_in_flight);
                    let (dispatch, cx, depth) = (self.dispatch.clone(), self.cx.clone(), self.config.max_depth);
                    let (protocol, done) = (self.shared.protocol.clone(), self.notes_done.clone());
                    let task = tokio::spawn(run_notifications(rx, protocol, dispatch, cx, limit, depth, done));
                    (notes, task)
                });
                self.notes_queued += 1;
                if notes.try_send((method, params, permit)).is_err() {
                    self.notes_done.add_one();
                    tracing::error!("the notification task has stopped; a notification was dropped");
                }
            }
            None => drop(permit),
        }
    }

    /// Starts a subscription on a task of its own: the stream method's stream is made (as a call is answered:
    /// after the notifications read before it, under the handler timeout, cancellable), the subscribe call is
    /// answered with its id, the permit given back, and then the items are sent until the stream ends.
    fn start_subscription(
        &mut self,
        permit: Option<Permit>,
        id: RequestId,
        method: ByteString,
        params: Params,
        notification: Arc<str>,
    ) {
        let permit = permit.or_else(|| self.spare_permit());
        let protocol = self.shared.protocol.clone();
        let Some((place, streams)) = self
            .streams
            .clone()
            .and_then(|streams| Some((self.served.reserve(self.config.max_subscriptions)?, streams)))
        else {
            let max = self.config.max_subscriptions;
            tracing::warn!(method = &*method, max, "a subscription over the connection's limit; refused");
            let fault = Fault::internal_error(format!(
                "this connection holds {max} subscriptions, the most it may: end one before subscribing again"
            ));
            let answer = answer_bytes(&*protocol, &id, &method, Err(fault), &mut BytesMut::new());
            let shared = self.shared.clone();
            self.tasks.spawn(async move {
                let _ = shared.send(answer).await;
                drop(permit);
            });
            return;
        };
        let (after, done) = (self.notes_queued, self.notes_done.clone());
        let (dispatch, cx, depth, limit) =
            (self.dispatch.clone(), self.cx.clone(), self.config.max_depth, self.config.handler_timeout);
        let (running, served, shared) = (self.running.clone(), self.served.clone(), self.shared.clone());
        let span = rpc_core::trace::server_span(protocol.rpc_system(), &method, Some(&id), &cx);
        self.tasks.spawn(async move {
            let subscribed = async {
                let started = async {
                    done.reached(after).await;
                    let values = match params {
                        Params::Values(values) => values,
                        Params::Raw(raw) => protocol.read_params(raw.bytes(), depth)?,
                    };
                    time_limit(&method, limit, rpc_core::encoding::serve_subscribe(&*dispatch, &method, values, cx))
                        .await
                };
                let result = running.run(&id, &method, started).await;
                if let Err(fault) = &result {
                    rpc_core::trace::record_fault(&tracing::Span::current(), fault);
                }
                result
            };
            let registered = match subscribed.instrument(span).await {
                Ok(items) => {
                    let started = crate::subscribe::Started { items, place, method: method.to_string(), notification };
                    started.register(&served, &streams)
                }
                Err(fault) => {
                    let _ = shared.send(answer_bytes(&*protocol, &id, &method, Err(fault), &mut BytesMut::new())).await;
                    return;
                }
            };
            let answer = Ok(Box::new(Value::from(registered.id)) as Reply);
            let answer = answer_bytes(&*protocol, &id, &method, answer, &mut BytesMut::new());
            // A subscription stopped while its answer waits for room (a peer that does not read, and a shutdown)
            // ends here, and says so at once.
            let stop = registered.stop_token();
            let sent = tokio::select! {
                biased;
                () = stop.cancelled() => None,
                sent = shared.send(answer) => Some(sent),
            };
            drop(permit);
            if matches!(sent, Some(Ok(()))) {
                registered.run(shared).await;
            }
        });
    }

    /// Works out a call's answer on a task of its own, holding `permit` (the connection's, and the server's
    /// across connections), and queues it. A call started while the server-wide bound had room, which another
    /// connection took since, waits for its turn first; waiting for room in the write queue, holding the permit,
    /// is the backpressure.
    fn spawn_answer(&mut self, permit: Option<Permit>, answer: impl Future<Output = Option<Bytes>> + Send + 'static) {
        let mut permit = permit.or_else(|| self.spare_permit());
        let total = self.config.total.clone();
        let (shared, answering) = (self.shared.clone(), Answering::new(self.shared.clone()));
        self.tasks.spawn(async move {
            if let (Some(permit), Some(total)) = (&mut permit, total)
                && permit._total.is_none()
            {
                permit._total = total.acquire_owned().await.ok();
            }
            let answer = answer.await;
            drop(answering);
            if let Some(answer) = answer {
                let _ = shared.send(answer).await;
            }
            drop(permit);
        });
    }

    /// Routes one whole message, cut from the stream but not read yet: requests keep their params and responses
    /// their results in wire bytes, for the typed path. Returns the reply to send, if it gets one here (a
    /// request refused while shutting down, or an invalid one). A message that is not one of the encoding's
    /// closes the connection.
    fn on_frame(&mut self, frame: Bytes) -> Result<Option<Bytes>, Error> {
        match self.shared.protocol.classify(frame, self.config.max_depth) {
            Incoming::Request { id, .. } if self.draining => return Ok(Some(self.refusal(&id))),
            Incoming::Request { id, method, .. } if self.overflowing() => {
                let limit = self.config.max_in_flight;
                tracing::warn!(method = &*method, limit, "calls waiting on this connection over the limit; refused");
                let fault = Fault::internal_error(format!(
                    "the server is busy: {} calls are running or waiting on this connection; retry later",
                    self.backlog.len() + limit
                ));
                let protocol = &*self.shared.protocol;
                return Ok(Some(answer_bytes(protocol, &id, &method, Err(fault), chunked(&mut self.out))));
            }
            Incoming::Request { id, method, params } => match self.streams.as_ref().and_then(|s| s.route(&method)) {
                None => self.backlog.push_back(Work::Request { id, method, params }),
                Some(Route::Subscribe { notification }) => {
                    self.backlog.push_back(Work::Subscribe { id, method, params, notification });
                }
                Some(Route::Unsubscribe) => return Ok(self.unsubscribe(id, &method, &params)),
            },
            // A message of one of this side's subscriptions (or, of another shape, a notification as any other).
            Incoming::Notification { method, params } if self.shared.subscribed_to(&method) => {
                match self.shared.protocol.read_pushed(&params, self.config.max_depth) {
                    Some(pushed) => match self.shared.deliver(&method, pushed) {
                        Ok(true) => {}
                        Ok(false) => {
                            tracing::debug!(method = &*method, "a message of no subscription of ours; dropped")
                        }
                        Err(stall) => {
                            self.shared.stalled.store(true, Ordering::Release);
                            // A wake-up left from an earlier stall is no call of now.
                            let _ = futures_util::FutureExt::now_or_never(self.shared.call_started.notified());
                            // A call registered since `deliver` looked (the lock orders the two: it saw the flag, or
                            // this sees the call) needs the connection read.
                            if self.shared.calls().pending.is_empty() {
                                tracing::debug!(method = &*method, "a subscriber has no room; reading paused");
                                self.stall = Some(stall);
                            } else {
                                self.shared.stalled.store(false, Ordering::Release);
                                self.shared.end_stalled(*stall);
                            }
                        }
                    },
                    None => self.backlog.push_back(Work::Notification { method, params }),
                }
            }
            Incoming::Notification { method, .. } if self.overflowing() => {
                tracing::error!(
                    method = &*method,
                    "notifications waiting on this connection over the limit; one was dropped"
                );
            }
            Incoming::Notification { method, .. } if self.draining => {
                tracing::debug!(method = &*method, "shutting down: a notification was dropped");
            }
            Incoming::Notification { method, params } => self.backlog.push_back(Work::Notification { method, params }),
            Incoming::Response { id, answer } => self.shared.answer(id, answer),
            Incoming::Cancel(id) => return Ok(self.cancel(&id)),
            Incoming::Whole(_) if self.draining => {
                let fault = Fault::internal_error("the server is shutting down");
                return Ok(self.shared.protocol.encode_error(None, &fault));
            }
            Incoming::Whole(frame) => self.backlog.push_back(Work::Whole(frame)),
            Incoming::Reply(reply) => return Ok(Some(reply)),
            Incoming::Ignored => {}
            Incoming::Invalid(reason) => {
                tracing::warn!(reason, "closing the connection: not a {} message", self.shared.protocol.name());
                return Err(Error::Invalid(reason));
            }
        }
        Ok(None)
    }

    /// True when the peer's calls waiting to start have reached OVERFLOW times the limit (reading goes on past
    /// the limit only while calls of ours wait for answers).
    /// The peer cancels its call `id`: one waiting in the backlog is answered here (the reply returned), one
    /// running is told to stop (its task answers); any other id is ignored.
    fn cancel(&mut self, id: &RequestId) -> Option<Bytes> {
        let waiting =
            self.backlog.iter().position(|work| matches!(work, Work::Request { id: queued, .. } if queued == id));
        if let Some(Work::Request { id, method, .. }) = waiting.and_then(|at| self.backlog.remove(at)) {
            tracing::debug!(%id, %method, "call cancelled by the peer before it started");
            let fault = Fault::request_cancelled(&method);
            return Some(answer_bytes(&*self.shared.protocol, &id, &method, Err(fault), &mut BytesMut::new()));
        }
        if !self.running.cancel(id) {
            tracing::debug!(%id, "a cancellation for no call waiting or running; ignored");
        }
        None
    }

    /// The peer ends its subscription `params[0]` to a stream whose unsubscribe name is `method`: answered
    /// `true` once its task has stopped (nothing more of it can follow the answer), `false` at once for an id of
    /// no such subscription on this connection.
    fn unsubscribe(&mut self, id: RequestId, method: &str, params: &Params) -> Option<Bytes> {
        let protocol = &*self.shared.protocol;
        let values = match params {
            Params::Values(values) => Ok(values.clone()),
            Params::Raw(raw) => protocol.read_params(raw.bytes(), self.config.max_depth),
        };
        let subscription = match values.as_deref() {
            Ok([subscription]) => subscription.as_u64(),
            Ok(_) => {
                let fault = Fault::invalid_params(format!("{method} takes one param, the subscription id"));
                return Some(answer_bytes(protocol, &id, method, Err(fault), chunked(&mut self.out)));
            }
            Err(fault) => return Some(answer_bytes(protocol, &id, method, Err(fault.clone()), chunked(&mut self.out))),
        };
        let Some(stopped) = subscription.and_then(|subscription| self.served.stop(subscription, method)) else {
            let answer = Ok(Box::new(Value::Bool(false)) as Reply);
            return Some(answer_bytes(protocol, &id, method, answer, chunked(&mut self.out)));
        };
        let (shared, method) = (self.shared.clone(), method.to_owned());
        self.tasks.spawn(async move {
            stopped.cancelled().await;
            let answer = Ok(Box::new(Value::Bool(true)) as Reply);
            let _ = shared.send(answer_bytes(&*shared.protocol, &id, &method, answer, &mut BytesMut::new())).await;
        });
        None
    }

    fn overflowing(&self) -> bool {
        self.backlog.len() >= self.config.max_in_flight.saturating_mul(OVERFLOW)
    }

    /// Logs bytes that break the stream, and answers the request they were in if the encoding can.
    async fn on_broken_stream(&self, broken: &crate::framing::Broken) {
        tracing::warn!(reason = broken.reason, "closing the connection: the stream cannot be read further");
        if let Some(reply) = self.shared.protocol.encode_error(broken.id.as_ref(), &broken.fault) {
            let _ = self.shared.send(reply).await;
        }
    }

    async fn start_draining(&mut self) {
        self.draining = true;
        // Subscriptions end, each with one last message that says why.
        let fault = Fault::internal_error("the server is shutting down");
        for (subscription, notification, stopped) in self.served.stop_all() {
            stopped.cancelled().await;
            let mut frame = BytesMut::new();
            let end = crate::protocol::Push::End(Some(&fault));
            let subscription = Value::from(subscription);
            if self.shared.protocol.encode_pushed(&notification, &subscription, end, &mut frame).is_ok() {
                let _ = self.shared.send(frame.freeze()).await;
            }
        }
        for work in std::mem::take(&mut self.backlog) {
            if let Work::Request { id, .. } | Work::Subscribe { id, .. } = work {
                let refusal = self.refusal(&id);
                let _ = self.shared.send(refusal).await;
            }
        }
    }

    /// The answer to a request that comes while the server shuts down.
    fn refusal(&mut self, id: &RequestId) -> Bytes {
        let fault = Fault::internal_error("the server is shutting down");
        answer_bytes(&*self.shared.protocol, id, "", Err(fault), chunked(&mut self.out))
    }
}

/// Waits for the idle timer, if there is one (for ever if not).
async fn idle_expired(idle: &mut Option<Pin<Box<tokio::time::Sleep>>>) {
    match idle {
        Some(sleep) => sleep.as_mut().await,
        None => std::future::pending().await,
    }
}

/// Waits for a connection permit, then for a permit of the server's total (if it has such a bound).
async fn acquire(connection: Arc<Semaphore>, total: Option<Arc<Semaphore>>) -> Option<Permit> {
    let connection = connection.acquire_owned().await.ok()?;
    let total = match total {
        Some(total) => Some(total.acquire_owned().await.ok()?),
        None => None,
    };
    Some(Permit { _connection: connection, _total: total })
}

/// Runs notifications one at a time, in arrival order, each for up to `limit`.
async fn run_notifications(
    mut rx: mpsc::Receiver<Note>,
    protocol: Arc<dyn Protocol>,
    dispatch: Arc<dyn Dispatch>,
    cx: Context,
    limit: Option<Duration>,
    max_depth: usize,
    done: Arc<NotesDone>,
) {
    while let Some((method, params, permit)) = rx.recv().await {
        run_notification(&*protocol, &*dispatch, &cx, limit, max_depth, &method, params).await;
        done.add_one();
        drop(permit);
    }
}

/// Runs one notification to its end (or its time limit); a fault has nowhere to go but the log.
async fn run_notification(
    protocol: &dyn Protocol,
    dispatch: &dyn Dispatch,
    cx: &Context,
    limit: Option<Duration>,
    max_depth: usize,
    method: &str,
    params: Params,
) {
    let call = start_call(protocol, dispatch, cx, max_depth, method, params);
    if let Err(fault) = time_limit(method, limit, call).await {
        tracing::debug!(method, code = fault.code, message = fault.message, "a notification failed");
    }
}

/// Writes queued messages, flushing whenever the queue runs empty. On close, writes what is still queued for
/// up to [`CLOSE_GRACE`], then shuts the write half down.
async fn write_loop<W: FrameWrite>(mut writer: W, mut rx: mpsc::Receiver<Bytes>, shared: &Shared) -> io::Result<()> {
    // Made once: a fresh wait per message joins and leaves the token's waiter list every time.
    let mut closed = pin!(Cancelled::new(shared.closed.cancelled()));
    let keepalive = writer.keepalive();
    loop {
        let first = tokio::select! {
            biased;
            frame = rx.recv() => frame,
            () = &mut closed => None,
            () = sleep_or_never(keepalive) => {
                writer.ping().await?;
                continue;
            }
        };
        let Some(first) = first else { break };
        let mut batch = pin!(write_batch(&mut writer, first, &mut rx, shared));
        tokio::select! {
            written = &mut batch => written?,
            () = &mut closed => match Box::pin(tokio::time::timeout(CLOSE_GRACE, &mut batch)).await {
                Ok(written) => written?,
                // Stuck mid-message on a peer that does not read: nothing more can be sent.
                Err(_) => return Ok(()),
            },
        }
    }
    let rest = async {
        while let Ok(frame) = rx.try_recv() {
            writer.write(frame, true).await?;
        }
        writer.shutdown().await
    };
    match Box::pin(tokio::time::timeout(CLOSE_GRACE, rest)).await {
        Ok(Err(e)) if !is_gone(&e) => Err(e),
        _ => Ok(()),
    }
}

/// Sleeps for `interval`, or for ever without one.
async fn sleep_or_never(interval: Option<Duration>) {
    match interval {
        Some(interval) => tokio::time::sleep(interval).await,
        None => std::future::pending().await,
    }
}

/// Writes `first` and whatever else is queued behind it, then flushes (the writer gathers small messages
/// written together into one write).
async fn write_batch<W: FrameWrite>(
    writer: &mut W,
    first: Bytes,
    rx: &mut mpsc::Receiver<Bytes>,
    shared: &Shared,
) -> io::Result<()> {
    let mut frame = first;
    let mut waited = false;
    loop {
        let mut next = rx.try_recv().ok();
        if next.is_none() && !waited && shared.answering.load(Ordering::Relaxed) > 0 {
            // Other calls are about to answer (a pipelining peer's, started together): let their tasks run once
            // so that their answers join this write. Once per batch, so a slow handler delays nothing.
            waited = true;
            tokio::task::yield_now().await;
            next = rx.try_recv().ok();
        }
        writer.write(frame, next.is_some()).await?;
        match next {
            Some(more) => frame = more,
            None => break,
        }
    }
    writer.flush().await
}

/// A wait on a cancellation token that is cheap to poll again. A pending `WaitForCancellationFuture` locks the
/// token on every poll, and a connection's loops poll theirs on every wakeup (every message); this one polls it
/// only the first time and after it has woken the task, and otherwise costs an atomic load.
pub(crate) struct Cancelled<F> {
    inner: Pin<Box<F>>,
    flag: Arc<WakeFlag>,
    polled: bool,
    /// Once cancelled, it stays ready (the loops poll it again after it has fired).
    done: bool,
}

/// Set by the token's wake-up, which it passes on to the task.
#[derive(Default)]
struct WakeFlag {
    fired: std::sync::atomic::AtomicBool,
    task: futures_util::task::AtomicWaker,
}

impl std::task::Wake for WakeFlag {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.fired.store(true, Ordering::Release);
        self.task.wake();
    }
}

impl<F: std::future::Future<Output = ()>> Cancelled<F> {
    pub(crate) fn new(inner: F) -> Cancelled<F> {
        Cancelled { inner: Box::pin(inner), flag: Arc::default(), polled: false, done: false }
    }
}

impl<F: std::future::Future<Output = ()>> std::future::Future for Cancelled<F> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<()> {
        let this = &mut *self;
        if this.done {
            return std::task::Poll::Ready(());
        }
        this.flag.task.register(cx.waker());
        if this.polled && !this.flag.fired.swap(false, Ordering::Acquire) {
            return std::task::Poll::Pending;
        }
        this.polled = true;
        let waker = std::task::Waker::from(this.flag.clone());
        let poll = this.inner.as_mut().poll(&mut std::task::Context::from_waker(&waker));
        this.done = poll.is_ready();
        poll
    }
}

/// The count of notifications a connection has run, with a wake-up for requests waiting on it.
#[derive(Default)]
struct NotesDone {
    count: std::sync::atomic::AtomicU64,
    wake: tokio::sync::Notify,
}

impl NotesDone {
    fn count(&self) -> u64 {
        self.count.load(Ordering::Acquire)
    }

    fn add_one(&self) {
        self.count.fetch_add(1, Ordering::AcqRel);
        self.wake.notify_waiters();
    }

    /// Waits until `n` notifications have run.
    async fn reached(&self, n: u64) {
        let mut woken = pin!(self.wake.notified());
        loop {
            woken.as_mut().enable();
            if self.count() >= n {
                return;
            }
            woken.as_mut().await;
            woken.set(self.wake.notified());
        }
    }
}

/// Counts a handler task in [`Shared::answering`] until its answer is in hand (or the task is dropped).
struct Answering(Arc<Shared>);

impl Answering {
    fn new(shared: Arc<Shared>) -> Answering {
        shared.answering.fetch_add(1, Ordering::Relaxed);
        Answering(shared)
    }
}

impl Drop for Answering {
    fn drop(&mut self) {
        self.0.answering.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Errors that only say the peer has gone, which is no news when closing.
fn is_gone(e: &io::Error) -> bool {
    matches!(e.kind(), io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset | io::ErrorKind::NotConnected)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A protocol whose messages are method names (enough for tests of the calls' bookkeeping).
    #[derive(Debug)]
    struct Names;

    impl Protocol for Names {
        fn rpc_system(&self) -> &'static str {
            "test"
        }
        fn name(&self) -> &'static str {
            "names"
        }
        fn framing(&self, max: usize, _: usize) -> crate::Framing {
            crate::Framing::lines(max)
        }
        fn classify(&self, _: Bytes, _: usize) -> Incoming {
            Incoming::Ignored
        }
        fn encode_request(
            &self,
            _: Option<u32>,
            m: &str,
            _: OutParams<'_>,
            dst: &mut BytesMut,
        ) -> Result<(), rpc_core::Error> {
            dst.extend_from_slice(m.as_bytes());
            Ok(())
        }
        fn encode_params(&self, _: &[Param<'_>]) -> Result<Bytes, rpc_core::Error> {
            Ok(Bytes::new())
        }
        fn encode_response(&self, _: &RequestId, m: &str, _: Result<Reply, Fault>, dst: &mut BytesMut) {
            dst.extend_from_slice(m.as_bytes());
        }
        fn encode_error(&self, _: Option<&RequestId>, _: &Fault) -> Option<Bytes> {
            None
        }
        fn deserialize(
            &self,
            _: Part,
            _: &[u8],
            _: usize,
            _: &mut dyn FnMut(&mut dyn rpc_core::encoding::erased_serde::Deserializer<'_>) -> bool,
        ) -> bool {
            false
        }
        fn read_params(&self, _: &[u8], _: usize) -> Result<Vec<Value>, Fault> {
            Ok(Vec::new())
        }
        fn read_value(&self, _: Part, _: &[u8], _: usize) -> Result<Value, rpc_core::Error> {
            Ok(Value::Nil)
        }
    }

    fn session(config: Config) -> Session {
        Session::new(Arc::new(Names), config, Arc::new(rpc_core::Router::new()), Context::new())
    }

    fn config() -> Config {
        Config { max_depth: 16, max_in_flight: 4, write_queue: 4, call_timeout: None, ..Config::new(1 << 20) }
    }

    #[tokio::test]
    async fn ids_wrap_and_skip_calls_in_flight() {
        let session = session(config());
        let shared = session.shared();
        let (tx, _rx) = oneshot::channel();
        shared.calls().pending.insert(0, tx);
        shared.calls().next_id = u32::MAX;
        let peer = session.peer();
        // The call to u32::MAX is queued; the next id would be 0, which is in flight, so it is 1.
        let first = tokio::spawn({
            let peer = peer.clone();
            async move { peer.call("a", vec![]).await }
        });
        let second = tokio::spawn({
            let peer = peer.clone();
            async move { peer.call("b", vec![]).await }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        let mut ids: Vec<u32> = shared.calls().pending.keys().copied().collect();
        ids.sort_unstable();
        assert_eq!(ids, [0, 1, u32::MAX]);
        shared.close("test over");
        for call in [first, second] {
            let err = call.await.unwrap().unwrap_err();
            assert_eq!(err.to_string(), "transport error: connection closed: test over");
        }
        assert!(peer.is_closed());
    }

    #[tokio::test]
    async fn a_dropped_call_forgets_its_id() {
        let session = session(config());
        let shared = session.shared();
        let peer = session.peer();
        let call = tokio::spawn(async move { peer.call("a", vec![]).await });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(shared.calls().pending.len(), 1);
        call.abort();
        let _ = call.await;
        assert!(shared.calls().pending.is_empty());
    }

    #[tokio::test]
    async fn a_cancelled_wait_wakes_its_task_and_stays_ready() {
        let token = CancellationToken::new();
        let mut wait = Box::pin(Cancelled::new(token.clone().cancelled_owned()));
        let mut polls = 0;
        let cancel = {
            let token = token.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(20)).await;
                token.cancel();
            })
        };
        std::future::poll_fn(|cx| {
            polls += 1;
            wait.as_mut().poll(cx)
        })
        .await;
        assert!(polls >= 2, "pending until cancelled, then woken");
        // Polled again once it has fired, it is still ready (the write loop does that).
        let again = std::future::poll_fn(|cx| std::task::Poll::Ready(wait.as_mut().poll(cx))).await;
        assert!(again.is_ready());
        cancel.await.unwrap();
    }

    #[tokio::test]
    async fn calls_time_out() {
        let config = Config { call_timeout: Some(Duration::from_millis(20)), ..config() };
        let session = session(config);
        let err = session.peer().call("a", vec![]).await.unwrap_err();
        assert!(matches!(err, rpc_core::Error::Timeout(d) if d == Duration::from_millis(20)));
        assert!(session.shared().calls().pending.is_empty());
    }
}

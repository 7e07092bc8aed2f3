//! One connection, in either role: the [`Session`] reads messages, runs the calls that come in, and matches the
//! answers to the calls that went out; [`Peer`] is the handle for calling the other side.
//!
//! A connection is two loops in one task, plus a task per call being handled:
//! - the read loop decodes messages. Responses go to the callers waiting for them. Requests and notifications
//!   queue in a backlog and start as permits allow (`max_in_flight` at once on the connection, and on a server
//!   `max_in_flight_total` across its connections); each request runs as its own task, for up to
//!   `handler_timeout`, and queues its response when it finishes, so answers go out in the order calls finish.
//!   Notifications run one at a time on a task of their own (started with the first one), in arrival order
//!   (Neovim's buffer events must be applied in order). When the backlog is as long as `max_in_flight`, the loop
//!   stops reading: the peer's writes back up. With an `idle_timeout`, a peer that sends nothing for that long
//!   while no call is in flight either way is closed.
//! - the write loop takes encoded messages from a queue of `write_queue` entries and writes them, flushing when
//!   the queue runs empty (small answers queued together go out in one write). A peer that does not read fills
//!   its socket, then the queue; handlers wait to queue their answers, holding their permits; the read loop
//!   stops. Memory per connection stays bounded, and a connection waiting between messages holds neither a read
//!   nor a write buffer.
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
use rpc_core::typed::{Answer, Param, Reply, Slot, erased_serde};
use rpc_core::{BoxFuture, Context, Dispatch, Fault, Transport, Value, serve_call, serve_call_typed, time_limit};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::Error;
use crate::codec::{self, Codec, ErrorFormat, Message, typed};

/// The default limit on calls handled at once per connection (as many more wait, read, before the connection
/// stops reading): 128.
pub const DEFAULT_MAX_IN_FLIGHT: usize = 128;
/// The default number of encoded messages queued for writing per connection: 128.
pub const DEFAULT_WRITE_QUEUE: usize = 128;
/// The default time an outgoing call may take, from queueing it to its answer: 30 seconds.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a closing connection goes on writing what was queued before it (e.g. a notification sent just
/// before a client is dropped).
const CLOSE_GRACE: Duration = Duration::from_secs(5);
/// Reads into an empty buffer go through this much stack first.
const PROBE: usize = 4096;
/// Reads ask for at least this much room in the read buffer.
const READ_CHUNK: usize = 16 * 1024;
/// Small messages queued together are gathered into writes of up to this size.
const WRITE_BUFFER: usize = 64 * 1024;

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
    /// Permits for the calls handled at once across every connection of a server (`None`: no such bound).
    pub(crate) total: Option<Arc<Semaphore>>,
    pub(crate) error_format: ErrorFormat,
}

impl Config {
    /// The settings both sides start from; `max_message_size` differs between them.
    pub(crate) fn new(max_message_size: usize) -> Config {
        Config {
            max_message_size,
            max_depth: codec::DEFAULT_MAX_DEPTH,
            max_in_flight: DEFAULT_MAX_IN_FLIGHT,
            write_queue: DEFAULT_WRITE_QUEUE,
            call_timeout: Some(DEFAULT_TIMEOUT),
            handler_timeout: Some(rpc_core::DEFAULT_HANDLER_TIMEOUT),
            idle_timeout: None,
            total: None,
            error_format: ErrorFormat::CodeMessage,
        }
    }
}

/// What a connection's loops and its [`Peer`] handles share.
pub(crate) struct Shared {
    tx: mpsc::Sender<Bytes>,
    calls: Mutex<Calls>,
    closed: CancellationToken,
    call_timeout: Option<Duration>,
    /// The depth limit answers are read with.
    max_depth: usize,
    /// Handler tasks still working out their answer: while there are some, the write loop lets them run once
    /// before writing, so the answers to pipelined calls go out in one write rather than one write each.
    answering: AtomicUsize,
    /// Set once the connection's loops have ended (everything that could be written was, and the write half is
    /// shut down), with a wake-up for [`Peer::shutdown`]'s waiters.
    finished: AtomicBool,
    finished_wake: tokio::sync::Notify,
}

/// A response as it reaches the call waiting for it: its result still in wire bytes (read straight into the
/// caller's type on the typed path), or, for an error or a response read the value way, as values.
pub(crate) enum Answered {
    /// The bytes of a successful result.
    Raw(RawPart),
    /// The result or the peer's error object.
    Value(Result<Value, Value>),
}

impl Answered {
    /// The result as a value, or the peer's error as a fault.
    fn into_value(self, max_depth: usize) -> Result<Value, rpc_core::Error> {
        match self {
            Answered::Raw(raw) => {
                let raw = raw.bytes();
                Codec::new(raw.len(), max_depth).read(raw).map_err(rpc_core::Error::from)
            }
            Answered::Value(Ok(value)) => Ok(value),
            Answered::Value(Err(error)) => Err(rpc_core::Error::Fault(codec::error_to_fault(error))),
        }
    }
}

/// The answer of a typed call, read into the caller's type when it asks.
struct TypedAnswer {
    answered: Answered,
    max_depth: usize,
}

impl Answer for TypedAnswer {
    /// The result read straight from its bytes where they read, else through its value.
    fn read(self: Box<Self>, slot: &mut dyn Slot) -> Result<(), rpc_core::Error> {
        if let Answered::Raw(raw) = &self.answered {
            let mut de = typed::Deserializer::new(raw.bytes(), self.max_depth);
            if slot.deserialize(&mut <dyn erased_serde::Deserializer>::erase(&mut de)).is_ok() && de.end().is_ok() {
                return Ok(());
            }
        }
        slot.set_value(self.answered.into_value(self.max_depth)?)
    }
}

/// The calls waiting for an answer, and why the connection closed once it has.
struct Calls {
    next_id: u32,
    pending: HashMap<u32, oneshot::Sender<Answered>>,
    closed: Option<String>,
}

impl Shared {
    fn calls(&self) -> MutexGuard<'_, Calls> {
        self.calls.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Closes the connection for `reason` (the first reason given wins): waiting calls fail, the loops stop.
    pub(crate) fn close(&self, reason: impl Into<String>) {
        let pending = {
            let mut calls = self.calls();
            calls.closed.get_or_insert_with(|| reason.into());
            std::mem::take(&mut calls.pending)
        };
        // Dropping the senders wakes every waiting caller, who then reads the reason.
        drop(pending);
        self.closed.cancel();
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
        let reason = self.calls().closed.clone().unwrap_or_else(|| "the connection is closed".to_owned());
        Error::Closed(reason).into()
    }

    /// Queues an encoded message for writing, waiting for room in the queue (backpressure).
    async fn send(&self, frame: Bytes) -> Result<(), rpc_core::Error> {
        let frame = match self.tx.try_send(frame) {
            Ok(()) => return Ok(()),
            Err(mpsc::error::TrySendError::Closed(_)) => return Err(self.closed_error()),
            Err(mpsc::error::TrySendError::Full(frame)) => {
                let limit = self.tx.max_capacity();
                tracing::debug!(limit, "the write queue is full (the peer is not reading fast enough); waiting");
                frame
            }
        };
        tokio::select! {
            biased;
            sent = self.tx.send(frame) => sent.map_err(|_| self.closed_error()),
            () = self.closed.cancelled() => Err(self.closed_error()),
        }
    }

    /// Routes a response to the call waiting for it.
    fn answer(&self, id: u32, result: Answered) {
        let waiting = self.calls().pending.remove(&id);
        match waiting {
            Some(tx) => drop(tx.send(result)),
            // A call that timed out or was dropped, or a peer answering an id we never sent.
            None => tracing::debug!(id, "a response for no call in flight; dropped"),
        }
    }
}

/// A handle for calling the other end of a connection: the client a server handler is serving, or the server
/// a client is connected to (both can call each other on MessagePack-RPC).
///
/// A server's handlers find it in their [`Context`] (`cx.get::<Peer>()`), as do a client's own handlers;
/// [`Client::peer`](crate::Client::peer) gives one too. It is cheap to clone, and implements [`Transport`], so a
/// generated client works over it. A handle does not keep its connection open: once the connection has closed,
/// calls fail with [`Error::Closed`] (as [`rpc_core::Error::Transport`]).
///
/// ```no_run
/// use rpc_core::{Context, Value, service};
/// use rpc_msgpack::Peer;
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
///         let peer = cx.get::<Peer>().ok_or_else(|| rpc_core::Fault::internal_error("not on MessagePack-RPC"))?;
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
    /// connection's call timeout. An error reply becomes [`rpc_core::Error::Fault`] (see
    /// [`error_to_fault`](crate::codec::error_to_fault) for how any error object maps to a fault).
    pub async fn call(&self, method: &str, params: Vec<Value>) -> Result<Value, rpc_core::Error> {
        let answer = self.exchange(|id, frame| Ok(codec::encode_request(id, method, &params, frame)?));
        answer.await?.into_value(self.shared.max_depth)
    }

    /// Calls `method` on the typed path (see [`rpc_core::typed`]): the params serialised straight to the wire
    /// (before this returns) and the answer handed back to be read straight into the caller's type, each through
    /// its value where it cannot be. Generated clients call this through [`Transport::call_typed`].
    pub fn call_typed<'a>(
        &'a self,
        method: &'a str,
        params: &[Param<'_>],
    ) -> impl std::future::Future<Output = Result<Box<dyn Answer>, rpc_core::Error>> + Send + 'a {
        let params = codec::typed_params_array(params);
        async move { self.call_encoded(method, &params?).await }
    }

    /// A typed call whose params array is already encoded.
    pub(crate) async fn call_encoded(&self, method: &str, params: &[u8]) -> Result<Box<dyn Answer>, rpc_core::Error> {
        let answered = self.exchange(|id, frame| Ok(codec::encode_request_with(id, method, params, frame)?)).await?;
        Ok(Box::new(TypedAnswer { answered, max_depth: self.shared.max_depth }))
    }

    /// Sends the request `encode` writes for a fresh msgid (registered and encoded before this returns) and
    /// waits for its answer, up to the connection's call timeout.
    fn exchange(
        &self,
        encode: impl FnOnce(u32, &mut BytesMut) -> Result<(), rpc_core::Error>,
    ) -> impl std::future::Future<Output = Result<Answered, rpc_core::Error>> + Send + '_ {
        let sent = self.register().and_then(|(pending, rx)| {
            let mut frame = BytesMut::with_capacity(codec::SMALL_MESSAGE);
            encode(pending.id, &mut frame)?;
            Ok((pending, rx, frame.freeze()))
        });
        let exchange = async move {
            // The guard forgets the call if this future is dropped (timeout, caller gone) before the answer comes.
            let (_pending, rx, frame) = sent?;
            self.shared.send(frame).await?;
            rx.await.map_err(|_| self.shared.closed_error())
        };
        let limit = self.shared.call_timeout;
        async move {
            match limit {
                Some(limit) => {
                    tokio::time::timeout(limit, exchange).await.unwrap_or(Err(rpc_core::Error::Timeout(limit)))
                }
                None => exchange.await,
            }
        }
    }

    /// A fresh msgid with a place for its answer; the guard forgets the call when dropped.
    fn register(&self) -> Result<(PendingGuard<'_>, oneshot::Receiver<Answered>), rpc_core::Error> {
        let (tx, rx) = oneshot::channel();
        let mut calls = self.shared.calls();
        if calls.closed.is_some() {
            drop(calls);
            return Err(self.shared.closed_error());
        }
        // Ids wrap around, skipping any still in flight.
        loop {
            let id = calls.next_id;
            calls.next_id = id.wrapping_add(1);
            if let std::collections::hash_map::Entry::Vacant(slot) = calls.pending.entry(id) {
                slot.insert(tx);
                return Ok((PendingGuard { shared: &self.shared, id }, rx));
            }
        }
    }

    /// Sends a notification: `method` with `params`, wanting no answer. Returns once it is queued for writing
    /// (waiting for room in the write queue, up to the call timeout).
    pub async fn notify(&self, method: &str, params: Vec<Value>) -> Result<(), rpc_core::Error> {
        let mut frame = BytesMut::with_capacity(codec::SMALL_MESSAGE);
        codec::encode_notification(method, &params, &mut frame)?;
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

    /// Closes the connection, giving `reason` to the calls that fail.
    pub(crate) fn close_because(&self, reason: &str) {
        self.shared.close(reason);
    }
}

impl Transport for Peer {
    fn call<'a>(&'a self, method: &'a str, params: Vec<Value>) -> BoxFuture<'a, Result<Value, rpc_core::Error>> {
        Box::pin(Peer::call(self, method, params))
    }

    fn call_typed<'a>(
        &'a self,
        method: &'a str,
        params: &[Param<'_>],
    ) -> BoxFuture<'a, Result<Box<dyn Answer>, rpc_core::Error>> {
        Box::pin(Peer::call_typed(self, method, params))
    }

    fn notify<'a>(&'a self, method: &'a str, params: Vec<Value>) -> BoxFuture<'a, Result<(), rpc_core::Error>> {
        Box::pin(Peer::notify(self, method, params))
    }
}

impl fmt::Debug for Peer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Peer").field("closed", &self.is_closed()).finish_non_exhaustive()
    }
}

/// Removes a call from the pending map when its caller stops waiting.
struct PendingGuard<'a> {
    shared: &'a Shared,
    id: u32,
}

impl Drop for PendingGuard<'_> {
    fn drop(&mut self) {
        self.shared.calls().pending.remove(&self.id);
    }
}

/// A call that has been read and waits for a permit to start.
enum Work {
    Request { id: u32, method: String, params: WireParams },
    Notification { method: String, params: WireParams },
}

/// A request's params: still in wire bytes (read straight into the handler's types on the typed path), or read
/// as values.
enum WireParams {
    /// The bytes of the params array.
    Raw(RawPart),
    Values(Vec<Value>),
}

/// A part of a message kept in wire bytes: the message and where the part lies in it (the message is moved
/// here, not shared: sharing a buffer's bytes costs an allocation per message).
pub(crate) struct RawPart {
    message: Bytes,
    range: std::ops::Range<usize>,
}

impl RawPart {
    /// `part`, a slice of `message`, kept with it.
    fn new(message: Bytes, part: std::ops::Range<usize>) -> RawPart {
        RawPart { message, range: part }
    }

    fn bytes(&self) -> &[u8] {
        self.message.get(self.range.clone()).unwrap_or_default()
    }
}

/// Where `part`, a slice of `whole`, lies in it.
fn range_in(whole: &[u8], part: &[u8]) -> std::ops::Range<usize> {
    let start = (part.as_ptr() as usize).saturating_sub(whole.as_ptr() as usize);
    start..start + part.len()
}

/// What a call answers: a value (the value path) or a handler's reply (the typed path).
enum Outcome {
    Value(Value),
    Typed(Reply),
}

/// A call started on the value path or on the typed path.
enum Started<V, T> {
    Value(V),
    Typed(T),
}

impl<V, T> std::future::Future for Started<V, T>
where
    V: std::future::Future<Output = Result<Value, Fault>> + Unpin,
    T: std::future::Future<Output = Result<Reply, Fault>> + Unpin,
{
    type Output = Result<Outcome, Fault>;

    fn poll(self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<Self::Output> {
        match self.get_mut() {
            Started::Value(call) => Pin::new(call).poll(cx).map(|r| r.map(Outcome::Value)),
            Started::Typed(call) => Pin::new(call).poll(cx).map(|r| r.map(Outcome::Typed)),
        }
    }
}

/// Starts a call (or a notification): on the typed path where its params are still in wire bytes and the
/// dispatcher reads them straight, else on the value path.
fn start_call(
    dispatch: &dyn Dispatch,
    cx: &Context,
    max_depth: usize,
    method: &str,
    params: WireParams,
) -> Started<
    impl std::future::Future<Output = Result<Value, Fault>> + Send + Unpin + 'static,
    impl std::future::Future<Output = Result<Reply, Fault>> + Send + Unpin + 'static,
> {
    let values = match params {
        WireParams::Values(values) => values,
        WireParams::Raw(raw) => {
            let raw = raw.bytes();
            let mut de = typed::Deserializer::new(raw, max_depth);
            let started = serve_call_typed(dispatch, method, &mut <dyn erased_serde::Deserializer>::erase(&mut de), cx);
            if let Some(call) = started.filter(|_| de.end().is_ok()) {
                return Started::Typed(call);
            }
            // The frame was checked when it was cut, so its params read as values.
            match Codec::new(raw.len(), max_depth).read(raw) {
                Ok(Value::Array(values)) => values,
                _ => Vec::new(),
            }
        }
    };
    Started::Value(serve_call(dispatch, method, values, cx.clone()))
}

/// The bytes of the response to request `id`.
fn answer_bytes(id: u32, method: &str, result: Result<Outcome, Fault>, format: ErrorFormat) -> Bytes {
    match result {
        Ok(Outcome::Value(value)) => codec::response_bytes(id, &Ok(value), format),
        Ok(Outcome::Typed(reply)) => codec::typed_response_bytes(id, method, &reply, format),
        Err(fault) => {
            tracing::debug!(id, method, code = fault.code, "call answered with a fault");
            codec::response_bytes(id, &Err(fault), format)
        }
    }
}

/// A notification on its way to the notification task, with the permits it holds.
type Note = (String, WireParams, Permit);

/// One connection, ready to run.
pub(crate) struct Session {
    shared: Arc<Shared>,
    rx: mpsc::Receiver<Bytes>,
    dispatch: Arc<dyn Dispatch>,
    cx: Context,
    config: Config,
    /// Bytes already read from the connection, to be decoded before reading more.
    input: BytesMut,
}

impl Session {
    /// A session that answers calls with `dispatch`; its handlers get `cx` with the [`Peer`] added.
    pub(crate) fn new(config: Config, dispatch: Arc<dyn Dispatch>, cx: Context) -> Session {
        let config = Config {
            // A shutdown waits for all the permits at once, counted in a u32.
            max_in_flight: config.max_in_flight.clamp(1, u32::MAX as usize),
            write_queue: config.write_queue.max(1),
            ..config
        };
        let (tx, rx) = mpsc::channel(config.write_queue);
        let shared = Arc::new(Shared {
            tx,
            calls: Mutex::new(Calls { next_id: 0, pending: HashMap::new(), closed: None }),
            closed: CancellationToken::new(),
            call_timeout: config.call_timeout,
            max_depth: config.max_depth,
            answering: AtomicUsize::new(0),
            finished: AtomicBool::new(false),
            finished_wake: tokio::sync::Notify::new(),
        });
        let cx = cx.with(Peer { shared: shared.clone() });
        Session { shared, rx, dispatch, cx, config, input: BytesMut::new() }
    }

    /// This session, starting with `input`: bytes already read from the connection.
    pub(crate) fn with_input(self, input: BytesMut) -> Session {
        Session { input, ..self }
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
        R: AsyncRead + Unpin,
        W: AsyncWrite + Unpin,
    {
        let Session { shared, rx, dispatch, cx, config, input } = self;
        // Marks the end for `Peer::shutdown` however this ends (finished, or dropped with its task).
        let _finished = Finished(&shared);
        // Both loops are built inside `join!`: futures held in locals first would take their room twice in this
        // one's state, which every idle connection pays for.
        let (read, write) = tokio::join!(
            async {
                let outcome = ReadLoop::new(&shared, dispatch, cx, &config).run(input, reader, shutdown, on_eof).await;
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
        tracing::debug!(reason, "MessagePack-RPC connection closed");
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
    /// The notification task's queue and the task, started with the first notification (most connections never
    /// get one).
    notes: Option<(mpsc::Sender<Note>, tokio::task::JoinHandle<()>)>,
    draining: bool,
    /// The input has ended (with [`OnEof::Finish`]): no more reading, only finishing.
    ended: bool,
    /// Reading is paused by the connection's limit on calls in flight (logged once per pause).
    paused: bool,
    /// Calls wait for the server's limit on calls in flight across connections (logged once per wait).
    stalled: bool,
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
        ReadLoop {
            shared,
            dispatch,
            cx,
            config,
            permits: Arc::new(Semaphore::new(config.max_in_flight)),
            backlog: VecDeque::new(),
            tasks: JoinSet::new(),
            notes: None,
            draining: false,
            ended: false,
            paused: false,
            stalled: false,
        }
    }

    /// Reads and dispatches until the connection ends, starting with the bytes in `buf`; `Ok` says why it
    /// ended normally.
    async fn run<R: AsyncRead + Unpin>(
        &mut self,
        // Grown when bytes are read, and released while the connection waits between messages.
        mut buf: BytesMut,
        mut reader: R,
        shutdown: CancellationToken,
        on_eof: OnEof,
    ) -> Result<&'static str, Error> {
        let mut codec = Codec::new(self.config.max_message_size, self.config.max_depth);
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
            while self.tasks.try_join_next().is_some() {}
            let finishing = (self.draining || self.ended) && self.backlog.is_empty();
            if finishing && self.idle() {
                return Ok(if self.draining { "the server shut down" } else { "the peer finished sending" });
            }
            let room = self.backlog.len() < self.config.max_in_flight;
            if room {
                self.paused = false;
                match codec.decode_frame(&mut buf) {
                    Ok(Some(frame)) => {
                        if let Some(reply) = self.on_frame(&mut codec, frame)? {
                            // Rare paths are boxed, here and below: an idle connection's task keeps no room
                            // for them.
                            let _ = Box::pin(self.shared.send(reply)).await;
                        }
                        continue;
                    }
                    Ok(None) => {}
                    Err(e) => {
                        Box::pin(self.on_broken_stream(&e, &buf)).await;
                        return Err(e);
                    }
                }
            } else if !std::mem::replace(&mut self.paused, true) {
                let limit = self.config.max_in_flight;
                tracing::debug!(limit, "max_in_flight calls running and as many waiting; reading paused");
            }
            let max_in_flight = u32::try_from(self.config.max_in_flight).unwrap_or(u32::MAX);
            let permits = self.permits.clone();
            tokio::select! {
                biased;
                () = &mut closed => return Ok("closed locally"),
                () = &mut shutdown, if !self.draining => Box::pin(self.start_draining()).await,
                // Finishing: wake when every permit is back (all calls answered).
                all = permits.acquire_many(max_in_flight), if finishing => drop(all),
                permit = acquire(self.permits.clone(), self.config.total.clone()), if !self.backlog.is_empty() => {
                    if let Some(permit) = permit {
                        self.start_next(Some(permit));
                    }
                }
                read = read_some(&mut reader, &mut buf), if room && !self.ended => match read {
                    Ok(0) if buf.is_empty() && on_eof == OnEof::Finish => self.ended = true,
                    Ok(0) if buf.is_empty() => {
                        self.finish_notifications();
                        return Ok("the peer closed the connection");
                    }
                    Ok(0) => {
                        return Err(Error::Malformed(format!(
                            "the stream ended inside a message ({} bytes of it read)",
                            buf.len()
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
        let rest: Vec<(String, WireParams)> = self
            .backlog
            .drain(..)
            .filter_map(|work| match work {
                Work::Notification { method, params } => Some((method, params)),
                Work::Request { .. } => None,
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
        let depth = self.config.max_depth;
        tokio::spawn(async move {
            if let Some(task) = running {
                let _ = task.await;
            }
            for (method, params) in rest {
                run_notification(&*dispatch, &cx, limit, depth, &method, params).await;
            }
        });
    }

    /// No call of the peer's is running or waiting to be answered.
    fn idle(&self) -> bool {
        self.permits.available_permits() == self.config.max_in_flight
    }

    /// Starts backlog work while permits are free, in arrival order.
    fn start_ready(&mut self) {
        while !self.backlog.is_empty() {
            // A request answered at its first poll never waits, so it need not hold permits (taking and returning
            // one locks its semaphore): they are taken only for a call that goes on.
            if self.permits.available_permits() > 0
                && self.config.total.as_ref().is_none_or(|total| total.available_permits() > 0)
                && matches!(self.backlog.front(), Some(Work::Request { .. }))
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
            Some(Work::Request { id, method, params }) => {
                let mut call = start_call(&*self.dispatch, &self.cx, self.config.max_depth, &method, params);
                let shared = self.shared.clone();
                let format = self.config.error_format;
                // Most calls are answered at their first poll: answer those here, without a task (spawning,
                // scheduling and joining one costs more than a small call). The others go on in a task of their
                // own, which polls them again with its own waker.
                let mut noop = std::task::Context::from_waker(std::task::Waker::noop());
                if let std::task::Poll::Ready(result) = Pin::new(&mut call).poll(&mut noop) {
                    match shared.tx.try_send(answer_bytes(id, &method, result, format)) {
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
                let mut permit = permit.or_else(|| self.spare_permit());
                let total = self.config.total.clone();
                let answering = Answering::new(self.shared.clone());
                self.tasks.spawn(async move {
                    if let (Some(permit), Some(total)) = (&mut permit, total)
                        && permit._total.is_none()
                    {
                        // Started while the server-wide bound had room, which another connection took since: the
                        // call waits here for its turn before going on.
                        permit._total = total.acquire_owned().await.ok();
                    }
                    let result = time_limit(&method, limit, call).await;
                    drop(answering);
                    // Waiting here for room in the write queue, holding the permit, is the backpressure.
                    let _ = shared.send(answer_bytes(id, &method, result, format)).await;
                    drop(permit);
                });
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
                    let task = tokio::spawn(run_notifications(rx, dispatch, cx, limit, depth));
                    (notes, task)
                });
                if notes.try_send((method, params, permit)).is_err() {
                    tracing::error!("the notification task has stopped; a notification was dropped");
                }
            }
            None => drop(permit),
        }
    }

    /// Routes one whole message, cut from the stream but not read yet: requests keep their params and responses
    /// their results in wire bytes, for the typed path; anything else is read as values.
    fn on_frame(&mut self, codec: &mut Codec, frame: BytesMut) -> Result<Option<Bytes>, Error> {
        let frame = frame.freeze();
        if let Some(parts) = typed::request_parts(&frame) {
            let (id, method, range) = (parts.id, parts.method.to_owned(), range_in(&frame, parts.params));
            let params = WireParams::Raw(RawPart::new(frame, range));
            match id {
                Some(id) if self.draining => return Ok(Some(self.refusal(id))),
                Some(id) => self.backlog.push_back(Work::Request { id, method, params }),
                None if self.draining => tracing::debug!(method, "shutting down: a notification was dropped"),
                None => self.backlog.push_back(Work::Notification { method, params }),
            }
            return Ok(None);
        } else if let Some(parts) = typed::response_parts(&frame)
            && !parts.is_error()
        {
            let (id, range) = (parts.id, range_in(&frame, parts.result));
            self.shared.answer(id, Answered::Raw(RawPart::new(frame, range)));
            return Ok(None);
        }
        let value = codec.read(&frame)?;
        self.on_message(value)
    }

    /// Routes one message; returns the error reply to send, if it gets one here (a request refused while
    /// shutting down, or an invalid one). An object that is not a message and is no request that can be
    /// answered means the peer does not speak MessagePack-RPC: that error closes the connection.
    fn on_message(&mut self, value: Value) -> Result<Option<Bytes>, Error> {
        match Message::from_value(value) {
            Ok(Message::Response { id, result }) => self.shared.answer(id, Answered::Value(result)),
            Ok(Message::Request { id, method, params }) => {
                if self.draining {
                    return Ok(Some(self.refusal(id)));
                }
                self.backlog.push_back(Work::Request { id, method, params: WireParams::Values(params) });
            }
            Ok(Message::Notification { method, params }) => {
                if self.draining {
                    tracing::debug!(method, "shutting down: a notification was dropped");
                } else {
                    self.backlog.push_back(Work::Notification { method, params: WireParams::Values(params) });
                }
            }
            Err(e @ Error::Invalid { id: Some(id), .. }) => {
                tracing::warn!(error = %e, "answering an invalid request");
                return Ok(Some(codec::response_bytes(id, &Err(e.to_fault()), self.config.error_format)));
            }
            Err(e) => {
                tracing::warn!(error = %e, "closing the connection: not a MessagePack-RPC message");
                return Err(e);
            }
        }
        Ok(None)
    }

    /// Logs an error that breaks the stream, and answers the request it was in if that request's id is known.
    async fn on_broken_stream(&self, e: &Error, buf: &[u8]) {
        tracing::warn!(error = %e, "closing the connection: the stream cannot be read further");
        if let Some(id) = codec::peek_request_id(buf) {
            let _ = self.shared.send(codec::response_bytes(id, &Err(e.to_fault()), self.config.error_format)).await;
        }
    }

    async fn start_draining(&mut self) {
        self.draining = true;
        for work in std::mem::take(&mut self.backlog) {
            if let Work::Request { id, .. } = work {
                let _ = self.shared.send(self.refusal(id)).await;
            }
        }
    }

    /// The answer to a request that comes while the server shuts down.
    fn refusal(&self, id: u32) -> Bytes {
        let fault = Fault::internal_error("the server is shutting down");
        codec::response_bytes(id, &Err(fault), self.config.error_format)
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

/// Reads what is available into `buf`, making room for [`READ_CHUNK`] bytes first. While nothing has arrived
/// and `buf` holds no part of a message, its memory is released: an idle connection holds no read buffer.
pub(crate) async fn read_some<R: AsyncRead + Unpin>(reader: &mut R, buf: &mut BytesMut) -> io::Result<usize> {
    std::future::poll_fn(|cx| {
        if buf.is_empty() {
            // Holding no part of a message, read on the stack first: waiting then holds no buffer, and what
            // comes costs an allocation of its own size (a read buffer allocated and released per message
            // costs more than most messages).
            let mut probe = [std::mem::MaybeUninit::<u8>::uninit(); PROBE];
            let mut read = tokio::io::ReadBuf::uninit(&mut probe);
            return match Pin::new(&mut *reader).poll_read(cx, &mut read) {
                std::task::Poll::Ready(Ok(())) => {
                    *buf = BytesMut::from(read.filled());
                    std::task::Poll::Ready(Ok(read.filled().len()))
                }
                std::task::Poll::Ready(Err(e)) => std::task::Poll::Ready(Err(e)),
                std::task::Poll::Pending => {
                    *buf = BytesMut::new();
                    std::task::Poll::Pending
                }
            };
        }
        if buf.capacity() - buf.len() < READ_CHUNK {
            buf.reserve(READ_CHUNK);
        }
        let read = tokio_util::io::poll_read_buf(Pin::new(&mut *reader), cx, buf);
        if read.is_pending() && buf.is_empty() {
            *buf = BytesMut::new();
        }
        read
    })
    .await
}

/// Runs notifications one at a time, in arrival order, each for up to `limit`.
async fn run_notifications(
    mut rx: mpsc::Receiver<Note>,
    dispatch: Arc<dyn Dispatch>,
    cx: Context,
    limit: Option<Duration>,
    max_depth: usize,
) {
    while let Some((method, params, permit)) = rx.recv().await {
        run_notification(&*dispatch, &cx, limit, max_depth, &method, params).await;
        drop(permit);
    }
}

/// Runs one notification to its end (or its time limit); a fault has nowhere to go but the log.
async fn run_notification(
    dispatch: &dyn Dispatch,
    cx: &Context,
    limit: Option<Duration>,
    max_depth: usize,
    method: &str,
    params: WireParams,
) {
    if let Err(fault) = time_limit(method, limit, start_call(dispatch, cx, max_depth, method, params)).await {
        tracing::debug!(method, code = fault.code, message = fault.message, "a notification failed");
    }
}

/// Writes queued messages, flushing whenever the queue runs empty. On close, writes what is still queued for
/// up to [`CLOSE_GRACE`], then shuts the write half down.
async fn write_loop<W: AsyncWrite + Unpin>(
    mut writer: W,
    mut rx: mpsc::Receiver<Bytes>,
    shared: &Shared,
) -> io::Result<()> {
    // Made once: a fresh wait per message joins and leaves the token's waiter list every time.
    let mut closed = pin!(Cancelled::new(shared.closed.cancelled()));
    loop {
        let first = tokio::select! {
            biased;
            frame = rx.recv() => frame,
            () = &mut closed => None,
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
            writer.write_all(&frame).await?;
        }
        writer.flush().await?;
        writer.shutdown().await
    };
    match Box::pin(tokio::time::timeout(CLOSE_GRACE, rest)).await {
        Ok(Err(e)) if !is_gone(&e) => Err(e),
        _ => Ok(()),
    }
}

/// Writes `first` and whatever else is queued behind it, then flushes. A message on its own, or a large one,
/// is written straight from its buffer; small ones queued together are gathered into writes of up to
/// [`WRITE_BUFFER`] bytes, in a buffer that exists only for the batch (an idle connection holds none).
async fn write_batch<W: AsyncWrite + Unpin>(
    writer: &mut W,
    first: Bytes,
    rx: &mut mpsc::Receiver<Bytes>,
    shared: &Shared,
) -> io::Result<()> {
    let mut gathered = BytesMut::new();
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
        if (next.is_none() && gathered.is_empty()) || frame.len() >= WRITE_BUFFER {
            if !gathered.is_empty() {
                writer.write_all(&gathered).await?;
                gathered.clear();
            }
            writer.write_all(&frame).await?;
        } else {
            gathered.extend_from_slice(&frame);
            if next.is_none() || gathered.len() >= WRITE_BUFFER {
                writer.write_all(&gathered).await?;
                gathered.clear();
            }
        }
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

    fn config() -> Config {
        Config { max_depth: 16, max_in_flight: 4, write_queue: 4, call_timeout: None, ..Config::new(1 << 20) }
    }

    #[tokio::test]
    async fn ids_wrap_and_skip_calls_in_flight() {
        let session = Session::new(config(), Arc::new(rpc_core::Router::new()), Context::new());
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
        let session = Session::new(config(), Arc::new(rpc_core::Router::new()), Context::new());
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
        let session = Session::new(config, Arc::new(rpc_core::Router::new()), Context::new());
        let err = session.peer().call("a", vec![]).await.unwrap_err();
        assert!(matches!(err, rpc_core::Error::Timeout(d) if d == Duration::from_millis(20)));
        assert!(session.shared().calls().pending.is_empty());
    }
}

//! The zerorpc client: a DEALER socket per endpoint, each call a channel that heartbeats until its answer.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::Poll;
use std::time::Duration;

use bytes::Bytes;
use rpc_core::encoding::{Answer, Param, ValueAnswer};
use rpc_core::stream::{StreamNames, SubscriptionSource};
use rpc_core::{BoxFuture, Transport, Value};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tracing::Instrument;
use zeromq::{Socket, SocketRecv, ZmqMessage};

use crate::event::{self, Event, HEARTBEAT, Ids, MORE};
use crate::{DEFAULT_HEARTBEAT, DEFAULT_MAX_DEPTH, DEFAULT_STREAM_BUFFER, Error};

/// The default time a call may take: 30 seconds (zerorpc-python's).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// The default largest answer read: 64 MiB.
pub const DEFAULT_CLIENT_MAX_MESSAGE_SIZE: usize = 64 * 1024 * 1024;
/// How many events may wait to be written to one socket.
const WRITE_QUEUE: usize = 1024;

/// A zerorpc client: a [`Transport`] for the generated clients, over one DEALER socket per endpoint (calls
/// take the endpoints in turn; each call stays on its endpoint, as its heartbeats must).
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let client = rpc_zerorpc::Client::connect("tcp://127.0.0.1:4242").await?;
/// let answer = rpc_core::Transport::call(&client, "double", vec![21.into()]).await?;
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct Client {
    connections: Arc<Vec<Connection>>,
    next: Arc<AtomicUsize>,
    timeout: Option<Duration>,
}

/// Settings of a [`Client`] before it connects.
#[derive(Clone, Debug)]
pub struct ClientBuilder {
    timeout: Option<Duration>,
    heartbeat: Duration,
    max_message_size: usize,
    max_depth: usize,
    stream_buffer: usize,
}

impl Default for ClientBuilder {
    fn default() -> ClientBuilder {
        ClientBuilder {
            timeout: Some(DEFAULT_TIMEOUT),
            heartbeat: DEFAULT_HEARTBEAT,
            max_message_size: DEFAULT_CLIENT_MAX_MESSAGE_SIZE,
            max_depth: DEFAULT_MAX_DEPTH,
            stream_buffer: DEFAULT_STREAM_BUFFER,
        }
    }
}

impl ClientBuilder {
    /// How long a call may take (default [`DEFAULT_TIMEOUT`], 30 s; `None`: no limit but the heartbeat's).
    pub fn timeout(mut self, timeout: Option<Duration>) -> Self {
        self.timeout = timeout;
        self
    }

    /// How often each open call sends a heartbeat (default [`DEFAULT_HEARTBEAT`], 5 s); a server silent for
    /// twice that is lost, and the call fails saying so.
    pub fn heartbeat(mut self, interval: Duration) -> Self {
        self.heartbeat = interval.max(Duration::from_millis(10));
        self
    }

    /// The largest event read (default [`DEFAULT_CLIENT_MAX_MESSAGE_SIZE`], 64 MiB): a larger one is dropped.
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.max_message_size = bytes;
        self
    }

    /// How deeply values may nest in an answer (default 64).
    pub fn max_depth(mut self, depth: usize) -> Self {
        self.max_depth = depth;
        self
    }

    /// How many items of a stream may wait unread (default [`DEFAULT_STREAM_BUFFER`], 100, zerorpc-python's):
    /// the server is granted credits (`_zpc_more`) for no more than that, so a slow reader slows the stream.
    pub fn stream_buffer(mut self, items: usize) -> Self {
        self.stream_buffer = items.max(2);
        self
    }

    /// Connects to one endpoint (`tcp://HOST:PORT`, `ipc:///PATH`).
    pub async fn connect(self, endpoint: &str) -> Result<Client, Error> {
        self.connect_all(&[endpoint]).await
    }

    /// Connects to every endpoint: calls take them in turn.
    pub async fn connect_all(self, endpoints: &[&str]) -> Result<Client, Error> {
        let mut connections = Vec::new();
        for endpoint in endpoints {
            let mut socket = zeromq::DealerSocket::new();
            socket.connect(endpoint).await.map_err(|e| Error::Connect((*endpoint).to_owned(), e))?;
            connections.push(Connection::start(socket, &self));
        }
        if connections.is_empty() {
            return Err(Error::NoEndpoint);
        }
        Ok(Client { connections: Arc::new(connections), next: Arc::default(), timeout: self.timeout })
    }
}

impl Client {
    /// Connects to `endpoint` with the default settings.
    pub async fn connect(endpoint: &str) -> Result<Client, Error> {
        ClientBuilder::default().connect(endpoint).await
    }

    /// Settings for a client.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    fn connection(&self) -> &Connection {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        &self.connections[n % self.connections.len()]
    }

    /// Calls `method` with `params`; an `ERR` answer is [`rpc_core::Error::Fault`] (see the crate docs for the
    /// mapping).
    pub async fn call(&self, method: &str, params: Vec<Value>) -> Result<Value, rpc_core::Error> {
        let span = rpc_core::trace::client_span_to("zerorpc", method, None, None, None);
        let answer = self.call_in(method, params).instrument(span.clone()).await;
        if let Err(e) = &answer {
            rpc_core::trace::record_error(&span, e);
        }
        answer
    }

    async fn call_in(&self, method: &str, params: Vec<Value>) -> Result<Value, rpc_core::Error> {
        let connection = self.connection();
        let (channel, rx) = connection.open(method, params, Waiting::call)?;
        let answer = async {
            let answer = rx.await.map_err(|_| closed());
            drop(channel);
            answer?
        };
        let limit = rpc_core::encoding::call_limit(self.timeout);
        match limit {
            Some((deadline, limit)) => {
                tokio::time::timeout_at(deadline, answer).await.unwrap_or(Err(rpc_core::Error::Timeout(limit)))
            }
            None => answer.await,
        }
    }
}

fn closed() -> rpc_core::Error {
    rpc_core::Error::Transport("the zerorpc connection is closed".into())
}

impl Transport for Client {
    fn call<'a>(&'a self, method: &'a str, params: Vec<Value>) -> BoxFuture<'a, Result<Value, rpc_core::Error>> {
        Box::pin(Client::call(self, method, params))
    }

    fn call_typed<'a>(&'a self, method: &'a str, params: &[Param<'_>]) -> rpc_core::encoding::AnswerFuture<'a> {
        let params = rpc_core::encoding::params_to_values(params);
        Box::pin(async move { Ok(Box::new(ValueAnswer(self.call(method, params?).await?)) as Box<dyn Answer>) })
    }

    /// A zerorpc stream: the method called by its plain name (`names.notification`, as zerorpc-python's
    /// `@zerorpc.stream` methods are), answered with `STREAM` events and a `STREAM_DONE`.
    fn subscribe<'a>(
        &'a self,
        names: StreamNames<'a>,
        params: &[Param<'_>],
    ) -> BoxFuture<'a, Result<Box<dyn SubscriptionSource>, rpc_core::Error>> {
        let params = rpc_core::encoding::params_to_values(params);
        Box::pin(async move {
            let connection = self.connection();
            let buffer = connection.shared.stream_buffer;
            let (tx, items) = mpsc::channel(buffer);
            let (channel, first) = connection.open(names.notification, params?, |id| Waiting::stream(id, tx))?;
            // The first event says whether it is a stream (or its error).
            let first = match self.timeout {
                Some(limit) => tokio::time::timeout(limit, first).await.map_err(|_| rpc_core::Error::Timeout(limit))?,
                None => first.await,
            };
            first.map_err(|_| closed())??;
            Ok(Box::new(ZerorpcSubscription { channel: Some(channel), items, id: Value::Nil })
                as Box<dyn SubscriptionSource>)
        })
    }
}

/// One DEALER socket: its write queue, its open channels, and the tasks that read and heartbeat.
#[derive(Debug)]
struct Connection {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    out: mpsc::Sender<ZmqMessage>,
    ids: Ids,
    channels: Mutex<Channels>,
    heartbeat: Duration,
    max_message_size: usize,
    max_depth: usize,
    stream_buffer: usize,
    tasks: Mutex<Vec<tokio::task::AbortHandle>>,
}

#[derive(Debug, Default)]
struct Channels {
    open: HashMap<Vec<u8>, Waiting>,
    closed: bool,
}

/// A call waiting for its answer.
#[derive(Debug)]
struct Waiting {
    id: Value,
    heard: Instant,
    kind: Kind,
}

#[derive(Debug)]
enum Kind {
    /// An ordinary call: `OK` or `ERR`.
    Call(Option<oneshot::Sender<Result<Value, rpc_core::Error>>>),
    /// A stream: the first event answers `first` (ok, or its error), every item goes to `items`; `granted`
    /// counts the credits the server holds.
    Stream {
        first: Option<oneshot::Sender<Result<(), rpc_core::Error>>>,
        items: mpsc::Sender<Result<Value, rpc_core::Error>>,
        granted: usize,
    },
}

impl Waiting {
    fn call(id: Value) -> (Waiting, oneshot::Receiver<Result<Value, rpc_core::Error>>) {
        let (tx, rx) = oneshot::channel();
        (Waiting { id, heard: Instant::now(), kind: Kind::Call(Some(tx)) }, rx)
    }

    fn stream(
        id: Value,
        items: mpsc::Sender<Result<Value, rpc_core::Error>>,
    ) -> (Waiting, oneshot::Receiver<Result<(), rpc_core::Error>>) {
        let (tx, rx) = oneshot::channel();
        (Waiting { id, heard: Instant::now(), kind: Kind::Stream { first: Some(tx), items, granted: 1 } }, rx)
    }

    /// Ends the call with `error`.
    fn fail(self, error: rpc_core::Error) {
        match self.kind {
            Kind::Call(Some(tx)) => drop(tx.send(Err(error))),
            Kind::Stream { first: Some(tx), .. } => drop(tx.send(Err(error))),
            Kind::Stream { items, first: None, .. } => drop(items.try_send(Err(error))),
            Kind::Call(None) => {}
        }
    }
}

impl Connection {
    fn start(socket: zeromq::DealerSocket, settings: &ClientBuilder) -> Connection {
        let (send, recv) = socket.split();
        let (out, rx) = mpsc::channel(WRITE_QUEUE);
        let shared = Arc::new(Shared {
            out,
            ids: Ids::new(),
            channels: Mutex::default(),
            heartbeat: settings.heartbeat,
            max_message_size: settings.max_message_size,
            max_depth: settings.max_depth,
            stream_buffer: settings.stream_buffer,
            tasks: Mutex::default(),
        });
        let writer = tokio::spawn(event::write_loop(send, rx));
        let reader = tokio::spawn(read_loop(recv, Arc::downgrade(&shared)));
        let ticker = tokio::spawn(tick_loop(Arc::downgrade(&shared)));
        *lock(&shared.tasks) = vec![writer.abort_handle(), reader.abort_handle(), ticker.abort_handle()];
        Connection { shared }
    }

    /// Opens a channel: the request `method(params)` is queued, and `waiting` (made for its id) registered.
    fn open<R>(
        &self,
        method: &str,
        params: Vec<Value>,
        waiting: impl FnOnce(Value) -> (Waiting, R),
    ) -> Result<(ChannelGuard, R), rpc_core::Error> {
        let id = self.shared.ids.next();
        let key = event::key(&id);
        let request =
            Event { message_id: id.clone(), response_to: None, name: method.to_owned(), args: Value::Array(params) };
        let message = frames(&request)?;
        let (waiting, rx) = waiting(id);
        {
            let mut channels = lock(&self.shared.channels);
            if channels.closed {
                return Err(closed());
            }
            channels.open.insert(key.clone(), waiting);
        }
        let guard = ChannelGuard { shared: self.shared.clone(), key };
        if self.shared.out.try_send(message).is_err() {
            return Err(rpc_core::Error::Transport("the zerorpc write queue is full".into()));
        }
        Ok((guard, rx))
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        for task in lock(&self.shared.tasks).drain(..) {
            task.abort();
        }
    }
}

/// Forgets a channel when its caller stops waiting (answered, timed out, dropped): its heartbeats stop.
#[derive(Debug)]
struct ChannelGuard {
    shared: Arc<Shared>,
    key: Vec<u8>,
}

impl Drop for ChannelGuard {
    fn drop(&mut self) {
        lock(&self.shared.channels).open.remove(&self.key);
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A DEALER's message of `event`: `["", event]`, as zerorpc-python sends.
fn frames(event: &Event) -> Result<ZmqMessage, rpc_core::Error> {
    let mut message = ZmqMessage::from(event.encode()?);
    message.push_front(Bytes::new());
    Ok(message)
}

/// Routes the server's events to their channels.
async fn read_loop(mut socket: zeromq::DealerRecvHalf, shared: std::sync::Weak<Shared>) {
    loop {
        let message = socket.recv().await;
        let Some(shared) = shared.upgrade() else { return };
        match message {
            Ok(message) => shared.on_message(message),
            Err(e) => {
                let mut channels = lock(&shared.channels);
                channels.closed = true;
                for (_, waiting) in channels.open.drain() {
                    waiting.fail(rpc_core::Error::Transport(format!("the zerorpc connection failed: {e}").into()));
                }
                return;
            }
        }
    }
}

/// Every heartbeat interval, a heartbeat on each open channel; four times an interval, a look for channels
/// whose server has been silent for two intervals: those fail, saying the remote was lost (so a lost server is
/// noticed at most a quarter of an interval late).
async fn tick_loop(shared: std::sync::Weak<Shared>) {
    let Some(interval) = shared.upgrade().map(|s| s.heartbeat) else { return };
    let mut tick = tokio::time::interval(interval / 4);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut ticks = 0u64;
    loop {
        tick.tick().await;
        ticks += 1;
        let Some(shared) = shared.upgrade() else { return };
        let now = Instant::now();
        let lost_after = interval * 2;
        let mut beats = Vec::new();
        {
            let mut channels = lock(&shared.channels);
            let lost: Vec<Vec<u8>> = channels
                .open
                .iter()
                .filter(|(_, waiting)| now.duration_since(waiting.heard) > lost_after)
                .map(|(key, _)| key.clone())
                .collect();
            for key in lost {
                if let Some(waiting) = channels.open.remove(&key) {
                    tracing::warn!(?lost_after, "a zerorpc server sent no heartbeat; the call fails");
                    waiting.fail(rpc_core::Error::Transport(
                        format!("lost the remote: no zerorpc heartbeat for {lost_after:?}").into(),
                    ));
                }
            }
            if ticks.is_multiple_of(4) {
                beats.extend(channels.open.values().map(|waiting| waiting.id.clone()));
            }
        }
        for id in beats {
            shared.emit(&id, HEARTBEAT, Value::Array(vec![0.into()]));
        }
    }
}

impl Shared {
    /// Grants the server of stream `key` credits for the room its subscriber has (`room` items free), half a
    /// buffer at a time, as zerorpc-python does: what the server may send never exceeds what can wait here.
    fn grant(&self, key: &[u8], room: usize) {
        let mut channels = lock(&self.channels);
        let Some(Waiting { id, kind: Kind::Stream { granted, .. }, .. }) = channels.open.get_mut(key) else { return };
        if *granted >= room / 2 {
            return;
        }
        let more = room - *granted;
        *granted = room;
        let id = id.clone();
        drop(channels);
        self.emit(&id, MORE, Value::Array(vec![Value::from(more as u64)]));
    }

    /// Queues an event of the channel `id`, if there is room (heartbeats and credits are not worth waiting for).
    fn emit(&self, id: &Value, name: &str, args: Value) {
        let event = Event { message_id: self.ids.next(), response_to: Some(id.clone()), name: name.into(), args };
        if let Ok(message) = frames(&event)
            && self.out.try_send(message).is_err()
        {
            tracing::debug!(name, "the zerorpc write queue is full; an event was dropped");
        }
    }

    fn on_message(&self, message: ZmqMessage) {
        let Some(payload) = message.into_vec().pop() else { return };
        if payload.len() > self.max_message_size {
            tracing::warn!(size = payload.len(), "a zerorpc event over the size limit; dropped");
            return;
        }
        let event = match Event::read(&payload, self.max_message_size, self.max_depth) {
            Ok(event) => event,
            Err(e) => {
                tracing::warn!(error = ?e, "not a zerorpc event; dropped");
                return;
            }
        };
        let Some(to) = &event.response_to else { return };
        let key = event::key(to);
        let mut channels = lock(&self.channels);
        let Some(waiting) = channels.open.get_mut(&key) else { return };
        waiting.heard = Instant::now();
        match (event.name.as_str(), &mut waiting.kind) {
            (HEARTBEAT | MORE, _) => {}
            ("OK", Kind::Call(tx)) => {
                let result = match event.args {
                    Value::Array(mut args) if !args.is_empty() => args.swap_remove(0),
                    other => other,
                };
                if let Some(tx) = tx.take() {
                    let _ = tx.send(Ok(result));
                }
                channels.open.remove(&key);
            }
            ("ERR", _) => {
                if let Some(waiting) = channels.open.remove(&key) {
                    waiting.fail(rpc_core::Error::Fault(event::fault_of(&event.args)));
                }
            }
            ("STREAM", Kind::Stream { first, items, granted }) => {
                if let Some(first) = first.take() {
                    let _ = first.send(Ok(()));
                }
                *granted = granted.saturating_sub(1);
                if items.try_send(Ok(event.args)).is_err() {
                    // Over the credits this side granted, or the subscriber has gone.
                    channels.open.remove(&key);
                }
            }
            ("STREAM_DONE", Kind::Stream { first, .. }) => {
                if let Some(first) = first.take() {
                    let _ = first.send(Ok(()));
                }
                channels.open.remove(&key);
            }
            ("OK", Kind::Stream { .. }) => {
                if let Some(waiting) = channels.open.remove(&key) {
                    waiting
                        .fail(rpc_core::Error::Transport("the server answered once: this is no stream method".into()));
                }
            }
            ("STREAM" | "STREAM_DONE", Kind::Call(_)) => {
                if let Some(waiting) = channels.open.remove(&key) {
                    waiting.fail(rpc_core::Error::Transport(
                        "the server answered with a stream: call it as a stream method".into(),
                    ));
                }
            }
            (other, _) => tracing::debug!(name = other, "an event of no known kind; ignored"),
        }
    }
}

/// A zerorpc stream as a subscription: its items until `STREAM_DONE`. zerorpc has no unsubscribe: ending it
/// early stops this side's heartbeats and credits, so the server stops sending at once and drops the stream
/// when it notices the silence (two heartbeat intervals).
struct ZerorpcSubscription {
    channel: Option<ChannelGuard>,
    items: mpsc::Receiver<Result<Value, rpc_core::Error>>,
    id: Value,
}

impl SubscriptionSource for ZerorpcSubscription {
    fn id(&self) -> &Value {
        &self.id
    }

    fn poll_item(&mut self, cx: &mut std::task::Context<'_>) -> Poll<Option<Result<Box<dyn Answer>, rpc_core::Error>>> {
        match std::task::ready!(self.items.poll_recv(cx)) {
            Some(Ok(value)) => {
                if let Some(channel) = &self.channel {
                    let room = self.items.max_capacity() - self.items.len();
                    channel.shared.grant(&channel.key, room);
                }
                Poll::Ready(Some(Ok(Box::new(ValueAnswer(value)) as Box<dyn Answer>)))
            }
            Some(Err(e)) => {
                self.channel = None;
                Poll::Ready(Some(Err(e)))
            }
            None => {
                self.channel = None;
                Poll::Ready(None)
            }
        }
    }

    fn unsubscribe(mut self: Box<Self>) -> BoxFuture<'static, Result<(), rpc_core::Error>> {
        self.channel = None;
        Box::pin(std::future::ready(Ok(())))
    }
}

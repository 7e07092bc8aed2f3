//! The zerorpc server: a ROUTER socket bound to one or more endpoints; each request opens a channel (the
//! request's `message_id`, from one peer identity) that lives until its answer is sent.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use rpc_core::{Context, Dispatch, Fault, Map, MethodInfo, Value};
use tokio::sync::{Semaphore, mpsc};
use tokio::time::Instant;
use tracing::Instrument;
use zeromq::{Socket, SocketRecv, ZmqMessage};

use crate::event::{self, Event, HEARTBEAT, Ids, MORE, Unreadable};
use crate::{DEFAULT_HEARTBEAT, DEFAULT_MAX_CHANNELS, DEFAULT_MAX_DEPTH, DEFAULT_MAX_MESSAGE_SIZE, Error};

/// How many events may wait to be written to the socket.
const WRITE_QUEUE: usize = 1024;
/// The most credits (`_zpc_more`) one channel may hold at once: a peer's larger grants are capped.
const MAX_CREDITS: usize = 1 << 20;

/// A zerorpc server of `D`: bind it to endpoints ([`Server::bind`]) and run it.
///
/// ```no_run
/// # async fn run() -> Result<(), rpc_zerorpc::Error> {
/// use rpc_core::service;
///
/// #[service]
/// pub trait Services {
///     /// Returns num * 2.
///     async fn double(&self, num: i64) -> i64;
/// }
///
/// struct Doubler;
/// impl Services for Doubler {
///     async fn double(&self, num: i64) -> i64 { num * 2 }
/// }
///
/// let server = rpc_zerorpc::Server::new(ServicesServer::new(Doubler)).bind(&["tcp://127.0.0.1:4242"]).await?;
/// println!("listening on {:?}", server.endpoints());
/// server.run().await
/// # }
/// ```
#[derive(Debug)]
pub struct Server<D> {
    dispatch: Arc<D>,
    settings: Settings,
}

#[derive(Debug, Clone)]
struct Settings {
    name: String,
    heartbeat: Duration,
    max_message_size: usize,
    max_depth: usize,
    max_channels: usize,
    handler_timeout: Option<Duration>,
}

impl<D: Dispatch> Server<D> {
    /// A server of `dispatch`, with the default settings.
    pub fn new(dispatch: D) -> Server<D> {
        Server::from_arc(Arc::new(dispatch))
    }

    /// A server of a dispatcher shared with other servers.
    pub fn from_arc(dispatch: Arc<D>) -> Server<D> {
        let settings = Settings {
            name: "rpc".to_owned(),
            heartbeat: DEFAULT_HEARTBEAT,
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
            max_depth: DEFAULT_MAX_DEPTH,
            max_channels: DEFAULT_MAX_CHANNELS,
            handler_timeout: Some(rpc_core::DEFAULT_HANDLER_TIMEOUT),
        };
        Server { dispatch, settings }
    }

    /// The name `_zerorpc_name`, `_zerorpc_ping` and `_zerorpc_inspect` answer with (default `rpc`).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.settings.name = name.into();
        self
    }

    /// How often each open channel gets a heartbeat (default [`DEFAULT_HEARTBEAT`], 5 s, as zerorpc's); a
    /// channel whose peer sends none for twice that is lost: its call is dropped.
    pub fn heartbeat(mut self, interval: Duration) -> Self {
        self.settings.heartbeat = interval.max(Duration::from_millis(10));
        self
    }

    /// The largest event read (default [`DEFAULT_MAX_MESSAGE_SIZE`], 16 MiB): a larger one is dropped and
    /// logged. (The ZeroMQ crate reads a frame whole before this side sees it.)
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.settings.max_message_size = bytes;
        self
    }

    /// How deeply values may nest in an event (default [`DEFAULT_MAX_DEPTH`], 64).
    pub fn max_depth(mut self, depth: usize) -> Self {
        self.settings.max_depth = depth;
        self
    }

    /// How many channels (calls and streams) may be open at once across every peer (default
    /// [`DEFAULT_MAX_CHANNELS`], 10,000): past it, a request is answered `ERR` at once.
    pub fn max_channels(mut self, channels: usize) -> Self {
        self.settings.max_channels = channels;
        self
    }

    /// How long one call may run (default 5 minutes; `None`: no limit); a stream's items are not timed.
    pub fn handler_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.settings.handler_timeout = timeout;
        self
    }

    /// Binds a ROUTER socket to every endpoint (`tcp://HOST:PORT`, port 0 for one the OS picks, or
    /// `ipc:///PATH`).
    pub async fn bind(self, endpoints: &[&str]) -> Result<Bound<D>, Error> {
        let mut socket = zeromq::RouterSocket::new();
        let mut bound = Vec::new();
        for endpoint in endpoints {
            let at = socket.bind(endpoint).await.map_err(|e| Error::Bind((*endpoint).to_owned(), e))?;
            tracing::info!(endpoint = %at, "zerorpc server listening");
            bound.push(at.to_string());
        }
        Ok(Bound { server: self, socket, endpoints: bound })
    }
}

/// A server bound to its endpoints, ready to run.
pub struct Bound<D> {
    server: Server<D>,
    socket: zeromq::RouterSocket,
    endpoints: Vec<String>,
}

impl<D> std::fmt::Debug for Bound<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bound").field("endpoints", &self.endpoints).finish_non_exhaustive()
    }
}

impl<D: Dispatch> Bound<D> {
    /// The endpoints bound, as resolved (`tcp://127.0.0.1:40123` for a port 0).
    pub fn endpoints(&self) -> &[String] {
        &self.endpoints
    }

    /// Serves until the socket fails.
    pub async fn run(self) -> Result<(), Error> {
        self.run_with_shutdown(std::future::pending()).await
    }

    /// Serves until `signal` completes; then the calls in flight are dropped and the socket closed.
    pub async fn run_with_shutdown(self, signal: impl Future<Output = ()> + Send) -> Result<(), Error> {
        let Bound { server, socket, .. } = self;
        let (send, mut recv) = socket.split();
        let (out, rx) = mpsc::channel(WRITE_QUEUE);
        let writer = tokio::spawn(event::write_loop(send, rx));
        let mut state = State {
            dispatch: server.dispatch.clone(),
            methods: Arc::new(server.dispatch.methods()),
            settings: server.settings.clone(),
            out,
            ids: Arc::new(Ids::new()),
            channels: HashMap::new(),
            ended: mpsc::unbounded_channel(),
        };
        let mut tick = tokio::time::interval(server.settings.heartbeat);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut signal = std::pin::pin!(signal);
        let result = loop {
            tokio::select! {
                () = &mut signal => break Ok(()),
                message = recv.recv() => match message {
                    Ok(message) => state.on_message(message),
                    Err(e) => break Err(Error::Socket(e)),
                },
                _ = tick.tick() => state.on_tick(),
                Some(ended) = state.ended.1.recv() => {
                    state.channels.remove(&ended);
                }
            }
        };
        // Dropping the channels aborts their tasks.
        state.channels.clear();
        writer.abort();
        result
    }
}

/// What the server loop keeps.
struct State<D> {
    dispatch: Arc<D>,
    methods: Arc<Vec<MethodInfo>>,
    settings: Settings,
    out: mpsc::Sender<ZmqMessage>,
    ids: Arc<Ids>,
    /// The open channels, by peer identity and channel id.
    channels: HashMap<ChannelKey, Open>,
    /// Channels whose task has ended (unbounded: at most one entry per channel, and the channels are bounded).
    ended: (mpsc::UnboundedSender<ChannelKey>, mpsc::UnboundedReceiver<ChannelKey>),
}

type ChannelKey = (Bytes, Vec<u8>);

/// One open channel: its task (aborted when dropped), the credits its peer granted, and when it was last
/// heard from.
struct Open {
    response_to: Value,
    identity: Bytes,
    task: tokio::task::AbortHandle,
    credits: Arc<Semaphore>,
    heard: Instant,
}

impl Drop for Open {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl<D: Dispatch> State<D> {
    fn on_message(&mut self, message: ZmqMessage) {
        let frames = message.into_vec();
        // [identity, "", payload] from a DEALER; the identity is ZeroMQ's, the payload the event.
        let (Some(identity), Some(payload)) = (frames.first().cloned(), frames.last()) else { return };
        if frames.len() < 2 {
            return;
        }
        if payload.len() > self.settings.max_message_size {
            tracing::warn!(
                size = payload.len(),
                max = self.settings.max_message_size,
                "an event over the size limit; dropped"
            );
            return;
        }
        let event = match Event::read(payload, self.settings.max_message_size, self.settings.max_depth) {
            Ok(event) => event,
            Err(Unreadable::Malformed(why)) => {
                tracing::warn!(why, "not a zerorpc event; dropped");
                return;
            }
            Err(Unreadable::Refused { message_id, fault }) => {
                tracing::warn!(message = fault.message, "a zerorpc event refused");
                self.send(
                    &identity,
                    Event {
                        message_id: self.ids.next(),
                        response_to: Some(message_id),
                        name: "ERR".into(),
                        args: event::error_args(&fault),
                    },
                );
                return;
            }
        };
        if let Some(to) = &event.response_to {
            let key = (identity.clone(), event::key(to));
            if let Some(open) = self.channels.get_mut(&key) {
                open.heard = Instant::now();
                if event.name == MORE {
                    let more = event.args.as_array().and_then(|a| a.first()).and_then(Value::as_u64).unwrap_or(0);
                    let room = MAX_CREDITS.saturating_sub(open.credits.available_permits());
                    open.credits.add_permits(usize::try_from(more).unwrap_or(usize::MAX).min(room));
                }
            }
            // Heartbeats and credits of channels already closed (answered) are expected: nothing to do.
            return;
        }
        if event.name == HEARTBEAT || event.name == MORE {
            return;
        }
        self.open(identity, event);
    }

    /// Opens the channel of request `event` and starts its call.
    fn open(&mut self, identity: Bytes, event: Event) {
        let key = (identity.clone(), event::key(&event.message_id));
        let response_to = event.message_id.clone();
        if self.channels.len() >= self.settings.max_channels {
            let max = self.settings.max_channels;
            tracing::warn!(max, "max_channels calls open; a request refused");
            let fault = Fault::internal_error(format!("the server is busy: {max} calls are open; retry later"));
            self.send(
                &identity,
                Event {
                    message_id: self.ids.next(),
                    response_to: Some(response_to),
                    name: "ERR".into(),
                    args: event::error_args(&fault),
                },
            );
            return;
        }
        // One credit to start with (zerorpc's): for the answer, or a stream's first item.
        let credits = Arc::new(Semaphore::new(1));
        let call = Call {
            dispatch: self.dispatch.clone(),
            methods: self.methods.clone(),
            name: self.settings.name.clone(),
            limit: self.settings.handler_timeout,
            out: self.out.clone(),
            ids: self.ids.clone(),
            identity: identity.clone(),
            response_to: response_to.clone(),
            credits: credits.clone(),
        };
        let ended = self.ended.0.clone();
        let done = key.clone();
        // One server span per call (`rpc_core::trace`), the channel id as its request id.
        let id = display_id(&event.message_id);
        let span = rpc_core::trace::server_span("zerorpc", &event.name, Some(&id), &Context::new());
        let task = tokio::spawn(
            async move {
                call.run(event.name, event.args).await;
                let _ = ended.send(done);
            }
            .instrument(span),
        );
        let open = Open { response_to, identity, task: task.abort_handle(), credits, heard: Instant::now() };
        self.channels.insert(key, open);
    }

    /// Every heartbeat interval: a heartbeat on each open channel, and the channels whose peer has been silent
    /// for two intervals are dropped (their calls with them).
    fn on_tick(&mut self) {
        let now = Instant::now();
        let lost_after = self.settings.heartbeat * 2;
        self.channels.retain(|_, open| {
            if now.duration_since(open.heard) > lost_after {
                tracing::info!(?lost_after, "a zerorpc peer sent no heartbeat; its call is dropped");
                return false;
            }
            true
        });
        let beats: Vec<(Bytes, Value)> =
            self.channels.values().map(|open| (open.identity.clone(), open.response_to.clone())).collect();
        for (identity, response_to) in beats {
            self.send(&identity, heartbeat(&self.ids, response_to));
        }
    }

    /// Queues `event` for `identity`, if the write queue has room (a heartbeat or a refusal is not worth
    /// waiting for).
    fn send(&self, identity: &Bytes, event: Event) {
        match frames(identity, &event) {
            Ok(message) => {
                if self.out.try_send(message).is_err() {
                    tracing::debug!("the write queue is full; an event was dropped");
                }
            }
            Err(e) => tracing::warn!(error = %e, "an event could not be encoded"),
        }
    }
}

/// A message id as text, for spans and logs (zerorpc-python's are ASCII bytes).
pub(crate) fn display_id(id: &Value) -> String {
    match id {
        Value::Bytes(bytes) => String::from_utf8_lossy(bytes).into_owned(),
        Value::String(text) => text.clone(),
        other => format!("{other:?}"),
    }
}

/// A heartbeat on the channel `response_to`.
fn heartbeat(ids: &Ids, response_to: Value) -> Event {
    Event {
        message_id: ids.next(),
        response_to: Some(response_to),
        name: HEARTBEAT.into(),
        args: Value::Array(vec![0.into()]),
    }
}

/// The ZeroMQ message of `event` for the peer `identity`: `[identity, "", event]`.
fn frames(identity: &Bytes, event: &Event) -> Result<ZmqMessage, rpc_core::Error> {
    let mut message = ZmqMessage::from(event.encode()?);
    message.push_front(Bytes::new());
    message.push_front(identity.clone());
    Ok(message)
}

/// One request being answered on its channel.
struct Call<D> {
    dispatch: Arc<D>,
    methods: Arc<Vec<MethodInfo>>,
    name: String,
    limit: Option<Duration>,
    out: mpsc::Sender<ZmqMessage>,
    ids: Arc<Ids>,
    identity: Bytes,
    response_to: Value,
    credits: Arc<Semaphore>,
}

impl<D: Dispatch> Call<D> {
    async fn run(self, method: String, args: Value) {
        let params = match args {
            Value::Array(params) => params,
            Value::Nil => Vec::new(),
            other => vec![other],
        };
        if let Some(answer) = self.builtin(&method, &params) {
            return self.answer(answer).await;
        }
        // A stream method is called by its plain name (zerorpc's way), its items sent as STREAM events.
        let stream = self.methods.iter().find(|m| m.stream.as_ref().is_some_and(|s| s.notification == method));
        if let Some(info) = stream {
            let subscribe = info.name.clone();
            let started = rpc_core::encoding::serve_subscribe(&*self.dispatch, &subscribe, params, Context::new());
            match rpc_core::encoding::time_limit(&method, self.limit, started).await {
                Ok(items) => self.stream(items).await,
                Err(fault) => self.answer(Err(fault)).await,
            }
            return;
        }
        let call = rpc_core::encoding::serve_call_value(&*self.dispatch, &method, params, Context::new());
        let result = rpc_core::encoding::time_limit(&method, self.limit, call).await;
        self.answer(result).await;
    }

    /// zerorpc's built-in methods, answered from the service's metadata.
    fn builtin(&self, method: &str, params: &[Value]) -> Option<Result<Value, Fault>> {
        let names = || self.methods.iter().map(|m| Value::from(zerorpc_name(m)));
        let find = || {
            let name = params.first().and_then(Value::as_str).unwrap_or_default();
            self.methods.iter().find(|m| zerorpc_name(m) == name).ok_or_else(|| Fault::method_not_found(name))
        };
        Some(match method {
            "_zerorpc_name" => Ok(Value::from(self.name.as_str())),
            "_zerorpc_ping" => Ok(Value::Array(vec!["pong".into(), self.name.as_str().into()])),
            "_zerorpc_list" => Ok(Value::Array(names().collect())),
            "_zerorpc_help" => find().map(|m| Value::from(m.docs)),
            "_zerorpc_args" => find().map(args_of),
            "_zerorpc_inspect" => {
                let mut methods = Map::new();
                for m in self.methods.iter() {
                    let mut info = Map::new();
                    info.push("args", args_of(m));
                    info.push("doc", m.docs);
                    methods.push(zerorpc_name(m), info);
                }
                let mut inspect = Map::new();
                inspect.push("name", self.name.as_str());
                inspect.push("methods", methods);
                Ok(Value::Map(inspect))
            }
            _ => return None,
        })
    }

    /// Sends the answer, `OK [result]` or `ERR [name, message, traceback]`, once the peer has room for it.
    async fn answer(&self, result: Result<Value, Fault>) {
        let (name, args) = match result {
            Ok(value) => ("OK", Value::Array(vec![value])),
            Err(fault) => {
                rpc_core::trace::record_fault(&tracing::Span::current(), &fault);
                tracing::debug!(code = fault.code, message = fault.message, "a zerorpc call answered ERR");
                ("ERR", event::error_args(&fault))
            }
        };
        self.emit(name, args).await;
    }

    /// Sends a stream's items as `STREAM` events, each once the peer has granted a credit for it, then
    /// `STREAM_DONE` (or `ERR` for a stream that failed).
    async fn stream(&self, mut items: rpc_core::stream::ItemStream) {
        while let Some(item) = items.next().await {
            let item = item.and_then(|reply| rpc_core::encoding::reply_to_value("stream", &reply));
            match item {
                Ok(value) => self.emit("STREAM", value).await,
                Err(fault) => return self.answer(Err(fault)).await,
            }
        }
        self.emit("STREAM_DONE", Value::Nil).await;
    }

    /// Sends one event of the channel, waiting for a credit (zerorpc's flow control).
    async fn emit(&self, name: &str, args: Value) {
        match self.credits.acquire().await {
            Ok(permit) => permit.forget(),
            Err(_) => return,
        }
        let event =
            Event { message_id: self.ids.next(), response_to: Some(self.response_to.clone()), name: name.into(), args };
        match frames(&self.identity, &event) {
            Ok(message) => {
                let _ = self.out.send(message).await;
            }
            Err(e) => {
                let fault = Fault::internal_error(format!("the answer cannot be encoded: {e}"));
                let event = Event { args: event::error_args(&fault), name: "ERR".into(), ..event };
                if let Ok(message) = frames(&self.identity, &event) {
                    let _ = self.out.send(message).await;
                }
            }
        }
    }
}

/// The name a method goes by on zerorpc: its wire name, or for a stream method its plain name.
pub(crate) fn zerorpc_name(m: &MethodInfo) -> &str {
    match &m.stream {
        Some(stream) => &stream.notification,
        None => &m.name,
    }
}

/// A method's args as `_zerorpc_inspect` lists them: `[{"name": ...}, ...]`.
fn args_of(m: &MethodInfo) -> Value {
    Value::Array(
        m.params
            .iter()
            .map(|p| {
                let mut arg = Map::new();
                arg.push("name", p.name);
                Value::Map(arg)
            })
            .collect(),
    )
}

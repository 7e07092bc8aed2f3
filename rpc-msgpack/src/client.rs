//! The MessagePack-RPC client: one connection, multiplexed by msgid, that can also answer calls from the server.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use rpc_core::{BoxFuture, Context, Dispatch, RemoteAddr, Router, Transport, Value};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpStream, ToSocketAddrs};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::codec::{DEFAULT_MAX_DEPTH, ErrorFormat};
use crate::session::{Config, DEFAULT_MAX_IN_FLIGHT, DEFAULT_TIMEOUT, DEFAULT_WRITE_QUEUE, OnEof, Session, Shared};
use crate::{Error, Peer};

/// The default limit on one incoming message on a client connection: 64 MiB (Neovim can send whole buffers).
pub const DEFAULT_CLIENT_MAX_MESSAGE_SIZE: usize = 64 * 1024 * 1024;

/// A MessagePack-RPC client: one connection that many tasks call through at once.
///
/// Calls are matched to their answers by msgid (a `u32` that wraps around, never reusing an id still in
/// flight), so they run concurrently and may be answered in any order. Each call has a timeout
/// ([`ClientBuilder::timeout`]); when the connection drops, every call waiting fails with
/// [`Error::Closed`] (as [`rpc_core::Error::Transport`]). Cloning is cheap and shares the connection, which
/// closes when the last clone is dropped.
///
/// Use it through a generated client (`ServicesClient::new(client)`), or call [`Client::call`] with
/// [`Value`]s. The server may call back: register a [`Dispatch`] with [`ClientBuilder::handler`].
///
/// ```no_run
/// use rpc_core::Value;
///
/// # async fn run() -> Result<(), rpc_core::Error> {
/// let nvim = rpc_msgpack::Client::connect("127.0.0.1:6666").await?;
/// assert_eq!(nvim.call("nvim_eval", vec!["1+2".into()]).await?, Value::Int(3));
/// nvim.notify("nvim_command", vec!["echo 'hello from Rust'".into()]).await?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Client {
    peer: Peer,
    _owner: Arc<Owner>,
}

/// Closes the connection when the last [`Client`] clone is dropped.
struct Owner(Arc<Shared>);

impl Drop for Owner {
    fn drop(&mut self) {
        self.0.close("the client was dropped");
    }
}

impl Client {
    /// Connects over TCP with the default settings (and no handler: calls from the server answer -32601).
    pub async fn connect(addr: impl ToSocketAddrs) -> Result<Client, Error> {
        Client::builder().connect(addr).await
    }

    /// Connects to a Unix domain socket (e.g. Neovim's `$NVIM` or `v:servername`) with the default settings.
    #[cfg(unix)]
    pub async fn connect_unix(path: impl AsRef<std::path::Path>) -> Result<Client, Error> {
        Client::builder().connect_unix(path).await
    }

    /// A builder to change the settings or register a handler.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// Calls `method` with positional `params` and waits for the answer (up to the call timeout). An error
    /// reply is [`rpc_core::Error::Fault`]; see [`error_to_fault`](crate::codec::error_to_fault) for how a
    /// peer's error object becomes a fault.
    pub async fn call(&self, method: &str, params: Vec<Value>) -> Result<Value, rpc_core::Error> {
        self.peer.call(method, params).await
    }

    /// Sends a notification; returns once it is queued for writing.
    pub async fn notify(&self, method: &str, params: Vec<Value>) -> Result<(), rpc_core::Error> {
        self.peer.notify(method, params).await
    }

    /// The connection's [`Peer`] handle (the same one this client's handlers find in their context).
    pub fn peer(&self) -> &Peer {
        &self.peer
    }

    /// True once the connection has closed.
    pub fn is_closed(&self) -> bool {
        self.peer.is_closed()
    }

    /// Waits until the connection has closed (the server went away, or a limit broke it).
    pub async fn closed(&self) {
        self.peer.closed().await;
    }
}

impl Transport for Client {
    fn call<'a>(&'a self, method: &'a str, params: Vec<Value>) -> BoxFuture<'a, Result<Value, rpc_core::Error>> {
        Box::pin(self.peer.call(method, params))
    }

    fn notify<'a>(&'a self, method: &'a str, params: Vec<Value>) -> BoxFuture<'a, Result<(), rpc_core::Error>> {
        Box::pin(self.peer.notify(method, params))
    }
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client").field("closed", &self.is_closed()).finish_non_exhaustive()
    }
}

/// Settings for a [`Client`], and the handler that answers the server's calls.
pub struct ClientBuilder {
    config: Config,
    handler: Arc<dyn Dispatch>,
}

impl Default for ClientBuilder {
    fn default() -> ClientBuilder {
        ClientBuilder {
            config: Config {
                max_message_size: DEFAULT_CLIENT_MAX_MESSAGE_SIZE,
                max_depth: DEFAULT_MAX_DEPTH,
                max_in_flight: DEFAULT_MAX_IN_FLIGHT,
                write_queue: DEFAULT_WRITE_QUEUE,
                call_timeout: Some(DEFAULT_TIMEOUT),
                error_format: ErrorFormat::CodeMessage,
            },
            handler: Arc::new(Router::new()),
        }
    }
}

impl ClientBuilder {
    /// How long one call may take, from queueing it to its answer (default
    /// `Some(`[`DEFAULT_TIMEOUT`](crate::DEFAULT_TIMEOUT)`)`, 30 s); `None` waits for ever. A call over time
    /// fails with [`rpc_core::Error::Timeout`], and a late answer is dropped. Notifications wait at most this
    /// long for room in the write queue.
    pub fn timeout(mut self, timeout: Option<Duration>) -> ClientBuilder {
        self.config.call_timeout = timeout;
        self
    }

    /// The largest message accepted from the server, in bytes (default [`DEFAULT_CLIENT_MAX_MESSAGE_SIZE`],
    /// 64 MiB). A larger one closes the connection.
    pub fn max_message_size(mut self, bytes: usize) -> ClientBuilder {
        self.config.max_message_size = bytes;
        self
    }

    /// How deeply arrays and maps may nest in a message from the server, its own array counting as one level
    /// (default [`DEFAULT_MAX_DEPTH`], 64). A deeper one closes the connection.
    pub fn max_depth(mut self, depth: usize) -> ClientBuilder {
        self.config.max_depth = depth;
        self
    }

    /// How many of the server's calls the handler may run at once (default
    /// [`DEFAULT_MAX_IN_FLIGHT`](crate::DEFAULT_MAX_IN_FLIGHT), 128; at least 1). As many more may wait; then
    /// the connection stops reading.
    pub fn max_in_flight(mut self, calls: usize) -> ClientBuilder {
        self.config.max_in_flight = calls;
        self
    }

    /// How many encoded messages may wait to be written (default
    /// [`DEFAULT_WRITE_QUEUE`](crate::DEFAULT_WRITE_QUEUE), 128; at least 1). Calls wait for room here.
    pub fn write_queue(mut self, messages: usize) -> ClientBuilder {
        self.config.write_queue = messages;
        self
    }

    /// Answers the server's calls and notifications with `handler` (a `#[service]`'s `...Server`, or a
    /// [`Router`]); its handlers find the [`Peer`] in their context. Without one, calls from the server answer
    /// -32601 and notifications are dropped.
    ///
    /// A handler that needs to call the server should use that [`Peer`], not a [`Client`] clone: the handler
    /// lives as long as the connection, and a client kept inside it would keep the connection open for ever.
    pub fn handler(mut self, handler: impl Dispatch) -> ClientBuilder {
        self.handler = Arc::new(handler);
        self
    }

    /// How the handler's error replies are written (default [`ErrorFormat::CodeMessage`], `[code, message]`);
    /// use [`ErrorFormat::Neovim`] when connected to Neovim, so that it shows the messages.
    pub fn error_format(mut self, format: ErrorFormat) -> ClientBuilder {
        self.config.error_format = format;
        self
    }

    /// Connects over TCP (with `TCP_NODELAY`); handlers get the server's [`RemoteAddr`].
    pub async fn connect(self, addr: impl ToSocketAddrs) -> Result<Client, Error> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let cx = Context::new().with(RemoteAddr(stream.peer_addr()?));
        let (reader, writer) = stream.into_split();
        Ok(self.start(reader, writer, cx))
    }

    /// Connects to a Unix domain socket.
    #[cfg(unix)]
    pub async fn connect_unix(self, path: impl AsRef<std::path::Path>) -> Result<Client, Error> {
        let stream = tokio::net::UnixStream::connect(path).await?;
        let (reader, writer) = stream.into_split();
        Ok(self.start(reader, writer, Context::new()))
    }

    /// A client over any byte stream: a child process's stdout and stdin (`nvim --embed`), this process's own
    /// stdin and stdout, an in-memory duplex. Must be called within a tokio runtime (it spawns the
    /// connection's task).
    pub fn connect_io<R, W>(self, reader: R, writer: W) -> Client
    where
        R: AsyncRead + Unpin + Send + 'static,
        W: AsyncWrite + Unpin + Send + 'static,
    {
        self.start(reader, writer, Context::new())
    }

    fn start<R, W>(self, reader: R, writer: W, cx: Context) -> Client
    where
        R: AsyncRead + Unpin + Send + 'static,
        W: AsyncWrite + Unpin + Send + 'static,
    {
        let span = match cx.get::<RemoteAddr>() {
            Some(RemoteAddr(server)) => tracing::debug_span!("msgpack-rpc client", %server),
            None => tracing::debug_span!("msgpack-rpc client"),
        };
        let session = Session::new(self.config, self.handler, cx);
        let client = Client { peer: session.peer(), _owner: Arc::new(Owner(session.shared())) };
        tokio::spawn(
            async move {
                if let Err(e) = session.run(reader, writer, CancellationToken::new(), OnEof::Close).await {
                    tracing::debug!(error = %e, "connection ended with an error");
                }
            }
            .instrument(span),
        );
        client
    }
}

impl fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBuilder").field("config", &self.config).finish_non_exhaustive()
    }
}

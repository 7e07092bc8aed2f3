//! The duplex client: one connection, multiplexed by msgid, that can also answer calls from the server.

use rpc_core::encoding::Param;
use rpc_core::stream::{StreamNames, SubscriptionSource};
use std::fmt;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rpc_core::{BoxFuture, Context, Dispatch, RemoteAddr, Router, Transport, Value};
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpStream, ToSocketAddrs};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::framing::{self, FrameRead, FrameWrite, Framing};
use crate::protocol::Protocol;
use crate::session::{Config, OnEof, Session};
use crate::ws::{self, WsConfig};
use crate::{Error, Peer, tls};

/// The default limit on one incoming message on a client connection: 64 MiB (Neovim can send whole buffers).
pub const DEFAULT_CLIENT_MAX_MESSAGE_SIZE: usize = 64 * 1024 * 1024;

/// A client of the duplex protocol `P` (each encoding names its own: `rpc_msgpack::Client`,
/// `rpc_json::duplex::Client`): one connection that many tasks call through at once.
///
/// Calls are matched to their answers by msgid (a `u32` that wraps around, never reusing an id still in
/// flight), so they run concurrently and may be answered in any order. Each call has a timeout
/// ([`ClientBuilder::timeout`]); when the connection drops, every call waiting fails with
/// [`Error::Closed`] (as [`rpc_core::Error::Transport`]), and is never sent again: the server may have run it. A
/// call made once the connection is known closed fails without being sent (as [`rpc_core::Error::Connect`]:
/// [`Delivery::NotSent`](rpc_core::Delivery::NotSent)).
/// Cloning is cheap and shares the connection, which closes when the last clone is dropped.
///
/// After the connection has closed, calls fail the same way, unless the client was built with
/// [`ClientBuilder::reconnect`]: then the next call opens a new connection first (say, once a restarted server
/// is back), and fails with the connection error if it cannot.
///
/// Made as every client of this framework is: [`Client::new`] or [`ClientBuilder::build`] (and `build_tls`,
/// `build_unix`, `build_ws`) are lazy, opening the connection at the first call (an unreachable server is that
/// call's error); [`Client::connect`] or [`ClientBuilder::connect`] (and `connect_tls`, `connect_unix`,
/// `connect_ws`) are eager, opening it now.
///
/// Use it through a generated client (`ServicesClient::new(client)`), or call [`Client::call`] with
/// [`Value`]s. The server may call back: register a [`Dispatch`] with [`ClientBuilder::handler`].
pub struct Client<P> {
    inner: Arc<Inner<P>>,
}

impl<P> Clone for Client<P> {
    fn clone(&self) -> Self {
        Client { inner: self.inner.clone() }
    }
}

/// What the clones of a [`Client`] share; the connection closes when the last of them is dropped.
struct Inner<P> {
    /// The connection calls go to (for a lazy client before its first call, a closed stand-in).
    current: Mutex<Peer>,
    /// How to open a connection: the first one of a lazy client, and a new one once `current` has closed, with
    /// [`ClientBuilder::reconnect`].
    reconnect: Option<Reconnect<P>>,
    /// Whether a connection has been opened (after which only [`ClientBuilder::reconnect`] opens another).
    opened: std::sync::atomic::AtomicBool,
    /// Held while reconnecting, so that one caller reconnects and the others wait for its connection.
    reconnecting: tokio::sync::Mutex<()>,
}

impl<P> Drop for Inner<P> {
    fn drop(&mut self) {
        self.current.get_mut().unwrap_or_else(PoisonError::into_inner).close_because("the client was dropped");
    }
}

/// Where a client connects, kept for connecting later (lazy clients) and reconnecting.
#[derive(Clone, Debug)]
enum Address {
    /// TCP.
    Tcp(Host),
    /// TLS over TCP, checking the certificate against the server name.
    Tls(Host, ServerName<'static>),
    /// A Unix domain socket.
    #[cfg(unix)]
    Unix(std::path::PathBuf),
    /// WebSocket at `url`, over TCP or (with a server name) TLS.
    Ws { addrs: Host, tls: Option<ServerName<'static>>, url: String },
}

/// Where a TCP connection goes.
#[derive(Clone, Debug)]
enum Host {
    /// The addresses an eager client's name first resolved to.
    Resolved(Vec<SocketAddr>),
    /// A lazy client's `HOST:PORT`, resolved each time a connection is opened.
    Name(String),
}

/// The settings and address a client connects and reconnects with.
struct Reconnect<P> {
    builder: ClientBuilder<P>,
    address: Address,
    /// Whether to open a new connection once one has closed ([`ClientBuilder::reconnect`]).
    again: bool,
}

impl<P: Protocol + Clone + Default> Client<P> {
    /// A client of `addr` (`HOST:PORT`) over TCP with the default settings, connecting at the first call (see
    /// [`ClientBuilder::build`]).
    pub fn new(addr: &str) -> Result<Client<P>, Error> {
        Client::builder().build(addr)
    }

    /// Connects over TCP with the default settings (and no handler: calls from the server answer -32601).
    pub async fn connect(addr: impl ToSocketAddrs) -> Result<Client<P>, Error> {
        Client::builder().connect(addr).await
    }

    /// Connects over TCP and TLS to `addr` (`HOST:PORT`) with the default settings, trusting the system's root
    /// certificates; see [`ClientBuilder::connect_tls`].
    pub async fn connect_tls(addr: &str) -> Result<Client<P>, Error> {
        Client::builder().connect_tls(addr).await
    }

    /// Connects to a Unix domain socket (e.g. Neovim's `$NVIM` or `v:servername`) with the default settings.
    #[cfg(unix)]
    pub async fn connect_unix(path: impl AsRef<std::path::Path>) -> Result<Client<P>, Error> {
        Client::builder().connect_unix(path).await
    }

    /// Connects to a WebSocket server at `url` (`ws://` or `wss://`) with the default settings; see
    /// [`ClientBuilder::connect_ws`].
    pub async fn connect_ws(url: &str) -> Result<Client<P>, Error> {
        Client::builder().connect_ws(url).await
    }

    /// A builder to change the settings or register a handler.
    pub fn builder() -> ClientBuilder<P> {
        ClientBuilder::default()
    }

    /// Calls `method` with positional `params` and waits for the answer (up to the call timeout). An error
    /// reply is [`rpc_core::Error::Fault`] (the encoding's docs say how a peer's error object becomes a
    /// fault).
    pub async fn call(&self, method: &str, params: Vec<Value>) -> Result<Value, rpc_core::Error> {
        self.connection().await?.call(method, params).await
    }

    /// Sends a notification; returns once it is queued for writing.
    pub async fn notify(&self, method: &str, params: Vec<Value>) -> Result<(), rpc_core::Error> {
        self.connection().await?.notify(method, params).await
    }

    /// The [`Peer`] handle of the current connection (the same one this client's handlers find in their
    /// context). It does not follow a [reconnection](ClientBuilder::reconnect).
    pub fn peer(&self) -> Peer {
        self.inner.current.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// True once the current connection has closed (with [`ClientBuilder::reconnect`], the next call opens a
    /// new one).
    pub fn is_closed(&self) -> bool {
        self.peer().is_closed()
    }

    /// Waits until the current connection has closed (the server went away, or a limit broke it).
    pub async fn closed(&self) {
        self.peer().closed().await;
    }

    /// Closes the current connection once every message already queued on it is written, and waits for that
    /// (see [`Peer::shutdown`]): a program that sends notifications calls it before it exits, so that they are
    /// not lost with the runtime. Calls still waiting for answers fail. With
    /// [`reconnect`](ClientBuilder::reconnect), a later call opens a new connection.
    pub async fn shutdown(&self) {
        self.peer().shutdown().await;
    }

    /// A client over the connection `peer` handles (`opened`), or over a closed stand-in that connects at the
    /// first call; connecting and reconnecting as `reconnect` says if given.
    fn over(peer: Peer, opened: bool, reconnect: Option<Reconnect<P>>) -> Client<P> {
        let inner = Inner {
            current: Mutex::new(peer),
            reconnect,
            opened: std::sync::atomic::AtomicBool::new(opened),
            reconnecting: tokio::sync::Mutex::new(()),
        };
        Client { inner: Arc::new(inner) }
    }

    /// Whether a closed connection is to be replaced: the stand-in of a lazy client, or any with reconnect.
    fn reopens(&self, reconnect: &Reconnect<P>) -> bool {
        reconnect.again || !self.inner.opened.load(std::sync::atomic::Ordering::Acquire)
    }

    /// The current connection, or a new one: the first of a lazy client, or when it has closed and this client
    /// reconnects.
    async fn connection(&self) -> Result<Peer, rpc_core::Error> {
        let peer = self.peer();
        let Some(reconnect) = &self.inner.reconnect else {
            return Ok(peer);
        };
        if !peer.is_closed() || !self.reopens(reconnect) {
            return Ok(peer);
        }
        let _one_at_a_time = self.inner.reconnecting.lock().await;
        let peer = self.peer();
        if !peer.is_closed() || !self.reopens(reconnect) {
            // Another call connected while this one waited.
            return Ok(peer);
        }
        let first = !self.inner.opened.load(std::sync::atomic::Ordering::Acquire);
        let open = reconnect.builder.open(&reconnect.address);
        // A connection that cannot be opened means the call was never sent (`rpc_core::Error::Connect`).
        let not_sent = |e: Error| rpc_core::Error::Connect(Box::new(e));
        let fresh = match reconnect.builder.config.call_timeout {
            Some(limit) => tokio::time::timeout(limit, open)
                .await
                .map_err(|_| rpc_core::Error::Timeout(limit))?
                .map_err(not_sent)?,
            None => open.await.map_err(not_sent)?,
        };
        match first {
            true => {
                tracing::debug!(address = ?reconnect.address, protocol = reconnect.builder.protocol.name(), "client connected")
            }
            false => {
                tracing::info!(address = ?reconnect.address, protocol = reconnect.builder.protocol.name(), "client reconnected")
            }
        }
        *self.inner.current.lock().unwrap_or_else(PoisonError::into_inner) = fresh.clone();
        self.inner.opened.store(true, std::sync::atomic::Ordering::Release);
        Ok(fresh)
    }
}

impl<P: Protocol + Clone + Default> Transport for Client<P> {
    fn call<'a>(&'a self, method: &'a str, params: Vec<Value>) -> BoxFuture<'a, Result<Value, rpc_core::Error>> {
        Box::pin(Client::call(self, method, params))
    }

    fn notify<'a>(&'a self, method: &'a str, params: Vec<Value>) -> BoxFuture<'a, Result<(), rpc_core::Error>> {
        Box::pin(Client::notify(self, method, params))
    }

    fn call_typed<'a>(&'a self, method: &'a str, params: &[Param<'_>]) -> rpc_core::encoding::AnswerFuture<'a> {
        // The params are encoded now; the connection (reopened if this client reconnects) is found after.
        let params = self.peer().encode_params(params);
        Box::pin(async move {
            let params = params?;
            self.connection().await?.call_encoded(method, &params).await
        })
    }

    fn subscribe<'a>(
        &'a self,
        names: StreamNames<'a>,
        params: &[Param<'_>],
    ) -> BoxFuture<'a, Result<Box<dyn SubscriptionSource>, rpc_core::Error>> {
        let params = self.peer().encode_params(params);
        Box::pin(async move {
            let peer = self.connection().await?;
            peer.subscribe_encoded(names, params).await
        })
    }
}

impl<P> fmt::Debug for Client<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("closed", &self.inner.current.lock().unwrap_or_else(PoisonError::into_inner).is_closed())
            .field("reconnect", &self.inner.reconnect.as_ref().map(|r| &r.address))
            .finish_non_exhaustive()
    }
}

/// Settings for a [`Client`], and the handler that answers the server's calls.
pub struct ClientBuilder<P> {
    protocol: Arc<P>,
    config: Config,
    framing: Option<TextFraming>,
    handler: Arc<dyn Dispatch>,
    tls: Option<Arc<rustls::ClientConfig>>,
    reconnect: bool,
    ws: WsConfig,
}

impl<P> Clone for ClientBuilder<P> {
    fn clone(&self) -> Self {
        ClientBuilder {
            protocol: self.protocol.clone(),
            config: self.config.clone(),
            framing: self.framing,
            handler: self.handler.clone(),
            tls: self.tls.clone(),
            reconnect: self.reconnect,
            ws: self.ws,
        }
    }
}

/// The framing a client of a text encoding (JSON-RPC) writes and reads with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TextFraming {
    /// One message per line ([`Framing::lines`]).
    Lines,
    /// LSP's `Content-Length` header before each message ([`Framing::content_length`]).
    ContentLength,
}

impl<P: Default> Default for ClientBuilder<P> {
    fn default() -> ClientBuilder<P> {
        ClientBuilder {
            protocol: Arc::new(P::default()),
            config: Config::new(DEFAULT_CLIENT_MAX_MESSAGE_SIZE),
            framing: None,
            handler: Arc::new(Router::new()),
            tls: None,
            reconnect: false,
            ws: WsConfig::default(),
        }
    }
}

impl<P: Protocol + Clone + Default> ClientBuilder<P> {
    /// Changes the encoding's own settings (each encoding offers them as builder methods of its own).
    pub fn map_protocol(mut self, change: impl FnOnce(&mut P)) -> Self {
        change(Arc::make_mut(&mut self.protocol));
        self
    }

    setters! {
        /// On a WebSocket connection, send a ping after this long without writing anything (default
        /// `Some(`[`DEFAULT_PING_INTERVAL`](crate::DEFAULT_PING_INTERVAL)`)`, 30 s), and close the connection when
        /// the server sent nothing, not even a pong, for twice as long; `None` sends none and waits for ever.
        ping_interval(interval: Option<Duration>) => [ws.ping_interval];
        /// Frame messages this way instead of the encoding's default for clients (for JSON-RPC, one message per
        /// line). Encodings whose messages delimit themselves (MessagePack-RPC) ignore it.
        framing(framing: TextFraming) => [Some(framing)];
        /// How long one call may take, from queueing it to its answer (default
        /// `Some(`[`DEFAULT_TIMEOUT`](crate::DEFAULT_TIMEOUT)`)`, 30 s); `None` waits for ever. A call over time
        /// fails with [`rpc_core::Error::Timeout`], and a late answer is dropped. Notifications wait at most this
        /// long for room in the write queue, and a TLS handshake or a reconnection at most this long to finish.
        timeout(timeout: Option<Duration>) => [config.call_timeout];
        /// The largest message accepted from the server, in bytes (default [`DEFAULT_CLIENT_MAX_MESSAGE_SIZE`],
        /// 64 MiB). A larger one closes the connection.
        max_message_size(bytes: usize) => [config.max_message_size];
        /// How deeply arrays and maps may nest in a message from the server, its own array counting as one level
        /// (default [`DEFAULT_MAX_DEPTH`](crate::DEFAULT_MAX_DEPTH), 64). A deeper one closes the
        /// connection.
        max_depth(depth: usize) => [config.max_depth];
        /// How many of the server's calls the handler may run at once (default
        /// [`DEFAULT_MAX_IN_FLIGHT`](crate::DEFAULT_MAX_IN_FLIGHT), 128; at least 1). As many more may wait; then
        /// the connection stops reading.
        max_in_flight(calls: usize) => [config.max_in_flight];
        /// How long the handler may take over one of the server's calls (default
        /// `Some(`[`DEFAULT_HANDLER_TIMEOUT`](rpc_core::DEFAULT_HANDLER_TIMEOUT)`)`, 5 minutes); `None` lets it run
        /// for ever. A call still running then is answered with a -32603 error, as on a [`Server`](crate::Server).
        handler_timeout(timeout: Option<Duration>) => [config.handler_timeout];
        /// How many encoded messages may wait to be written (default
        /// [`DEFAULT_WRITE_QUEUE`](crate::DEFAULT_WRITE_QUEUE), 128; at least 1). Calls wait for room here.
        write_queue(messages: usize) => [config.write_queue];
        /// How many items of one subscription (see [`rpc_core::stream`]) may wait unread (default
        /// [`DEFAULT_SUBSCRIPTION_BUFFER`](crate::DEFAULT_SUBSCRIPTION_BUFFER), 1024; at least 1). A subscriber that
        /// leaves that many unread pauses the connection's reading until it catches up, so the server's stream
        /// waits too; but while calls of this client wait for their answers (which would sit unread), that
        /// subscription is ended instead, with an error saying it fell behind, and the client unsubscribes.
        subscription_buffer(items: usize) => [config.subscription_buffer];
        /// How many subscriptions the server may hold on this connection when it subscribes to this side's
        /// `handler` (default [`DEFAULT_MAX_SUBSCRIPTIONS`](crate::DEFAULT_MAX_SUBSCRIPTIONS), 1024).
        max_subscriptions(subscriptions: usize) => [config.max_subscriptions];
    }

    /// Answers the server's calls and notifications with `handler` (a `#[service]`'s `...Server`, or a
    /// [`Router`]); its handlers find the [`Peer`] in their context. Without one, calls from the server answer
    /// -32601 and notifications are dropped.
    ///
    /// A handler that needs to call the server should use that [`Peer`], not a [`Client`] clone: the handler
    /// lives as long as the connection, and a client kept inside it would keep the connection open for ever.
    pub fn handler(mut self, handler: impl Dispatch) -> Self {
        self.config.streams = crate::subscribe::Streams::of(&handler);
        self.handler = Arc::new(handler);
        self
    }

    setters! {
        /// The rustls configuration [`connect_tls`](ClientBuilder::connect_tls) uses: to trust a private CA, or to
        /// present a client certificate (`with_client_auth_cert`). Default: the system's root certificates, or
        /// Mozilla's bundled ones (webpki-roots) where the system has none, and no client certificate.
        tls_config(config: Arc<rustls::ClientConfig>) => [Some(tls)];
        /// Open a new connection, to the same address and with the same settings and handler, when a call or
        /// notification finds the connection closed (default `false`: calls fail with [`Error::Closed`] for good).
        /// Calls that were in flight when the connection dropped still fail, and are never sent again (the server
        /// may have run them); nothing is retried behind the caller's back, and a call that cannot reconnect fails
        /// with the connection error (the next one tries again). Applies to [`connect`](ClientBuilder::connect),
        /// [`connect_tls`](ClientBuilder::connect_tls) and [`connect_unix`](ClientBuilder::connect_unix), not to
        /// [`connect_io`](ClientBuilder::connect_io).
        ///
        /// A new connection goes to the addresses the first one's host name resolved to. Anything the server kept for
        /// the old connection (Neovim's channel id, say) is gone with it.
        reconnect(reconnect: bool) => [reconnect];
    }

    /// Connects over TCP (with `TCP_NODELAY`); handlers get the server's [`RemoteAddr`].
    pub async fn connect(self, addr: impl ToSocketAddrs) -> Result<Client<P>, Error> {
        let addrs = tokio::net::lookup_host(addr).await?.collect();
        self.finish(Address::Tcp(Host::Resolved(addrs))).await
    }

    /// A client of `addr` (`HOST:PORT`) over TCP, as [`connect`](Self::connect) makes one but lazy: the
    /// connection is opened at the first call (the name resolved then), and a failure to open it is that
    /// call's error (the next call tries again). A malformed address is an error now.
    pub fn build(self, addr: &str) -> Result<Client<P>, Error> {
        host_port(addr)?;
        Ok(self.lazy(Address::Tcp(Host::Name(addr.to_owned()))))
    }

    /// [`connect_tls`](Self::connect_tls), lazy as [`build`](Self::build) is.
    pub fn build_tls(self, addr: &str) -> Result<Client<P>, Error> {
        let name = tls::server_name(addr)?;
        host_port(addr)?;
        Ok(self.lazy(Address::Tls(Host::Name(addr.to_owned()), name)))
    }

    /// [`connect_unix`](Self::connect_unix), lazy as [`build`](Self::build) is.
    #[cfg(unix)]
    pub fn build_unix(self, path: impl AsRef<std::path::Path>) -> Client<P> {
        self.lazy(Address::Unix(path.as_ref().to_owned()))
    }

    /// [`connect_ws`](Self::connect_ws), lazy as [`build`](Self::build) is. A URL that is not `ws://` or
    /// `wss://` is an error now.
    pub fn build_ws(self, url: &str) -> Result<Client<P>, Error> {
        let (secure, host, port) = ws_target(url)?;
        let tls = match secure {
            true => Some(tls::server_name(&format!("{host}:{port}"))?),
            false => None,
        };
        let host = match host.contains(':') {
            true => format!("[{host}]:{port}"),
            false => format!("{host}:{port}"),
        };
        Ok(self.lazy(Address::Ws { addrs: Host::Name(host), tls, url: url.to_owned() }))
    }

    /// Connects over TCP and TLS to `addr`, `HOST:PORT` (`[::1]:PORT` for IPv6), checking that the server's
    /// certificate is valid for HOST (a DNS name or an IP address) with the [`tls_config`](Self::tls_config).
    /// The handshake must finish within the call [`timeout`](Self::timeout). For anything else (another
    /// server name, a stream of your own), run the handshake with tokio-rustls and use
    /// [`connect_io`](Self::connect_io).
    pub async fn connect_tls(self, addr: &str) -> Result<Client<P>, Error> {
        let name = tls::server_name(addr)?;
        let addrs = tokio::net::lookup_host(addr).await?.collect();
        self.finish(Address::Tls(Host::Resolved(addrs), name)).await
    }

    /// Connects to a Unix domain socket.
    #[cfg(unix)]
    pub async fn connect_unix(self, path: impl AsRef<std::path::Path>) -> Result<Client<P>, Error> {
        self.finish(Address::Unix(path.as_ref().to_owned())).await
    }

    /// Connects to a WebSocket server at `url`, `ws://HOST[:PORT][/PATH]` or `wss://...` (TLS, checked with the
    /// [`tls_config`](Self::tls_config) as [`connect_tls`](Self::connect_tls) does): one message per WebSocket
    /// message, text frames for text encodings and binary for MessagePack. The TCP connection, the TLS and the
    /// WebSocket handshakes must finish within the call [`timeout`](Self::timeout).
    pub async fn connect_ws(self, url: &str) -> Result<Client<P>, Error> {
        let (secure, host, port) = ws_target(url)?;
        let addrs = tokio::net::lookup_host((host.as_str(), port)).await?.collect();
        let tls = match secure {
            true => Some(tls::server_name(&format!("{host}:{port}"))?),
            false => None,
        };
        self.finish(Address::Ws { addrs: Host::Resolved(addrs), tls, url: url.to_owned() }).await
    }

    /// Runs `command` as a child process and talks to it over its stdin and stdout, the way an editor runs a
    /// language server (`Content-Length` framing for JSON-RPC unless [`framing`](Self::framing) says
    /// otherwise; MessagePack as it is, the way Neovim runs a plugin). The child's stderr is left as the command
    /// says (inherited by default). The child is killed when the connection closes (the last clone of the
    /// client dropped, or the child closing its stdout). It does not [reconnect](ClientBuilder::reconnect).
    pub fn spawn(self, mut command: tokio::process::Command) -> Result<Client<P>, Error> {
        command.stdin(std::process::Stdio::piped()).stdout(std::process::Stdio::piped()).kill_on_drop(true);
        let mut child = command.spawn()?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            return Err(Error::Io(std::io::Error::other("the child's stdin and stdout could not be piped")));
        };
        let framing = match self.framing {
            Some(_) => self.stream_framing(),
            None => self.protocol.stdio_framing(self.config.max_message_size, self.config.max_depth),
        };
        let (reader, writer) = framing::stream(stdout, stdin, framing);
        let peer = self.start_framed(reader, writer, Context::new().with(rpc_core::trace::NetworkTransport("pipe")));
        let watched = peer.clone();
        tokio::spawn(async move {
            // Once the connection's loops have ended (what was queued is written, stdin closed): kill the child
            // if it is still running, and reap it either way.
            watched.finished().await;
            let _ = child.start_kill();
            let _ = child.wait().await;
        });
        Ok(Client::over(peer, true, None))
    }

    /// A client over any byte stream: a child process's stdout and stdin (`nvim --embed`), this process's own
    /// stdin and stdout, an in-memory duplex, a TLS stream of your own. Must be called within a tokio runtime
    /// (it spawns the connection's task). It does not [reconnect](ClientBuilder::reconnect).
    pub fn connect_io<R, W>(self, reader: R, writer: W) -> Client<P>
    where
        R: AsyncRead + Unpin + Send + 'static,
        W: AsyncWrite + Unpin + Send + 'static,
    {
        let peer = self.start(reader, writer, Context::new());
        Client::over(peer, true, None)
    }

    /// Opens the first connection to `address`, and keeps what reconnecting needs if it is asked for.
    async fn finish(self, address: Address) -> Result<Client<P>, Error> {
        let peer = self.open(&address).await?;
        let reconnect = self.reconnect.then(|| Reconnect { again: true, builder: self, address });
        Ok(Client::over(peer, true, reconnect))
    }

    /// A client that opens its first connection to `address` at its first call.
    fn lazy(self, address: Address) -> Client<P> {
        // A closed stand-in until then: it encodes params as a connection does, and is never written to.
        let session = Session::new(self.protocol.clone(), self.config.clone(), self.handler.clone(), Context::new());
        let stand_in = session.peer();
        stand_in.close_because("not connected yet");
        let again = self.reconnect;
        Client::over(stand_in, false, Some(Reconnect { again, builder: self, address }))
    }

    /// Opens a connection to `address` and starts its session.
    async fn open(&self, address: &Address) -> Result<Peer, Error> {
        match address {
            Address::Tcp(addrs) => {
                let stream = tcp(addrs).await?;
                let cx = Context::new().with(RemoteAddr(stream.peer_addr()?));
                let (reader, writer) = stream.into_split();
                Ok(self.start(reader, writer, cx))
            }
            Address::Tls(addrs, name) => {
                let stream = tcp(addrs).await?;
                let cx = Context::new().with(RemoteAddr(stream.peer_addr()?));
                let stream = self.within_timeout("TLS handshake", self.tls_connect(name, stream)).await?;
                let (reader, writer) = tokio::io::split(stream);
                Ok(self.start(reader, writer, cx))
            }
            #[cfg(unix)]
            Address::Unix(path) => {
                let stream = tokio::net::UnixStream::connect(path).await?;
                let (reader, writer) = stream.into_split();
                Ok(self.start(reader, writer, Context::new().with(rpc_core::trace::NetworkTransport("unix"))))
            }
            Address::Ws { addrs, tls: None, url } => {
                let stream = tcp(addrs).await?;
                let cx = Context::new().with(RemoteAddr(stream.peer_addr()?));
                self.open_ws(stream, url, cx).await
            }
            Address::Ws { addrs, tls: Some(name), url } => {
                let stream = tcp(addrs).await?;
                let cx = Context::new().with(RemoteAddr(stream.peer_addr()?));
                let stream = self.within_timeout("TLS handshake", self.tls_connect(name, stream)).await?;
                self.open_ws(stream, url, cx).await
            }
        }
    }

    /// The TLS handshake with `name` over `stream`.
    async fn tls_connect(
        &self,
        name: &ServerName<'static>,
        stream: TcpStream,
    ) -> Result<tokio_rustls::client::TlsStream<TcpStream>, Error> {
        let config = self.tls.clone().unwrap_or_else(tls::default_client_config);
        Ok(tokio_rustls::TlsConnector::from(config).connect(name.clone(), stream).await?)
    }

    /// `step`, within the call timeout.
    async fn within_timeout<T>(
        &self,
        step: &str,
        future: impl std::future::Future<Output = Result<T, Error>>,
    ) -> Result<T, Error> {
        match self.config.call_timeout {
            Some(limit) => tokio::time::timeout(limit, future).await.map_err(|_| {
                Error::Io(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!("the {step} did not finish within {limit:?}"),
                ))
            })?,
            None => future.await,
        }
    }

    /// The WebSocket handshake for `url` over `stream`, then the session.
    async fn open_ws<S>(&self, stream: S, url: &str, cx: Context) -> Result<Peer, Error>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let config = ws::tungstenite_config(self.config.max_message_size);
        let handshake = async {
            tokio_tungstenite::client_async_with_config(url, stream, Some(config))
                .await
                .map_err(|e| Error::Io(std::io::Error::other(format!("WebSocket handshake with {url}: {e}"))))
        };
        let (ws, _response) = self.within_timeout("WebSocket handshake", handshake).await?;
        let (reader, writer) = ws::split(ws, !self.protocol.binary(), self.ws);
        Ok(self.start_framed(reader, writer, cx))
    }

    fn start<R, W>(&self, reader: R, writer: W, cx: Context) -> Peer
    where
        R: AsyncRead + Unpin + Send + 'static,
        W: AsyncWrite + Unpin + Send + 'static,
    {
        let (reader, writer) = framing::stream(reader, writer, self.stream_framing());
        self.start_framed(reader, writer, cx)
    }

    /// Starts the session of a connection, framed.
    fn start_framed<R: FrameRead + 'static, W: FrameWrite + 'static>(&self, reader: R, writer: W, cx: Context) -> Peer {
        let span = match cx.get::<RemoteAddr>() {
            Some(RemoteAddr(server)) => tracing::debug_span!("client", protocol = self.protocol.name(), %server),
            None => tracing::debug_span!("client", protocol = self.protocol.name()),
        };
        let session = Session::new(self.protocol.clone(), self.config.clone(), self.handler.clone(), cx);
        let peer = session.peer();
        tokio::spawn(
            async move {
                if let Err(e) = session.run(reader, writer, CancellationToken::new(), OnEof::Close).await {
                    tracing::debug!(error = %e, "connection ended with an error");
                }
            }
            .instrument(span),
        );
        peer
    }
}

impl<P: Protocol> ClientBuilder<P> {
    /// The framing a new connection's bytes are cut and written with.
    fn stream_framing(&self) -> Framing {
        let (max, depth) = (self.config.max_message_size, self.config.max_depth);
        match self.framing {
            None => self.protocol.client_framing(max, depth),
            Some(framing) if self.protocol.self_delimited() => {
                tracing::debug!(?framing, "the encoding's messages delimit themselves; framing setting ignored");
                self.protocol.client_framing(max, depth)
            }
            Some(TextFraming::Lines) => Framing::lines(max),
            Some(TextFraming::ContentLength) => Framing::content_length(max),
        }
    }
}

/// Checks that `addr` is `HOST:PORT` (`[::1]:PORT` for IPv6), with a port from 0 to 65535.
fn host_port(addr: &str) -> Result<(), Error> {
    let bad = |why: &str| Error::Io(std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("{addr:?}: {why}")));
    let (host, port) = addr.rsplit_once(':').ok_or_else(|| bad("not HOST:PORT"))?;
    port.parse::<u16>().map_err(|_| bad("the port is not a number from 0 to 65535"))?;
    match host.is_empty() {
        true => Err(bad("no host")),
        false => Ok(()),
    }
}

/// Whether `url` is `wss://`, and its host and port (80 or 443 when not given).
fn ws_target(url: &str) -> Result<(bool, String, u16), Error> {
    let bad = |why: &str| Error::Io(std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("{url:?}: {why}")));
    let (scheme, rest) = url.split_once("://").ok_or_else(|| bad("not a ws:// or wss:// URL"))?;
    let secure = match scheme.to_ascii_lowercase().as_str() {
        "ws" => false,
        "wss" => true,
        _ => return Err(bad("not a ws:// or wss:// URL")),
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let authority = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
    let default_port = if secure { 443 } else { 80 };
    let (host, port) = match authority.rsplit_once(':') {
        Some((host, port)) if !port.contains(']') => {
            (host, port.parse().map_err(|_| bad("the port is not a number from 0 to 65535"))?)
        }
        _ => (authority, default_port),
    };
    let host = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
    if host.is_empty() {
        return Err(bad("no host"));
    }
    Ok((secure, host.to_owned(), port))
}

/// A TCP connection to the first of `addrs` that answers, with `TCP_NODELAY`.
async fn tcp(host: &Host) -> Result<TcpStream, Error> {
    let stream = match host {
        Host::Resolved(addrs) => TcpStream::connect(addrs.as_slice()).await?,
        Host::Name(name) => TcpStream::connect(name.as_str()).await?,
    };
    stream.set_nodelay(true)?;
    Ok(stream)
}

impl<P: fmt::Debug> fmt::Debug for ClientBuilder<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("protocol", &self.protocol)
            .field("config", &self.config)
            .field("framing", &self.framing)
            .field("tls", &self.tls.is_some())
            .field("reconnect", &self.reconnect)
            .finish_non_exhaustive()
    }
}

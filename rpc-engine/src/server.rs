//! The duplex server: a [`Protocol`] served on any [`Listener`] (TCP, Unix sockets), on stdio, or on one
//! stream; one task per connection, each a [`Session`](crate::session) of the engine.

use std::fmt;
use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use rpc_core::{Context, Dispatch};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::accept::{Acceptor, Listener, ServeConnection};
use crate::framing::{self, Framing};
use crate::protocol::Protocol;
use crate::session::{Config, OnEof, Session};
use crate::ws::{self, WsConfig};
use crate::{ConnectionInfo, Error};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::Role;

/// The default limit on one incoming message on a server connection: 16 MiB.
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 16 * 1024 * 1024;
/// The default limit on calls handled at once across all of a server's connections: 10,000.
pub const DEFAULT_MAX_IN_FLIGHT_TOTAL: usize = 10_000;

/// Serves a [`Dispatch`] (a `#[service]`'s `...Server`, or a [`Router`](rpc_core::Router)) over the duplex
/// protocol `P` (each encoding names its own: `rpc_engine::Server`, `rpc_json::duplex::Server`).
///
/// Each connection is served on a task of its own. On a connection, requests are handled concurrently (up to
/// [`max_in_flight`](Server::max_in_flight)) and answered as they finish, so a slow call does not hold up a fast
/// one; notifications are handled one at a time, in order. Handlers find a [`Peer`](crate::Peer) in their
/// [`Context`] to call or notify the connected client, and a [`RemoteAddr`](rpc_core::RemoteAddr) on TCP.
///
/// Errors go out in the encoding's error shape with the standard codes: -32601 for an unknown method, -32602
/// for bad params, -32603 for a handler panic or a handler still running after the
/// [`handler_timeout`](Server::handler_timeout), the handler's own fault otherwise; -32600 for a message that
/// is not a valid request, and -32700 / -32600 for bytes that cannot be read or a message over a limit,
/// after which that connection is closed (the framing of its stream is lost). Other connections go on.
///
/// Connections may be TLS ([`tls`](Server::tls)) and admitted by a hook ([`authenticate`](Server::authenticate));
/// their handlers find a [`ConnectionInfo`] in their context either way.
pub struct Server<D, P> {
    dispatch: Arc<D>,
    protocol: Arc<P>,
    config: Config,
    max_in_flight_total: usize,
    acceptor: Acceptor,
    ws: WsConfig,
}

impl<D: Dispatch, P: Protocol + Clone + Default> Server<D, P> {
    /// A server for `dispatch`, with the default limits.
    pub fn new(dispatch: D) -> Self {
        Server::from_arc(Arc::new(dispatch))
    }

    /// A server for a dispatcher already shared (with an HTTP server on the same port, say).
    pub fn from_arc(dispatch: Arc<D>) -> Self {
        Server {
            dispatch: dispatch.clone(),
            protocol: Arc::new(P::default()),
            config: Config {
                total: Some(Arc::new(Semaphore::new(DEFAULT_MAX_IN_FLIGHT_TOTAL))),
                streams: crate::subscribe::Streams::of(&*dispatch),
                ..Config::new(DEFAULT_MAX_MESSAGE_SIZE)
            },
            max_in_flight_total: DEFAULT_MAX_IN_FLIGHT_TOTAL,
            acceptor: Acceptor::default(),
            ws: WsConfig::default(),
        }
    }

    /// Changes the encoding's own settings (each encoding offers them as builder methods of its own).
    pub fn map_protocol(mut self, change: impl FnOnce(&mut P)) -> Self {
        change(Arc::make_mut(&mut self.protocol));
        self
    }

    setters! {
        /// The largest message accepted, in bytes (default [`DEFAULT_MAX_MESSAGE_SIZE`], 16 MiB). A message that
        /// declares a larger size is refused as soon as its header arrives, before anything is allocated for it;
        /// the request gets a -32600 error reply if its id could be read, and the connection is closed.
        max_message_size(bytes: usize) => [config.max_message_size];
        /// How deeply arrays and maps may nest in a message, the message's own array counting as one level
        /// (default [`DEFAULT_MAX_DEPTH`](crate::DEFAULT_MAX_DEPTH), 64). Deeper ones are refused like
        /// messages over the size limit.
        max_depth(depth: usize) => [config.max_depth];
        /// How many calls one connection may have running at once (default
        /// [`DEFAULT_MAX_IN_FLIGHT`](crate::DEFAULT_MAX_IN_FLIGHT), 128; at least 1). As many more may wait, read
        /// and parsed; then the connection stops reading until a call finishes.
        max_in_flight(calls: usize) => [config.max_in_flight];
    }

    /// How many calls may run at once across all the connections this server (and its clones) serves
    /// (default [`DEFAULT_MAX_IN_FLIGHT_TOTAL`], 10,000; at least 1). At the limit, calls read wait for one to
    /// finish, and a connection whose waiting calls reach its own [`max_in_flight`](Server::max_in_flight)
    /// stops reading: backpressure, no unbounded queue. Logged once each time a connection has to wait.
    pub fn max_in_flight_total(mut self, calls: usize) -> Self {
        let calls = calls.clamp(1, Semaphore::MAX_PERMITS);
        self.max_in_flight_total = calls;
        self.config.total = Some(Arc::new(Semaphore::new(calls)));
        self
    }

    setters! {
        /// How long one call's handler may run (default
        /// `Some(`[`DEFAULT_HANDLER_TIMEOUT`](rpc_core::DEFAULT_HANDLER_TIMEOUT)`)`, 5 minutes); `None` lets it run
        /// for ever. A call still running then is dropped and answered with a -32603 error naming the method, and
        /// logged; the connection's other calls go on. Notifications are bounded alike (they run one at a time, so
        /// one that hangs would hold up the rest).
        handler_timeout(timeout: Option<Duration>) => [config.handler_timeout];
        /// Close a connection whose client has sent nothing for this long while none of its calls is in flight,
        /// either way (default `None`: connections stay open). Off by default because MessagePack-RPC connections
        /// are often long-lived and quiet by design (an editor and its plugins, such as Neovim's, talk only when
        /// the user acts); set it for servers whose clients come and go. A client that stops half-way through a
        /// message counts as idle. Logged when it closes a connection.
        idle_timeout(timeout: Option<Duration>) => [config.idle_timeout];
        /// How many encoded messages may wait to be written on one connection (default
        /// [`DEFAULT_WRITE_QUEUE`](crate::DEFAULT_WRITE_QUEUE), 128; at least 1). When a client does not read its
        /// answers, handlers wait for room here, and the connection stops reading new calls.
        write_queue(messages: usize) => [config.write_queue];
        /// How many subscriptions (calls to stream methods, see [`rpc_core::stream`]) one connection may hold at
        /// once (default [`DEFAULT_MAX_SUBSCRIPTIONS`](crate::DEFAULT_MAX_SUBSCRIPTIONS), 1024). Past it, a subscribe
        /// call is answered with an error fault. A subscription's items are polled only when the connection's write
        /// queue has room for them: a client that does not read holds its streams still.
        max_subscriptions(subscriptions: usize) => [config.max_subscriptions];
        /// How long a call a handler makes to the connected client (through its [`Peer`](crate::Peer)) may take
        /// (default `Some(`[`DEFAULT_TIMEOUT`](crate::DEFAULT_TIMEOUT)`)`, 30 s); `None` waits for ever.
        call_timeout(timeout: Option<Duration>) => [config.call_timeout];
        /// How many connections are served at once (default [`DEFAULT_MAX_CONNECTIONS`](crate::DEFAULT_MAX_CONNECTIONS),
        /// 10,000). A connection
        /// over the limit is closed as soon as it is accepted, and logged.
        max_connections(connections: usize) => [acceptor.max_connections()];
        /// How long a graceful shutdown waits for calls in flight (default
        /// [`DEFAULT_SHUTDOWN_TIMEOUT`](crate::DEFAULT_SHUTDOWN_TIMEOUT), 30 s);
        /// then the connections still open are closed, their handlers dropped.
        shutdown_timeout(timeout: Duration) => [acceptor.shutdown_timeout()];
        /// Speak TLS on every connection [`serve`](Server::serve) accepts, with this rustls configuration
        /// (certificate chain and key; set a client-certificate verifier to ask clients for certificates, which
        /// [`authenticate`](Server::authenticate) then sees). A client must finish its handshake within the
        /// [`tls_handshake_timeout`](Server::tls_handshake_timeout); one that does not, or that is not speaking TLS,
        /// is closed without hurting the others. Connections passed to [`serve_connection`](Server::serve_connection)
        /// and stdio are not affected.
        tls(config: Arc<rustls::ServerConfig>) => [acceptor.tls()];
        /// How long a client has to finish its TLS handshake (default
        /// [`DEFAULT_TLS_HANDSHAKE_TIMEOUT`](crate::DEFAULT_TLS_HANDSHAKE_TIMEOUT), 10 s).
        tls_handshake_timeout(timeout: Duration) => [acceptor.tls_handshake_timeout()];
    }

    /// Decide on each connection [`serve`](Server::serve) accepts, once its TLS handshake (if any) is done,
    /// from what is known about it ([`ConnectionInfo`]: the peer's address, the TLS client's certificates).
    /// `Some(identity)` admits it, and its handlers find `identity` in their [`Context`]
    /// (`cx.get::<T>()`, next to the `ConnectionInfo`); `None` closes it at once, before anything is read, and
    /// logs it. Default: every connection is admitted.
    pub fn authenticate<T: Send + Sync + 'static>(
        mut self,
        check: impl Fn(&ConnectionInfo) -> Option<T> + Send + Sync + 'static,
    ) -> Self {
        self.acceptor = self.acceptor.authenticate(check);
        self
    }

    setters! {
        /// On WebSocket connections, send a ping after this long without writing anything (default
        /// `Some(`[`DEFAULT_PING_INTERVAL`](crate::DEFAULT_PING_INTERVAL)`)`, 30 s), and close a connection whose
        /// client sent nothing, not even a pong, for twice as long; `None` sends none and waits for ever.
        ping_interval(interval: Option<Duration>) => [ws.ping_interval];
        /// How long a WebSocket client has to finish its opening handshake (default
        /// [`DEFAULT_WS_HANDSHAKE_TIMEOUT`](crate::DEFAULT_WS_HANDSHAKE_TIMEOUT), 10 s); one that does not is closed.
        ws_handshake_timeout(timeout: Duration) => [ws.handshake_timeout];
    }

    /// Serves WebSocket connections from `listener` for ever: each one's opening handshake (on any path),
    /// then one message per WebSocket message (text frames for text encodings, binary for MessagePack), each
    /// at most [`max_message_size`](Server::max_message_size). TLS, permits and the authentication hook apply
    /// as on [`serve`](Server::serve).
    pub async fn serve_ws<L: Listener>(self, listener: L) -> io::Result<()> {
        self.serve_ws_with_shutdown(listener, std::future::pending()).await
    }

    /// Serves WebSocket connections from `listener` until `signal` completes, then shuts down as
    /// [`serve_with_shutdown`](Server::serve_with_shutdown) does.
    pub async fn serve_ws_with_shutdown<L: Listener>(
        self,
        listener: L,
        signal: impl Future<Output = ()> + Send,
    ) -> io::Result<()> {
        self.accept(listener, signal, |server| WebSocket { server }).await
    }

    /// Serves a WebSocket connection whose opening handshake is done (an HTTP server answered the upgrade
    /// with 101 and hands over the connection): until it closes, or `drain` asks it to finish.
    pub async fn serve_ws_upgraded<I>(&self, io: I, cx: Context, drain: CancellationToken)
    where
        I: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    {
        let config = ws::tungstenite_config(self.config.max_message_size);
        let stream = WebSocketStream::from_raw_socket(io, Role::Server, Some(config)).await;
        self.run_ws(stream, cx, drain).await;
    }

    /// Runs a session on a WebSocket connection.
    async fn run_ws<I>(&self, stream: WebSocketStream<I>, cx: Context, drain: CancellationToken)
    where
        I: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    {
        let (reader, writer) = ws::split(stream, !self.protocol.binary(), self.ws);
        // Boxed: the session's state is allocated only once the handshake is done.
        if let Err(e) = Box::pin(self.session(cx).run(reader, writer, drain, OnEof::Close)).await {
            tracing::debug!(error = %e, "WebSocket connection ended with an error");
        }
    }

    /// Serves connections from `listener` (a [`TcpListener`](tokio::net::TcpListener), a
    /// [`UnixListener`](tokio::net::UnixListener), or
    /// any [`Listener`]) for ever.
    pub async fn serve<L: Listener>(self, listener: L) -> io::Result<()> {
        self.serve_with_shutdown(listener, std::future::pending()).await
    }

    /// Serves connections from `listener` until `signal` completes; then stops accepting (new connections are
    /// refused), lets every connection finish the calls it has in flight and write their answers (refusing new
    /// calls with -32603), for up to [`shutdown_timeout`](Server::shutdown_timeout), closes what is still open,
    /// and returns. Connections with nothing in flight, and those that have sent nothing yet, close at once.
    pub async fn serve_with_shutdown<L: Listener>(
        self,
        listener: L,
        signal: impl Future<Output = ()> + Send,
    ) -> io::Result<()> {
        self.accept(listener, signal, |server| Duplex { server }).await
    }

    /// Runs the acceptor on `listener` until `signal`, each connection served by what `serve` makes of the
    /// server (plain or WebSocket).
    async fn accept<L: Listener, S: ServeConnection>(
        self,
        listener: L,
        signal: impl Future<Output = ()> + Send,
        serve: impl FnOnce(Self) -> S,
    ) -> io::Result<()> {
        let acceptor = self.acceptor.clone();
        let name = self.protocol.name();
        acceptor.run(name, listener, signal, serve(self)).await
    }

    /// Serves one connection over `reader` and `writer` (a socket's halves, an in-memory duplex, ...) until it
    /// closes; handlers get `cx` (plus the [`Peer`](crate::Peer)). The end of `reader` closes the connection,
    /// dropping the calls in flight, as on a socket. Ends with the error that broke the connection, if one did.
    pub async fn serve_connection<R, W>(&self, reader: R, writer: W, cx: Context) -> Result<(), Error>
    where
        R: AsyncRead + Unpin + Send,
        W: AsyncWrite + Unpin + Send,
    {
        let (reader, writer) = framing::stream(reader, writer, self.framing());
        self.session(cx).run(reader, writer, CancellationToken::new(), OnEof::Close).await
    }

    /// Serves MessagePack-RPC on this process's stdin and stdout, the way Neovim runs a remote plugin
    /// (`jobstart(cmd, {'rpc': v:true})`). Nothing else may write to stdout: log to stderr.
    ///
    /// When stdin closes, the calls already read are finished and answered (a pipe closes one way only:
    /// `printf ... | server | ...` gets its answers), then it returns.
    ///
    /// Tokio reads stdin on a blocking thread that cannot be interrupted, so after an error (`Err`) the process
    /// should exit rather than wait for the runtime to shut down.
    pub async fn serve_stdio(self) -> Result<(), Error> {
        tracing::info!("{} server on stdio", self.protocol.name());
        let framing = self.protocol.stdio_framing(self.config.max_message_size, self.config.max_depth);
        let (reader, writer) = framing::stream(tokio::io::stdin(), tokio::io::stdout(), framing);
        let cx = Context::new().with(rpc_core::trace::NetworkTransport("pipe"));
        self.session(cx).run(reader, writer, CancellationToken::new(), OnEof::Finish).await
    }

    /// The framing a new connection's bytes are cut with.
    fn framing(&self) -> Framing {
        self.protocol.framing(self.config.max_message_size, self.config.max_depth)
    }

    /// A session for one connection, its handlers getting `cx`.
    fn session(&self, cx: Context) -> Session {
        Session::new(self.protocol.clone(), self.config.clone(), self.dispatch.clone(), cx)
    }
}

/// What the acceptor hands each WebSocket connection to: the handshake, then a session.
struct WebSocket<D, P> {
    server: Server<D, P>,
}

impl<D, P> Clone for WebSocket<D, P> {
    fn clone(&self) -> Self {
        WebSocket { server: self.server.clone() }
    }
}

impl<D: Dispatch, P: Protocol + Clone + Default> ServeConnection for WebSocket<D, P> {
    async fn serve<I>(self, io: I, cx: Context, drain: CancellationToken)
    where
        I: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    {
        let server = &self.server;
        let config = ws::tungstenite_config(server.config.max_message_size);
        let limit = server.ws.handshake_timeout;
        let handshake = tokio_tungstenite::accept_async_with_config(io, Some(config));
        tokio::select! {
            done = tokio::time::timeout(limit, handshake) => match done {
                Ok(Ok(stream)) => server.run_ws(stream, cx, drain).await,
                Ok(Err(e)) => tracing::debug!(error = %e, "WebSocket handshake failed; connection closed"),
                Err(_) => tracing::info!(?limit, "WebSocket handshake not finished in time; connection closed"),
            },
            // A shutdown does not wait for handshakes.
            () = drain.cancelled() => {}
        }
    }
}

/// What the acceptor hands each connection to: the server, which serves it as a session.
struct Duplex<D, P> {
    server: Server<D, P>,
}

impl<D, P> Clone for Duplex<D, P> {
    fn clone(&self) -> Self {
        Duplex { server: self.server.clone() }
    }
}

impl<D: Dispatch, P: Protocol + Clone + Default> ServeConnection for Duplex<D, P> {
    async fn serve<I>(self, io: I, cx: Context, drain: CancellationToken)
    where
        I: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    {
        let (mut reader, writer) = tokio::io::split(io);
        let Some(first) = self.first_bytes(&mut reader, &drain).await else {
            return;
        };
        let server = &self.server;
        let (reader, writer) = framing::stream_with_input(reader, writer, server.framing(), first);
        // Boxed: the session's state is allocated only once the client has sent something.
        let run = Box::pin(server.session(cx).run(reader, writer, drain, OnEof::Close));
        if let Err(e) = run.await {
            tracing::debug!(error = %e, "connection ended with an error");
        }
    }
}

impl<D: Dispatch, P: Protocol + Clone + Default> Duplex<D, P> {
    /// Waits for the client's first bytes, holding nothing for the connection but its socket meanwhile (no
    /// session, no buffer): a connection that never sends costs little. `None` when it closes first, the server
    /// shuts down, or the idle timeout passes.
    async fn first_bytes<R: AsyncRead + Unpin>(&self, reader: &mut R, drain: &CancellationToken) -> Option<BytesMut> {
        let mut buf = BytesMut::new();
        let idle = async {
            match self.server.config.idle_timeout {
                Some(limit) => tokio::time::sleep(limit).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            read = framing::read_some(reader, &mut buf) => match read {
                Ok(0) => tracing::debug!("connection closed before sending anything"),
                Ok(_) => return Some(buf),
                Err(e) => tracing::debug!(error = %e, "reading failed"),
            },
            () = drain.cancelled() => {}
            () = idle => tracing::info!(limit = ?self.server.config.idle_timeout, "closing a connection that sent nothing"),
        }
        None
    }
}

impl<D, P> Clone for Server<D, P> {
    fn clone(&self) -> Self {
        Server {
            dispatch: self.dispatch.clone(),
            protocol: self.protocol.clone(),
            config: self.config.clone(),
            max_in_flight_total: self.max_in_flight_total,
            acceptor: self.acceptor.clone(),
            ws: self.ws,
        }
    }
}

impl<D, P: fmt::Debug> fmt::Debug for Server<D, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server")
            .field("protocol", &self.protocol)
            .field("config", &self.config)
            .field("max_in_flight_total", &self.max_in_flight_total)
            .field("acceptor", &self.acceptor)
            .field("ws", &self.ws)
            .finish_non_exhaustive()
    }
}

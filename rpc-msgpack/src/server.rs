//! The MessagePack-RPC server: TCP, Unix domain sockets, stdio, or any byte stream; one task per connection.

use std::fmt;
use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use rpc_core::{Context, Dispatch, RemoteAddr};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use crate::auth::Authenticator;
use crate::codec::ErrorFormat;
use crate::session::{self, Config, OnEof, Session};
use crate::{ConnectionInfo, Error, tls};

/// The default limit on one incoming message on a server connection: 16 MiB.
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 16 * 1024 * 1024;
/// The default limit on connections served at once: 10,000.
pub const DEFAULT_MAX_CONNECTIONS: usize = 10_000;
/// The default time a graceful shutdown waits for calls in flight: 30 seconds.
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(30);
/// The default limit on calls handled at once across all of a server's connections: 10,000.
pub const DEFAULT_MAX_IN_FLIGHT_TOTAL: usize = 10_000;
/// The default time a TLS client has to finish its handshake: 10 seconds.
pub const DEFAULT_TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves a [`Dispatch`] (a `#[service]`'s `...Server`, or a [`Router`](rpc_core::Router)) over MessagePack-RPC.
///
/// Each connection is served on a task of its own. On a connection, requests are handled concurrently (up to
/// [`max_in_flight`](Server::max_in_flight)) and answered as they finish, so a slow call does not hold up a fast
/// one; notifications are handled one at a time, in order. Handlers find a [`Peer`](crate::Peer) in their
/// [`Context`] to call or notify the connected client, and a [`RemoteAddr`] on TCP.
///
/// Errors go out as `[code, message]` in the response's error slot: -32601 for an unknown method, -32602 for
/// bad params, -32603 for a handler panic or a handler still running after the
/// [`handler_timeout`](Server::handler_timeout), the handler's own fault otherwise; -32600 for a message that
/// is not a valid request, and -32700 / -32600 for bytes that are not MessagePack or a message over a limit,
/// after which that connection is closed (the framing of its stream is lost). Other connections go on.
///
/// Connections may be TLS ([`tls`](Server::tls)) and admitted by a hook ([`authenticate`](Server::authenticate));
/// their handlers find a [`ConnectionInfo`] in their context either way.
///
/// ```no_run
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
/// # async fn run() -> std::io::Result<()> {
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:6789").await?;
/// rpc_msgpack::Server::new(ServicesServer::new(Doubler))
///     .max_in_flight(64)
///     .serve_with_shutdown(listener, async { tokio::signal::ctrl_c().await.ok(); })
///     .await
/// # }
/// ```
///
/// One service on several transports at once: clone the server (the service is shared, not copied).
///
/// ```no_run
/// # use rpc_core::Router;
/// # async fn run() -> std::io::Result<()> {
/// let server = rpc_msgpack::Server::new(Router::new());
/// let tcp = tokio::net::TcpListener::bind("127.0.0.1:6789").await?;
/// let unix = tokio::net::UnixListener::bind("/tmp/rpc.sock")?;
/// tokio::try_join!(server.clone().serve(tcp), server.serve(unix))?;
/// # Ok(())
/// # }
/// ```
pub struct Server<D> {
    dispatch: Arc<D>,
    config: Config,
    max_connections: usize,
    max_in_flight_total: usize,
    shutdown_timeout: Duration,
    tls: Option<Arc<rustls::ServerConfig>>,
    tls_handshake_timeout: Duration,
    auth: Option<Authenticator>,
}

impl<D: Dispatch> Server<D> {
    /// A server for `dispatch`, with the default limits.
    pub fn new(dispatch: D) -> Server<D> {
        Server {
            dispatch: Arc::new(dispatch),
            config: Config {
                total: Some(Arc::new(Semaphore::new(DEFAULT_MAX_IN_FLIGHT_TOTAL))),
                ..Config::new(DEFAULT_MAX_MESSAGE_SIZE)
            },
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_in_flight_total: DEFAULT_MAX_IN_FLIGHT_TOTAL,
            shutdown_timeout: DEFAULT_SHUTDOWN_TIMEOUT,
            tls: None,
            tls_handshake_timeout: DEFAULT_TLS_HANDSHAKE_TIMEOUT,
            auth: None,
        }
    }

    /// The largest message accepted, in bytes (default [`DEFAULT_MAX_MESSAGE_SIZE`], 16 MiB). A message that
    /// declares a larger size is refused as soon as its header arrives, before anything is allocated for it;
    /// the request gets a -32600 error reply if its id could be read, and the connection is closed.
    pub fn max_message_size(mut self, bytes: usize) -> Server<D> {
        self.config.max_message_size = bytes;
        self
    }

    /// How deeply arrays and maps may nest in a message, the message's own array counting as one level
    /// (default [`DEFAULT_MAX_DEPTH`](crate::codec::DEFAULT_MAX_DEPTH), 64). Deeper ones are refused like
    /// messages over the size limit.
    pub fn max_depth(mut self, depth: usize) -> Server<D> {
        self.config.max_depth = depth;
        self
    }

    /// How many calls one connection may have running at once (default
    /// [`DEFAULT_MAX_IN_FLIGHT`](crate::DEFAULT_MAX_IN_FLIGHT), 128; at least 1). As many more may wait, read
    /// and parsed; then the connection stops reading until a call finishes.
    pub fn max_in_flight(mut self, calls: usize) -> Server<D> {
        self.config.max_in_flight = calls;
        self
    }

    /// How many calls may run at once across all the connections this server (and its clones) serves
    /// (default [`DEFAULT_MAX_IN_FLIGHT_TOTAL`], 10,000; at least 1). At the limit, calls read wait for one to
    /// finish, and a connection whose waiting calls reach its own [`max_in_flight`](Server::max_in_flight)
    /// stops reading: backpressure, no unbounded queue. Logged once each time a connection has to wait.
    pub fn max_in_flight_total(mut self, calls: usize) -> Server<D> {
        let calls = calls.clamp(1, Semaphore::MAX_PERMITS);
        self.max_in_flight_total = calls;
        self.config.total = Some(Arc::new(Semaphore::new(calls)));
        self
    }

    /// How long one call's handler may run (default
    /// `Some(`[`DEFAULT_HANDLER_TIMEOUT`](rpc_core::DEFAULT_HANDLER_TIMEOUT)`)`, 5 minutes); `None` lets it run
    /// for ever. A call still running then is dropped and answered with a -32603 error naming the method, and
    /// logged; the connection's other calls go on. Notifications are bounded alike (they run one at a time, so
    /// one that hangs would hold up the rest).
    pub fn handler_timeout(mut self, timeout: Option<Duration>) -> Server<D> {
        self.config.handler_timeout = timeout;
        self
    }

    /// Close a connection whose client has sent nothing for this long while none of its calls is in flight,
    /// either way (default `None`: connections stay open). Off by default because MessagePack-RPC connections
    /// are often long-lived and quiet by design (an editor and its plugins, such as Neovim's, talk only when
    /// the user acts); set it for servers whose clients come and go. A client that stops half-way through a
    /// message counts as idle. Logged when it closes a connection.
    pub fn idle_timeout(mut self, timeout: Option<Duration>) -> Server<D> {
        self.config.idle_timeout = timeout;
        self
    }

    /// How many encoded messages may wait to be written on one connection (default
    /// [`DEFAULT_WRITE_QUEUE`](crate::DEFAULT_WRITE_QUEUE), 128; at least 1). When a client does not read its
    /// answers, handlers wait for room here, and the connection stops reading new calls.
    pub fn write_queue(mut self, messages: usize) -> Server<D> {
        self.config.write_queue = messages;
        self
    }

    /// How long a call a handler makes to the connected client (through its [`Peer`](crate::Peer)) may take
    /// (default `Some(`[`DEFAULT_TIMEOUT`](crate::DEFAULT_TIMEOUT)`)`, 30 s); `None` waits for ever.
    pub fn call_timeout(mut self, timeout: Option<Duration>) -> Server<D> {
        self.config.call_timeout = timeout;
        self
    }

    /// How error replies are written (default [`ErrorFormat::CodeMessage`], `[code, message]`); use
    /// [`ErrorFormat::Neovim`] for a server Neovim calls, so that it shows the messages.
    pub fn error_format(mut self, format: ErrorFormat) -> Server<D> {
        self.config.error_format = format;
        self
    }

    /// How many connections are served at once (default [`DEFAULT_MAX_CONNECTIONS`], 10,000). A connection
    /// over the limit is closed as soon as it is accepted, and logged.
    pub fn max_connections(mut self, connections: usize) -> Server<D> {
        self.max_connections = connections;
        self
    }

    /// How long a graceful shutdown waits for calls in flight (default [`DEFAULT_SHUTDOWN_TIMEOUT`], 30 s);
    /// then the connections still open are closed, their handlers dropped.
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Server<D> {
        self.shutdown_timeout = timeout;
        self
    }

    /// Speak TLS on every connection [`serve`](Server::serve) accepts, with this rustls configuration
    /// (certificate chain and key; set a client-certificate verifier to ask clients for certificates, which
    /// [`authenticate`](Server::authenticate) then sees). A client must finish its handshake within the
    /// [`tls_handshake_timeout`](Server::tls_handshake_timeout); one that does not, or that is not speaking TLS,
    /// is closed without hurting the others. Connections passed to [`serve_connection`](Server::serve_connection)
    /// and stdio are not affected.
    ///
    /// ```no_run
    /// # use rpc_msgpack::rustls::{self, pki_types::{CertificateDer, PrivateKeyDer}};
    /// # fn run(certs: Vec<CertificateDer<'static>>, key: PrivateKeyDer<'static>) -> Result<(), rustls::Error> {
    /// let tls = rustls::ServerConfig::builder().with_no_client_auth().with_single_cert(certs, key)?;
    /// let server = rpc_msgpack::Server::new(rpc_core::Router::new()).tls(std::sync::Arc::new(tls));
    /// # Ok(())
    /// # }
    /// ```
    pub fn tls(mut self, config: Arc<rustls::ServerConfig>) -> Server<D> {
        self.tls = Some(config);
        self
    }

    /// How long a client has to finish its TLS handshake (default [`DEFAULT_TLS_HANDSHAKE_TIMEOUT`], 10 s).
    pub fn tls_handshake_timeout(mut self, timeout: Duration) -> Server<D> {
        self.tls_handshake_timeout = timeout;
        self
    }

    /// Decide on each connection [`serve`](Server::serve) accepts, once its TLS handshake (if any) is done,
    /// from what is known about it ([`ConnectionInfo`]: the peer's address, the TLS client's certificates).
    /// `Some(identity)` admits it, and its handlers find `identity` in their [`Context`]
    /// (`cx.get::<T>()`, next to the `ConnectionInfo`); `None` closes it at once, before anything is read, and
    /// logs it. Default: every connection is admitted.
    ///
    /// ```
    /// use rpc_msgpack::ConnectionInfo;
    ///
    /// /// Who a connection belongs to, for the handlers.
    /// struct Local;
    ///
    /// let server = rpc_msgpack::Server::new(rpc_core::Router::new())
    ///     .authenticate(|c: &ConnectionInfo| c.remote_addr?.ip().is_loopback().then_some(Local));
    /// ```
    pub fn authenticate<T: Send + Sync + 'static>(
        mut self,
        check: impl Fn(&ConnectionInfo) -> Option<T> + Send + Sync + 'static,
    ) -> Server<D> {
        self.auth = Some(Authenticator::new(check));
        self
    }

    /// Serves connections from `listener` (a [`TcpListener`], a [`UnixListener`](tokio::net::UnixListener), or
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
        mut listener: L,
        signal: impl Future<Output = ()> + Send,
    ) -> io::Result<()> {
        let tracker = TaskTracker::new();
        // `drain` asks connections to finish their calls; `close` ends those still open at the deadline.
        let (drain, close) = (CancellationToken::new(), CancellationToken::new());
        let permits = Arc::new(Semaphore::new(self.max_connections));
        let mut signal = std::pin::pin!(signal);
        match listener.local_addr() {
            Ok(addr) => tracing::info!("MessagePack-RPC server listening on {addr}"),
            Err(e) => tracing::info!(error = %e, "MessagePack-RPC server listening"),
        }
        loop {
            let (io, cx) = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok(conn) => conn,
                    Err(e) if is_per_connection(&e) => {
                        tracing::debug!(error = %e, "accept failed for one connection");
                        continue;
                    }
                    Err(e) => {
                        // Out of file descriptors and the like: back off instead of spinning.
                        tracing::error!(error = %e, "accept failed; retrying in 100 ms");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                },
                () = &mut signal => break,
            };
            let span = match cx.get::<RemoteAddr>() {
                Some(RemoteAddr(peer)) => tracing::debug_span!("msgpack-rpc", %peer),
                None => tracing::debug_span!("msgpack-rpc"),
            };
            let Ok(permit) = permits.clone().try_acquire_owned() else {
                let _enter = span.enter();
                tracing::warn!(limit = self.max_connections, "too many connections; closing a new one");
                drop(io);
                continue;
            };
            let accepted = Accepted { server: self.clone(), drain: drain.clone() };
            let close = close.clone();
            tracker.spawn(
                async move {
                    tracing::debug!("connection accepted");
                    tokio::select! {
                        () = accepted.serve(io, cx) => {}
                        () = crate::session::Cancelled::new(close.cancelled()) => {
                            tracing::debug!("connection closed by the shutdown deadline");
                        }
                    }
                    drop(permit);
                }
                .instrument(span),
            );
        }
        drop(listener);
        let deadline = self.shutdown_timeout;
        tracing::info!("MessagePack-RPC server shutting down; waiting up to {deadline:?} for calls in flight");
        drain.cancel();
        tracker.close();
        if tokio::time::timeout(deadline, tracker.wait()).await.is_err() {
            tracing::warn!("calls still in flight after {deadline:?}; closing their connections");
            close.cancel();
            tracker.wait().await;
        }
        Ok(())
    }

    /// Serves one connection over `reader` and `writer` (a socket's halves, an in-memory duplex, ...) until it
    /// closes; handlers get `cx` (plus the [`Peer`](crate::Peer)). The end of `reader` closes the connection,
    /// dropping the calls in flight, as on a socket. Ends with the error that broke the connection, if one did.
    pub async fn serve_connection<R, W>(&self, reader: R, writer: W, cx: Context) -> Result<(), Error>
    where
        R: AsyncRead + Unpin,
        W: AsyncWrite + Unpin,
    {
        let session = Session::new(self.config.clone(), self.dispatch.clone(), cx);
        session.run(reader, writer, CancellationToken::new(), OnEof::Close).await
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
        tracing::info!("MessagePack-RPC server on stdio");
        let session = Session::new(self.config.clone(), self.dispatch.clone(), Context::new());
        session.run(tokio::io::stdin(), tokio::io::stdout(), CancellationToken::new(), OnEof::Finish).await
    }
}

/// One accepted connection, on its way to being served: the TLS handshake and the authentication hook, then
/// the session.
struct Accepted<D> {
    server: Server<D>,
    drain: CancellationToken,
}

impl<D: Dispatch> Accepted<D> {
    async fn serve<I: AsyncRead + AsyncWrite + Send + 'static>(self, io: I, cx: Context) {
        let info = ConnectionInfo { remote_addr: cx.get::<RemoteAddr>().map(|a| a.0), ..ConnectionInfo::default() };
        match self.server.tls.clone() {
            None => self.run(io, info, cx).await,
            // Boxed, so that a plain connection's task has no room for TLS state, which takes kilobytes.
            Some(tls) => Box::pin(self.serve_tls(tls, io, info, cx)).await,
        }
    }

    async fn serve_tls<I: AsyncRead + AsyncWrite + Send + 'static>(
        self,
        tls: Arc<rustls::ServerConfig>,
        io: I,
        info: ConnectionInfo,
        cx: Context,
    ) {
        let limit = self.server.tls_handshake_timeout;
        // tokio-rustls wants an `Unpin` stream; a listener's may not be.
        let handshake = tokio_rustls::TlsAcceptor::from(tls).accept(Box::pin(io));
        match tokio::time::timeout(limit, handshake).await {
            Ok(Ok(stream)) => {
                let info = tls::connection_info(&info, stream.get_ref().1);
                self.run(stream, info, cx).await;
            }
            Ok(Err(e)) => tracing::debug!(error = %e, "TLS handshake failed; connection closed"),
            Err(_) => tracing::warn!(?limit, "TLS handshake not finished in time; connection closed"),
        }
    }

    async fn run<I: AsyncRead + AsyncWrite>(self, io: I, info: ConnectionInfo, cx: Context) {
        let cx = match &self.server.auth {
            None => cx,
            Some(auth) => match auth.admit(&info, cx) {
                Some(cx) => cx,
                None => {
                    tracing::warn!(tls = info.tls, "connection refused by the authenticate hook");
                    return;
                }
            },
        };
        let (mut reader, writer) = tokio::io::split(io);
        let Some(first) = self.first_bytes(&mut reader).await else {
            return;
        };
        let session = Session::new(self.server.config.clone(), self.server.dispatch.clone(), cx.with(info));
        // Boxed: the session's state is allocated only once the client has sent something.
        let run = Box::pin(session.with_input(first).run(reader, writer, self.drain, OnEof::Close));
        if let Err(e) = run.await {
            tracing::debug!(error = %e, "connection ended with an error");
        }
    }

    /// Waits for the client's first bytes, holding nothing for the connection but its socket meanwhile (no
    /// session, no buffer): a connection that never sends costs little. `None` when it closes first, the server
    /// shuts down, or the idle timeout passes.
    async fn first_bytes<R: AsyncRead + Unpin>(&self, reader: &mut R) -> Option<BytesMut> {
        let mut buf = BytesMut::new();
        let idle = async {
            match self.server.config.idle_timeout {
                Some(limit) => tokio::time::sleep(limit).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            read = session::read_some(reader, &mut buf) => match read {
                Ok(0) => tracing::debug!("connection closed before sending anything"),
                Ok(_) => return Some(buf),
                Err(e) => tracing::debug!(error = %e, "reading failed"),
            },
            () = self.drain.cancelled() => {}
            () = idle => tracing::info!(limit = ?self.server.config.idle_timeout, "closing a connection that sent nothing"),
        }
        None
    }
}

impl<D> Clone for Server<D> {
    fn clone(&self) -> Self {
        Server {
            dispatch: self.dispatch.clone(),
            config: self.config.clone(),
            max_connections: self.max_connections,
            max_in_flight_total: self.max_in_flight_total,
            shutdown_timeout: self.shutdown_timeout,
            tls: self.tls.clone(),
            tls_handshake_timeout: self.tls_handshake_timeout,
            auth: self.auth.clone(),
        }
    }
}

impl<D> fmt::Debug for Server<D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server")
            .field("config", &self.config)
            .field("max_connections", &self.max_connections)
            .field("max_in_flight_total", &self.max_in_flight_total)
            .field("shutdown_timeout", &self.shutdown_timeout)
            .field("tls", &self.tls.is_some())
            .field("tls_handshake_timeout", &self.tls_handshake_timeout)
            .field("auth", &self.auth)
            .finish_non_exhaustive()
    }
}

/// Accept errors that concern one connection (it was reset before we took it), not the listener.
fn is_per_connection(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionRefused
    )
}

/// Something a [`Server`] accepts connections from: implemented for tokio's [`TcpListener`] and
/// [`UnixListener`](tokio::net::UnixListener).
pub trait Listener: Send + 'static {
    /// A connection's byte stream.
    type Io: AsyncRead + AsyncWrite + Send + 'static;

    /// Waits for the next connection; returns it with the [`Context`] its calls' handlers will get.
    fn accept(&mut self) -> impl Future<Output = io::Result<(Self::Io, Context)>> + Send;

    /// The address listened on, for the log.
    fn local_addr(&self) -> io::Result<String>;
}

/// TCP: sets `TCP_NODELAY` and puts the client's [`RemoteAddr`] in the context.
impl Listener for TcpListener {
    type Io = tokio::net::TcpStream;

    async fn accept(&mut self) -> io::Result<(Self::Io, Context)> {
        let (stream, peer) = TcpListener::accept(self).await?;
        // Answers are written whole and flushed when the queue drains; Nagle would only delay them.
        let _ = stream.set_nodelay(true);
        Ok((stream, Context::new().with(RemoteAddr(peer))))
    }

    fn local_addr(&self) -> io::Result<String> {
        TcpListener::local_addr(self).map(|a| a.to_string())
    }
}

/// Unix domain sockets: the context is empty.
#[cfg(unix)]
impl Listener for tokio::net::UnixListener {
    type Io = tokio::net::UnixStream;

    async fn accept(&mut self) -> io::Result<(Self::Io, Context)> {
        let (stream, _) = tokio::net::UnixListener::accept(self).await?;
        Ok((stream, Context::new()))
    }

    fn local_addr(&self) -> io::Result<String> {
        let addr = tokio::net::UnixListener::local_addr(self)?;
        Ok(addr.as_pathname().map_or_else(|| "(unnamed)".to_owned(), |p| p.display().to_string()))
    }
}

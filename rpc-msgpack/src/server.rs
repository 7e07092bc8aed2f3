//! The MessagePack-RPC server: TCP, Unix domain sockets, stdio, or any byte stream; one task per connection.

use std::fmt;
use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use rpc_core::{Context, Dispatch, RemoteAddr};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use crate::Error;
use crate::codec::{DEFAULT_MAX_DEPTH, ErrorFormat};
use crate::session::{Config, DEFAULT_MAX_IN_FLIGHT, DEFAULT_TIMEOUT, DEFAULT_WRITE_QUEUE, OnEof, Session};

/// The default limit on one incoming message on a server connection: 16 MiB.
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 16 * 1024 * 1024;
/// The default limit on connections served at once: 10,000.
pub const DEFAULT_MAX_CONNECTIONS: usize = 10_000;
/// The default time a graceful shutdown waits for calls in flight: 30 seconds.
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(30);

/// Serves a [`Dispatch`] (a `#[service]`'s `...Server`, or a [`Router`](rpc_core::Router)) over MessagePack-RPC.
///
/// Each connection is served on a task of its own. On a connection, requests are handled concurrently (up to
/// [`max_in_flight`](Server::max_in_flight)) and answered as they finish, so a slow call does not hold up a fast
/// one; notifications are handled one at a time, in order. Handlers find a [`Peer`](crate::Peer) in their
/// [`Context`] to call or notify the connected client, and a [`RemoteAddr`] on TCP.
///
/// Errors go out as `[code, message]` in the response's error slot: -32601 for an unknown method, -32602 for
/// bad params, -32603 for a handler panic, the handler's own fault otherwise; -32600 for a message that is not
/// a valid request, and -32700 / -32600 for bytes that are not MessagePack or a message over a limit, after
/// which that connection is closed (the framing of its stream is lost). Other connections go on.
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
    shutdown_timeout: Duration,
}

impl<D: Dispatch> Server<D> {
    /// A server for `dispatch`, with the default limits.
    pub fn new(dispatch: D) -> Server<D> {
        Server {
            dispatch: Arc::new(dispatch),
            config: Config {
                max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
                max_depth: DEFAULT_MAX_DEPTH,
                max_in_flight: DEFAULT_MAX_IN_FLIGHT,
                write_queue: DEFAULT_WRITE_QUEUE,
                call_timeout: Some(DEFAULT_TIMEOUT),
                error_format: ErrorFormat::CodeMessage,
            },
            max_connections: DEFAULT_MAX_CONNECTIONS,
            shutdown_timeout: DEFAULT_SHUTDOWN_TIMEOUT,
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
    /// (default [`DEFAULT_MAX_DEPTH`], 64). Deeper ones are refused like messages over the size limit.
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

    /// Serves connections from `listener` (a [`TcpListener`], a [`UnixListener`](tokio::net::UnixListener), or
    /// any [`Listener`]) for ever.
    pub async fn serve<L: Listener>(self, listener: L) -> io::Result<()> {
        self.serve_with_shutdown(listener, std::future::pending()).await
    }

    /// Serves connections from `listener` until `signal` completes; then stops accepting, lets every
    /// connection finish the calls it has in flight and write their answers (refusing new calls with -32603),
    /// for up to [`shutdown_timeout`](Server::shutdown_timeout), closes what is still open, and returns.
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
            let (reader, writer) = tokio::io::split(io);
            let session = Session::new(self.config.clone(), self.dispatch.clone(), cx);
            let (drain, close) = (drain.clone(), close.clone());
            tracker.spawn(
                async move {
                    tracing::debug!("connection accepted");
                    tokio::select! {
                        ended = session.run(reader, writer, drain, OnEof::Close) => if let Err(e) = ended {
                            tracing::debug!(error = %e, "connection ended with an error");
                        },
                        () = close.cancelled() => tracing::debug!("connection closed by the shutdown deadline"),
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

impl<D> Clone for Server<D> {
    fn clone(&self) -> Self {
        Server {
            dispatch: self.dispatch.clone(),
            config: self.config.clone(),
            max_connections: self.max_connections,
            shutdown_timeout: self.shutdown_timeout,
        }
    }
}

impl<D> fmt::Debug for Server<D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server")
            .field("config", &self.config)
            .field("max_connections", &self.max_connections)
            .field("shutdown_timeout", &self.shutdown_timeout)
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

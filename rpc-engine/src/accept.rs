//! The acceptor every server shares: accepting on a [`Listener`] (TCP, Unix sockets), connection permits, the
//! TLS handshake and its timeout, connection-level authentication, and graceful drain. What a server does with
//! a connection once it is accepted is its own ([`ServeConnection`]).

use std::fmt;
use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use rpc_core::{Context, RemoteAddr};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use crate::auth::Authenticator;
use crate::session::Cancelled;
use crate::{ConnectionInfo, tls};

/// The default limit on connections served at once: 10,000.
pub const DEFAULT_MAX_CONNECTIONS: usize = 10_000;
/// The default time a graceful shutdown waits for calls in flight: 30 seconds.
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(30);
/// The default time a TLS client has to finish its handshake: 10 seconds.
pub const DEFAULT_TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Something a server accepts connections from: implemented for tokio's [`TcpListener`] and
/// [`UnixListener`](tokio::net::UnixListener).
pub trait Listener: Send + 'static {
    /// A connection's byte stream.
    type Io: AsyncRead + AsyncWrite + Send + Unpin + 'static;

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

/// Unix domain sockets: the context says the transport (`network.transport` of the calls' spans).
#[cfg(unix)]
impl Listener for tokio::net::UnixListener {
    type Io = tokio::net::UnixStream;

    async fn accept(&mut self) -> io::Result<(Self::Io, Context)> {
        let (stream, _) = tokio::net::UnixListener::accept(self).await?;
        Ok((stream, Context::new().with(rpc_core::trace::NetworkTransport("unix"))))
    }

    fn local_addr(&self) -> io::Result<String> {
        let addr = tokio::net::UnixListener::local_addr(self)?;
        Ok(addr.as_pathname().map_or_else(|| "(unnamed)".to_owned(), |p| p.display().to_string()))
    }
}

/// What a server does with a connection the [`Acceptor`] has accepted (its TLS handshake done, admitted by
/// the authentication hook): serve it until it closes, or until `drain` is cancelled (a graceful shutdown:
/// finish what is in flight, then close).
pub trait ServeConnection: Clone + Send + Sync + 'static {
    /// Serves one connection; its handlers get `cx` (with the [`ConnectionInfo`] and any identity the hook
    /// admitted it as).
    fn serve<I>(self, io: I, cx: Context, drain: CancellationToken) -> impl Future<Output = ()> + Send
    where
        I: AsyncRead + AsyncWrite + Send + Unpin + 'static;

    /// Turns away a connection over the server's limit (an HTTP server answers 503); the default closes it.
    /// It runs on a task of its own and should be brief.
    fn refuse<I>(self, io: I) -> impl Future<Output = ()> + Send
    where
        I: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    {
        drop(io);
        std::future::ready(())
    }
}

/// The settings of the accept loop, shared by every server: connection permits, TLS, authentication, and how
/// long a graceful shutdown waits.
#[derive(Clone)]
pub struct Acceptor {
    max_connections: usize,
    shutdown_timeout: Duration,
    tls: Option<Arc<rustls::ServerConfig>>,
    tls_handshake_timeout: Duration,
    auth: Option<Authenticator>,
}

impl Default for Acceptor {
    fn default() -> Acceptor {
        Acceptor {
            max_connections: DEFAULT_MAX_CONNECTIONS,
            shutdown_timeout: DEFAULT_SHUTDOWN_TIMEOUT,
            tls: None,
            tls_handshake_timeout: DEFAULT_TLS_HANDSHAKE_TIMEOUT,
            auth: None,
        }
    }
}

impl fmt::Debug for Acceptor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Acceptor")
            .field("max_connections", &self.max_connections)
            .field("shutdown_timeout", &self.shutdown_timeout)
            .field("tls", &self.tls.is_some())
            .field("tls_handshake_timeout", &self.tls_handshake_timeout)
            .field("auth", &self.auth)
            .finish()
    }
}

impl Acceptor {
    /// How many connections are served at once (default [`DEFAULT_MAX_CONNECTIONS`], 10,000). A connection
    /// over the limit is closed as soon as it is accepted, and logged.
    pub fn max_connections(mut self, connections: usize) -> Acceptor {
        self.max_connections = connections;
        self
    }

    /// How long a graceful shutdown waits for calls in flight (default [`DEFAULT_SHUTDOWN_TIMEOUT`], 30 s);
    /// then the connections still open are closed, their handlers dropped.
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Acceptor {
        self.shutdown_timeout = timeout;
        self
    }

    /// Speak TLS on every connection accepted, with this rustls configuration.
    pub fn tls(mut self, config: Arc<rustls::ServerConfig>) -> Acceptor {
        self.tls = Some(config);
        self
    }

    /// How long a client has to finish its TLS handshake (default [`DEFAULT_TLS_HANDSHAKE_TIMEOUT`], 10 s).
    pub fn tls_handshake_timeout(mut self, timeout: Duration) -> Acceptor {
        self.tls_handshake_timeout = timeout;
        self
    }

    /// Decide on each connection once its TLS handshake (if any) is done: `Some(identity)` admits it (its
    /// handlers find `identity` in their context), `None` closes it at once. Default: every one is admitted.
    pub fn authenticate<T: Send + Sync + 'static>(
        mut self,
        check: impl Fn(&ConnectionInfo) -> Option<T> + Send + Sync + 'static,
    ) -> Acceptor {
        self.auth = Some(Authenticator::new(check));
        self
    }

    /// Accepts connections from `listener` and has `serve` serve each on a task of its own, until `signal`
    /// completes; then takes in the connections already waiting in the listen queue (closing the listener would
    /// reset them), stops accepting, asks every connection to drain, waits up to the shutdown timeout for them,
    /// closes what is still open, and returns. `name` names the protocol in the log.
    pub async fn run<L: Listener, S: ServeConnection>(
        &self,
        name: &'static str,
        mut listener: L,
        signal: impl Future<Output = ()> + Send,
        serve: S,
    ) -> io::Result<()> {
        let tasks = Tasks {
            name,
            serve,
            permits: Arc::new(Semaphore::new(self.max_connections)),
            tracker: TaskTracker::new(),
            drain: CancellationToken::new(),
            close: CancellationToken::new(),
        };
        let mut signal = std::pin::pin!(signal);
        match listener.local_addr() {
            Ok(addr) => tracing::info!("{name} server listening on {addr}"),
            Err(e) => tracing::info!(error = %e, "{name} server listening"),
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
            self.spawn(&tasks, io, cx);
        }
        // Connections the kernel has already completed wait in the listen queue; closing the listener would reset
        // them, perhaps after their client has sent a request (which a proxy then does not resend: a POST may have
        // run). Take in those waiting now, to be drained with the others; connections coming later are refused.
        // (Yielding first lets the runtime poll its I/O driver, so the listener's readiness is up to date.)
        tokio::task::yield_now().await;
        for _ in 0..self.max_connections {
            let waiting = {
                let mut accept = std::pin::pin!(listener.accept());
                std::future::poll_fn(|cx| std::task::Poll::Ready(accept.as_mut().poll(cx))).await
            };
            match waiting {
                std::task::Poll::Ready(Ok((io, cx))) => {
                    self.spawn(&tasks, io, cx);
                }
                std::task::Poll::Ready(Err(e)) if is_per_connection(&e) => {}
                std::task::Poll::Ready(Err(_)) | std::task::Poll::Pending => break,
            }
        }
        drop(listener);
        let deadline = self.shutdown_timeout;
        tracing::info!("{name} server shutting down; waiting up to {deadline:?} for calls in flight");
        tasks.drain.cancel();
        tasks.tracker.close();
        if tokio::time::timeout(deadline, tasks.tracker.wait()).await.is_err() {
            tracing::warn!("calls still in flight after {deadline:?}; closing their connections");
            tasks.close.cancel();
            tasks.tracker.wait().await;
        }
        Ok(())
    }
}

/// What the connection tasks of one [`Acceptor::run`] share.
struct Tasks<S> {
    /// The protocol, for the log.
    name: &'static str,
    serve: S,
    /// One per connection served (`max_connections`).
    permits: Arc<Semaphore>,
    tracker: TaskTracker,
    /// Asks connections to finish their calls.
    drain: CancellationToken,
    /// Ends the connections still open at the shutdown deadline.
    close: CancellationToken,
}

impl Acceptor {
    /// Serves one accepted connection on a task of its own, with a permit, or turns it away when there is none.
    fn spawn<I, S>(&self, tasks: &Tasks<S>, io: I, cx: Context)
    where
        I: AsyncRead + AsyncWrite + Send + Unpin + 'static,
        S: ServeConnection,
    {
        let name = tasks.name;
        let span = match cx.get::<RemoteAddr>() {
            Some(RemoteAddr(peer)) => tracing::debug_span!("connection", protocol = name, %peer),
            None => tracing::debug_span!("connection", protocol = name),
        };
        let Ok(permit) = tasks.permits.clone().try_acquire_owned() else {
            let _enter = span.enter();
            tracing::warn!(limit = self.max_connections, "too many connections; turning a new one away");
            tokio::spawn(tasks.serve.clone().refuse(io));
            return;
        };
        let accepted = Accepted { acceptor: self.clone(), serve: tasks.serve.clone(), drain: tasks.drain.clone() };
        let close = tasks.close.clone();
        tasks.tracker.spawn(
            async move {
                tracing::debug!("connection accepted");
                tokio::select! {
                    () = accepted.serve(io, cx) => {}
                    () = Cancelled::new(close.cancelled()) => {
                        tracing::debug!("connection closed by the shutdown deadline");
                    }
                }
                drop(permit);
            }
            .instrument(span),
        );
    }
}

/// One accepted connection, on its way to being served: the TLS handshake and the authentication hook.
struct Accepted<S> {
    acceptor: Acceptor,
    serve: S,
    drain: CancellationToken,
}

impl<S: ServeConnection> Accepted<S> {
    async fn serve<I: AsyncRead + AsyncWrite + Send + Unpin + 'static>(self, io: I, cx: Context) {
        let info = ConnectionInfo { remote_addr: cx.get::<RemoteAddr>().map(|a| a.0), ..ConnectionInfo::default() };
        match self.acceptor.tls.clone() {
            None => self.admit(io, info, cx).await,
            // Boxed, so that a plain connection's task has no room for TLS state, which takes kilobytes.
            Some(tls) => Box::pin(self.serve_tls(tls, io, info, cx)).await,
        }
    }

    async fn serve_tls<I: AsyncRead + AsyncWrite + Send + Unpin + 'static>(
        self,
        tls: Arc<rustls::ServerConfig>,
        io: I,
        info: ConnectionInfo,
        cx: Context,
    ) {
        let limit = self.acceptor.tls_handshake_timeout;
        let handshake = tokio_rustls::TlsAcceptor::from(tls).accept(io);
        let drain = self.drain.clone();
        tokio::select! {
            done = tokio::time::timeout(limit, handshake) => match done {
                Ok(Ok(stream)) => {
                    let info = tls::connection_info(&info, stream.get_ref().1);
                    self.admit(stream, info, cx).await;
                }
                Ok(Err(e)) => tracing::debug!(error = %e, "TLS handshake failed; connection closed"),
                Err(_) => tracing::warn!(?limit, "TLS handshake not finished in time; connection closed"),
            },
            // A shutdown does not wait for handshakes.
            () = drain.cancelled() => tracing::debug!("shutting down: a TLS handshake was abandoned"),
        }
    }

    async fn admit<I: AsyncRead + AsyncWrite + Send + Unpin + 'static>(self, io: I, info: ConnectionInfo, cx: Context) {
        let cx = match &self.acceptor.auth {
            None => cx,
            Some(auth) => match auth.admit(&info, cx) {
                Some(cx) => cx,
                None => {
                    tracing::warn!(tls = info.tls, "connection refused by the authenticate hook");
                    return;
                }
            },
        };
        self.serve.serve(io, cx.with(info), self.drain).await;
    }
}

/// Accept errors that concern one connection (it was reset before we took it), not the listener.
fn is_per_connection(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionRefused
    )
}

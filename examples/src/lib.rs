//! The service the examples share, defined once the way an application shares its API between server and
//! client: a trait in a library both depend on.

use rpc_core::{Fault, service};

mod access;
pub mod interop;

pub use access::AccessLog;

/// The double() service of *Introducing Python*'s XML-RPC example: `double(num)` returns `num * 2`.
#[service]
pub trait Services {
    /// Returns num * 2 (a fault -32602 if that overflows 64 bits).
    #[rpc(idempotent)]
    async fn double(&self, num: i64) -> Result<i64, Fault>;
}

/// The server side's implementation.
#[derive(Debug, Clone, Copy, Default)]
pub struct Doubler;

impl Services for Doubler {
    async fn double(&self, num: i64) -> Result<i64, Fault> {
        let overflow = || Fault::new(Fault::INVALID_PARAMS, format!("double({num}) overflows a 64-bit integer"));
        num.checked_mul(2).ok_or_else(overflow)
    }
}

/// Binds a TCP listener on `addr` and returns it with the address it got (port 0 picks a free one); on failure
/// the example exits with a message saying what to try.
pub async fn listen(addr: std::net::SocketAddr) -> (tokio::net::TcpListener, std::net::SocketAddr) {
    let bound = match tokio::net::TcpListener::bind(addr).await {
        Ok(listener) => listener.local_addr().map(|local| (listener, local)),
        Err(e) => Err(e),
    };
    bound.unwrap_or_else(|e| {
        eprintln!("error: cannot listen on {addr}: {e} (is another server running? try --addr 127.0.0.1:0)");
        std::process::exit(1)
    })
}

/// Completes on Ctrl-C: the examples' shutdown signal.
pub async fn ctrl_c() {
    let _ = tokio::signal::ctrl_c().await;
}

/// Completes on Ctrl-C (SIGINT) or, on Unix, SIGTERM, which process managers (systemd, Docker, Kubernetes) send
/// to stop a service: a server that drains on it loses no call in a rolling restart. SIGTERM is caught from this
/// call on (call it before announcing that the server is up), Ctrl-C once the future is first polled.
pub fn shutdown_signal() -> impl std::future::Future<Output = ()> + Send {
    #[cfg(unix)]
    let terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate());
    async move {
        #[cfg(unix)]
        if let Ok(mut terminate) = terminate {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = terminate.recv() => {}
            }
            return;
        }
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Logs to stderr through `tracing`: `RUST_LOG` if set, else `default` (e.g. `"info"`, which shows the example
/// servers' [`AccessLog`] lines and not the libraries' per-call debug lines).
pub fn init_logging(default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt().with_env_filter(filter).with_ansi(ansi).with_writer(std::io::stderr).init();
}

//! The service the examples share, defined once the way an application shares its API between server and
//! client: a trait in a library both depend on.

use rpc_core::service;

pub mod interop;

/// The seed's service: `double(num)` returns `num * 2`.
#[service]
pub trait Services {
    /// Returns num * 2.
    async fn double(&self, num: i64) -> i64;
}

/// The server side's implementation.
#[derive(Debug, Clone, Copy, Default)]
pub struct Doubler;

impl Services for Doubler {
    async fn double(&self, num: i64) -> i64 {
        num * 2
    }
}

/// Logs to stderr through `tracing`: `RUST_LOG` if set, else `default` (e.g. `"info,rpc_xml=debug"`).
pub fn init_logging(default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt().with_env_filter(filter).with_ansi(ansi).with_writer(std::io::stderr).init();
}

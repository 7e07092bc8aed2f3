//! [`AccessLog`]: one line per call at info, like the access log of Python's `SimpleXMLRPCServer`.

use std::fmt;
use std::time::{Duration, Instant};

use rpc_core::{CallFuture, CallParams, Context, Dispatch, Fault, MethodInfo, RemoteAddr};

/// Wraps a [`Dispatch`] to log one line per call at info when it ends: the method, the peer's address (`-` where
/// the transport has none, as on a Unix socket), how long the handler took and the outcome (`ok` or
/// `fault CODE`). A call dropped before it ended (a handler timeout, a closed connection) is logged as
/// `dropped`. `RUST_LOG=warn` quiets it.
///
/// ```no_run
/// use rpc_examples::{AccessLog, Doubler, ServicesServer};
///
/// # async fn run(listener: tokio::net::TcpListener) -> std::io::Result<()> {
/// rpc_xml::Server::new(AccessLog::new(ServicesServer::new(Doubler))).serve(listener).await
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct AccessLog<D> {
    inner: D,
}

impl<D: Dispatch> AccessLog<D> {
    /// Logs the calls `inner` answers.
    pub fn new(inner: D) -> AccessLog<D> {
        AccessLog { inner }
    }
}

impl<D: Dispatch> Dispatch for AccessLog<D> {
    fn call(&self, method: &str, params: CallParams<'_>, cx: Context) -> CallFuture {
        let entry = Entry::start(method, &cx);
        let answer = self.inner.call(method, params, cx);
        Box::pin(entry.watch(answer))
    }

    fn methods(&self) -> Vec<MethodInfo> {
        self.inner.methods()
    }
}

/// One call being answered: logged once, when it ends or is dropped.
struct Entry {
    method: String,
    peer: Option<RemoteAddr>,
    started: Instant,
    logged: bool,
}

impl Entry {
    fn start(method: &str, cx: &Context) -> Entry {
        Entry {
            method: method.to_owned(),
            peer: cx.get::<RemoteAddr>().copied(),
            started: Instant::now(),
            logged: false,
        }
    }

    async fn watch<T>(mut self, answer: impl Future<Output = Result<T, Fault>>) -> Result<T, Fault> {
        let result = answer.await;
        self.log(match &result {
            Ok(_) => Outcome::Ok,
            Err(fault) => Outcome::Fault(fault.code),
        });
        result
    }

    fn log(&mut self, outcome: Outcome) {
        self.logged = true;
        let peer = Peer(self.peer);
        let duration = Elapsed(self.started.elapsed());
        tracing::info!(method = %self.method, %peer, %duration, %outcome, "call");
    }
}

impl Drop for Entry {
    fn drop(&mut self) {
        if !self.logged {
            // Unwinding from a handler's panic: the transport answers it with -32603.
            let outcome =
                if std::thread::panicking() { Outcome::Fault(Fault::INTERNAL_ERROR) } else { Outcome::Dropped };
            self.log(outcome);
        }
    }
}

/// How a call ended.
enum Outcome {
    Ok,
    Fault(i64),
    Dropped,
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Ok => f.write_str("ok"),
            Outcome::Fault(code) => write!(f, "fault {code}"),
            Outcome::Dropped => f.write_str("dropped"),
        }
    }
}

/// The peer's address, or `-`.
struct Peer(Option<RemoteAddr>);

impl fmt::Display for Peer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(RemoteAddr(addr)) => write!(f, "{addr}"),
            None => f.write_str("-"),
        }
    }
}

/// A duration in the unit that suits it: `38µs`, `1.2ms`, `2.5s`.
struct Elapsed(Duration);

impl fmt::Display for Elapsed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let micros = self.0.as_secs_f64() * 1e6;
        if micros < 1000.0 {
            write!(f, "{micros:.0}µs")
        } else if micros < 1e6 {
            write!(f, "{:.1}ms", micros / 1e3)
        } else {
            write!(f, "{:.1}s", micros / 1e6)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_in_their_unit() {
        let shown = |d| Elapsed(d).to_string();
        assert_eq!(shown(Duration::from_micros(38)), "38µs");
        assert_eq!(shown(Duration::from_micros(1240)), "1.2ms");
        assert_eq!(shown(Duration::from_millis(2500)), "2.5s");
    }

    #[test]
    fn outcomes_and_peers() {
        assert_eq!(Outcome::Ok.to_string(), "ok");
        assert_eq!(Outcome::Fault(-32602).to_string(), "fault -32602");
        assert_eq!(Outcome::Dropped.to_string(), "dropped");
        assert_eq!(Peer(None).to_string(), "-");
        let addr = "127.0.0.1:4000".parse().unwrap();
        assert_eq!(Peer(Some(RemoteAddr(addr))).to_string(), "127.0.0.1:4000");
    }
}

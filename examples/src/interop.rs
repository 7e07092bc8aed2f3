//! The interop peer's service: the methods that tests and other tools call on `interop_server`, on every
//! transport at once, sharing one instance (so `bump` over XML-RPC is seen by `counter` over MessagePack-RPC).

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use rpc_core::{Context, Fault, Stream, Value, service};

/// The longest `sleep` accepted: one minute (below every server's default handler timeout).
pub const MAX_SLEEP_MS: u64 = 60_000;

/// Methods for interop and robustness tests.
#[service]
pub trait Interop {
    /// Returns num * 2.
    #[rpc(idempotent)]
    async fn double(&self, num: i64) -> i64;

    /// Returns a + b (a fault -32602 if the sum overflows 64 bits).
    #[rpc(idempotent)]
    async fn add(&self, a: i64, b: i64) -> Result<i64, Fault>;

    /// Returns its one argument unchanged, whatever its type.
    #[rpc(idempotent)]
    async fn echo(&self, value: Value) -> Value;

    /// Fails with a fault of the given code and message.
    async fn fail(&self, code: i64, message: String) -> Result<(), Fault>;

    /// Waits ms milliseconds (at most one minute), then returns ms.
    async fn sleep(&self, ms: u64) -> Result<u64, Fault>;

    /// Panics inside the handler: the server answers fault -32603 and keeps serving.
    async fn explode(&self);

    /// Adds n to the shared counter and returns the new value.
    async fn bump(&self, n: i64) -> Result<i64, Fault>;

    /// Returns the shared counter.
    #[rpc(idempotent)]
    async fn counter(&self) -> i64;

    /// Waits ms milliseconds (at most one minute), then adds one to the shared counter and returns it.
    async fn slow_bump(&self, ms: u64) -> Result<i64, Fault>;

    /// Calls `method` with `params` on the peer of the calling connection (the client's own handler) and
    /// returns its answer; a fault where the transport has no way back (HTTP).
    async fn ask_client(&self, method: String, params: Vec<Value>, cx: &Context) -> Result<Value, Fault>;

    /// Counts 0, 1, ..., n - 1 (n = 0: for ever), one item every interval_ms milliseconds (the first at once;
    /// left out: as fast as it can): a subscription, `subscribe_count` / notifications `count` /
    /// `unsubscribe_count` on duplex transports, a stream `count` on zerorpc.
    async fn count(&self, n: u64, interval_ms: Option<u64>) -> Stream<u64>;

    /// How many `count` streams exist now (made and not yet dropped): a subscription ended by its caller, or by
    /// its connection closing, is dropped at once.
    async fn streams_open(&self) -> u64;
}

/// The implementation: stateless but for the shared counter.
#[derive(Debug, Default)]
pub struct InteropService {
    counter: AtomicI64,
    streams: Arc<AtomicU64>,
}

/// Counts one `count` stream in [`InteropService::streams_open`] while it exists.
struct Open(Arc<AtomicU64>);

impl Open {
    fn new(streams: &Arc<AtomicU64>) -> Open {
        streams.fetch_add(1, Ordering::AcqRel);
        Open(streams.clone())
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Interop for InteropService {
    async fn double(&self, num: i64) -> i64 {
        num.wrapping_mul(2)
    }

    async fn add(&self, a: i64, b: i64) -> Result<i64, Fault> {
        a.checked_add(b).ok_or_else(|| Fault::invalid_params(format!("{a} + {b} overflows 64 bits")))
    }

    async fn echo(&self, value: Value) -> Value {
        value
    }

    async fn fail(&self, code: i64, message: String) -> Result<(), Fault> {
        Err(Fault::new(code, message))
    }

    async fn sleep(&self, ms: u64) -> Result<u64, Fault> {
        if ms > MAX_SLEEP_MS {
            return Err(Fault::invalid_params(format!("sleep takes at most {MAX_SLEEP_MS} ms")));
        }
        tokio::time::sleep(Duration::from_millis(ms)).await;
        Ok(ms)
    }

    async fn explode(&self) {
        panic!("explode() was called: this panic is on purpose");
    }

    async fn bump(&self, n: i64) -> Result<i64, Fault> {
        let mut current = self.counter.load(Ordering::SeqCst);
        loop {
            let next = current.checked_add(n).ok_or_else(|| Fault::invalid_params("the counter would overflow"))?;
            match self.counter.compare_exchange(current, next, Ordering::SeqCst, Ordering::SeqCst) {
                Ok(_) => return Ok(next),
                Err(actual) => current = actual,
            }
        }
    }

    async fn counter(&self) -> i64 {
        self.counter.load(Ordering::SeqCst)
    }

    async fn slow_bump(&self, ms: u64) -> Result<i64, Fault> {
        self.sleep(ms).await?;
        self.bump(1).await
    }

    async fn ask_client(&self, method: String, params: Vec<Value>, cx: &Context) -> Result<Value, Fault> {
        let peer = cx
            .get::<rpc_msgpack::Peer>()
            .ok_or_else(|| Fault::internal_error("this transport has no way back to the client"))?;
        peer.call(&method, params).await.map_err(|e| match e {
            rpc_core::Error::Fault(fault) => fault,
            other => Fault::internal_error(format!("calling the client failed: {other}")),
        })
    }

    async fn count(&self, n: u64, interval_ms: Option<u64>) -> Stream<u64> {
        let (open, interval) = (Open::new(&self.streams), Duration::from_millis(interval_ms.unwrap_or(0)));
        Stream::new(futures_util::stream::unfold((0, open), move |(i, open)| async move {
            if n != 0 && i >= n {
                return None;
            }
            if i > 0 && !interval.is_zero() {
                tokio::time::sleep(interval).await;
            }
            Some((i, (i + 1, open)))
        }))
    }

    async fn streams_open(&self) -> u64 {
        self.streams.load(Ordering::Acquire)
    }
}

//! Benchmarks for the `rpc` framework: the load generator behind `rpc bench`, and the pieces of the benchmark
//! suite (`cargo run --release -p rpc-bench`) that writes `BENCHMARKS.md`.
//!
//! - [`load`] (the `rpc-load` crate, re-exported): many connections with calls in flight each, timing every answer (hdrhistogram); it speaks
//!   HTTP/1.1 and every duplex encoding (through its `rpc_engine::Protocol`) itself so that it is not the
//!   bottleneck.
//! - [`service`]: the `double` every benchmarked server answers, and the `echo` of the large-payload rows.
//! - [`codecs`]: the codec workloads (a `double` call, a ~1 MB mixed struct) that the criterion benchmarks
//!   (`cargo bench -p rpc-bench`) and the suite's codec table time.
//!
//! ```no_run
//! use std::sync::Arc;
//! use std::time::Duration;
//!
//! use rpc_bench::load::{self, Plan, Progress, Socket, Stop, Target};
//!
//! # async fn run() -> Result<(), String> {
//! let plan = Plan {
//!     method: "double".into(),
//!     params: vec![7.into()],
//!     connections: 1,
//!     in_flight: 64,
//!     stop: Stop::After(Duration::from_secs(3)),
//!     warmup: Duration::from_millis(500),
//!     timeout: Duration::from_secs(5),
//! };
//! let target = Target::duplex(rpc_msgpack::MessagePack::default(), Socket::Tcp("127.0.0.1:6666".into()));
//! let report = load::run(&target, &plan, Arc::new(Progress::default())).await?;
//! println!("{:.0} calls/s, p99 {:?}", report.calls_per_sec(), report.latency.p99);
//! # Ok(())
//! # }
//! ```

#![deny(missing_docs)]

pub mod codecs;
pub use rpc_load as load;

/// The service the suite's servers answer: `double`, as in the README's double() pair.
pub mod service {
    use rpc_core::service;

    /// What every benchmarked server serves.
    #[service]
    pub trait Double {
        /// Returns num * 2.
        async fn double(&self, num: i64) -> i64;
    }

    /// The implementation.
    #[derive(Debug, Clone, Copy, Default)]
    pub struct Doubler;

    impl Double for Doubler {
        async fn double(&self, num: i64) -> i64 {
            num.wrapping_mul(2)
        }
    }

    /// The service of the large-payload rows: each method answers with what it was given.
    #[service]
    pub trait Echo {
        /// Returns the struct it was given.
        async fn echo_mixed(&self, value: crate::codecs::Mixed) -> crate::codecs::Mixed;
        /// Returns the list it was given.
        async fn echo_list(&self, items: Vec<i64>) -> Vec<i64>;
    }

    /// The implementation.
    #[derive(Debug, Clone, Copy, Default)]
    pub struct Echoer;

    impl Echo for Echoer {
        async fn echo_mixed(&self, value: crate::codecs::Mixed) -> crate::codecs::Mixed {
            value
        }

        async fn echo_list(&self, items: Vec<i64>) -> Vec<i64> {
            items
        }
    }
}

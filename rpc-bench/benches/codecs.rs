//! Criterion micro-benchmarks of the codecs: encode + decode of a `double` call and of a ~1 MB mixed struct, for
//! XML-RPC, JSON-RPC and MessagePack-RPC, through the typed path and through the value tree, beside serde_json
//! and rmp-serde straight into the struct. The workloads are `rpc_bench::codecs::cases()`, which the suite's
//! codec table times too.
//!
//! ```text
//! cargo bench -p rpc-bench                  # all of them
//! cargo bench -p rpc-bench -- json/1MB      # those whose name contains json/1MB
//! ```
#![allow(missing_docs)]

use criterion::{Criterion, criterion_group, criterion_main};

fn codecs(c: &mut Criterion) {
    for mut case in rpc_bench::codecs::cases() {
        let name = case.name();
        let mut group = c.benchmark_group(format!("{}/{}", case.codec, case.payload));
        if case.payload == "1MB" {
            group.sample_size(20);
        }
        group.bench_function(case.path, |b| b.iter(&mut case.run));
        group.finish();
        let _ = name;
    }
}

criterion_group!(benches, codecs);
criterion_main!(benches);

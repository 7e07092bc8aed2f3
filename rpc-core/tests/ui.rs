//! Compile tests for `#[service]`: what it accepts (`ui/pass`) and how it rejects what it cannot serve
//! (`ui/fail`, each with the compiler output it must produce). Regenerate the `.stderr` files with
//! `TRYBUILD=overwrite cargo test -p rpc-core --test ui` and read them: every error must point at the
//! offending code.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("tests/ui/pass/*.rs");
    t.compile_fail("tests/ui/fail/*.rs");
}

//! A handler's panic, as the server's operator sees it: one `tracing` error event naming the method, the panic
//! message and where it happened, and nothing from the panic hook on stderr (no message, no backtrace), unless
//! `RUST_BACKTRACE` asks for backtraces. Run in a child process of this test binary, so that the hook and the
//! output streams are its own.

use std::process::Command;

use rpc_core::{Context, Error, Fault, MemoryTransport, service};

#[service]
trait Fragile {
    async fn explode(&self, n: u8) -> u8;
}

struct Impl;

impl Fragile for Impl {
    async fn explode(&self, n: u8) -> u8 {
        panic!("boom {n}");
    }
}

const CHILD: &str = "RPC_PANIC_TEST_CHILD";
const NAME: &str = "a_panicking_handler_logs_one_event_and_no_backtrace";

#[test]
fn a_panicking_handler_logs_one_event_and_no_backtrace() {
    if std::env::var_os(CHILD).is_some() {
        return child();
    }
    let run = |backtrace: Option<&str>| {
        let mut command = Command::new(std::env::current_exe().expect("the test binary"));
        command.args(["--exact", NAME, "--nocapture", "--test-threads=1"]).env(CHILD, "1");
        match backtrace {
            Some(v) => command.env("RUST_BACKTRACE", v),
            None => command.env_remove("RUST_BACKTRACE"),
        };
        let out = command.output().expect("the child test runs");
        let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success(), "the child failed:\n{stdout}\n{stderr}");
        (stdout.into_owned(), stderr.into_owned())
    };
    for quiet in [None, Some("0")] {
        let (stdout, stderr) = run(quiet);
        // One event per call (the typed path's, then the value path's), each with the method, message and place.
        let events: Vec<&str> = stdout.lines().filter(|l| l.contains("handler panicked")).collect();
        assert_eq!(events.len(), 2, "{stdout}");
        for event in events {
            assert!(event.contains("ERROR"), "{event}");
            assert!(event.contains("explode"), "{event}");
            assert!(event.contains("boom 7"), "{event}");
            assert!(event.contains("tests/panics.rs:19:"), "{event}");
        }
        assert!(!stderr.contains("panicked at"), "the panic hook printed:\n{stderr}");
        assert!(!stderr.contains("stack backtrace"), "{stderr}");
    }
    // Asked for backtraces, the process's own hook prints them as usual.
    let (_, stderr) = run(Some("1"));
    assert!(stderr.contains("panicked at") && stderr.contains("boom 7"), "{stderr}");
}

/// The child: a subscriber that writes events on stdout, and one panicking call on each path.
#[expect(clippy::expect_used, reason = "test code: the child reports a failure by panicking, as a test does")]
fn child() {
    tracing_subscriber::fmt().with_writer(std::io::stdout).with_ansi(false).init();
    let runtime = tokio::runtime::Builder::new_current_thread().build().expect("a runtime");
    let client = FragileClient::new(MemoryTransport::new(FragileServer::new(Impl)));
    let typed = runtime.block_on(client.explode(7)).expect_err("a fault");
    assert!(matches!(&typed, Error::Fault(f) if f.code == Fault::INTERNAL_ERROR), "{typed:?}");
    let server = FragileServer::new(Impl);
    let value =
        runtime.block_on(rpc_core::encoding::serve_call_value(&server, "explode", vec![7.into()], Context::new()));
    assert_eq!(value.expect_err("a fault").code, Fault::INTERNAL_ERROR);
}

//! A rolling restart behind nginx fails no call: three `interop_server`s serve XML-RPC behind Debian's nginx,
//! configured with `tests/nginx/rpc.conf` (the configuration the README's "Behind a proxy" shows), while Python's
//! `xmlrpc.client` and our `rpc_xml::Client` call `double` through it in loops; each server in turn is sent
//! SIGTERM, exits once drained, and is started again on the same port. Every call must succeed, nginx must have
//! answered every request 200, and each restarted server must get calls again.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rpc_core::{Transport, Value};
use rpc_test_support::{Peer, TempDir, example_binary, python_command, run_peer, spawn_peer};

/// The nginx configuration under test, as the README shows it: its three server addresses and its listening
/// address are replaced with the test's.
const CONFIG: &str = include_str!("nginx/rpc.conf");
const CONFIG_SERVERS: [&str; 3] = ["127.0.0.1:6801", "127.0.0.1:6802", "127.0.0.1:6803"];
const CONFIG_LISTEN: &str = "127.0.0.1:8080";

/// One `interop_server` serving XML-RPC on `addr` (port 0 picks one).
async fn interop_server(addr: &str) -> Peer {
    let mut cmd = Command::new(example_binary("interop_server"));
    cmd.args(["--xml", addr]).env("RUST_LOG", "warn");
    spawn_peer(cmd, "interop_server").await
}

/// nginx, run in the foreground from a directory of its own, as one process (no master and workers, so that a
/// test can pause it); stopped (SIGTERM) when dropped.
struct Nginx {
    child: Child,
    dir: TempDir,
    addr: SocketAddr,
}

impl Nginx {
    /// Starts nginx with `CONFIG` in front of `servers`, on a port the OS picked, and waits until it listens.
    async fn start(servers: &[SocketAddr]) -> Nginx {
        let nginx = rpc_test_support::nginx();
        let dir = TempDir::new("nginx");
        let addr = {
            let probe = rpc_test_support::bind_loopback().await;
            probe.local_addr().unwrap()
        };
        let mut config = replace_once(CONFIG, CONFIG_LISTEN, &addr.to_string());
        for (placeholder, server) in CONFIG_SERVERS.iter().zip(servers) {
            config = replace_once(&config, placeholder, &server.to_string());
        }
        let d = dir.path().display();
        std::fs::write(dir.path().join("rpc.conf"), config).unwrap();
        // What a test run needs around it: everything in the temp dir, the foreground, and a log of which
        // server(s) each request went to and what it got.
        let main = format!(
            "daemon off;\nmaster_process off;\npid {d}/nginx.pid;\nerror_log {d}/error.log notice;\n\
             events {{ worker_connections 1024; }}\n\
             http {{\n\
                 log_format rpc '$status \"$upstream_addr\" \"$upstream_status\"';\n\
                 access_log {d}/access.log rpc;\n\
                 client_body_temp_path {d}/client_body;\n proxy_temp_path {d}/proxy;\n\
                 fastcgi_temp_path {d}/fastcgi;\n uwsgi_temp_path {d}/uwsgi;\n scgi_temp_path {d}/scgi;\n\
                 include {d}/rpc.conf;\n\
             }}\n"
        );
        let conf = dir.path().join("nginx.conf");
        std::fs::write(&conf, main).unwrap();
        let stderr = std::fs::File::create(dir.path().join("stderr.log")).unwrap();
        let child = Command::new(&nginx)
            .arg("-e")
            .arg(dir.path().join("error.log"))
            .arg("-p")
            .arg(dir.path())
            .arg("-c")
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", nginx.display()));
        let mut nginx = Nginx { child, dir, addr };
        let deadline = Instant::now() + Duration::from_secs(15);
        while tokio::net::TcpStream::connect(addr).await.is_err() {
            if let Ok(Some(status)) = nginx.child.try_wait() {
                panic!("nginx exited ({status}) before listening\n{}", nginx.logs());
            }
            assert!(Instant::now() < deadline, "nginx did not listen on {addr} within 15 s\n{}", nginx.logs());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        nginx
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The access log: one line per request, `STATUS "UPSTREAMS" "THEIR STATUSES"`.
    fn access_log(&self) -> String {
        std::fs::read_to_string(self.path("access.log")).unwrap_or_default()
    }

    fn logs(&self) -> String {
        let read = |name| std::fs::read_to_string(self.path(name)).unwrap_or_default();
        format!("--- nginx stderr ---\n{}\n--- nginx error.log ---\n{}", read("stderr.log"), read("error.log"))
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-CONT", &self.child.id().to_string()]).status();
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("{}", self.logs());
        }
    }
}

/// Sends `signal` (`TERM`, `STOP`, `CONT`) to process `pid`.
fn signal(pid: u32, signal: &str) {
    let sent = Command::new("kill").args([&format!("-{signal}"), &pid.to_string()]).status().unwrap();
    assert!(sent.success(), "kill -{signal} {pid} failed");
}

fn replace_once(text: &str, from: &str, to: &str) -> String {
    assert_eq!(text.matches(from).count(), 1, "{from} should appear once in tests/nginx/rpc.conf");
    text.replacen(from, to, 1)
}

/// The server that finally answered a request, from its access log line (the last of its upstreams).
fn answered_by(line: &str) -> Option<&str> {
    let upstreams = line.split('"').nth(1)?;
    upstreams.rsplit(", ").next().map(str::trim)
}

/// What one of our load loops saw.
#[derive(Default)]
struct Tally {
    calls: u64,
    failures: u64,
    errors: Vec<String>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolling_restart_behind_nginx_fails_no_call() {
    let mut servers = Vec::new();
    for _ in 0..3 {
        servers.push(interop_server("127.0.0.1:0").await);
    }
    let addrs: Vec<SocketAddr> = servers.iter().map(Peer::addr).collect();
    let nginx = Nginx::start(&addrs).await;
    let url = format!("http://{}/RPC2", nginx.addr);
    let client = rpc_xml::Client::new(&url).unwrap();
    assert_eq!(client.call("double", vec![21.into()]).await.unwrap(), Value::Int(42), "{}", nginx.logs());

    // Our client: four loops sharing its pool of keep-alive connections to nginx.
    let stop = Arc::new(AtomicBool::new(false));
    let tally = Arc::new(Mutex::new(Tally::default()));
    let mut loops = Vec::new();
    for worker in 0..4i64 {
        let (client, stop, tally) = (client.clone(), stop.clone(), tally.clone());
        loops.push(tokio::spawn(async move {
            let deadline = Instant::now() + Duration::from_secs(120);
            let mut n = worker * 1_000_000;
            while !stop.load(Ordering::SeqCst) && Instant::now() < deadline {
                n += 1;
                let got = client.call("double", vec![n.into()]).await;
                {
                    let mut tally = tally.lock().unwrap();
                    tally.calls += 1;
                    if !matches!(got, Ok(Value::Int(v)) if v == 2 * n) {
                        tally.failures += 1;
                        if tally.errors.len() < 5 {
                            tally.errors.push(format!("double({n}): {got:?}"));
                        }
                    }
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }));
    }
    // Python's: four threads, each with its own ServerProxy.
    let stop_file = nginx.path("stop-python");
    let python = {
        let cmd = python_command(include_str!("python/xmlrpc_load.py"), &[&url, stop_file.to_str().unwrap(), "4"]);
        tokio::spawn(run_peer(cmd, "python3 xmlrpc load", Duration::from_secs(150)))
    };
    tokio::time::sleep(Duration::from_secs(1)).await;

    for (i, addr) in addrs.iter().enumerate() {
        let status = servers[i].terminate(Duration::from_secs(30)).await;
        assert!(status.success(), "server {addr} exited with {status} on SIGTERM");
        let restarted = interop_server(&addr.to_string()).await;
        assert_eq!(restarted.addr(), *addr, "restarted on another port");
        servers[i] = restarted;
        // nginx sends it calls again (once the second it skips a refusing server is over).
        let from = nginx.access_log().len();
        let deadline = Instant::now() + Duration::from_secs(20);
        let target = addr.to_string();
        while !nginx.access_log()[from..].lines().any(|l| l.starts_with("200 ") && answered_by(l) == Some(&target)) {
            assert!(
                Instant::now() < deadline,
                "server {addr} got no call within 20 s of its restart\n{}",
                nginx.logs()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    tokio::time::sleep(Duration::from_millis(500)).await;

    stop.store(true, Ordering::SeqCst);
    std::fs::write(&stop_file, "").unwrap();
    for l in loops {
        l.await.unwrap();
    }
    let out = python.await.unwrap();
    let python: serde_json::Value = serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{e}: {out}"));
    let ours = tally.lock().unwrap();
    let log = nginx.access_log();
    let not_ok: Vec<&str> = log.lines().filter(|l| !l.starts_with("200 ")).take(10).collect();
    let retried = log.lines().filter(|l| l.contains(", ")).count();
    let summary = format!(
        "ours: {} calls, {} failed {:?}; python: {python}; nginx: {} requests, {retried} passed to a next server",
        ours.calls,
        ours.failures,
        ours.errors,
        log.lines().count()
    );
    eprintln!("{summary}");
    assert_eq!(ours.failures, 0, "{summary}\n{}", nginx.logs());
    assert_eq!(python["failures"], 0, "{summary}\n{}", nginx.logs());
    assert!(not_ok.is_empty(), "nginx answered other than 200: {not_ok:?}\n{summary}\n{}", nginx.logs());
    assert!(ours.calls >= 100 && python["calls"].as_u64().unwrap_or(0) >= 100, "too little load: {summary}");
    for addr in &addrs {
        let target = addr.to_string();
        assert!(log.lines().any(|l| answered_by(l) == Some(&target)), "{addr} got no calls: {summary}");
    }
}

/// The race a drain must not lose: nginx sends a request on an idle keep-alive connection at the moment the server
/// would close it. nginx reads the server's close only after it has sent the request, and then (its source,
/// `ngx_http_upstream_next`) does not resend a POST: the client gets 502. Here the moment is made certain: nginx is
/// paused while a client's request waits for it and the server starts its shutdown, so that it picks its cached
/// connection before it sees anything else. The server must still be holding that connection and answer.
#[tokio::test]
async fn a_request_on_a_connection_the_server_is_draining_is_answered() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut server = interop_server("127.0.0.1:0").await;
    let nginx = Nginx::start(&[server.addr(); 3]).await;
    let body = "<?xml version=\"1.0\"?><methodCall><methodName>double</methodName><params><param><value>\
                <int>21</int></value></param></params></methodCall>";
    let request = format!(
        "POST /RPC2 HTTP/1.1\r\nHost: rpc\r\nContent-Type: text/xml\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let mut conn = tokio::net::TcpStream::connect(nginx.addr).await.unwrap();
    let answer = async |conn: &mut tokio::net::TcpStream| {
        let mut raw = Vec::new();
        let mut chunk = [0u8; 4096];
        while !String::from_utf8_lossy(&raw).contains("</methodResponse>")
            && !String::from_utf8_lossy(&raw).contains("</html>")
        {
            let n =
                tokio::time::timeout(Duration::from_secs(10), conn.read(&mut chunk)).await.expect("an answer").unwrap();
            assert!(n > 0, "nginx closed the connection: {}", String::from_utf8_lossy(&raw));
            raw.extend_from_slice(&chunk[..n]);
        }
        String::from_utf8_lossy(&raw).into_owned()
    };
    // nginx now holds an idle keep-alive connection to the server.
    conn.write_all(request.as_bytes()).await.unwrap();
    let first = answer(&mut conn).await;
    assert!(first.starts_with("HTTP/1.1 200") && first.contains("<int>42</int>"), "{first}");

    signal(nginx.child.id(), "STOP");
    conn.write_all(request.as_bytes()).await.unwrap();
    signal(server.pid(), "TERM");
    tokio::time::sleep(Duration::from_millis(300)).await;
    signal(nginx.child.id(), "CONT");
    let second = answer(&mut conn).await;
    assert!(second.starts_with("HTTP/1.1 200") && second.contains("<int>42</int>"), "{second}\n{}", nginx.logs());
    let status = server.terminate(Duration::from_secs(30)).await;
    assert!(status.success(), "{status}");
}

#[test]
fn the_readme_shows_the_tested_configuration() {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md")).unwrap();
    assert!(
        readme.contains(&format!("```nginx\n{CONFIG}```\n")),
        "README.md's \"Behind a proxy\" must quote examples/tests/nginx/rpc.conf exactly, in an ```nginx block"
    );
}

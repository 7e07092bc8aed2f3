//! Shared helpers for the workspace's tests: finding and starting peer programs (python3 today, others later)
//! and binding our own listeners, always on OS-picked loopback ports so tests run in parallel.
//!
//! A missing peer fails the test, it never skips it: [`python3`] panics with how to install it. Every helper
//! panics with a message (and the peer's output) rather than returning an error: they only run in tests, where
//! a panic is the failure report.
//!
//! - [`bind_loopback`]: a listener on `127.0.0.1:0` for our own server.
//! - [`spawn_python_server`] / [`spawn_peer`]: a long-running peer that listens on a port it picks and prints;
//!   the [`Peer`] guard kills it when dropped and shows its stderr if the test is failing.
//! - [`run_python`] / [`run_peer`]: a peer run to completion (a client script), with a timeout; a non-zero exit
//!   fails with its stdout and stderr.
//! - [`spawn_nvim`], [`node_command`], [`require_python_module`], [`nginx`]: Neovim, Node scripts with their npm
//!   packages, Python packages and nginx, each failing with how to install it when missing; [`TempDir`] for Unix
//!   sockets; [`Peer::terminate`] stops a peer the way a process manager does.
//! - [`http_post`], [`http_exchange`]: one raw HTTP exchange, to assert exactly what a server answers.
//! - [`tls::Pki`]: a private CA with server and client certificates made in the test, for TLS tests.
//!
//! ```no_run
//! # async fn run() {
//! use rpc_test_support::{run_python, spawn_python_server};
//!
//! let server = spawn_python_server(
//!     "from xmlrpc.server import SimpleXMLRPCServer\n\
//!      s = SimpleXMLRPCServer(('127.0.0.1', 0), logRequests=False)\n\
//!      s.register_function(lambda n: n * 2, 'double')\n\
//!      print(s.server_address[1])\n\
//!      s.serve_forever()\n",
//!     &[],
//! )
//! .await;
//! let url = format!("http://{}/", server.addr());
//! let out = run_python(
//!     "import sys, xmlrpc.client\nprint(xmlrpc.client.ServerProxy(sys.argv[1]).double(7))\n",
//!     &[&url],
//! )
//! .await;
//! assert_eq!(out.trim(), "14");
//! # }
//! ```

use std::fmt;
use std::io::{BufRead, BufReader, Read};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;

pub mod peers;
pub mod tls;

mod path_probe;
pub use path_probe::PathProbe;

pub mod values;

/// The message a test fails with when `python3` is not on `PATH`.
pub const PYTHON3_MISSING: &str = "python3 not found: install it with `apt-get install -y python3`";

/// How long [`run_python`] lets a script run before killing it and failing: 60 seconds.
pub const RUN_TIMEOUT: Duration = Duration::from_secs(60);

/// How long [`spawn_peer`] waits for a peer to print its port: 30 seconds.
pub const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);

/// A TCP listener on `127.0.0.1` with a port the OS picked, for a server under test.
pub async fn bind_loopback() -> TcpListener {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .unwrap_or_else(|e| panic!("cannot bind a listener on 127.0.0.1:0: {e}"))
}

/// The port a peer announces on its first line: a bare number (`4321`) or the port of an address or URL at the
/// end of the line (`xml http://127.0.0.1:4321/`, as `interop_server` prints).
fn port_in_line(line: &str) -> Option<u16> {
    let line = line.trim().trim_end_matches('/');
    let digits = line.rsplit(|c: char| !c.is_ascii_digit()).next()?;
    let before = &line[..line.len() - digits.len()];
    if !(before.is_empty() || before.ends_with(':')) {
        return None;
    }
    digits.parse::<u16>().ok().filter(|p| *p != 0)
}

/// The path of an example program of this workspace (`target/<profile>/examples/<name>`), built by
/// `cargo test --workspace` along with the tests. Fails the test with the command to build it if it is missing.
pub fn example_binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_else(|e| panic!("cannot find the test executable: {e}"));
    // target/<profile>/deps/<test> -> target/<profile>/examples/<name>
    let profile_dir = exe.parent().and_then(Path::parent).unwrap_or_else(|| panic!("unexpected test path {exe:?}"));
    let path = profile_dir.join("examples").join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.is_file(),
        "the example `{name}` is not built at {path:?}: run `cargo build --examples` (or `cargo test --workspace`, \
         which builds it)"
    );
    path
}

/// The first executable file called `name` in a directory of `PATH`, like `which`.
pub fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|dir| dir.join(name)).find(|p| is_executable(p))
}

#[cfg(unix)]
fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    p.metadata().is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(not(unix))]
fn is_executable(p: &Path) -> bool {
    p.is_file()
}

/// The Python the tests run their peers with: the test peers' virtual environment (made from the system's
/// `python3` the first time, with the packages of `peers/requirements.txt`; see [`peers`]). Panics with
/// [`PYTHON3_MISSING`] when there is no `python3` on `PATH`.
pub fn python3() -> PathBuf {
    peers::python()
}

/// A command that runs `script` (Python source text) with `args` as `sys.argv[1:]`.
///
/// Python runs isolated from the environment and user site-packages (`-I`: the stdlib only), unbuffered (`-u`:
/// a printed port arrives at once) and in UTF-8 mode (`-X utf8`). Tracebacks name the script `<string>`.
pub fn python_command(script: &str, args: &[&str]) -> Command {
    let mut cmd = Command::new(python3());
    cmd.args(["-I", "-u", "-X", "utf8", "-c", script]).args(args);
    cmd
}

/// Starts a Python server script and waits for the port it prints on its first stdout line.
///
/// The script binds `127.0.0.1` port 0 and prints `server.server_address[1]` before serving. Dropping the
/// returned [`Peer`] kills the process.
pub async fn spawn_python_server(script: &str, args: &[&str]) -> Peer {
    spawn_peer(python_command(script, args), "python3 server").await
}

/// Runs a Python script to completion with `args` and returns its stdout; fails the test (showing stdout and
/// stderr) if it exits with an error or takes longer than [`RUN_TIMEOUT`].
pub async fn run_python(script: &str, args: &[&str]) -> String {
    run_peer(python_command(script, args), "python3 client", RUN_TIMEOUT).await
}

/// Runs `cmd` to completion and returns its stdout; fails the test (showing stdout and stderr) if it cannot
/// start, exits unsuccessfully, or runs longer than `timeout` (then it is killed). `what` names it in messages.
///
/// The command's stdin is closed. Whatever it wrote to stderr is passed on to the test's own stderr, which the
/// test harness shows when the test fails.
pub async fn run_peer(cmd: Command, what: &str, timeout: Duration) -> String {
    let mut cmd = tokio::process::Command::from(cmd);
    cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).kill_on_drop(true);
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("cannot start the {what} ({cmd:?}): {e}"));
    let (Some(mut stdout), Some(mut stderr)) = (child.stdout.take(), child.stderr.take()) else {
        panic!("the {what}'s stdout and stderr were not piped");
    };
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let finished = tokio::time::timeout(timeout, async {
        let (o, e, status) = tokio::join!(stdout.read_to_end(&mut out), stderr.read_to_end(&mut err), child.wait());
        o.and(e).and(status)
    })
    .await;
    let outcome = match finished {
        Ok(Ok(status)) if status.success() => {
            if !err.is_empty() {
                eprintln!("--- {what} stderr ---\n{}", String::from_utf8_lossy(&err));
            }
            return String::from_utf8_lossy(&out).into_owned();
        }
        Ok(Ok(status)) => format!("failed ({status})"),
        Ok(Err(e)) => format!("could not be waited for: {e}"),
        Err(_) => {
            let _ = child.kill().await;
            // Whatever is still in the pipes, briefly: the output so far is the best clue to a hang.
            let _ = tokio::time::timeout(Duration::from_secs(2), async {
                tokio::join!(stdout.read_to_end(&mut out), stderr.read_to_end(&mut err))
            })
            .await;
            format!("did not finish within {timeout:?} and was killed")
        }
    };
    panic!(
        "the {what} {outcome}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        String::from_utf8_lossy(&out),
        String::from_utf8_lossy(&err)
    );
}

/// Starts `cmd` as a long-running peer and waits (up to [`STARTUP_TIMEOUT`]) for the port it prints as its
/// first stdout line; the peer listens on `127.0.0.1` at that port. `what` names it in messages.
///
/// The command's stdin is closed; its stdout (after the port) and stderr are captured. Fails the test if the
/// peer cannot start, exits first, or prints something that is not a port.
pub async fn spawn_peer(mut cmd: Command, what: &str) -> Peer {
    cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("cannot start the {what} ({cmd:?}): {e}"));
    let (Some(stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
        panic!("the {what}'s stdout and stderr were not piped");
    };
    let (out_buf, err_buf) = (Arc::new(Mutex::new(Vec::new())), Arc::new(Mutex::new(Vec::new())));
    let (port_tx, port_rx) = tokio::sync::oneshot::channel::<String>();
    // Plain threads, not tasks: they finish draining the pipes even while a failing test unwinds.
    let out_thread = {
        let buf = out_buf.clone();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut first = String::new();
            if matches!(reader.read_line(&mut first), Ok(n) if n > 0) {
                let _ = port_tx.send(first);
            }
            drain(reader, &buf);
        })
    };
    let err_thread = {
        let buf = err_buf.clone();
        std::thread::spawn(move || drain(stderr, &buf))
    };
    let mut peer = Peer {
        what: what.to_owned(),
        pid: child.id(),
        addr: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
        child,
        status: None,
        stdout: out_buf,
        stderr: err_buf,
        threads: vec![out_thread, err_thread],
        reported: false,
    };
    let line = match tokio::time::timeout(STARTUP_TIMEOUT, port_rx).await {
        Ok(Ok(line)) => line,
        Ok(Err(_)) => peer.fail("exited before printing its port"),
        Err(_) => peer.fail(&format!("printed no port within {STARTUP_TIMEOUT:?}")),
    };
    match port_in_line(&line) {
        Some(port) => peer.addr.set_port(port),
        None => peer.fail(&format!("printed {line:?} where its port was expected")),
    }
    peer
}

/// Copies a pipe into `buf` until it closes, so the peer never blocks on a full pipe.
fn drain(mut pipe: impl Read, buf: &Mutex<Vec<u8>>) {
    let mut chunk = [0u8; 8192];
    while let Ok(n) = pipe.read(&mut chunk) {
        if n == 0 {
            break;
        }
        buf.lock().unwrap_or_else(PoisonError::into_inner).extend_from_slice(&chunk[..n]);
    }
}

/// A running peer process listening on a loopback port; dropping it kills the process.
///
/// When the test is failing (the guard is dropped while panicking), the peer's stderr and remaining stdout are
/// printed, so its traceback appears in the test's failure output.
pub struct Peer {
    what: String,
    pid: u32,
    addr: SocketAddr,
    child: Child,
    status: Option<ExitStatus>,
    stdout: Arc<Mutex<Vec<u8>>>,
    stderr: Arc<Mutex<Vec<u8>>>,
    threads: Vec<JoinHandle<()>>,
    reported: bool,
}

impl Peer {
    /// The address the peer listens on (`127.0.0.1:port`).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The port the peer listens on.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// The peer's process id.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Asks the peer to stop with SIGTERM, as a process manager does (with the `kill` program), and waits up to
    /// `timeout` for it to exit; returns its exit status. Fails the test, with the peer's output, if it does not
    /// exit in time (it is killed then).
    pub async fn terminate(&mut self, timeout: Duration) -> ExitStatus {
        if let Some(status) = self.status {
            return status;
        }
        let sent = Command::new("kill")
            .args(["-TERM", &self.pid.to_string()])
            .status()
            .unwrap_or_else(|e| panic!("cannot run `kill` (install procps: `apt-get install -y procps`): {e}"));
        assert!(sent.success(), "`kill -TERM {}` failed ({sent})", self.pid);
        let deadline = Instant::now() + timeout;
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => {
                    self.status = Some(status);
                    return status;
                }
                Ok(None) if Instant::now() < deadline => tokio::time::sleep(Duration::from_millis(10)).await,
                Ok(None) => self.fail(&format!("did not exit within {timeout:?} of SIGTERM")),
                Err(e) => self.fail(&format!("could not be waited for: {e}")),
            }
        }
    }

    /// What the peer has written to stderr so far.
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.stderr.lock().unwrap_or_else(PoisonError::into_inner)).into_owned()
    }

    /// What the peer has written to stdout so far, after the port line.
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.stdout.lock().unwrap_or_else(PoisonError::into_inner)).into_owned()
    }

    /// Kills the peer (if it still runs), reaps it, and waits briefly for its output to be drained.
    fn stop(&mut self) {
        if self.status.is_none() {
            let _ = self.child.kill();
            self.status = self.child.wait().ok();
        }
        // The pipes close when the process is gone; a grandchild holding them open must not hang the test.
        let deadline = Instant::now() + Duration::from_secs(2);
        while self.threads.iter().any(|t| !t.is_finished()) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        for t in std::mem::take(&mut self.threads) {
            if t.is_finished() {
                let _ = t.join();
            }
        }
    }

    /// The peer's exit status and output, for a failure message.
    fn report(&self) -> String {
        let status = self.status.map_or_else(|| "still running".to_owned(), |s| s.to_string());
        format!(
            "--- {} (pid {}, {status}) stderr ---\n{}\n--- {} stdout ---\n{}",
            self.what,
            self.pid,
            self.stderr(),
            self.what,
            self.stdout()
        )
    }

    fn fail(&mut self, why: &str) -> ! {
        self.stop();
        self.reported = true;
        panic!("the {} {why}\n{}", self.what, self.report());
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        self.stop();
        if std::thread::panicking() && !self.reported {
            eprintln!("{}", self.report());
        }
    }
}

impl fmt::Debug for Peer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Peer").field("what", &self.what).field("pid", &self.pid).field("addr", &self.addr).finish()
    }
}

// =============================================================================================================
// MessagePack-RPC peers: Python packages, Neovim, Node packages (used by rpc-msgpack's interop tests).
// =============================================================================================================

/// Fails the test unless the test peers' Python can import `module` (installed from
/// `peers/requirements.txt`), saying what to add there: `pip` is the requirement (e.g. `msgpack==1.2.4`).
pub fn require_python_module(module: &str, pip: &str) {
    let out = python_command(&format!("import {module}"), &[])
        .output()
        .unwrap_or_else(|e| panic!("cannot run python3 to look for the {module} module: {e}"));
    assert!(
        out.status.success(),
        "the Python module `{module}` is missing from the test peers' environment: add `{pip}` to \
         rpc-test-support/peers/requirements.txt (the tests install what it lists)\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A fresh, empty directory under the system's temp dir (for Unix sockets and the like), removed with its
/// contents when dropped. Its path is short, as Unix socket paths must be (about 100 bytes at most).
#[derive(Debug)]
pub struct TempDir(PathBuf);

impl TempDir {
    /// A new directory whose name starts with `label`.
    pub fn new(label: &str) -> TempDir {
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("{label}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("cannot create {dir:?}: {e}"));
        TempDir(dir)
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The message a test fails with when `nvim` is not on `PATH`.
pub const NVIM_MISSING: &str = "nvim (Neovim) not found: install it with `apt-get install -y neovim`";

/// The path of `nvim`; panics with [`NVIM_MISSING`] when it is not on `PATH`.
pub fn nvim() -> PathBuf {
    find_program("nvim").unwrap_or_else(|| panic!("{NVIM_MISSING}"))
}

/// Starts a headless Neovim with no user config (`nvim --headless --clean`) listening for MessagePack-RPC on
/// `127.0.0.1` at a port the OS picks, and waits until it listens. Dropping the [`Peer`] kills it, which also
/// closes the pipes of any job it started.
pub async fn spawn_nvim() -> Peer {
    let mut cmd = Command::new(nvim());
    cmd.args([
        "--headless",
        "--clean",
        "--listen",
        "127.0.0.1:0",
        // Announce the port the way `spawn_peer` reads it: alone on the first line of stdout.
        "-c",
        "lua io.stdout:write(vim.v.servername:match(':(%d+)$') .. '\\n') io.stdout:flush()",
    ]);
    spawn_peer(cmd, "nvim").await
}

/// The message a test fails with when nginx is not installed.
pub const NGINX_MISSING: &str = "nginx not found: install it with `apt-get install -y nginx`";

/// The path of `nginx`: on `PATH`, or where Debian and nginx's own builds put it (`/usr/sbin`, which is not on a
/// user's `PATH`, `/usr/local/sbin`, `/usr/local/nginx/sbin`); panics with [`NGINX_MISSING`] when it is nowhere.
pub fn nginx() -> PathBuf {
    find_program("nginx")
        .or_else(|| {
            ["/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/local/nginx/sbin/nginx"]
                .into_iter()
                .map(PathBuf::from)
                .find(|p| is_executable(p))
        })
        .unwrap_or_else(|| panic!("{NGINX_MISSING}"))
}

/// The message a test fails with when `node` is not on `PATH`.
pub const NODE_MISSING: &str = "node not found: install Node.js with `apt-get install -y nodejs npm`";

/// The path of `node`; panics with [`NODE_MISSING`] when it is not on `PATH`.
pub fn node() -> PathBuf {
    find_program("node").unwrap_or_else(|| panic!("{NODE_MISSING}"))
}

/// A command that runs the Node script `script` (a file) with `args`, where `require()` finds the packages
/// installed in `script`'s directory. Fails the test, saying to run `npm ci` there, if `package` (one the
/// script needs) is not installed.
pub fn node_command(script: &Path, package: &str, args: &[&str]) -> Command {
    let dir = script.parent().unwrap_or_else(|| panic!("{script:?} has no directory"));
    peers::node_packages(dir);
    assert!(
        dir.join("node_modules").join(package).is_dir(),
        "the Node package `{package}` is missing from {}: add it to its package.json and package-lock.json",
        dir.display()
    );
    let mut cmd = Command::new(node());
    cmd.arg(script).args(args);
    cmd
}

// =============================================================================================================
// Raw HTTP, for asserting exactly what an HTTP server answers (status, headers and body).
// =============================================================================================================

/// One HTTP answer, read whole from a connection the server closed.
#[derive(Debug, Clone)]
pub struct HttpAnswer {
    /// The status code (`200`, `204`, ...).
    pub status: u16,
    /// The header lines, as sent.
    pub headers: Vec<(String, String)>,
    /// The body, as text (lossy UTF-8).
    pub body: String,
}

impl HttpAnswer {
    /// The value of the first header called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// POSTs `body` to `path` on `addr` over a new connection (`Connection: close`) and reads the whole answer,
/// failing the test if none comes within 10 seconds.
pub async fn http_post(addr: SocketAddr, path: &str, content_type: &str, body: &[u8]) -> HttpAnswer {
    http_exchange(addr, &format!("POST {path} HTTP/1.1\r\nContent-Type: {content_type}"), body).await
}

/// Sends one request over a new connection: `head` (the request line and any headers, without the last line
/// break), then `Host`, `Content-Length` and `Connection: close`, then `body`; reads the whole answer, failing
/// the test if none comes within 10 seconds. For requests [`http_post`] cannot make (a preflight `OPTIONS`, a
/// `GET`, an `Origin`).
pub async fn http_exchange(addr: SocketAddr, head: &str, body: &[u8]) -> HttpAnswer {
    use tokio::io::AsyncWriteExt;
    let mut request =
        format!("{head}\r\nHost: {addr}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len()).into_bytes();
    request.extend_from_slice(body);
    let mut stream =
        tokio::net::TcpStream::connect(addr).await.unwrap_or_else(|e| panic!("cannot connect to {addr}: {e}"));
    // The server may answer (413) and close before taking the whole request: read what it said anyway.
    let _ = stream.write_all(&request).await;
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut raw))
        .await
        .unwrap_or_else(|_| panic!("no complete HTTP answer from {addr} within 10 s"))
        .unwrap_or_else(|e| panic!("reading the HTTP answer from {addr}: {e}"));
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or_else(|| panic!("not an HTTP answer: {text:?}"));
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no HTTP status line in {text:?}"));
    let headers =
        lines.filter_map(|l| l.split_once(':')).map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned())).collect();
    HttpAnswer { status, headers, body: body.to_owned() }
}

#[cfg(test)]
mod tests {
    #[test]
    fn ports_are_read_from_announcements() {
        use super::port_in_line;
        assert_eq!(port_in_line("4321\n"), Some(4321));
        assert_eq!(port_in_line("xml http://127.0.0.1:4321/\n"), Some(4321));
        assert_eq!(port_in_line("msgpack 127.0.0.1:99"), Some(99));
        assert_eq!(port_in_line("listening"), None);
        assert_eq!(port_in_line("version 12"), None);
        assert_eq!(port_in_line("0"), None);
    }

    use super::*;

    #[tokio::test]
    async fn missing_programs_are_not_found() {
        assert!(find_program("no-such-program-for-rpc-tests").is_none());
    }

    #[tokio::test]
    async fn a_server_peer_reports_its_port_and_is_killed_on_drop() {
        let peer = spawn_python_server(
            "import socket\ns = socket.socket()\ns.bind(('127.0.0.1', 0))\ns.listen()\n\
             print(s.getsockname()[1])\nimport time\ntime.sleep(60)\n",
            &[],
        )
        .await;
        assert_ne!(peer.port(), 0);
        assert!(tokio::net::TcpStream::connect(peer.addr()).await.is_ok(), "the peer listens");
        let addr = peer.addr();
        drop(peer);
        assert!(tokio::net::TcpStream::connect(addr).await.is_err(), "the peer was killed on drop");
    }

    /// The panic message of a helper run in a task.
    async fn panic_message(fut: impl std::future::Future<Output = ()> + Send + 'static) -> String {
        match tokio::spawn(fut).await {
            Ok(()) => panic!("the helper did not fail"),
            Err(e) => match e.try_into_panic() {
                Ok(payload) => payload.downcast::<String>().map(|s| *s).unwrap_or_default(),
                Err(e) => panic!("the helper task did not panic: {e}"),
            },
        }
    }

    #[tokio::test]
    async fn a_server_peer_that_dies_fails_with_its_stderr() {
        let msg = panic_message(async {
            spawn_python_server("raise SystemExit('no port today')", &[]).await;
        })
        .await;
        assert!(msg.contains("exited before printing its port") && msg.contains("no port today"), "{msg}");
        let msg = panic_message(async {
            spawn_python_server("print('hello')", &[]).await;
        })
        .await;
        assert!(msg.contains(r#"printed "hello\n" where its port"#), "{msg}");
    }

    #[tokio::test]
    async fn a_client_script_returns_stdout() {
        assert_eq!(run_python("import sys\nprint(sys.argv[1:])", &["a", "b c"]).await, "['a', 'b c']\n");
    }

    #[tokio::test]
    async fn a_failing_client_script_fails_with_its_output() {
        let msg = panic_message(async {
            run_python("print('so far so good')\nassert 1 == 2, 'mismatch'", &[]).await;
        })
        .await;
        assert!(msg.contains("failed (exit status: 1)") && msg.contains("so far so good"), "{msg}");
        assert!(msg.contains("AssertionError: mismatch"), "{msg}");
    }

    #[tokio::test]
    #[should_panic(expected = "did not finish within")]
    async fn a_hanging_client_script_is_killed() {
        run_peer(python_command("import time\ntime.sleep(30)", &[]), "python3 client", Duration::from_millis(500))
            .await;
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Heap measurement

/// A global allocator that counts the heap bytes in use and their peak since the last [`reset_peak`], so a
/// test can assert that a hostile input cost bounded memory. Declare it in the test binary:
///
/// ```ignore
/// #[global_allocator]
/// static HEAP: rpc_test_support::CountingAlloc = rpc_test_support::CountingAlloc::new();
/// ```
///
/// It counts the whole process, so tests that measure must not run at the same time as others in their binary.
///
/// [`reset_peak`]: CountingAlloc::reset_peak
#[derive(Debug)]
pub struct CountingAlloc {
    in_use: std::sync::atomic::AtomicUsize,
    peak: std::sync::atomic::AtomicUsize,
}

impl CountingAlloc {
    /// A counter at zero.
    pub const fn new() -> CountingAlloc {
        CountingAlloc { in_use: std::sync::atomic::AtomicUsize::new(0), peak: std::sync::atomic::AtomicUsize::new(0) }
    }

    /// Heap bytes in use now.
    pub fn in_use(&self) -> usize {
        self.in_use.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// The most heap bytes in use at once since the last reset.
    pub fn peak(&self) -> usize {
        self.peak.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Starts a new peak measurement from the bytes in use now.
    pub fn reset_peak(&self) {
        self.peak.store(self.in_use(), std::sync::atomic::Ordering::SeqCst);
    }

    fn grew(&self, by: usize) {
        let now = self.in_use.fetch_add(by, std::sync::atomic::Ordering::SeqCst) + by;
        self.peak.fetch_max(now, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Default for CountingAlloc {
    fn default() -> CountingAlloc {
        CountingAlloc::new()
    }
}

// SAFETY: every call is passed to the system allocator unchanged; only counters are updated around it.
#[allow(unsafe_code)]
unsafe impl std::alloc::GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        // SAFETY: the caller's contract for `alloc` is passed on as it is.
        let p = unsafe { std::alloc::System.alloc(layout) };
        if !p.is_null() {
            self.grew(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: std::alloc::Layout) {
        // SAFETY: the caller's contract for `dealloc` is passed on as it is.
        unsafe { std::alloc::System.dealloc(ptr, layout) };
        self.in_use.fetch_sub(layout.size(), std::sync::atomic::Ordering::SeqCst);
    }

    unsafe fn alloc_zeroed(&self, layout: std::alloc::Layout) -> *mut u8 {
        // SAFETY: as for `alloc`.
        let p = unsafe { std::alloc::System.alloc_zeroed(layout) };
        if !p.is_null() {
            self.grew(layout.size());
        }
        p
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: std::alloc::Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as for `alloc` and `dealloc`.
        let p = unsafe { std::alloc::System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            self.in_use.fetch_sub(layout.size(), std::sync::atomic::Ordering::SeqCst);
            self.grew(new_size);
        }
        p
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Closed ports

/// A loopback address where connecting is refused, for "no server runs" tests: the port is bound but not
/// listening, and stays bound while this lives, so no other test (running in parallel) can be handed it — which
/// a listener bound and dropped cannot promise.
#[derive(Debug)]
pub struct ClosedPort {
    _socket: tokio::net::TcpSocket,
    addr: SocketAddr,
}

impl ClosedPort {
    /// Binds a fresh loopback port without listening on it.
    pub fn new() -> ClosedPort {
        let socket = tokio::net::TcpSocket::new_v4().unwrap_or_else(|e| panic!("cannot create a socket: {e}"));
        socket
            .bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
            .unwrap_or_else(|e| panic!("cannot bind 127.0.0.1:0: {e}"));
        let addr = socket.local_addr().unwrap_or_else(|e| panic!("cannot read the bound address: {e}"));
        ClosedPort { _socket: socket, addr }
    }

    /// The address (connections to it are refused).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Default for ClosedPort {
    fn default() -> ClosedPort {
        ClosedPort::new()
    }
}

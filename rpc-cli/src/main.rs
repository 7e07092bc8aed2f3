//! `rpc`: call a method on any RPC server from the shell, whatever its protocol, the way `grpcurl` does for
//! gRPC.
//!
//! ```text
//! rpc call http://127.0.0.1:6789/ double 7                # XML-RPC: prints 14
//! rpc call jsonrpc+http://127.0.0.1:6789/ echo '{"a": [1, 2.5, null]}'
//! rpc call msgpack://127.0.0.1:6666 nvim_eval '"6*7"'     # MessagePack-RPC (here Neovim): prints 42
//! rpc call jsonrpc+tcp://127.0.0.1:6792 double 7          # JSON-RPC over TCP, one message per line: 14
//! rpc call jsonrpc+unix:///tmp/interop-json.sock double 7 # ... over a Unix socket
//! rpc notify jsonrpc+http://127.0.0.1:6789/ bump 1
//! rpc subscribe jsonrpc+tcp://127.0.0.1:6792 subscribe_count 3 100  # prints 0, 1, 2, one JSON line each
//! rpc list http://127.0.0.1:6789/
//! rpc help http://127.0.0.1:6789/ double
//! rpc help                                                # this usage (rpc help call: call's)
//! rpc bench msgpack://127.0.0.1:6666 double 7 --connections 4 --in-flight 64 --duration 5s
//! rpc bench jsonrpc+tcp://127.0.0.1:6792 double 7 --in-flight 64 --duration 5s
//! ```
//!
//! The URL's scheme picks the protocol: `http://` and `https://` are XML-RPC (like Python's `ServerProxy`),
//! `jsonrpc+http://` and `jsonrpc+https://` JSON-RPC 2.0 over HTTP, `jsonrpc+tcp://HOST:PORT` JSON-RPC 2.0 over
//! TCP and `jsonrpc+unix:///PATH` over a Unix socket (one message per line, calls pipelined on one connection),
//! `msgpack://HOST:PORT` MessagePack-RPC over TCP, `msgpack+tls://HOST:PORT` over TLS and `msgpack+unix:///PATH`
//! over a Unix socket. Each scheme is one entry of one table (`scheme.rs`), which every command goes through. TLS
//! trusts the system's root certificates, or with `--ca FILE` only the CA certificates in that PEM file. Each
//! argument is one JSON value; the
//! result is printed as JSON (indented on a terminal, on one line otherwise). Options go before or after the
//! arguments (`rpc call URL double 7 --timeout 1s`); a negative number is an argument, and after `--` everything
//! is (`rpc call URL echo -- -1e-3`). Values JSON cannot say are spelled
//! `{"$base64": "..."}`, `{"$datetime": "19980717T14:08:55"}`, `{"$ext": [type, "base64"]}`,
//! `{"$map": [[key, value], ...]}` (keys that are not strings) and `{"$float": "NaN"}`, both ways (see
//! `rpc_json::codec`); integers keep their full 64-bit range.
//!
//! Exit codes: 0 success; 1 the server answered a fault (`fault CODE: MESSAGE` on stderr); 2 anything else
//! (connection refused, timeout, bad URL, bad JSON argument), with a one-line message that says what to do.

mod bench;
mod conn;
mod duplex;
mod http;
mod introspect;
mod scheme;
mod zerorpc;

use std::fmt;
use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use rpc_core::{Fault, Value};

use crate::conn::{Conn, Options};
use crate::scheme::Target;

/// Call methods on XML-RPC, JSON-RPC and MessagePack-RPC servers.
#[derive(Debug, Parser)]
#[command(name = "rpc", version, disable_help_subcommand = true, after_help = after_help())]
struct Cli {
    /// How long connecting and each exchange may take: 500ms, 2s, 1.5, 1m.
    #[arg(long, global = true, default_value = "30s", value_parser = parse_duration)]
    timeout: Duration,
    /// Show each request and response on stderr (HTTP bodies as sent; other messages as JSON, `msgid` for the
    /// id).
    #[arg(short, long, global = true)]
    verbose: bool,
    // Trust the CA certificates in this PEM file, instead of the system's, for the TLS schemes.
    #[arg(long, global = true, value_name = "FILE", help = ca_help())]
    ca: Option<std::path::PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Call METHOD with the ARGs and print its result as JSON.
    Call {
        /// The server's URL; its scheme picks the protocol. Several, comma-separated, of one protocol
        /// (`msgpack://h:7001,msgpack://h:7002`): the call goes to one that is up, and to another if it could not
        /// be sent (or, for an idempotent method, if it failed without an answer).
        url: String,
        /// The method's name.
        method: String,
        /// One JSON value per param, in order (after `--` if one starts with `-` and is not a plain number).
        #[arg(allow_negative_numbers = true)]
        args: Vec<String>,
        /// The method may safely run twice: with several URLs, a call that failed without an answer is sent
        /// again to another (without this, only where the server's introspection says so).
        #[arg(long)]
        idempotent: bool,
    },
    /// Send METHOD with the ARGs without waiting for a result (on XML-RPC, which has no notifications: a call
    /// whose result is dropped).
    Notify {
        /// The server's URL; its scheme picks the protocol.
        url: String,
        /// The method's name.
        method: String,
        /// One JSON value per param, in order (after `--` if one starts with `-` and is not a plain number).
        #[arg(allow_negative_numbers = true)]
        args: Vec<String>,
    },
    /// Subscribe to a stream method and print each item as one JSON line, until the stream ends (exit 0; a
    /// stream that fails: its fault, exit 1) or Ctrl-C (which unsubscribes first, then exits 0). Needs a
    /// duplex scheme (TCP, Unix socket, WebSocket).
    ///
    /// METHOD names the stream by the convention jsonrpsee and `#[service]` follow, `<name>` or
    /// `subscribe_<name>`: it is subscribed to as `subscribe_<name>` (zerorpc: called as `<name>`), its items
    /// come as `<name>` notifications and `unsubscribe_<name>` ends it (`math.count`: `math.subscribe_count`,
    /// `math.count`, `math.unsubscribe_count`). With --notification or --unsubscribe, METHOD is the subscribe
    /// method itself (Ethereum's `eth_subscribe`, with `eth_subscription` and `eth_unsubscribe`).
    Subscribe {
        /// The server's URL; its scheme picks the protocol.
        url: String,
        /// The stream: `<name>` or `subscribe_<name>` (or, with --notification, the method that subscribes).
        method: String,
        /// One JSON value per param, in order (after `--` if one starts with `-` and is not a plain number).
        #[arg(allow_negative_numbers = true)]
        args: Vec<String>,
        /// The name of the notifications the items come in (default: `<name>`).
        #[arg(long, value_name = "NAME")]
        notification: Option<String>,
        /// The method that ends the subscription (default: `unsubscribe_` and the notification's name).
        #[arg(long, value_name = "NAME")]
        unsubscribe: Option<String>,
    },
    /// List the server's methods (XML-RPC `system.listMethods`, JSON-RPC `rpc.discover`, Neovim's API info).
    List {
        /// The server's URL; its scheme picks the protocol.
        url: String,
    },
    /// Show a method's signature and documentation, where the server offers them (alone: this usage).
    ///
    /// `rpc help URL METHOD` asks the server; `rpc help` alone shows rpc's usage, and `rpc help COMMAND` that
    /// command's.
    Help {
        /// The server's URL; its scheme picks the protocol.
        url: Option<String>,
        /// The method's name.
        method: Option<String>,
    },
    /// Call METHOD with the ARGs over and over from many connections and report calls/s, latency
    /// percentiles and errors.
    Bench(bench::BenchArgs),
}

/// Why a command failed: the server's fault (exit 1) or anything else (exit 2).
#[derive(Debug)]
pub enum Failure {
    /// The server answered a fault; the hint, if any, says what it means here.
    Fault(Fault, Option<String>),
    /// Anything else, as a message that says what to do.
    Other(String),
}

impl Failure {
    /// The server's fault.
    pub fn fault(fault: Fault) -> Failure {
        Failure::Fault(fault, None)
    }

    /// A failure on this side or on the way.
    pub fn other(message: impl Into<String>) -> Failure {
        Failure::Other(message.into())
    }

    /// A mistake in the command line (the same exit code as [`Failure::other`]).
    pub fn usage(message: impl Into<String>) -> Failure {
        Failure::Other(message.into())
    }

    fn exit_code(&self) -> u8 {
        match self {
            Failure::Fault(..) => 1,
            Failure::Other(_) => 2,
        }
    }
}

/// A failure is the error a connector gives when it knows what to do (see `conn::said`).
impl std::error::Error for Failure {}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Fault(fault, hint) => {
                write!(f, "fault {}: {}", fault.code, fault.message)?;
                if let Some(data) = &fault.data {
                    write!(f, " (data: {})", show(data, false))?;
                }
                match hint {
                    Some(hint) => write!(f, " ({hint})"),
                    None => Ok(()),
                }
            }
            Failure::Other(message) => write!(f, "error: {message}"),
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("{failure}");
            ExitCode::from(failure.exit_code())
        }
    }
}

/// A connection to the URLs (one, or several balanced: see [`Conn::open_list`]), whose calls of `method` are
/// sent again where safe: always when they were never sent, and when they failed without an answer if the method
/// is idempotent (`idempotent`, or the server's introspection says so).
pub(crate) async fn open_balanced(
    targets: &[(String, Target)],
    opts: Options,
    per_endpoint: usize,
    method: &str,
    idempotent: bool,
) -> Result<Conn, Failure> {
    let mut conn = Conn::open_list(targets, opts, per_endpoint).await?;
    if let [(_, first), _, ..] = targets {
        conn.set_idempotent(idempotent || introspect::idempotent(&conn, first, method).await);
    }
    Ok(conn)
}

async fn run(cli: Cli) -> Result<(), Failure> {
    let opts = Options { timeout: cli.timeout, verbose: cli.verbose };
    if let Some(ca) = &cli.ca {
        conn::trust_ca(ca)?;
    }
    match cli.command {
        Command::Call { url, method, args, idempotent } => {
            let (targets, params) = (Target::parse_list(&url)?, parse_args(&args)?);
            let conn = open_balanced(&targets, opts, 1, &method, idempotent).await?;
            let result = conn.call(&method, params).await?;
            print_value(&result)
        }
        Command::Notify { url, method, args } => {
            let (target, params) = (Target::parse(&url)?, parse_args(&args)?);
            let conn = Conn::open(&target, opts).await?;
            conn.notify(&method, params).await
        }
        Command::Subscribe { url, method, args, notification, unsubscribe } => {
            let (target, params) = (Target::parse(&url)?, parse_args(&args)?);
            let (subscribe, notification, unsubscribe) = stream_names(&method, notification, unsubscribe)?;
            let conn = Conn::open(&target, opts).await?;
            let names = rpc_core::stream::StreamNames {
                subscribe: &subscribe,
                notification: &notification,
                unsubscribe: &unsubscribe,
            };
            print_items(conn.subscribe(names, &params).await?).await
        }
        Command::List { url } => {
            let target = Target::parse(&url)?;
            let conn = Conn::open(&target, opts).await?;
            let names = introspect::list(&conn, &target).await?;
            print_lines(&names.join("\n"))
        }
        Command::Help { url: None, .. } => print_usage(&[]),
        Command::Help { url: Some(command), method: None } if is_command(&command) => print_usage(&[&command]),
        Command::Help { url: Some(url), method: None } => Err(Failure::usage(format!(
            "name the method: rpc help {url} METHOD (rpc list {url} lists them; rpc help alone shows the usage)"
        ))),
        Command::Help { url: Some(url), method: Some(method) } => {
            let target = Target::parse(&url)?;
            let conn = Conn::open(&target, opts).await?;
            let text = introspect::help(&conn, &target, &method).await?;
            print_lines(&text)
        }
        Command::Bench(args) => bench::run(args, opts).await,
    }
}

/// The subscribe, notification and unsubscribe names of the stream `method` names: by the `subscribe_<name>`
/// convention (within the last dot-separated part: `math.count`), or `method` itself subscribing when a name
/// is given.
fn stream_names(
    method: &str,
    notification: Option<String>,
    unsubscribe: Option<String>,
) -> Result<(String, String, String), Failure> {
    let (prefix, last) = method.rsplit_once('.').map_or(("", method), |(p, l)| (&method[..=p.len()], l));
    let base = last.strip_prefix("subscribe_").unwrap_or(last);
    if base.is_empty() {
        return Err(Failure::usage(format!("{method:?} names no stream: write <name> or subscribe_<name>")));
    }
    if notification.is_none() && unsubscribe.is_none() {
        let subscribe = format!("{prefix}subscribe_{base}");
        return Ok((subscribe, format!("{prefix}{base}"), format!("{prefix}unsubscribe_{base}")));
    }
    let notification = notification.unwrap_or_else(|| format!("{prefix}{base}"));
    let unsubscribe = unsubscribe.unwrap_or_else(|| format!("{prefix}unsubscribe_{base}"));
    Ok((method.to_owned(), notification, unsubscribe))
}

/// Prints each item of `subscription` as one JSON line until it ends, or until Ctrl-C (then unsubscribes).
async fn print_items(mut subscription: rpc_core::Subscription<Value>) -> Result<(), Failure> {
    use futures_util::StreamExt;
    let interrupted = tokio::signal::ctrl_c();
    tokio::pin!(interrupted);
    loop {
        let item = tokio::select! {
            item = subscription.next() => item,
            _ = &mut interrupted => {
                // Told to stop: end the subscription on the server, then exit as a finished stream does.
                return subscription.unsubscribe().await.map_err(|e| conn::failure(e, Duration::from_secs(5)));
            }
        };
        match item {
            None => return Ok(()),
            Some(Ok(value)) => print_lines(&show(&value, false))?,
            Some(Err(e)) => return Err(conn::failure(e, Duration::ZERO)),
        }
    }
}

/// What `rpc --help` shows after the options: the URL schemes, from the table, and the rules of the arguments.
fn after_help() -> String {
    format!(
        "URL schemes (the scheme picks the protocol):\n{}\n\
         Arguments are JSON: 7, -5, '\"text\"', '[1, 2]', '{{\"$base64\": \"AP8=\"}}'.\n\
         Options go before or after the arguments; after `--` everything is an argument\n\
         (rpc call URL echo -- -1e-3).\n\
         Exit codes: 0 success, 1 the server answered a fault, 2 anything else.",
        scheme::help_lines()
    )
}

/// `--ca`'s help, naming the TLS schemes of the table.
fn ca_help() -> String {
    format!(
        "Trust the CA certificates in this PEM file, instead of the system's, for {} (e.g. a private CA's)",
        scheme::tls_schemes()
    )
}

/// True if `name` is one of `rpc`'s commands (`rpc help call` shows `call`'s usage).
fn is_command(name: &str) -> bool {
    use clap::CommandFactory;
    Cli::command().get_subcommands().any(|c| c.get_name() == name)
}

/// Prints the usage of `rpc` (no `command`) or of one of its commands on stdout, as `--help` does.
fn print_usage(command: &[&str]) -> Result<(), Failure> {
    let argv = ["rpc"].iter().chain(command).chain(&["--help"]);
    match Cli::try_parse_from(argv) {
        // A closed pipe (`rpc help | head -3`) is not worth a message, as in `print_lines`.
        Err(usage) if usage.kind() == clap::error::ErrorKind::DisplayHelp => match usage.print() {
            Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
                Err(Failure::other(format!("writing the output: {e}")))
            }
            _ => Ok(()),
        },
        _ => Err(Failure::other("the usage could not be shown: run rpc --help")),
    }
}

/// Each argument as one JSON value, in the spelling of `rpc_json::codec`.
fn parse_args(args: &[String]) -> Result<Vec<Value>, Failure> {
    args.iter()
        .enumerate()
        .map(|(i, arg)| {
            rpc_json::codec::decode_value(arg.as_bytes(), rpc_json::codec::MAX_DEPTH).map_err(|e| {
                let n = i + 1;
                match e {
                    rpc_json::Error::Malformed(why) => Failure::usage(format!(
                        "argument {n} ({arg:?}) is not JSON ({why}); quote a string as JSON, e.g. '\"{}\"'",
                        arg.escape_default()
                    )),
                    other => Failure::usage(format!("argument {n} ({arg:?}): {other}")),
                }
            })
        })
        .collect()
}

/// A value as JSON text: indented for a terminal, compact for a pipe.
pub fn show(value: &Value, pretty: bool) -> String {
    let text = if pretty { rpc_json::codec::encode_value_pretty(value) } else { rpc_json::codec::encode_value(value) };
    text.unwrap_or_else(|e| format!("{value:?} ({e})"))
}

fn print_value(value: &Value) -> Result<(), Failure> {
    let pretty = std::io::stdout().is_terminal();
    print_lines(&show(value, pretty))
}

fn print_lines(text: &str) -> Result<(), Failure> {
    let mut out = std::io::stdout().lock();
    let written = if text.is_empty() { Ok(()) } else { writeln!(out, "{text}") };
    // A closed pipe (`rpc list ... | head -1`) is not worth a message.
    match written.and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(Failure::other(format!("writing the output: {e}"))),
        _ => Ok(()),
    }
}

/// `500ms`, `2s`, `1.5` (seconds), `1m`.
fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, scale) = if let Some(n) = text.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = text.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = text.strip_suffix('m') {
        (n, 60.0)
    } else {
        (text, 1.0)
    };
    number
        .trim()
        .parse::<f64>()
        .ok()
        .and_then(|n| Duration::try_from_secs_f64(n * scale).ok())
        .filter(|d| !d.is_zero())
        .ok_or_else(|| format!("{text:?} is not a duration: write e.g. 500ms, 2s, 1.5 or 1m"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("1.5"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("1m"), Ok(Duration::from_secs(60)));
        for bad in ["", "0", "-1s", "soon", "1h"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn arguments_are_json() {
        let args: Vec<String> = ["7", "\"x\"", r#"{"$base64":"AP8="}"#, "-5"].iter().map(|s| (*s).to_owned()).collect();
        let values = parse_args(&args).unwrap();
        assert_eq!(values, [Value::Int(7), Value::from("x"), Value::Bytes(vec![0, 255]), Value::Int(-5)]);
        let err = parse_args(&["hello".to_owned()]).unwrap_err().to_string();
        assert!(err.starts_with("error: argument 1 (\"hello\") is not JSON") && err.contains(r#"'"hello"'"#), "{err}");
        let err = parse_args(&["1".to_owned(), r#"{"$datetime": "x"}"#.to_owned()]).unwrap_err().to_string();
        assert!(err.contains("argument 2") && err.contains("$datetime"), "{err}");
    }
}

//! The duplex encodings (MessagePack-RPC, JSON-RPC over TCP and Unix sockets), as `rpc` speaks them: through
//! the engine's client (`rpc_engine::Client`), one connector for every protocol and socket.
//!
//! The engine's client does not hand out the bytes it writes, so `--verbose` shows each message as JSON, in the
//! encoding's envelope, with `msgid` for the id the client picked ([`Shown`]).

use std::fmt::Display;
use std::path::PathBuf;
use std::time::Duration;

use rpc_core::{BoxFuture, Fault, Transport, Value};
use rpc_engine::{Client, ClientBuilder, Protocol};
use rpc_json::duplex::JsonRpc;
use rpc_msgpack::MessagePack;

use crate::conn::{CERTIFICATE_HINT, MAX_DEPTH, Options, TRUSTED_CA, verbose};
use crate::scheme::Connecting;
use crate::{Failure, show};

/// How `--verbose` shows a duplex encoding's messages.
pub trait Shown {
    /// A call of `method` with `params`.
    fn request(method: &str, params: &[Value]) -> String;
    /// A notification of `method` with `params`.
    fn notification(method: &str, params: &[Value]) -> String;
    /// The answer to a call: its result or the fault.
    fn answer(result: Result<&Value, &Fault>) -> String;
}

impl Shown for MessagePack {
    fn request(method: &str, params: &[Value]) -> String {
        format!("[0, msgid, {}, {}]", quoted(method), list(params))
    }

    fn notification(method: &str, params: &[Value]) -> String {
        format!("[2, {}, {}]", quoted(method), list(params))
    }

    fn answer(result: Result<&Value, &Fault>) -> String {
        match result {
            Ok(value) => format!("[1, msgid, null, {}]", show(value, false)),
            Err(fault) => format!("[1, msgid, [{}, {}], null]", fault.code, quoted(&fault.message)),
        }
    }
}

impl Shown for JsonRpc {
    fn request(method: &str, params: &[Value]) -> String {
        format!(r#"{{"jsonrpc":"2.0","method":{},"params":{},"id":msgid}}"#, quoted(method), list(params))
    }

    fn notification(method: &str, params: &[Value]) -> String {
        format!(r#"{{"jsonrpc":"2.0","method":{},"params":{}}}"#, quoted(method), list(params))
    }

    fn answer(result: Result<&Value, &Fault>) -> String {
        match result {
            Ok(value) => format!(r#"{{"jsonrpc":"2.0","result":{},"id":msgid}}"#, show(value, false)),
            Err(fault) => format!(
                r#"{{"jsonrpc":"2.0","error":{{"code":{},"message":{}}},"id":msgid}}"#,
                fault.code,
                quoted(&fault.message)
            ),
        }
    }
}

fn quoted(s: &str) -> String {
    show(&Value::from(s), false)
}

fn list(values: &[Value]) -> String {
    show(&Value::Array(values.to_vec()), false)
}

/// The connector of protocol `P` over TCP to `HOST:PORT`.
pub fn tcp<P: Duplex>(addr: String, opts: Options) -> Connecting {
    Box::pin(async move { open(builder::<P>(opts).connect(addr.as_str()).await, &addr, opts) })
}

/// The connector of protocol `P` over TLS to `HOST:PORT` (HOST is the name the certificate must show), trusting
/// `--ca`'s CA if given.
pub fn tls<P: Duplex>(addr: String, opts: Options) -> Connecting {
    Box::pin(async move {
        let builder = match TRUSTED_CA.get() {
            Some(tls) => builder::<P>(opts).tls_config(tls.clone()),
            None => builder::<P>(opts),
        };
        open(builder.connect_tls(&addr).await, &addr, opts)
    })
}

/// The connector of protocol `P` over WebSocket to a `ws://` or `wss://` URL (trusting `--ca`'s CA if given).
pub fn ws<P: Duplex>(url: String, opts: Options) -> Connecting {
    Box::pin(async move {
        let builder = match TRUSTED_CA.get() {
            Some(tls) => builder::<P>(opts).tls_config(tls.clone()),
            None => builder::<P>(opts),
        };
        open(builder.connect_ws(&url).await, &url, opts)
    })
}

/// The connector of protocol `P` over a Unix socket.
pub fn unix<P: Duplex>(path: PathBuf, opts: Options) -> Connecting {
    Box::pin(async move { open(builder::<P>(opts).connect_unix(&path).await, &path.display(), opts) })
}

/// What a duplex protocol needs to be spoken by `rpc`.
pub trait Duplex: Protocol + Clone + Default + Shown {}

impl<P: Protocol + Clone + Default + Shown> Duplex for P {}

fn builder<P: Duplex>(opts: Options) -> ClientBuilder<P> {
    Client::<P>::builder().timeout(Some(opts.timeout)).max_depth(MAX_DEPTH)
}

/// The connection, or what to do when there is none.
fn open<P: Duplex>(
    connected: Result<Client<P>, rpc_engine::Error>,
    at: &dyn Display,
    opts: Options,
) -> Result<Box<dyn Transport>, Failure> {
    match connected {
        Ok(client) => Ok(Box::new(Connection { client, verbose: opts.verbose, timeout: opts.timeout })),
        Err(e) => {
            let hint = if e.to_string().contains("certificate") {
                CERTIFICATE_HINT.to_owned()
            } else {
                format!("is a {} server listening there?", P::default().name())
            };
            Err(Failure::other(format!("cannot connect to {at}: {e}; {hint}")))
        }
    }
}

/// A duplex connection, showing its messages with `--verbose`.
struct Connection<P> {
    client: Client<P>,
    verbose: bool,
    timeout: Duration,
}

impl<P: Duplex> Transport for Connection<P> {
    rpc_core::call_typed_through_values!();

    fn call<'a>(&'a self, method: &'a str, params: Vec<Value>) -> BoxFuture<'a, Result<Value, rpc_core::Error>> {
        Box::pin(async move {
            if self.verbose {
                verbose(&format!("> {}", P::request(method, &params)));
            }
            let result = self.client.call(method, params).await;
            if self.verbose {
                match &result {
                    Ok(value) => verbose(&format!("< {}", P::answer(Ok(value)))),
                    Err(rpc_core::Error::Fault(fault)) => verbose(&format!("< {}", P::answer(Err(fault)))),
                    Err(_) => {}
                }
            }
            result
        })
    }

    fn subscribe<'a>(
        &'a self,
        names: rpc_core::stream::StreamNames<'a>,
        params: &[rpc_core::encoding::Param<'_>],
    ) -> BoxFuture<'a, Result<Box<dyn rpc_core::stream::SubscriptionSource>, rpc_core::Error>> {
        if self.verbose {
            let values = rpc_core::encoding::params_to_values(params).unwrap_or_default();
            verbose(&format!("> {}", P::request(names.subscribe, &values)));
        }
        self.client.subscribe(names, params)
    }

    /// Returns once the notification is written out: `rpc` sends one and exits, so the connection is closed
    /// after it.
    fn notify<'a>(&'a self, method: &'a str, params: Vec<Value>) -> BoxFuture<'a, Result<(), rpc_core::Error>> {
        Box::pin(async move {
            if self.verbose {
                verbose(&format!("> {}", P::notification(method, &params)));
            }
            self.client.notify(method, params).await?;
            tokio::time::timeout(self.timeout, self.client.shutdown())
                .await
                .map_err(|_| rpc_core::Error::Timeout(self.timeout))
        })
    }
}

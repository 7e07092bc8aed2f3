//! [`Conn`]: one connection to a server, opened by its URL scheme's connector, making calls and notifications;
//! and what every connector shares: the command's [`Options`], the CA `--ca` trusts, and the messages that say
//! what to do when something goes wrong.
//!
//! A connector gives an `rpc_core::Transport`. Where it knows better than `rpc_core::Error` what went wrong (an
//! HTTP status, an argument XML-RPC cannot carry), it says so with a [`Failure`] carried as
//! [`rpc_core::Error::Transport`] ([`said`]), which [`Conn`] hands on as it is.

use std::io::Write;
use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use rpc_core::{Fault, Transport, Value};
use rpc_msgpack::rustls;

use crate::Failure;
use crate::scheme::Target;

/// How deeply values may nest in an answer (the most the JSON codec allows).
pub const MAX_DEPTH: usize = rpc_json::codec::MAX_DEPTH;

/// The `User-Agent` of HTTP requests.
pub const USER_AGENT: &str = concat!("rpc-cli/", env!("CARGO_PKG_VERSION"));

/// Settings every command shares.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// How long connecting and one exchange may take.
    pub timeout: Duration,
    /// Show requests and responses on stderr.
    pub verbose: bool,
}

/// The TLS configuration `--ca FILE` asks for (see [`trust_ca`]), used for every TLS connection instead of the
/// system's root certificates.
pub static TRUSTED_CA: OnceLock<Arc<rustls::ClientConfig>> = OnceLock::new();

/// What to do about a certificate the client does not trust.
pub const CERTIFICATE_HINT: &str =
    "if the server's certificate comes from a private CA, trust that CA with --ca FILE (PEM)";

/// Trusts the CA certificates in the PEM file at `path`, and only those, for every TLS connection this process
/// makes (like curl's `--cacert`).
pub fn trust_ca(path: &Path) -> Result<(), Failure> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let unreadable = |e: &dyn std::fmt::Display| Failure::usage(format!("cannot read --ca {}: {e}", path.display()));
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(path).map_err(|e| unreadable(&e))? {
        roots.add(cert.map_err(|e| unreadable(&e))?).map_err(|e| unreadable(&e))?;
    }
    if roots.is_empty() {
        return Err(unreadable(&"it holds no PEM certificate (-----BEGIN CERTIFICATE-----)"));
    }
    let config = rustls::ClientConfig::builder().with_root_certificates(roots).with_no_client_auth();
    // Set once, from `main`; a second call keeps the first configuration.
    let _ = TRUSTED_CA.set(Arc::new(config));
    Ok(())
}

/// A connection to one server, or to several of one protocol (balanced, see [`Conn::open_list`]).
pub struct Conn {
    transport: Box<dyn Transport>,
    timeout: Duration,
    /// Over several endpoints: the balanced client (`transport` is it too).
    balanced: Option<rpc_balance::Balanced>,
    /// Whether calls may be sent again when they failed without an answer (a method that may run twice).
    idempotent: bool,
}

impl Conn {
    /// Connects with the scheme's connector (for HTTP, only checks the URL: connections are made per request).
    pub async fn open(target: &Target, opts: Options) -> Result<Conn, Failure> {
        match tokio::time::timeout(opts.timeout, target.connect(opts)).await {
            Ok(transport) => {
                Ok(Conn { transport: transport?, timeout: opts.timeout, balanced: None, idempotent: false })
            }
            Err(_) => Err(timed_out(opts.timeout)),
        }
    }

    /// Connects to each of `targets` (URLs as written, and what they parse to): one is [`Conn::open`]; several
    /// are one balanced client (`rpc_balance`), `per_endpoint` connections to each, calls spread over those up,
    /// an endpoint that fails taken out and probed again, and a call that was never sent sent to another.
    pub async fn open_list(targets: &[(String, Target)], opts: Options, per_endpoint: usize) -> Result<Conn, Failure> {
        if let [(_, one)] = targets {
            return Conn::open(one, opts).await;
        }
        let table: Arc<std::collections::HashMap<String, Target>> = Arc::new(targets.iter().cloned().collect());
        let connect = move |endpoint: &rpc_balance::Endpoint| {
            let target = table.get(endpoint.name()).cloned();
            async move {
                let target = target.ok_or_else(|| rpc_core::Error::connect("an endpoint not listed"))?;
                if let Some(addr) = target.probe_addr() {
                    match tokio::time::timeout(opts.timeout, tokio::net::TcpStream::connect(&addr)).await {
                        Ok(Ok(_)) => {}
                        Ok(Err(e)) => return Err(rpc_core::Error::connect(format!("{addr}: {e}"))),
                        Err(_) => {
                            return Err(rpc_core::Error::connect(format!(
                                "{addr}: no connection within {:?}",
                                opts.timeout
                            )));
                        }
                    }
                }
                Ok(Conn::open(&target, opts).await.map_err(rpc_core::Error::connect)?.transport)
            }
        };
        let balanced = rpc_balance::Balanced::builder(connect)
            .connections_per_endpoint(per_endpoint)
            .ready_timeout(opts.timeout)
            .endpoints(targets.iter().map(|(url, _)| url))
            .map_err(|e| Failure::usage(e.to_string()))?;
        let transport = Box::new(balanced.clone());
        Ok(Conn { transport, timeout: opts.timeout, balanced: Some(balanced), idempotent: false })
    }

    /// Marks the calls made through this connection as calls of a method that may safely run twice: over
    /// several endpoints, one that failed without an answer is sent again to another.
    pub fn set_idempotent(&mut self, idempotent: bool) {
        self.idempotent = idempotent;
    }

    /// Over several endpoints, what is known of each: calls, errors, whether it is up.
    pub fn endpoints(&self) -> Option<Vec<rpc_balance::EndpointStats>> {
        self.balanced.as_ref().map(rpc_balance::Balanced::endpoints)
    }

    /// Calls `method`; the server's fault is [`Failure::Fault`].
    pub async fn call(&self, method: &str, params: Vec<Value>) -> Result<Value, Failure> {
        let answer = match &self.balanced {
            Some(balanced) => {
                let call = rpc_core::middleware::Call::new(method.to_owned(), params).idempotent(self.idempotent);
                balanced.send(call).await
            }
            None => self.transport.call(method, params).await,
        };
        answer.map_err(|e| from_core(e, self.timeout))
    }

    /// Subscribes to the stream method `names.subscribe` (duplex schemes only; on HTTP the transport says so).
    pub async fn subscribe(
        &self,
        names: rpc_core::stream::StreamNames<'_>,
        params: &[Value],
    ) -> Result<rpc_core::Subscription<Value>, Failure> {
        let params: Vec<rpc_core::encoding::Param<'_>> =
            params.iter().map(|p| p as rpc_core::encoding::Param<'_>).collect();
        match self.transport.subscribe(names, &params).await {
            Ok(source) => Ok(rpc_core::Subscription::new("subscription", source)),
            // The transport cannot push (HTTP): say which schemes can.
            Err(rpc_core::Error::Transport(e)) if e.to_string() == rpc_core::stream::needs_duplex(names.subscribe) => {
                Err(Failure::usage(format!(
                    "{e}; subscribe through a duplex scheme ({})",
                    crate::scheme::duplex_schemes()
                )))
            }
            Err(e) => Err(from_core(e, self.timeout)),
        }
    }

    /// Sends `method` as a notification, and returns once it is sent (XML-RPC has none: there it is a call whose
    /// result is dropped).
    pub async fn notify(&self, method: &str, params: Vec<Value>) -> Result<(), Failure> {
        self.transport.notify(method, params).await.map_err(|e| from_core(e, self.timeout))
    }
}

/// `failure` as the error of a [`Transport`], for [`Conn`] to hand on as it is.
pub fn said(failure: Failure) -> rpc_core::Error {
    rpc_core::Error::transport(failure)
}

/// A client failure, with what to do about it (`timeout` is the one an exchange had, for the message).
pub fn failure(e: rpc_core::Error, timeout: Duration) -> Failure {
    from_core(e, timeout)
}

/// A client failure, with what to do about it.
fn from_core(e: rpc_core::Error, timeout: Duration) -> Failure {
    match e {
        rpc_core::Error::Fault(f) => Failure::fault(f),
        rpc_core::Error::Timeout(_) => timed_out(timeout),
        rpc_core::Error::Decode(m) => unreadable(m),
        rpc_core::Error::Encode(m) => Failure::usage(format!("cannot send the arguments: {m}")),
        rpc_core::Error::Connect(e) => match e.downcast::<Failure>() {
            Ok(failure) => *failure,
            Err(other) => {
                Failure::other(format!("cannot connect: {other}; is the server running and listening there?"))
            }
        },
        rpc_core::Error::Transport(e) => match e.downcast::<Failure>() {
            Ok(failure) => *failure,
            Err(other) => Failure::other(format!("transport error: {other}; is the server still running?")),
        },
        other => Failure::other(format!("{other}; is the server still running?")),
    }
}

/// Writes one line of `--verbose` output on stderr.
pub fn verbose(text: &str) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{text}");
}

/// No answer in time.
pub fn timed_out(t: Duration) -> Failure {
    Failure::other(format!("no answer within {t:?}: the server may be slow or stuck; raise --timeout to wait longer"))
}

/// An answer that is not the protocol's.
pub fn unreadable(e: impl std::fmt::Display) -> Failure {
    Failure::other(format!("the server's answer could not be read: {e}; is the URL's protocol the server's?"))
}

/// A fault from an introspection method the user did not name, with what it means.
pub fn no_introspection(target: &Target, method: &str, fault: Fault) -> Failure {
    Failure::Fault(
        fault,
        Some(format!(
            "{target} does not seem to offer introspection ({method}); call its methods by name with `rpc call`"
        )),
    )
}

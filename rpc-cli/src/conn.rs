//! [`Conn`]: one connection to a server in its protocol, making calls and notifications, and showing them on
//! stderr with `--verbose`.
//!
//! The HTTP protocols encode and decode with their crates' public codecs over `rpc_http::Client`, so the exact
//! bytes can be shown; MessagePack-RPC goes through `rpc_msgpack::Client` and is shown decoded, as JSON.

use std::io::Write;
use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use rpc_core::{Fault, Value};
use rpc_json::codec::{self as json, Id, Params};
use rpc_msgpack::rustls;

use crate::target::Target;
use crate::{Failure, show};

/// How deeply values may nest in an answer (the most the JSON codec allows).
const MAX_DEPTH: usize = json::MAX_DEPTH;

const USER_AGENT: &str = concat!("rpc-cli/", env!("CARGO_PKG_VERSION"));

/// Settings every command shares.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// How long connecting and one exchange may take.
    pub timeout: Duration,
    /// Show requests and responses on stderr.
    pub verbose: bool,
}

/// The TLS configuration `--ca FILE` asks for (see [`trust_ca`]), used for every `https://`, `jsonrpc+https://`
/// and `msgpack+tls://` connection instead of the system's root certificates.
static TRUSTED_CA: OnceLock<Arc<rustls::ClientConfig>> = OnceLock::new();

/// What to do about a certificate the client does not trust.
const CERTIFICATE_HINT: &str =
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

/// A connection to one server.
pub enum Conn {
    /// XML-RPC or JSON-RPC over HTTP.
    Http { http: Box<rpc_http::Client>, json: bool },
    /// MessagePack-RPC over TCP (plain or TLS) or a Unix socket.
    Msgpack(rpc_msgpack::Client),
}

impl Conn {
    /// Connects (for HTTP, only checks the URL: connections are made per request).
    pub async fn open(target: &Target, opts: Options) -> Result<Conn, Failure> {
        let http = |url: &str, content_type: &'static str| {
            let builder = rpc_http::ClientBuilder::default().timeout(Some(opts.timeout));
            let builder = match TRUSTED_CA.get() {
                Some(tls) => builder.tls_config(tls.clone()),
                None => builder,
            };
            builder
                .build(url, content_type, USER_AGENT)
                .map_err(|e| Failure::usage(format!("{e}; {}", crate::target::SCHEMES)))
        };
        match target {
            Target::Xml(url) => Ok(Conn::Http { http: Box::new(http(url, "text/xml")?), json: false }),
            Target::Json(url) => Ok(Conn::Http { http: Box::new(http(url, "application/json")?), json: true }),
            Target::Msgpack(_) | Target::MsgpackTls(_) | Target::MsgpackUnix(_) => {
                let builder = rpc_msgpack::Client::builder().timeout(Some(opts.timeout)).max_depth(MAX_DEPTH);
                let connect = async {
                    match target {
                        Target::MsgpackUnix(path) => builder.connect_unix(path).await,
                        Target::MsgpackTls(addr) => match TRUSTED_CA.get() {
                            Some(tls) => builder.tls_config(tls.clone()).connect_tls(addr).await,
                            None => builder.connect_tls(addr).await,
                        },
                        _ => builder.connect(target.to_string()).await,
                    }
                };
                match tokio::time::timeout(opts.timeout, connect).await {
                    Ok(Ok(client)) => Ok(Conn::Msgpack(client)),
                    Ok(Err(e)) => {
                        let hint = if e.to_string().contains("certificate") {
                            CERTIFICATE_HINT
                        } else {
                            "is a MessagePack-RPC server listening there?"
                        };
                        Err(Failure::other(format!("cannot connect to {target}: {e}; {hint}")))
                    }
                    Err(_) => Err(timed_out(opts.timeout)),
                }
            }
        }
    }

    /// Calls `method`; the server's fault is [`Failure::Fault`].
    pub async fn call(&self, method: &str, params: Vec<Value>, opts: Options) -> Result<Value, Failure> {
        match self {
            Conn::Http { http, json: false } => {
                let body = rpc_xml::codec::encode_call(method, &params).map_err(|e| {
                    Failure::usage(format!(
                        "{e}; XML-RPC cannot carry this argument (JSON-RPC and MessagePack-RPC can)"
                    ))
                })?;
                let answer = post(http, body, opts).await?;
                let result = rpc_xml::codec::decode_response(&answer, MAX_DEPTH).map_err(unreadable)?;
                result.map_err(Failure::fault)
            }
            Conn::Http { http, json: true } => {
                let id = Id::number(1);
                let body = json::encode_request(Some(&id), method, &Params::Positional(params))
                    .map_err(|e| Failure::usage(e.to_string()))?;
                let answer = post(http, body, opts).await?;
                let response = json::decode_response(&answer, MAX_DEPTH).map_err(unreadable)?;
                if !(response.answers(&id) || response.id.is_null()) {
                    return Err(unreadable(format!("the response's id {} is not the request's id {id}", response.id)));
                }
                response.result.map_err(Failure::fault)
            }
            Conn::Msgpack(client) => {
                if opts.verbose {
                    verbose(&format!("> [0, msgid, {}, {}]", quoted(method), show_one(&Value::Array(params.clone()))));
                }
                let result = client.call(method, params).await;
                if opts.verbose {
                    match &result {
                        Ok(v) => verbose(&format!("< [1, msgid, null, {}]", show_one(v))),
                        Err(rpc_core::Error::Fault(f)) => {
                            verbose(&format!("< [1, msgid, [{}, {}], null]", f.code, quoted(&f.message)));
                        }
                        Err(_) => {}
                    }
                }
                result.map_err(|e| from_core(e, opts.timeout))
            }
        }
    }

    /// Sends `method` as a notification (XML-RPC has none: there it is a call whose result is dropped).
    pub async fn notify(&self, method: &str, params: Vec<Value>, opts: Options) -> Result<(), Failure> {
        match self {
            Conn::Http { json: false, .. } => self.call(method, params, opts).await.map(drop),
            Conn::Http { http, json: true } => {
                let body = json::encode_request(None, method, &Params::Positional(params))
                    .map_err(|e| Failure::usage(e.to_string()))?;
                show_request(http, &body, opts);
                let answer = http.post_or_no_content(body).await.map_err(|e| from_http(e, http.uri()))?;
                match answer {
                    None => {
                        if opts.verbose {
                            verbose("< HTTP 204 No Content");
                        }
                        Ok(())
                    }
                    Some(bytes) => {
                        show_response(&bytes, opts);
                        // A server that refuses the notification may say why.
                        match json::decode_response(&bytes, MAX_DEPTH) {
                            Ok(json::Response { result: Err(fault), .. }) => Err(Failure::fault(fault)),
                            _ => Ok(()),
                        }
                    }
                }
            }
            Conn::Msgpack(client) => {
                if opts.verbose {
                    verbose(&format!("> [2, {}, {}]", quoted(method), show_one(&Value::Array(params.clone()))));
                }
                client.notify(method, params).await.map_err(|e| from_core(e, opts.timeout))?;
                // The notification is queued: write it out before the process exits.
                tokio::time::timeout(opts.timeout, client.shutdown()).await.map_err(|_| timed_out(opts.timeout))
            }
        }
    }
}

async fn post(http: &rpc_http::Client, body: Vec<u8>, opts: Options) -> Result<bytes::Bytes, Failure> {
    show_request(http, &body, opts);
    let answer = http.post(body).await.map_err(|e| from_http(e, http.uri()))?;
    show_response(&answer, opts);
    Ok(answer)
}

fn show_request(http: &rpc_http::Client, body: &[u8], opts: Options) {
    if opts.verbose {
        verbose(&format!("> POST {}\n{}", http.uri(), String::from_utf8_lossy(body).trim_end()));
    }
}

fn show_response(body: &[u8], opts: Options) {
    if opts.verbose {
        verbose(&format!("< HTTP 200\n{}", String::from_utf8_lossy(body).trim_end()));
    }
}

fn verbose(text: &str) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{text}");
}

fn show_one(v: &Value) -> String {
    show(v, false)
}

fn quoted(s: &str) -> String {
    show(&Value::from(s), false)
}

fn timed_out(t: Duration) -> Failure {
    Failure::other(format!("no answer within {t:?}: the server may be slow or stuck; raise --timeout to wait longer"))
}

fn unreadable(e: impl std::fmt::Display) -> Failure {
    Failure::other(format!("the server's answer could not be read: {e}; is the URL's protocol the server's?"))
}

/// An HTTP failure, with what to do about it.
fn from_http(e: rpc_http::Error, uri: &http::Uri) -> Failure {
    match e {
        rpc_http::Error::Timeout(t) => timed_out(t),
        rpc_http::Error::Status { status, text, .. } => Failure::other(format!(
            "{uri} answered HTTP {status}{}{text}; check the URL (its path and protocol) and any credentials",
            if text.is_empty() { "" } else { ": " }
        )),
        rpc_http::Error::Url(m) => Failure::usage(format!("bad URL: {m}; {}", crate::target::SCHEMES)),
        other => {
            let msg = other.to_string();
            let hint = if msg.contains("certificate") {
                CERTIFICATE_HINT
            } else if msg.contains("refused") || msg.contains("connect") {
                "is the server running and listening there?"
            } else {
                "check the URL and that the server speaks this protocol"
            };
            Failure::other(format!("{msg}; {hint}"))
        }
    }
}

/// A MessagePack-RPC client failure, with what to do about it.
fn from_core(e: rpc_core::Error, timeout: Duration) -> Failure {
    match e {
        rpc_core::Error::Fault(f) => Failure::fault(f),
        rpc_core::Error::Timeout(_) => timed_out(timeout),
        rpc_core::Error::Decode(m) => unreadable(m),
        rpc_core::Error::Encode(m) => Failure::usage(format!("cannot send the arguments: {m}")),
        other => Failure::other(format!("{other}; is the server still running?")),
    }
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

//! XML-RPC and JSON-RPC over HTTP, as `rpc` speaks them: encoded and decoded with their crates' public codecs
//! over `rpc_http::Client`, so that `--verbose` shows the exact bytes.
//!
//! Both are [`Transport`]s; what goes wrong on the way is a [`Failure`] that says what to do, carried as
//! [`rpc_core::Error::Transport`] (see [`crate::conn`]).

use rpc_core::{BoxFuture, Transport, Value};
use rpc_json::codec::{self as json, Id, Params};

use crate::conn::{self, MAX_DEPTH, Options, TRUSTED_CA, USER_AGENT, timed_out, unreadable, verbose};
use crate::scheme::Connecting;
use crate::{Failure, scheme};

/// The connector of XML-RPC over HTTP(S) (it only checks the URL: connections are made per request).
pub fn xml(url: String, opts: Options) -> Connecting {
    let client = client(&url, "text/xml", opts).map(|http| Box::new(Xml(Http { http, opts })) as Box<dyn Transport>);
    Box::pin(std::future::ready(client))
}

/// The connector of JSON-RPC 2.0 over HTTP(S).
pub fn json(url: String, opts: Options) -> Connecting {
    let client =
        client(&url, "application/json", opts).map(|http| Box::new(Json(Http { http, opts })) as Box<dyn Transport>);
    Box::pin(std::future::ready(client))
}

/// The connector of XML-RPC over HTTP on a Unix socket (`http+unix:///PATH`: requests go to `/` on it).
pub fn xml_unix(path: std::path::PathBuf, opts: Options) -> Connecting {
    let client =
        unix_client(path, "text/xml", opts).map(|http| Box::new(Xml(Http { http, opts })) as Box<dyn Transport>);
    Box::pin(std::future::ready(client))
}

fn unix_client(
    path: std::path::PathBuf,
    content_type: &'static str,
    opts: Options,
) -> Result<rpc_http::Client, Failure> {
    rpc_http::ClientBuilder::default()
        .timeout(Some(opts.timeout))
        .unix_socket(path)
        .build("http://localhost/", content_type, USER_AGENT)
        .map_err(|e| Failure::usage(format!("{e}; {}", scheme::usage())))
}

fn client(url: &str, content_type: &'static str, opts: Options) -> Result<rpc_http::Client, Failure> {
    let builder = rpc_http::ClientBuilder::default().timeout(Some(opts.timeout));
    let builder = match TRUSTED_CA.get() {
        Some(tls) => builder.tls_config(tls.clone()),
        None => builder,
    };
    builder.build(url, content_type, USER_AGENT).map_err(|e| Failure::usage(format!("{e}; {}", scheme::usage())))
}

/// An HTTP client and the settings it shows exchanges with.
struct Http {
    http: rpc_http::Client,
    opts: Options,
}

/// XML-RPC over HTTP.
struct Xml(Http);

/// JSON-RPC 2.0 over HTTP.
struct Json(Http);

impl Transport for Xml {
    rpc_core::call_typed_through_values!();

    fn call<'a>(&'a self, method: &'a str, params: Vec<Value>) -> BoxFuture<'a, Result<Value, rpc_core::Error>> {
        Box::pin(async move {
            let body = rpc_xml::codec::encode_call(method, &params).map_err(|e| {
                conn::said(Failure::usage(format!(
                    "{e}; XML-RPC cannot carry this argument (JSON-RPC and MessagePack-RPC can)"
                )))
            })?;
            let answer = self.0.post(body).await?;
            let result = rpc_xml::codec::decode_response(&answer, MAX_DEPTH).map_err(|e| conn::said(unreadable(e)))?;
            Ok(result?)
        })
    }

    // XML-RPC has no notifications: `Transport`'s default makes a call and drops its result.
}

impl Transport for Json {
    rpc_core::call_typed_through_values!();

    fn call<'a>(&'a self, method: &'a str, params: Vec<Value>) -> BoxFuture<'a, Result<Value, rpc_core::Error>> {
        Box::pin(async move {
            let id = Id::number(1);
            let body = json::encode_request(Some(&id), method, &Params::Positional(params))
                .map_err(|e| conn::said(Failure::usage(e.to_string())))?;
            let answer = self.0.post(body).await?;
            let response = json::decode_response(&answer, MAX_DEPTH).map_err(|e| conn::said(unreadable(e)))?;
            if !(response.answers(&id) || response.id.is_null()) {
                return Err(conn::said(unreadable(format!(
                    "the response's id {} is not the request's id {id}",
                    response.id
                ))));
            }
            Ok(response.result?)
        })
    }

    fn notify<'a>(&'a self, method: &'a str, params: Vec<Value>) -> BoxFuture<'a, Result<(), rpc_core::Error>> {
        Box::pin(async move {
            let Http { http, opts } = &self.0;
            let body = json::encode_request(None, method, &Params::Positional(params))
                .map_err(|e| conn::said(Failure::usage(e.to_string())))?;
            show_request(http, &body, *opts);
            let answer = http.post_or_no_content(body).await.map_err(|e| core_error(e, http.uri()))?;
            match answer {
                None => {
                    if opts.verbose {
                        verbose("< HTTP 204 No Content");
                    }
                    Ok(())
                }
                Some(bytes) => {
                    show_response(&bytes, *opts);
                    // A server that refuses the notification may say why.
                    match json::decode_response(&bytes, MAX_DEPTH) {
                        Ok(json::Response { result: Err(fault), .. }) => Err(fault.into()),
                        _ => Ok(()),
                    }
                }
            }
        })
    }
}

impl Http {
    /// Posts `body` and returns the answer's body, showing both with `--verbose`.
    async fn post(&self, body: Vec<u8>) -> Result<bytes::Bytes, rpc_core::Error> {
        show_request(&self.http, &body, self.opts);
        let answer = self.http.post(body).await.map_err(|e| core_error(e, self.http.uri()))?;
        show_response(&answer, self.opts);
        Ok(answer)
    }
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

/// An HTTP failure as the error of a call: [`rpc_core::Error::Connect`] when the request was never sent (so a
/// balanced client may send it elsewhere), else a transport error, each carrying the [`Failure`] to show.
fn core_error(e: rpc_http::Error, uri: &http::Uri) -> rpc_core::Error {
    let not_sent = matches!(e, rpc_http::Error::Connect(_));
    let failure = from_http(e, uri);
    if not_sent { rpc_core::Error::Connect(Box::new(failure)) } else { conn::said(failure) }
}

/// An HTTP failure, with what to do about it.
fn from_http(e: rpc_http::Error, uri: &http::Uri) -> Failure {
    match e {
        rpc_http::Error::Timeout(t) => timed_out(t),
        rpc_http::Error::Status { status, text, .. } => Failure::other(format!(
            "{uri} answered HTTP {status}{}{text}; check the URL (its path and protocol) and any credentials",
            if text.is_empty() { "" } else { ": " }
        )),
        rpc_http::Error::Url(m) => Failure::usage(format!("bad URL: {m}; {}", scheme::usage())),
        other => {
            let msg = other.to_string();
            let hint = if msg.contains("certificate") {
                conn::CERTIFICATE_HINT
            } else if msg.contains("refused") || msg.contains("connect") {
                "is the server running and listening there?"
            } else {
                "check the URL and that the server speaks this protocol"
            };
            Failure::other(format!("{msg}; {hint}"))
        }
    }
}

//! The URL schemes `rpc` takes: one table ([`SCHEMES`]), one entry per scheme, saying what follows `://`, how to
//! connect, how `list` and `help` ask the server, and how `bench` loads it. Every command goes through the
//! table; a new transport is one entry (and its connector).
//!
//! A URL on the command line is read into a [`Target`]: its scheme's entry and its [`Address`].

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use rpc_core::{BoxFuture, Transport};
use rpc_engine::Protocol;
use rpc_json::duplex::JsonRpc;
use rpc_load::HttpEncoding;
use rpc_msgpack::MessagePack;

use crate::conn::Options;
use crate::{Failure, duplex, http, zerorpc};

/// What a connector gives: a connection to make calls on.
pub type Connecting = BoxFuture<'static, Result<Box<dyn Transport>, Failure>>;

/// One URL scheme: what it takes and how each command speaks it.
#[derive(Debug)]
pub struct Scheme {
    /// The scheme, lowercase, as written before `://`: `jsonrpc+tcp`.
    pub name: &'static str,
    /// The protocol spoken, for messages and `rpc bench`'s report: `JSON-RPC`.
    pub protocol: &'static str,
    /// What the protocol runs over, for the usage: `TCP, one message per line`.
    pub over: &'static str,
    /// What follows `://`, and the connector that takes it.
    pub takes: Takes,
    /// True when the connection is TLS (the CA of `--ca` is the one trusted).
    pub tls: bool,
    /// True when one connection carries many calls at once (`rpc bench --in-flight`).
    pub pipelines: bool,
    /// How `rpc list` and `rpc help` ask the server about its methods.
    pub introspection: Introspection,
    /// How `rpc bench`'s load generator reaches the server.
    pub load: Load,
}

/// What follows `scheme://`, and how to connect to it (see [`Connecting`]).
pub enum Takes {
    /// `HOST:PORT/PATH`: the rest of a URL, given to the connector as a URL of the scheme `speaks`
    /// (`jsonrpc+http://h:1/` is `http://h:1/`).
    Url {
        /// The scheme of the URL the connector gets.
        speaks: &'static str,
        /// Opens a connection to that URL.
        connect: fn(String, Options) -> Connecting,
    },
    /// `HOST:PORT`, and nothing else.
    HostPort(fn(String, Options) -> Connecting),
    /// `/PATH`, a Unix socket's (the URL is then `scheme:///PATH`).
    Path(fn(PathBuf, Options) -> Connecting),
}

impl fmt::Debug for Takes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.form())
    }
}

impl Takes {
    /// How the rest of the URL is written, in the usage and in messages.
    fn form(&self) -> &'static str {
        match self {
            Takes::Url { .. } => "HOST:PORT/PATH",
            Takes::HostPort(_) => "HOST:PORT",
            Takes::Path(_) => "/PATH",
        }
    }
}

/// How a server says what methods it has, by the protocol's convention.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Introspection {
    /// XML-RPC's `system.listMethods`, `system.methodSignature` and `system.methodHelp`.
    SystemMethods,
    /// JSON-RPC's `rpc.discover`, an OpenRPC document (as `rpc-json` servers answer it).
    Discover,
    /// Neovim's `nvim_get_api_info` (MessagePack-RPC has no standard way).
    NvimApiInfo,
    /// zerorpc's `_zerorpc_list` and `_zerorpc_inspect`.
    ZerorpcInspect,
}

/// How `rpc bench`'s load generator reaches a server.
#[derive(Clone, Copy)]
pub enum Load {
    /// The generator speaks plain HTTP/1.1 itself, in this encoding.
    Http(HttpEncoding),
    /// The generator speaks this duplex protocol itself, pipelined, on the TCP or Unix socket of the address.
    Duplex(fn() -> Arc<dyn Protocol>),
    /// Through the scheme's connector, one connection per `--connections` (TLS, say).
    Connection,
}

impl fmt::Debug for Load {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Load::Http(encoding) => f.debug_tuple("Http").field(encoding).finish(),
            Load::Duplex(protocol) => f.debug_tuple("Duplex").field(&protocol().name()).finish(),
            Load::Connection => f.write_str("Connection"),
        }
    }
}

/// A duplex protocol, as a [`Load::Duplex`] makes it.
fn protocol<P: Protocol + Default>() -> Arc<dyn Protocol> {
    Arc::new(P::default())
}

/// Every scheme `rpc` takes, grouped by protocol (as the usage lists them).
pub static SCHEMES: &[Scheme] = &[
    Scheme {
        name: "http",
        protocol: "XML-RPC",
        over: "HTTP",
        takes: Takes::Url { speaks: "http", connect: http::xml },
        tls: false,
        pipelines: false,
        introspection: Introspection::SystemMethods,
        load: Load::Http(HttpEncoding::Xml),
    },
    Scheme {
        name: "https",
        protocol: "XML-RPC",
        over: "HTTPS",
        takes: Takes::Url { speaks: "https", connect: http::xml },
        tls: true,
        pipelines: false,
        introspection: Introspection::SystemMethods,
        load: Load::Connection,
    },
    Scheme {
        name: "http+unix",
        protocol: "XML-RPC",
        over: "HTTP on a Unix socket",
        takes: Takes::Path(http::xml_unix),
        tls: false,
        pipelines: false,
        introspection: Introspection::SystemMethods,
        load: Load::Connection,
    },
    Scheme {
        name: "jsonrpc+http",
        protocol: "JSON-RPC",
        over: "HTTP",
        takes: Takes::Url { speaks: "http", connect: http::json },
        tls: false,
        pipelines: false,
        introspection: Introspection::Discover,
        load: Load::Http(HttpEncoding::Json),
    },
    Scheme {
        name: "jsonrpc+https",
        protocol: "JSON-RPC",
        over: "HTTPS",
        takes: Takes::Url { speaks: "https", connect: http::json },
        tls: true,
        pipelines: false,
        introspection: Introspection::Discover,
        load: Load::Connection,
    },
    Scheme {
        name: "ws",
        protocol: "JSON-RPC",
        over: "WebSocket",
        takes: Takes::Url { speaks: "ws", connect: duplex::ws::<JsonRpc> },
        tls: false,
        pipelines: true,
        introspection: Introspection::Discover,
        load: Load::Connection,
    },
    Scheme {
        name: "wss",
        protocol: "JSON-RPC",
        over: "WebSocket over TLS",
        takes: Takes::Url { speaks: "wss", connect: duplex::ws::<JsonRpc> },
        tls: true,
        pipelines: true,
        introspection: Introspection::Discover,
        load: Load::Connection,
    },
    Scheme {
        name: "jsonrpc+tcp",
        protocol: "JSON-RPC",
        over: "TCP, one message per line",
        takes: Takes::HostPort(duplex::tcp::<JsonRpc>),
        tls: false,
        pipelines: true,
        introspection: Introspection::Discover,
        load: Load::Duplex(protocol::<JsonRpc>),
    },
    Scheme {
        name: "jsonrpc+unix",
        protocol: "JSON-RPC",
        over: "a Unix socket, one message per line",
        takes: Takes::Path(duplex::unix::<JsonRpc>),
        tls: false,
        pipelines: true,
        introspection: Introspection::Discover,
        load: Load::Duplex(protocol::<JsonRpc>),
    },
    Scheme {
        name: "msgpack",
        protocol: "MessagePack-RPC",
        over: "TCP",
        takes: Takes::HostPort(duplex::tcp::<MessagePack>),
        tls: false,
        pipelines: true,
        introspection: Introspection::NvimApiInfo,
        load: Load::Duplex(protocol::<MessagePack>),
    },
    Scheme {
        name: "msgpack+tls",
        protocol: "MessagePack-RPC",
        over: "TLS",
        takes: Takes::HostPort(duplex::tls::<MessagePack>),
        tls: true,
        pipelines: true,
        introspection: Introspection::NvimApiInfo,
        load: Load::Connection,
    },
    Scheme {
        name: "msgpack+unix",
        protocol: "MessagePack-RPC",
        over: "a Unix socket",
        takes: Takes::Path(duplex::unix::<MessagePack>),
        tls: false,
        pipelines: true,
        introspection: Introspection::NvimApiInfo,
        load: Load::Duplex(protocol::<MessagePack>),
    },
    Scheme {
        name: "zerorpc+tcp",
        protocol: "zerorpc",
        over: "ZeroMQ on TCP",
        takes: Takes::HostPort(zerorpc::tcp),
        tls: false,
        pipelines: true,
        introspection: Introspection::ZerorpcInspect,
        load: Load::Connection,
    },
    Scheme {
        name: "zerorpc+ipc",
        protocol: "zerorpc",
        over: "ZeroMQ on a Unix socket (ipc)",
        takes: Takes::Path(zerorpc::ipc),
        tls: false,
        pipelines: true,
        introspection: Introspection::ZerorpcInspect,
        load: Load::Connection,
    },
];

impl Scheme {
    /// How a URL of this scheme is written: `jsonrpc+unix:///PATH`.
    pub fn form(&self) -> String {
        format!("{}://{}", self.name, self.takes.form())
    }
}

/// The forms of the schemes that pass `keep`, each protocol's together: `a://X or b://Y (P), c://Z (Q)`.
fn forms(keep: impl Fn(&Scheme) -> bool) -> String {
    let schemes: Vec<&Scheme> = SCHEMES.iter().filter(|s| keep(s)).collect();
    let mut protocols: Vec<&str> = Vec::new();
    for s in &schemes {
        if !protocols.contains(&s.protocol) {
            protocols.push(s.protocol);
        }
    }
    let groups: Vec<String> = protocols
        .iter()
        .map(|protocol| {
            let forms: Vec<String> = schemes.iter().filter(|s| s.protocol == *protocol).map(|s| s.form()).collect();
            let forms = match forms.split_last() {
                Some((last, [])) => last.clone(),
                Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
                None => String::new(),
            };
            format!("{forms} ({protocol})")
        })
        .collect();
    groups.join(", ")
}

/// The URL forms `rpc` takes, for messages: `use http://HOST:PORT/PATH or ... (XML-RPC), ...`.
pub fn usage() -> String {
    format!("use {}", forms(|_| true))
}

/// The schemes `rpc bench --in-flight` pipelines on.
pub fn pipelining() -> String {
    forms(|s| s.pipelines)
}

/// The usage's list of schemes, one a line.
pub fn help_lines() -> String {
    let width = SCHEMES.iter().map(|s| s.form().len()).max().unwrap_or(0);
    SCHEMES
        .iter()
        .map(|s| format!("  {:width$}  {} over {}", s.form(), s.protocol, s.over))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The TLS schemes, for `--ca`'s help: `https://, jsonrpc+https:// and msgpack+tls://`.
pub fn tls_schemes() -> String {
    schemes_where(|s| s.tls)
}

/// The duplex schemes of the table (one connection, many calls: the ones that can push), for messages.
pub fn duplex_schemes() -> String {
    schemes_where(|s| s.pipelines)
}

/// The schemes of the table `which` picks, as `a://, b:// and c://`.
fn schemes_where(which: impl Fn(&Scheme) -> bool) -> String {
    let names: Vec<String> = SCHEMES.iter().filter(|s| which(s)).map(|s| format!("{}://", s.name)).collect();
    match names.split_last() {
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
        None => String::new(),
    }
}

/// Where a server listens, as the URL's scheme takes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Address {
    /// A URL (with the scheme its connector speaks: `http://h:1/`).
    Url(String),
    /// `HOST:PORT`.
    HostPort(String),
    /// A Unix socket's path.
    Path(PathBuf),
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Address::Url(url) => f.write_str(url),
            Address::HostPort(addr) => f.write_str(addr),
            Address::Path(path) => write!(f, "{}", path.display()),
        }
    }
}

/// A server to talk to: its URL's scheme and where it listens.
#[derive(Debug, Clone)]
pub struct Target {
    /// The scheme's entry in [`SCHEMES`].
    pub scheme: &'static Scheme,
    /// Where the server listens.
    pub address: Address,
}

impl Target {
    /// Reads a URL: the scheme picks the entry of [`SCHEMES`].
    pub fn parse(url: &str) -> Result<Target, Failure> {
        let bad = |why: &str| Failure::usage(format!("bad URL {url:?}: {why}; {}", usage()));
        let (name, rest) = url.split_once("://").ok_or_else(|| bad("no scheme"))?;
        if rest.is_empty() {
            return Err(bad("nothing after the scheme"));
        }
        let scheme = SCHEMES
            .iter()
            .find(|s| s.name.eq_ignore_ascii_case(name))
            .ok_or_else(|| bad(&format!("unknown scheme {:?}", name.to_ascii_lowercase())))?;
        let address = match scheme.takes {
            Takes::Url { speaks, .. } => Address::Url(format!("{speaks}://{rest}")),
            Takes::HostPort(_) => Address::HostPort(
                host_port(rest).ok_or_else(|| bad(&format!("{}:// takes HOST:PORT and nothing else", scheme.name)))?,
            ),
            Takes::Path(_) => Address::Path(PathBuf::from(rest)),
        };
        Ok(Target { scheme, address })
    }

    /// Several URLs of one protocol, comma-separated (`msgpack://h:1,msgpack://h:2`, as etcdctl's
    /// `--endpoints`), each with the URL as written: what `rpc call` and `rpc bench` take.
    pub fn parse_list(urls: &str) -> Result<Vec<(String, Target)>, Failure> {
        let targets = urls
            .split(',')
            .map(str::trim)
            .filter(|url| !url.is_empty())
            .map(|url| Ok((url.to_owned(), Target::parse(url)?)))
            .collect::<Result<Vec<_>, Failure>>()?;
        let Some((first_url, first)) = targets.first() else {
            return Err(Failure::usage(format!("no URL in {urls:?}; {}", usage())));
        };
        if let Some((url, other)) = targets.iter().find(|(_, t)| t.scheme.protocol != first.scheme.protocol) {
            return Err(Failure::usage(format!(
                "the endpoints of one call speak one protocol: {first_url} speaks {}, {url} speaks {}",
                first.scheme.protocol, other.scheme.protocol
            )));
        }
        Ok(targets)
    }

    /// `HOST:PORT` of a URL's server, where a TCP connection says whether it is up (HTTP clients connect per
    /// request, so opening one says nothing).
    pub fn probe_addr(&self) -> Option<String> {
        let Address::Url(url) = &self.address else { return None };
        let uri: ::http::Uri = url.parse().ok()?;
        let port = uri.port_u16().unwrap_or(if uri.scheme_str() == Some("https") { 443 } else { 80 });
        // An IPv6 host keeps its brackets (`[::1]:80`), as a socket address needs them.
        Some(format!("{}:{port}", uri.host()?))
    }

    /// Opens a connection with the scheme's connector.
    pub fn connect(&self, opts: Options) -> Connecting {
        match (&self.scheme.takes, &self.address) {
            (Takes::Url { connect, .. }, Address::Url(url)) => connect(url.clone(), opts),
            (Takes::HostPort(connect), Address::HostPort(addr)) => connect(addr.clone(), opts),
            (Takes::Path(connect), Address::Path(path)) => connect(path.clone(), opts),
            _ => Box::pin(std::future::ready(Err(Failure::other(format!(
                "{}:// cannot connect to {}",
                self.scheme.name, self.address
            ))))),
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.address.fmt(f)
    }
}

/// `HOST:PORT`, with an optional `/` after it.
fn host_port(rest: &str) -> Option<String> {
    let addr = rest.strip_suffix('/').unwrap_or(rest);
    let (host, port) = addr.rsplit_once(':')?;
    (!host.is_empty() && port.parse::<u16>().is_ok() && !addr.contains('/')).then(|| addr.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(url: &str) -> (&'static str, Address) {
        let target = Target::parse(url).unwrap();
        (target.scheme.name, target.address)
    }

    #[test]
    fn schemes_pick_the_protocol() {
        let url = |s: &str| Address::Url(s.into());
        let host_port = |s: &str| Address::HostPort(s.into());
        let path = |s: &str| Address::Path(s.into());
        for (given, scheme, address) in [
            ("http://127.0.0.1:6789/", "http", url("http://127.0.0.1:6789/")),
            ("https://example.com/RPC2", "https", url("https://example.com/RPC2")),
            ("jsonrpc+http://127.0.0.1:6789/", "jsonrpc+http", url("http://127.0.0.1:6789/")),
            ("jsonrpc+https://u:p@host/rpc", "jsonrpc+https", url("https://u:p@host/rpc")),
            ("jsonrpc+tcp://127.0.0.1:6792", "jsonrpc+tcp", host_port("127.0.0.1:6792")),
            ("JSONRPC+TCP://[::1]:1/", "jsonrpc+tcp", host_port("[::1]:1")),
            ("jsonrpc+unix:///tmp/interop-json.sock", "jsonrpc+unix", path("/tmp/interop-json.sock")),
            ("msgpack://127.0.0.1:6666", "msgpack", host_port("127.0.0.1:6666")),
            ("msgpack://localhost:1/", "msgpack", host_port("localhost:1")),
            ("msgpack+tls://rpc.example:6789", "msgpack+tls", host_port("rpc.example:6789")),
            ("MSGPACK+TLS://[::1]:1/", "msgpack+tls", host_port("[::1]:1")),
            ("msgpack+unix:///tmp/nvim.sock", "msgpack+unix", path("/tmp/nvim.sock")),
        ] {
            assert_eq!(parsed(given), (scheme, address), "{given}");
        }
        assert_eq!(Target::parse("jsonrpc+tcp://h:1").unwrap().scheme.protocol, "JSON-RPC");
        for bad in [
            "127.0.0.1:6789",
            "ftp://x/",
            "msgpack://host",
            "msgpack://host:99999",
            "msgpack://h:1/x",
            "http://",
            "msgpack+tls://h",
            "jsonrpc+tcp://h",
            "jsonrpc+tcp://h:1/x",
            "jsonrpc+unix://",
            "msgpack+unix://",
        ] {
            let err = Target::parse(bad).unwrap_err().to_string();
            assert!(err.contains("bad URL") && err.contains("msgpack+unix:///PATH"), "{bad}: {err}");
        }
    }

    #[test]
    fn probe_addresses_of_http_urls() {
        let probe = |url: &str| Target::parse(url).ok().and_then(|t| t.probe_addr());
        assert_eq!(probe("http://127.0.0.1:6789/"), Some("127.0.0.1:6789".into()));
        assert_eq!(probe("jsonrpc+https://rpc.example/api"), Some("rpc.example:443".into()));
        assert_eq!(probe("http://[::1]:8080/"), Some("[::1]:8080".into()));
        assert_eq!(probe("msgpack://127.0.0.1:1"), None, "a duplex scheme's connection says it itself");
    }

    #[test]
    fn every_scheme_is_in_the_messages_once() {
        let (usage, help) = (usage(), help_lines());
        for s in SCHEMES {
            let form = s.form();
            assert_eq!(usage.matches(&format!(" {form}")).count(), 1, "{form} in {usage}");
            assert_eq!(help.lines().filter(|l| l.trim_start().starts_with(&format!("{form} "))).count(), 1, "{help}");
            assert!(help.contains(&format!("{} over {}", s.protocol, s.over)), "{help}");
            assert_eq!(SCHEMES.iter().filter(|o| o.name == s.name).count(), 1, "{} is listed once", s.name);
            assert_eq!(s.name, s.name.to_ascii_lowercase());
        }
        assert_eq!(
            usage,
            "use http://HOST:PORT/PATH, https://HOST:PORT/PATH or http+unix:///PATH (XML-RPC), \
             jsonrpc+http://HOST:PORT/PATH, jsonrpc+https://HOST:PORT/PATH, ws://HOST:PORT/PATH, \
             wss://HOST:PORT/PATH, jsonrpc+tcp://HOST:PORT or jsonrpc+unix:///PATH (JSON-RPC), \
             msgpack://HOST:PORT, msgpack+tls://HOST:PORT or msgpack+unix:///PATH (MessagePack-RPC), \
             zerorpc+tcp://HOST:PORT or zerorpc+ipc:///PATH (zerorpc)"
        );
        assert_eq!(tls_schemes(), "https://, jsonrpc+https://, wss:// and msgpack+tls://");
        assert_eq!(
            pipelining(),
            "ws://HOST:PORT/PATH, wss://HOST:PORT/PATH, jsonrpc+tcp://HOST:PORT or jsonrpc+unix:///PATH \
             (JSON-RPC), msgpack://HOST:PORT, msgpack+tls://HOST:PORT or msgpack+unix:///PATH (MessagePack-RPC), \
             zerorpc+tcp://HOST:PORT or zerorpc+ipc:///PATH (zerorpc)"
        );
    }

    #[test]
    fn every_scheme_reaches_its_load_generator() {
        for s in SCHEMES {
            // The generator speaks plain HTTP and duplex protocols on sockets itself; TLS goes through the
            // connector.
            match s.load {
                Load::Http(_) => assert!(matches!(s.takes, Takes::Url { speaks: "http", .. }) && !s.tls, "{s:?}"),
                Load::Duplex(protocol) => {
                    assert!(matches!(s.takes, Takes::HostPort(_) | Takes::Path(_)) && !s.tls && s.pipelines);
                    assert_eq!(protocol().name(), s.protocol, "{s:?}");
                }
                Load::Connection => {}
            }
            assert!(!s.tls || matches!(s.load, Load::Connection), "TLS goes through the connector: {s:?}");
        }
    }
}

//! [`Target`]: what a URL on the command line names, by its scheme.

use std::fmt;
use std::path::PathBuf;

use crate::Failure;

/// The URL forms `rpc` takes, for messages.
pub const SCHEMES: &str = "use http://HOST:PORT/PATH or https://... (XML-RPC), jsonrpc+http://HOST:PORT/PATH or \
                           jsonrpc+https://... (JSON-RPC), msgpack://HOST:PORT, msgpack+tls://HOST:PORT or \
                           msgpack+unix:///PATH (MessagePack-RPC)";

/// A server to talk to: the protocol and where it listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// XML-RPC over HTTP(S) at this `http://` or `https://` URL.
    Xml(String),
    /// JSON-RPC 2.0 over HTTP(S) at this `http://` or `https://` URL.
    Json(String),
    /// MessagePack-RPC over TCP to `HOST:PORT`.
    Msgpack(String),
    /// MessagePack-RPC over TLS over TCP to `HOST:PORT` (HOST is the name the certificate must show).
    MsgpackTls(String),
    /// MessagePack-RPC over a Unix domain socket.
    MsgpackUnix(PathBuf),
}

impl Target {
    /// Reads a URL: the scheme picks the protocol.
    pub fn parse(url: &str) -> Result<Target, Failure> {
        let bad = |why: &str| Failure::usage(format!("bad URL {url:?}: {why}; {SCHEMES}"));
        let (scheme, rest) = url.split_once("://").ok_or_else(|| bad("no scheme"))?;
        if rest.is_empty() {
            return Err(bad("nothing after the scheme"));
        }
        match scheme.to_ascii_lowercase().as_str() {
            "http" | "https" => Ok(Target::Xml(url.to_owned())),
            "jsonrpc+http" => Ok(Target::Json(format!("http://{rest}"))),
            "jsonrpc+https" => Ok(Target::Json(format!("https://{rest}"))),
            "msgpack" => {
                host_port(rest).map(Target::Msgpack).ok_or_else(|| bad("msgpack:// takes HOST:PORT and nothing else"))
            }
            "msgpack+tls" => host_port(rest)
                .map(Target::MsgpackTls)
                .ok_or_else(|| bad("msgpack+tls:// takes HOST:PORT and nothing else")),
            "msgpack+unix" => Ok(Target::MsgpackUnix(PathBuf::from(rest))),
            other => Err(bad(&format!("unknown scheme {other:?}"))),
        }
    }
}

/// `HOST:PORT`, with an optional `/` after it.
fn host_port(rest: &str) -> Option<String> {
    let addr = rest.strip_suffix('/').unwrap_or(rest);
    let (host, port) = addr.rsplit_once(':')?;
    (!host.is_empty() && port.parse::<u16>().is_ok() && !addr.contains('/')).then(|| addr.to_owned())
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Xml(url) | Target::Json(url) => f.write_str(url),
            Target::Msgpack(addr) | Target::MsgpackTls(addr) => f.write_str(addr),
            Target::MsgpackUnix(path) => write!(f, "{}", path.display()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schemes_pick_the_protocol() {
        for (url, target) in [
            ("http://127.0.0.1:6789/", Target::Xml("http://127.0.0.1:6789/".into())),
            ("https://example.com/RPC2", Target::Xml("https://example.com/RPC2".into())),
            ("jsonrpc+http://127.0.0.1:6789/", Target::Json("http://127.0.0.1:6789/".into())),
            ("jsonrpc+https://u:p@host/rpc", Target::Json("https://u:p@host/rpc".into())),
            ("msgpack://127.0.0.1:6666", Target::Msgpack("127.0.0.1:6666".into())),
            ("msgpack://localhost:1/", Target::Msgpack("localhost:1".into())),
            ("msgpack+tls://rpc.example:6789", Target::MsgpackTls("rpc.example:6789".into())),
            ("MSGPACK+TLS://[::1]:1/", Target::MsgpackTls("[::1]:1".into())),
            ("msgpack+unix:///tmp/nvim.sock", Target::MsgpackUnix("/tmp/nvim.sock".into())),
        ] {
            assert_eq!(Target::parse(url).unwrap(), target, "{url}");
        }
        for bad in [
            "127.0.0.1:6789",
            "ftp://x/",
            "msgpack://host",
            "msgpack://host:99999",
            "msgpack://h:1/x",
            "http://",
            "msgpack+tls://h",
        ] {
            let err = Target::parse(bad).unwrap_err().to_string();
            assert!(err.contains("bad URL") && err.contains("msgpack+unix:///PATH"), "{bad}: {err}");
        }
    }
}

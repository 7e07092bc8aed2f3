//! TLS with rustls (tokio-rustls): the client's default configuration and server names, and what a server
//! learns from a handshake.

use std::io;
use std::sync::{Arc, OnceLock};

use rustls::pki_types::ServerName;

use crate::ConnectionInfo;

/// The client configuration used when none is given: the system's root certificates, or Mozilla's bundled ones
/// (webpki-roots) where the system has none; no client certificate. Loaded once per process.
pub(crate) fn default_client_config() -> Arc<rustls::ClientConfig> {
    static CONFIG: OnceLock<Arc<rustls::ClientConfig>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let mut roots = rustls::RootCertStore::empty();
            let native = rustls_native_certs::load_native_certs();
            if !native.errors.is_empty() {
                tracing::debug!(errors = ?native.errors, "some system root certificates could not be loaded");
            }
            let (added, _ignored) = roots.add_parsable_certificates(native.certs);
            if added == 0 {
                tracing::debug!("no system root certificates; trusting the bundled webpki roots");
                roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
            }
            Arc::new(rustls::ClientConfig::builder().with_root_certificates(roots).with_no_client_auth())
        })
        .clone()
}

/// The host of `HOST:PORT` (`[::1]:6789` for IPv6) as the name the server's certificate must show: a DNS name
/// or an IP address.
pub(crate) fn server_name(addr: &str) -> io::Result<ServerName<'static>> {
    let invalid = |why: String| io::Error::new(io::ErrorKind::InvalidInput, why);
    let (host, port) = addr.rsplit_once(':').ok_or_else(|| invalid(format!("{addr:?} is not HOST:PORT")))?;
    if port.parse::<u16>().is_err() {
        return Err(invalid(format!("{addr:?} is not HOST:PORT")));
    }
    let host = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
    ServerName::try_from(host.to_owned())
        .map_err(|e| invalid(format!("{host:?} cannot name a TLS server (a DNS name or an IP address): {e}")))
}

/// What a finished server-side handshake tells about the client.
pub(crate) fn connection_info(remote: &ConnectionInfo, conn: &rustls::ServerConnection) -> ConnectionInfo {
    ConnectionInfo {
        tls: true,
        peer_certificates: conn.peer_certificates().map(|chain| chain.iter().map(|c| c.clone().into_owned()).collect()),
        server_name: conn.server_name().map(str::to_owned),
        ..remote.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_names_come_from_the_host() {
        assert_eq!(server_name("localhost:6789").unwrap(), ServerName::try_from("localhost").unwrap());
        assert_eq!(server_name("127.0.0.1:1").unwrap(), ServerName::try_from("127.0.0.1").unwrap());
        assert_eq!(server_name("[::1]:1").unwrap(), ServerName::try_from("::1").unwrap());
        for bad in ["localhost", "localhost:x", "bad name:1", ":1"] {
            assert_eq!(server_name(bad).unwrap_err().kind(), io::ErrorKind::InvalidInput, "{bad}");
        }
    }
}

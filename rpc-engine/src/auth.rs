//! Who is on the other end: [`ConnectionInfo`], what a server knows about a connection when it accepts it, and
//! the hook ([`Server::authenticate`](crate::Server::authenticate)) that admits or refuses it.

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;

use rpc_core::Context;
use rustls::pki_types::CertificateDer;

/// What a server knows about a connection once it is accepted (and its TLS handshake done): the peer's address
/// and, over TLS, the certificates the client presented and the server name it asked for.
///
/// The [`authenticate`](crate::Server::authenticate) hook decides on it; handlers of connections a server
/// accepted find it in their [`Context`] (`cx.get::<ConnectionInfo>()`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConnectionInfo {
    /// The peer's address, on TCP (`None` on a Unix socket).
    pub remote_addr: Option<SocketAddr>,
    /// True when the connection is TLS.
    pub tls: bool,
    /// The certificate chain the TLS client presented, its own certificate first: `None` without TLS or when
    /// the client sent none. rustls has checked it against the server config's client-certificate verifier
    /// (see [`rustls::server::WebPkiClientVerifier`]) before the hook sees it.
    pub peer_certificates: Option<Vec<CertificateDer<'static>>>,
    /// The server name the TLS client asked for (SNI), if it sent one.
    pub server_name: Option<String>,
}

/// The server's hook: admits a connection by adding what it found out (an identity) to the context, or refuses
/// it with `None`.
type Admit = dyn Fn(&ConnectionInfo, Context) -> Option<Context> + Send + Sync;

/// A [`Server::authenticate`](crate::Server::authenticate) hook, shareable and printable.
#[derive(Clone)]
pub(crate) struct Authenticator(Arc<Admit>);

impl Authenticator {
    /// A hook from a check that returns the identity `T` it admits a connection as.
    pub(crate) fn new<T: Send + Sync + 'static>(
        check: impl Fn(&ConnectionInfo) -> Option<T> + Send + Sync + 'static,
    ) -> Authenticator {
        Authenticator(Arc::new(move |info, cx| check(info).map(|identity| cx.with(identity))))
    }

    /// `cx` with the identity added if the connection is admitted; `None` if it is refused.
    pub(crate) fn admit(&self, info: &ConnectionInfo, cx: Context) -> Option<Context> {
        (self.0)(info, cx)
    }
}

impl fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Authenticator(..)")
    }
}

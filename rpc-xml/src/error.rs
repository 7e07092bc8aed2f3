//! [`Error`]: what can go wrong in this crate (codec and HTTP), and how each case maps to a fault code.

use rpc_core::Fault;

/// An XML-RPC codec or HTTP error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The body is not well-formed XML (or not UTF-8, or declares a DOCTYPE or an unknown entity).
    #[error("malformed XML: {0}")]
    Xml(String),
    /// Well-formed XML that is not a valid XML-RPC message (wrong elements, bad value text, a limit hit).
    #[error("invalid XML-RPC: {0}")]
    Invalid(String),
    /// A value that XML-RPC cannot carry (NaN, an integer beyond 64-bit signed, a non-string struct key, ...).
    #[error("cannot encode as XML-RPC: {0}")]
    Encode(String),
    /// The HTTP exchange failed (bad URL, connection, status, timeout).
    #[error(transparent)]
    Http(#[from] rpc_http::Error),
}

impl Error {
    /// The fault a server answers for this error: -32700 for malformed XML, -32600 for an invalid request,
    /// -32603 otherwise.
    pub fn to_fault(&self) -> Fault {
        match self {
            Error::Xml(m) => Fault::parse_error(m),
            Error::Invalid(m) => Fault::invalid_request(m),
            other => Fault::internal_error(other),
        }
    }
}

impl From<Error> for rpc_core::Error {
    fn from(e: Error) -> rpc_core::Error {
        match e {
            Error::Xml(_) | Error::Invalid(_) => rpc_core::Error::Decode(e.to_string()),
            Error::Encode(m) => rpc_core::Error::Encode(m),
            Error::Http(e) => e.into(),
        }
    }
}

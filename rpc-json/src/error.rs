//! [`Error`]: what can go wrong in this crate (codec and HTTP), and how each case maps to a fault code.

use rpc_core::Fault;

/// A JSON-RPC codec or HTTP error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The body is not well-formed JSON (or not UTF-8).
    #[error("malformed JSON: {0}")]
    Json(String),
    /// Well-formed JSON that is not a valid JSON-RPC message, or a value spelling that does not hold together
    /// (a bad `{"$base64": ...}`), or a limit hit.
    #[error("invalid JSON-RPC: {0}")]
    Invalid(String),
    /// A value that cannot be put on the wire (nested too deeply, a named param whose key is not a string).
    #[error("cannot encode as JSON-RPC: {0}")]
    Encode(String),
    /// The HTTP exchange failed (bad URL, connection, status, timeout).
    #[error(transparent)]
    Http(#[from] rpc_http::Error),
}

impl Error {
    /// The fault a server answers for this error: -32700 for malformed JSON, -32600 for an invalid request,
    /// -32603 otherwise.
    pub fn to_fault(&self) -> Fault {
        match self {
            Error::Json(m) => Fault::parse_error(m),
            Error::Invalid(m) => Fault::invalid_request(m),
            other => Fault::internal_error(other),
        }
    }
}

impl From<Error> for rpc_core::Error {
    fn from(e: Error) -> rpc_core::Error {
        match e {
            Error::Json(_) | Error::Invalid(_) => rpc_core::Error::Decode(e.to_string()),
            Error::Encode(m) => rpc_core::Error::Encode(m),
            Error::Http(e) => e.into(),
        }
    }
}

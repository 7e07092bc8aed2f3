//! [`Error`]: what can go wrong on this side of a call.

use std::time::Duration;

use crate::Fault;

/// Everything that can make a call fail, as seen by the caller.
///
/// The peer's own answer, a [`Fault`], is one variant; the others happened locally or on the way. The same
/// type is the error of [`to_value`](crate::to_value) ([`Error::Encode`]) and
/// [`from_value`](crate::from_value) ([`Error::Decode`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The server answered with a fault.
    #[error(transparent)]
    Fault(Fault),
    /// The connection could not be made, broke, or the peer spoke out of turn (e.g. an HTTP status other than
    /// 200).
    #[error("transport error: {0}")]
    Transport(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// A value could not be put on the wire (e.g. a NaN for XML-RPC, a map key the encoding cannot carry).
    #[error("encode error: {0}")]
    Encode(String),
    /// What came back could not be read, or did not fit the expected type.
    #[error("decode error: {0}")]
    Decode(String),
    /// No answer came within the call's timeout.
    #[error("call timed out after {0:?}")]
    Timeout(Duration),
}

impl Error {
    /// A transport error from any error type.
    pub fn transport(e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Error {
        Error::Transport(e.into())
    }

    /// The fault, if the server answered with one.
    pub fn as_fault(&self) -> Option<&Fault> {
        match self {
            Error::Fault(f) => Some(f),
            _ => None,
        }
    }
}

impl From<Fault> for Error {
    fn from(f: Fault) -> Error {
        Error::Fault(f)
    }
}

//! [`Error`]: what can go wrong in an HTTP exchange.

use std::fmt;
use std::marker::PhantomData;
use std::time::Duration;

use crate::HttpEncoding;

/// An HTTP client error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The URL given to the client is not usable.
    #[error("bad URL: {0}")]
    Url(String),
    /// The connection could not be made, so the request was never sent.
    #[error("HTTP: cannot connect to {0}")]
    Connect(String),
    /// The connection broke, or the body could not be read.
    #[error("HTTP: {0}")]
    Http(String),
    /// The server answered with a status other than 200.
    #[error("HTTP: {url} answered HTTP {status}: {text}")]
    Status {
        /// The endpoint.
        url: String,
        /// The status.
        status: http::StatusCode,
        /// The start of the body, for the message.
        text: String,
    },
    /// No complete answer came within the timeout.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
}

impl From<Error> for rpc_core::Error {
    fn from(e: Error) -> rpc_core::Error {
        match e {
            Error::Timeout(t) => rpc_core::Error::Timeout(t),
            Error::Connect(_) => rpc_core::Error::Connect(Box::new(e)),
            other => rpc_core::Error::Transport(Box::new(other)),
        }
    }
}

/// The error of an encoding over HTTP (`rpc_xml::Error` and `rpc_json::Error` are this type): its codec's three
/// kinds, each with the fault a server answers for it, or the HTTP exchange's. The messages name the encoding's
/// format ([`HttpEncoding::FORMAT`]).
#[non_exhaustive]
pub enum EncodingError<E> {
    /// The body is not well-formed in the format (or not UTF-8; for XML, it declares a DOCTYPE or an unknown
    /// entity): answered -32700.
    Malformed(String),
    /// A well-formed body that is not a valid message of the protocol (wrong shape, a value's text or spelling
    /// that does not hold together, a limit hit): answered -32600.
    Invalid(String),
    /// A value the encoding cannot put on the wire (nested too deeply, a key that is not a string, a number it
    /// has no form for, ...): answered -32603.
    Encode(String),
    /// The HTTP exchange failed (bad URL, connection, status, timeout).
    Http(Error),
    #[doc(hidden)]
    __Encoding(std::convert::Infallible, PhantomData<fn() -> E>),
}

impl<E> EncodingError<E> {
    /// An error of rpc_core's raised while encoding (`to_value`'s, a datetime or ext newtype around something
    /// else, an integer beyond 64 bits) as this encoding's [`Encode`](EncodingError::Encode), its message kept
    /// as `to_value` gives it: what a serializer's [`WireSerializer::refuse`](rpc_core::encoding::WireSerializer::refuse)
    /// answers.
    pub fn refused(error: rpc_core::Error) -> EncodingError<E> {
        match error {
            rpc_core::Error::Encode(m) => EncodingError::Encode(m),
            other => EncodingError::Encode(other.to_string()),
        }
    }
}

impl<E: HttpEncoding> EncodingError<E> {
    /// The fault a server answers for this error: -32700 for a malformed body, -32600 for an invalid message,
    /// -32603 otherwise.
    pub fn to_fault(&self) -> rpc_core::Fault {
        match self {
            EncodingError::Malformed(m) => rpc_core::Fault::parse_error(m),
            EncodingError::Invalid(m) => rpc_core::Fault::invalid_request(m),
            other => rpc_core::Fault::internal_error(other),
        }
    }
}

impl<E: HttpEncoding> fmt::Display for EncodingError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let format = E::FORMAT;
        match self {
            EncodingError::Malformed(m) => write!(f, "malformed {format}: {m}"),
            EncodingError::Invalid(m) => write!(f, "invalid {format}-RPC: {m}"),
            EncodingError::Encode(m) => write!(f, "cannot encode as {format}-RPC: {m}"),
            EncodingError::Http(e) => e.fmt(f),
            EncodingError::__Encoding(never, _) => match *never {},
        }
    }
}

impl<E> fmt::Debug for EncodingError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EncodingError::Malformed(m) => f.debug_tuple("Malformed").field(m).finish(),
            EncodingError::Invalid(m) => f.debug_tuple("Invalid").field(m).finish(),
            EncodingError::Encode(m) => f.debug_tuple("Encode").field(m).finish(),
            EncodingError::Http(e) => f.debug_tuple("Http").field(e).finish(),
            EncodingError::__Encoding(never, _) => match *never {},
        }
    }
}

impl<E: HttpEncoding> std::error::Error for EncodingError<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            // Transparent, as the HTTP error's own message is the display.
            EncodingError::Http(e) => e.source(),
            _ => None,
        }
    }
}

impl<E> From<Error> for EncodingError<E> {
    fn from(e: Error) -> EncodingError<E> {
        EncodingError::Http(e)
    }
}

impl<E: HttpEncoding> From<EncodingError<E>> for rpc_core::Error {
    fn from(e: EncodingError<E>) -> rpc_core::Error {
        match e {
            EncodingError::Malformed(_) | EncodingError::Invalid(_) => rpc_core::Error::Decode(e.to_string()),
            EncodingError::Encode(m) => rpc_core::Error::Encode(m),
            EncodingError::Http(e) => e.into(),
            EncodingError::__Encoding(never, _) => match never {},
        }
    }
}

/// A serializer's own error (a `Serialize` impl's): a value the encoding cannot write.
impl<E: HttpEncoding> serde::ser::Error for EncodingError<E> {
    fn custom<T: fmt::Display>(msg: T) -> EncodingError<E> {
        EncodingError::Encode(msg.to_string())
    }
}

/// A deserializer's own error (a `Deserialize` impl's): a value that is not what was asked for.
impl<E: HttpEncoding> serde::de::Error for EncodingError<E> {
    fn custom<T: fmt::Display>(msg: T) -> EncodingError<E> {
        EncodingError::Invalid(msg.to_string())
    }
}

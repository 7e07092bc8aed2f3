//! [`Error`]: what can go wrong on a connection the engine runs, and how it reaches callers.

use std::io;

/// A connection error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Bytes that break the stream's framing (not the encoding, or over a limit): the connection was closed.
    #[error("{0}")]
    Broken(String),
    /// A well-framed message that is not one of the encoding's at all: the connection was closed.
    #[error("invalid message: {0}")]
    Invalid(String),
    /// The connection is closed (the reason says who closed it, or what broke it).
    #[error("connection closed: {0}")]
    Closed(String),
    /// Reading, writing or connecting failed.
    #[error("I/O error: {0}")]
    Io(#[from] io::Error),
}

impl From<Error> for rpc_core::Error {
    fn from(e: Error) -> rpc_core::Error {
        match e {
            Error::Broken(_) | Error::Invalid(_) => rpc_core::Error::Decode(e.to_string()),
            Error::Closed(_) | Error::Io(_) => rpc_core::Error::Transport(Box::new(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_to_the_core_error() {
        assert!(matches!(rpc_core::Error::from(Error::Broken("x".into())), rpc_core::Error::Decode(_)));
        let closed = rpc_core::Error::from(Error::Closed("the peer closed the connection".into()));
        assert_eq!(closed.to_string(), "transport error: connection closed: the peer closed the connection");
    }
}

//! [`Error`]: what can go wrong in an HTTP exchange.

use std::time::Duration;

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

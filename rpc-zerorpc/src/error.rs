//! The crate's errors: binding and connecting sockets.

/// What can fail setting a zerorpc server or client up (calls fail with [`rpc_core::Error`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An endpoint could not be bound (taken, not an address, no such directory).
    #[error("cannot bind {0}: {1}")]
    Bind(String, #[source] zeromq::ZmqError),
    /// An endpoint could not be connected to (not `tcp://HOST:PORT` or `ipc:///PATH`).
    #[error("cannot connect to {0}: {1}")]
    Connect(String, #[source] zeromq::ZmqError),
    /// A client was given no endpoint.
    #[error("no endpoint to connect to")]
    NoEndpoint,
    /// The server's socket failed.
    #[error("the zerorpc socket failed: {0}")]
    Socket(#[source] zeromq::ZmqError),
}

impl From<Error> for rpc_core::Error {
    fn from(e: Error) -> rpc_core::Error {
        rpc_core::Error::Transport(Box::new(e))
    }
}

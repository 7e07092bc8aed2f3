//! [`Error`]: what can go wrong in this crate (codec, messages, connection), and how each case maps to a fault.

use std::io;

use rpc_core::Fault;

/// A MessagePack-RPC codec or connection error.
///
/// [`Malformed`](Error::Malformed), [`TooLarge`](Error::TooLarge) and [`TooDeep`](Error::TooDeep) break the
/// framing of the byte stream: the connection they arrive on is closed (after an error reply when the bad
/// message started like a request whose id could be read). [`Invalid`](Error::Invalid) is a well-framed object
/// that is not a valid message: the stream stays usable, and a request gets an error reply.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The bytes are not MessagePack (the reserved byte `0xc1`, or leftover bytes at the end of the stream).
    #[error("malformed MessagePack: {0}")]
    Malformed(String),
    /// A message that is, or declares that it is, larger than the size limit; nothing was allocated for it.
    #[error("message of at least {at_least} bytes is over the limit of {limit} bytes")]
    TooLarge {
        /// The size the message has at least, from the lengths declared so far.
        at_least: u64,
        /// The limit in force.
        limit: usize,
    },
    /// A message whose arrays and maps nest deeper than the limit.
    #[error("message nests arrays and maps deeper than the limit of {limit}")]
    TooDeep {
        /// The limit in force (the message's own array counts as one level).
        limit: usize,
    },
    /// Well-formed MessagePack that is not a valid MessagePack-RPC message (wrong shape, a method name that is
    /// not a string, a msgid that is not a 32-bit unsigned integer, params that are not an array).
    #[error("invalid MessagePack-RPC message: {reason}")]
    Invalid {
        /// The msgid of the request it came in, when that could be read: the request gets an error reply.
        id: Option<u32>,
        /// What is wrong with it.
        reason: String,
    },
    /// A value that MessagePack cannot carry (a string, byte string or collection of 2^32 items or more).
    #[error("cannot encode as MessagePack: {0}")]
    Encode(String),
    /// The connection is closed (the reason says who closed it, or what broke it).
    #[error("connection closed: {0}")]
    Closed(String),
    /// Reading, writing or connecting failed.
    #[error("I/O error: {0}")]
    Io(#[from] io::Error),
}

impl Error {
    /// The fault a peer is answered with for this error: -32700 for bytes that are not MessagePack, -32600 for
    /// a message over a limit or not a valid request, -32603 otherwise.
    pub fn to_fault(&self) -> Fault {
        match self {
            Error::Malformed(_) => Fault::parse_error(self),
            Error::TooLarge { .. } | Error::TooDeep { .. } => Fault::invalid_request(self),
            Error::Invalid { reason, .. } => Fault::invalid_request(reason),
            _ => Fault::internal_error(self),
        }
    }
}

impl From<Error> for rpc_core::Error {
    fn from(e: Error) -> rpc_core::Error {
        match e {
            Error::Malformed(_) | Error::TooLarge { .. } | Error::TooDeep { .. } | Error::Invalid { .. } => {
                rpc_core::Error::Decode(e.to_string())
            }
            Error::Encode(m) => rpc_core::Error::Encode(m),
            Error::Closed(_) | Error::Io(_) => rpc_core::Error::Transport(Box::new(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_have_the_standard_codes() {
        let cases = [
            (Error::Malformed("0xc1".into()), Fault::PARSE_ERROR),
            (Error::TooLarge { at_least: 1 << 32, limit: 1024 }, Fault::INVALID_REQUEST),
            (Error::TooDeep { limit: 64 }, Fault::INVALID_REQUEST),
            (Error::Invalid { id: Some(1), reason: "bad".into() }, Fault::INVALID_REQUEST),
            (Error::Encode("too long".into()), Fault::INTERNAL_ERROR),
        ];
        for (error, code) in cases {
            assert_eq!(error.to_fault().code, code, "{error}");
        }
        assert_eq!(Error::Invalid { id: None, reason: "bad".into() }.to_fault().message, "invalid request: bad");
    }

    #[test]
    fn converts_to_the_core_error() {
        assert!(matches!(rpc_core::Error::from(Error::TooDeep { limit: 1 }), rpc_core::Error::Decode(_)));
        assert!(matches!(rpc_core::Error::from(Error::Encode("x".into())), rpc_core::Error::Encode(_)));
        let closed = rpc_core::Error::from(Error::Closed("the peer closed the connection".into()));
        assert_eq!(closed.to_string(), "transport error: connection closed: the peer closed the connection");
    }
}

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
    /// The call was never sent: the connection to the server could not be made (refused, unreachable, a TLS
    /// handshake that failed), or it had closed before the call was written, so the call did not run and may
    /// be sent anywhere again.
    #[error("not sent: {0}")]
    Connect(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The connection broke, or the peer spoke out of turn (e.g. an HTTP status other than
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

    /// A [`Connect`](Error::Connect) error from any error type: the call was not sent.
    pub fn connect(e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Error {
        Error::Connect(e.into())
    }

    /// How far the failed call may have got: what decides whether it may be sent again.
    ///
    /// ```
    /// use rpc_core::{Delivery, Error, Fault};
    ///
    /// assert_eq!(Error::connect("connection refused").delivery(), Delivery::NotSent);
    /// assert_eq!(Error::transport("connection closed").delivery(), Delivery::Unknown);
    /// assert_eq!(Error::from(Fault::new(1, "no")).delivery(), Delivery::Answered);
    /// ```
    pub fn delivery(&self) -> Delivery {
        match self {
            Error::Connect(_) => Delivery::NotSent,
            Error::Transport(_) | Error::Timeout(_) => Delivery::Unknown,
            Error::Fault(_) | Error::Encode(_) | Error::Decode(_) => Delivery::Answered,
        }
    }

    /// The fault, if the server answered with one.
    pub fn as_fault(&self) -> Option<&Fault> {
        match self {
            Error::Fault(f) => Some(f),
            _ => None,
        }
    }
}

/// How far a failed call may have got ([`Error::delivery`]): whether sending it again could run it twice.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Delivery {
    /// It was never sent (the connection could not be made): sending it again, anywhere, is safe.
    NotSent,
    /// It may have been sent and run, and no answer came (the connection broke, the call timed out, a gateway
    /// answered 502 or 503): only a method that may run twice (`#[rpc(idempotent)]`) may be sent again.
    Unknown,
    /// It was answered (a fault, an answer that did not decode) or could not be sent at all (params that do not
    /// encode): sending it again gives the same.
    Answered,
}

impl From<Fault> for Error {
    fn from(f: Fault) -> Error {
        Error::Fault(f)
    }
}

/// The error of a generated client's call to a method declared `-> Result<T, E>`: the service's own `E`, or
/// anything else that went wrong on the way ([`Error`]).
///
/// The server sends a handler's `Err(e)` as the fault `e.into()`, with `e` itself as the fault's
/// [`data`](Fault::data) when `E` is `Serialize`. The client gives it back as [`CallError::Service`] when the
/// data reads as an `E` (so `E: Deserialize`); a method declared with `E` = [`Fault`] gets every fault there.
/// Any other fault (a wrong param, a handler panic, a peer that sends no data) stays an
/// [`Error::Fault`] in [`CallError::Rpc`].
///
/// ```
/// use rpc_core::{CallError, Error, Fault};
///
/// fn describe(e: CallError<String>) -> String {
///     match e {
///         CallError::Service(mine) => format!("the service said {mine}"),
///         CallError::Rpc(Error::Fault(f)) => format!("fault {}", f.code),
///         CallError::Rpc(other) => format!("the call failed: {other}"),
///     }
/// }
/// assert_eq!(describe(CallError::Service("no".into())), "the service said no");
/// assert_eq!(describe(CallError::Rpc(Fault::new(7, "m").into())), "fault 7");
/// ```
#[derive(Debug)]
pub enum CallError<E> {
    /// The service answered with its own error.
    Service(E),
    /// The call failed otherwise: the transport, a timeout, or a fault that is not an `E`.
    Rpc(Error),
}

impl<E> CallError<E> {
    /// The service's own error, if it answered with one.
    pub fn service(&self) -> Option<&E> {
        match self {
            CallError::Service(e) => Some(e),
            CallError::Rpc(_) => None,
        }
    }

    /// The fault, if the server answered with one that is not an `E`.
    pub fn as_fault(&self) -> Option<&Fault> {
        match self {
            CallError::Rpc(e) => e.as_fault(),
            CallError::Service(_) => None,
        }
    }

    /// Both kinds as one error type: the service's error through `From<E>`, the rest through
    /// `From<Error>` (what a client used through the trait does).
    pub fn into_error<T: From<E> + From<Error>>(self) -> T {
        match self {
            CallError::Service(e) => T::from(e),
            CallError::Rpc(e) => T::from(e),
        }
    }
}

impl<E> From<Error> for CallError<E> {
    fn from(e: Error) -> CallError<E> {
        CallError::Rpc(e)
    }
}

impl<E: std::fmt::Display> std::fmt::Display for CallError<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CallError::Service(e) => e.fmt(f),
            CallError::Rpc(e) => e.fmt(f),
        }
    }
}

impl<E: std::error::Error + 'static> std::error::Error for CallError<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            CallError::Service(e) => e.source(),
            CallError::Rpc(e) => std::error::Error::source(e),
        }
    }
}

/// A handler that calls another service with `?` answers the other service's error as its own fault (its
/// `Into<Fault>`), and any other failure as [`From<Error> for Fault`](Fault#impl-From<Error>-for-Fault) does.
impl<E: Into<Fault>> From<CallError<E>> for Fault {
    fn from(e: CallError<E>) -> Fault {
        match e {
            CallError::Service(e) => e.into(),
            CallError::Rpc(e) => e.into(),
        }
    }
}

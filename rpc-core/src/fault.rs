//! [`Fault`]: an error that travels on the wire.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::Value;

/// An error reply: a code and a message, as carried by an XML-RPC fault, a MessagePack-RPC error object or a
/// JSON-RPC error.
///
/// The standard codes are those of the XML-RPC fault-interop spec, shared by JSON-RPC 2.0:
/// [`PARSE_ERROR`](Fault::PARSE_ERROR), [`INVALID_REQUEST`](Fault::INVALID_REQUEST),
/// [`METHOD_NOT_FOUND`](Fault::METHOD_NOT_FOUND), [`INVALID_PARAMS`](Fault::INVALID_PARAMS) and
/// [`INTERNAL_ERROR`](Fault::INTERNAL_ERROR). A handler returns its own faults by returning
/// `Result<T, E>` with `E: Into<Fault>`.
///
/// ```
/// use rpc_core::Fault;
///
/// #[derive(Debug)]
/// struct NotFound(String);
///
/// impl From<NotFound> for Fault {
///     fn from(e: NotFound) -> Fault {
///         Fault::new(404, format!("no such user: {}", e.0))
///     }
/// }
///
/// let fault = Fault::from(NotFound("ada".into()));
/// assert_eq!((fault.code, fault.message.as_str()), (404, "no such user: ada"));
/// ```
///
/// A fault may also carry structured [`data`](Fault::data): a handler's own error type, when it is
/// `Serialize`, travels there, so that a generated client gives the caller that error back
/// ([`CallError::Service`](crate::CallError::Service)). On the wire it is JSON-RPC's `data` member, a third
/// element of MessagePack-RPC's `[code, message]` error, and a `faultData` member of XML-RPC's fault struct
/// (peers that do not know it ignore it: Python's `xmlrpc.client.Fault` takes extra members as keywords).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Fault {
    /// The fault code.
    pub code: i64,
    /// A human-readable description.
    pub message: String,
    /// Structured detail beside the message, if any (boxed: a fault stays small, and so does every
    /// `Result<_, Fault>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Box<Value>>,
}

impl Fault {
    /// -32700: the request was not well-formed (not XML, not MessagePack, not JSON).
    pub const PARSE_ERROR: i64 = -32700;
    /// -32600: well-formed, but not a valid request.
    pub const INVALID_REQUEST: i64 = -32600;
    /// -32601: no method of that name.
    pub const METHOD_NOT_FOUND: i64 = -32601;
    /// -32602: wrong number or types of params.
    pub const INVALID_PARAMS: i64 = -32602;
    /// -32603: the server failed while handling the call (including a handler panic).
    pub const INTERNAL_ERROR: i64 = -32603;
    /// -32800: the caller cancelled the call (LSP's `RequestCancelled`), and the server dropped it.
    pub const REQUEST_CANCELLED: i64 = -32800;

    /// A fault with any code.
    pub fn new(code: i64, message: impl Into<String>) -> Fault {
        Fault { code, message: message.into(), data: None }
    }

    /// This fault with structured `data` beside its message.
    ///
    /// ```
    /// use rpc_core::{Fault, Value};
    ///
    /// let fault = Fault::new(409, "taken").with_data(Value::from("ada"));
    /// assert_eq!(fault.data.as_deref(), Some(&Value::from("ada")));
    /// ```
    #[must_use]
    pub fn with_data(mut self, data: Value) -> Fault {
        self.data = Some(Box::new(data));
        self
    }

    /// A [`PARSE_ERROR`](Fault::PARSE_ERROR) fault.
    pub fn parse_error(message: impl fmt::Display) -> Fault {
        Fault::new(Fault::PARSE_ERROR, format!("parse error: {message}"))
    }

    /// An [`INVALID_REQUEST`](Fault::INVALID_REQUEST) fault.
    pub fn invalid_request(message: impl fmt::Display) -> Fault {
        Fault::new(Fault::INVALID_REQUEST, format!("invalid request: {message}"))
    }

    /// A [`METHOD_NOT_FOUND`](Fault::METHOD_NOT_FOUND) fault naming the method.
    pub fn method_not_found(method: &str) -> Fault {
        Fault::new(Fault::METHOD_NOT_FOUND, format!("method not found: {method:?}"))
    }

    /// An [`INVALID_PARAMS`](Fault::INVALID_PARAMS) fault.
    pub fn invalid_params(message: impl fmt::Display) -> Fault {
        Fault::new(Fault::INVALID_PARAMS, format!("invalid params: {message}"))
    }

    /// A [`REQUEST_CANCELLED`](Fault::REQUEST_CANCELLED) fault naming the method.
    pub fn request_cancelled(method: &str) -> Fault {
        Fault::new(Fault::REQUEST_CANCELLED, format!("cancelled: the caller cancelled the call to {method:?}"))
    }

    /// An [`INTERNAL_ERROR`](Fault::INTERNAL_ERROR) fault.
    pub fn internal_error(message: impl fmt::Display) -> Fault {
        Fault::new(Fault::INTERNAL_ERROR, format!("internal error: {message}"))
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "fault {}: {}", self.code, self.message)
    }
}

impl std::error::Error for Fault {}

/// A handler that calls other services with `?` returns their faults as they are; any other local failure
/// becomes an internal error.
impl From<crate::Error> for Fault {
    fn from(e: crate::Error) -> Fault {
        match e {
            crate::Error::Fault(f) => f,
            other => Fault::internal_error(other),
        }
    }
}

/// A handler declared `-> std::io::Result<T>` answers its I/O errors as internal errors with their message (the
/// caller sees `-32603` and, say, "No such file or directory (os error 2)").
impl From<std::io::Error> for Fault {
    fn from(e: std::io::Error) -> Fault {
        Fault::internal_error(e)
    }
}

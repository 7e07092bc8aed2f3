//! [`Error`]: what can go wrong in this crate (codec and HTTP), and how each case maps to a fault code.

/// A JSON-RPC codec or HTTP error: the error every HTTP encoding has ([`rpc_http::EncodingError`]), its messages
/// naming JSON. [`Malformed`](rpc_http::EncodingError::Malformed): the body is not well-formed JSON (or not
/// UTF-8), -32700. [`Invalid`](rpc_http::EncodingError::Invalid): well-formed JSON that is not a valid JSON-RPC
/// message, a value spelling that does not hold together (a bad `{"$base64": ...}`), or a limit hit, -32600.
/// [`Encode`](rpc_http::EncodingError::Encode): a value that cannot be put on the wire (nested too deeply, a
/// named param whose key is not a string), -32603. [`Http`](rpc_http::EncodingError::Http): the exchange failed.
pub type Error = rpc_http::EncodingError<crate::JsonRpcOverHttp>;

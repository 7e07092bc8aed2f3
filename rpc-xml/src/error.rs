//! [`Error`]: what can go wrong in this crate (codec and HTTP), and how each case maps to a fault code.

/// An XML-RPC codec or HTTP error: the error every HTTP encoding has ([`rpc_http::EncodingError`]), its messages
/// naming XML. [`Malformed`](rpc_http::EncodingError::Malformed): the body is not well-formed XML (or not UTF-8,
/// or declares a DOCTYPE or an unknown entity), -32700. [`Invalid`](rpc_http::EncodingError::Invalid):
/// well-formed XML that is not a valid XML-RPC message (wrong elements, bad value text, a limit hit), -32600.
/// [`Encode`](rpc_http::EncodingError::Encode): a value XML-RPC cannot carry (NaN, an integer beyond 64-bit
/// signed, a non-string struct key, ...), -32603. [`Http`](rpc_http::EncodingError::Http): the exchange failed.
pub type Error = rpc_http::EncodingError<crate::XmlRpc>;

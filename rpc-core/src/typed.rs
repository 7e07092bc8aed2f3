//! The typed path: what an encoding needs to serialise params and results straight to its wire format and to
//! decode them straight into the Rust types, without building a [`Value`](crate::Value) tree in between.
//!
//! The value tree is always there (echo, the CLI, introspection, and every case the typed path leaves to it);
//! the typed path is an optimisation with one rule: where it succeeds, it gives exactly what the value path
//! would ([`to_value`](crate::to_value) then the encoder; the decoder then [`from_value`](crate::from_value)).
//! Anything it does not handle (an error, an unusual shape) is handed back to the value path, which decides.

/// The key that marks a one-entry map as a [`DateTime`](crate::DateTime): a straight deserializer that meets a
/// datetime on the wire presents it to `deserialize_any` as the map `{DATETIME_MARKER: "<ISO 8601 text>"}`, as
/// [`Value`](crate::Value)'s own deserializer does, so that a [`Value`](crate::Value) rebuilt from it is a
/// datetime again.
pub const DATETIME_MARKER: &str = crate::value::DATETIME_MARKER;

/// The key that marks a one-entry map as an [`Ext`](crate::Ext): a straight deserializer presents an ext value to
/// `deserialize_any` as the map `{EXT_MARKER: [tag, bytes]}` (tag an integer, bytes a byte string), as
/// [`Value`](crate::Value)'s own deserializer does.
pub const EXT_MARKER: &str = crate::value::EXT_MARKER;

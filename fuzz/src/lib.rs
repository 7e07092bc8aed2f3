//! What the fuzz targets share.

use serde::Deserialize;

/// A struct with the shapes a handler's params take, for holding the typed path to the value path.
#[derive(Debug, PartialEq, Deserialize)]
pub struct Probe {
    a: Option<i64>,
    b: Vec<String>,
    c: Kind,
    #[serde(with = "serde_bytes")]
    d: Vec<u8>,
    e: (u8, f32),
}

/// An enum of every variant kind.
#[derive(Debug, PartialEq, Deserialize)]
pub enum Kind {
    /// A unit variant.
    A,
    /// A newtype variant.
    B(i32),
    /// A struct variant.
    C {
        /// A float.
        x: f64,
    },
}

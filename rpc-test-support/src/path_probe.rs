//! [`PathProbe`]: a string that remembers whether it was read straight from wire bytes or from a value.

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

/// A string param or result that tells which path read it: `borrowed` when it came straight from the wire bytes
/// (the typed path's deserializers borrow strings from the message), `false` when it came from a
/// `rpc_core::Value` (the value path hands over an owned `String`). Goes on the wire as a plain string.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PathProbe {
    /// The string.
    pub text: String,
    /// Read from borrowed wire bytes.
    pub borrowed: bool,
}

impl PathProbe {
    /// A probe to send.
    pub fn new(text: &str) -> PathProbe {
        PathProbe { text: text.to_owned(), borrowed: false }
    }
}

impl Serialize for PathProbe {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for PathProbe {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<PathProbe, D::Error> {
        struct Probe;
        impl<'de> Visitor<'de> for Probe {
            type Value = PathProbe;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, s: &'de str) -> Result<PathProbe, E> {
                Ok(PathProbe { text: s.to_owned(), borrowed: true })
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<PathProbe, E> {
                Ok(PathProbe { text: s.to_owned(), borrowed: true })
            }
            fn visit_string<E: de::Error>(self, s: String) -> Result<PathProbe, E> {
                Ok(PathProbe { text: s, borrowed: false })
            }
        }
        deserializer.deserialize_str(Probe)
    }
}

//! The value model: the union of what every encoding can carry.
//!
//! Every encoding (XML-RPC, MessagePack-RPC, JSON-RPC) decodes into a [`Value`] tree and encodes from one, and
//! [`to_value`](crate::to_value) / [`from_value`](crate::from_value) connect it to any serde type, much like
//! `serde_json::Value`.

use std::fmt;
use std::str::FromStr;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};

use crate::Error;

/// The serde newtype-struct name under which [`DateTime`] travels through serde.
///
/// A serializer that knows the name (the one behind [`to_value`](crate::to_value)) turns it back into
/// [`Value::DateTime`]; any other serializer sees a plain string such as `"19980717T14:08:55"`.
pub const DATETIME_STRUCT_NAME: &str = "$rpc_core::DateTime";

/// The serde newtype-struct name under which [`Ext`] travels through serde.
///
/// It is the name rmp-serde (the ecosystem's MessagePack serde crate) gives MessagePack extension types, so an
/// [`Ext`] inside a value that a user writes with rmp-serde is a real MessagePack ext, and one rmp-serde reads
/// from an ext is an [`Ext`] (`rpc-msgpack`'s tests hold both). It is the one name of an encoding in this crate,
/// kept for that: a name of our own would make rmp-serde write a `(tag, bytes)` tuple. Other serializers see that
/// tuple; an encoding's own serializer matches the name and writes the ext its way.
pub const EXT_STRUCT_NAME: &str = "_ExtStruct";

/// A dynamically typed value: what a param or a result looks like on any wire.
///
/// Integers keep their full 64-bit range in both signs: [`Value::Int`] holds every `i64`, and [`Value::UInt`]
/// the `u64` values above `i64::MAX` (conversions in this crate normalise to that; [`PartialEq`] compares the
/// two variants by number, so `Int(5) == UInt(5)` either way). Floats compare by bit pattern, so equality
/// means "the same on the wire": `NaN == NaN` and `0.0 != -0.0`.
#[derive(Clone, Debug, Default)]
pub enum Value {
    /// No value: XML-RPC `<nil/>`, MessagePack `nil`, JSON `null`.
    #[default]
    Nil,
    /// A boolean.
    Bool(bool),
    /// A signed integer (every `i64`).
    Int(i64),
    /// An unsigned integer; conversions in this crate only produce it above `i64::MAX`.
    UInt(u64),
    /// A 64-bit float.
    Float(f64),
    /// A UTF-8 string.
    String(String),
    /// A byte string: XML-RPC `<base64>`, MessagePack `bin`.
    Bytes(Vec<u8>),
    /// A date and time: XML-RPC `<dateTime.iso8601>`.
    DateTime(DateTime),
    /// An ordered sequence.
    Array(Vec<Value>),
    /// A map with insertion order and keys of any type.
    Map(Map),
    /// A MessagePack extension value, carried opaquely.
    Ext(Ext),
}

impl Value {
    /// The name of this value's kind, for error messages (`"nil"`, `"int"`, `"string"`, ...).
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Nil => "nil",
            Value::Bool(_) => "bool",
            Value::Int(_) | Value::UInt(_) => "int",
            Value::Float(_) => "float",
            Value::String(_) => "string",
            Value::Bytes(_) => "bytes",
            Value::DateTime(_) => "datetime",
            Value::Array(_) => "array",
            Value::Map(_) => "map",
            Value::Ext(_) => "ext",
        }
    }

    /// True for [`Value::Nil`].
    pub fn is_nil(&self) -> bool {
        matches!(self, Value::Nil)
    }

    /// The string, if this is a [`Value::String`].
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// The integer as `i64`, if this is an integer that fits.
    pub fn as_i64(&self) -> Option<i64> {
        match *self {
            Value::Int(i) => Some(i),
            Value::UInt(u) => i64::try_from(u).ok(),
            _ => None,
        }
    }

    /// The integer as `u64`, if this is an integer that fits.
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            Value::Int(i) => u64::try_from(i).ok(),
            Value::UInt(u) => Some(u),
            _ => None,
        }
    }

    /// The float, if this is a [`Value::Float`].
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            Value::Float(f) => Some(f),
            _ => None,
        }
    }

    /// The boolean, if this is a [`Value::Bool`].
    pub fn as_bool(&self) -> Option<bool> {
        match *self {
            Value::Bool(b) => Some(b),
            _ => None,
        }
    }

    /// The elements, if this is a [`Value::Array`].
    pub fn as_array(&self) -> Option<&[Value]> {
        match self {
            Value::Array(a) => Some(a),
            _ => None,
        }
    }

    /// The map, if this is a [`Value::Map`].
    pub fn as_map(&self) -> Option<&Map> {
        match self {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }

    /// The bytes, if this is a [`Value::Bytes`].
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Value::Bytes(b) => Some(b),
            _ => None,
        }
    }
}

impl PartialEq for Value {
    fn eq(&self, other: &Value) -> bool {
        match (self, other) {
            (Value::Nil, Value::Nil) => true,
            (Value::Bool(a), Value::Bool(b)) => a == b,
            (Value::Int(a), Value::Int(b)) => a == b,
            (Value::UInt(a), Value::UInt(b)) => a == b,
            (Value::Int(a), Value::UInt(b)) | (Value::UInt(b), Value::Int(a)) => u64::try_from(*a) == Ok(*b),
            (Value::Float(a), Value::Float(b)) => a.to_bits() == b.to_bits(),
            (Value::String(a), Value::String(b)) => a == b,
            (Value::Bytes(a), Value::Bytes(b)) => a == b,
            (Value::DateTime(a), Value::DateTime(b)) => a == b,
            (Value::Array(a), Value::Array(b)) => a == b,
            (Value::Map(a), Value::Map(b)) => a == b,
            (Value::Ext(a), Value::Ext(b)) => a == b,
            _ => false,
        }
    }
}

macro_rules! from_signed {
    ($($t:ty)*) => {$(
        impl From<$t> for Value {
            fn from(v: $t) -> Value {
                Value::Int(i64::from(v))
            }
        }
    )*};
}
from_signed!(i8 i16 i32 i64);

macro_rules! from_unsigned {
    ($($t:ty)*) => {$(
        impl From<$t> for Value {
            fn from(v: $t) -> Value {
                Value::from_u64(u64::from(v))
            }
        }
    )*};
}
from_unsigned!(u8 u16 u32 u64);

impl Value {
    /// An unsigned integer, as [`Value::Int`] when it fits in `i64` (the normal form) and [`Value::UInt`] above.
    pub fn from_u64(v: u64) -> Value {
        match i64::try_from(v) {
            Ok(i) => Value::Int(i),
            Err(_) => Value::UInt(v),
        }
    }
}

impl From<bool> for Value {
    fn from(v: bool) -> Value {
        Value::Bool(v)
    }
}

impl From<f64> for Value {
    fn from(v: f64) -> Value {
        Value::Float(v)
    }
}

impl From<f32> for Value {
    fn from(v: f32) -> Value {
        Value::Float(f64::from(v))
    }
}

impl From<&str> for Value {
    fn from(v: &str) -> Value {
        Value::String(v.to_owned())
    }
}

impl From<String> for Value {
    fn from(v: String) -> Value {
        Value::String(v)
    }
}

impl From<Vec<u8>> for Value {
    fn from(v: Vec<u8>) -> Value {
        Value::Bytes(v)
    }
}

impl From<Vec<Value>> for Value {
    fn from(v: Vec<Value>) -> Value {
        Value::Array(v)
    }
}

impl From<Map> for Value {
    fn from(v: Map) -> Value {
        Value::Map(v)
    }
}

impl From<DateTime> for Value {
    fn from(v: DateTime) -> Value {
        Value::DateTime(v)
    }
}

impl From<Ext> for Value {
    fn from(v: Ext) -> Value {
        Value::Ext(v)
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Value {
        v.map_or(Value::Nil, Into::into)
    }
}

/// An ordered map whose keys may be any [`Value`].
///
/// Entries keep the order in which they were added, which is the order they go out on the wire. Decoders
/// append with [`Map::push`] and keep duplicate keys as they arrived (looking a key up finds the last one, as
/// Python's `xmlrpc` does); [`Map::insert`] replaces an existing key in place.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Map {
    entries: Vec<(Value, Value)>,
}

impl Map {
    /// An empty map.
    pub fn new() -> Map {
        Map::default()
    }

    /// An empty map with room for `n` entries.
    pub fn with_capacity(n: usize) -> Map {
        Map { entries: Vec::with_capacity(n) }
    }

    /// The number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when the map has no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Appends an entry without looking for an existing key (what decoders do).
    pub fn push(&mut self, key: impl Into<Value>, value: impl Into<Value>) {
        self.entries.push((key.into(), value.into()));
    }

    /// Sets `key` to `value`, replacing the value of an existing key in place; returns the old value.
    pub fn insert(&mut self, key: impl Into<Value>, value: impl Into<Value>) -> Option<Value> {
        let key = key.into();
        let value = value.into();
        match self.entries.iter_mut().rev().find(|(k, _)| *k == key) {
            Some((_, slot)) => Some(std::mem::replace(slot, value)),
            None => {
                self.entries.push((key, value));
                None
            }
        }
    }

    /// The value of the last entry whose key equals `key`.
    pub fn get(&self, key: impl Into<Value>) -> Option<&Value> {
        let key = key.into();
        self.entries.iter().rev().find(|(k, _)| *k == key).map(|(_, v)| v)
    }

    /// The value of the last entry whose key is the string `key`.
    pub fn get_str(&self, key: &str) -> Option<&Value> {
        self.entries.iter().rev().find(|(k, _)| k.as_str() == Some(key)).map(|(_, v)| v)
    }

    /// The entries in order.
    pub fn iter(&self) -> std::slice::Iter<'_, (Value, Value)> {
        self.entries.iter()
    }

    /// The entries, by value.
    pub fn into_entries(self) -> Vec<(Value, Value)> {
        self.entries
    }
}

impl From<Vec<(Value, Value)>> for Map {
    fn from(entries: Vec<(Value, Value)>) -> Map {
        Map { entries }
    }
}

impl<K: Into<Value>, V: Into<Value>> FromIterator<(K, V)> for Map {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Map {
        Map { entries: iter.into_iter().map(|(k, v)| (k.into(), v.into())).collect() }
    }
}

impl IntoIterator for Map {
    type Item = (Value, Value);
    type IntoIter = std::vec::IntoIter<(Value, Value)>;
    fn into_iter(self) -> Self::IntoIter {
        self.entries.into_iter()
    }
}

impl<'a> IntoIterator for &'a Map {
    type Item = &'a (Value, Value);
    type IntoIter = std::slice::Iter<'a, (Value, Value)>;
    fn into_iter(self) -> Self::IntoIter {
        self.entries.iter()
    }
}

/// A calendar date and wall-clock time with one-second precision and no time zone, as XML-RPC's
/// `dateTime.iso8601` carries it.
///
/// Its text form is the spec's basic form `YYYYMMDDTHH:MM:SS` ([`Display`](fmt::Display)); [`FromStr`] also
/// reads the extended form `YYYY-MM-DDTHH:MM:SS`. As a param or result type it maps to the wire's datetime
/// type through serde (see [`DATETIME_STRUCT_NAME`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DateTime {
    year: u16,
    month: u8,
    day: u8,
    hour: u8,
    minute: u8,
    second: u8,
}

impl DateTime {
    /// A checked date and time: month 1-12, a day that exists in that month, hour 0-23, minute 0-59 and
    /// second 0-60 (a leap second); year 0-9999.
    pub fn new(year: u16, month: u8, day: u8, hour: u8, minute: u8, second: u8) -> Result<DateTime, Error> {
        let leap = (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400);
        let days_in_month = match month {
            1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
            4 | 6 | 9 | 11 => 30,
            2 if leap => 29,
            2 => 28,
            _ => 0,
        };
        if year > 9999 || day == 0 || day > days_in_month || hour > 23 || minute > 59 || second > 60 {
            return Err(Error::Decode(format!(
                "invalid date/time {year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}"
            )));
        }
        Ok(DateTime { year, month, day, hour, minute, second })
    }

    /// The year (0-9999).
    pub fn year(&self) -> u16 {
        self.year
    }
    /// The month (1-12).
    pub fn month(&self) -> u8 {
        self.month
    }
    /// The day of the month (1-31).
    pub fn day(&self) -> u8 {
        self.day
    }
    /// The hour (0-23).
    pub fn hour(&self) -> u8 {
        self.hour
    }
    /// The minute (0-59).
    pub fn minute(&self) -> u8 {
        self.minute
    }
    /// The second (0-60).
    pub fn second(&self) -> u8 {
        self.second
    }
}

impl fmt::Display for DateTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:04}{:02}{:02}T{:02}:{:02}:{:02}",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        )
    }
}

impl FromStr for DateTime {
    type Err = Error;

    /// Reads the spec's basic form `YYYYMMDDTHH:MM:SS` and, leniently, what real peers send: the extended date
    /// `YYYY-MM-DD`, a compact time `HHMMSS`, and a trailing fraction (`.123`) and zone (`Z`, `+02:00`,
    /// `-0500`). XML-RPC's datetime has neither, so the fraction and the zone are read and dropped: the wall-clock
    /// time is kept as written. Surrounding whitespace is ignored.
    fn from_str(s: &str) -> Result<DateTime, Error> {
        let bad = || Error::Decode(format!("invalid dateTime.iso8601 {s:?}: expected YYYYMMDDTHH:MM:SS"));
        let t = s.trim().as_bytes();
        let (date, time) = match t.iter().position(|&b| b == b'T') {
            Some(i) => (&t[..i], &t[i + 1..]),
            None => return Err(bad()),
        };
        let digits = |b: &[u8]| -> Option<u16> {
            if b.is_empty() || !b.iter().all(u8::is_ascii_digit) {
                return None;
            }
            b.iter().try_fold(0u16, |acc, &d| acc.checked_mul(10)?.checked_add(u16::from(d - b'0')))
        };
        let (y, mo, d) = match date.len() {
            8 => (&date[0..4], &date[4..6], &date[6..8]),
            10 if date[4] == b'-' && date[7] == b'-' => (&date[0..4], &date[5..7], &date[8..10]),
            _ => return Err(bad()),
        };
        let (h, mi, sec, rest) = if time.len() >= 8 && time[2] == b':' && time[5] == b':' {
            (&time[0..2], &time[3..5], &time[6..8], &time[8..])
        } else if time.len() >= 6 && time[..6].iter().all(u8::is_ascii_digit) {
            (&time[0..2], &time[2..4], &time[4..6], &time[6..])
        } else {
            return Err(bad());
        };
        // An optional fraction, then an optional zone; nothing else.
        let rest = match rest.first() {
            Some(b'.' | b',') => {
                let n = rest[1..].iter().take_while(|b| b.is_ascii_digit()).count();
                if n == 0 {
                    return Err(bad());
                }
                &rest[1 + n..]
            }
            _ => rest,
        };
        let zone_ok = match rest {
            [] | [b'Z' | b'z'] => true,
            [b'+' | b'-', zone @ ..] => match zone {
                [a, b] | [a, b, b':', _, _] | [a, b, _, _] => {
                    a.is_ascii_digit() && b.is_ascii_digit() && zone.iter().all(|c| c.is_ascii_digit() || *c == b':')
                }
                _ => false,
            },
            _ => false,
        };
        if !zone_ok {
            return Err(bad());
        }
        let num = |b: &[u8]| digits(b).ok_or_else(bad);
        let small = |b: &[u8]| -> Result<u8, Error> { u8::try_from(num(b)?).map_err(|_| bad()) };
        DateTime::new(num(y)?, small(mo)?, small(d)?, small(h)?, small(mi)?, small(sec)?).map_err(|_| bad())
    }
}

impl Serialize for DateTime {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_newtype_struct(DATETIME_STRUCT_NAME, &self.to_string())
    }
}

impl<'de> Deserialize<'de> for DateTime {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<DateTime, D::Error> {
        struct DateTimeVisitor;
        impl<'de> Visitor<'de> for DateTimeVisitor {
            type Value = DateTime;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a datetime")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<DateTime, E> {
                v.parse().map_err(E::custom)
            }
            fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<DateTime, D::Error> {
                d.deserialize_str(self)
            }
        }
        deserializer.deserialize_newtype_struct(DATETIME_STRUCT_NAME, DateTimeVisitor)
    }
}

/// A MessagePack extension value: an application-defined type tag and opaque bytes.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Ext {
    /// The extension type (negative values are reserved by the MessagePack spec, e.g. -1 for timestamps).
    pub tag: i8,
    /// The payload.
    pub data: Vec<u8>,
}

impl Ext {
    /// An extension value.
    pub fn new(tag: i8, data: impl Into<Vec<u8>>) -> Ext {
        Ext { tag, data: data.into() }
    }
}

impl Serialize for Ext {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_newtype_struct(EXT_STRUCT_NAME, &(self.tag, serde_bytes::Bytes::new(&self.data)))
    }
}

impl<'de> Deserialize<'de> for Ext {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Ext, D::Error> {
        #[derive(serde::Deserialize)]
        struct Raw(i8, serde_bytes::ByteBuf);
        struct ExtVisitor;
        impl<'de> Visitor<'de> for ExtVisitor {
            type Value = Ext;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an extension value (tag, bytes)")
            }
            fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<Ext, D::Error> {
                let Raw(tag, data) = Raw::deserialize(d)?;
                Ok(Ext { tag, data: data.into_vec() })
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Ext, A::Error> {
                let Raw(tag, data) = Raw::deserialize(de::value::SeqAccessDeserializer::new(seq))?;
                Ok(Ext { tag, data: data.into_vec() })
            }
        }
        deserializer.deserialize_newtype_struct(EXT_STRUCT_NAME, ExtVisitor)
    }
}

impl Serialize for Value {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Value::Nil => serializer.serialize_unit(),
            Value::Bool(b) => serializer.serialize_bool(*b),
            Value::Int(i) => serializer.serialize_i64(*i),
            Value::UInt(u) => serializer.serialize_u64(*u),
            Value::Float(f) => serializer.serialize_f64(*f),
            Value::String(s) => serializer.serialize_str(s),
            Value::Bytes(b) => serializer.serialize_bytes(b),
            Value::DateTime(d) => d.serialize(serializer),
            Value::Array(a) => {
                let mut seq = serializer.serialize_seq(Some(a.len()))?;
                for v in a {
                    seq.serialize_element(v)?;
                }
                seq.end()
            }
            Value::Map(m) => {
                let mut map = serializer.serialize_map(Some(m.len()))?;
                for (k, v) in m {
                    map.serialize_entry(k, v)?;
                }
                map.end()
            }
            Value::Ext(e) => e.serialize(serializer),
        }
    }
}

/// The key that marks a one-entry map as a [`DateTime`] or [`Ext`] when a [`Value`] is rebuilt from a
/// self-describing deserializer (the way `serde_json` marks raw values). The map must also say it has one entry
/// (`MapAccess::size_hint` of `Some(1)`): a deserializer presents a map whose first key is a marker without that
/// hint ([`encoding::unmarked`](crate::encoding::unmarked)), so that it reads back as the map it is.
pub(crate) const DATETIME_MARKER: &str = DATETIME_STRUCT_NAME;
pub(crate) const EXT_MARKER: &str = "$rpc_core::Ext";

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(ValueVisitor)
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Int(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from_u64(v))
    }
    fn visit_i128<E: de::Error>(self, v: i128) -> Result<Value, E> {
        if let Ok(i) = i64::try_from(v) {
            Ok(Value::Int(i))
        } else if let Ok(u) = u64::try_from(v) {
            Ok(Value::UInt(u))
        } else {
            Err(E::custom(format!("integer {v} is out of the 64-bit range")))
        }
    }
    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Value, E> {
        u64::try_from(v).map(Value::from_u64).map_err(|_| E::custom(format!("integer {v} is out of the 64-bit range")))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::Float(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_bytes<E>(self, v: &[u8]) -> Result<Value, E> {
        Ok(Value::Bytes(v.to_vec()))
    }
    fn visit_byte_buf<E>(self, v: Vec<u8>) -> Result<Value, E> {
        Ok(Value::Bytes(v))
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Nil)
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Nil)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        Value::deserialize(d)
    }
    fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        Value::deserialize(d)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        // Cap the pre-allocation: a size hint comes from the peer.
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
        while let Some(v) = seq.next_element()? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        // A datetime or an ext is presented as a one-entry marker map that says it has one entry; a map from the
        // wire whose first key happens to be a marker is presented without that hint, and stays a map.
        let hint = access.size_hint();
        let mut map = Map::with_capacity(hint.unwrap_or(0).min(4096));
        while let Some(key) = access.next_key::<Value>()? {
            if map.is_empty() && hint == Some(1) {
                match key.as_str() {
                    Some(DATETIME_MARKER) => {
                        let s: String = access.next_value()?;
                        return s.parse().map(Value::DateTime).map_err(de::Error::custom);
                    }
                    Some(EXT_MARKER) => {
                        let (tag, data): (i8, serde_bytes::ByteBuf) = access.next_value()?;
                        return Ok(Value::Ext(Ext { tag, data: data.into_vec() }));
                    }
                    _ => {}
                }
            }
            let value: Value = access.next_value()?;
            map.push(key, value);
        }
        Ok(Value::Map(map))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ints_compare_by_number() {
        assert_eq!(Value::Int(5), Value::UInt(5));
        assert_ne!(Value::Int(-1), Value::UInt(u64::MAX));
        assert_eq!(Value::from(u64::MAX), Value::UInt(u64::MAX));
        assert_eq!(Value::from(7u64), Value::Int(7));
    }

    #[test]
    fn floats_compare_by_bits() {
        assert_eq!(Value::Float(f64::NAN), Value::Float(f64::NAN));
        assert_ne!(Value::Float(0.0), Value::Float(-0.0));
    }

    #[test]
    fn map_keeps_order_and_replaces_in_place() {
        let mut m = Map::new();
        m.insert("b", 1);
        m.insert("a", 2);
        assert_eq!(m.insert("b", 3), Some(Value::Int(1)));
        let keys: Vec<_> = m.iter().map(|(k, _)| k.as_str().unwrap_or_default().to_owned()).collect();
        assert_eq!(keys, ["b", "a"]);
        assert_eq!(m.get_str("b"), Some(&Value::Int(3)));
        m.push(1, "int key");
        assert_eq!(m.get(1), Some(&Value::from("int key")));
    }

    #[test]
    fn datetime_text_forms() {
        let d: DateTime = "19980717T14:08:55".parse().unwrap();
        assert_eq!((d.year(), d.month(), d.day(), d.hour(), d.minute(), d.second()), (1998, 7, 17, 14, 8, 55));
        assert_eq!(d.to_string(), "19980717T14:08:55");
        for lenient in [
            "1998-07-17T14:08:55",
            " 19980717T14:08:55 ",
            "19980717T140855",
            "1998-07-17T14:08:55Z",
            "19980717T14:08:55.123",
            "1998-07-17T14:08:55.5+02:00",
            "19980717T14:08:55-0500",
            "19980717T14:08:55+01",
        ] {
            assert_eq!(lenient.parse::<DateTime>().unwrap(), d, "{lenient}");
        }
        for bad in ["", "19980717", "19981317T14:08:55", "19980230T00:00:00", "1998071xT14:08:55", "19980717T24:00:00"]
        {
            assert!(bad.parse::<DateTime>().is_err(), "{bad} should not parse");
        }
        assert!("20000229T00:00:00".parse::<DateTime>().is_ok());
        assert!("19000229T00:00:00".parse::<DateTime>().is_err());
    }
}

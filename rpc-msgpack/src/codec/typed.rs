//! The MessagePack codec's serde implementation, the one path between bytes and data: any `T: Serialize`
//! straight to MessagePack bytes ([`to_writer`], [`Serializer`]) and MessagePack bytes straight into any
//! `T: Deserialize` ([`from_slice`], [`Deserializer`]), with [`Value`] an ordinary serde type through them
//! ([`encode_value`](super::encode_value) and the [`Codec`](super::Codec) are these with `Value` as the type);
//! and the envelopes of messages read in place ([`request_parts`], [`response_parts`], [`array_items`]), so that
//! params and results can be handed to a handler or caller as raw bytes.
//!
//! Typed data and its [`Value`] agree, as [`rpc_core::encoding`] asks:
//!
//! - Serializing: the bytes [`to_writer`] appends for any value are the bytes it appends for
//!   [`to_value`](rpc_core::to_value) of it, and for a [`Value`] they are the bytes rmp-serde writes.
//! - Deserializing: if [`from_slice`] returns `Ok(t)`, then [`from_value`](rpc_core::from_value) on the
//!   [`Value`] it reads from the same bytes returns an equal `t`. The deserializer calls the visitor as the
//!   [`Value`] deserializer of `rpc_core` would (integers as `visit_i64` where a [`Value::Int`] is read and
//!   `visit_u64` where a [`Value::UInt`] is, a str that is not UTF-8 as bytes, an ext as the marker map
//!   `{EXT_MARKER: [tag, bytes]}`, a map from the wire whose first key is a marker without its size hint, ...),
//!   borrowing strings and byte strings from the input where it can.
//!
//! What it refuses is rare: nesting deeper than its limits, visitors that leave part of a value unread, and
//! errors that a `Serialize` or `Deserialize` impl swallows and goes on from (the bytes after one are not read
//! reliably).
//!
//! Errors are this crate's [`Error`]: [`Error::Encode`] for what cannot be serialized,
//! [`Error::Malformed`] for bytes that are not one complete MessagePack object, [`Error::TooDeep`] for nesting
//! beyond the limit, and [`Error::Invalid`] (without an id) for MessagePack that does not fit the type asked
//! for (serde's `custom` errors).

use std::fmt;
use std::str;

use bytes::{BufMut, BytesMut};
use rpc_core::encoding::{DATETIME_MARKER, EXT_MARKER};
use rpc_core::encoding::{EXT_STRUCT_NAME, Marked, WireSerializer};
use rpc_core::{Ext, Value};
use serde::de::value::{BorrowedStrDeserializer, SeqDeserializer};
use serde::de::{self, DeserializeSeed, EnumAccess, MapAccess, SeqAccess, Unexpected, VariantAccess, Visitor};
use serde::ser::{self, Serialize};

use super::check_len;
use crate::Error;

/// How deeply a value may nest while it is serialized (arrays, maps, structs, variants, `Some` and newtype
/// structs each count one level): deeper values are refused with [`Error::Encode`].
pub const MAX_SERIALIZE_DEPTH: usize = 512;

/// How many `Option`s and newtype structs may wrap one another inside one array or map while a value is
/// deserialized (a recursive type could otherwise recurse without reading a byte).
const MAX_WRAPPERS: usize = 32;

/// The byte of nil.
pub(crate) const NIL: u8 = 0xc0;

impl ser::Error for Error {
    fn custom<T: fmt::Display>(msg: T) -> Error {
        Error::Encode(msg.to_string())
    }
}

impl de::Error for Error {
    fn custom<T: fmt::Display>(msg: T) -> Error {
        Error::Invalid { id: None, reason: msg.to_string() }
    }
}

/// An error of `rpc_core` (from [`to_value`](rpc_core::to_value) or a [`Value`] deserializer) as this crate's.
fn encode_error(e: rpc_core::Error) -> Error {
    match e {
        rpc_core::Error::Encode(m) | rpc_core::Error::Decode(m) => Error::Encode(m),
        other => Error::Encode(other.to_string()),
    }
}

fn decode_error(e: rpc_core::Error) -> Error {
    match e {
        rpc_core::Error::Decode(reason) | rpc_core::Error::Encode(reason) => Error::Invalid { id: None, reason },
        other => Error::Invalid { id: None, reason: other.to_string() },
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Writing
// ---------------------------------------------------------------------------------------------------------------

/// Writes an unsigned integer in its smallest form, as `rmp::encode::write_uint` does.
#[inline]
pub(crate) fn put_uint(dst: &mut BytesMut, v: u64) {
    if v < 128 {
        dst.put_u8(v as u8);
    } else if v < 256 {
        dst.put_slice(&[0xcc, v as u8]);
    } else if v < 65536 {
        dst.put_u8(0xcd);
        dst.put_u16(v as u16);
    } else if v < 1 << 32 {
        dst.put_u8(0xce);
        dst.put_u32(v as u32);
    } else {
        dst.put_u8(0xcf);
        dst.put_u64(v);
    }
}

/// Writes a signed integer in its smallest form, as `rmp::encode::write_sint` does (non-negative numbers as
/// unsigned ones).
#[inline]
fn put_sint(dst: &mut BytesMut, v: i64) {
    if v >= 0 {
        put_uint(dst, v as u64);
    } else if v >= -32 {
        dst.put_u8(v as u8);
    } else if v >= -128 {
        dst.put_slice(&[0xd0, v as u8]);
    } else if v >= -32768 {
        dst.put_u8(0xd1);
        dst.put_i16(v as i16);
    } else if v >= -(1 << 31) {
        dst.put_u8(0xd2);
        dst.put_i32(v as i32);
    } else {
        dst.put_u8(0xd3);
        dst.put_i64(v);
    }
}

/// Writes a str header and the bytes, as `rmp::encode::write_str` does.
#[inline]
pub(crate) fn put_str(dst: &mut BytesMut, s: &str) -> Result<(), Error> {
    let len = check_len(s.len(), "string")?;
    if len < 32 {
        dst.put_u8(0xa0 | len as u8);
    } else if len < 256 {
        dst.put_slice(&[0xd9, len as u8]);
    } else if len < 65536 {
        dst.put_u8(0xda);
        dst.put_u16(len as u16);
    } else {
        dst.put_u8(0xdb);
        dst.put_u32(len);
    }
    dst.put_slice(s.as_bytes());
    Ok(())
}

/// Writes a bin header and the bytes, as `rmp::encode::write_bin` does.
fn put_bin(dst: &mut BytesMut, b: &[u8]) -> Result<(), Error> {
    let len = check_len(b.len(), "byte string")?;
    if len < 256 {
        dst.put_slice(&[0xc4, len as u8]);
    } else if len < 65536 {
        dst.put_u8(0xc5);
        dst.put_u16(len as u16);
    } else {
        dst.put_u8(0xc6);
        dst.put_u32(len);
    }
    dst.put_slice(b);
    Ok(())
}

/// Writes an ext, as `rmp::encode::write_ext_meta` and the data.
fn put_ext(dst: &mut BytesMut, tag: i8, data: &[u8]) -> Result<(), Error> {
    let len = check_len(data.len(), "ext value")?;
    match len {
        1 => dst.put_u8(0xd4),
        2 => dst.put_u8(0xd5),
        4 => dst.put_u8(0xd6),
        8 => dst.put_u8(0xd7),
        16 => dst.put_u8(0xd8),
        0..=255 => dst.put_slice(&[0xc7, len as u8]),
        256..=65535 => {
            dst.put_u8(0xc8);
            dst.put_u16(len as u16);
        }
        _ => {
            dst.put_u8(0xc9);
            dst.put_u32(len);
        }
    }
    dst.put_i8(tag);
    dst.put_slice(data);
    Ok(())
}

/// The header of an array or map of `len` items (entries), as `rmp::encode::write_array_len` / `write_map_len`
/// write it: its bytes and how many there are.
#[inline]
pub(crate) fn container_header(map: bool, len: u32) -> ([u8; 5], usize) {
    let (fix, sixteen, wide) = if map { (0x80, 0xde, 0xdf) } else { (0x90, 0xdc, 0xdd) };
    let mut out = [0; 5];
    if len < 16 {
        out[0] = fix | len as u8;
        (out, 1)
    } else if len < 65536 {
        out[0] = sixteen;
        out[1..3].copy_from_slice(&(len as u16).to_be_bytes());
        (out, 3)
    } else {
        out[0] = wide;
        out[1..5].copy_from_slice(&len.to_be_bytes());
        (out, 5)
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Serializing
// ---------------------------------------------------------------------------------------------------------------

/// Serializes `value` as MessagePack at the end of `dst`: the bytes it writes for
/// [`to_value`](rpc_core::to_value) of it, without building the [`Value`].
///
/// # Errors
/// An integer beyond 64 bits, a datetime or ext that does not serialize as one, a string, byte string or
/// collection of 2^32 items or more, a `Serialize` impl's own error, nesting beyond [`MAX_SERIALIZE_DEPTH`], a
/// map given two keys in a row or a key without a value, an error a `Serialize` impl swallowed: `dst` is then as
/// it was.
///
/// ```
/// use bytes::BytesMut;
/// use rpc_msgpack::codec::{encode_value, typed};
///
/// #[derive(serde::Serialize)]
/// struct Point { x: i32, y: i32 }
///
/// let mut typed_bytes = BytesMut::new();
/// typed::to_writer(&Point { x: 1, y: -2 }, &mut typed_bytes).unwrap();
/// assert_eq!(&typed_bytes[..], [0x82, 0xa1, b'x', 0x01, 0xa1, b'y', 0xfe]);
/// let mut value_bytes = BytesMut::new();
/// encode_value(&rpc_core::to_value(&Point { x: 1, y: -2 }).unwrap(), &mut value_bytes).unwrap();
/// assert_eq!(typed_bytes, value_bytes);
/// ```
pub fn to_writer<T: Serialize + ?Sized>(value: &T, dst: &mut BytesMut) -> Result<(), Error> {
    let mut serializer = Serializer::new(dst);
    let result = value.serialize(&mut serializer);
    serializer.finish(result)
}

/// The serializer behind [`to_writer`]: a plain serde [`Serializer`](ser::Serializer) (implemented for
/// `&mut Serializer`) that appends MessagePack to a [`BytesMut`].
///
/// Used directly (through `erased_serde`, say), hand the outcome of the serialization to
/// [`finish`](Serializer::finish), which also catches errors that a `Serialize` impl swallowed and puts `dst`
/// back as it was on any error. A serializer is for one value.
///
/// Sequences and maps of unknown length (`serialize_seq(None)`, `serialize_map(None)`, as `#[serde(flatten)]`
/// asks for) are counted as they are written: a header is written for no items, and once the count is known it
/// is rewritten in place (moving the items when the header grows), so the bytes are those of the same value with its length known.
/// The same goes for a declared length that the items do not match (structs whose fields are skipped by
/// `skip_serializing_if` declare the right length already).
#[derive(Debug)]
pub struct Serializer<'a> {
    dst: &'a mut BytesMut,
    /// `dst.len()` when the serializer was made: where to cut back to on an error.
    start: usize,
    /// Levels open (containers, variants, `Some`, newtype structs).
    depth: usize,
    /// An error was raised: whatever happens next, the output is not used.
    failed: bool,
}

impl<'a> Serializer<'a> {
    /// A serializer appending to `dst`.
    pub fn new(dst: &'a mut BytesMut) -> Serializer<'a> {
        let start = dst.len();
        Serializer { dst, start, depth: 0, failed: false }
    }

    /// Ends the serialization, given what `serialize` returned: `Ok` if it succeeded and no error was raised on
    /// the way (one that a `Serialize` impl swallowed counts too); otherwise `dst` is cut back to its length
    /// when the serializer was made, and the error returned.
    ///
    /// # Errors
    /// `result`'s error, or [`Error::Encode`] for an error swallowed on the way.
    pub fn finish(self, result: Result<(), Error>) -> Result<(), Error> {
        match result {
            Ok(()) if !self.failed => Ok(()),
            Ok(()) => {
                self.dst.truncate(self.start);
                Err(Error::Encode("an error raised while serializing was ignored".into()))
            }
            Err(e) => {
                self.dst.truncate(self.start);
                Err(e)
            }
        }
    }

    /// Marks the serialization as failed and returns `e`.
    fn fail(&mut self, e: Error) -> Error {
        self.failed = true;
        e
    }

    fn put_str(&mut self, s: &str) -> Result<(), Error> {
        put_str(self.dst, s).map_err(|e| self.fail(e))
    }

    /// Serializes `value` one level down (a `Some` or a newtype).
    fn nested<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        self.open()?;
        let result = value.serialize(&mut *self);
        self.depth -= 1;
        result.map_err(|e| self.fail(e))
    }

    /// Serializes an item of a container (already opened).
    fn item<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        value.serialize(&mut *self).map_err(|e| self.fail(e))
    }

    fn open(&mut self) -> Result<(), Error> {
        if self.depth >= MAX_SERIALIZE_DEPTH {
            return Err(self.fail(Error::Encode(format!("a value nesting deeper than {MAX_SERIALIZE_DEPTH} levels"))));
        }
        self.depth += 1;
        Ok(())
    }

    /// Opens an array or map of `len` items (entries), unknown (`None`) until its end.
    fn begin<'s>(&'s mut self, map: bool, len: Option<usize>) -> Result<Compound<'s, 'a>, Error> {
        self.open()?;
        let declared = len.unwrap_or(0);
        let header_len = match u32::try_from(declared) {
            Ok(n) => {
                let (header, header_len) = container_header(map, n);
                self.dst.put_slice(&header[..header_len]);
                header_len
            }
            Err(_) => {
                let what = if map { "map" } else { "array" };
                return Err(
                    self.fail(Error::Encode(format!("a {what} of {declared} items is over MessagePack's 2^32 - 1")))
                );
            }
        };
        let at = self.dst.len() - header_len;
        Ok(Compound { ser: self, at, header_len, map, declared, count: 0, key: false })
    }

    /// Writes the one-entry map `{variant: ...}` that a variant with data is, up to its value.
    fn variant(&mut self, variant: &str) -> Result<(), Error> {
        self.dst.put_u8(0x81);
        self.put_str(variant)
    }
}

/// An array or map being written by a [`Serializer`]: the `Serialize*` types of `&mut Serializer`.
#[derive(Debug)]
pub struct Compound<'s, 'a> {
    ser: &'s mut Serializer<'a>,
    /// Where its header starts in `dst`, and how long it is.
    at: usize,
    header_len: usize,
    map: bool,
    /// The length the header was written with, and the items (entries) written.
    declared: usize,
    count: usize,
    /// A map key has been written, its value not yet.
    key: bool,
}

impl Compound<'_, '_> {
    fn element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        self.ser.item(value)?;
        self.count += 1;
        Ok(())
    }

    fn field<T: Serialize + ?Sized>(&mut self, key: &str, value: &T) -> Result<(), Error> {
        self.ser.put_str(key)?;
        self.element(value)
    }

    fn key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Error> {
        if self.key {
            // `to_value` would drop the first key: refused rather than mirrored.
            return Err(self.ser.fail(Error::Encode("a map key after a key".into())));
        }
        self.ser.item(key)?;
        self.key = true;
        Ok(())
    }

    fn value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        if !self.key {
            return Err(self.ser.fail(Error::Encode("map value without a key".into())));
        }
        self.key = false;
        self.element(value)
    }

    fn end_seq(self) -> Result<(), Error> {
        self.end()
    }

    fn end_map(self) -> Result<(), Error> {
        self.end()
    }

    /// Closes the container: rewrites its header if the count is not the one it was written with.
    fn end(self) -> Result<(), Error> {
        let ser = self.ser;
        ser.depth -= 1;
        if self.key {
            return Err(ser.fail(Error::Encode("a map key without a value".into())));
        }
        if self.count == self.declared {
            return Ok(());
        }
        let Ok(count) = u32::try_from(self.count) else {
            let what = if self.map { "map" } else { "array" };
            return Err(
                ser.fail(Error::Encode(format!("a {what} of {} items is over MessagePack's 2^32 - 1", self.count)))
            );
        };
        let (header, new_len) = container_header(self.map, count);
        let (at, old_len) = (self.at, self.header_len);
        let end = ser.dst.len();
        if new_len > old_len {
            ser.dst.resize(end + new_len - old_len, 0);
            ser.dst.copy_within(at + old_len..end, at + new_len);
        } else if new_len < old_len {
            ser.dst.copy_within(at + old_len..end, at + new_len);
            ser.dst.truncate(end - (old_len - new_len));
        }
        ser.dst[at..at + new_len].copy_from_slice(&header[..new_len]);
        Ok(())
    }
}

impl<'s, 'a> WireSerializer for &'s mut Serializer<'a> {
    type Ok = ();
    type Error = Error;
    type Compound = Compound<'s, 'a>;

    fn nil(self) -> Result<(), Error> {
        self.dst.put_u8(NIL);
        Ok(())
    }
    fn boolean(self, v: bool) -> Result<(), Error> {
        self.dst.put_u8(if v { 0xc3 } else { 0xc2 });
        Ok(())
    }
    // Integers in their smallest form (`Value::from_u64` makes an `Int` up to `i64::MAX` and a `UInt` above; both
    // go out alike).
    fn int(self, v: i64) -> Result<(), Error> {
        put_sint(self.dst, v);
        Ok(())
    }
    fn uint(self, v: u64) -> Result<(), Error> {
        put_uint(self.dst, v);
        Ok(())
    }
    fn float(self, v: f64) -> Result<(), Error> {
        self.dst.put_u8(0xcb);
        self.dst.put_f64(v);
        Ok(())
    }
    fn string(self, v: &str) -> Result<(), Error> {
        self.put_str(v)
    }
    fn bytes(self, v: &[u8]) -> Result<(), Error> {
        put_bin(self.dst, v).map_err(|e| self.fail(e))
    }
    fn marked(self, v: Marked) -> Result<(), Error> {
        match v {
            // A `Value::DateTime` goes out as its text.
            Marked::DateTime(d) => put_str(self.dst, &d.to_string()),
            Marked::Ext(e) => put_ext(self.dst, e.tag, &e.data),
        }
        .map_err(|e| self.fail(e))
    }
    fn inner<T: Serialize + ?Sized>(self, value: &T) -> Result<(), Error> {
        self.nested(value)
    }
    fn newtype_variant<T: Serialize + ?Sized>(self, variant: &'static str, value: &T) -> Result<(), Error> {
        self.variant(variant)?;
        self.nested(value)
    }
    fn seq(self, len: Option<usize>) -> Result<Compound<'s, 'a>, Error> {
        self.begin(false, len)
    }
    fn tuple_variant(self, variant: &'static str, len: usize) -> Result<Compound<'s, 'a>, Error> {
        self.variant(variant)?;
        self.begin(false, Some(len))
    }
    fn map(self, len: Option<usize>) -> Result<Compound<'s, 'a>, Error> {
        self.begin(true, len)
    }
    fn struct_variant(self, variant: &'static str, len: usize) -> Result<Compound<'s, 'a>, Error> {
        self.variant(variant)?;
        self.begin(true, Some(len))
    }
    fn refuse(self, error: rpc_core::Error) -> Error {
        self.fail(encode_error(error))
    }
}

rpc_core::wire_serializer!(['s, 'a] &'s mut Serializer<'a>);
rpc_core::serialize_compound!(Compound<'_, '_>, Error);

// ---------------------------------------------------------------------------------------------------------------
// Deserializing
// ---------------------------------------------------------------------------------------------------------------

/// Deserializes a `T` from `bytes`, which must hold exactly one complete MessagePack object, nesting arrays and
/// maps at most `max_depth` deep (the [`Codec`](super::Codec)'s limit; below 1 is taken as 1).
///
/// # Errors
/// Bytes that are not one complete object ([`Error::Malformed`]: truncated, the reserved byte 0xc1, bytes left
/// after it), nesting beyond `max_depth` ([`Error::TooDeep`]), an object that does not fit `T` (what
/// [`from_value`](rpc_core::from_value) would say too, as [`Error::Invalid`]), and the rare refusals of the
/// [module docs](self).
///
/// ```
/// use bytes::BytesMut;
/// use rpc_msgpack::codec::typed;
///
/// #[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
/// struct Point { x: i32, y: i32 }
///
/// let mut bytes = BytesMut::new();
/// typed::to_writer(&Point { x: 1, y: -2 }, &mut bytes).unwrap();
/// assert_eq!(typed::from_slice::<Point>(&bytes, 64).unwrap(), Point { x: 1, y: -2 });
/// assert!(typed::from_slice::<Point>(&bytes[..bytes.len() - 1], 64).is_err());
/// ```
pub fn from_slice<'de, T: de::Deserialize<'de>>(bytes: &'de [u8], max_depth: usize) -> Result<T, Error> {
    let mut deserializer = Deserializer::new(bytes, max_depth);
    let value = T::deserialize(&mut deserializer)?;
    deserializer.end()?;
    Ok(value)
}

/// The deserializer behind [`from_slice`]: a plain serde [`Deserializer`](de::Deserializer) (implemented for
/// `&mut Deserializer`) over the bytes of one MessagePack object, borrowing strings and byte strings from them.
///
/// Every declared length is checked against the bytes left before anything is read or allocated for it, arrays
/// and maps nest at most `max_depth` deep, and nothing recurses without a bound. Used directly, call
/// [`end`](Deserializer::end) once the value is read: it fails if bytes are left, or if an error was raised on
/// the way that a `Deserialize` impl swallowed.
#[derive(Debug)]
pub struct Deserializer<'de> {
    /// The bytes not read yet.
    buf: &'de [u8],
    max_depth: usize,
    /// Levels of arrays and maps that may still open.
    depth_left: usize,
    /// `Option`s and newtype structs that may still wrap one another inside the innermost container.
    wrappers_left: usize,
    /// An error was raised: whatever a visitor makes of it, the result is not used.
    failed: bool,
    /// The value of the innermost enum given as a one-entry map has been read.
    variant_done: bool,
}

/// One item as read: a whole scalar, or the header of an array or map (entries, not items) whose items follow.
#[derive(Clone, Copy, Debug)]
enum Tok<'de> {
    Nil,
    Bool(bool),
    /// A signed int, or a positive fixint: `Value::Int`.
    Int(i64),
    /// An unsigned int of 8 to 64 bits: `Value::from_u64`.
    UInt(u64),
    /// A float 32 (widened) or 64.
    Float(f64),
    /// A str, UTF-8 or not (not checked yet).
    Str(&'de [u8]),
    Bin(&'de [u8]),
    Ext(i8, &'de [u8]),
    Array(usize),
    Map(usize),
}

impl<'de> Tok<'de> {
    fn unexpected(self) -> Unexpected<'de> {
        match self {
            Tok::Nil => Unexpected::Unit,
            Tok::Bool(b) => Unexpected::Bool(b),
            Tok::Int(i) => Unexpected::Signed(i),
            Tok::UInt(u) => match i64::try_from(u) {
                Ok(i) => Unexpected::Signed(i),
                Err(_) => Unexpected::Unsigned(u),
            },
            Tok::Float(f) => Unexpected::Float(f),
            Tok::Str(b) => match str::from_utf8(b) {
                Ok(s) => Unexpected::Str(s),
                Err(_) => Unexpected::Bytes(b),
            },
            Tok::Bin(b) => Unexpected::Bytes(b),
            Tok::Ext(..) => Unexpected::Other("ext"),
            Tok::Array(_) => Unexpected::Seq,
            Tok::Map(_) => Unexpected::Map,
        }
    }

    /// The integer as `Value::as_u64` reads it.
    fn as_u64(self) -> Option<u64> {
        match self {
            Tok::Int(i) => u64::try_from(i).ok(),
            Tok::UInt(u) => Some(u),
            _ => None,
        }
    }
}

fn short() -> Error {
    Error::Malformed("unexpected end of a message".into())
}

fn ignored() -> Error {
    Error::Invalid { id: None, reason: "an error raised while deserializing was ignored".into() }
}

/// A refusal: a visitor that reads in a way the bytes cannot be read reliably after.
fn refused(why: &str) -> Error {
    Error::Invalid { id: None, reason: why.to_owned() }
}

impl<'de> Deserializer<'de> {
    /// A deserializer over `bytes`, one complete MessagePack object, with the depth limit `max_depth` on arrays
    /// and maps (below 1 is taken as 1, as [`Codec::new`](super::Codec::new) does).
    pub fn new(bytes: &'de [u8], max_depth: usize) -> Deserializer<'de> {
        let max_depth = max_depth.max(1);
        Deserializer {
            buf: bytes,
            max_depth,
            depth_left: max_depth,
            wrappers_left: MAX_WRAPPERS,
            failed: false,
            variant_done: false,
        }
    }

    /// Checks that the object has been read whole and well: no bytes left, and no error raised on the way (one
    /// that a `Deserialize` impl swallowed and went on from).
    ///
    /// # Errors
    /// [`Error::Malformed`] for bytes left, [`Error::Invalid`] for an ignored error.
    pub fn end(&self) -> Result<(), Error> {
        if self.failed {
            Err(ignored())
        } else if !self.buf.is_empty() {
            Err(Error::Malformed(format!("{} bytes left after the object", self.buf.len())))
        } else {
            Ok(())
        }
    }

    #[inline]
    fn take(&mut self, n: usize) -> Result<&'de [u8], Error> {
        let (taken, rest) = self.buf.split_at_checked(n).ok_or_else(short)?;
        self.buf = rest;
        Ok(taken)
    }

    #[inline]
    fn fixed<const N: usize>(&mut self) -> Result<[u8; N], Error> {
        let (taken, rest) = self.buf.split_first_chunk::<N>().ok_or_else(short)?;
        self.buf = rest;
        Ok(*taken)
    }

    #[inline]
    fn len8(&mut self) -> Result<usize, Error> {
        self.fixed::<1>().map(|[n]| usize::from(n))
    }

    #[inline]
    fn len16(&mut self) -> Result<usize, Error> {
        self.fixed().map(|b| usize::from(u16::from_be_bytes(b)))
    }

    #[inline]
    fn len32(&mut self) -> Result<usize, Error> {
        let n = u32::from_be_bytes(self.fixed()?);
        usize::try_from(n).map_err(|_| Error::Malformed(format!("length {n} does not fit in memory")))
    }

    fn ext(&mut self, len: usize) -> Result<Tok<'de>, Error> {
        let [tag] = self.fixed::<1>()?;
        Ok(Tok::Ext(tag as i8, self.take(len)?))
    }

    /// An array header of `len` items: each takes at least a byte, so a count beyond the bytes left is refused.
    #[inline]
    fn array(&self, len: usize) -> Result<Tok<'de>, Error> {
        if len > self.buf.len() {
            return Err(Error::Malformed(format!("an array of {len} items in {} bytes", self.buf.len())));
        }
        Ok(Tok::Array(len))
    }

    #[inline]
    fn map(&self, len: usize) -> Result<Tok<'de>, Error> {
        if len.saturating_mul(2) > self.buf.len() {
            return Err(Error::Malformed(format!("a map of {len} entries in {} bytes", self.buf.len())));
        }
        Ok(Tok::Map(len))
    }

    /// Reads the next item, as the codec's `Reader` does.
    #[inline(always)]
    fn tok(&mut self) -> Result<Tok<'de>, Error> {
        let (&marker, rest) = self.buf.split_first().ok_or_else(short)?;
        self.buf = rest;
        Ok(match marker {
            0x00..=0x7f => Tok::Int(i64::from(marker)),
            0x80..=0x8f => return self.map(usize::from(marker & 0x0f)),
            0x90..=0x9f => return self.array(usize::from(marker & 0x0f)),
            0xa0..=0xbf => Tok::Str(self.take(usize::from(marker & 0x1f))?),
            0xc0 => Tok::Nil,
            0xc1 => return Err(Error::Malformed("the reserved byte 0xc1".into())),
            0xc2 => Tok::Bool(false),
            0xc3 => Tok::Bool(true),
            0xc4 => Tok::Bin(self.len8().and_then(|n| self.take(n))?),
            0xc5 => Tok::Bin(self.len16().and_then(|n| self.take(n))?),
            0xc6 => Tok::Bin(self.len32().and_then(|n| self.take(n))?),
            0xc7 => return self.len8().and_then(|n| self.ext(n)),
            0xc8 => return self.len16().and_then(|n| self.ext(n)),
            0xc9 => return self.len32().and_then(|n| self.ext(n)),
            0xca => Tok::Float(f64::from(f32::from_be_bytes(self.fixed()?))),
            0xcb => Tok::Float(f64::from_be_bytes(self.fixed()?)),
            0xcc => Tok::UInt(u64::from(u8::from_be_bytes(self.fixed()?))),
            0xcd => Tok::UInt(u64::from(u16::from_be_bytes(self.fixed()?))),
            0xce => Tok::UInt(u64::from(u32::from_be_bytes(self.fixed()?))),
            0xcf => Tok::UInt(u64::from_be_bytes(self.fixed()?)),
            0xd0 => Tok::Int(i64::from(i8::from_be_bytes(self.fixed()?))),
            0xd1 => Tok::Int(i64::from(i16::from_be_bytes(self.fixed()?))),
            0xd2 => Tok::Int(i64::from(i32::from_be_bytes(self.fixed()?))),
            0xd3 => Tok::Int(i64::from_be_bytes(self.fixed()?)),
            0xd4 => return self.ext(1),
            0xd5 => return self.ext(2),
            0xd6 => return self.ext(4),
            0xd7 => return self.ext(8),
            0xd8 => return self.ext(16),
            0xd9 => Tok::Str(self.len8().and_then(|n| self.take(n))?),
            0xda => Tok::Str(self.len16().and_then(|n| self.take(n))?),
            0xdb => Tok::Str(self.len32().and_then(|n| self.take(n))?),
            0xdc => return self.len16().and_then(|n| self.array(n)),
            0xdd => return self.len32().and_then(|n| self.array(n)),
            0xde => return self.len16().and_then(|n| self.map(n)),
            0xdf => return self.len32().and_then(|n| self.map(n)),
            0xe0..=0xff => Tok::Int(i64::from(marker as i8)),
        })
    }

    /// Skips one whole object, without recursion.
    fn skip(&mut self) -> Result<(), Error> {
        let mut left: usize = 1;
        while left > 0 {
            left -= 1;
            match self.tok()? {
                Tok::Array(n) => left = left.saturating_add(n),
                Tok::Map(n) => left = left.saturating_add(n.saturating_mul(2)),
                _ => {}
            }
        }
        Ok(())
    }

    /// The bytes of the next whole object, skipped.
    fn raw(&mut self) -> Result<&'de [u8], Error> {
        let start = self.buf;
        self.skip()?;
        Ok(&start[..start.len() - self.buf.len()])
    }

    /// Notes an error (the result is then not used, whatever a visitor makes of it).
    #[inline]
    fn checked<T>(&mut self, result: Result<T, Error>) -> Result<T, Error> {
        if result.is_err() {
            self.failed = true;
        }
        result
    }

    /// Hands the deserializer to a seed or visitor that must read exactly one object with it: it must read
    /// something (any call of a `deserialize_*` method reads exactly one object, or fails).
    #[inline]
    fn handoff<T>(&mut self, f: impl FnOnce(&mut Deserializer<'de>) -> Result<T, Error>) -> Result<T, Error> {
        if self.failed {
            return Err(ignored());
        }
        let before = self.buf.len();
        let result = f(self);
        match result {
            Ok(v) if self.buf.len() < before => Ok(v),
            Ok(_) => {
                self.failed = true;
                Err(refused("a value was left unread"))
            }
            Err(e) => {
                self.failed = true;
                Err(e)
            }
        }
    }

    /// A handoff through an `Option` or a newtype struct, which read nothing themselves: bounded.
    fn wrapped<T>(&mut self, f: impl FnOnce(&mut Deserializer<'de>) -> Result<T, Error>) -> Result<T, Error> {
        if self.wrappers_left == 0 {
            self.failed = true;
            return Err(refused("options and newtypes wrapping one another too deeply"));
        }
        self.wrappers_left -= 1;
        let result = self.handoff(f);
        self.wrappers_left += 1;
        result
    }

    /// Runs `f` one array or map level down.
    #[inline]
    fn nested<T>(&mut self, f: impl FnOnce(&mut Deserializer<'de>) -> Result<T, Error>) -> Result<T, Error> {
        if self.depth_left == 0 {
            return Err(Error::TooDeep { limit: self.max_depth });
        }
        self.depth_left -= 1;
        let wrappers = std::mem::replace(&mut self.wrappers_left, MAX_WRAPPERS);
        let result = f(self);
        self.wrappers_left = wrappers;
        self.depth_left += 1;
        result
    }

    /// Whether the next bytes are a str equal to one of the markers (a map starting with one is read by
    /// [`Value`]'s visitor as a datetime or an ext, where the codec keeps a map).
    fn marker_next(&self) -> bool {
        let b = self.buf;
        let (len, at) = match b.first() {
            Some(&m @ 0xa0..=0xbf) => (usize::from(m & 0x1f), 1),
            Some(0xd9) => (b.get(1..2).map_or(0, super::be_uint) as usize, 2),
            Some(0xda) => (b.get(1..3).map_or(0, super::be_uint) as usize, 3),
            Some(0xdb) => (b.get(1..5).map_or(0, super::be_uint) as usize, 5),
            _ => return false,
        };
        matches!(b.get(at..).and_then(|rest| rest.get(..len)),
            Some(key) if key == DATETIME_MARKER.as_bytes() || key == EXT_MARKER.as_bytes())
    }

    /// Visits an item as `deserialize_any` does: as [`Value`]'s deserializer visits what the codec makes of it.
    #[inline(always)]
    fn visit<V: Visitor<'de>>(&mut self, tok: Tok<'de>, visitor: V) -> Result<V::Value, Error> {
        match tok {
            Tok::Nil => visitor.visit_unit(),
            Tok::Bool(b) => visitor.visit_bool(b),
            Tok::Int(i) => visitor.visit_i64(i),
            Tok::UInt(u) => match i64::try_from(u) {
                Ok(i) => visitor.visit_i64(i),
                Err(_) => visitor.visit_u64(u),
            },
            Tok::Float(f) => visitor.visit_f64(f),
            Tok::Str(b) => match str::from_utf8(b) {
                Ok(s) => visitor.visit_borrowed_str(s),
                Err(_) => visitor.visit_borrowed_bytes(b),
            },
            Tok::Bin(b) => visitor.visit_borrowed_bytes(b),
            // The marker map `{EXT_MARKER: [tag, bytes]}`, by `Value`'s own deserializer.
            Tok::Ext(tag, data) => {
                de::Deserializer::deserialize_any(Value::Ext(Ext::new(tag, data)), visitor).map_err(decode_error)
            }
            Tok::Array(len) => self.visit_array(len, visitor),
            Tok::Map(len) => self.visit_map(len, visitor),
        }
    }

    fn visit_array<V: Visitor<'de>>(&mut self, len: usize, visitor: V) -> Result<V::Value, Error> {
        self.nested(|de| {
            let mut seq = Seq { de, left: len };
            let value = visitor.visit_seq(&mut seq)?;
            if seq.left > 0 {
                // As `SeqDeserializer::end`.
                return Err(de::Error::invalid_length(len, &"fewer elements in array"));
            }
            Ok(value)
        })
    }

    fn visit_map<V: Visitor<'de>>(&mut self, len: usize, visitor: V) -> Result<V::Value, Error> {
        let marked = len > 0 && self.marker_next();
        self.nested(|de| {
            let mut map = MapAcc { de, left: len, value_next: false };
            let value = if marked {
                // Without its size hint, so that `Value`'s visitor keeps it a map.
                visitor.visit_map(rpc_core::encoding::unmarked(&mut map))?
            } else {
                visitor.visit_map(&mut map)?
            };
            if map.value_next {
                return Err(refused("a map key whose value was left unread"));
            }
            if map.left > 0 {
                // As `MapDeserializer::end`.
                return Err(de::Error::invalid_length(len, &"fewer elements in map"));
            }
            Ok(value)
        })
    }

    /// A byte string filling a sequence (of `u8`), as `rpc_core`'s deserializer does for `Value::Bytes`.
    fn bytes_as_seq<V: Visitor<'de>>(bytes: &[u8], visitor: V) -> Result<V::Value, Error> {
        let mut seq = SeqDeserializer::<_, rpc_core::Error>::new(bytes.iter().map(|&b| Value::from(b)));
        let value = visitor.visit_seq(&mut seq).map_err(decode_error)?;
        seq.end().map_err(decode_error)?;
        Ok(value)
    }

    fn any<V: Visitor<'de>>(&mut self, visitor: V) -> Result<V::Value, Error> {
        // The commonest items first, without going through a `Tok`: fixints and fixstrs (field names).
        if let Some((&marker, rest)) = self.buf.split_first() {
            match marker {
                0x00..=0x7f => {
                    self.buf = rest;
                    return visitor.visit_i64(i64::from(marker));
                }
                0xa0..=0xbf => {
                    self.buf = rest;
                    let b = self.take(usize::from(marker & 0x1f))?;
                    return match str::from_utf8(b) {
                        Ok(s) => visitor.visit_borrowed_str(s),
                        Err(_) => visitor.visit_borrowed_bytes(b),
                    };
                }
                _ => {}
            }
        }
        let tok = self.tok()?;
        self.visit(tok, visitor)
    }

    fn option<V: Visitor<'de>>(&mut self, visitor: V) -> Result<V::Value, Error> {
        if self.buf.first() == Some(&NIL) {
            self.take(1)?;
            visitor.visit_none()
        } else {
            self.wrapped(|de| visitor.visit_some(de))
        }
    }

    fn unit<V: Visitor<'de>>(&mut self, visitor: V) -> Result<V::Value, Error> {
        match self.tok()? {
            Tok::Nil => visitor.visit_unit(),
            tok => Err(de::Error::invalid_type(tok.unexpected(), &visitor)),
        }
    }

    fn byte_buf<V: Visitor<'de>>(&mut self, visitor: V) -> Result<V::Value, Error> {
        match self.tok()? {
            Tok::Bin(b) => visitor.visit_borrowed_bytes(b),
            // A str that is not UTF-8 is `Value::Bytes`.
            Tok::Str(b) => match str::from_utf8(b) {
                Ok(s) => visitor.visit_borrowed_str(s),
                Err(_) => visitor.visit_borrowed_bytes(b),
            },
            Tok::Array(len) => self.visit_array(len, visitor),
            tok => Err(de::Error::invalid_type(tok.unexpected(), &visitor)),
        }
    }

    fn string<V: Visitor<'de>>(&mut self, visitor: V) -> Result<V::Value, Error> {
        if let Some((&marker @ 0xa0..=0xbf, rest)) = self.buf.split_first() {
            self.buf = rest;
            let b = self.take(usize::from(marker & 0x1f))?;
            return match str::from_utf8(b) {
                Ok(s) => visitor.visit_borrowed_str(s),
                Err(_) => Err(de::Error::invalid_value(Unexpected::Bytes(b), &visitor)),
            };
        }
        match self.tok()? {
            // A str, or a bin as pynvim sends strings: either if UTF-8.
            Tok::Str(b) | Tok::Bin(b) => match str::from_utf8(b) {
                Ok(s) => visitor.visit_borrowed_str(s),
                Err(_) => Err(de::Error::invalid_value(Unexpected::Bytes(b), &visitor)),
            },
            tok => Err(de::Error::invalid_type(tok.unexpected(), &visitor)),
        }
    }

    fn seq<V: Visitor<'de>>(&mut self, visitor: V) -> Result<V::Value, Error> {
        match self.tok()? {
            Tok::Bin(b) => Self::bytes_as_seq(b, visitor),
            Tok::Str(b) if str::from_utf8(b).is_err() => Self::bytes_as_seq(b, visitor),
            tok => self.visit(tok, visitor),
        }
    }

    fn newtype<V: Visitor<'de>>(&mut self, name: &'static str, visitor: V) -> Result<V::Value, Error> {
        if name == EXT_STRUCT_NAME && matches!(self.buf.first(), Some(0xc7..=0xc9 | 0xd4..=0xd8)) {
            let Tok::Ext(tag, data) = self.tok()? else {
                return Err(Error::Malformed("an ext that is not one".into()));
            };
            let parts = Value::Array(vec![Value::Int(tag.into()), Value::Bytes(data.to_vec())]);
            return visitor.visit_newtype_struct(parts).map_err(decode_error);
        }
        // `Value::DateTime` never comes from the wire: a datetime's newtype is read as any other.
        self.wrapped(|de| visitor.visit_newtype_struct(de))
    }

    fn enumeration<V: Visitor<'de>>(&mut self, visitor: V) -> Result<V::Value, Error> {
        const EXPECTED: &str = "a variant name or a one-entry map";
        match self.tok()? {
            Tok::Str(b) => match str::from_utf8(b) {
                Ok(variant) => visitor.visit_enum(Enum { de: self, variant, value: false }),
                Err(_) => Err(de::Error::invalid_type(Unexpected::Bytes(b), &EXPECTED)),
            },
            Tok::Map(1) => self.nested(|de| {
                let variant = match de.tok()? {
                    Tok::Str(b) => str::from_utf8(b)
                        .map_err(|_| <Error as de::Error>::invalid_type(Unexpected::Bytes(b), &"a variant name"))?,
                    tok => return Err(de::Error::invalid_type(tok.unexpected(), &"a variant name")),
                };
                de.variant_done = false;
                let value = visitor.visit_enum(Enum { de: &mut *de, variant, value: true })?;
                if !de.variant_done {
                    return Err(refused("an enum variant whose value was left unread"));
                }
                Ok(value)
            }),
            tok => Err(de::Error::invalid_type(tok.unexpected(), &EXPECTED)),
        }
    }
}

impl<'de> de::Deserializer<'de> for &mut Deserializer<'de> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let result = self.any(visitor);
        self.checked(result)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let result = self.option(visitor);
        self.checked(result)
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let result = self.unit(visitor);
        self.checked(result)
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(self, _name: &'static str, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_byte_buf(visitor)
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let result = self.byte_buf(visitor);
        self.checked(result)
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let result = self.string(visitor);
        self.checked(result)
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_string(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(self, name: &'static str, visitor: V) -> Result<V::Value, Error> {
        let result = self.newtype(name, visitor);
        self.checked(result)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        let result = self.enumeration(visitor);
        self.checked(result)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let result = self.seq(visitor);
        self.checked(result)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char
        tuple tuple_struct map struct identifier ignored_any
    }
}

/// The items of an array, for a visitor.
struct Seq<'a, 'de> {
    de: &'a mut Deserializer<'de>,
    left: usize,
}

impl<'de> SeqAccess<'de> for Seq<'_, 'de> {
    type Error = Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>, Error> {
        if self.left == 0 {
            return Ok(None);
        }
        self.left -= 1;
        self.de.handoff(|de| seed.deserialize(de)).map(Some)
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.left)
    }
}

/// The entries of a map, for a visitor.
struct MapAcc<'a, 'de> {
    de: &'a mut Deserializer<'de>,
    left: usize,
    /// A key has been read, its value not yet.
    value_next: bool,
}

impl<'de> MapAccess<'de> for MapAcc<'_, 'de> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, Error> {
        if self.value_next {
            // `MapDeserializer` would drop the value: refused rather than mirrored.
            self.de.failed = true;
            return Err(refused("a map key read before the value of the one before"));
        }
        if self.left == 0 {
            return Ok(None);
        }
        self.left -= 1;
        self.value_next = true;
        self.de.handoff(|de| seed.deserialize(de)).map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        if !self.value_next {
            self.de.failed = true;
            return Err(refused("a map value read before its key"));
        }
        self.value_next = false;
        self.de.handoff(|de| seed.deserialize(de))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.left)
    }
}

/// An enum: its variant name, and whether a value follows (a one-entry map) or not (a str).
struct Enum<'a, 'de> {
    de: &'a mut Deserializer<'de>,
    variant: &'de str,
    value: bool,
}

impl<'a, 'de> EnumAccess<'de> for Enum<'a, 'de> {
    type Error = Error;
    type Variant = Variant<'a, 'de>;

    fn variant_seed<S: DeserializeSeed<'de>>(self, seed: S) -> Result<(S::Value, Variant<'a, 'de>), Error> {
        let variant = seed.deserialize(BorrowedStrDeserializer::<Error>::new(self.variant))?;
        Ok((variant, Variant { de: self.de, value: self.value }))
    }
}

/// The value of an enum, read by the rules of `rpc_core`'s deserializer.
struct Variant<'a, 'de> {
    de: &'a mut Deserializer<'de>,
    value: bool,
}

impl<'de> Variant<'_, 'de> {
    fn done<T>(self, result: Result<T, Error>) -> Result<T, Error> {
        if result.is_ok() {
            self.de.variant_done = true;
        }
        result
    }
}

impl<'de> VariantAccess<'de> for Variant<'_, 'de> {
    type Error = Error;

    fn unit_variant(self) -> Result<(), Error> {
        if !self.value {
            return Ok(());
        }
        let result = match self.de.tok() {
            Ok(Tok::Nil) => Ok(()),
            Ok(tok) => Err(de::Error::invalid_type(tok.unexpected(), &"a unit variant")),
            Err(e) => Err(e),
        };
        self.done(result)
    }

    fn newtype_variant_seed<S: DeserializeSeed<'de>>(self, seed: S) -> Result<S::Value, Error> {
        if !self.value {
            return Err(de::Error::invalid_type(Unexpected::UnitVariant, &"a newtype variant"));
        }
        let result = self.de.handoff(|de| seed.deserialize(de));
        self.done(result)
    }

    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, visitor: V) -> Result<V::Value, Error> {
        if !self.value {
            return Err(de::Error::invalid_type(Unexpected::UnitVariant, &"a tuple variant"));
        }
        let result = match self.de.tok() {
            Ok(Tok::Array(len)) => self.de.visit_array(len, visitor),
            Ok(tok) => Err(de::Error::invalid_type(tok.unexpected(), &"a tuple variant")),
            Err(e) => Err(e),
        };
        self.done(result)
    }

    fn struct_variant<V: Visitor<'de>>(self, _fields: &'static [&'static str], visitor: V) -> Result<V::Value, Error> {
        if !self.value {
            return Err(de::Error::invalid_type(Unexpected::UnitVariant, &"a struct variant"));
        }
        let result = match self.de.tok() {
            Ok(Tok::Map(len)) => self.de.visit_map(len, visitor),
            Ok(Tok::Array(len)) => self.de.visit_array(len, visitor),
            Ok(tok) => Err(de::Error::invalid_type(tok.unexpected(), &"a struct variant")),
            Err(e) => Err(e),
        };
        self.done(result)
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Envelopes
// ---------------------------------------------------------------------------------------------------------------

/// A request `[0, msgid, method, params]` or a notification `[2, method, params]`, read in place by
/// [`request_parts`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RequestParts<'a> {
    /// The msgid of a request; `None` for a notification.
    pub id: Option<u32>,
    /// The method name (a str, or a bin holding UTF-8, on the wire).
    pub method: &'a str,
    /// The bytes of the params array, whole: give them to [`from_slice`] (with the frame's depth limit less
    /// one, the message's own array being a level, to apply the codec's limit exactly), or split them with
    /// [`array_items`].
    pub params: &'a [u8],
}

/// A response `[1, msgid, error, result]`, read in place by [`response_parts`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ResponseParts<'a> {
    /// The msgid of the request it answers.
    pub id: u32,
    /// The bytes of the error object (a nil, `[0xc0]`, when the call succeeded).
    pub error: &'a [u8],
    /// The bytes of the result.
    pub result: &'a [u8],
}

impl ResponseParts<'_> {
    /// Whether the error slot holds something other than nil: then the response is
    /// `Err(error)` for [`Message::from_value`](super::Message::from_value), and the result is not used.
    pub fn is_error(&self) -> bool {
        self.error != [NIL]
    }
}

/// Reads a request or a notification in place from a complete frame (one object, as the
/// [`Codec`](super::Codec) cuts them), without building its [`Value`]s.
///
/// Its parts agree with [`Message::from_value`](super::Message::from_value) on the decoded frame: the same id
/// and method, and params whose bytes decode to the same array. `None` for anything that `Message::from_value`
/// would not read as a request or notification (wrong lengths, a msgid beyond `u32`, a method name that is not
/// UTF-8, params that are not an array, ...), for a response, and for bytes that are not exactly one object:
/// reading the frame as a [`Message`](super::Message) then says what is wrong with it.
///
/// ```
/// use rpc_core::Value;
/// use rpc_msgpack::codec::{Message, typed};
///
/// let mut frame = bytes::BytesMut::new();
/// Message::Request { id: 7, method: "double".into(), params: vec![Value::Int(21)] }.encode(&mut frame).unwrap();
/// let parts = typed::request_parts(&frame).unwrap();
/// assert_eq!((parts.id, parts.method), (Some(7), "double"));
/// assert_eq!(typed::from_slice::<(i64,)>(parts.params, 63).unwrap(), (21,));
/// ```
pub fn request_parts(frame: &[u8]) -> Option<RequestParts<'_>> {
    let mut reader = Deserializer::new(frame, 1);
    let Tok::Array(len) = reader.tok().ok()? else {
        return None;
    };
    let id = match (reader.tok().ok()?.as_u64()?, len) {
        (0, 4) => Some(u32::try_from(reader.tok().ok()?.as_u64()?).ok()?),
        (2, 3) => None,
        _ => return None,
    };
    let method = match reader.tok().ok()? {
        Tok::Str(b) | Tok::Bin(b) => str::from_utf8(b).ok()?,
        _ => return None,
    };
    if !matches!(reader.buf.first(), Some(0x90..=0x9f | 0xdc | 0xdd)) {
        return None;
    }
    let params = reader.raw().ok()?;
    reader.buf.is_empty().then_some(RequestParts { id, method, params })
}

/// Reads a response in place from a complete frame (one object, as the [`Codec`](super::Codec) cuts them),
/// without building its [`Value`]s.
///
/// Its parts agree with [`Message::from_value`](super::Message::from_value) on the decoded frame: the same id,
/// and error and result bytes that decode to its error and result. `None` for anything that
/// `Message::from_value` would not read as a response, and for bytes that are not exactly one object.
pub fn response_parts(frame: &[u8]) -> Option<ResponseParts<'_>> {
    let mut reader = Deserializer::new(frame, 1);
    let Tok::Array(4) = reader.tok().ok()? else {
        return None;
    };
    if reader.tok().ok()?.as_u64()? != 1 {
        return None;
    }
    let id = u32::try_from(reader.tok().ok()?.as_u64()?).ok()?;
    let error = reader.raw().ok()?;
    let result = reader.raw().ok()?;
    reader.buf.is_empty().then_some(ResponseParts { id, error, result })
}

/// The items of a MessagePack array, as the bytes of each, in order: one `from_slice` per param.
///
/// `None` unless `array` is exactly one well-formed array (every item is checked before the first is given).
///
/// ```
/// use rpc_msgpack::codec::typed;
///
/// let items: Vec<&[u8]> = typed::array_items(&[0x92, 0x01, 0xa1, b'a']).unwrap().collect();
/// assert_eq!(items, [&[0x01][..], &[0xa1, b'a'][..]]);
/// assert!(typed::array_items(&[0x92, 0x01]).is_none());
/// ```
pub fn array_items(array: &[u8]) -> Option<ArrayItems<'_>> {
    let mut reader = Deserializer::new(array, 1);
    let Tok::Array(len) = reader.tok().ok()? else {
        return None;
    };
    let items = reader.buf;
    for _ in 0..len {
        reader.skip().ok()?;
    }
    reader.buf.is_empty().then_some(ArrayItems { rest: items, left: len })
}

/// The iterator of [`array_items`]: the bytes of each item of an array.
#[derive(Clone, Debug)]
pub struct ArrayItems<'a> {
    rest: &'a [u8],
    left: usize,
}

impl<'a> Iterator for ArrayItems<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        if self.left == 0 {
            return None;
        }
        let mut reader = Deserializer::new(self.rest, 1);
        let item = reader.raw().ok()?;
        self.rest = reader.buf;
        self.left -= 1;
        Some(item)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

impl ExactSizeIterator for ArrayItems<'_> {}

#[cfg(test)]
mod tests {
    use super::*;

    /// The bytes rmp writes, through its own functions.
    fn rmp_bytes(f: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
        let mut out = Vec::new();
        f(&mut out);
        out
    }

    fn ours(f: impl FnOnce(&mut BytesMut)) -> Vec<u8> {
        let mut out = BytesMut::new();
        f(&mut out);
        out.to_vec()
    }

    const EDGES: [u64; 18] = [
        0,
        1,
        31,
        32,
        127,
        128,
        255,
        256,
        65535,
        65536,
        (1 << 32) - 1,
        1 << 32,
        i64::MAX as u64,
        i64::MAX as u64 + 1,
        u64::MAX,
        15,
        16,
        17,
    ];

    #[test]
    fn integers_and_headers_are_written_as_rmp_writes_them() {
        for &u in &EDGES {
            assert_eq!(
                ours(|b| put_uint(b, u)),
                rmp_bytes(|w| {
                    let _ = rmp::encode::write_uint(w, u).unwrap();
                }),
                "{u}"
            );
            for i in [
                u as i64,
                (u as i64).wrapping_neg(),
                (u as i64).wrapping_sub(1),
                (u as i64).wrapping_neg().wrapping_sub(1),
            ] {
                assert_eq!(
                    ours(|b| put_sint(b, i)),
                    rmp_bytes(|w| {
                        let _ = rmp::encode::write_sint(w, i).unwrap();
                    }),
                    "{i}"
                );
            }
            if let Ok(n) = u32::try_from(u) {
                let (h, len) = container_header(false, n);
                assert_eq!(
                    h[..len],
                    rmp_bytes(|w| {
                        let _ = rmp::encode::write_array_len(w, n).unwrap();
                    }),
                    "{n}"
                );
                let (h, len) = container_header(true, n);
                assert_eq!(
                    h[..len],
                    rmp_bytes(|w| {
                        let _ = rmp::encode::write_map_len(w, n).unwrap();
                    }),
                    "{n}"
                );
            }
        }
        for len in [0, 1, 2, 3, 4, 8, 16, 17, 31, 32, 255, 256, 65535, 65536] {
            let s = "x".repeat(len);
            assert_eq!(ours(|b| put_str(b, &s).unwrap()), rmp_bytes(|w| rmp::encode::write_str(w, &s).unwrap()));
            assert_eq!(
                ours(|b| put_bin(b, s.as_bytes()).unwrap()),
                rmp_bytes(|w| rmp::encode::write_bin(w, s.as_bytes()).unwrap())
            );
            let ext = rmp_bytes(|w| {
                rmp::encode::write_ext_meta(w, len as u32, -3).unwrap();
                w.extend_from_slice(s.as_bytes());
            });
            assert_eq!(ours(|b| put_ext(b, -3, s.as_bytes()).unwrap()), ext, "{len}");
        }
    }

    #[test]
    fn a_serializer_used_directly_finishes_cleanly() {
        let mut buf = BytesMut::from(&b"ab"[..]);
        let mut serializer = Serializer::new(&mut buf);
        let result = Serialize::serialize(&vec![1, 2], &mut serializer);
        serializer.finish(result).unwrap();
        assert_eq!(&buf[..], &[b'a', b'b', 0x92, 1, 2]);
        let mut serializer = Serializer::new(&mut buf);
        let result = Serialize::serialize(&vec![1, 2], &mut serializer);
        serializer.finish(result.and(Err(Error::Encode("later".into())))).unwrap_err();
        assert_eq!(&buf[..], &[b'a', b'b', 0x92, 1, 2]);
    }

    #[test]
    fn a_deserializer_used_directly_checks_its_end() {
        let bytes = [0x01, 0x02];
        let mut de = Deserializer::new(&bytes, 8);
        assert_eq!(<i64 as de::Deserialize>::deserialize(&mut de).unwrap(), 1);
        assert!(de.end().is_err());
        assert_eq!(<i64 as de::Deserialize>::deserialize(&mut de).unwrap(), 2);
        de.end().unwrap();
        let mut de = Deserializer::new(&[0xa1, b'x'], 8);
        assert!(<i64 as de::Deserialize>::deserialize(&mut de).is_err());
        assert!(de.end().is_err());
    }
}

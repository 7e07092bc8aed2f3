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
//!   borrowing strings and byte strings from the input where it can. It holds by construction: the
//!   [`Deserializer`] is rpc-core's [`WireDeserializer`] (the serde readings every encoding shares) over this
//!   crate's [`Reader`] of MessagePack items.
//!
//! What it refuses is rare: nesting deeper than its limits, visitors that leave part of a value unread, and
//! errors that a `Serialize` or `Deserialize` impl swallows and goes on from (the bytes after one are not read
//! reliably).
//!
//! Errors are this crate's [`Error`]: [`Error::Encode`] for what cannot be serialized,
//! [`Error::Malformed`] for bytes that are not one complete MessagePack object, [`Error::TooDeep`] for nesting
//! beyond the limit, and [`Error::Invalid`] (without an id) for MessagePack that does not fit the type asked
//! for (serde's `custom` errors).

use std::borrow::Cow;
use std::fmt;
use std::str;

use bytes::{BufMut, BytesMut};
#[cfg(doc)]
use rpc_core::Value;
use rpc_core::encoding::{Marked, WireDeserializer, WireItem, WireReader, WireSerializer};
use serde::de;
use serde::ser::{self, Serialize};

use super::check_len;
use crate::Error;

/// How deeply a value may nest while it is serialized (arrays, maps, structs, variants, `Some` and newtype
/// structs each count one level): deeper values are refused with [`Error::Encode`].
pub const MAX_SERIALIZE_DEPTH: usize = 512;

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
    let mut deserializer = Deserializer::new(Reader::new(bytes), max_depth);
    let value = T::deserialize(&mut deserializer)?;
    deserializer.finish()?;
    Ok(value)
}

/// The deserializer behind [`from_slice`]: `rpc_core`'s [`WireDeserializer`] (a serde `Deserializer` when
/// borrowed mutably) over a [`Reader`] of one MessagePack object, borrowing strings and byte strings from it.
///
/// Arrays and maps nest at most `max_depth` deep, and nothing recurses without a bound. Used directly, call
/// [`finish`](WireDeserializer::finish) once the value is read: it fails if bytes are left, or if an error was
/// raised on the way that a `Deserialize` impl swallowed.
///
/// ```
/// use rpc_msgpack::codec::typed::{Deserializer, Reader};
///
/// let mut de = Deserializer::new(Reader::new(&[0x92, 0x01, 0xa1, b'a']), 64);
/// let pair: (i64, String) = serde::Deserialize::deserialize(&mut de).unwrap();
/// de.finish().unwrap();
/// assert_eq!(pair, (1, "a".to_owned()));
/// ```
pub type Deserializer<'de> = WireDeserializer<'de, Reader<'de>>;

/// MessagePack's items read off a byte slice, for the [`Deserializer`]: a str that is not UTF-8 is read as a
/// byte string (as [`Value::Bytes`]), an ext as its tag and data.
///
/// Every declared length is checked against the bytes left before anything is read or allocated for it.
#[derive(Clone, Copy, Debug)]
pub struct Reader<'de> {
    /// The bytes not read yet.
    buf: &'de [u8],
}

fn short() -> Error {
    Error::Malformed("unexpected end of a message".into())
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
    /// The item as the deserializer reads it: a str that is not UTF-8 is a byte string, as [`Value::Bytes`].
    #[inline(always)]
    fn item(self) -> WireItem<'de> {
        match self {
            Tok::Nil => WireItem::Nil,
            Tok::Bool(b) => WireItem::Bool(b),
            Tok::Int(i) => WireItem::Int(i),
            Tok::UInt(u) => WireItem::UInt(u),
            Tok::Float(f) => WireItem::Float(f),
            Tok::Str(b) => match str::from_utf8(b) {
                Ok(s) => WireItem::Str(Cow::Borrowed(s)),
                Err(_) => WireItem::Bytes(Cow::Borrowed(b)),
            },
            Tok::Bin(b) => WireItem::Bytes(Cow::Borrowed(b)),
            Tok::Ext(tag, data) => WireItem::Ext(tag, Cow::Borrowed(data)),
            Tok::Array(len) => WireItem::Seq(Some(len)),
            Tok::Map(len) => WireItem::Map(Some(len)),
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

impl<'de> Reader<'de> {
    /// A reader of `bytes`, which should hold one complete MessagePack object.
    pub fn new(bytes: &'de [u8]) -> Reader<'de> {
        Reader { buf: bytes }
    }

    #[inline(always)]
    fn take(&mut self, n: usize) -> Result<&'de [u8], Error> {
        let (taken, rest) = self.buf.split_at_checked(n).ok_or_else(short)?;
        self.buf = rest;
        Ok(taken)
    }

    #[inline(always)]
    fn fixed<const N: usize>(&mut self) -> Result<[u8; N], Error> {
        let (taken, rest) = self.buf.split_first_chunk::<N>().ok_or_else(short)?;
        self.buf = rest;
        Ok(*taken)
    }

    #[inline(always)]
    fn len8(&mut self) -> Result<usize, Error> {
        self.fixed::<1>().map(|[n]| usize::from(n))
    }

    #[inline(always)]
    fn len16(&mut self) -> Result<usize, Error> {
        self.fixed().map(|b| usize::from(u16::from_be_bytes(b)))
    }

    #[inline(always)]
    fn len32(&mut self) -> Result<usize, Error> {
        let n = u32::from_be_bytes(self.fixed()?);
        usize::try_from(n).map_err(|_| Error::Malformed(format!("length {n} does not fit in memory")))
    }

    fn ext(&mut self, len: usize) -> Result<Tok<'de>, Error> {
        let [tag] = self.fixed::<1>()?;
        Ok(Tok::Ext(tag as i8, self.take(len)?))
    }

    /// An array header of `len` items: each takes at least a byte, so a count beyond the bytes left is refused.
    #[inline(always)]
    fn array(&self, len: usize) -> Result<Tok<'de>, Error> {
        if len > self.buf.len() {
            return Err(Error::Malformed(format!("an array of {len} items in {} bytes", self.buf.len())));
        }
        Ok(Tok::Array(len))
    }

    #[inline(always)]
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
}

impl<'de> WireReader<'de> for Reader<'de> {
    type Error = Error;

    #[inline(always)]
    fn item(&mut self) -> Result<WireItem<'de>, Error> {
        self.tok().map(Tok::item)
    }

    fn end(&mut self) -> Result<(), Error> {
        match self.buf.len() {
            0 => Ok(()),
            left => Err(Error::Malformed(format!("{left} bytes left after the object"))),
        }
    }

    fn too_deep(&self, limit: usize) -> Error {
        Error::TooDeep { limit }
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
    let mut reader = Reader::new(frame);
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
    let mut reader = Reader::new(frame);
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
    let mut reader = Reader::new(array);
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
        let mut reader = Reader::new(self.rest);
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
        let mut de = Deserializer::new(Reader::new(&bytes), 8);
        assert_eq!(<i64 as de::Deserialize>::deserialize(&mut de).unwrap(), 1);
        assert!(de.finish().is_err());
        assert_eq!(<i64 as de::Deserialize>::deserialize(&mut de).unwrap(), 2);
        de.finish().unwrap();
        let mut de = Deserializer::new(Reader::new(&[0xa1, b'x']), 8);
        assert!(<i64 as de::Deserialize>::deserialize(&mut de).is_err());
        assert!(de.finish().is_err());
    }
}

//! The JSON codec's serde implementation, the one path between text and data: any `Serialize` type straight to
//! this module's JSON text ([`to_writer`], [`Serializer`]), and JSON text straight into any `Deserialize` type
//! ([`from_slice`], [`Deserializer`]), with [`Value`] an ordinary serde type through them
//! ([`encode_value`](super::encode_value) and [`decode_value`](super::decode_value) are these with `Value` as
//! the type).
//!
//! Typed data and its [`Value`] agree, as [`rpc_core::encoding`] asks:
//! - [`to_writer`] appends the bytes it appends for `to_value(t)` ([`to_value`](rpc_core::to_value)), the tagged
//!   spellings included: `{"$base64": ...}`, `{"$datetime": ...}`, `{"$ext": ...}`, `{"$float": ...}`, and
//!   `{"$map": [[k, v], ...]}` for a map with a key that is not a string, or whose one key looks like a tag.
//! - [`from_slice`] gives what `from_value::<T>` gives on the `Value` it reads from the same text
//!   ([`from_value`](rpc_core::from_value)): the depth checked first, numbers classified the same way (an
//!   integer that fits `i64` is visited as signed), map keys as strings only (`{"1": ..}` does not fill a
//!   `BTreeMap<i64, _>`), enums from a string or a one-member object, and every object whose first key starts
//!   with `$` (a possible spelling) read by way of a small [`Value`], presented as `Value`'s deserializer
//!   presents it.
//!
//! It refuses a value nesting deeper than the encoder's bound of 1024 levels (maps count double here).
//!
//! Strings are handed to visitors borrowed where serde_json can borrow them; every `Deserialize` type of serde
//! and of this framework reads both the same way.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use base64::Engine as _;
use rpc_core::Value;
use rpc_core::encoding::{DATETIME_STRUCT_NAME, EXT_STRUCT_NAME, Marked, WireSerializer};
use serde::de::Visitor;
use serde::de::value::{BorrowedStrDeserializer, StringDeserializer};
use serde::de::{
    self, DeserializeSeed, Deserializer as _, EnumAccess, MapAccess, SeqAccess, Unexpected, VariantAccess,
};
use serde::ser::{self, Serialize};
use serde_json::ser::{CompactFormatter, Formatter as _};

use super::{
    BASE64, BASE64_TAG, DATETIME_TAG, EXT_TAG, FLOAT_TAG, MAP_TAG, MAX_DEPTH, MAX_ENCODE_DEPTH, TAGS, check_nesting,
    json_error, map_after_first_key, non_finite_name,
};
use crate::Error;

// ---------------------------------------------------------------------------------------------------------
// Writing

/// Appends `value` to `out` as compact JSON text in this module's spelling: the bytes it appends for
/// `rpc_core::to_value(value)?`. On error `out` is left as it was.
///
/// ```
/// let mut out = Vec::new();
/// rpc_json::codec::typed::to_writer(&(1, serde_bytes::Bytes::new(&[0, 255]), f64::NAN), &mut out).unwrap();
/// assert_eq!(out, br#"[1,{"$base64":"AP8="},{"$float":"NaN"}]"#);
/// ```
pub fn to_writer<T: Serialize + ?Sized>(value: &T, out: &mut Vec<u8>) -> Result<(), Error> {
    let start = out.len();
    let result = value.serialize(&mut Serializer::new(out));
    if result.is_err() {
        out.truncate(start);
    }
    result
}

/// The serializer behind [`to_writer`]: a serde `Serializer` (for `&mut Serializer`) that appends to a
/// `Vec<u8>`.
///
/// After an error the vector holds part of the value: truncate it to its length before the call ([`to_writer`]
/// does), and do not use the serializer again.
#[derive(Debug)]
pub struct Serializer<'a> {
    out: &'a mut Vec<u8>,
    /// How deeply the value being written may nest as its `Value` would (see [`Serializer::open`]).
    depth: usize,
}

fn encode_error(e: impl fmt::Display) -> Error {
    Error::Encode(e.to_string())
}

impl<'a> Serializer<'a> {
    /// A serializer that appends to `out`.
    pub fn new(out: &'a mut Vec<u8>) -> Serializer<'a> {
        Serializer { out, depth: 0 }
    }

    /// Enters a container that adds at most `levels` to the nesting a `Value` of it would have, refused deeper
    /// than `MAX_ENCODE_DEPTH`. The count is never below the `Value`'s (a map counts two, as a map
    /// that turns out to need `$map` does), so that a value and its `Value` are refused alike.
    fn open(&mut self, levels: usize) -> Result<(), Error> {
        self.depth += levels;
        if self.depth > MAX_ENCODE_DEPTH {
            return Err(Error::Encode(format!("values nest deeper than {MAX_ENCODE_DEPTH} levels")));
        }
        Ok(())
    }

    /// A string, escaped as serde_json escapes it .
    fn string(&mut self, s: &str) -> Result<(), Error> {
        ser::Serializer::serialize_str(&mut serde_json::Serializer::new(&mut *self.out), s).map_err(encode_error)
    }

    fn int(&mut self, v: i64) -> Result<(), Error> {
        CompactFormatter.write_i64(&mut *self.out, v).map_err(encode_error)
    }

    fn uint(&mut self, v: u64) -> Result<(), Error> {
        CompactFormatter.write_u64(&mut *self.out, v).map_err(encode_error)
    }

    fn base64(&mut self, bytes: &[u8]) -> Result<(), Error> {
        let start = self.out.len();
        let len = base64::encoded_len(bytes.len(), true).ok_or_else(|| encode_error("bytes too long for base64"))?;
        self.out.push(b'"');
        self.out.resize(start + 1 + len, 0);
        let written = BASE64.encode_slice(bytes, &mut self.out[start + 1..]).map_err(encode_error)?;
        self.out.truncate(start + 1 + written);
        self.out.push(b'"');
        Ok(())
    }

    /// `{"tag":` ... `}` around what `body` writes.
    fn tagged(&mut self, tag: &str, body: impl FnOnce(&mut Self) -> Result<(), Error>) -> Result<(), Error> {
        self.out.push(b'{');
        self.string(tag)?;
        self.out.push(b':');
        body(self)?;
        self.out.push(b'}');
        Ok(())
    }

    /// Opens the one-entry map of a variant with content, `{"Name":`, or `{"$map":[["$tag",` for a name that
    /// would read back as a spelling; returns what closes it.
    fn variant_open(&mut self, variant: &str) -> Result<&'static [u8], Error> {
        self.out.push(b'{');
        if TAGS.contains(&variant) {
            self.string(MAP_TAG)?;
            self.out.extend_from_slice(b":[[");
            self.string(variant)?;
            self.out.push(b',');
            Ok(b"]]}")
        } else {
            self.string(variant)?;
            self.out.push(b':');
            Ok(b"}")
        }
    }

    fn compound(&mut self, levels: usize, close: &'static [u8]) -> Compound<'_, 'a> {
        let start = self.out.len() - 1;
        Compound { ser: self, start, count: 0, pairs: false, levels, close }
    }
}

impl<'a, 'b> WireSerializer for &'b mut Serializer<'a> {
    type Ok = ();
    type Error = Error;
    type Compound = Compound<'b, 'a>;

    fn nil(self) -> Result<(), Error> {
        self.out.extend_from_slice(b"null");
        Ok(())
    }
    fn boolean(self, v: bool) -> Result<(), Error> {
        self.out.extend_from_slice(if v { b"true" } else { b"false" });
        Ok(())
    }
    fn int(self, v: i64) -> Result<(), Error> {
        Serializer::int(self, v)
    }
    fn uint(self, v: u64) -> Result<(), Error> {
        Serializer::uint(self, v)
    }
    // Every float is kept as an f64, as `Value` keeps it: 0.1f32 goes out as 0.10000000149011612.
    fn float(self, v: f64) -> Result<(), Error> {
        if v.is_finite() {
            CompactFormatter.write_f64(&mut *self.out, v).map_err(encode_error)
        } else {
            self.tagged(FLOAT_TAG, |s| s.string(non_finite_name(v)))
        }
    }
    fn string(self, v: &str) -> Result<(), Error> {
        Serializer::string(self, v)
    }
    fn bytes(self, v: &[u8]) -> Result<(), Error> {
        self.tagged(BASE64_TAG, |s| s.base64(v))
    }
    fn marked(self, v: Marked) -> Result<(), Error> {
        match v {
            Marked::DateTime(d) => self.tagged(DATETIME_TAG, |s| s.string(&d.to_string())),
            Marked::Ext(e) => self.tagged(EXT_TAG, |s| {
                s.out.push(b'[');
                s.int(e.tag.into())?;
                s.out.push(b',');
                s.base64(&e.data)?;
                s.out.push(b']');
                Ok(())
            }),
        }
    }
    fn inner<T: Serialize + ?Sized>(self, value: &T) -> Result<(), Error> {
        value.serialize(self)
    }
    fn newtype_variant<T: Serialize + ?Sized>(self, variant: &'static str, value: &T) -> Result<(), Error> {
        self.open(2)?;
        let close = self.variant_open(variant)?;
        value.serialize(&mut *self)?;
        self.out.extend_from_slice(close);
        self.depth -= 2;
        Ok(())
    }
    fn seq(self, _len: Option<usize>) -> Result<Compound<'b, 'a>, Error> {
        self.open(1)?;
        self.out.push(b'[');
        Ok(self.compound(1, b""))
    }
    fn tuple_variant(self, variant: &'static str, _len: usize) -> Result<Compound<'b, 'a>, Error> {
        self.open(3)?;
        let close = self.variant_open(variant)?;
        self.out.push(b'[');
        Ok(self.compound(3, close))
    }
    fn map(self, _len: Option<usize>) -> Result<Compound<'b, 'a>, Error> {
        self.open(2)?;
        self.out.push(b'{');
        Ok(self.compound(2, b""))
    }
    fn struct_variant(self, variant: &'static str, _len: usize) -> Result<Compound<'b, 'a>, Error> {
        self.open(4)?;
        let close = self.variant_open(variant)?;
        self.out.push(b'{');
        Ok(self.compound(4, close))
    }
    fn refuse(self, error: rpc_core::Error) -> Error {
        Error::refused(error)
    }
}

rpc_core::wire_serializer!(['a, 'b] &'b mut Serializer<'a>);

/// A sequence, tuple, map or struct (or a variant holding one) being written by [`Serializer`].
#[derive(Debug)]
pub struct Compound<'b, 'a> {
    ser: &'b mut Serializer<'a>,
    /// Where the container's `[` or `{` is in the output.
    start: usize,
    /// Elements or entries so far.
    count: usize,
    /// A map being written as `{"$map":[[k,v],...]}` (a key that is not a string came).
    pairs: bool,
    /// What [`Serializer::open`] added for it.
    levels: usize,
    /// What closes the variant around it, if any.
    close: &'static [u8],
}

impl Compound<'_, '_> {
    fn element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        if self.count > 0 {
            self.ser.out.push(b',');
        }
        self.count += 1;
        value.serialize(&mut *self.ser)
    }

    fn end_seq(self) -> Result<(), Error> {
        self.ser.out.push(b']');
        self.finish()
    }

    fn finish(self) -> Result<(), Error> {
        self.ser.out.extend_from_slice(self.close);
        self.ser.depth -= self.levels;
        Ok(())
    }

    fn key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Error> {
        let had = self.count;
        self.count += 1;
        if self.pairs {
            self.ser.out.extend_from_slice(if had > 0 { b",[" } else { b"[" });
            key.serialize(&mut *self.ser)?;
            self.ser.out.push(b',');
            return Ok(());
        }
        if had > 0 {
            self.ser.out.push(b',');
        }
        let key_start = self.ser.out.len();
        key.serialize(&mut *self.ser)?;
        if self.ser.out.get(key_start) == Some(&b'"') {
            self.ser.out.push(b':');
        } else {
            // Not a string: a `Value` map is written whole as `$map`; so is the rest of this one.
            self.switch_to_pairs(key_start)?;
            self.ser.out.push(b',');
        }
        Ok(())
    }

    fn value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        value.serialize(&mut *self.ser)?;
        if self.pairs {
            self.ser.out.push(b']');
        }
        Ok(())
    }

    fn field<T: Serialize + ?Sized>(&mut self, key: &'static str, value: &T) -> Result<(), Error> {
        if self.count > 0 {
            self.ser.out.push(b',');
        }
        self.count += 1;
        self.ser.string(key)?;
        self.ser.out.push(b':');
        value.serialize(&mut *self.ser)
    }

    fn end_map(self) -> Result<(), Error> {
        if self.pairs {
            self.ser.out.extend_from_slice(b"]}");
            return self.finish();
        }
        if self.count == 1 {
            // One entry whose key is one of the tags would read back as a spelling: `$map`, as for a `Value` map.
            let entry = &self.ser.out[self.start + 1..];
            if let Some(tag) = TAGS.iter().find(|tag| {
                entry.len() > tag.len() + 2
                    && entry[0] == b'"'
                    && &entry[1..=tag.len()] == tag.as_bytes()
                    && entry[tag.len() + 1..tag.len() + 3] == *b"\":"
            }) {
                let mut prefix = Vec::with_capacity(tag.len() + 16);
                prefix.push(b'{');
                ser::Serializer::serialize_str(&mut serde_json::Serializer::new(&mut prefix), MAP_TAG)
                    .map_err(encode_error)?;
                prefix.extend_from_slice(b":[[");
                prefix.extend_from_slice(&entry[..tag.len() + 2]);
                prefix.push(b',');
                let head = self.start..self.start + tag.len() + 4;
                self.ser.out.splice(head, prefix);
                self.ser.out.extend_from_slice(b"]]");
            }
        }
        self.ser.out.push(b'}');
        self.finish()
    }

    /// Rewrites the map written so far, `{"k":v,...,` and the key just written at `key_start`, as
    /// `{"$map":[["k",v],...,[key`.
    fn switch_to_pairs(&mut self, key_start: usize) -> Result<(), Error> {
        let out = &mut *self.ser.out;
        let entries = &out[self.start + 1..key_start];
        let mut pairs = Vec::with_capacity(out.len() - self.start + 4 * self.count + 16);
        pairs.push(b'{');
        ser::Serializer::serialize_str(&mut serde_json::Serializer::new(&mut pairs), MAP_TAG).map_err(encode_error)?;
        pairs.extend_from_slice(b":[");
        // The entries are our own compact JSON: split them at the colons and commas outside strings and
        // brackets.
        let (mut entry, mut colon) = (0, None);
        let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
        for (i, &b) in entries.iter().enumerate() {
            if in_string {
                match b {
                    _ if escaped => escaped = false,
                    b'\\' => escaped = true,
                    b'"' => in_string = false,
                    _ => {}
                }
                continue;
            }
            match b {
                b'"' => in_string = true,
                b'[' | b'{' => depth += 1,
                b']' | b'}' => depth = depth.saturating_sub(1),
                b':' if depth == 0 && colon.is_none() => colon = Some(i),
                b',' if depth == 0 => {
                    let c = colon.take().ok_or_else(|| encode_error("internal: a map entry without a colon"))?;
                    pairs.push(b'[');
                    pairs.extend_from_slice(&entries[entry..c]);
                    pairs.push(b',');
                    pairs.extend_from_slice(&entries[c + 1..i]);
                    pairs.extend_from_slice(b"],");
                    entry = i + 1;
                }
                _ => {}
            }
        }
        pairs.push(b'[');
        pairs.extend_from_slice(&out[key_start..]);
        out.truncate(self.start);
        out.extend_from_slice(&pairs);
        self.pairs = true;
        Ok(())
    }
}

rpc_core::serialize_compound!(Compound<'_, '_>, Error);

// ---------------------------------------------------------------------------------------------------------
// Reading

/// Reads one value of type `T` from JSON text in this module's spelling, nesting at most `max_depth` levels
/// (at most [`MAX_DEPTH`]): what `from_value::<T>(decode_value(json, max_depth)?)` gives, or an error (and
/// `decode_value` is this with `T` = [`Value`]).
///
/// ```
/// #[derive(serde::Deserialize, Debug, PartialEq)]
/// struct Point { x: i32, y: i32 }
///
/// let p: Point = rpc_json::codec::typed::from_slice(br#"{"x": 1, "y": 2}"#, 64).unwrap();
/// assert_eq!(p, Point { x: 1, y: 2 });
/// let b: serde_bytes::ByteBuf = rpc_json::codec::typed::from_slice(br#"{"$base64": "AP8="}"#, 64).unwrap();
/// assert_eq!(b.as_slice(), [0, 255]);
/// ```
pub fn from_slice<'de, T: de::Deserialize<'de>>(json: &'de [u8], max_depth: usize) -> Result<T, Error> {
    let mut de = Deserializer::new(json, max_depth)?;
    let value = T::deserialize(&mut de)?;
    de.end()?;
    Ok(value)
}

/// Reads a request's params (the JSON array or object after `"params":`) into `T`, with the depth limit the
/// server applies to params (the array or object itself is not counted).
pub fn from_params_slice<'de, T: de::Deserialize<'de>>(params: &'de [u8], max_depth: usize) -> Result<T, Error> {
    let mut de = Deserializer::for_params(params, max_depth)?;
    let value = T::deserialize(&mut de)?;
    de.end()?;
    Ok(value)
}

/// The deserializer behind [`from_slice`]: a serde `Deserializer` (for `&mut Deserializer`) over a JSON slice,
/// its nesting checked when it is made. Call [`Deserializer::end`] after reading the value.
pub struct Deserializer<'de> {
    json: serde_json::Deserializer<serde_json::de::SliceRead<'de>>,
}

impl fmt::Debug for Deserializer<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Deserializer").finish_non_exhaustive()
    }
}

impl<'de> Deserializer<'de> {
    /// A deserializer for one value in `json`, after checking (as [`decode_value`](super::decode_value) does,
    /// before parsing) that it nests at most `max_depth` levels (at most [`MAX_DEPTH`]).
    pub fn new(json: &'de [u8], max_depth: usize) -> Result<Deserializer<'de>, Error> {
        Deserializer::with_levels(json, max_depth, 0)
    }

    /// A deserializer for a request's params, checked as the server checks them: the array or object itself
    /// is not counted against `max_depth`.
    pub fn for_params(params: &'de [u8], max_depth: usize) -> Result<Deserializer<'de>, Error> {
        Deserializer::with_levels(params, max_depth, 1)
    }

    fn with_levels(json: &'de [u8], max_depth: usize, around: usize) -> Result<Deserializer<'de>, Error> {
        check_nesting(json, max_depth.min(MAX_DEPTH), around)?;
        Ok(Deserializer { json: serde_json::Deserializer::from_slice(json) })
    }

    /// Checks that nothing but whitespace follows the value.
    pub fn end(&mut self) -> Result<(), Error> {
        self.json.end().map_err(json_error)
    }
}

macro_rules! through_guard {
    ($($method:ident($($arg:ident: $ty:ty),*))*) => {$(
        fn $method<V: Visitor<'de>>(self, $($arg: $ty,)* visitor: V) -> Result<V::Value, Error> {
            Guard(&mut self.json).$method($($arg,)* visitor).map_err(json_error)
        }
    )*};
}

impl<'de> de::Deserializer<'de> for &mut Deserializer<'de> {
    type Error = Error;

    through_guard! {
        deserialize_any() deserialize_bool() deserialize_i8() deserialize_i16() deserialize_i32() deserialize_i64()
        deserialize_i128() deserialize_u8() deserialize_u16() deserialize_u32() deserialize_u64() deserialize_u128()
        deserialize_f32() deserialize_f64() deserialize_char() deserialize_str() deserialize_string()
        deserialize_bytes() deserialize_byte_buf() deserialize_option() deserialize_unit()
        deserialize_unit_struct(name: &'static str) deserialize_newtype_struct(name: &'static str)
        deserialize_seq() deserialize_tuple(len: usize) deserialize_tuple_struct(name: &'static str, len: usize)
        deserialize_map() deserialize_struct(name: &'static str, fields: &'static [&'static str])
        deserialize_enum(name: &'static str, variants: &'static [&'static str])
        deserialize_identifier() deserialize_ignored_any()
    }
}

/// What rpc_core's deserializer of a [`Value`] does with each kind of JSON value, for the method called.
#[derive(Debug, Clone, Copy)]
enum Mode {
    /// Every kind as it is (`deserialize_any` and everything `Value` forwards to it).
    Any,
    /// As `Any`; bytes as a sequence of integers.
    Seq,
    /// Strings (and bytes, datetimes).
    Str,
    /// Bytes, strings and arrays.
    Bytes,
    /// A variant: a string, or a one-member object.
    Enum(&'static str, &'static [&'static str]),
    /// The content of a tuple variant: an array.
    TupleVariant,
    /// The content of a struct variant: an object or an array.
    StructVariant,
}

/// A serde_json deserializer (`&mut serde_json::Deserializer` or one serde_json hands to a seed or visitor)
/// that reads as rpc_core's `Value` deserializer would: every call goes to serde_json's `deserialize_any` (or `_option`,
/// `_unit`) with a [`Wrap`]ped visitor.
struct Guard<D>(D);

macro_rules! any_mode {
    ($($method:ident)*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
            self.0.deserialize_any(Wrap { visitor, mode: Mode::Any })
        }
    )*};
}

impl<'de, D: de::Deserializer<'de>> de::Deserializer<'de> for Guard<D> {
    type Error = D::Error;

    any_mode! {
        deserialize_any deserialize_bool deserialize_i8 deserialize_i16 deserialize_i32 deserialize_i64
        deserialize_i128 deserialize_u8 deserialize_u16 deserialize_u32 deserialize_u64 deserialize_u128
        deserialize_f32 deserialize_f64 deserialize_char deserialize_map deserialize_identifier
        deserialize_ignored_any
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
        self.0.deserialize_any(Wrap { visitor, mode: Mode::Str })
    }
    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
        self.0.deserialize_any(Wrap { visitor, mode: Mode::Str })
    }
    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
        self.0.deserialize_any(Wrap { visitor, mode: Mode::Bytes })
    }
    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
        self.0.deserialize_any(Wrap { visitor, mode: Mode::Bytes })
    }
    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
        self.0.deserialize_any(Wrap { visitor, mode: Mode::Seq })
    }
    fn deserialize_tuple<V: Visitor<'de>>(self, _len: usize, visitor: V) -> Result<V::Value, D::Error> {
        self.0.deserialize_any(Wrap { visitor, mode: Mode::Any })
    }
    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.0.deserialize_any(Wrap { visitor, mode: Mode::Any })
    }
    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.0.deserialize_any(Wrap { visitor, mode: Mode::Any })
    }
    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.0.deserialize_any(Wrap { visitor, mode: Mode::Enum(name, variants) })
    }
    /// `null` is none, anything else some (serde_json and rpc_core's `Value` deserializer agree).
    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
        self.0.deserialize_option(Wrap { visitor, mode: Mode::Any })
    }
    /// `null` only (serde_json and rpc_core's `Value` deserializer agree).
    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
        self.0.deserialize_unit(Wrap { visitor, mode: Mode::Any })
    }
    fn deserialize_unit_struct<V: Visitor<'de>>(self, _name: &'static str, visitor: V) -> Result<V::Value, D::Error> {
        self.0.deserialize_unit(Wrap { visitor, mode: Mode::Any })
    }
    fn deserialize_newtype_struct<V: Visitor<'de>>(self, name: &'static str, visitor: V) -> Result<V::Value, D::Error> {
        if name == DATETIME_STRUCT_NAME || name == EXT_STRUCT_NAME {
            // A datetime or an ext (a `$datetime` / `$ext` spelling, or whatever else is there): read as the
            // `Value` deserializer reads it, by way of the small value.
            let value = ValueSeed.deserialize(self.0)?;
            return value.deserialize_newtype_struct(name, visitor).map_err(de::Error::custom);
        }
        visitor.visit_newtype_struct(self)
    }

    fn is_human_readable(&self) -> bool {
        true
    }
}

/// A seed read through a [`Guard`].
struct GuardSeed<S>(S);

impl<'de, S: DeserializeSeed<'de>> DeserializeSeed<'de> for GuardSeed<S> {
    type Value = S::Value;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<S::Value, D::Error> {
        self.0.deserialize(Guard(d))
    }
}

/// A visitor given to serde_json's `deserialize_any` in a [`Mode`].
struct ModeSeed<V> {
    visitor: V,
    mode: Mode,
}

impl<'de, V: Visitor<'de>> DeserializeSeed<'de> for ModeSeed<V> {
    type Value = V::Value;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<V::Value, D::Error> {
        d.deserialize_any(Wrap { visitor: self.visitor, mode: self.mode })
    }
}

/// A visitor as rpc_core's `Value` deserializer would call it: what serde_json visits, passed on where `Value`'s deserializer
/// would pass the same thing on, refused where it would refuse, and an object whose first key starts with `$`
/// read through a [`Value`].
struct Wrap<V> {
    visitor: V,
    mode: Mode,
}

impl<V> Wrap<V> {
    /// Whether a null, a boolean or a number goes to the visitor.
    fn takes_scalars(&self) -> bool {
        matches!(self.mode, Mode::Any | Mode::Seq)
    }
}

impl<'de, V: Visitor<'de>> Wrap<V> {
    /// A string: a variant name in an enum, the string itself where rpc_core's `Value` deserializer passes strings on.
    fn string<E: de::Error>(self, text: Cow<'de, str>, unexpected: Unexpected<'_>) -> Result<V::Value, E> {
        match self.mode {
            Mode::Any | Mode::Seq | Mode::Str | Mode::Bytes => match text {
                Cow::Borrowed(s) => self.visitor.visit_borrowed_str(s),
                Cow::Owned(s) => self.visitor.visit_string(s),
            },
            Mode::Enum(..) => self.visitor.visit_enum(UnitVariant { name: text, marker: PhantomData }),
            Mode::TupleVariant | Mode::StructVariant => Err(de::Error::invalid_type(unexpected, &self)),
        }
    }

    /// An object whose first key starts with `$`: read as rpc_core's `Value` deserializer reads it (a spelling, or a map), then
    /// given to the visitor as `Value`'s deserializer gives it.
    fn spelled<A: MapAccess<'de>>(self, first: String, map: A) -> Result<V::Value, A::Error> {
        let value = map_after_first_key(first, map)?;
        let visitor = self.visitor;
        match self.mode {
            Mode::Any => value.deserialize_any(visitor),
            Mode::Seq => value.deserialize_seq(visitor),
            Mode::Str => value.deserialize_string(visitor),
            Mode::Bytes => value.deserialize_byte_buf(visitor),
            Mode::Enum(name, variants) => value.deserialize_enum(name, variants, visitor),
            Mode::StructVariant if matches!(value, Value::Map(_)) => value.deserialize_any(visitor),
            Mode::TupleVariant | Mode::StructVariant => {
                return Err(de::Error::custom(format!("expected a variant's content, found {}", value.kind())));
            }
        }
        .map_err(de::Error::custom)
    }
}

impl<'de, V: Visitor<'de>> Visitor<'de> for Wrap<V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.visitor.expecting(f)
    }

    fn visit_unit<E: de::Error>(self) -> Result<V::Value, E> {
        if self.takes_scalars() { self.visitor.visit_unit() } else { Err(E::invalid_type(Unexpected::Unit, &self)) }
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<V::Value, E> {
        if self.takes_scalars() { self.visitor.visit_bool(v) } else { Err(E::invalid_type(Unexpected::Bool(v), &self)) }
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<V::Value, E> {
        if self.takes_scalars() {
            self.visitor.visit_i64(v)
        } else {
            Err(E::invalid_type(Unexpected::Signed(v), &self))
        }
    }
    /// A `Value` keeps an unsigned integer that fits `i64` as `Value::Int`, and visits it as signed.
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<V::Value, E> {
        match i64::try_from(v) {
            Ok(i) => self.visit_i64(i),
            Err(_) if self.takes_scalars() => self.visitor.visit_u64(v),
            Err(_) => Err(E::invalid_type(Unexpected::Unsigned(v), &self)),
        }
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<V::Value, E> {
        if self.takes_scalars() { self.visitor.visit_f64(v) } else { Err(E::invalid_type(Unexpected::Float(v), &self)) }
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<V::Value, E> {
        self.string(Cow::Borrowed(v), Unexpected::Str(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<V::Value, E> {
        self.string(Cow::Owned(v.to_owned()), Unexpected::Str(v))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<V::Value, E> {
        let unexpected = Unexpected::Other("string");
        self.string(Cow::Owned(v), unexpected)
    }
    fn visit_none<E: de::Error>(self) -> Result<V::Value, E> {
        self.visitor.visit_none()
    }
    fn visit_some<D: de::Deserializer<'de>>(self, d: D) -> Result<V::Value, D::Error> {
        self.visitor.visit_some(Guard(d))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<V::Value, A::Error> {
        match self.mode {
            Mode::Str | Mode::Enum(..) => Err(de::Error::invalid_type(Unexpected::Seq, &self)),
            _ => self.visitor.visit_seq(Elements(seq)),
        }
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<V::Value, A::Error> {
        let first = map.next_key_seed(KeySeed)?;
        if let Some(key) = first.as_deref()
            && key.starts_with('$')
        {
            let key = key.to_owned();
            return self.spelled(key, map);
        }
        match (self.mode, first) {
            (Mode::Any | Mode::Seq | Mode::StructVariant, first) => self.visitor.visit_map(Entries { map, first }),
            (Mode::Enum(..), Some(name)) => {
                let value = self.visitor.visit_enum(MapVariant { name, map: &mut map })?;
                match map.next_key_seed(KeySeed)? {
                    None => Ok(value),
                    Some(_) => Err(de::Error::invalid_length(2, &"a map with one entry")),
                }
            }
            (Mode::Enum(..), None) => Err(de::Error::invalid_length(0, &"a map with one entry")),
            (Mode::Str | Mode::Bytes | Mode::TupleVariant, _) => Err(de::Error::invalid_type(Unexpected::Map, &self)),
        }
    }
}

/// Reads one [`Value`] in this module's spelling from a serde_json deserializer (or one serde_json hands to a seed
/// or visitor): `Value`'s own `Deserialize` through a [`Guard`], as [`from_slice`] reads any type.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ValueSeed;

impl<'de> DeserializeSeed<'de> for ValueSeed {
    type Value = Value;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        <Value as de::Deserialize>::deserialize(Guard(d))
    }
}

/// An array's elements, each read through a [`Guard`].
struct Elements<A>(A);

impl<'de, A: SeqAccess<'de>> SeqAccess<'de> for Elements<A> {
    type Error = A::Error;
    fn next_element_seed<S: DeserializeSeed<'de>>(&mut self, seed: S) -> Result<Option<S::Value>, A::Error> {
        self.0.next_element_seed(GuardSeed(seed))
    }
    fn size_hint(&self) -> Option<usize> {
        self.0.size_hint()
    }
}

/// An object's members: the keys as strings (a `Value`'s keys are `Value::String`s), the values through a
/// [`Guard`].
struct Entries<'de, A> {
    map: A,
    /// The first key, read already to look for a `$`.
    first: Option<Cow<'de, str>>,
}

impl<'de, A: MapAccess<'de>> MapAccess<'de> for Entries<'de, A> {
    type Error = A::Error;
    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, A::Error> {
        let key = match self.first.take() {
            Some(key) => key,
            None => match self.map.next_key_seed(KeySeed)? {
                Some(key) => key,
                None => return Ok(None),
            },
        };
        seed.deserialize(StrDe { text: key, marker: PhantomData }).map(Some)
    }
    fn next_value_seed<S: DeserializeSeed<'de>>(&mut self, seed: S) -> Result<S::Value, A::Error> {
        self.map.next_value_seed(GuardSeed(seed))
    }
    fn size_hint(&self) -> Option<usize> {
        self.map.size_hint()
    }
}

/// Reads an object key as a string, borrowed where it has no escapes.
struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Cow<'de, str>;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Cow<'de, str>, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed {
    type Value = Cow<'de, str>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object key")
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Cow<'de, str>, E> {
        Ok(Cow::Borrowed(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Cow<'de, str>, E> {
        Ok(Cow::Owned(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Cow<'de, str>, E> {
        Ok(Cow::Owned(v))
    }
}

/// A string as rpc_core's `Value` deserializer reads a `Value::String` (an object key): a string to every method
/// but `option` (some), `unit` (an error), `newtype_struct` (the newtype of the string) and `enum` (a unit
/// variant).
struct StrDe<'de, E> {
    text: Cow<'de, str>,
    marker: PhantomData<E>,
}

impl<'de, E: de::Error> de::Deserializer<'de> for StrDe<'de, E> {
    type Error = E;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, E> {
        match self.text {
            Cow::Borrowed(s) => visitor.visit_borrowed_str(s),
            Cow::Owned(s) => visitor.visit_string(s),
        }
    }
    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, E> {
        visitor.visit_some(self)
    }
    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, E> {
        Err(E::invalid_type(Unexpected::Str(&self.text), &visitor))
    }
    fn deserialize_unit_struct<V: Visitor<'de>>(self, _name: &'static str, visitor: V) -> Result<V::Value, E> {
        self.deserialize_unit(visitor)
    }
    fn deserialize_newtype_struct<V: Visitor<'de>>(self, _name: &'static str, visitor: V) -> Result<V::Value, E> {
        visitor.visit_newtype_struct(self)
    }
    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, E> {
        visitor.visit_enum(UnitVariant { name: self.text, marker: PhantomData })
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf seq tuple
        tuple_struct map struct identifier ignored_any
    }
}

/// A variant given by name alone, as rpc_core's `Value` deserializer reads a string where an enum is expected.
struct UnitVariant<'de, E> {
    name: Cow<'de, str>,
    marker: PhantomData<E>,
}

/// A variant name as rpc_core's `Value` deserializer hands it over (serde's string deserializer).
fn variant_name<'de, S: DeserializeSeed<'de>, E: de::Error>(seed: S, name: Cow<'de, str>) -> Result<S::Value, E> {
    match name {
        Cow::Borrowed(s) => seed.deserialize(BorrowedStrDeserializer::<E>::new(s)),
        Cow::Owned(s) => seed.deserialize(StringDeserializer::<E>::new(s)),
    }
}

impl<'de, E: de::Error> EnumAccess<'de> for UnitVariant<'de, E> {
    type Error = E;
    type Variant = UnitOnly<E>;
    fn variant_seed<S: DeserializeSeed<'de>>(self, seed: S) -> Result<(S::Value, UnitOnly<E>), E> {
        Ok((variant_name(seed, self.name)?, UnitOnly(PhantomData)))
    }
}

/// The content of a variant given by name alone: none.
struct UnitOnly<E>(PhantomData<E>);

impl<'de, E: de::Error> VariantAccess<'de> for UnitOnly<E> {
    type Error = E;
    fn unit_variant(self) -> Result<(), E> {
        Ok(())
    }
    fn newtype_variant_seed<S: DeserializeSeed<'de>>(self, _seed: S) -> Result<S::Value, E> {
        Err(E::invalid_type(Unexpected::UnitVariant, &"a newtype variant"))
    }
    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, _visitor: V) -> Result<V::Value, E> {
        Err(E::invalid_type(Unexpected::UnitVariant, &"a tuple variant"))
    }
    fn struct_variant<V: Visitor<'de>>(self, _fields: &'static [&'static str], _visitor: V) -> Result<V::Value, E> {
        Err(E::invalid_type(Unexpected::UnitVariant, &"a struct variant"))
    }
}

/// A variant given as a one-member object: the name is the key, the content its value.
struct MapVariant<'de, 'a, A> {
    name: Cow<'de, str>,
    map: &'a mut A,
}

impl<'de, 'a, A: MapAccess<'de>> EnumAccess<'de> for MapVariant<'de, 'a, A> {
    type Error = A::Error;
    type Variant = MemberValue<'a, A>;
    fn variant_seed<S: DeserializeSeed<'de>>(self, seed: S) -> Result<(S::Value, MemberValue<'a, A>), A::Error> {
        Ok((variant_name(seed, self.name)?, MemberValue(self.map)))
    }
}

/// The content of a variant given as a one-member object, read as rpc_core's `Value` deserializer reads it.
struct MemberValue<'a, A>(&'a mut A);

impl<'de, A: MapAccess<'de>> VariantAccess<'de> for MemberValue<'_, A> {
    type Error = A::Error;
    /// `null` only.
    fn unit_variant(self) -> Result<(), A::Error> {
        self.0.next_value_seed(GuardSeed(PhantomData::<()>))
    }
    fn newtype_variant_seed<S: DeserializeSeed<'de>>(self, seed: S) -> Result<S::Value, A::Error> {
        self.0.next_value_seed(GuardSeed(seed))
    }
    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, visitor: V) -> Result<V::Value, A::Error> {
        self.0.next_value_seed(ModeSeed { visitor, mode: Mode::TupleVariant })
    }
    fn struct_variant<V: Visitor<'de>>(
        self,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, A::Error> {
        self.0.next_value_seed(ModeSeed { visitor, mode: Mode::StructVariant })
    }
}

#[cfg(test)]
pub(super) mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;
    use rpc_core::encoding::{DATETIME_MARKER, EXT_MARKER};
    use rpc_core::{DateTime, Ext, Map, from_value, to_value};
    use serde::de::DeserializeOwned;
    use serde::{Deserialize, Serialize};
    use serde_bytes::ByteBuf;

    use rpc_test_support::values::{JSON_TAGS, any_value};

    use super::super::{decode_value, encode_value};
    use super::*;

    /// What the typed path writes after a prefix, which stays (and is all that is left after an error).
    fn typed_text<T: Serialize + ?Sized>(t: &T) -> Result<String, Error> {
        let mut out = b"prefix".to_vec();
        match to_writer(t, &mut out) {
            Ok(()) => {
                assert!(out.starts_with(b"prefix"));
                Ok(String::from_utf8(out.split_off(6)).unwrap())
            }
            Err(e) => {
                assert_eq!(out, b"prefix", "truncated back on error");
                Err(e)
            }
        }
    }

    fn value_text<T: Serialize + ?Sized>(t: &T) -> Result<String, String> {
        let v = to_value(t).map_err(|e| e.to_string())?;
        encode_value(&v).map_err(|e| e.to_string())
    }

    /// The typed path writes what the value path writes, or refuses; the text when it writes.
    fn writes_alike<T: Serialize + ?Sized>(t: &T) -> Option<String> {
        let typed = typed_text(t).ok()?;
        assert_eq!(Ok(&typed), value_text(t).as_ref(), "typed text differs");
        Some(typed)
    }

    /// The typed path reads what the value path reads, or refuses; whether it read.
    fn reads_alike<T: DeserializeOwned + Serialize + fmt::Debug + 'static>(json: &str) -> bool {
        let Ok(typed) = from_slice::<T>(json.as_bytes(), 64) else { return false };
        let value = decode_value(json.as_bytes(), 64).unwrap_or_else(|e| panic!("{json}: value path: {e}"));
        let value: T = from_value(value).unwrap_or_else(|e| panic!("{json}: value path into the type: {e}"));
        assert_eq!(format!("{typed:?}"), format!("{value:?}"), "{json}");
        assert_eq!(to_value(&typed).ok(), to_value(&value).ok(), "{json}");
        true
    }

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    enum Shape {
        Empty,
        Circle(f64),
        Rect(u32, u32),
        Named {
            name: String,
        },
        #[serde(rename = "$base64")]
        Tagged(i32),
        #[serde(rename = "$map")]
        TaggedPair(i32, i32),
        #[serde(rename = "$float")]
        TaggedStruct {
            x: i32,
        },
    }

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Lone {
        #[serde(rename = "$ext")]
        only: i32,
        #[serde(skip_serializing_if = "Option::is_none", default)]
        maybe: Option<i32>,
    }

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Unit;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Wrapper(String);

    #[test]
    fn scalars_are_written_as_the_value_path_writes_them() {
        for (text, expected) in [
            (writes_alike(&i8::MIN), "-128"),
            (writes_alike(&u64::MAX), "18446744073709551615"),
            (writes_alike(&i64::MIN), "-9223372036854775808"),
            (writes_alike(&(u64::MAX as i128)), "18446744073709551615"),
            (writes_alike(&-5i128), "-5"),
            (writes_alike(&7u128), "7"),
            (writes_alike(&0.1f32), "0.10000000149011612"),
            (writes_alike(&-0.0f64), "-0.0"),
            (writes_alike(&1.0f64), "1.0"),
            (writes_alike(&1e300f64), "1e+300"),
            (writes_alike(&f64::NAN), r#"{"$float":"NaN"}"#),
            (writes_alike(&f32::NEG_INFINITY), r#"{"$float":"-Infinity"}"#),
            (writes_alike(&'"'), r#""\"""#),
            (writes_alike("é\u{1}\n\\😀"), r#""é\u0001\n\\😀""#),
            (writes_alike(&serde_bytes::Bytes::new(&[0, 255])), r#"{"$base64":"AP8="}"#),
            (writes_alike(&ByteBuf::new()), r#"{"$base64":""}"#),
            (writes_alike(&Option::<i32>::None), "null"),
            (writes_alike(&Some(Some(3))), "3"),
            (writes_alike(&()), "null"),
            (writes_alike(&Unit), "null"),
            (writes_alike(&Wrapper("w".into())), r#""w""#),
            (writes_alike(&true), "true"),
        ] {
            assert_eq!(text.as_deref(), Some(expected));
        }
        assert!(typed_text(&(i128::from(u64::MAX) + 1)).is_err() && value_text(&(i128::from(u64::MAX) + 1)).is_err());
        assert!(typed_text(&i128::MIN).is_err() && value_text(&i128::MIN).is_err());
        assert!(typed_text(&u128::MAX).is_err() && value_text(&u128::MAX).is_err());
    }

    #[test]
    fn compounds_are_written_as_the_value_path_writes_them() {
        let dt: DateTime = "19980717T14:08:55".parse().unwrap();
        let int_keys: BTreeMap<i64, &str> = [(1, "one"), (2, "two")].into_iter().collect();
        let tag_key: BTreeMap<&str, i32> = [("$float", 1)].into_iter().collect();
        let two_keys: BTreeMap<&str, i32> = [("$float", 1), ("a", 2)].into_iter().collect();
        let mut mixed = Map::new();
        mixed.push("a,b:c", Value::Array(vec![1.into(), Value::Map([("k\"", ":,")].into_iter().collect())]));
        mixed.push("x", Value::Nil);
        mixed.push(3, "three");
        mixed.push("y", Value::Bytes(vec![1]));
        let mut bytes_key = Map::new();
        bytes_key.push(Value::Bytes(vec![1]), 1);
        for (text, expected) in [
            (writes_alike(&Shape::Empty), r#""Empty""#),
            (writes_alike(&Shape::Circle(1.5)), r#"{"Circle":1.5}"#),
            (writes_alike(&Shape::Rect(2, 3)), r#"{"Rect":[2,3]}"#),
            (writes_alike(&Shape::Named { name: "n".into() }), r#"{"Named":{"name":"n"}}"#),
            (writes_alike(&Shape::Tagged(1)), r#"{"$map":[["$base64",1]]}"#),
            (writes_alike(&Shape::TaggedPair(1, 2)), r#"{"$map":[["$map",[1,2]]]}"#),
            (writes_alike(&Shape::TaggedStruct { x: 1 }), r#"{"$map":[["$float",{"x":1}]]}"#),
            (writes_alike(&Lone { only: 1, maybe: None }), r#"{"$map":[["$ext",1]]}"#),
            (writes_alike(&Lone { only: 1, maybe: Some(2) }), r#"{"$ext":1,"maybe":2}"#),
            (writes_alike(&int_keys), r#"{"$map":[[1,"one"],[2,"two"]]}"#),
            (writes_alike(&tag_key), r#"{"$map":[["$float",1]]}"#),
            (writes_alike(&two_keys), r#"{"$float":1,"a":2}"#),
            (
                writes_alike(&Value::Map(mixed)),
                r#"{"$map":[["a,b:c",[1,{"k\"":":,"}]],["x",null],[3,"three"],["y",{"$base64":"AQ=="}]]}"#,
            ),
            (writes_alike(&Value::Map(bytes_key)), r#"{"$map":[[{"$base64":"AQ=="},1]]}"#),
            (writes_alike(&dt), r#"{"$datetime":"19980717T14:08:55"}"#),
            (writes_alike(&Ext::new(-1, [1, 2, 3])), r#"{"$ext":[-1,"AQID"]}"#),
            (writes_alike(&(1, "a", [dt])), r#"[1,"a",[{"$datetime":"19980717T14:08:55"}]]"#),
            (writes_alike(&BTreeMap::<String, i32>::new()), "{}"),
            (writes_alike(&Vec::<i32>::new()), "[]"),
        ] {
            assert_eq!(text.as_deref(), Some(expected));
        }
    }

    #[test]
    fn what_the_value_path_refuses_is_refused() {
        #[derive(Serialize)]
        #[serde(rename = "$rpc_core::DateTime")]
        struct BadDate(&'static str);
        #[derive(Serialize)]
        #[serde(rename = "_ExtStruct")]
        struct BadExt((i32, &'static [u8]));
        assert!(value_text(&BadDate("yesterday")).is_err() && typed_text(&BadDate("yesterday")).is_err());
        assert!(value_text(&BadExt((1, b"x"))).is_err() && typed_text(&BadExt((1, b"x"))).is_err());
        // The lenient forms a datetime is read from go out in the basic form, as the value path writes them.
        assert_eq!(writes_alike(&BadDate("1998-07-17T14:08:55Z")).unwrap(), r#"{"$datetime":"19980717T14:08:55"}"#);
        // Too deep for the value path: refused, the output untouched.
        let mut deep = Value::Nil;
        for _ in 0..MAX_ENCODE_DEPTH + 2 {
            deep = Value::Array(vec![deep]);
        }
        assert!(value_text(&deep).is_err() && typed_text(&deep).is_err());
        while let Value::Array(mut items) = deep {
            deep = items.pop().unwrap_or_default();
        }
    }

    #[test]
    fn numbers_are_classified_as_the_value_path_classifies_them() {
        for json in ["1", "-1", "1.0", "1e3", "-0", "0", "-0.0", "18446744073709551615", "18446744073709551616"] {
            for json in [json.to_owned(), format!("[{json}]"), format!(r#"{{"a":{json}}}"#)] {
                assert!(reads_alike::<Value>(&json), "{json}");
                reads_alike::<i64>(&json);
                reads_alike::<u64>(&json);
                reads_alike::<u8>(&json);
                reads_alike::<f64>(&json);
                reads_alike::<f32>(&json);
                reads_alike::<i128>(&json);
                reads_alike::<u128>(&json);
                reads_alike::<Vec<i64>>(&json);
                reads_alike::<BTreeMap<String, f64>>(&json);
            }
        }
        assert_eq!(from_slice::<Value>(b"-0", 64).unwrap(), Value::Float(-0.0));
        assert_eq!(from_slice::<Value>(b"7", 64).unwrap(), Value::Int(7));
        assert_eq!(from_slice::<Value>(b"18446744073709551615", 64).unwrap(), Value::UInt(u64::MAX));
        assert_eq!(from_slice::<f64>(b"3", 64).unwrap(), 3.0);
        assert!(from_slice::<i64>(b"1.0", 64).is_err());
        assert!(from_slice::<Value>(b"1e400", 64).is_err());
    }

    #[test]
    fn spellings_are_read_as_the_value_path_reads_them() {
        let dt = r#"{"$datetime":"1998-07-17T14:08:55Z"}"#;
        assert!(reads_alike::<DateTime>(dt));
        assert!(reads_alike::<String>(dt));
        assert!(reads_alike::<Value>(dt));
        assert!(reads_alike::<DateTime>(r#""19980717T14:08:55""#));
        assert!(reads_alike::<Ext>(r#"{"$ext":[5,"AQID"]}"#));
        assert!(reads_alike::<ByteBuf>(r#"{"$base64":"AP8="}"#));
        assert!(reads_alike::<Vec<u8>>(r#"{"$base64":"AP8="}"#));
        assert!(reads_alike::<Vec<Value>>(r#"{"$base64":"AP8="}"#));
        assert!(reads_alike::<ByteBuf>(r#""text""#));
        assert!(reads_alike::<ByteBuf>("[1,2]"));
        assert!(reads_alike::<String>(r#"{"$base64":"YWJj"}"#));
        assert!(!reads_alike::<String>(r#"{"$base64":"/w=="}"#));
        assert!(reads_alike::<f64>(r#"{"$float":"NaN"}"#));
        assert!(reads_alike::<BTreeMap<i64, String>>(r#"{"$map":[[1,"one"]]}"#));
        assert!(!reads_alike::<BTreeMap<i64, String>>(r#"{"1":"one"}"#), "keys are strings, as in the value path");
        assert!(reads_alike::<Value>(r#"{"$foo":1,"b":[{"$base64":""}]}"#));
        assert!(reads_alike::<Value>(r#"{"$base64":"AP8=","x":1}"#));
        assert!(reads_alike::<Shape>(r#"{"$map":[["$base64",1]]}"#));
        assert!(reads_alike::<Shape>(r#"{"$map":[["Circle",{"$float":"Infinity"}]]}"#));
        assert!(reads_alike::<Shape>(r#"{"Circle":{"$float":"Infinity"}}"#));
        assert!(reads_alike::<Lone>(r#"{"$map":[["$ext",1]]}"#));
        // A `$` spelling that does not hold together is an error, whatever the type.
        assert!(from_slice::<BTreeMap<String, i32>>(br#"{"a":1,"b":{"$base64":1}}"#, 64).is_err());
        assert!(from_slice::<Vec<i32>>(br#"[1,{"$base64":"%%"}]"#, 64).is_err());
        // Maps keyed like rpc_core's markers are maps, wherever they are (`Value`'s visitor is not given them as
        // the one-entry marker maps a datetime or an ext is presented as).
        let map = |k: &str, v: Value| Value::Map(Map::from(vec![(Value::from(k), v)]));
        let when = || Value::from("19980717T14:08:55");
        for (json, want) in [
            (r#"{"$rpc_core::DateTime":"19980717T14:08:55"}"#, map(DATETIME_MARKER, when())),
            (
                r#"{"$map":[["$rpc_core::Ext",[1,"AA=="]]]}"#,
                map(EXT_MARKER, Value::Array(vec![1.into(), "AA==".into()])),
            ),
            (
                r#"[{"a":{"$rpc_core::DateTime":"19980717T14:08:55"}}]"#,
                Value::Array(vec![map("a", map(DATETIME_MARKER, when()))]),
            ),
        ] {
            assert_eq!(from_slice::<Value>(json.as_bytes(), 64).unwrap(), want, "{json}");
            assert_eq!(decode_value(json.as_bytes(), 64).unwrap(), want, "{json}");
            assert!(reads_alike::<Value>(json), "{json}");
        }
    }

    #[test]
    fn enums_are_read_as_the_value_path_reads_them() {
        for json in [
            r#""Empty""#,
            r#"{"Empty":null}"#,
            r#"{"Empty":1}"#,
            r#""Circle""#,
            r#"{"Circle":2.5}"#,
            r#"{"Circle":2}"#,
            r#"{"Rect":[1,2]}"#,
            r#"{"Rect":[1]}"#,
            r#"{"Rect":{"$base64":"AQI="}}"#,
            r#"{"Named":{"name":"n"}}"#,
            r#"{"Named":["n"]}"#,
            r#"{"Named":{"$map":[["name","n"]]}}"#,
            r#"{"Named":{"name":"n"},"Empty":null}"#,
            r#"{}"#,
            r#"[]"#,
            r#"{"Nope":1}"#,
            r#"{"Tagged":1}"#,
            r#"{"$float":{"x":1}}"#,
            r#"{"$map":[["$float",{"x":1}]]}"#,
            r#"{"\u0045mpty":null}"#,
            "1",
        ] {
            reads_alike::<Shape>(json);
            reads_alike::<Vec<Shape>>(&format!("[{json}]"));
            reads_alike::<BTreeMap<String, Shape>>(&format!(r#"{{"k":{json}}}"#));
        }
        assert!(reads_alike::<Shape>(r#""Empty""#));
        assert!(reads_alike::<Shape>(r#"{"Empty":null}"#));
        assert!(reads_alike::<Shape>(r#"{"Named":["n"]}"#));
        assert!(reads_alike::<Shape>(r#"{"\u0045mpty":null}"#));
        assert!(!reads_alike::<Shape>(r#"{"Named":{"name":"n"},"Empty":null}"#));
        // A map key is a string to every type, as `Value::String` is: an enum key is a unit variant.
        #[derive(Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
        enum Key {
            Empty,
            Full(i32),
        }
        assert!(reads_alike::<BTreeMap<Key, i32>>(r#"{"Empty":1}"#));
        assert!(!reads_alike::<BTreeMap<Key, i32>>(r#"{"Full":1}"#));
        assert!(reads_alike::<BTreeMap<Option<String>, i32>>(r#"{"a":1}"#));
        assert!(!reads_alike::<BTreeMap<(), i32>>(r#"{"a":1}"#));
    }

    #[test]
    fn what_serde_json_reads_differently_is_read_as_the_value_path_does() {
        // serde_json reads `{"1": ...}` into integer keys and bytes from a string's UTF-8; the value path does not.
        assert!(from_slice::<BTreeMap<u8, i32>>(br#"{"1":1}"#, 64).is_err());
        assert!(serde_json::from_slice::<BTreeMap<u8, i32>>(br#"{"1":1}"#).is_ok());
        assert!(reads_alike::<()>("null"));
        assert!(!reads_alike::<()>("{}"));
        assert!(reads_alike::<Option<Value>>("null"));
        assert!(reads_alike::<(i64, String)>(r#"[1,"x"]"#));
        assert!(!reads_alike::<(i64, String)>(r#"[1,"x",2]"#));
        assert!(!reads_alike::<(i64,)>("[]"));
        assert!(reads_alike::<char>(r#""é""#));
        assert!(!reads_alike::<char>(r#""ab""#));
        assert!(reads_alike::<Unit>("null"));
        assert!(reads_alike::<Wrapper>(r#""w""#));
        // Depth: checked on the bytes first, as decode_value does.
        assert!(from_slice::<Value>(b"[[[1]]]", 3).is_ok());
        assert!(matches!(from_slice::<Value>(b"[[[1]]]", 2), Err(Error::Invalid(_))));
        assert!(from_slice::<Value>("[".repeat(100_000).as_bytes(), 1000).is_err());
        // Trailing bytes.
        assert!(matches!(from_slice::<i64>(b"1 2", 64), Err(Error::Malformed(_))));
        assert!(from_slice::<i64>(b" 1 ", 64).is_ok());
    }

    /// A type whose visitor takes unsigned integers only, as some hand-written ones do.
    #[derive(Debug, Serialize)]
    struct OnlyUnsigned(u64);

    impl<'de> Deserialize<'de> for OnlyUnsigned {
        fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<OnlyUnsigned, D::Error> {
            struct V;
            impl Visitor<'_> for V {
                type Value = OnlyUnsigned;
                fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    f.write_str("an unsigned integer")
                }
                fn visit_u64<E>(self, v: u64) -> Result<OnlyUnsigned, E> {
                    Ok(OnlyUnsigned(v))
                }
            }
            d.deserialize_any(V)
        }
    }

    #[test]
    fn integers_are_visited_as_the_value_path_visits_them() {
        // The value path holds 5 as `Value::Int` and visits it as signed; serde_json would visit it as unsigned.
        assert!(!reads_alike::<OnlyUnsigned>("5"));
        assert!(from_value::<OnlyUnsigned>(Value::Int(5)).is_err());
        assert!(reads_alike::<OnlyUnsigned>("18446744073709551615"));
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

        #[test]
        fn values_are_written_alike(value in any_value(&JSON_TAGS)) {
            prop_assert_eq!(typed_text(&value).unwrap(), encode_value(&value).unwrap());
        }

        #[test]
        fn values_are_read_alike(value in any_value(&JSON_TAGS)) {
            let json = encode_value(&value).unwrap();
            prop_assert!(reads_alike::<Value>(&json));
            prop_assert_eq!(from_slice::<Value>(json.as_bytes(), 64).unwrap(), value);
            reads_alike::<Vec<Value>>(&json);
            reads_alike::<BTreeMap<String, Value>>(&json);
            reads_alike::<Option<Shape>>(&json);
            reads_alike::<String>(&json);
        }
    }
}

//! The deserializer core every encoding's reader shares: serde's data model read from a wire the way
//! [`from_value`](crate::from_value) reads it from a [`Value`], by construction.
//!
//! An encoding says how to read the next item off its wire ([`WireReader`]: a whole scalar, or the header of a
//! sequence or map whose elements follow) and, for containers whose length is not written up front, whether
//! another element follows. [`WireDeserializer`] makes the serde `Deserializer` from that: the readings of
//! `Option`, unit, bytes, strings, datetimes and exts, enums as a variant name or a one-entry map, bytes
//! filling a sequence, the marker maps [`Value`]'s visitor rebuilds datetimes and exts from; and the bounds: on
//! nesting, on `Option`s and newtypes wrapping one another, on a visitor that reads less than one value or
//! swallows an error and goes on.
//!
//! So a type read straight from the wire is the type [`from_value`](crate::from_value) would make of the value
//! the same bytes decode to, and `Value` itself is read through it like any other type.

use std::borrow::Cow;

use serde::de::value::{BorrowedStrDeserializer, SeqDeserializer, StringDeserializer};
use serde::de::{self, DeserializeSeed, EnumAccess, MapAccess, SeqAccess, Unexpected, VariantAccess, Visitor};

use crate::encoding::{EXT_STRUCT_NAME, is_marker, unmarked};
use crate::value::DATETIME_STRUCT_NAME;
use crate::{DateTime, Ext, Value};

/// How many `Option`s and newtype structs may wrap one another inside one container: they read nothing
/// themselves, so without a bound a type could recurse for ever on one item.
const MAX_WRAPPERS: usize = 32;

/// One item as an encoding reads it: a whole scalar, or the header of a sequence or a map whose elements
/// follow (read by the [`WireDeserializer`] through the same reader).
#[derive(Clone, Debug, PartialEq)]
pub enum WireItem<'de> {
    /// Nil / null: [`Value::Nil`].
    Nil,
    /// A boolean.
    Bool(bool),
    /// A signed integer.
    Int(i64),
    /// An unsigned integer (one that fits `i64` is read as [`Int`](WireItem::Int) would be).
    UInt(u64),
    /// A float.
    Float(f64),
    /// A string, borrowed from the input where it can be.
    Str(Cow<'de, str>),
    /// A byte string (a string that is not UTF-8 is one too, as [`Value::Bytes`]).
    Bytes(Cow<'de, [u8]>),
    /// A datetime.
    DateTime(DateTime),
    /// An ext: its tag and data.
    Ext(i8, Cow<'de, [u8]>),
    /// The start of a sequence: its length when the wire says it (else the reader says when it ends, through
    /// [`WireReader::more`]).
    Seq(Option<usize>),
    /// The start of a map: its number of entries when the wire says it, as for [`Seq`](WireItem::Seq).
    Map(Option<usize>),
}

impl WireItem<'_> {
    /// What serde's errors call it.
    pub fn unexpected(&self) -> Unexpected<'_> {
        match self {
            WireItem::Nil => Unexpected::Unit,
            WireItem::Bool(b) => Unexpected::Bool(*b),
            WireItem::Int(i) => Unexpected::Signed(*i),
            WireItem::UInt(u) => match i64::try_from(*u) {
                Ok(i) => Unexpected::Signed(i),
                Err(_) => Unexpected::Unsigned(*u),
            },
            WireItem::Float(f) => Unexpected::Float(*f),
            WireItem::Str(s) => Unexpected::Str(s),
            WireItem::Bytes(b) => Unexpected::Bytes(b),
            WireItem::DateTime(_) => Unexpected::Other("datetime"),
            WireItem::Ext(..) => Unexpected::Other("ext"),
            WireItem::Seq(_) => Unexpected::Seq,
            WireItem::Map(_) => Unexpected::Map,
        }
    }
}

/// What an encoding's reader does for a [`WireDeserializer`]: read items off its wire, in order.
pub trait WireReader<'de> {
    /// The encoding's error.
    type Error: de::Error;

    /// The next value: a scalar whole, or the header of a sequence or map.
    fn item(&mut self) -> Result<WireItem<'de>, Self::Error>;

    /// The key of the next map entry (read after [`more`](WireReader::more) said one follows, or as counted);
    /// its value is read with [`item`](WireReader::item) next. The default reads it as any item.
    #[inline(always)]
    fn key(&mut self) -> Result<WireItem<'de>, Self::Error> {
        self.item()
    }

    /// In a sequence or map of no stated length (`map` says which): whether another element (an entry, in a
    /// map) follows, `first` when none has been asked for in it yet. The answer false has read the container's
    /// end. Never called for containers whose length the header gave; the default has none of the other kind.
    fn more(&mut self, map: bool, first: bool) -> Result<bool, Self::Error> {
        let _ = (map, first);
        Err(de::Error::custom("a container without a length"))
    }

    /// The error for containers nested deeper than `limit`.
    fn too_deep(&self, limit: usize) -> Self::Error;

    /// Checks the input once the value is read, for [`WireDeserializer::finish`]: an encoding whose input holds
    /// exactly one value refuses what is left. The default accepts (the reader goes on, as XML-RPC's does).
    fn end(&mut self) -> Result<(), Self::Error> {
        Ok(())
    }
}

/// The serde `Deserializer` over a [`WireReader`] (implemented for `&mut WireDeserializer`).
///
/// It gives serde's data model read from a wire the way [`from_value`](crate::from_value) reads it from a
/// [`Value`]: the readings of `Option`, unit, bytes, strings, datetimes and exts, enums as a variant name or a
/// one-entry map, bytes filling a sequence, and the marker maps [`Value`]'s visitor rebuilds datetimes and exts
/// from; with bounds on nesting, on `Option`s and newtypes wrapping one another, and on a visitor that reads
/// less than one value or swallows an error and goes on. So a type read straight from the wire is the type
/// `from_value` would make of the value the same bytes decode to, and `Value` itself is read through it like
/// any other type.
///
/// Used directly, call [`finish`](WireDeserializer::finish) once the value is read: it fails if an error was
/// raised on the way that a `Deserialize` impl swallowed (the value it made is then not to be used).
#[derive(Debug)]
pub struct WireDeserializer<'de, R> {
    reader: R,
    /// An item read ahead (to tell nil from a value, or a map's first key), to hand out next.
    head: Option<WireItem<'de>>,
    /// Items handed out, to tell that a visitor read one.
    taken: u64,
    max_depth: usize,
    depth_left: usize,
    wrappers_left: usize,
    /// An error was raised: whatever a visitor makes of it, the result is not used.
    failed: bool,
    /// The value of the innermost enum given as a one-entry map has been read.
    variant_done: bool,
}

fn refused<E: de::Error>(why: &str) -> E {
    E::custom(why)
}

impl<'de, R: WireReader<'de>> WireDeserializer<'de, R> {
    /// A deserializer reading from `reader`, with sequences and maps nesting at most `max_depth` deep (below 1
    /// is taken as 1).
    pub fn new(reader: R, max_depth: usize) -> WireDeserializer<'de, R> {
        let max_depth = max_depth.max(1);
        WireDeserializer {
            reader,
            head: None,
            taken: 0,
            max_depth,
            depth_left: max_depth,
            wrappers_left: MAX_WRAPPERS,
            failed: false,
            variant_done: false,
        }
    }

    /// The reader, to go on from where the value ended.
    pub fn reader(&mut self) -> &mut R {
        &mut self.reader
    }

    /// The reader, handed back.
    pub fn into_reader(self) -> R {
        self.reader
    }

    /// Checks that the value was read well: no error raised on the way that a `Deserialize` impl swallowed and
    /// went on from, nothing read ahead and left, and the reader's [`end`](WireReader::end).
    ///
    /// # Errors
    /// The encoding's error, saying which.
    pub fn finish(&mut self) -> Result<(), R::Error> {
        if self.failed {
            Err(refused("an error raised while deserializing was ignored"))
        } else if self.head.is_some() {
            Err(refused("a value was left unread"))
        } else {
            self.reader.end()
        }
    }

    /// The next item, off the wire or read ahead.
    #[inline(always)]
    fn read(&mut self) -> Result<WireItem<'de>, R::Error> {
        match self.head.take() {
            Some(item) => Ok(item),
            None => self.reader.item(),
        }
    }

    #[inline(always)]
    fn take(&mut self) -> Result<WireItem<'de>, R::Error> {
        self.taken += 1;
        self.read()
    }

    fn peek(&mut self) -> Result<&WireItem<'de>, R::Error> {
        let item = self.read()?;
        Ok(self.head.insert(item))
    }

    /// Notes an error (the result is then not used, whatever a visitor makes of it).
    #[inline]
    fn checked<T>(&mut self, result: Result<T, R::Error>) -> Result<T, R::Error> {
        if result.is_err() {
            self.failed = true;
        }
        result
    }

    /// Hands the deserializer to a seed or visitor that must read exactly one value with it.
    #[inline]
    fn handoff<T>(&mut self, f: impl FnOnce(&mut Self) -> Result<T, R::Error>) -> Result<T, R::Error> {
        if self.failed {
            return Err(refused("an error raised while deserializing was ignored"));
        }
        let before = self.taken;
        let result = f(self);
        match result {
            Ok(v) if self.taken > before => Ok(v),
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
    fn wrapped<T>(&mut self, f: impl FnOnce(&mut Self) -> Result<T, R::Error>) -> Result<T, R::Error> {
        if self.wrappers_left == 0 {
            self.failed = true;
            return Err(refused("options and newtypes wrapping one another too deeply"));
        }
        self.wrappers_left -= 1;
        let result = self.handoff(f);
        self.wrappers_left += 1;
        result
    }

    /// Runs `f` one sequence or map level down.
    #[inline]
    fn nested<T>(&mut self, f: impl FnOnce(&mut Self) -> Result<T, R::Error>) -> Result<T, R::Error> {
        if self.depth_left == 0 {
            return Err(self.reader.too_deep(self.max_depth));
        }
        self.depth_left -= 1;
        let wrappers = std::mem::replace(&mut self.wrappers_left, MAX_WRAPPERS);
        let result = f(self);
        self.wrappers_left = wrappers;
        self.depth_left += 1;
        result
    }

    /// Visits an item as `deserialize_any` does: as [`Value`]'s deserializer visits the value it decodes to.
    #[inline]
    fn visit<V: Visitor<'de>>(&mut self, item: WireItem<'de>, visitor: V) -> Result<V::Value, R::Error> {
        match item {
            WireItem::Nil => visitor.visit_unit(),
            WireItem::Bool(b) => visitor.visit_bool(b),
            WireItem::Int(i) => visitor.visit_i64(i),
            WireItem::UInt(u) => match i64::try_from(u) {
                Ok(i) => visitor.visit_i64(i),
                Err(_) => visitor.visit_u64(u),
            },
            WireItem::Float(f) => visitor.visit_f64(f),
            WireItem::Str(Cow::Borrowed(s)) => visitor.visit_borrowed_str(s),
            WireItem::Str(Cow::Owned(s)) => visitor.visit_string(s),
            WireItem::Bytes(Cow::Borrowed(b)) => visitor.visit_borrowed_bytes(b),
            WireItem::Bytes(Cow::Owned(b)) => visitor.visit_byte_buf(b),
            // The marker maps `{DATETIME_MARKER: text}` and `{EXT_MARKER: [tag, bytes]}`, by `Value`'s own
            // deserializer.
            WireItem::DateTime(d) => de::Deserializer::deserialize_any(Value::DateTime(d), visitor).map_err(from_core),
            WireItem::Ext(tag, data) => {
                de::Deserializer::deserialize_any(Value::Ext(Ext::new(tag, data)), visitor).map_err(from_core)
            }
            WireItem::Seq(len) => self.visit_seq(len, visitor),
            WireItem::Map(len) => self.visit_map(len, visitor),
        }
    }

    fn visit_seq<V: Visitor<'de>>(&mut self, len: Option<usize>, visitor: V) -> Result<V::Value, R::Error> {
        self.nested(|de| {
            let mut seq = Seq { de, elements: Elements::new(len, false) };
            let value = visitor.visit_seq(&mut seq)?;
            if seq.elements.next(&mut seq.de.reader)? {
                // As `SeqDeserializer::end`.
                return Err(de::Error::invalid_length(seq.elements.len(), &"fewer elements in array"));
            }
            Ok(value)
        })
    }

    fn visit_map<V: Visitor<'de>>(&mut self, len: Option<usize>, visitor: V) -> Result<V::Value, R::Error> {
        self.nested(|de| {
            let mut map = Entries { de, elements: Elements::new(len, true), key: None, value_next: false };
            // The first key is read ahead: a map whose first key is a marker goes without its size hint, so
            // that `Value`'s visitor keeps it a map.
            let marked = if map.elements.next(&mut map.de.reader)? {
                let key = map.de.reader.key()?;
                let marked = matches!(&key, WireItem::Str(k) if is_marker(Some(k)));
                map.key = Some(key);
                marked
            } else {
                false
            };
            let value = if marked { visitor.visit_map(unmarked(&mut map))? } else { visitor.visit_map(&mut map)? };
            if map.value_next {
                return Err(refused("a map key whose value was left unread"));
            }
            if map.key.is_some() || map.elements.next(&mut map.de.reader)? {
                // As `MapDeserializer::end`.
                return Err(de::Error::invalid_length(map.elements.len(), &"fewer elements in map"));
            }
            Ok(value)
        })
    }

    /// A byte string filling a sequence (of `u8`), as `from_value` does for [`Value::Bytes`].
    fn bytes_as_seq<V: Visitor<'de>>(bytes: &[u8], visitor: V) -> Result<V::Value, R::Error> {
        let mut seq = SeqDeserializer::<_, crate::Error>::new(bytes.iter().map(|&b| Value::from(b)));
        let value = visitor.visit_seq(&mut seq).map_err(from_core)?;
        seq.end().map_err(from_core)?;
        Ok(value)
    }

    fn option<V: Visitor<'de>>(&mut self, visitor: V) -> Result<V::Value, R::Error> {
        if *self.peek()? == WireItem::Nil {
            self.take()?;
            visitor.visit_none()
        } else {
            self.wrapped(|de| visitor.visit_some(de))
        }
    }

    fn unit<V: Visitor<'de>>(&mut self, visitor: V) -> Result<V::Value, R::Error> {
        match self.take()? {
            WireItem::Nil => visitor.visit_unit(),
            item => Err(de::Error::invalid_type(item.unexpected(), &visitor)),
        }
    }

    fn byte_buf<V: Visitor<'de>>(&mut self, visitor: V) -> Result<V::Value, R::Error> {
        match self.take()? {
            item @ (WireItem::Bytes(_) | WireItem::Str(_)) => self.visit(item, visitor),
            WireItem::Seq(len) => self.visit_seq(len, visitor),
            item => Err(de::Error::invalid_type(item.unexpected(), &visitor)),
        }
    }

    fn string<V: Visitor<'de>>(&mut self, visitor: V) -> Result<V::Value, R::Error> {
        match self.take()? {
            WireItem::Str(Cow::Borrowed(s)) => visitor.visit_borrowed_str(s),
            WireItem::Str(Cow::Owned(s)) => visitor.visit_string(s),
            // Bytes that are UTF-8, as MessagePack peers (pynvim) send strings.
            WireItem::Bytes(Cow::Borrowed(b)) => match std::str::from_utf8(b) {
                Ok(s) => visitor.visit_borrowed_str(s),
                Err(_) => Err(de::Error::invalid_value(Unexpected::Bytes(b), &visitor)),
            },
            WireItem::Bytes(Cow::Owned(b)) => match String::from_utf8(b) {
                Ok(s) => visitor.visit_string(s),
                Err(e) => Err(de::Error::invalid_value(Unexpected::Bytes(e.as_bytes()), &visitor)),
            },
            WireItem::DateTime(d) => visitor.visit_string(d.to_string()),
            item => Err(de::Error::invalid_type(item.unexpected(), &visitor)),
        }
    }

    fn seq<V: Visitor<'de>>(&mut self, visitor: V) -> Result<V::Value, R::Error> {
        match self.take()? {
            WireItem::Bytes(b) => Self::bytes_as_seq(&b, visitor),
            item => self.visit(item, visitor),
        }
    }

    fn newtype<V: Visitor<'de>>(&mut self, name: &'static str, visitor: V) -> Result<V::Value, R::Error> {
        match (name, self.peek()?) {
            (DATETIME_STRUCT_NAME, WireItem::DateTime(_)) | (EXT_STRUCT_NAME, WireItem::Ext(..)) => {
                match self.take()? {
                    WireItem::DateTime(d) => visitor.visit_newtype_struct(StringDeserializer::new(d.to_string())),
                    WireItem::Ext(tag, data) => {
                        let parts = Value::Array(vec![Value::Int(tag.into()), Value::Bytes(data.into_owned())]);
                        visitor.visit_newtype_struct(parts).map_err(from_core)
                    }
                    _ => Err(refused("an item changed while read ahead")),
                }
            }
            _ => self.wrapped(|de| visitor.visit_newtype_struct(de)),
        }
    }

    fn enumeration<V: Visitor<'de>>(&mut self, visitor: V) -> Result<V::Value, R::Error> {
        const EXPECTED: &str = "a variant name or a one-entry map";
        match self.take()? {
            WireItem::Str(variant) => visitor.visit_enum(Enum { de: self, variant, value: false }),
            WireItem::Map(len) => self.nested(|de| {
                let mut entries = Elements::new(len, true);
                if !entries.next(&mut de.reader)? {
                    return Err(de::Error::invalid_type(Unexpected::Map, &EXPECTED));
                }
                let variant = match de.reader.key()? {
                    WireItem::Str(variant) => variant,
                    key => return Err(de::Error::invalid_type(key.unexpected(), &"a variant name")),
                };
                de.variant_done = false;
                let value = visitor.visit_enum(Enum { de: &mut *de, variant, value: true })?;
                if !de.variant_done {
                    return Err(refused("an enum variant whose value was left unread"));
                }
                if entries.next(&mut de.reader)? {
                    return Err(de::Error::invalid_type(Unexpected::Map, &EXPECTED));
                }
                Ok(value)
            }),
            item => Err(de::Error::invalid_type(item.unexpected(), &EXPECTED)),
        }
    }
}

/// An error of `rpc_core` (from a [`Value`] deserializer) as the encoding's.
fn from_core<E: de::Error>(e: crate::Error) -> E {
    match e {
        crate::Error::Decode(reason) | crate::Error::Encode(reason) => E::custom(reason),
        other => E::custom(other),
    }
}

/// Each `deserialize_*` method: the reading, and the error noted.
macro_rules! checked {
    ($($method:ident => $reading:ident),* $(,)?) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, R::Error> {
            let result = self.$reading(visitor);
            self.checked(result)
        }
    )*};
}

impl<'de, R: WireReader<'de>> de::Deserializer<'de> for &mut WireDeserializer<'de, R> {
    type Error = R::Error;

    checked! {
        deserialize_option => option,
        deserialize_unit => unit,
        deserialize_byte_buf => byte_buf,
        deserialize_string => string,
        deserialize_seq => seq,
    }

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, R::Error> {
        let result = self.take().and_then(|item| self.visit(item, visitor));
        self.checked(result)
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(self, _name: &'static str, visitor: V) -> Result<V::Value, R::Error> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, R::Error> {
        self.deserialize_byte_buf(visitor)
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, R::Error> {
        self.deserialize_string(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(self, name: &'static str, visitor: V) -> Result<V::Value, R::Error> {
        let result = self.newtype(name, visitor);
        self.checked(result)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, R::Error> {
        let result = self.enumeration(visitor);
        self.checked(result)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char
        tuple tuple_struct map struct identifier ignored_any
    }
}

/// Where a sequence or map stands: elements counted down from its stated length, or asked of the reader.
#[derive(Debug)]
struct Elements {
    left: Option<usize>,
    read: usize,
    map: bool,
    /// The reader said the container ended.
    ended: bool,
}

impl Elements {
    fn new(len: Option<usize>, map: bool) -> Elements {
        Elements { left: len, read: 0, map, ended: false }
    }

    /// Whether another element follows (read through its start, where the reader has one).
    #[inline]
    fn next<'de, R: WireReader<'de>>(&mut self, reader: &mut R) -> Result<bool, R::Error> {
        let more = match &mut self.left {
            Some(0) => false,
            Some(n) => {
                *n -= 1;
                true
            }
            None if self.ended => false,
            None => {
                let more = reader.more(self.map, self.read == 0)?;
                self.ended = !more;
                more
            }
        };
        self.read += usize::from(more);
        Ok(more)
    }

    /// The length, as the `invalid_length` errors give it.
    fn len(&self) -> usize {
        self.read + self.left.unwrap_or(0)
    }
}

/// The elements of a sequence, for a visitor.
struct Seq<'a, 'de, R> {
    de: &'a mut WireDeserializer<'de, R>,
    elements: Elements,
}

impl<'de, R: WireReader<'de>> SeqAccess<'de> for Seq<'_, 'de, R> {
    type Error = R::Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>, R::Error> {
        if !self.elements.next(&mut self.de.reader)? {
            return Ok(None);
        }
        self.de.handoff(|de| seed.deserialize(de)).map(Some)
    }

    fn size_hint(&self) -> Option<usize> {
        self.elements.left
    }
}

/// The entries of a map, for a visitor.
struct Entries<'a, 'de, R> {
    de: &'a mut WireDeserializer<'de, R>,
    elements: Elements,
    /// The first key, read ahead.
    key: Option<WireItem<'de>>,
    /// A key has been read, its value not yet.
    value_next: bool,
}

impl<'de, R: WireReader<'de>> MapAccess<'de> for Entries<'_, 'de, R> {
    type Error = R::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, R::Error> {
        if self.value_next {
            // `MapDeserializer` would drop the value: refused rather than mirrored.
            self.de.failed = true;
            return Err(refused("a map key read before the value of the one before"));
        }
        let key = match self.key.take() {
            Some(key) => key,
            None if self.elements.next(&mut self.de.reader)? => self.de.reader.key()?,
            None => return Ok(None),
        };
        self.value_next = true;
        self.de.head = Some(key);
        self.de.handoff(|de| seed.deserialize(de)).map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, R::Error> {
        if !self.value_next {
            self.de.failed = true;
            return Err(refused("a map value read before its key"));
        }
        self.value_next = false;
        self.de.handoff(|de| seed.deserialize(de))
    }

    fn size_hint(&self) -> Option<usize> {
        self.elements.left.map(|left| left + usize::from(self.key.is_some()))
    }
}

/// An enum: its variant name, and whether a value follows (a one-entry map) or not (a string).
struct Enum<'a, 'de, R> {
    de: &'a mut WireDeserializer<'de, R>,
    variant: Cow<'de, str>,
    value: bool,
}

impl<'a, 'de, R: WireReader<'de>> EnumAccess<'de> for Enum<'a, 'de, R> {
    type Error = R::Error;
    type Variant = Variant<'a, 'de, R>;

    fn variant_seed<S: DeserializeSeed<'de>>(self, seed: S) -> Result<(S::Value, Variant<'a, 'de, R>), R::Error> {
        let variant = match self.variant {
            Cow::Borrowed(v) => seed.deserialize(BorrowedStrDeserializer::new(v))?,
            Cow::Owned(v) => seed.deserialize(StringDeserializer::new(v))?,
        };
        Ok((variant, Variant { de: self.de, value: self.value }))
    }
}

/// The value of an enum, read as `from_value` reads it.
struct Variant<'a, 'de, R> {
    de: &'a mut WireDeserializer<'de, R>,
    value: bool,
}

impl<'de, R: WireReader<'de>> Variant<'_, 'de, R> {
    fn done<T>(self, result: Result<T, R::Error>) -> Result<T, R::Error> {
        if result.is_ok() {
            self.de.variant_done = true;
        }
        result
    }

    fn unit(kind: &str) -> R::Error {
        de::Error::invalid_type(Unexpected::UnitVariant, &kind)
    }
}

impl<'de, R: WireReader<'de>> VariantAccess<'de> for Variant<'_, 'de, R> {
    type Error = R::Error;

    fn unit_variant(self) -> Result<(), R::Error> {
        if !self.value {
            return Ok(());
        }
        let result = match self.de.take() {
            Ok(WireItem::Nil) => Ok(()),
            Ok(item) => Err(de::Error::invalid_type(item.unexpected(), &"a unit variant")),
            Err(e) => Err(e),
        };
        self.done(result)
    }

    fn newtype_variant_seed<S: DeserializeSeed<'de>>(self, seed: S) -> Result<S::Value, R::Error> {
        if !self.value {
            return Err(Self::unit("a newtype variant"));
        }
        let result = self.de.handoff(|de| seed.deserialize(de));
        self.done(result)
    }

    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, visitor: V) -> Result<V::Value, R::Error> {
        if !self.value {
            return Err(Self::unit("a tuple variant"));
        }
        let result = match self.de.take() {
            Ok(WireItem::Seq(len)) => self.de.visit_seq(len, visitor),
            Ok(item) => Err(de::Error::invalid_type(item.unexpected(), &"a tuple variant")),
            Err(e) => Err(e),
        };
        self.done(result)
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, R::Error> {
        if !self.value {
            return Err(Self::unit("a struct variant"));
        }
        let result = match self.de.take() {
            Ok(WireItem::Map(len)) => self.de.visit_map(len, visitor),
            Ok(WireItem::Seq(len)) => self.de.visit_seq(len, visitor),
            Ok(item) => Err(de::Error::invalid_type(item.unexpected(), &"a struct variant")),
            Err(e) => Err(e),
        };
        self.done(result)
    }
}

//! `to_value`: any `Serialize` type into a [`Value`].

use serde::ser::{self, Serialize};

use crate::value::{DATETIME_STRUCT_NAME, EXT_STRUCT_NAME};
use crate::{DateTime, Error, Ext, Map, Value};

/// Converts any serde-serializable value into a [`Value`].
///
/// Structs become maps with their field names as string keys (in declaration order), sequences and tuples
/// become arrays, `None` and `()` become [`Value::Nil`], enums are externally tagged (a unit variant is its
/// name as a string, any other variant a one-entry map), byte strings (`serde_bytes`) become
/// [`Value::Bytes`], and [`DateTime`] and [`Ext`] keep their own kinds.
///
/// ```
/// #[derive(serde::Serialize)]
/// struct Point { x: i32, y: i32 }
///
/// let v = rpc_core::to_value(&Point { x: 1, y: 2 }).unwrap();
/// assert_eq!(v.as_map().unwrap().get_str("y"), Some(&rpc_core::Value::Int(2)));
/// ```
pub fn to_value<T: Serialize + ?Sized>(value: &T) -> Result<Value, Error> {
    value.serialize(ValueSerializer)
}

impl ser::Error for Error {
    fn custom<T: std::fmt::Display>(msg: T) -> Error {
        Error::Encode(msg.to_string())
    }
}

/// The serializer behind [`to_value`].
#[derive(Debug, Clone, Copy)]
struct ValueSerializer;

impl crate::encoding::WireSerializer for ValueSerializer {
    type Ok = Value;
    type Error = Error;
    type Compound = Compound;

    fn nil(self) -> Result<Value, Error> {
        Ok(Value::Nil)
    }
    fn boolean(self, v: bool) -> Result<Value, Error> {
        Ok(Value::Bool(v))
    }
    fn int(self, v: i64) -> Result<Value, Error> {
        Ok(Value::Int(v))
    }
    fn uint(self, v: u64) -> Result<Value, Error> {
        Ok(Value::from_u64(v))
    }
    fn float(self, v: f64) -> Result<Value, Error> {
        Ok(Value::Float(v))
    }
    fn string(self, v: &str) -> Result<Value, Error> {
        Ok(Value::String(v.to_owned()))
    }
    fn bytes(self, v: &[u8]) -> Result<Value, Error> {
        Ok(Value::Bytes(v.to_vec()))
    }
    fn marked(self, v: Marked) -> Result<Value, Error> {
        Ok(match v {
            Marked::DateTime(d) => Value::DateTime(d),
            Marked::Ext(e) => Value::Ext(e),
        })
    }
    fn inner<T: Serialize + ?Sized>(self, value: &T) -> Result<Value, Error> {
        value.serialize(self)
    }
    fn newtype_variant<T: Serialize + ?Sized>(self, variant: &'static str, value: &T) -> Result<Value, Error> {
        Ok(in_variant(Some(variant), value.serialize(self)?))
    }
    fn seq(self, len: Option<usize>) -> Result<Compound, Error> {
        Ok(Compound { items: Vec::with_capacity(len.unwrap_or(0)), ..Compound::default() })
    }
    fn tuple_variant(self, variant: &'static str, len: usize) -> Result<Compound, Error> {
        Ok(Compound { variant: Some(variant), items: Vec::with_capacity(len), ..Compound::default() })
    }
    fn map(self, len: Option<usize>) -> Result<Compound, Error> {
        Ok(Compound { map: Map::with_capacity(len.unwrap_or(0)), ..Compound::default() })
    }
    fn struct_variant(self, variant: &'static str, len: usize) -> Result<Compound, Error> {
        Ok(Compound { variant: Some(variant), map: Map::with_capacity(len), ..Compound::default() })
    }
    fn refuse(self, error: Error) -> Error {
        error
    }
}

crate::wire_serializer!([] ValueSerializer);

/// A sequence, map, struct or variant being made into a [`Value`] by [`ValueSerializer`].
#[doc(hidden)]
#[derive(Debug, Default)]
pub struct Compound {
    /// The variant it is the value of (a tuple or struct variant): it ends as `{variant: ...}`.
    variant: Option<&'static str>,
    items: Vec<Value>,
    map: Map,
    /// A map key whose value has not come yet.
    key: Option<Value>,
}

impl Compound {
    fn element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        self.items.push(to_value(value)?);
        Ok(())
    }
    fn key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Error> {
        self.key = Some(to_value(key)?);
        Ok(())
    }
    fn value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        let key = self.key.take().ok_or_else(|| Error::Encode("map value without a key".into()))?;
        self.map.push(key, to_value(value)?);
        Ok(())
    }
    fn field<T: Serialize + ?Sized>(&mut self, key: &'static str, value: &T) -> Result<(), Error> {
        self.map.push(key, to_value(value)?);
        Ok(())
    }
    fn end_seq(self) -> Result<Value, Error> {
        Ok(in_variant(self.variant, Value::Array(self.items)))
    }
    fn end_map(self) -> Result<Value, Error> {
        Ok(in_variant(self.variant, Value::Map(self.map)))
    }
}

/// `value`, or the one-entry map `{variant: value}` that a variant with data is.
fn in_variant(variant: Option<&'static str>, value: Value) -> Value {
    match variant {
        None => value,
        Some(variant) => {
            let mut map = Map::with_capacity(1);
            map.push(variant, value);
            Value::Map(map)
        }
    }
}

crate::serialize_compound!(Compound, Error, Value);

/// A datetime or an ext, as a serializer meets one: the newtype struct [`DATETIME_STRUCT_NAME`] or
/// [`EXT_STRUCT_NAME`] around its serde form (see [`marked_newtype`]).
#[derive(Debug, Clone, PartialEq)]
pub enum Marked {
    /// A datetime (its text, parsed).
    DateTime(DateTime),
    /// An ext (its `(tag, bytes)`).
    Ext(Ext),
}

/// What the newtype struct `name` around `value` stands for, for an encoding's serializer: a datetime or an ext
/// (read from the inner value), `None` for any other newtype (serialize the inner value as it is). Every
/// serializer of the framework reads them through this, so that they refuse alike what is neither (a datetime
/// that is not a string, an ext that is not `(i8, bytes)`).
///
/// # Errors
/// [`Error::Encode`] for an inner value that is not the marked type's serde form.
pub fn marked_newtype<T: Serialize + ?Sized>(name: &str, value: &T) -> Option<Result<Marked, Error>> {
    let bad_ext = || Error::Encode("an ext must serialize as (i8, bytes)".into());
    match name {
        DATETIME_STRUCT_NAME => Some(value.serialize(ValueSerializer).and_then(|v| match v {
            Value::String(s) => s.parse::<DateTime>().map(Marked::DateTime),
            other => Err(Error::Encode(format!("a datetime must serialize as a string, not {}", other.kind()))),
        })),
        EXT_STRUCT_NAME => Some(value.serialize(ValueSerializer).and_then(|v| {
            match v {
                Value::Array(parts) => match <[Value; 2]>::try_from(parts) {
                    Ok([Value::Int(tag), Value::Bytes(data)]) => i8::try_from(tag)
                        .map(|tag| Marked::Ext(Ext { tag, data }))
                        .map_err(|_| Error::Encode(format!("ext tag {tag} is outside -128..=127"))),
                    _ => Err(bad_ext()),
                },
                _ => Err(bad_ext()),
            }
        })),
        _ => None,
    }
}

/// What an encoding's serializer writes, from which [`wire_serializer!`](crate::wire_serializer) makes its serde
/// [`Serializer`](ser::Serializer): the few kinds of item the framework's values have, and the containers.
///
/// serde's thirty-odd `serialize_*` methods come down to these the same way on every encoding (and in
/// [`to_value`](crate::to_value)), so that a value and its [`Value`] are written alike everywhere: integers are
/// widened to 64 bits (an `i128` or `u128` beyond them is refused with the same message), an `f32` is kept as the
/// `f64` it widens to, a `char` and a unit variant are strings, `None`, `()` and unit structs are nil, a datetime
/// or an ext newtype is read by [`marked_newtype`], tuples and tuple structs are sequences and structs are maps
/// of known length. The implementation is for the serializer as serde uses it (`&mut Serializer`, by value).
pub trait WireSerializer: Sized {
    /// What a finished item is (`()` for a serializer writing into a buffer).
    type Ok;
    /// The encoding's error.
    type Error: ser::Error;
    /// A sequence, tuple, map, struct or variant holding one, being written: serde's seven `Serialize*`
    /// traits (see [`serialize_compound!`](crate::serialize_compound)).
    type Compound: ser::SerializeSeq<Ok = Self::Ok, Error = Self::Error>
        + ser::SerializeTuple<Ok = Self::Ok, Error = Self::Error>
        + ser::SerializeTupleStruct<Ok = Self::Ok, Error = Self::Error>
        + ser::SerializeTupleVariant<Ok = Self::Ok, Error = Self::Error>
        + ser::SerializeMap<Ok = Self::Ok, Error = Self::Error>
        + ser::SerializeStruct<Ok = Self::Ok, Error = Self::Error>
        + ser::SerializeStructVariant<Ok = Self::Ok, Error = Self::Error>;

    /// Nil (`None`, `()`, a unit struct).
    fn nil(self) -> Result<Self::Ok, Self::Error>;
    /// A boolean.
    fn boolean(self, v: bool) -> Result<Self::Ok, Self::Error>;
    /// A signed integer (every signed type, widened; an `i128` that fits).
    fn int(self, v: i64) -> Result<Self::Ok, Self::Error>;
    /// An unsigned integer (every unsigned type, widened; a `u128` or positive `i128` beyond `i64`).
    fn uint(self, v: u64) -> Result<Self::Ok, Self::Error>;
    /// A float (an `f32` widened).
    fn float(self, v: f64) -> Result<Self::Ok, Self::Error>;
    /// A string (a `char`, a unit variant's name).
    fn string(self, v: &str) -> Result<Self::Ok, Self::Error>;
    /// A byte string.
    fn bytes(self, v: &[u8]) -> Result<Self::Ok, Self::Error>;
    /// A datetime or an ext (the newtypes [`marked_newtype`] reads).
    fn marked(self, v: Marked) -> Result<Self::Ok, Self::Error>;
    /// The value inside a `Some` or a newtype struct, written as the value itself (bound its depth here: each
    /// wrapper is one more call on the stack).
    fn inner<T: Serialize + ?Sized>(self, value: &T) -> Result<Self::Ok, Self::Error>;
    /// A variant with one value: the one-entry map `{variant: value}`.
    fn newtype_variant<T: Serialize + ?Sized>(self, variant: &'static str, value: &T) -> Result<Self::Ok, Self::Error>;
    /// Opens a sequence of `len` items (`None`: not known until its end).
    fn seq(self, len: Option<usize>) -> Result<Self::Compound, Self::Error>;
    /// Opens a tuple variant: `{variant: [...]}`.
    fn tuple_variant(self, variant: &'static str, len: usize) -> Result<Self::Compound, Self::Error>;
    /// Opens a map of `len` entries (`None`: not known until its end).
    fn map(self, len: Option<usize>) -> Result<Self::Compound, Self::Error>;
    /// Opens a struct variant: `{variant: {...}}`.
    fn struct_variant(self, variant: &'static str, len: usize) -> Result<Self::Compound, Self::Error>;
    /// The encoding's error for a value it cannot write (an integer beyond 64 bits, a datetime or ext newtype
    /// around something else).
    fn refuse(self, error: Error) -> Self::Error;
}

/// The error for an integer beyond 64 bits, alike on every encoding.
#[doc(hidden)]
pub fn too_wide(v: impl std::fmt::Display) -> Error {
    Error::Encode(format!("integer {v} does not fit in 64 bits"))
}

/// Implements serde's [`Serializer`](serde::Serializer) for a type through its [`WireSerializer`] impl.
///
/// ```ignore
/// rpc_core::wire_serializer!(['s, 'a] &'s mut Serializer<'a>);
/// ```
#[macro_export]
macro_rules! wire_serializer {
    ([$($generics:tt)*] $ty:ty) => {
        impl<$($generics)*> $crate::__private::ser::Serializer for $ty {
            type Ok = <Self as $crate::encoding::WireSerializer>::Ok;
            type Error = <Self as $crate::encoding::WireSerializer>::Error;
            type SerializeSeq = <Self as $crate::encoding::WireSerializer>::Compound;
            type SerializeTuple = <Self as $crate::encoding::WireSerializer>::Compound;
            type SerializeTupleStruct = <Self as $crate::encoding::WireSerializer>::Compound;
            type SerializeTupleVariant = <Self as $crate::encoding::WireSerializer>::Compound;
            type SerializeMap = <Self as $crate::encoding::WireSerializer>::Compound;
            type SerializeStruct = <Self as $crate::encoding::WireSerializer>::Compound;
            type SerializeStructVariant = <Self as $crate::encoding::WireSerializer>::Compound;

            $crate::wire_serializer!(@widen int: serialize_i8(i8), serialize_i16(i16), serialize_i32(i32),
                serialize_i64(i64));
            $crate::wire_serializer!(@widen uint: serialize_u8(u8), serialize_u16(u16), serialize_u32(u32),
                serialize_u64(u64));
            $crate::wire_serializer!(@widen float: serialize_f32(f32), serialize_f64(f64));
            $crate::wire_serializer!(@widen boolean: serialize_bool(bool));
            fn serialize_i128(self, v: i128) -> Result<Self::Ok, Self::Error> {
                use $crate::encoding::WireSerializer as W;
                match (i64::try_from(v), u64::try_from(v)) {
                    (Ok(i), _) => W::int(self, i),
                    (_, Ok(u)) => W::uint(self, u),
                    _ => Err(W::refuse(self, $crate::encoding::too_wide(v))),
                }
            }
            fn serialize_u128(self, v: u128) -> Result<Self::Ok, Self::Error> {
                use $crate::encoding::WireSerializer as W;
                match u64::try_from(v) {
                    Ok(u) => W::uint(self, u),
                    Err(_) => Err(W::refuse(self, $crate::encoding::too_wide(v))),
                }
            }
            fn serialize_char(self, v: char) -> Result<Self::Ok, Self::Error> {
                $crate::encoding::WireSerializer::string(self, v.encode_utf8(&mut [0; 4]))
            }
            fn serialize_str(self, v: &str) -> Result<Self::Ok, Self::Error> {
                $crate::encoding::WireSerializer::string(self, v)
            }
            fn serialize_bytes(self, v: &[u8]) -> Result<Self::Ok, Self::Error> {
                $crate::encoding::WireSerializer::bytes(self, v)
            }
            fn serialize_none(self) -> Result<Self::Ok, Self::Error> {
                $crate::encoding::WireSerializer::nil(self)
            }
            fn serialize_some<T: $crate::__private::Serialize + ?Sized>(
                self,
                value: &T,
            ) -> Result<Self::Ok, Self::Error> {
                $crate::encoding::WireSerializer::inner(self, value)
            }
            fn serialize_unit(self) -> Result<Self::Ok, Self::Error> {
                $crate::encoding::WireSerializer::nil(self)
            }
            fn serialize_unit_struct(self, _name: &'static str) -> Result<Self::Ok, Self::Error> {
                $crate::encoding::WireSerializer::nil(self)
            }
            fn serialize_unit_variant(
                self,
                _name: &'static str,
                _index: u32,
                variant: &'static str,
            ) -> Result<Self::Ok, Self::Error> {
                $crate::encoding::WireSerializer::string(self, variant)
            }
            fn serialize_newtype_struct<T: $crate::__private::Serialize + ?Sized>(
                self,
                name: &'static str,
                value: &T,
            ) -> Result<Self::Ok, Self::Error> {
                use $crate::encoding::WireSerializer as W;
                match $crate::encoding::marked_newtype(name, value) {
                    Some(Ok(marked)) => W::marked(self, marked),
                    Some(Err(e)) => Err(W::refuse(self, e)),
                    None => W::inner(self, value),
                }
            }
            fn serialize_newtype_variant<T: $crate::__private::Serialize + ?Sized>(
                self,
                _name: &'static str,
                _index: u32,
                variant: &'static str,
                value: &T,
            ) -> Result<Self::Ok, Self::Error> {
                $crate::encoding::WireSerializer::newtype_variant(self, variant, value)
            }
            fn serialize_seq(self, len: Option<usize>) -> Result<Self::SerializeSeq, Self::Error> {
                $crate::encoding::WireSerializer::seq(self, len)
            }
            fn serialize_tuple(self, len: usize) -> Result<Self::SerializeSeq, Self::Error> {
                $crate::encoding::WireSerializer::seq(self, Some(len))
            }
            fn serialize_tuple_struct(
                self,
                _name: &'static str,
                len: usize,
            ) -> Result<Self::SerializeSeq, Self::Error> {
                $crate::encoding::WireSerializer::seq(self, Some(len))
            }
            fn serialize_tuple_variant(
                self,
                _name: &'static str,
                _index: u32,
                variant: &'static str,
                len: usize,
            ) -> Result<Self::SerializeTupleVariant, Self::Error> {
                $crate::encoding::WireSerializer::tuple_variant(self, variant, len)
            }
            fn serialize_map(self, len: Option<usize>) -> Result<Self::SerializeMap, Self::Error> {
                $crate::encoding::WireSerializer::map(self, len)
            }
            fn serialize_struct(self, _name: &'static str, len: usize) -> Result<Self::SerializeMap, Self::Error> {
                $crate::encoding::WireSerializer::map(self, Some(len))
            }
            fn serialize_struct_variant(
                self,
                _name: &'static str,
                _index: u32,
                variant: &'static str,
                len: usize,
            ) -> Result<Self::SerializeStructVariant, Self::Error> {
                $crate::encoding::WireSerializer::struct_variant(self, variant, len)
            }
        }
    };
    (@widen $to:ident: $($method:ident($ty:ty)),*) => {$(
        fn $method(self, v: $ty) -> Result<Self::Ok, Self::Error> {
            $crate::encoding::WireSerializer::$to(self, v.into())
        }
    )*};
}

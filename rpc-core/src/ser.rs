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

/// Scalar methods of the serializer: the value, widened, in the variant named.
macro_rules! scalars {
    ($($method:ident($ty:ty) => $variant:ident),* $(,)?) => {$(
        fn $method(self, v: $ty) -> Result<Value, Error> {
            Ok(Value::$variant(v.into()))
        }
    )*};
}

impl ser::Serializer for ValueSerializer {
    type Ok = Value;
    type Error = Error;
    type SerializeSeq = SerializeVec;
    type SerializeTuple = SerializeVec;
    type SerializeTupleStruct = SerializeVec;
    type SerializeTupleVariant = SerializeTupleVariant;
    type SerializeMap = SerializeMap;
    type SerializeStruct = SerializeMap;
    type SerializeStructVariant = SerializeStructVariant;

    scalars! {
        serialize_bool(bool) => Bool, serialize_i8(i8) => Int, serialize_i16(i16) => Int, serialize_i32(i32) => Int,
        serialize_i64(i64) => Int, serialize_u8(u8) => Int, serialize_u16(u16) => Int, serialize_u32(u32) => Int,
        serialize_f32(f32) => Float, serialize_f64(f64) => Float,
    }
    fn serialize_u64(self, v: u64) -> Result<Value, Error> {
        Ok(Value::from_u64(v))
    }
    fn serialize_i128(self, v: i128) -> Result<Value, Error> {
        if let Ok(i) = i64::try_from(v) {
            Ok(Value::Int(i))
        } else {
            u64::try_from(v).map(Value::UInt).map_err(|_| Error::Encode(format!("integer {v} does not fit in 64 bits")))
        }
    }
    fn serialize_u128(self, v: u128) -> Result<Value, Error> {
        u64::try_from(v).map(Value::from_u64).map_err(|_| Error::Encode(format!("integer {v} does not fit in 64 bits")))
    }
    fn serialize_char(self, v: char) -> Result<Value, Error> {
        Ok(Value::String(v.to_string()))
    }
    fn serialize_str(self, v: &str) -> Result<Value, Error> {
        Ok(Value::String(v.to_owned()))
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<Value, Error> {
        Ok(Value::Bytes(v.to_vec()))
    }
    fn serialize_none(self) -> Result<Value, Error> {
        Ok(Value::Nil)
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<Value, Error> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<Value, Error> {
        Ok(Value::Nil)
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result<Value, Error> {
        Ok(Value::Nil)
    }
    fn serialize_unit_variant(self, _name: &'static str, _index: u32, variant: &'static str) -> Result<Value, Error> {
        Ok(Value::String(variant.to_owned()))
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, name: &'static str, value: &T) -> Result<Value, Error> {
        match marked_newtype(name, value) {
            Some(Ok(Marked::DateTime(d))) => Ok(Value::DateTime(d)),
            Some(Ok(Marked::Ext(e))) => Ok(Value::Ext(e)),
            Some(Err(e)) => Err(e),
            None => value.serialize(self),
        }
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<Value, Error> {
        let mut map = Map::with_capacity(1);
        map.push(variant, value.serialize(self)?);
        Ok(Value::Map(map))
    }
    fn serialize_seq(self, len: Option<usize>) -> Result<SerializeVec, Error> {
        Ok(SerializeVec { items: Vec::with_capacity(len.unwrap_or(0)) })
    }
    fn serialize_tuple(self, len: usize) -> Result<SerializeVec, Error> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_struct(self, _name: &'static str, len: usize) -> Result<SerializeVec, Error> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<SerializeTupleVariant, Error> {
        Ok(SerializeTupleVariant { variant, items: Vec::with_capacity(len) })
    }
    fn serialize_map(self, len: Option<usize>) -> Result<SerializeMap, Error> {
        Ok(SerializeMap { map: Map::with_capacity(len.unwrap_or(0)), key: None })
    }
    fn serialize_struct(self, _name: &'static str, len: usize) -> Result<SerializeMap, Error> {
        self.serialize_map(Some(len))
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<SerializeStructVariant, Error> {
        Ok(SerializeStructVariant { variant, map: Map::with_capacity(len) })
    }
}

#[doc(hidden)]
#[derive(Debug)]
pub struct SerializeVec {
    items: Vec<Value>,
}

impl ser::SerializeSeq for SerializeVec {
    type Ok = Value;
    type Error = Error;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        self.items.push(to_value(value)?);
        Ok(())
    }
    fn end(self) -> Result<Value, Error> {
        Ok(Value::Array(self.items))
    }
}

impl ser::SerializeTuple for SerializeVec {
    type Ok = Value;
    type Error = Error;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        ser::SerializeSeq::serialize_element(self, value)
    }
    fn end(self) -> Result<Value, Error> {
        ser::SerializeSeq::end(self)
    }
}

impl ser::SerializeTupleStruct for SerializeVec {
    type Ok = Value;
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        ser::SerializeSeq::serialize_element(self, value)
    }
    fn end(self) -> Result<Value, Error> {
        ser::SerializeSeq::end(self)
    }
}

#[doc(hidden)]
#[derive(Debug)]
pub struct SerializeTupleVariant {
    variant: &'static str,
    items: Vec<Value>,
}

impl ser::SerializeTupleVariant for SerializeTupleVariant {
    type Ok = Value;
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        self.items.push(to_value(value)?);
        Ok(())
    }
    fn end(self) -> Result<Value, Error> {
        let mut map = Map::with_capacity(1);
        map.push(self.variant, Value::Array(self.items));
        Ok(Value::Map(map))
    }
}

#[doc(hidden)]
#[derive(Debug)]
pub struct SerializeMap {
    map: Map,
    key: Option<Value>,
}

impl ser::SerializeMap for SerializeMap {
    type Ok = Value;
    type Error = Error;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Error> {
        self.key = Some(to_value(key)?);
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        let key = self.key.take().ok_or_else(|| Error::Encode("map value without a key".into()))?;
        self.map.push(key, to_value(value)?);
        Ok(())
    }
    fn end(self) -> Result<Value, Error> {
        Ok(Value::Map(self.map))
    }
}

impl ser::SerializeStruct for SerializeMap {
    type Ok = Value;
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, key: &'static str, value: &T) -> Result<(), Error> {
        self.map.push(key, to_value(value)?);
        Ok(())
    }
    fn end(self) -> Result<Value, Error> {
        Ok(Value::Map(self.map))
    }
}

#[doc(hidden)]
#[derive(Debug)]
pub struct SerializeStructVariant {
    variant: &'static str,
    map: Map,
}

impl ser::SerializeStructVariant for SerializeStructVariant {
    type Ok = Value;
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, key: &'static str, value: &T) -> Result<(), Error> {
        self.map.push(key, to_value(value)?);
        Ok(())
    }
    fn end(self) -> Result<Value, Error> {
        let mut outer = Map::with_capacity(1);
        outer.push(self.variant, Value::Map(self.map));
        Ok(Value::Map(outer))
    }
}

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

//! `from_value`: a [`Value`] into any `Deserialize` type.

use std::any::Any;

use serde::de::value::{MapDeserializer, SeqDeserializer, StringDeserializer};
use serde::de::{self, DeserializeOwned, Deserializer, EnumAccess, IntoDeserializer, VariantAccess, Visitor};

use crate::value::{DATETIME_MARKER, DATETIME_STRUCT_NAME, EXT_MARKER, EXT_STRUCT_NAME};
use crate::{Error, Value};

/// Converts a [`Value`] into any type that serde can deserialize.
///
/// Maps fill structs by field name, arrays fill sequences, tuples and structs by position, [`Value::Nil`]
/// fills `Option::None` and `()`, and integers fill any integer type they fit (one that does not fit is an
/// error naming the number and the type, never a wrap-around).
///
/// ```
/// use rpc_core::{from_value, Value};
///
/// let n: i32 = from_value(Value::Int(7)).unwrap();
/// assert_eq!(n, 7);
/// let err = from_value::<u8>(Value::Int(300)).unwrap_err();
/// assert!(err.to_string().contains("300"));
/// ```
pub fn from_value<T: DeserializeOwned + 'static>(value: Value) -> Result<T, Error> {
    // A `Value` wanted as a `Value` is moved through untouched (no marker round trip, no copy).
    let any: Box<dyn Any> = Box::new(value);
    match any.downcast::<T>() {
        Ok(same) => Ok(*same),
        Err(any) => match any.downcast::<Value>() {
            Ok(value) => T::deserialize(*value),
            Err(_) => Err(Error::Decode("internal: value lost its type".into())),
        },
    }
}

impl de::Error for Error {
    fn custom<T: std::fmt::Display>(msg: T) -> Error {
        Error::Decode(msg.to_string())
    }
}

impl IntoDeserializer<'_, Error> for Value {
    type Deserializer = Value;
    fn into_deserializer(self) -> Value {
        self
    }
}

impl Value {
    fn unexpected(&self) -> de::Unexpected<'_> {
        match self {
            Value::Nil => de::Unexpected::Unit,
            Value::Bool(b) => de::Unexpected::Bool(*b),
            Value::Int(i) => de::Unexpected::Signed(*i),
            Value::UInt(u) => de::Unexpected::Unsigned(*u),
            Value::Float(f) => de::Unexpected::Float(*f),
            Value::String(s) => de::Unexpected::Str(s),
            Value::Bytes(b) => de::Unexpected::Bytes(b),
            Value::DateTime(_) => de::Unexpected::Other("datetime"),
            Value::Array(_) => de::Unexpected::Seq,
            Value::Map(_) => de::Unexpected::Map,
            Value::Ext(_) => de::Unexpected::Other("ext"),
        }
    }

    fn invalid_type(&self, exp: &dyn de::Expected) -> Error {
        de::Error::invalid_type(self.unexpected(), exp)
    }
}

fn visit_array<'de, V: Visitor<'de>>(items: Vec<Value>, visitor: V) -> Result<V::Value, Error> {
    let mut seq = SeqDeserializer::new(items.into_iter());
    let out = visitor.visit_seq(&mut seq)?;
    seq.end()?;
    Ok(out)
}

/// Visits a map; one whose first key is a marker without its size hint, so that [`Value`]'s visitor keeps it a
/// map (see [`crate::encoding::unmarked`]).
fn visit_map<'de, V: Visitor<'de>>(map: crate::Map, visitor: V) -> Result<V::Value, Error> {
    let marked = map.iter().next().is_some_and(|(k, _)| crate::encoding::is_marker(k.as_str()));
    let mut access = MapDeserializer::new(map.into_iter());
    let out = if marked {
        visitor.visit_map(crate::encoding::unmarked(&mut access))?
    } else {
        visitor.visit_map(&mut access)?
    };
    access.end()?;
    Ok(out)
}

/// Visits the one-entry marker map a datetime or an ext is presented as (with its size hint).
fn visit_marker<'de, V: Visitor<'de>>(marker: &'static str, value: Value, visitor: V) -> Result<V::Value, Error> {
    let mut access = MapDeserializer::new(std::iter::once((Value::from(marker), value)));
    let out = visitor.visit_map(&mut access)?;
    access.end()?;
    Ok(out)
}

impl<'de> Deserializer<'de> for Value {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self {
            Value::Nil => visitor.visit_unit(),
            Value::Bool(b) => visitor.visit_bool(b),
            Value::Int(i) => visitor.visit_i64(i),
            Value::UInt(u) => visitor.visit_u64(u),
            Value::Float(f) => visitor.visit_f64(f),
            Value::String(s) => visitor.visit_string(s),
            Value::Bytes(b) => visitor.visit_byte_buf(b),
            Value::Array(a) => visit_array(a, visitor),
            Value::Map(m) => visit_map(m, visitor),
            // Rebuilt by `Value`'s own visitor from a one-entry marker map; other visitors see a map.
            Value::DateTime(d) => visit_marker(DATETIME_MARKER, Value::String(d.to_string()), visitor),
            Value::Ext(e) => {
                visit_marker(EXT_MARKER, Value::Array(vec![Value::Int(e.tag.into()), Value::Bytes(e.data)]), visitor)
            }
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self {
            Value::Nil => visitor.visit_none(),
            other => visitor.visit_some(other),
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self {
            Value::Nil => visitor.visit_unit(),
            other => Err(other.invalid_type(&visitor)),
        }
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(self, _name: &'static str, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_byte_buf(visitor)
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self {
            Value::Bytes(b) => visitor.visit_byte_buf(b),
            Value::String(s) => visitor.visit_string(s),
            Value::Array(a) => visit_array(a, visitor),
            other => Err(other.invalid_type(&visitor)),
        }
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self {
            Value::String(s) => visitor.visit_string(s),
            // MessagePack peers (pynvim) send strings as bin: accept them when they are UTF-8.
            Value::Bytes(b) => match String::from_utf8(b) {
                Ok(s) => visitor.visit_string(s),
                Err(e) => Err(de::Error::invalid_value(de::Unexpected::Bytes(e.as_bytes()), &visitor)),
            },
            Value::DateTime(d) => visitor.visit_string(d.to_string()),
            other => Err(other.invalid_type(&visitor)),
        }
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_string(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(self, name: &'static str, visitor: V) -> Result<V::Value, Error> {
        match (name, self) {
            (DATETIME_STRUCT_NAME, Value::DateTime(d)) => {
                visitor.visit_newtype_struct(StringDeserializer::<Error>::new(d.to_string()))
            }
            (EXT_STRUCT_NAME, Value::Ext(e)) => {
                visitor.visit_newtype_struct(Value::Array(vec![Value::Int(e.tag.into()), Value::Bytes(e.data)]))
            }
            (_, value) => visitor.visit_newtype_struct(value),
        }
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        match self {
            Value::String(variant) => visitor.visit_enum(Enum { variant, value: None }),
            Value::Map(map) if map.len() == 1 => {
                let mut entries = map.into_entries();
                match entries.pop() {
                    Some((Value::String(variant), value)) => visitor.visit_enum(Enum { variant, value: Some(value) }),
                    Some((key, _)) => Err(de::Error::invalid_type(key.unexpected(), &"a variant name")),
                    None => Err(de::Error::invalid_length(0, &"a map with one entry")),
                }
            }
            other => Err(de::Error::invalid_type(other.unexpected(), &"a variant name or a one-entry map")),
        }
    }

    /// A byte string also fills a sequence of integers (`Vec<u8>` without `serde_bytes`), since XML-RPC
    /// `base64` and MessagePack `bin` are how peers send bytes.
    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self {
            Value::Bytes(b) => visit_array(b.into_iter().map(Value::from).collect(), visitor),
            other => other.deserialize_any(visitor),
        }
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char
        tuple tuple_struct map struct identifier ignored_any
    }
}

struct Enum {
    variant: String,
    value: Option<Value>,
}

impl<'de> EnumAccess<'de> for Enum {
    type Error = Error;
    type Variant = Variant;
    fn variant_seed<S: de::DeserializeSeed<'de>>(self, seed: S) -> Result<(S::Value, Variant), Error> {
        let variant = seed.deserialize(StringDeserializer::<Error>::new(self.variant))?;
        Ok((variant, Variant { value: self.value }))
    }
}

struct Variant {
    value: Option<Value>,
}

impl<'de> VariantAccess<'de> for Variant {
    type Error = Error;
    fn unit_variant(self) -> Result<(), Error> {
        match self.value {
            None | Some(Value::Nil) => Ok(()),
            Some(other) => Err(other.invalid_type(&"a unit variant")),
        }
    }
    fn newtype_variant_seed<S: de::DeserializeSeed<'de>>(self, seed: S) -> Result<S::Value, Error> {
        match self.value {
            Some(value) => seed.deserialize(value),
            None => Err(de::Error::invalid_type(de::Unexpected::UnitVariant, &"a newtype variant")),
        }
    }
    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, visitor: V) -> Result<V::Value, Error> {
        match self.value {
            Some(Value::Array(a)) => visit_array(a, visitor),
            Some(other) => Err(other.invalid_type(&"a tuple variant")),
            None => Err(de::Error::invalid_type(de::Unexpected::UnitVariant, &"a tuple variant")),
        }
    }
    fn struct_variant<V: Visitor<'de>>(self, _fields: &'static [&'static str], visitor: V) -> Result<V::Value, Error> {
        match self.value {
            Some(Value::Map(m)) => visit_map(m, visitor),
            Some(Value::Array(a)) => visit_array(a, visitor),
            Some(other) => Err(other.invalid_type(&"a struct variant")),
            None => Err(de::Error::invalid_type(de::Unexpected::UnitVariant, &"a struct variant")),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde::{Deserialize, Serialize};

    use crate::{DateTime, Ext, Map, Value, from_value, to_value};

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    enum Shape {
        Empty,
        Circle(f64),
        Rect(u32, u32),
        Named { name: String },
    }

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Everything {
        flag: bool,
        small: i8,
        big: u64,
        neg: i64,
        float: f64,
        text: String,
        #[serde(with = "serde_bytes")]
        bytes: Vec<u8>,
        when: DateTime,
        ext: Ext,
        list: Vec<Option<i32>>,
        map: BTreeMap<String, i32>,
        shapes: Vec<Shape>,
        unit: (),
        tuple: (i32, String),
        nothing: Option<String>,
        any: Value,
    }

    fn sample() -> Everything {
        Everything {
            flag: true,
            small: -8,
            big: u64::MAX,
            neg: i64::MIN,
            float: -0.0,
            text: "héllo 😀".into(),
            bytes: vec![0, 255, 10],
            when: "19980717T14:08:55".parse().unwrap(),
            ext: Ext::new(5, [1, 2, 3]),
            list: vec![Some(1), None],
            map: [("a".to_string(), 1), ("b".to_string(), 2)].into_iter().collect(),
            shapes: vec![Shape::Empty, Shape::Circle(1.5), Shape::Rect(2, 3), Shape::Named { name: "n".into() }],
            unit: (),
            tuple: (1, "one".into()),
            nothing: None,
            any: Value::Array(vec![
                Value::Nil,
                Value::Ext(Ext::new(-1, [0])),
                Value::DateTime("20000101T00:00:00".parse().unwrap()),
            ]),
        }
    }

    #[test]
    fn typed_round_trip() {
        let v = to_value(&sample()).unwrap();
        let map = v.as_map().unwrap();
        assert_eq!(map.get_str("big"), Some(&Value::UInt(u64::MAX)));
        assert_eq!(map.get_str("bytes"), Some(&Value::Bytes(vec![0, 255, 10])));
        assert!(matches!(map.get_str("when"), Some(Value::DateTime(_))));
        assert_eq!(map.get_str("ext"), Some(&Value::Ext(Ext::new(5, [1, 2, 3]))));
        assert_eq!(map.get_str("nothing"), Some(&Value::Nil));
        assert_eq!(map.get_str("shapes").unwrap().as_array().unwrap()[0], Value::from("Empty"));
        let back: Everything = from_value(v).unwrap();
        assert_eq!(back, sample());
    }

    #[test]
    fn value_round_trips_through_itself() {
        let v = to_value(&sample()).unwrap();
        assert_eq!(to_value(&v).unwrap(), v);
        #[derive(Deserialize)]
        struct Wrapper {
            any: Value,
        }
        // A `Value` nested in a typed struct keeps datetimes and exts (the marker path).
        let w: Wrapper = from_value(v).unwrap();
        assert_eq!(w.any, sample().any);
    }

    #[test]
    fn integer_range_errors_name_the_number() {
        let err = from_value::<i32>(Value::Int(1 << 40)).unwrap_err().to_string();
        assert!(err.contains("1099511627776") && err.contains("i32"), "{err}");
        assert!(from_value::<u64>(Value::Int(-1)).is_err());
        assert_eq!(from_value::<f64>(Value::Int(3)).unwrap(), 3.0);
    }

    #[test]
    fn type_errors_say_what_was_expected() {
        let err = from_value::<i64>(Value::from("x")).unwrap_err().to_string();
        assert!(err.contains("string \"x\"") && err.contains("i64"), "{err}");
        assert!(from_value::<(i32, i32)>(Value::Array(vec![1.into()])).is_err());
        assert!(from_value::<(i32,)>(Value::Array(vec![1.into(), 2.into()])).is_err());
    }

    #[test]
    fn byte_vectors_accept_byte_strings() {
        assert_eq!(from_value::<Vec<u8>>(Value::Bytes(vec![0, 255])).unwrap(), [0, 255]);
        assert_eq!(from_value::<Vec<u8>>(Value::Array(vec![1.into(), 2.into()])).unwrap(), [1, 2]);
        assert!(from_value::<Vec<String>>(Value::Bytes(vec![1])).is_err());
    }

    #[test]
    fn strings_accept_utf8_bytes() {
        assert_eq!(from_value::<String>(Value::Bytes(b"abc".to_vec())).unwrap(), "abc");
        assert!(from_value::<String>(Value::Bytes(vec![0xff])).is_err());
    }

    #[test]
    fn maps_with_non_string_keys() {
        let mut m = Map::new();
        m.push(1, "one");
        m.push(2, "two");
        let typed: BTreeMap<i64, String> = from_value(Value::Map(m.clone())).unwrap();
        assert_eq!(typed[&2], "two");
        assert_eq!(to_value(&typed).unwrap(), Value::Map(m));
    }
}

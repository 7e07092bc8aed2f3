//! The one serializer of XML-RPC values: any `Serialize` type (a [`Value`](rpc_core::Value) among them) written
//! as a `<value>` element through rpc_core's serializer core ([`WireSerializer`]), so that a typed param or
//! result is written as its `Value` would be, without making the `Value`.

use base64::Engine as _;
use rpc_core::encoding::{Marked, WireSerializer};
use serde::ser::{Impossible, Serialize};

use super::{BASE64, MAX_ENCODE_DEPTH, escape_into, write_double, write_int};
use crate::Error;

/// Appends `value` as one `<value>` element to `out`. On an error `out` may hold part of it: cut it back.
pub(crate) fn to_writer<T: Serialize + ?Sized>(value: &T, out: &mut String) -> Result<(), Error> {
    value.serialize(&mut Serializer { out, depth: 0 })
}

/// The serializer behind [`to_writer`].
struct Serializer<'a> {
    out: &'a mut String,
    /// The arrays and structs open around what is written next: its depth as a `Value`'s.
    depth: usize,
}

impl<'a> Serializer<'a> {
    /// Refuses what is written next if it is deeper than `MAX_ENCODE_DEPTH` (as the `Value` would be).
    fn check(&self) -> Result<(), Error> {
        if self.depth > MAX_ENCODE_DEPTH {
            return Err(Error::Encode(format!("values nest deeper than {MAX_ENCODE_DEPTH}")));
        }
        Ok(())
    }

    /// An item of the container open around it.
    fn child<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        self.check()?;
        value.serialize(&mut *self)
    }

    /// A `<member>` and its `<name>`, up to its value.
    fn member(&mut self, name: &str) -> Result<(), Error> {
        self.out.push_str("<member>\n<name>");
        escape_into(self.out, name)?;
        self.out.push_str("</name>\n");
        Ok(())
    }

    /// Opens the one-member struct `{variant: ...}` that a variant with data is, up to its value.
    fn open_variant(&mut self, variant: &str) -> Result<(), Error> {
        self.out.push_str("<value><struct>\n");
        self.member(variant)?;
        self.depth += 1;
        self.check()
    }

    fn close_variant(&mut self) {
        self.out.push_str("</member>\n</struct></value>\n");
        self.depth -= 1;
    }

    /// Opens an array (`map` false) or a struct, inside a variant's struct or not.
    fn open(&mut self, map: bool, variant: bool) -> Result<Compound<'_, 'a>, Error> {
        self.out.push_str(if map { "<value><struct>\n" } else { "<value><array><data>\n" });
        self.depth += 1;
        Ok(Compound { ser: self, map, variant, key: false })
    }
}

impl<'s, 'a> WireSerializer for &'s mut Serializer<'a> {
    type Ok = ();
    type Error = Error;
    type Compound = Compound<'s, 'a>;

    fn nil(self) -> Result<(), Error> {
        self.out.push_str("<value><nil/></value>\n");
        Ok(())
    }
    fn boolean(self, v: bool) -> Result<(), Error> {
        self.out.push_str(if v {
            "<value><boolean>1</boolean></value>\n"
        } else {
            "<value><boolean>0</boolean></value>\n"
        });
        Ok(())
    }
    fn int(self, v: i64) -> Result<(), Error> {
        write_int(self.out, v);
        Ok(())
    }
    fn uint(self, v: u64) -> Result<(), Error> {
        match i64::try_from(v) {
            Ok(i) => self.int(i),
            Err(_) => Err(Error::Encode(format!("integer {v} is beyond XML-RPC's 64-bit signed <i8>"))),
        }
    }
    fn float(self, v: f64) -> Result<(), Error> {
        if !v.is_finite() {
            return Err(Error::Encode(format!("{v} has no XML-RPC representation")));
        }
        self.out.push_str("<value><double>");
        write_double(self.out, v);
        self.out.push_str("</double></value>\n");
        Ok(())
    }
    fn string(self, v: &str) -> Result<(), Error> {
        self.out.push_str("<value><string>");
        escape_into(self.out, v)?;
        self.out.push_str("</string></value>\n");
        Ok(())
    }
    fn bytes(self, v: &[u8]) -> Result<(), Error> {
        self.out.push_str("<value><base64>\n");
        // Python's `base64.encodebytes` layout: lines of 76 characters, each ending in a newline.
        let encoded = BASE64.encode(v);
        for chunk in encoded.as_bytes().chunks(76) {
            // Base64 output is ASCII, so every chunk is valid UTF-8.
            self.out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
            self.out.push('\n');
        }
        self.out.push_str("</base64></value>\n");
        Ok(())
    }
    fn marked(self, v: Marked) -> Result<(), Error> {
        match v {
            Marked::DateTime(d) => {
                self.out.push_str("<value><dateTime.iso8601>");
                self.out.push_str(&d.to_string());
                self.out.push_str("</dateTime.iso8601></value>\n");
                Ok(())
            }
            Marked::Ext(e) => {
                Err(Error::Encode(format!("a MessagePack ext value (type {}) has no XML-RPC form", e.tag)))
            }
        }
    }
    fn inner<T: Serialize + ?Sized>(self, value: &T) -> Result<(), Error> {
        value.serialize(self)
    }
    fn newtype_variant<T: Serialize + ?Sized>(self, variant: &'static str, value: &T) -> Result<(), Error> {
        self.open_variant(variant)?;
        value.serialize(&mut *self)?;
        self.close_variant();
        Ok(())
    }
    fn seq(self, _len: Option<usize>) -> Result<Compound<'s, 'a>, Error> {
        self.open(false, false)
    }
    fn tuple_variant(self, variant: &'static str, _len: usize) -> Result<Compound<'s, 'a>, Error> {
        self.open_variant(variant)?;
        self.open(false, true)
    }
    fn map(self, _len: Option<usize>) -> Result<Compound<'s, 'a>, Error> {
        self.open(true, false)
    }
    fn struct_variant(self, variant: &'static str, _len: usize) -> Result<Compound<'s, 'a>, Error> {
        self.open_variant(variant)?;
        self.open(true, true)
    }
    fn refuse(self, error: rpc_core::Error) -> Error {
        Error::refused(error)
    }
}

rpc_core::wire_serializer!(['s, 'a] &'s mut Serializer<'a>);

/// An array or struct being written by a [`Serializer`].
struct Compound<'s, 'a> {
    ser: &'s mut Serializer<'a>,
    map: bool,
    /// It is the value of a variant: its struct closes too.
    variant: bool,
    /// A member's name has been written, its value not yet.
    key: bool,
}

impl Compound<'_, '_> {
    fn element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        self.ser.child(value)
    }

    fn field<T: Serialize + ?Sized>(&mut self, key: &str, value: &T) -> Result<(), Error> {
        self.ser.member(key)?;
        self.ser.child(value)?;
        self.ser.out.push_str("</member>\n");
        Ok(())
    }

    fn key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Error> {
        if self.key {
            // `to_value` would drop the first key: refused rather than mirrored.
            return Err(Error::Encode("a map key after a key".into()));
        }
        key.serialize(MemberName(&mut *self.ser))?;
        self.key = true;
        Ok(())
    }

    fn value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        if !self.key {
            return Err(Error::Encode("map value without a key".into()));
        }
        self.key = false;
        self.ser.child(value)?;
        self.ser.out.push_str("</member>\n");
        Ok(())
    }

    fn end_seq(self) -> Result<(), Error> {
        self.end()
    }

    fn end_map(self) -> Result<(), Error> {
        self.end()
    }

    fn end(self) -> Result<(), Error> {
        if self.key {
            return Err(Error::Encode("a map key without a value".into()));
        }
        self.ser.out.push_str(if self.map { "</struct></value>\n" } else { "</data></array></value>\n" });
        self.ser.depth -= 1;
        if self.variant {
            self.ser.close_variant();
        }
        Ok(())
    }
}

rpc_core::serialize_compound!(Compound<'_, '_>, Error);

/// A map key, which XML-RPC can only carry as a member name: a string. Anything else is refused, named as the
/// kind of `Value` it would be.
struct MemberName<'s, 'a>(&'s mut Serializer<'a>);

impl MemberName<'_, '_> {
    fn not(kind: &str) -> Error {
        Error::Encode(format!("struct member names must be strings, not {kind}"))
    }
}

impl WireSerializer for MemberName<'_, '_> {
    type Ok = ();
    type Error = Error;
    type Compound = Impossible<(), Error>;

    fn nil(self) -> Result<(), Error> {
        Err(Self::not("nil"))
    }
    fn boolean(self, _: bool) -> Result<(), Error> {
        Err(Self::not("bool"))
    }
    fn int(self, _: i64) -> Result<(), Error> {
        Err(Self::not("int"))
    }
    fn uint(self, _: u64) -> Result<(), Error> {
        Err(Self::not("int"))
    }
    fn float(self, _: f64) -> Result<(), Error> {
        Err(Self::not("float"))
    }
    fn string(self, v: &str) -> Result<(), Error> {
        self.0.member(v)
    }
    fn bytes(self, _: &[u8]) -> Result<(), Error> {
        Err(Self::not("bytes"))
    }
    fn marked(self, v: Marked) -> Result<(), Error> {
        Err(Self::not(match v {
            Marked::DateTime(_) => "datetime",
            Marked::Ext(_) => "ext",
        }))
    }
    fn inner<T: Serialize + ?Sized>(self, value: &T) -> Result<(), Error> {
        value.serialize(self)
    }
    fn newtype_variant<T: Serialize + ?Sized>(self, _: &'static str, _: &T) -> Result<(), Error> {
        Err(Self::not("map"))
    }
    fn seq(self, _: Option<usize>) -> Result<Self::Compound, Error> {
        Err(Self::not("array"))
    }
    fn tuple_variant(self, _: &'static str, _: usize) -> Result<Self::Compound, Error> {
        Err(Self::not("map"))
    }
    fn map(self, _: Option<usize>) -> Result<Self::Compound, Error> {
        Err(Self::not("map"))
    }
    fn struct_variant(self, _: &'static str, _: usize) -> Result<Self::Compound, Error> {
        Err(Self::not("map"))
    }
    fn refuse(self, error: rpc_core::Error) -> Error {
        Error::refused(error)
    }
}

rpc_core::wire_serializer!([] MemberName<'_, '_>);

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::collections::BTreeMap;

    use rpc_core::{DateTime, Ext, Value, to_value};
    use serde::Serialize;

    use super::to_writer;

    /// What a type is written as, straight and through its `Value`: the two must agree, error or not.
    type Written = Result<String, String>;

    fn both<T: Serialize>(t: &T) -> (Written, Written) {
        let write = |v: &dyn rpc_core::encoding::erased_serde::Serialize| {
            let mut out = String::new();
            to_writer(v, &mut out).map(|()| out).map_err(|e| e.to_string())
        };
        let straight = write(t);
        let through_value = to_value(t).map_err(|e| e.to_string()).and_then(|v| write(&v));
        (straight, through_value)
    }

    #[derive(Serialize)]
    enum Shape {
        Unit,
        Newtype(i64),
        Tuple(u8, String),
        Struct { name: &'static str, big: i64 },
    }

    #[derive(Serialize)]
    struct Record {
        id: u32,
        name: String,
        tags: Vec<&'static str>,
        parent: Option<u64>,
        #[serde(with = "serde_bytes")]
        blob: Vec<u8>,
        shapes: Vec<Shape>,
        when: DateTime,
        scores: BTreeMap<String, f64>,
    }

    #[test]
    fn a_type_is_written_as_its_value_is() {
        let record = Record {
            id: 7,
            name: "a < b & c\r".into(),
            tags: vec!["x", "y"],
            parent: None,
            blob: (0..=255).collect(),
            shapes: vec![
                Shape::Unit,
                Shape::Newtype(-5),
                Shape::Tuple(3, "t".into()),
                Shape::Struct { name: "s", big: i64::MIN },
            ],
            when: "2026-12-07T12:00:00Z".parse().unwrap(),
            scores: [("a".to_owned(), 0.1), ("b".to_owned(), -2.0)].into(),
        };
        let (straight, through_value) = both(&record);
        assert!(straight.is_ok(), "{straight:?}");
        assert_eq!(straight, through_value);
        assert!(straight.unwrap().contains("<name>name</name>\n<value><string>a &lt; b &amp; c&#13;</string>"));
    }

    #[test]
    fn what_xml_rpc_cannot_carry_is_refused_alike() {
        let refused: Vec<(&str, (Written, Written))> = vec![
            ("u64 past i64", both(&u64::MAX)),
            ("NaN", both(&f64::NAN)),
            ("int key", both(&BTreeMap::from([(1, 2)]))),
            ("ext", both(&Ext::new(1, [2]))),
            ("u128", both(&u128::MAX)),
            ("NUL", both(&"\0")),
        ];
        for (what, (straight, through_value)) in refused {
            let error = straight.expect_err(what);
            assert!(error.starts_with("cannot encode as XML-RPC"), "{what}: {error}");
            if what != "u128" {
                // `to_value` refuses a u128 itself, in its own words; the rest are the codec's.
                assert_eq!(Err(error), through_value, "{what}");
            }
        }
    }

    #[test]
    fn depth_is_bounded_as_for_values() {
        fn nest(depth: usize) -> Value {
            (0..depth).fold(Value::Int(1), |v, _| Value::Array(vec![v]))
        }
        let mut out = String::new();
        assert!(to_writer(&nest(super::MAX_ENCODE_DEPTH), &mut out).is_ok());
        let mut out = String::new();
        assert!(to_writer(&nest(super::MAX_ENCODE_DEPTH + 1), &mut out).is_err());
        // An empty array as deep as the limit allows is still written.
        let empty = (0..super::MAX_ENCODE_DEPTH).fold(Value::Array(vec![]), |v, _| Value::Array(vec![v]));
        assert!(to_writer(&empty, &mut String::new()).is_ok());
    }
}

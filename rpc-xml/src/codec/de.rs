//! Reading: the XML-RPC readers (the general parser here, the fast path's cursor in `fast.rs`) as
//! [`WireReader`]s, so that params and results are read straight into any `Deserialize` type, [`Value`] among
//! them, through rpc_core's deserializer core, and read alike whichever reader read them.

use std::borrow::Cow;
use std::marker::PhantomData;

use base64::Engine as _;
use rpc_core::encoding::{Slot, WireDeserializer, WireItem, WireReader, erased_serde};
use rpc_core::{DateTime, Value};
use serde::de::{self, DeserializeOwned, DeserializeSeed, IgnoredAny, SeqAccess, Visitor};

use super::{BASE64, Parser, Tag, Tok};
use crate::Error;

/// How a decoded call's params (as a sequence) or a response's result is read: as often as a reader is tried
/// (the fast path, then the general parser).
pub(crate) trait Read {
    /// What it reads.
    type Value;

    /// Reads it from `d`.
    fn read<'de, D: de::Deserializer<'de>>(&mut self, d: D) -> Result<Self::Value, D::Error>;
}

/// Reads a `T`.
pub(crate) struct Typed<T>(PhantomData<fn() -> T>);

impl<T> Typed<T> {
    pub(crate) fn new() -> Typed<T> {
        Typed(PhantomData)
    }
}

impl<T: DeserializeOwned> Read for Typed<T> {
    type Value = T;

    fn read<'de, D: de::Deserializer<'de>>(&mut self, d: D) -> Result<T, D::Error> {
        T::deserialize(d)
    }
}

/// Reads a typed call's result into its [`Slot`].
pub(crate) struct SlotRead<'s>(pub(crate) &'s mut dyn Slot);

impl Read for SlotRead<'_> {
    type Value = ();

    fn read<'de, D: de::Deserializer<'de>>(&mut self, d: D) -> Result<(), D::Error> {
        self.0.deserialize(&mut <dyn erased_serde::Deserializer>::erase(d)).map_err(de::Error::custom)
    }
}

/// A response's params, read as its result: one param (none reads as nil, as in Python).
pub(super) struct OneParam<'r, R>(pub(super) &'r mut R);

impl<R: Read> Read for OneParam<'_, R> {
    type Value = R::Value;

    fn read<'de, D: de::Deserializer<'de>>(&mut self, d: D) -> Result<R::Value, D::Error> {
        d.deserialize_seq(OneParamVisitor(&mut *self.0))
    }
}

struct OneParamVisitor<'r, R>(&'r mut R);

impl<'de, R: Read> Visitor<'de> for OneParamVisitor<'_, R> {
    type Value = R::Value;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the params of a methodResponse")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut params: A) -> Result<R::Value, A::Error> {
        let Some(result) = params.next_element_seed(Seed(&mut *self.0))? else {
            return self.0.read(Value::Nil).map_err(de::Error::custom);
        };
        let mut n = 1;
        while params.next_element::<IgnoredAny>()?.is_some() {
            n += 1;
        }
        if n > 1 {
            return Err(de::Error::custom(format!("a response carries one param, this one {n}")));
        }
        Ok(result)
    }
}

/// A [`Read`] as a seed, for one element.
struct Seed<'r, R>(&'r mut R);

impl<'de, R: Read> DeserializeSeed<'de> for Seed<'_, R> {
    type Value = R::Value;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<R::Value, D::Error> {
        self.0.read(d)
    }
}

/// What both XML-RPC readers do besides reading values: present a `<params>` list (its start just read, or
/// absent) as a sequence of its params' values.
pub(super) trait XmlReader<'a>: WireReader<'a, Error = Error> {
    /// The next item is the params list: present (`<params>` was just read) or not (none, an empty sequence).
    fn start_params(&mut self, present: bool);
}

/// Reads a `<params>` list (its start just read, if `present`) with `read`, through its `</params>`; the reader
/// is handed back to go on.
pub(super) fn read_params<'a, X: XmlReader<'a>, R: Read>(
    mut reader: X,
    present: bool,
    max_depth: usize,
    read: &mut R,
) -> Result<(R::Value, X), Error> {
    reader.start_params(present);
    // The list is a level of its own to the deserializer: the params' values are at depth 0, as in Python.
    let mut de = WireDeserializer::new(reader, max_depth.saturating_add(1));
    let value = read.read(&mut de)?;
    de.finish()?;
    Ok((value, de.into_reader()))
}

/// Reads one value (its `<value>` start just read) through its `</value>`.
pub(super) fn read_value<'a, X: XmlReader<'a>, T: DeserializeOwned>(
    reader: X,
    max_depth: usize,
) -> Result<(T, X), Error> {
    let mut de = WireDeserializer::new(reader, max_depth);
    let value = T::deserialize(&mut de)?;
    de.finish()?;
    Ok((value, de.into_reader()))
}

/// Where a reader stands in the nesting: the open arrays and structs (and the params list), and which level
/// is the params list.
#[derive(Debug, Default)]
pub(super) struct Levels {
    open: usize,
    params: Option<usize>,
    /// The next item is the params list, present or not.
    params_next: Option<bool>,
}

impl Levels {
    pub(super) fn start_params(&mut self, present: bool) {
        self.params_next = Some(present);
    }

    /// The params list's item, if it is next.
    pub(super) fn params_item(&mut self) -> Option<WireItem<'static>> {
        let present = self.params_next.take()?;
        if !present {
            return Some(WireItem::Seq(Some(0)));
        }
        self.open += 1;
        self.params = Some(self.open);
        Some(WireItem::Seq(None))
    }

    /// An array or a struct opens.
    pub(super) fn open(&mut self) {
        self.open += 1;
    }

    /// The innermost level is the params list.
    pub(super) fn in_params(&self) -> bool {
        self.params == Some(self.open)
    }

    /// The innermost level closed.
    pub(super) fn close(&mut self) {
        if self.in_params() {
            self.params = None;
        }
        self.open = self.open.saturating_sub(1);
    }
}

/// The scalar a typed element holds (`tag`, its text `text`): the same reading on both readers.
pub(super) fn scalar(tag: Tag, text: Cow<'_, str>) -> Result<WireItem<'_>, Error> {
    Ok(match tag {
        Tag::Int | Tag::I4 | Tag::I8 => parse_int(text.trim())
            .ok_or_else(|| Error::Invalid(format!("<{}> holds {:?}, not a 64-bit integer", tag.name(), text.trim())))?,
        Tag::Boolean => match text.trim() {
            "1" => WireItem::Bool(true),
            "0" => WireItem::Bool(false),
            other => return Err(Error::Invalid(format!("<boolean> holds {other:?}, not 0 or 1"))),
        },
        Tag::Double => match text.trim().parse::<f64>() {
            Ok(f) if f.is_finite() => WireItem::Float(f),
            _ => return Err(Error::Invalid(format!("<double> holds {:?}, not a finite number", text.trim()))),
        },
        Tag::String => WireItem::Str(text),
        Tag::DateTime => text.parse::<DateTime>().map(WireItem::DateTime).map_err(|e| Error::Invalid(e.to_string()))?,
        Tag::Base64 => {
            let compact: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
            BASE64
                .decode(compact)
                .map(|b| WireItem::Bytes(Cow::Owned(b)))
                .map_err(|e| Error::Invalid(format!("<base64> does not decode: {e}")))?
        }
        other => return Err(Error::Invalid(format!("<{}> is not an XML-RPC scalar", other.name()))),
    })
}

/// Whether `tag` holds a scalar's text.
pub(super) fn is_scalar(tag: Tag) -> bool {
    matches!(tag, Tag::Int | Tag::I4 | Tag::I8 | Tag::Boolean | Tag::Double | Tag::String | Tag::DateTime | Tag::Base64)
}

/// An integer as `i64`, or as `u64` above `i64::MAX`; `None` when it is not an integer or overflows both.
pub(super) fn parse_int(s: &str) -> Option<WireItem<'static>> {
    if let Ok(i) = s.parse::<i64>() {
        return Some(WireItem::Int(i));
    }
    s.strip_prefix('+').unwrap_or(s).parse::<u64>().ok().map(WireItem::UInt)
}

/// The error for arrays and structs nested deeper than `limit`, on both readers.
pub(super) fn too_deep(limit: usize) -> Error {
    Error::Invalid(format!("arrays and structs nest deeper than the limit of {limit}"))
}

impl<'a> XmlReader<'a> for Parser<'a> {
    fn start_params(&mut self, present: bool) {
        self.levels.start_params(present);
    }
}

impl<'a> WireReader<'a> for Parser<'a> {
    type Error = Error;

    /// A value whose `<value>` start was just read: a scalar through its `</value>`, an array or struct through
    /// its start.
    fn item(&mut self) -> Result<WireItem<'a>, Error> {
        if let Some(params) = self.levels.params_item() {
            return Ok(params);
        }
        let tag = match self.next()? {
            // `<value></value>`: an empty string.
            Tok::End(Tag::Value) => return Ok(WireItem::Str(Cow::Borrowed(""))),
            // Untagged text is a string and keeps its whitespace...
            Tok::Text(text) => match self.next()? {
                Tok::End(Tag::Value) => return Ok(WireItem::Str(text)),
                // ...unless it is whitespace around a typed value.
                Tok::Start(tag) if text.chars().all(char::is_whitespace) => tag,
                other => return Err(self.unexpected(other, "</value>")),
            },
            Tok::Start(tag) => tag,
            other => return Err(self.unexpected(other, "a value")),
        };
        let item = match tag {
            tag if is_scalar(tag) => {
                let text = self.text_until_end(tag)?;
                scalar(tag, text)?
            }
            Tag::Nil => {
                self.expect_end(Tag::Nil)?;
                WireItem::Nil
            }
            Tag::Array => match self.next_structural()? {
                Tok::Start(Tag::Data) => {
                    self.levels.open();
                    return Ok(WireItem::Seq(None));
                }
                // `<array/>`: lenient, as Python is.
                Tok::End(Tag::Array) => WireItem::Seq(Some(0)),
                other => return Err(self.unexpected(other, "<data>")),
            },
            Tag::Struct => {
                self.levels.open();
                return Ok(WireItem::Map(None));
            }
            Tag::Other => return Err(Error::Invalid("an unknown element where a value type was expected".into())),
            other => return Err(Error::Invalid(format!("<{}> is not an XML-RPC value type", other.name()))),
        };
        self.expect_end(Tag::Value)?;
        Ok(item)
    }

    /// A member's name, through the `<value>` start of its value.
    fn key(&mut self) -> Result<WireItem<'a>, Error> {
        let name = self.text_until_end(Tag::Name)?;
        self.expect_start(Tag::Value)?;
        Ok(WireItem::Str(name))
    }

    fn more(&mut self, map: bool, first: bool) -> Result<bool, Error> {
        if self.levels.in_params() {
            if !first {
                self.expect_end(Tag::Param)?;
            }
            return match self.next_structural()? {
                Tok::Start(Tag::Param) => self.expect_start(Tag::Value).map(|()| true),
                Tok::End(Tag::Params) => {
                    self.levels.close();
                    Ok(false)
                }
                other => Err(self.unexpected(other, "<param> or </params>")),
            };
        }
        if map {
            if !first {
                self.expect_end(Tag::Member)?;
            }
            return match self.next_structural()? {
                Tok::Start(Tag::Member) => self.expect_start(Tag::Name).map(|()| true),
                Tok::End(Tag::Struct) => {
                    self.expect_end(Tag::Value)?;
                    self.levels.close();
                    Ok(false)
                }
                other => Err(self.unexpected(other, "<member> or </struct>")),
            };
        }
        match self.next_structural()? {
            Tok::Start(Tag::Value) => Ok(true),
            Tok::End(Tag::Data) => {
                self.expect_end(Tag::Array)?;
                self.expect_end(Tag::Value)?;
                self.levels.close();
                Ok(false)
            }
            other => Err(self.unexpected(other, "<value> or </data>")),
        }
    }

    fn too_deep(&self, _: usize) -> Error {
        too_deep(self.max_depth)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::collections::BTreeMap;
    use std::fmt::Debug;

    use rpc_core::encoding::DATETIME_MARKER;
    use rpc_core::{DateTime, Fault, Map, Value, from_value};
    use serde::{Deserialize, Serialize};

    use super::super::{
        DEFAULT_MAX_DEPTH, decode_call, decode_call_typed, decode_response, decode_response_typed, encode_call,
        encode_call_typed, encode_response, encode_response_typed,
    };
    use crate::Error;

    /// The same document off the fast path: a comment after the root's start sends it to the general parser.
    fn general(doc: &[u8]) -> Vec<u8> {
        let doc = String::from_utf8(doc.to_vec()).unwrap();
        let at = doc.find("Call>").or_else(|| doc.find("Response>")).unwrap();
        let at = at + doc[at..].find('>').unwrap() + 1;
        format!("{}<!-- general -->{}", &doc[..at], &doc[at..]).into_bytes()
    }

    /// A call's params read straight into `(T,)` on both readers, against `from_value` of the values the
    /// value path reads: the same result, or an error on both.
    fn call_reads<T: serde::de::DeserializeOwned + PartialEq + Debug + 'static>(doc: &[u8]) -> Option<T> {
        let through_values = decode_call(doc, DEFAULT_MAX_DEPTH)
            .ok()
            .and_then(|(_, params)| from_value::<(T,)>(Value::Array(params)).ok())
            .map(|(t,)| t);
        for doc in [doc.to_vec(), general(doc)] {
            let straight = decode_call_typed::<(T,)>(&doc, DEFAULT_MAX_DEPTH).ok().map(|(_, (t,))| t);
            assert_eq!(straight, through_values, "{}", String::from_utf8_lossy(&doc));
        }
        through_values
    }

    /// A response's result read straight into `T` on both readers, against `from_value` of its value.
    fn result_reads<T: serde::de::DeserializeOwned + PartialEq + Debug + 'static>(doc: &[u8]) -> Option<T> {
        let through_value = match decode_response(doc, DEFAULT_MAX_DEPTH) {
            Ok(Ok(v)) => from_value::<T>(v).ok(),
            _ => None,
        };
        for doc in [doc.to_vec(), general(doc)] {
            let straight = decode_response_typed::<T>(&doc, DEFAULT_MAX_DEPTH).ok().and_then(Result::ok);
            assert_eq!(straight, through_value, "{}", String::from_utf8_lossy(&doc));
        }
        through_value
    }

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    enum Shape {
        Unit,
        Newtype(i64),
        Tuple(u8, String),
        Struct { name: String, big: i64 },
    }

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Record {
        id: u32,
        name: String,
        tags: Vec<String>,
        parent: Option<u64>,
        #[serde(with = "serde_bytes")]
        blob: Vec<u8>,
        raw: Vec<u8>,
        shapes: Vec<Shape>,
        when: DateTime,
        when_text: String,
        scores: BTreeMap<String, f64>,
        nothing: (),
        any: Value,
    }

    fn record() -> Record {
        let when: DateTime = "2026-12-07T12:00:00Z".parse().unwrap();
        Record {
            id: 7,
            name: "a < b & c\r and 😀".into(),
            tags: vec!["x".into(), " y ".into(), String::new()],
            parent: None,
            blob: (0..=255).collect(),
            raw: vec![0, 1, 255],
            shapes: vec![
                Shape::Unit,
                Shape::Newtype(-5),
                Shape::Tuple(3, "t".into()),
                Shape::Struct { name: "s".into(), big: i64::MIN },
            ],
            when,
            when_text: when.to_string(),
            scores: [("a".to_owned(), 0.1), ("b".to_owned(), -2.0)].into(),
            nothing: (),
            any: Value::Array(vec![Value::Nil, Value::Int(-1), Value::DateTime(when)]),
        }
    }

    #[test]
    fn a_type_reads_as_from_value_reads_its_value() {
        let one = record();
        // `raw` goes out as an array of ints and `when_text` as a string; both read back into their fields.
        let call = encode_call_typed("store", &[&one]).unwrap();
        assert_eq!(call_reads::<Record>(&call), Some(one));
        let response = encode_response_typed(Ok(&record())).unwrap();
        assert_eq!(result_reads::<Record>(&response), Some(record()));
        // The value itself, through the same deserializer.
        let value = rpc_core::to_value(&record()).unwrap();
        assert_eq!(result_reads::<Value>(&response).as_ref(), Some(&value));
    }

    #[test]
    fn lenient_readings_are_the_value_paths() {
        let one = |value_xml: &str| {
            format!(
                "<methodCall><methodName>m</methodName><params><param><value>{value_xml}</value></param></params></methodCall>"
            )
            .into_bytes()
        };
        // Base64 fills a `Vec<u8>` and a string of UTF-8; a datetime fills a string; untagged text is a string.
        assert_eq!(call_reads::<Vec<u8>>(&one("<base64>AP8=</base64>")), Some(vec![0, 255]));
        assert_eq!(call_reads::<String>(&one("<base64>aGk=</base64>")), Some("hi".into()));
        assert_eq!(
            call_reads::<String>(&one("<dateTime.iso8601>19980717T14:08:55</dateTime.iso8601>")).as_deref(),
            Some("19980717T14:08:55")
        );
        assert_eq!(call_reads::<String>(&one(" keeps its spaces ")).as_deref(), Some(" keeps its spaces "));
        assert_eq!(call_reads::<String>(&one("")).as_deref(), Some(""));
        // Integers in every spelling, and past i64 as u64.
        for (xml, n) in [("<int>7</int>", 7), ("<i4> -12 </i4>", -12), ("<i8>+5</i8>", 5), ("<int>007</int>", 7)] {
            assert_eq!(call_reads::<i64>(&one(xml)), Some(n), "{xml}");
        }
        assert_eq!(call_reads::<u64>(&one("<int>18446744073709551615</int>")), Some(u64::MAX));
        assert_eq!(call_reads::<i64>(&one("<int>18446744073709551615</int>")), None);
        assert_eq!(call_reads::<i64>(&one("<int>123456789012345678901</int>")), None);
        // Nil, and an empty array or struct in either spelling.
        assert_eq!(call_reads::<Option<i64>>(&one("<nil/>")), Some(None));
        assert_eq!(call_reads::<Option<i64>>(&one("<int>3</int>")), Some(Some(3)));
        for empty in ["<array/>", "<array><data/></array>", "<array><data></data></array>"] {
            assert_eq!(call_reads::<Vec<i64>>(&one(empty)), Some(vec![]), "{empty}");
        }
        assert_eq!(call_reads::<BTreeMap<String, i64>>(&one("<struct/>")), Some(BTreeMap::new()));
        // An enum as a variant name or a one-member struct; two members is neither.
        assert_eq!(call_reads::<Shape>(&one("Unit")), Some(Shape::Unit));
        let member =
            |xml: &str| one(&format!("<struct><member><name>Newtype</name><value>{xml}</value></member></struct>"));
        assert_eq!(call_reads::<Shape>(&member("<int>4</int>")), Some(Shape::Newtype(4)));
        let two = one(
            "<struct><member><name>Unit</name><value><nil/></value></member><member><name>Unit</name><value><nil/></value></member></struct>",
        );
        assert_eq!(call_reads::<Shape>(&two), None);
        // The wrong type is an error on both paths.
        assert_eq!(call_reads::<i64>(&one("<string>7</string>")), None);
        assert_eq!(call_reads::<Vec<i64>>(&one("<struct/>")), None);
    }

    #[test]
    fn a_member_named_like_a_marker_stays_a_member() {
        let mut m = Map::new();
        m.push(DATETIME_MARKER, "19980717T14:08:55");
        let response = encode_response(Ok(&Value::Map(m.clone()))).unwrap();
        assert_eq!(result_reads::<Value>(&response), Some(Value::Map(m)));
    }

    #[test]
    fn responses_carry_one_param_or_a_fault() {
        let empty = b"<methodResponse><params></params></methodResponse>";
        assert_eq!(result_reads::<Option<i64>>(empty), Some(None));
        assert_eq!(result_reads::<()>(empty), Some(()));
        let two = b"<methodResponse><params><param><value>a</value></param><param><value>b</value></param></params></methodResponse>";
        for doc in [two.to_vec(), general(two)] {
            match decode_response_typed::<String>(&doc, 8) {
                Err(Error::Invalid(m)) => assert!(m.contains("one param, this one 2"), "{m}"),
                other => panic!("{other:?}"),
            }
        }
        let fault = Fault::new(4, "too many");
        let body = encode_response(Err(&fault)).unwrap();
        for doc in [body.clone(), general(&body)] {
            assert_eq!(decode_response_typed::<Record>(&doc, 8).unwrap(), Err(fault.clone()));
        }
    }

    #[test]
    fn depth_is_bounded_on_both_readers() {
        let nest = |n: usize| {
            let v = (0..n).fold(Value::Int(1), |v, _| Value::Array(vec![v]));
            encode_call("m", &[v]).unwrap()
        };
        for doc in [nest(4), general(&nest(4))] {
            assert!(decode_call_typed::<(Value,)>(&doc, 4).is_ok());
        }
        for doc in [nest(5), general(&nest(5))] {
            match decode_call_typed::<(Value,)>(&doc, 4) {
                Err(Error::Invalid(m)) => assert!(m.contains("limit of 4"), "{m}"),
                other => panic!("{other:?}"),
            }
        }
        let deep = format!(
            "<methodCall><methodName>m</methodName><params><param>{}<value><int>1</int></value>{}</param></params></methodCall>",
            "<value><array><data>".repeat(100_000),
            "</data></array></value>".repeat(100_000)
        );
        assert!(matches!(decode_call_typed::<(Value,)>(deep.as_bytes(), DEFAULT_MAX_DEPTH), Err(Error::Invalid(_))));
    }

    #[test]
    fn a_result_of_the_wrong_type_is_read_as_a_value_by_the_client() {
        // What the client's answer does when the straight read fails: the value, and from_value's error.
        let body = encode_response(Ok(&Value::from("seven"))).unwrap();
        assert!(decode_response_typed::<i64>(&body, 8).is_err());
        let value = decode_response(&body, 8).unwrap().unwrap();
        let error = from_value::<i64>(value).unwrap_err().to_string();
        assert!(error.contains("invalid type: string \"seven\""), "{error}");
    }
}

//! The XML-RPC codec: [`Value`]s to and from `methodCall` / `methodResponse` documents.
//!
//! Output follows Python's `xmlrpc.client` byte for byte in layout (`<?xml version='1.0'?>`, one element per
//! line, `<int>` for 32-bit integers and `<i8>` beyond, base64 in 76-character lines), so captures from either
//! side look alike. Input is read with quick-xml straight from the body, never expanding a DTD or an entity
//! beyond the five predefined ones, with a bound on nesting depth.

use std::borrow::Cow;
use std::fmt::Write as _;

use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use quick_xml::events::{BytesRef, Event};
use quick_xml::reader::Reader;
use rpc_core::{Fault, Map, Value};
use serde::de::DeserializeOwned;

use crate::Error;

pub(crate) mod de;
mod fast;

/// The default bound on how deeply arrays and structs may nest in a decoded message.
pub const DEFAULT_MAX_DEPTH: usize = 64;

/// How deeply values may nest when encoding: encoding is recursive, so it has a bound too (generous: local
/// values are trusted more than a peer's).
const MAX_ENCODE_DEPTH: usize = 1024;

const XML_DECL: &str = "<?xml version='1.0'?>\n";

/// Base64 as Python writes it (standard alphabet, padded) and as anybody might send it (padding optional).
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

mod ser;

/// Encodes a `methodCall`.
pub fn encode_call(method: &str, params: &[Value]) -> Result<Vec<u8>, Error> {
    encode_call_typed(method, params)
}

/// Encodes a `methodCall` whose params are any `Serialize` types (a typed call's, [`Value`]s among them),
/// written straight, as their `Value`s would be.
pub fn encode_call_typed<P: serde::Serialize>(method: &str, params: &[P]) -> Result<Vec<u8>, Error> {
    check_method_name(method)?;
    let mut out = String::with_capacity(128);
    out.push_str(XML_DECL);
    out.push_str("<methodCall>\n<methodName>");
    escape_into(&mut out, method)?;
    out.push_str("</methodName>\n<params>\n");
    for p in params {
        out.push_str("<param>\n");
        ser::to_writer(p, &mut out)?;
        out.push_str("</param>\n");
    }
    out.push_str("</params>\n</methodCall>\n");
    Ok(out.into_bytes())
}

/// Encodes a `methodResponse`: one param for a result, a `<fault>` for a fault.
pub fn encode_response(result: Result<&Value, &Fault>) -> Result<Vec<u8>, Error> {
    encode_response_typed(result)
}

/// Encodes a `methodResponse` whose result is any `Serialize` type (a handler's, a [`Value`] among them),
/// written straight, as its `Value` would be.
pub fn encode_response_typed<T: serde::Serialize + ?Sized>(result: Result<&T, &Fault>) -> Result<Vec<u8>, Error> {
    let mut out = String::with_capacity(128);
    out.push_str(XML_DECL);
    out.push_str("<methodResponse>\n");
    match result {
        Ok(v) => {
            out.push_str("<params>\n<param>\n");
            ser::to_writer(v, &mut out)?;
            out.push_str("</param>\n</params>\n");
        }
        Err(f) => {
            out.push_str("<fault>\n");
            let start = out.len();
            if ser::to_writer(&fault_struct(f, true), &mut out).is_err() {
                // Data XML-RPC cannot carry (an integer past i64, ...) is left out; the fault itself always goes.
                out.truncate(start);
                ser::to_writer(&fault_struct(f, false), &mut out)?;
            }
            out.push_str("</fault>\n");
        }
    }
    out.push_str("</methodResponse>\n");
    Ok(out.into_bytes())
}

/// The body as text: UTF-8 (with or without a BOM) or US-ASCII, or ISO-8859-1 when the XML declaration says
/// so (Python's `ServerProxy(encoding='iso-8859-1')` sends that); any other declared encoding is refused.
fn body_text(body: &[u8]) -> Result<Cow<'_, str>, Error> {
    if let Some(rest) = body.strip_prefix(b"\xEF\xBB\xBF") {
        return utf8(rest).map(Cow::Borrowed);
    }
    match declared_encoding(body) {
        None => utf8(body).map(Cow::Borrowed),
        Some(enc) if ["utf-8", "utf8", "us-ascii", "ascii"].iter().any(|e| enc.eq_ignore_ascii_case(e)) => {
            utf8(body).map(Cow::Borrowed)
        }
        Some(enc) if ["iso-8859-1", "latin-1", "latin1"].iter().any(|e| enc.eq_ignore_ascii_case(e)) => {
            // Every byte is the code point of the same number.
            Ok(Cow::Owned(body.iter().map(|&b| char::from(b)).collect()))
        }
        Some(enc) => Err(Error::Malformed(format!("unsupported encoding {enc:?}: send UTF-8"))),
    }
}

fn utf8(body: &[u8]) -> Result<&str, Error> {
    std::str::from_utf8(body).map_err(|e| Error::Malformed(format!("the body is not UTF-8: {e}")))
}

/// The `encoding` of an XML declaration at the very start of the body, if there is one.
fn declared_encoding(body: &[u8]) -> Option<&str> {
    let decl = body.strip_prefix(b"<?xml")?;
    let end = decl.windows(2).position(|w| w == b"?>")?;
    let decl = std::str::from_utf8(&decl[..end]).ok()?;
    let at = decl.as_bytes().windows(8).position(|w| w == b"encoding")?;
    let after = &decl[at + "encoding".len()..];
    let after = after.trim_start().strip_prefix('=')?.trim_start();
    let quote = after.chars().next().filter(|q| *q == '"' || *q == '\'')?;
    let value = &after[1..];
    value.find(quote).map(|i| &value[..i])
}

/// Decodes a `methodCall` into its method name and params.
pub fn decode_call(body: &[u8], max_depth: usize) -> Result<(String, Vec<Value>), Error> {
    decode_call_typed(body, max_depth)
}

/// Decodes a `methodCall` whose params are read straight into `P` (a tuple of the method's param types, say,
/// or `Vec<Value>`), as a sequence: as [`from_value`](rpc_core::from_value) would read `P` from the params
/// [`decode_call`] gives.
pub fn decode_call_typed<P: DeserializeOwned>(body: &[u8], max_depth: usize) -> Result<(String, P), Error> {
    decode_call_with(body, max_depth, &mut de::Typed::<P>::new())
}

/// [`decode_call`] with the params read by `read`, over the deserializer of the params as a sequence.
pub(crate) fn decode_call_with<R: de::Read>(
    body: &[u8],
    max_depth: usize,
    read: &mut R,
) -> Result<(String, R::Value), Error> {
    let text = body_text(body)?;
    // Calls as clients write them take a fast path; anything else (and every error) the general parser reads.
    if let Some(call) = fast::decode_call(&text, max_depth, read) {
        return Ok(call);
    }
    decode_call_general(&text, max_depth, read)
}

/// [`decode_call`] with the general parser, on the body as text.
fn decode_call_general<R: de::Read>(text: &str, max_depth: usize, read: &mut R) -> Result<(String, R::Value), Error> {
    let mut p = Parser::new(text, max_depth)?;
    p.expect_root(Tag::MethodCall)?;
    p.expect_start(Tag::MethodName)?;
    let name = p.text_until_end(Tag::MethodName)?.trim().to_owned();
    if name.is_empty() {
        return Err(Error::Invalid("empty <methodName>".into()));
    }
    let present = match p.next_structural()? {
        Tok::Start(Tag::Params) => true,
        Tok::End(Tag::MethodCall) => false,
        other => return Err(p.unexpected(other, "<params> or </methodCall>")),
    };
    let (params, mut p) = de::read_params(p, present, max_depth, read)?;
    if present {
        p.expect_end(Tag::MethodCall)?;
    }
    p.expect_eof()?;
    Ok((name, params))
}

/// Decodes a `methodResponse` into the result or the fault it carries.
pub fn decode_response(body: &[u8], max_depth: usize) -> Result<Result<Value, Fault>, Error> {
    decode_response_typed(body, max_depth)
}

/// Decodes a `methodResponse` whose result is read straight into `T`, as
/// [`from_value`](rpc_core::from_value) would read it from the value [`decode_response`] gives.
pub fn decode_response_typed<T: DeserializeOwned>(body: &[u8], max_depth: usize) -> Result<Result<T, Fault>, Error> {
    decode_response_with(body, max_depth, &mut de::Typed::<T>::new())
}

/// [`decode_response`] with the result read by `read`, over the deserializer of the one param.
pub(crate) fn decode_response_with<R: de::Read>(
    body: &[u8],
    max_depth: usize,
    read: &mut R,
) -> Result<Result<R::Value, Fault>, Error> {
    let text = body_text(body)?;
    if let Some(response) = fast::decode_response(&text, max_depth, read) {
        return Ok(response);
    }
    let mut p = Parser::new(&text, max_depth)?;
    p.expect_root(Tag::MethodResponse)?;
    let (out, mut p) = match p.next_structural()? {
        Tok::Start(Tag::Params) => {
            let (result, p) = de::read_params(p, true, max_depth, &mut de::OneParam(read))?;
            (Ok(result), p)
        }
        Tok::Start(Tag::Fault) => {
            p.expect_start(Tag::Value)?;
            let (v, mut p) = de::read_value::<_, Value>(p, max_depth)?;
            p.expect_end(Tag::Fault)?;
            (Err(fault_from_value(v)?), p)
        }
        other => return Err(p.unexpected(other, "<params> or <fault>")),
    };
    p.expect_end(Tag::MethodResponse)?;
    p.expect_eof()?;
    Ok(out)
}

fn fault_from_value(v: Value) -> Result<Fault, Error> {
    let bad = || Error::Invalid("a <fault> must hold a struct with an int faultCode and a string faultString".into());
    let Value::Map(m) = v else { return Err(bad()) };
    fault_from_struct(&m).ok_or_else(bad)
}

/// The struct a fault goes out as: `faultCode` and `faultString`, and `faultData` for a fault with
/// [`data`](Fault::data) when `with_data` (peers that do not know the member ignore it).
pub(crate) fn fault_struct(f: &Fault, with_data: bool) -> Value {
    let mut m = Map::with_capacity(3);
    m.push("faultCode", f.code);
    m.push("faultString", f.message.as_str());
    if let (true, Some(data)) = (with_data, &f.data) {
        m.push("faultData", (**data).clone());
    }
    Value::Map(m)
}

/// The fault a struct of `faultCode`, `faultString` and perhaps `faultData` is; `None` if it is not one.
pub(crate) fn fault_from_struct(m: &Map) -> Option<Fault> {
    let code = m.get_str("faultCode").and_then(Value::as_i64)?;
    let message = m.get_str("faultString").and_then(Value::as_str)?;
    let fault = Fault::new(code, message);
    Some(match m.get_str("faultData") {
        None | Some(Value::Nil) => fault,
        Some(data) => fault.with_data(data.clone()),
    })
}

/// Method names per the spec: letters, digits, `_`, `.`, `:` and `/` (checked on the way out only; what
/// arrives is looked up as it is and simply not found).
fn check_method_name(method: &str) -> Result<(), Error> {
    if method.is_empty() {
        return Err(Error::Encode("the method name is empty".into()));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------------------------
// Encoding

fn write_int(out: &mut String, i: i64) {
    let (open, close) = if i32::try_from(i).is_ok() {
        ("<value><int>", "</int></value>\n")
    } else {
        ("<value><i8>", "</i8></value>\n")
    };
    out.push_str(open);
    out.push_str(itoa::Buffer::new().format(i));
    out.push_str(close);
}

/// The shortest decimal that reads back as the same `f64`, in plain notation as the spec asks (no exponent),
/// always with a decimal point: `1.0`, `-0.0`, `0.1`.
fn write_double(out: &mut String, f: f64) {
    let start = out.len();
    let _ = write!(out, "{f}");
    if !out[start..].contains('.') {
        out.push_str(".0");
    }
}

/// Escapes text for element content: `&`, `<`, `>` as entities and `\r` as `&#13;` (a raw CR would be read
/// back as a newline). Characters XML 1.0 cannot carry at all are an error rather than a broken document.
fn escape_into(out: &mut String, s: &str) -> Result<(), Error> {
    let mut last = 0;
    for (i, c) in s.char_indices() {
        let rep = match c {
            '&' => "&amp;",
            '<' => "&lt;",
            '>' => "&gt;",
            '\r' => "&#13;",
            c if !is_xml_char(c) => {
                return Err(Error::Encode(format!("character U+{:04X} cannot appear in XML 1.0", c as u32)));
            }
            _ => continue,
        };
        out.push_str(&s[last..i]);
        out.push_str(rep);
        last = i + c.len_utf8();
    }
    out.push_str(&s[last..]);
    Ok(())
}

/// XML 1.0's `Char` production.
fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..='\u{10FFFF}')
}

// ---------------------------------------------------------------------------------------------------------------
// Decoding

/// The elements XML-RPC knows (namespace prefixes such as Apache's `ex:` are ignored).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Tag {
    MethodCall,
    MethodResponse,
    MethodName,
    Params,
    Param,
    Fault,
    Value,
    Int,
    I4,
    I8,
    Boolean,
    String,
    Double,
    DateTime,
    Base64,
    Nil,
    Struct,
    Member,
    Name,
    Array,
    Data,
    Other,
}

impl Tag {
    fn of(local: &str) -> Tag {
        match local {
            "methodCall" => Tag::MethodCall,
            "methodResponse" => Tag::MethodResponse,
            "methodName" => Tag::MethodName,
            "params" => Tag::Params,
            "param" => Tag::Param,
            "fault" => Tag::Fault,
            "value" => Tag::Value,
            "int" => Tag::Int,
            "i4" => Tag::I4,
            "i8" => Tag::I8,
            "boolean" => Tag::Boolean,
            "string" => Tag::String,
            "double" => Tag::Double,
            "dateTime.iso8601" => Tag::DateTime,
            "base64" => Tag::Base64,
            "nil" => Tag::Nil,
            "struct" => Tag::Struct,
            "member" => Tag::Member,
            "name" => Tag::Name,
            "array" => Tag::Array,
            "data" => Tag::Data,
            _ => Tag::Other,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Tag::MethodCall => "methodCall",
            Tag::MethodResponse => "methodResponse",
            Tag::MethodName => "methodName",
            Tag::Params => "params",
            Tag::Param => "param",
            Tag::Fault => "fault",
            Tag::Value => "value",
            Tag::Int => "int",
            Tag::I4 => "i4",
            Tag::I8 => "i8",
            Tag::Boolean => "boolean",
            Tag::String => "string",
            Tag::Double => "double",
            Tag::DateTime => "dateTime.iso8601",
            Tag::Base64 => "base64",
            Tag::Nil => "nil",
            Tag::Struct => "struct",
            Tag::Member => "member",
            Tag::Name => "name",
            Tag::Array => "array",
            Tag::Data => "data",
            Tag::Other => "?",
        }
    }
}

/// What the grammar sees: element boundaries and merged character data.
#[derive(Debug)]
enum Tok<'a> {
    Start(Tag),
    End(Tag),
    /// Text, CDATA and references, merged (comments and processing instructions in between are dropped).
    Text(Cow<'a, str>),
    Eof,
}

struct Parser<'a> {
    reader: Reader<&'a [u8]>,
    /// A raw event read while merging text, to hand out next.
    pending: Option<Event<'a>>,
    max_depth: usize,
    levels: de::Levels,
}

impl<'a> Parser<'a> {
    fn new(text: &'a str, max_depth: usize) -> Result<Parser<'a>, Error> {
        let mut reader = Reader::from_str(text);
        let config = reader.config_mut();
        config.expand_empty_elements = true;
        config.check_end_names = true;
        config.trim_text(false);
        Ok(Parser { reader, pending: None, max_depth, levels: de::Levels::default() })
    }

    fn xml_error(&self, e: impl std::fmt::Display) -> Error {
        Error::Malformed(format!("{e} (at byte {})", self.reader.error_position()))
    }

    fn raw(&mut self) -> Result<Event<'a>, Error> {
        match self.pending.take() {
            Some(e) => Ok(e),
            None => self.reader.read_event().map_err(|e| self.xml_error(e)),
        }
    }

    fn next(&mut self) -> Result<Tok<'a>, Error> {
        let mut text: Option<Cow<'a, str>> = None;
        loop {
            let piece: Cow<'a, str> = match self.raw()? {
                Event::Text(t) => t.xml10_content(),
                Event::CData(c) => c.xml10_content(),
                Event::GeneralRef(r) => Cow::Owned(self.resolve(&r)?.to_string()),
                Event::Comment(_) | Event::PI(_) => continue,
                // The declared encoding was honoured by `body_text` before parsing.
                Event::Decl(_) => continue,
                Event::DocType(_) => {
                    return Err(Error::Malformed(
                        "a DOCTYPE is not allowed in XML-RPC (entities are never expanded)".into(),
                    ));
                }
                other => {
                    if let Some(t) = text {
                        self.pending = Some(other);
                        return Ok(Tok::Text(t));
                    }
                    return Ok(match other {
                        Event::Start(s) => Tok::Start(Tag::of(s.local_name().into_inner())),
                        Event::End(e) => Tok::End(Tag::of(e.local_name().into_inner())),
                        Event::Eof => Tok::Eof,
                        // Empty elements are expanded by the reader configuration; anything else is handled above.
                        _ => return Err(Error::Malformed("unexpected XML event".into())),
                    });
                }
            };
            if let Some(bad) = piece.chars().find(|c| !is_xml_char(*c)) {
                return Err(self.xml_error(format_args!("character U+{:04X} is not allowed in XML", bad as u32)));
            }
            text = Some(match text {
                None => piece,
                Some(mut t) => {
                    t.to_mut().push_str(&piece);
                    t
                }
            });
        }
    }

    /// A character reference or one of the five predefined entities; anything else is refused, never expanded.
    fn resolve(&self, r: &BytesRef<'_>) -> Result<char, Error> {
        if r.is_char_ref() {
            return match r.resolve_char_ref() {
                Ok(Some(c)) if is_xml_char(c) => Ok(c),
                Ok(_) | Err(_) => {
                    Err(self.xml_error(format_args!("invalid character reference &{};", r.xml10_content())))
                }
            };
        }
        match r.xml10_content().as_ref() {
            "lt" => Ok('<'),
            "gt" => Ok('>'),
            "amp" => Ok('&'),
            "apos" => Ok('\''),
            "quot" => Ok('"'),
            other => {
                Err(self
                    .xml_error(format_args!("undefined entity &{other}; (only the five predefined ones are allowed)")))
            }
        }
    }

    /// The next token that is not whitespace-only text.
    fn next_structural(&mut self) -> Result<Tok<'a>, Error> {
        loop {
            match self.next()? {
                Tok::Text(t) if t.chars().all(char::is_whitespace) => continue,
                other => return Ok(other),
            }
        }
    }

    fn unexpected(&self, got: Tok<'_>, wanted: &str) -> Error {
        match got {
            Tok::Eof => Error::Malformed(format!("the document ends where {wanted} was expected")),
            Tok::Start(Tag::Other) => Error::Invalid(format!("expected {wanted}, found an unknown element")),
            Tok::Start(t) => Error::Invalid(format!("expected {wanted}, found <{}>", t.name())),
            Tok::End(t) => Error::Invalid(format!("expected {wanted}, found </{}>", t.name())),
            Tok::Text(t) => {
                let mut shown: String = t.trim().chars().take(40).collect();
                if shown.len() < t.trim().len() {
                    shown.push_str("...");
                }
                Error::Invalid(format!("expected {wanted}, found text {shown:?}"))
            }
        }
    }

    fn expect_root(&mut self, tag: Tag) -> Result<(), Error> {
        match self.next_structural()? {
            Tok::Start(t) if t == tag => Ok(()),
            Tok::Eof => Err(Error::Malformed("the body holds no XML element".into())),
            Tok::Text(_) => Err(Error::Malformed("text before the root element: the body is not XML".into())),
            other => Err(self.unexpected(other, &format!("<{}>", tag.name()))),
        }
    }

    fn expect_start(&mut self, tag: Tag) -> Result<(), Error> {
        match self.next_structural()? {
            Tok::Start(t) if t == tag => Ok(()),
            other => Err(self.unexpected(other, &format!("<{}>", tag.name()))),
        }
    }

    fn expect_end(&mut self, tag: Tag) -> Result<(), Error> {
        match self.next_structural()? {
            Tok::End(t) if t == tag => Ok(()),
            other => Err(self.unexpected(other, &format!("</{}>", tag.name()))),
        }
    }

    /// After the root element: only whitespace, comments and processing instructions may follow.
    fn expect_eof(&mut self) -> Result<(), Error> {
        match self.next_structural() {
            Ok(Tok::Eof) => Ok(()),
            Ok(_) | Err(_) => Err(Error::Malformed("content after the root element".into())),
        }
    }

    /// The text content of an element whose start was just read, up to its end tag.
    fn text_until_end(&mut self, tag: Tag) -> Result<Cow<'a, str>, Error> {
        match self.next()? {
            Tok::End(t) if t == tag => Ok(Cow::Borrowed("")),
            Tok::Text(text) => {
                self.expect_end(tag)?;
                Ok(text)
            }
            other => Err(self.unexpected(other, &format!("text in <{}>", tag.name()))),
        }
    }
}

#[cfg(test)]
mod tests {
    use rpc_core::{Ext, Fault, Map, Value};

    use super::*;

    fn call_body(value_xml: &str) -> String {
        format!(
            "<?xml version='1.0'?><methodCall><methodName>m</methodName><params><param>{value_xml}</param></params></methodCall>"
        )
    }

    fn decode_one(value_xml: &str) -> Result<Value, Error> {
        decode_call(call_body(value_xml).as_bytes(), DEFAULT_MAX_DEPTH).map(|(_, mut p)| p.remove(0))
    }

    fn map(entries: &[(&str, Value)]) -> Value {
        Value::Map(entries.iter().map(|(k, v)| (*k, v.clone())).collect())
    }

    #[test]
    fn struct_keeps_member_order_and_duplicates() {
        let v = decode_one(
            "<value><struct><member><name>b</name><value><int>1</int></value></member>\
             <member><name>a</name><value><int>2</int></value></member>\
             <member><name>b</name><value><int>3</int></value></member></struct></value>",
        )
        .unwrap();
        let m = v.as_map().unwrap();
        let keys: Vec<_> = m.iter().map(|(k, _)| k.as_str().unwrap_or_default()).collect();
        assert_eq!(keys, ["b", "a", "b"]);
        assert_eq!(m.get_str("b"), Some(&Value::Int(3)), "the last duplicate wins, as in Python");
    }

    #[test]
    fn depth_is_bounded() {
        let nest = |n: usize| {
            format!(
                "{}<value><int>1</int></value>{}",
                "<value><array><data>".repeat(n),
                "</data></array></value>".repeat(n)
            )
        };
        assert!(decode_call(call_body(&nest(4)).as_bytes(), 4).is_ok());
        match decode_call(call_body(&nest(5)).as_bytes(), 4) {
            Err(Error::Invalid(m)) => assert!(m.contains("limit of 4"), "{m}"),
            other => panic!("{other:?}"),
        }
        // Far deeper than any stack would take, refused without recursing that far.
        assert!(matches!(decode_call(call_body(&nest(100_000)).as_bytes(), DEFAULT_MAX_DEPTH), Err(Error::Invalid(_))));
    }

    #[test]
    fn params_may_be_absent_or_empty() {
        for body in [
            "<methodCall><methodName>x.y</methodName></methodCall>",
            "<methodCall><methodName>x.y</methodName><params/></methodCall>",
        ] {
            assert_eq!(decode_call(body.as_bytes(), 8).unwrap(), ("x.y".to_owned(), vec![]));
        }
    }

    #[test]
    fn refuses_what_xml_rpc_cannot_carry() {
        let mut int_keyed = Map::new();
        int_keyed.push(1, 2);
        for v in [
            Value::Float(f64::NAN),
            Value::Float(f64::INFINITY),
            Value::UInt(u64::MAX),
            Value::Map(int_keyed),
            Value::Ext(Ext::new(1, [0])),
            "bell \u{7}".into(),
            "\u{FFFE}".into(),
        ] {
            assert!(matches!(encode_call("m", std::slice::from_ref(&v)), Err(Error::Encode(_))), "{v:?}");
        }
        assert!(encode_call("", &[]).is_err());
    }

    #[test]
    fn round_trips_through_encode_and_decode() {
        let dt: rpc_core::DateTime = "20260101T00:00:00".parse().unwrap();
        let values = vec![
            Value::Nil,
            Value::Bool(false),
            Value::Int(i64::MIN),
            Value::Int(i64::MAX),
            Value::Float(5e-324),
            Value::Float(1e300),
            Value::Float(-0.0),
            Value::Float(std::f64::consts::PI),
            "tab\there\r\nand 😀 and ]]> and &amp;".into(),
            Value::Bytes((0..=255).collect()),
            Value::DateTime(dt),
            Value::Array(vec![Value::Array(vec![]), map(&[("k", Value::Array(vec![Value::Nil]))])]),
            "x".repeat(1 << 20).into(),
        ];
        let body = encode_call("echo.all", &values).unwrap();
        let (name, back) = decode_call(&body, DEFAULT_MAX_DEPTH).unwrap();
        assert_eq!(name, "echo.all");
        assert_eq!(back, values);
        for v in &values {
            let body = encode_response(Ok(v)).unwrap();
            assert_eq!(decode_response(&body, DEFAULT_MAX_DEPTH).unwrap().unwrap(), *v);
        }
        let fault = Fault::new(-32601, "method not found: \"x\"");
        let body = encode_response(Err(&fault)).unwrap();
        assert_eq!(decode_response(&body, DEFAULT_MAX_DEPTH).unwrap().unwrap_err(), fault);
    }

    #[test]
    fn response_shapes() {
        let empty = "<methodResponse><params></params></methodResponse>";
        assert_eq!(decode_response(empty.as_bytes(), 8).unwrap().unwrap(), Value::Nil);
        let two = "<methodResponse><params><param><value>a</value></param><param><value>b</value></param></params></methodResponse>";
        assert!(matches!(decode_response(two.as_bytes(), 8), Err(Error::Invalid(_))));
        let bad_fault = "<methodResponse><fault><value><string>x</string></value></fault></methodResponse>";
        assert!(matches!(decode_response(bad_fault.as_bytes(), 8), Err(Error::Invalid(_))));
        assert!(matches!(decode_response(b"<html>502 Bad Gateway</html>", 8), Err(Error::Invalid(_))));
    }
}

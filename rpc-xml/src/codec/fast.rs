//! A fast path for reading the `methodCall`s and `methodResponse`s that peers actually send: elements without
//! attributes, namespaces, comments, CDATA or character references, text without carriage returns, the five
//! predefined entities at most. It reads them in one pass over the text, several times faster than the
//! general parser, and is a [`WireReader`] as the general parser is, so values and typed params and results
//! are read through the same deserializer either way.
//!
//! It never decides anything the general parser would decide otherwise: on anything outside that shape, and on
//! anything that would be an error (a bad number, an unknown element, nesting over the limit, a param of the
//! wrong type, ...), it gives up (`None`) and the general parser reads the body from the start, with its checks
//! and error messages. The tests hold it to that: whatever it reads, the general parser reads the same.

use std::borrow::Cow;

use rpc_core::encoding::{WireItem, WireReader};
use rpc_core::{Fault, Value};

use super::de::{Levels, OneParam, Read, XmlReader, is_scalar, read_params, read_value, scalar};
use super::{Tag, fault_from_value, is_xml_char};
use crate::Error;

/// The method name and params of `text`, if it has the common shape and is a valid call.
pub(super) fn decode_call<R: Read>(text: &str, max_depth: usize, read: &mut R) -> Option<(String, R::Value)> {
    let mut c = Cursor::start(text)?;
    c.open("methodCall")?;
    c.ws();
    c.open("methodName")?;
    let name = c.text()?.trim().to_owned();
    c.close("methodName")?;
    if name.is_empty() {
        return None;
    }
    c.ws();
    let present = c.open("params").is_some();
    if !present && c.empty("params") {
        c.ws();
    }
    let (params, mut c) = read_params(c, present, max_depth, read).ok()?;
    c.ws();
    c.close("methodCall")?;
    c.end().then_some((name, params))
}

/// The result or fault of `text`, if it has the common shape and is a valid response.
pub(super) fn decode_response<R: Read>(text: &str, max_depth: usize, read: &mut R) -> Option<Result<R::Value, Fault>> {
    let mut c = Cursor::start(text)?;
    c.open("methodResponse")?;
    c.ws();
    let (out, mut c) = if c.open("params").is_some() {
        let (result, c) = read_params(c, true, max_depth, &mut OneParam(read)).ok()?;
        (Ok(result), c)
    } else {
        c.open("fault")?;
        c.ws();
        c.open("value")?;
        let (fault, mut c) = read_value::<_, Value>(c, max_depth).ok()?;
        c.ws();
        c.close("fault")?;
        (Err(fault_from_value(fault).ok()?), c)
    };
    c.ws();
    c.close("methodResponse")?;
    c.end().then_some(out)
}

/// The bytes text runs over as they are: printable ASCII but `<`, `&` and `]`, and tab and newline.
const PLAIN: [bool; 256] = {
    let mut plain = [false; 256];
    let mut b = 0x20;
    while b < 0x7f {
        plain[b] = !matches!(b as u8, b'<' | b'&' | b']');
        b += 1;
    }
    plain[b'\t' as usize] = true;
    plain[b'\n' as usize] = true;
    plain
};

/// The fast path gave up: the general parser reads the body (this error is never shown).
fn gave_up() -> Error {
    Error::Malformed(String::new())
}

/// What the fast path needs, or it gives up.
fn need<T>(found: Option<T>) -> Result<T, Error> {
    found.ok_or_else(gave_up)
}

struct Cursor<'a> {
    s: &'a str,
    b: &'a [u8],
    pos: usize,
    levels: Levels,
}

impl<'a> Cursor<'a> {
    /// A cursor at the root element of `text`, past the XML declaration (whose encoding was dealt with before
    /// parsing: the general parser skips it) and whitespace.
    fn start(text: &'a str) -> Option<Cursor<'a>> {
        let mut c = Cursor { b: text.as_bytes(), s: text, pos: 0, levels: Levels::default() };
        if text.starts_with("<?xml ") {
            let end = text.as_bytes().windows(2).position(|w| w == b"?>")?;
            if !text.as_bytes()[2..end].iter().all(|b| (b' '..=b'~').contains(b) && *b != b'<' && *b != b'>') {
                return None;
            }
            c.pos = end + 2;
        }
        c.ws();
        Some(c)
    }

    /// Past the root element: only whitespace is left.
    fn end(&mut self) -> bool {
        self.ws();
        self.pos == self.b.len()
    }

    /// Skips ASCII whitespace (a carriage return ends the fast path: the general parser normalises it).
    #[inline(always)]
    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n') = self.b.get(self.pos) {
            self.pos += 1;
        }
    }

    /// Takes `<name>`.
    #[inline(always)]
    fn open(&mut self, name: &str) -> Option<()> {
        self.take(b"<", name, b">")
    }

    /// Takes `</name>`.
    #[inline(always)]
    fn close(&mut self, name: &str) -> Option<()> {
        self.take(b"</", name, b">")
    }

    /// Takes `<name/>`.
    #[inline(always)]
    fn empty(&mut self, name: &str) -> bool {
        self.take(b"<", name, b"/>").is_some()
    }

    #[inline(always)]
    fn take(&mut self, before: &[u8], name: &str, after: &[u8]) -> Option<()> {
        let rest = self.b.get(self.pos..)?;
        let n = before.len() + name.len() + after.len();
        let found = rest.len() >= n
            && rest.starts_with(before)
            && &rest[before.len()..before.len() + name.len()] == name.as_bytes()
            && &rest[before.len() + name.len()..n] == after;
        found.then(|| self.pos += n)
    }

    /// Takes `</name>` for a name known only at run time (the element just opened), compared in place: a call to
    /// `memcmp` costs more than comparing a few bytes.
    fn close_opened(&mut self, name: &str) -> Option<()> {
        let rest = self.b.get(self.pos..)?;
        let n = name.len() + 3;
        let found = rest.len() >= n
            && rest[..2] == *b"</"
            && rest[2..n - 1].iter().zip(name.as_bytes()).all(|(a, b)| a == b)
            && rest[n - 1] == b'>';
        found.then(|| self.pos += n)
    }

    /// A start tag of any name: the name, and whether it is empty (`<name/>`).
    fn any_open(&mut self) -> Option<(&'a str, bool)> {
        let rest = self.b.get(self.pos..)?;
        if rest.first() != Some(&b'<') {
            return None;
        }
        let len = rest[1..].iter().position(|b| !(b.is_ascii_alphanumeric() || *b == b'.'))?;
        let name = self.s.get(self.pos + 1..self.pos + 1 + len)?;
        match &rest[1 + len..] {
            [b'>', ..] if len > 0 => {
                self.pos += len + 2;
                Some((name, false))
            }
            [b'/', b'>', ..] if len > 0 => {
                self.pos += len + 3;
                Some((name, true))
            }
            _ => None,
        }
    }

    /// Character data up to the next `<`, with the five predefined entities replaced. Gives up on anything the
    /// general parser treats specially or refuses: `\r`, `]`, a character reference, a character XML forbids.
    fn text(&mut self) -> Option<Cow<'a, str>> {
        let start = self.pos;
        let mut owned: Option<String> = None;
        let mut copied = start;
        let mut ascii = true;
        loop {
            // The run of bytes that need nothing done, then the one that ends it.
            while self.b.get(self.pos).is_some_and(|&b| PLAIN[usize::from(b)]) {
                self.pos += 1;
            }
            let &b = self.b.get(self.pos)?;
            match b {
                b'<' => break,
                b'&' => {
                    let rest = &self.b[self.pos..];
                    let (c, len) = match rest {
                        [b'&', b'l', b't', b';', ..] => ('<', 4),
                        [b'&', b'g', b't', b';', ..] => ('>', 4),
                        [b'&', b'a', b'm', b'p', b';', ..] => ('&', 5),
                        [b'&', b'q', b'u', b'o', b't', b';', ..] => ('"', 6),
                        [b'&', b'a', b'p', b'o', b's', b';', ..] => ('\'', 6),
                        _ => return None,
                    };
                    let out = owned.get_or_insert_with(String::new);
                    out.push_str(&self.s[copied..self.pos]);
                    out.push(c);
                    self.pos += len;
                    copied = self.pos;
                }
                b'\t' | b'\n' => self.pos += 1,
                b'\r' | b']' => return None,
                0..=0x1f => return None,
                0x80.. => {
                    ascii = false;
                    self.pos += 1;
                }
                _ => self.pos += 1,
            }
        }
        if !ascii && !self.s[start..self.pos].chars().all(is_xml_char) {
            return None;
        }
        Some(match owned {
            None => Cow::Borrowed(&self.s[start..self.pos]),
            Some(mut out) => {
                out.push_str(&self.s[copied..self.pos]);
                Cow::Owned(out)
            }
        })
    }

    /// An integer written plainly (up to 18 digits, perhaps after a `-`) right up to the next `<`, as
    /// [`scalar`] reads it; `None`, with nothing taken, for any other text.
    fn plain_int(&mut self) -> Option<i64> {
        let rest = self.b.get(self.pos..)?;
        let negative = rest.first() == Some(&b'-');
        let digits = &rest[usize::from(negative)..];
        let len = digits.iter().take(19).position(|b| !b.is_ascii_digit())?;
        if len == 0 || len > 18 || digits.get(len) != Some(&b'<') {
            return None;
        }
        let n = digits[..len].iter().fold(0i64, |n, d| n * 10 + i64::from(d - b'0'));
        self.pos += usize::from(negative) + len;
        Some(if negative { -n } else { n })
    }

    /// The text of an element whose start tag was just read, through its end tag.
    fn text_of(&mut self, name: &str, empty: bool) -> Option<Cow<'a, str>> {
        if empty {
            return Some(Cow::Borrowed(""));
        }
        let text = self.text()?;
        self.close_opened(name)?;
        Some(text)
    }
}

impl<'a> XmlReader<'a> for Cursor<'a> {
    fn start_params(&mut self, present: bool) {
        self.levels.start_params(present);
    }
}

impl<'a> WireReader<'a> for Cursor<'a> {
    type Error = Error;

    /// A value whose `<value>` start was just read: a scalar through its `</value>`, an array or struct through
    /// its start.
    fn item(&mut self) -> Result<WireItem<'a>, Error> {
        if let Some(params) = self.levels.params_item() {
            return Ok(params);
        }
        if self.b.get(self.pos) != Some(&b'<') {
            let text = need(self.text())?;
            if self.close("value").is_some() {
                return Ok(WireItem::Str(text));
            }
            if !text.bytes().all(|b| matches!(b, b' ' | b'\t' | b'\n')) {
                return Err(gave_up());
            }
        } else if self.close("value").is_some() {
            return Ok(WireItem::Str(Cow::Borrowed("")));
        }
        let (name, empty) = need(self.any_open())?;
        let item = match Tag::of(name) {
            // Integers as peers write them, read in place; any other form as any other scalar.
            Tag::Int | Tag::I4 | Tag::I8 if let Some(i) = self.plain_int() => {
                need(self.close_opened(name))?;
                WireItem::Int(i)
            }
            tag if is_scalar(tag) => scalar(tag, need(self.text_of(name, empty))?)?,
            Tag::Nil => {
                if !empty {
                    self.ws();
                    need(self.close("nil"))?;
                }
                WireItem::Nil
            }
            Tag::Array if empty => WireItem::Seq(Some(0)),
            Tag::Array => {
                self.ws();
                if self.open("data").is_some() {
                    self.levels.open();
                    return Ok(WireItem::Seq(None));
                }
                if self.empty("data") {
                    self.ws();
                }
                need(self.close("array"))?;
                WireItem::Seq(Some(0))
            }
            Tag::Struct if empty => WireItem::Map(Some(0)),
            Tag::Struct => {
                self.levels.open();
                return Ok(WireItem::Map(None));
            }
            _ => return Err(gave_up()),
        };
        self.ws();
        need(self.close("value"))?;
        Ok(item)
    }

    /// A member's name, through the `<value>` start of its value.
    fn key(&mut self) -> Result<WireItem<'a>, Error> {
        let name = need(self.text())?;
        need(self.close("name"))?;
        self.ws();
        need(self.open("value"))?;
        Ok(WireItem::Str(name))
    }

    fn more(&mut self, map: bool, first: bool) -> Result<bool, Error> {
        self.ws();
        let (element, start, end) = match (self.levels.in_params(), map) {
            (true, _) => ("param", "value", "params"),
            (false, true) => ("member", "name", "struct"),
            (false, false) => ("", "value", "data"),
        };
        if !element.is_empty() {
            if !first {
                need(self.close(element))?;
                self.ws();
            }
            if self.open(element).is_some() {
                self.ws();
                return need(self.open(start)).map(|()| true);
            }
        } else if self.open(start).is_some() {
            return Ok(true);
        }
        need(self.close(end))?;
        if !self.levels.in_params() {
            if !map {
                self.ws();
                need(self.close("array"))?;
            }
            self.ws();
            need(self.close("value"))?;
        }
        self.levels.close();
        Ok(false)
    }

    fn too_deep(&self, _: usize) -> Error {
        gave_up()
    }
}

#[cfg(test)]
mod tests {
    use rpc_core::{Map, Value};

    use super::super::de::Typed;
    use super::super::{DEFAULT_MAX_DEPTH, decode_call_general, encode_call};
    use super::*;

    /// The fast path reads `doc` as the general parser does, or leaves it to it.
    fn agrees(doc: &str, max_depth: usize) -> bool {
        let values = || Typed::<Vec<Value>>::new();
        let fast = decode_call(doc, max_depth, &mut values());
        let general = decode_call_general(doc, max_depth, &mut values());
        if let Some(fast) = &fast {
            assert_eq!(Some(fast), general.as_ref().ok(), "the fast path read {doc:?} otherwise: {general:?}");
        }
        fast.is_some()
    }

    fn sample_values() -> Vec<Value> {
        let mut m = Map::new();
        m.push("a & <b>", Value::Int(1));
        m.push("", Value::Array(vec![Value::Nil, Value::Bool(true), Value::Float(-0.5)]));
        vec![
            Value::Int(7),
            Value::Int(i64::MIN),
            Value::Int(1 << 40),
            Value::Bool(false),
            Value::Float(1e300),
            Value::Float(0.1),
            Value::from(""),
            Value::from("  spaces kept  "),
            Value::from("tags <a> & \"quotes\" 'too' > ok"),
            Value::from("ünïcödé 😀 and\ttabs\nand newlines"),
            Value::Bytes((0..=255).collect()),
            Value::DateTime("19980717T14:08:55".parse().unwrap_or_else(|_| unreachable!())),
            Value::Nil,
            Value::Array(vec![]),
            Value::Map(Map::new()),
            Value::Map(m),
            Value::Array(vec![Value::Array(vec![Value::Array(vec![Value::Int(3)])])]),
        ]
    }

    #[test]
    fn what_our_encoder_writes_takes_the_fast_path() {
        for v in sample_values() {
            let doc = String::from_utf8(encode_call("m.x_1", std::slice::from_ref(&v)).unwrap_or_default())
                .unwrap_or_default();
            assert!(agrees(&doc, DEFAULT_MAX_DEPTH), "{doc}");
        }
        let doc = String::from_utf8(encode_call("m", &sample_values()).unwrap_or_default()).unwrap_or_default();
        assert!(agrees(&doc, DEFAULT_MAX_DEPTH));
        // Compact, as other clients write it.
        let compact: String = doc.split('\n').collect();
        assert!(agrees(&compact, DEFAULT_MAX_DEPTH));
    }

    #[test]
    fn other_shapes_agree_or_fall_back() {
        let accepted = [
            "<methodCall><methodName>m</methodName></methodCall>",
            "<methodCall><methodName> m </methodName><params/></methodCall>",
            "<methodCall><methodName>m</methodName><params></params></methodCall>\n\n",
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><methodCall><methodName>m</methodName><params><param><value>untagged text</value></param></params></methodCall>",
            "<methodCall><methodName>m</methodName><params><param><value></value></param><param><value><string/></value></param></params></methodCall>",
            "<methodCall><methodName>m</methodName><params><param><value>\n <i4> -12 </i4>\n</value></param></params></methodCall>",
            "<methodCall><methodName>m</methodName><params><param><value><nil></nil></value></param><param><value><array/></value></param><param><value><struct/></value></param><param><value><array><data/></array></value></param></params></methodCall>",
            "<methodCall><methodName>m</methodName><params><param><value><base64>AP8=\n</base64></value></param><param><value><boolean> 1 </boolean></value></param></params></methodCall>",
            "<methodCall><methodName>m</methodName><params><param><value><struct><member><name>k</name><value><int>1</int></value></member><member><name>k</name><value>2</value></member></struct></value></param></params></methodCall>",
            "<methodCall><methodName>m</methodName><params><param><value><int>18446744073709551615</int></value></param></params></methodCall>",
        ];
        for doc in accepted {
            assert!(agrees(doc, DEFAULT_MAX_DEPTH), "{doc}");
        }
        // Left to the general parser: what is valid there but unusual, and every error.
        let left = [
            "<methodCall><methodName>m</methodName><!-- c --></methodCall>",
            "<methodCall><methodName>m</methodName><params><param><value><![CDATA[x]]></value></param></params></methodCall>",
            "<methodCall><methodName>m</methodName><params><param><value>&#65;</value></param></params></methodCall>",
            "<methodCall><methodName>m</methodName><params><param><value>a\r\nb</value></param></params></methodCall>",
            "<methodCall><methodName>m</methodName><params><param><value><ex:i8>5</ex:i8></value></param></params></methodCall>",
            "<methodCall a='1'><methodName>m</methodName></methodCall>",
            "<methodCall><methodName></methodName></methodCall>",
            "<methodCall><methodName>m</methodName><params><param><value><int>x</int></value></param></params></methodCall>",
            "<methodCall><methodName>m</methodName><params><param><value><int>7</i4></value></param></params></methodCall>",
            "<methodCall><methodName>m</methodName><params><param><value><double>NaN</double></value></param></params></methodCall>",
            "<methodCall><methodName>m</methodName><params><param><value><boolean>2</boolean></value></param></params></methodCall>",
            "<methodCall><methodName>m</methodName><params><param><value><foo>1</foo></value></param></params></methodCall>",
            "<methodCall><methodName>m</methodName><params><param><value>x<int>1</int></value></param></params></methodCall>",
            "<methodCall><methodName>m</methodName></methodCall>trailing",
            "<methodCall><methodName>m</methodName>",
            "<methodCall><methodName>a]]>b</methodName></methodCall>",
            "<methodCall><methodName>m\u{1}</methodName></methodCall>",
            "<methodCall><methodName>m\u{FFFE}</methodName></methodCall>",
            "<methodCall><methodName>m &unknown;</methodName></methodCall>",
            "<methodCall><methodName>m</methodName><params><param><value><base64>!!</base64></value></param></params></methodCall>",
            "<methodCall><methodName>m</methodName><params><param><value><dateTime.iso8601>never</dateTime.iso8601></value></param></params></methodCall>",
        ];
        for doc in left {
            assert!(!agrees(doc, DEFAULT_MAX_DEPTH), "{doc}");
        }
    }

    #[test]
    fn depth_limit_is_the_general_parsers() {
        let nest = |n: usize| {
            format!(
                "<methodCall><methodName>m</methodName><params><param><value>{}<int>1</int>{}</value></param></params></methodCall>",
                "<array><data><value>".repeat(n),
                "</value></data></array>".repeat(n)
            )
        };
        assert!(agrees(&nest(4), 4));
        assert!(!agrees(&nest(5), 4));
        assert!(!agrees(&nest(10_000), DEFAULT_MAX_DEPTH));
    }

    #[test]
    fn every_prefix_and_every_byte_change_agrees() {
        let doc = String::from_utf8(encode_call("m", &sample_values()[..12]).unwrap_or_default()).unwrap_or_default();
        for end in (0..doc.len()).filter(|i| doc.is_char_boundary(*i)) {
            agrees(&doc[..end], DEFAULT_MAX_DEPTH);
        }
        let bytes = doc.as_bytes();
        for i in 0..bytes.len() {
            for replacement in [b'<', b'>', b'/', b'&', b' ', b'x', b'1', b'\r'] {
                let mut changed = bytes.to_vec();
                changed[i] = replacement;
                if let Ok(text) = std::str::from_utf8(&changed) {
                    agrees(text, DEFAULT_MAX_DEPTH);
                }
            }
        }
    }
}

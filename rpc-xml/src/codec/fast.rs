//! A fast path for reading the `methodCall`s that clients actually send: elements without attributes,
//! namespaces, comments, CDATA or character references, text without carriage returns, the five predefined
//! entities at most. It reads them in one pass over the text, several times faster than the general parser.
//!
//! It never decides anything the general parser would decide otherwise: on anything outside that shape, and on
//! anything that would be an error (a bad number, an unknown element, nesting over the limit, ...), it gives up
//! (`None`) and the general parser reads the body from the start, with its checks and error messages. The
//! tests hold it to that: whatever it reads, the general parser reads the same.

use std::borrow::Cow;

use base64::Engine as _;
use rpc_core::{DateTime, Map, Value};

use super::{BASE64, is_xml_char, parse_int};

/// The method name and params of `text`, if it has the common shape and is a valid call.
pub(super) fn decode_call(text: &str, max_depth: usize) -> Option<(String, Vec<Value>)> {
    let mut c = Cursor { b: text.as_bytes(), s: text, pos: 0, max_depth };
    if text.starts_with("<?xml ") {
        // The XML declaration (its encoding was dealt with before parsing): the general parser skips it.
        let end = text.as_bytes().windows(2).position(|w| w == b"?>")?;
        if !text.as_bytes()[2..end].iter().all(|b| (b' '..=b'~').contains(b) && *b != b'<' && *b != b'>') {
            return None;
        }
        c.pos = end + 2;
    }
    c.ws();
    c.open("methodCall")?;
    c.ws();
    c.open("methodName")?;
    let name = c.text()?;
    c.close("methodName")?;
    let name = name.trim();
    if name.is_empty() {
        return None;
    }
    c.ws();
    let mut params = Vec::new();
    if c.open("params").is_some() {
        loop {
            c.ws();
            if c.open("param").is_some() {
                c.ws();
                c.open("value")?;
                params.push(c.value(0)?);
                c.ws();
                c.close("param")?;
            } else {
                c.close("params")?;
                break;
            }
        }
        c.ws();
    } else if c.empty("params") {
        c.ws();
    }
    c.close("methodCall")?;
    c.ws();
    (c.pos == c.b.len()).then(|| (name.to_owned(), params))
}

struct Cursor<'a> {
    s: &'a str,
    b: &'a [u8],
    pos: usize,
    max_depth: usize,
}

impl<'a> Cursor<'a> {
    /// Skips ASCII whitespace (a carriage return ends the fast path: the general parser normalises it).
    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n') = self.b.get(self.pos) {
            self.pos += 1;
        }
    }

    /// Takes `<name>`.
    fn open(&mut self, name: &str) -> Option<()> {
        self.take(b"<", name, b">")
    }

    /// Takes `</name>`.
    fn close(&mut self, name: &str) -> Option<()> {
        self.take(b"</", name, b">")
    }

    /// Takes `<name/>`.
    fn empty(&mut self, name: &str) -> bool {
        self.take(b"<", name, b"/>").is_some()
    }

    fn take(&mut self, before: &[u8], name: &str, after: &[u8]) -> Option<()> {
        let rest = self.b.get(self.pos..)?;
        let n = before.len() + name.len() + after.len();
        let found = rest.len() >= n
            && rest.starts_with(before)
            && &rest[before.len()..before.len() + name.len()] == name.as_bytes()
            && &rest[before.len() + name.len()..n] == after;
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

    /// The text of an element whose start tag was just read, through its end tag.
    fn text_of(&mut self, name: &str, empty: bool) -> Option<Cow<'a, str>> {
        if empty {
            return Some(Cow::Borrowed(""));
        }
        let text = self.text()?;
        self.close(name)?;
        Some(text)
    }

    /// One value whose `<value>` start was just read, through its `</value>`.
    fn value(&mut self, depth: usize) -> Option<Value> {
        let text = self.text()?;
        if self.close("value").is_some() {
            return Some(Value::String(text.into_owned()));
        }
        if !text.bytes().all(|b| matches!(b, b' ' | b'\t' | b'\n')) {
            return None;
        }
        let (name, empty) = self.any_open()?;
        let value = self.typed(name, empty, depth)?;
        self.ws();
        self.close("value")?;
        Some(value)
    }

    fn typed(&mut self, name: &str, empty: bool, depth: usize) -> Option<Value> {
        match name {
            "int" | "i4" | "i8" => parse_int(self.text_of(name, empty)?.trim()),
            "boolean" => match self.text_of(name, empty)?.trim() {
                "1" => Some(Value::Bool(true)),
                "0" => Some(Value::Bool(false)),
                _ => None,
            },
            "double" => {
                self.text_of(name, empty)?.trim().parse::<f64>().ok().filter(|f| f.is_finite()).map(Value::Float)
            }
            "string" => Some(Value::String(self.text_of(name, empty)?.into_owned())),
            "dateTime.iso8601" => self.text_of(name, empty)?.parse::<DateTime>().ok().map(Value::DateTime),
            "base64" => {
                let text = self.text_of(name, empty)?;
                let compact: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
                BASE64.decode(compact).ok().map(Value::Bytes)
            }
            "nil" => {
                if !empty {
                    self.ws();
                    self.close("nil")?;
                }
                Some(Value::Nil)
            }
            "array" => {
                let depth = self.deeper(depth)?;
                let mut items = Vec::new();
                if empty {
                    return Some(Value::Array(items));
                }
                self.ws();
                if self.close("array").is_some() {
                    return Some(Value::Array(items));
                }
                if self.open("data").is_some() {
                    loop {
                        self.ws();
                        if self.open("value").is_some() {
                            items.push(self.value(depth)?);
                        } else {
                            self.close("data")?;
                            break;
                        }
                    }
                } else if !self.empty("data") {
                    return None;
                }
                self.ws();
                self.close("array")?;
                Some(Value::Array(items))
            }
            "struct" => {
                let depth = self.deeper(depth)?;
                let mut map = Map::new();
                if empty {
                    return Some(Value::Map(map));
                }
                loop {
                    self.ws();
                    if self.open("member").is_some() {
                        self.ws();
                        self.open("name")?;
                        let key = self.text()?.into_owned();
                        self.close("name")?;
                        self.ws();
                        self.open("value")?;
                        let value = self.value(depth)?;
                        map.push(key, value);
                        self.ws();
                        self.close("member")?;
                    } else {
                        self.close("struct")?;
                        return Some(Value::Map(map));
                    }
                }
            }
            _ => None,
        }
    }

    fn deeper(&self, depth: usize) -> Option<usize> {
        (depth < self.max_depth).then_some(depth + 1)
    }
}

#[cfg(test)]
mod tests {
    use rpc_core::{Map, Value};

    use super::super::{DEFAULT_MAX_DEPTH, decode_call_general, encode_call};
    use super::*;

    /// The fast path reads `doc` as the general parser does, or leaves it to it.
    fn agrees(doc: &str, max_depth: usize) -> bool {
        let fast = decode_call(doc, max_depth);
        let general = decode_call_general(doc, max_depth);
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

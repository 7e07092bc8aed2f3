//! A fast path for the request objects clients send: `"jsonrpc": "2.0"`, a method name without escapes,
//! positional params and an integer or plain string id (or none), members in any order. It finds the members in
//! one pass over the bytes, where serde_json's reading of the object with raw members costs several times more
//! than the rest of a small call; the params are then read as the general path reads them (a params error, too,
//! is left to it).
//!
//! It never decides anything the general path would decide otherwise: on anything else (named params, other
//! members, escapes, a repeated member, bytes that are not JSON, ...) it gives up (`None`) and the general path
//! reads the body from the start. The tests hold it to that.

use rpc_core::Value;
use serde::de::DeserializeSeed;

use super::{Entry, Id, MAX_DEPTH, Params, ValueSeed, check_nesting};

/// The request in `body`, if it has the common shape and reads without error.
pub(super) fn decode_request(body: &[u8], max_depth: usize) -> Option<Entry> {
    let mut c = Cursor { b: body, pos: 0 };
    c.ws();
    c.byte(b'{')?;
    let (mut jsonrpc, mut method, mut params, mut id) = (false, None, None, None);
    loop {
        c.ws();
        let key = c.plain_string()?;
        c.ws();
        c.byte(b':')?;
        c.ws();
        match key {
            b"jsonrpc" if !jsonrpc => {
                c.literal(b"\"2.0\"")?;
                jsonrpc = true;
            }
            b"method" if method.is_none() => method = Some(std::str::from_utf8(c.plain_string()?).ok()?),
            b"params" if params.is_none() && c.peek() == Some(b'[') => {
                let start = c.pos;
                c.skip_array()?;
                params = Some(&body[start..c.pos]);
            }
            b"id" if id.is_none() => id = Some(c.id()?),
            _ => return None,
        }
        c.ws();
        match c.next()? {
            b',' => {}
            b'}' => break,
            _ => return None,
        }
    }
    c.ws();
    if c.pos != body.len() || !jsonrpc {
        return None;
    }
    let method = method?.to_owned();
    let params = match params {
        None => Params::default(),
        Some(raw) => {
            // Read as the general path reads them, in one pass; any error (bytes that are not JSON are its parse
            // error, not a params error) is left to it.
            check_nesting(raw, max_depth.min(MAX_DEPTH), 1).ok()?;
            let mut de = serde_json::Deserializer::from_slice(raw);
            match ValueSeed.deserialize(&mut de).ok()? {
                Value::Array(items) if de.end().is_ok() => Params::Positional(items),
                _ => return None,
            }
        }
    };
    Some(Entry::Call { id, method, params: Ok(params) })
}

struct Cursor<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.b.get(self.pos) {
            self.pos += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.pos).copied()
    }

    fn next(&mut self) -> Option<u8> {
        let b = self.peek()?;
        self.pos += 1;
        Some(b)
    }

    fn byte(&mut self, want: u8) -> Option<()> {
        (self.next()? == want).then_some(())
    }

    fn literal(&mut self, want: &[u8]) -> Option<()> {
        let found = self.b.get(self.pos..self.pos + want.len())? == want;
        found.then(|| self.pos += want.len())
    }

    /// A string without escapes or control characters: its bytes, without the quotes.
    fn plain_string(&mut self) -> Option<&'a [u8]> {
        self.byte(b'"')?;
        let start = self.pos;
        loop {
            match self.next()? {
                b'"' => return Some(&self.b[start..self.pos - 1]),
                b'\\' | 0..=0x1f => return None,
                _ => {}
            }
        }
    }

    /// An id: digits with an optional minus sign, or a plain string; its JSON text as written.
    fn id(&mut self) -> Option<Id> {
        let start = self.pos;
        if self.peek() == Some(b'"') {
            let text = self.plain_string()?;
            std::str::from_utf8(text).ok()?;
        } else {
            if self.peek() == Some(b'-') {
                self.pos += 1;
            }
            let digits = self.pos;
            while self.peek().is_some_and(|b| b.is_ascii_digit()) {
                self.pos += 1;
            }
            // One digit at least; a leading zero only alone (JSON's rule); nothing else (fractions, exponents).
            let n = self.pos - digits;
            if n == 0 || (n > 1 && self.b[digits] == b'0') {
                return None;
            }
        }
        let text = std::str::from_utf8(&self.b[start..self.pos]).ok()?;
        Some(Id(text.to_owned()))
    }

    /// Past the array that starts here (its bytes are checked as JSON afterwards).
    fn skip_array(&mut self) -> Option<()> {
        let mut depth = 0usize;
        loop {
            match self.next()? {
                b'"' => loop {
                    match self.next()? {
                        b'"' => break,
                        b'\\' => self.pos += 1,
                        _ => {}
                    }
                },
                b'[' | b'{' => depth += 1,
                b']' | b'}' => {
                    depth = depth.checked_sub(1)?;
                    if depth == 0 {
                        return Some(());
                    }
                }
                _ => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use rpc_core::Fault;

    use super::super::{DEFAULT_MAX_DEPTH, decode_single_general};
    use super::*;

    /// The fast path reads `body` as the general path does, or leaves it to it.
    fn agrees(body: &str) -> bool {
        let fast = decode_request(body.as_bytes(), DEFAULT_MAX_DEPTH);
        if let Some(fast) = &fast {
            let general = decode_single_general(body.as_bytes(), DEFAULT_MAX_DEPTH);
            assert_eq!(format!("{:?}", Ok::<_, Fault>(fast)), format!("{:?}", general.as_ref()), "{body}");
        }
        fast.is_some()
    }

    #[test]
    fn common_requests_take_the_fast_path() {
        for body in [
            r#"{"jsonrpc":"2.0","method":"double","params":[7],"id":1}"#,
            r#"{"jsonrpc": "2.0", "method": "double", "params": [7], "id": 1}"#,
            r#" {"id":"a-1","params":[{"$base64":"AP8="},[1,[2]],"x\"y",{"k":null}],"method":"m.é","jsonrpc":"2.0"} "#,
            r#"{"jsonrpc":"2.0","method":"bump","params":[1]}"#,
            r#"{"jsonrpc":"2.0","method":"counter","id":-12}"#,
            r#"{"jsonrpc":"2.0","method":"m","params":[],"id":0}"#,
            r#"{"jsonrpc":"2.0","method":"m","params":[{"$float":"NaN"}],"id":0}"#,
            "{\"jsonrpc\":\"2.0\",\r\n\"method\":\"m\",\t\"params\":[1.5e3, true],\"id\":99}",
        ] {
            assert!(agrees(body), "{body}");
        }
    }

    #[test]
    fn everything_else_is_left_to_the_general_path() {
        for body in [
            r#"{"jsonrpc":"2.0","method":"m","params":[{"$base64":1}],"id":0}"#,
            r#"{"jsonrpc":"2.0","method":"m","params":{"a":1},"id":1}"#,
            r#"{"jsonrpc":"2.0","method":"m\u0041","id":1}"#,
            r#"{"jsonrpc":"2.0","method":"m","id":1.0}"#,
            r#"{"jsonrpc":"2.0","method":"m","id":01}"#,
            r#"{"jsonrpc":"2.0","method":"m","id":null}"#,
            r#"{"jsonrpc":"2.0","method":"m","id":1,"id":2}"#,
            r#"{"jsonrpc":"2.0","method":"m","extra":1}"#,
            r#"{"jsonrpc":"1.0","method":"m"}"#,
            r#"{"method":"m","params":[1]}"#,
            r#"{"jsonrpc":"2.0","params":[1]}"#,
            r#"{"jsonrpc":"2.0","method":"m","params":[1,]}"#,
            r#"{"jsonrpc":"2.0","method":"m","params":[1}"#,
            r#"{"jsonrpc":"2.0","method":"m"} x"#,
            r#"{"jsonrpc":"2.0","method":"m",}"#,
            r#"{}"#,
            r#"[]"#,
        ] {
            assert!(!agrees(body), "{body}");
        }
    }

    #[test]
    fn every_prefix_and_every_byte_change_agrees() {
        let body = r#"{"jsonrpc":"2.0","method":"m","params":[7,"s\"t",[{"k":[1,2]}],null],"id":"x"}"#;
        for end in 0..=body.len() {
            agrees(&body[..end]);
        }
        for i in 0..body.len() {
            for b in [b'"', b'\\', b'[', b']', b'{', b'}', b',', b':', b' ', b'1', b'-', b'x'] {
                let mut changed = body.as_bytes().to_vec();
                changed[i] = b;
                if let Ok(text) = std::str::from_utf8(&changed) {
                    agrees(text);
                }
            }
        }
    }
}

//! A fast path for the request objects clients send: `"jsonrpc": "2.0"`, a method name without escapes,
//! positional params and an integer or plain string id (or none), members in any order. It finds the members in
//! one pass over the bytes, where serde_json's reading of the object with raw members costs several times more
//! than the rest of a small call; the params are then read as the general path reads them (a params error, too,
//! is left to it).
//!
//! It never decides anything the general path would decide otherwise: on anything else (named params, other
//! members, escapes, a repeated member, bytes that are not JSON, ...) it gives up (`None`) and the general path
//! reads the body from the start. The tests hold it to that.
//!
//! [`request_parts`] and [`response_parts`] find the members of a request and of a single successful response
//! the same way and hand back the params' or the result's JSON text unread, for the typed path
//! ([`typed`](super::typed)) to read straight into the Rust types.

use rpc_core::Value;
use serde::de::DeserializeSeed;

use super::typed::ValueSeed;
use super::{Entry, Id, MAX_DEPTH, Params, check_nesting};

/// The request in `body`, if it has the common shape and reads without error.
pub(super) fn decode_request(body: &[u8], max_depth: usize) -> Option<Entry> {
    let RequestParts { id, method, params } = request_parts(body)?;
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
    Some(Entry::Call { id, method: method.to_owned(), params: Ok(params) })
}

/// The members of a request with the common shape, its params unread (see [`request_parts`]).
#[derive(Debug, Clone, PartialEq)]
pub struct RequestParts<'a> {
    /// The id; `None` for a notification.
    pub id: Option<Id>,
    /// The method.
    pub method: &'a str,
    /// The params' JSON text, an array; `None` when there are none.
    pub params: Option<&'a [u8]>,
}

/// The parts of a request with the common shape, without reading its params.
///
/// The params are only delimited here, not parsed: when reading them fails (or on `None`), the body is left to
/// [`decode_request`](super::decode_request), which decides. When they read as the general path reads them
/// ([`typed::from_params_slice`](super::typed::from_params_slice) does), the request is what the general path
/// reads.
pub fn request_parts(body: &[u8]) -> Option<RequestParts<'_>> {
    let (mut jsonrpc, mut method, mut params, mut id) = (false, None, None, None);
    members(body, |key, c| {
        match key {
            b"jsonrpc" if !jsonrpc => {
                c.literal(b"\"2.0\"")?;
                jsonrpc = true;
            }
            b"method" if method.is_none() => method = Some(std::str::from_utf8(c.plain_string()?).ok()?),
            b"params" if params.is_none() && c.peek() == Some(b'[') => {
                let start = c.pos;
                c.skip_nested()?;
                params = Some(&body[start..c.pos]);
            }
            b"id" if id.is_none() => id = Some(c.id()?),
            _ => return None,
        }
        Some(())
    })?;
    if !jsonrpc {
        return None;
    }
    Some(RequestParts { id, method: method?, params })
}

/// Walks the members of the one object that `body` holds (whitespace around it allowed, nothing else), handing
/// each key (a plain string) to `member` with the cursor at its value, which `member` reads. `None` if the body
/// is not such an object, or if `member` gives up on a member.
fn members<'a>(body: &'a [u8], mut member: impl FnMut(&'a [u8], &mut Cursor<'a>) -> Option<()>) -> Option<()> {
    let mut c = Cursor { b: body, pos: 0 };
    c.ws();
    c.byte(b'{')?;
    loop {
        c.ws();
        let key = c.plain_string()?;
        c.ws();
        c.byte(b':')?;
        c.ws();
        member(key, &mut c)?;
        c.ws();
        match c.next()? {
            b',' => {}
            b'}' => break,
            _ => return None,
        }
    }
    c.at_end().then_some(())
}

/// The parts of a response with the common shape, a single result (not an error, not a batch): the id it
/// answers and the result's JSON text. Members in any order: `"jsonrpc": "2.0"` (or none), `"result"`, an
/// integer, plain string or null `"id"` (or none: null), `"error": null`; nothing else.
///
/// The result is only delimited here, not parsed: when reading it fails (or on `None`), the body is left to
/// [`decode_response`](super::decode_response), which decides. When it reads as
/// [`decode_value`](super::decode_value) reads it, the response is what `decode_response` reads.
pub(crate) fn response_parts(body: &[u8]) -> Option<(Id, &[u8])> {
    let (mut jsonrpc, mut error, mut result, mut id) = (false, false, None, None);
    members(body, |key, c| {
        match key {
            b"jsonrpc" if !jsonrpc => {
                c.literal(b"\"2.0\"")?;
                jsonrpc = true;
            }
            b"result" if result.is_none() => {
                let start = c.pos;
                c.skip_value()?;
                result = Some(&body[start..c.pos]);
            }
            // JSON-RPC 1.0 style servers send `"error": null` beside the result.
            b"error" if !error => {
                c.literal(b"null")?;
                error = true;
            }
            b"id" if id.is_none() => {
                id = Some(if c.peek() == Some(b'n') {
                    c.literal(b"null")?;
                    Id::null()
                } else {
                    c.id()?
                })
            }
            _ => return None,
        }
        Some(())
    })?;
    Some((id.unwrap_or_else(Id::null), result?))
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

    /// Whether only whitespace is left.
    fn at_end(&mut self) -> bool {
        self.ws();
        self.pos == self.b.len()
    }

    /// Past the value that starts here: its extent only (its bytes are checked as JSON afterwards), which is the
    /// value's own when they are JSON.
    fn skip_value(&mut self) -> Option<()> {
        match self.peek()? {
            b'[' | b'{' => self.skip_nested(),
            b'"' => {
                self.pos += 1;
                loop {
                    match self.next()? {
                        b'"' => return Some(()),
                        b'\\' => self.pos += 1,
                        _ => {}
                    }
                }
            }
            _ => {
                // A number or a literal: up to the next delimiter.
                let start = self.pos;
                while self.peek().is_some_and(|b| !matches!(b, b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r')) {
                    self.pos += 1;
                }
                (self.pos > start).then_some(())
            }
        }
    }

    /// Past the array or object that starts here (its bytes are checked as JSON afterwards).
    fn skip_nested(&mut self) -> Option<()> {
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
    use proptest::prelude::*;
    use rpc_core::Fault;

    use rpc_test_support::values::{JSON_TAGS, any_value};

    use super::super::typed;
    use super::super::{
        DEFAULT_MAX_DEPTH, Request, Response, decode_response, decode_single_general, decode_value, encode_request,
        encode_response,
    };
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

    /// `request_parts` reads `body` as `decode_request` does (when the params read), or leaves it to it.
    fn parts_agree(body: &[u8]) -> bool {
        let Some(RequestParts { id, method, params }) = request_parts(body) else { return false };
        let items = match params {
            None => Some(Vec::new()),
            Some(raw) => typed::from_params_slice::<Vec<Value>>(raw, DEFAULT_MAX_DEPTH).ok(),
        };
        if let Some(items) = items {
            let expected = Request { id, method: method.to_owned(), params: Params::Positional(items) };
            let text = String::from_utf8_lossy(body);
            assert_eq!(super::super::decode_request(body, DEFAULT_MAX_DEPTH), Ok(expected), "{text}");
        }
        true
    }

    /// `response_parts` reads `body` as `decode_response` does (when the result reads), or leaves it to it.
    fn response_agrees(body: &[u8]) -> bool {
        let Some((id, raw)) = response_parts(body) else { return false };
        let general = decode_response(body, DEFAULT_MAX_DEPTH);
        let text = String::from_utf8_lossy(body);
        match decode_value(raw, DEFAULT_MAX_DEPTH) {
            Ok(value) => {
                if let Ok(typed) = typed::from_slice::<Value>(raw, DEFAULT_MAX_DEPTH) {
                    assert_eq!(typed, value, "{text}");
                }
                let general = general.unwrap_or_else(|e| panic!("{text}: {e}"));
                assert_eq!(general, Response { id, result: Ok(value) }, "{text}");
            }
            Err(_) => assert!(general.is_err(), "{text}"),
        }
        true
    }

    #[test]
    fn request_parts_agree() {
        for body in [
            r#"{"jsonrpc":"2.0","method":"double","params":[7],"id":1}"#,
            r#" {"id":"a-1","params":[{"$base64":"AP8="},[1,[2]],"x\"y",{"k":null}],"method":"m.é","jsonrpc":"2.0"} "#,
            r#"{"jsonrpc":"2.0","method":"bump","params":[1]}"#,
            r#"{"jsonrpc":"2.0","method":"counter","id":-12}"#,
        ] {
            assert!(parts_agree(body.as_bytes()), "{body}");
        }
        let parts = request_parts(br#"{"jsonrpc":"2.0","method":"m","params":[1, [2]],"id":"x"}"#).unwrap();
        assert_eq!(parts, RequestParts { id: Some(Id::string("x")), method: "m", params: Some(&b"[1, [2]]"[..]) });
        // Not JSON inside the params: delimited all the same; reading them fails, and the general path decides.
        let body = br#"{"jsonrpc":"2.0","method":"m","params":[1,,2],"id":1}"#;
        assert!(request_parts(body).is_some() && super::super::decode_request(body, DEFAULT_MAX_DEPTH).is_err());
        for body in [
            r#"{"jsonrpc":"2.0","method":"m","params":{"a":1},"id":1}"#,
            r#"{"jsonrpc":"2.0","method":"m","id":1.0}"#,
            r#"{"jsonrpc":"2.0","method":"m","params":null,"id":1}"#,
            r#"{"jsonrpc":"2.0","method":"m","id":1,"id":2}"#,
            r#"[{"jsonrpc":"2.0","method":"m","id":1}]"#,
        ] {
            assert!(!parts_agree(body.as_bytes()), "{body}");
        }
    }

    #[test]
    fn response_parts_agree() {
        for body in [
            r#"{"jsonrpc":"2.0","result":14,"id":1}"#,
            r#" { "id" : "a" , "result" : [1, {"$base64": "AP8="}, "x\"y"], "jsonrpc" : "2.0" } "#,
            r#"{"result":null,"error":null,"id":7}"#,
            r#"{"result":{"$float":"NaN"},"id":null}"#,
            r#"{"result":1.5e3}"#,
            r#"{"result":true,"id":-1}"#,
            r#"{"result":"}","id":0}"#,
            r#"{"result":{"$base64":1},"id":0}"#,
            r#"{"result":[1,},"id":0}"#,
            r#"{"result":tru,"id":0}"#,
        ] {
            assert!(response_agrees(body.as_bytes()), "{body}");
        }
        let (id, raw) = response_parts(br#"{"jsonrpc":"2.0","result": [1, 2] ,"id":9}"#).unwrap();
        assert_eq!((id.as_json(), raw), ("9", &b"[1, 2]"[..]));
        assert!(response_parts(br#"{"result":1}"#).unwrap().0.is_null());
        for body in [
            r#"{"jsonrpc":"2.0","error":{"code":-32000,"message":"boom"},"id":1}"#,
            r#"{"jsonrpc":"2.0","result":1,"error":{"code":1,"message":"m"},"id":1}"#,
            r#"[{"jsonrpc":"2.0","result":1,"id":1}]"#,
            r#"{"jsonrpc":"2.0","result":1,"result":2,"id":1}"#,
            r#"{"jsonrpc":"2.0","result":1,"id":1.5}"#,
            r#"{"jsonrpc":"1.0","result":1,"id":1}"#,
            r#"{"jsonrpc":"2.0","result":1,"id":1,"extra":0}"#,
            r#"{"jsonrpc":"2.0","id":1}"#,
            r#"{"jsonrpc":"2.0","result":1 2,"id":1}"#,
            r#"{"jsonrpc":"2.0","result":1,"id":1} x"#,
            r#"{"jsonrpc":"2.0","result":1,"id":1,}"#,
        ] {
            assert!(!response_agrees(body.as_bytes()), "{body}");
        }
    }

    #[test]
    fn every_prefix_and_every_byte_change_of_the_parts_agrees() {
        let request = r#"{"jsonrpc":"2.0","method":"m","params":[7,"s\"t",[{"k":[1,2]}],null],"id":"x"}"#;
        let response = r#"{"jsonrpc":"2.0","result":[7,"s\"t",[{"k":[1,2]}],null,-1.5,true],"error":null,"id":"x"}"#;
        for body in [request, response] {
            for end in 0..=body.len() {
                parts_agree(&body.as_bytes()[..end]);
                response_agrees(&body.as_bytes()[..end]);
            }
            for i in 0..body.len() {
                for b in [b'"', b'\\', b'[', b']', b'{', b'}', b',', b':', b' ', b'1', b'-', b'x', b'n', 0xff] {
                    let mut changed = body.as_bytes().to_vec();
                    changed[i] = b;
                    parts_agree(&changed);
                    response_agrees(&changed);
                }
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

        #[test]
        fn encoded_envelopes_take_the_parts_path(
            values in proptest::collection::vec(any_value(&JSON_TAGS), 0..4),
            id in any::<u64>(),
            at in any::<prop::sample::Index>(),
            byte in any::<u8>(),
        ) {
            let body = encode_request(Some(&Id::number(id)), "m", &Params::Positional(values.clone())).unwrap();
            prop_assert!(parts_agree(&body));
            let mut changed = body.clone();
            let i = at.index(changed.len());
            changed[i] = byte;
            parts_agree(&changed);
            parts_agree(&body[..i]);

            let value = Value::Array(values);
            let body = encode_response(&Id::number(id), Ok(&value)).unwrap();
            prop_assert!(response_agrees(&body));
            let (_, raw) = response_parts(&body).unwrap();
            let text = super::super::encode_value(&value).unwrap();
            prop_assert_eq!(raw, text.as_bytes());
            let mut changed = body.clone();
            let i = at.index(changed.len());
            changed[i] = byte;
            response_agrees(&changed);
            response_agrees(&body[..i]);
        }
    }
}

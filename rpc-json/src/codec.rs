//! The JSON-RPC 2.0 codec: requests and responses to and from JSON with serde_json, and one JSON spelling for
//! the [`Value`]s that JSON cannot say natively.
//!
//! # Values on the wire
//! | [`Value`] | JSON |
//! |---|---|
//! | `Nil`, `Bool`, `String` | `null`, `true`/`false`, a string |
//! | `Int`, `UInt` | a number, every `i64` and every `u64` exactly (`18446744073709551615` too) |
//! | `Float` | a number with a fraction or exponent (`1.0`, never `1`), so it reads back as a float |
//! | `Float` NaN / ±infinity | `{"$float": "NaN"}`, `{"$float": "Infinity"}`, `{"$float": "-Infinity"}` |
//! | `Bytes` | `{"$base64": "AP8="}` (standard alphabet, padded; reading takes it unpadded too) |
//! | `DateTime` | `{"$datetime": "19980717T14:08:55"}` (reading takes every form [`DateTime`] parses) |
//! | `Ext` | `{"$ext": [5, "AQID"]}`: the type tag and the base64 payload |
//! | `Array` | an array |
//! | `Map` with string keys | an object, in the map's order (duplicate keys are kept, both ways) |
//! | `Map` with any other key, or one entry whose key is one of the `$` words above | `{"$map": [[key, value], ...]}` |
//!
//! An object of exactly one member named `$base64`, `$datetime`, `$ext`, `$map` or `$float` is always read as
//! that spelling, and one whose value does not fit it is an error rather than a map; any other object is a
//! map. A map that would look like a spelling goes out as `$map`, so every value makes the round trip
//! exactly. Numbers beyond the 64-bit range are read as floats, as serde_json does. The `rpc` command line
//! uses the same spelling for its arguments and output.
//!
//! Reading is bounded: [`check_depth`] counts the nesting of arrays and objects without recursion before
//! serde_json parses anything, and [`MAX_DEPTH`] keeps every setting within serde_json's own recursion limit.
//!
//! [`typed`] is the codec's one serializer and deserializer: values and any other serde types go through it
//! alike, typed data straight to the text and back without a [`Value`] in between.

use std::fmt;

use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use rpc_core::encoding::Param;
use rpc_core::{DateTime, Ext, Fault, Map, Value};
use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::Serialize;
use serde_json::value::RawValue;

use crate::Error;

mod fast;
pub(crate) use fast::response_parts;
pub use fast::{RequestParts, request_parts};
pub mod typed;

/// The default bound on how deeply arrays and objects may nest in a value (a param, a result).
pub const DEFAULT_MAX_DEPTH: usize = 64;

/// The largest nesting any setting allows: serde_json refuses to parse more than 127 levels, and a request
/// adds three of its own (a batch, the request object, the params array). Larger settings are taken as this.
pub const MAX_DEPTH: usize = 120;

/// Levels a request adds around its params: a batch array, the request object, the params array.
const REQUEST_LEVELS: usize = 3;
/// Levels a response adds around its result: a batch array and the response object.
const RESPONSE_LEVELS: usize = 2;

/// How deeply values may nest when encoding: encoding recurses, so it has a bound too (generous: local values
/// are trusted more than a peer's).
const MAX_ENCODE_DEPTH: usize = 1024;

const BASE64_TAG: &str = "$base64";
const DATETIME_TAG: &str = "$datetime";
const EXT_TAG: &str = "$ext";
const MAP_TAG: &str = "$map";
const FLOAT_TAG: &str = "$float";
const TAGS: [&str; 5] = [BASE64_TAG, DATETIME_TAG, EXT_TAG, MAP_TAG, FLOAT_TAG];

/// Base64 as most peers write it (standard alphabet, padded) and as anybody might send it (padding optional).
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// The params of a request: positional (a JSON array) or named (a JSON object, matched to the method's param
/// names by the server).
#[derive(Debug, Clone, PartialEq)]
pub enum Params {
    /// `"params": [...]`.
    Positional(Vec<Value>),
    /// `"params": {...}`; every key must be a string.
    Named(Map),
}

impl Default for Params {
    fn default() -> Params {
        Params::Positional(Vec::new())
    }
}

impl From<Vec<Value>> for Params {
    fn from(params: Vec<Value>) -> Params {
        Params::Positional(params)
    }
}

impl From<Map> for Params {
    fn from(params: Map) -> Params {
        Params::Named(params)
    }
}

/// A request id exactly as it was written on the wire: a string, a number (kept as written, however big or
/// float-looking) or `null`. A server echoes it byte for byte.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Id(String);

impl Id {
    /// The `null` id (what error responses carry when the request's id could not be read).
    pub fn null() -> Id {
        Id("null".to_owned())
    }

    /// A numeric id.
    pub fn number(n: u64) -> Id {
        Id(n.to_string())
    }

    /// A string id.
    pub fn string(s: &str) -> Id {
        // Serializing a string to JSON cannot fail.
        Id(serde_json::to_string(s).unwrap_or_else(|_| "null".to_owned()))
    }

    /// The id's JSON text, as on the wire (`7`, `"abc"`, `null`).
    pub fn as_json(&self) -> &str {
        &self.0
    }

    /// True for the `null` id.
    pub fn is_null(&self) -> bool {
        self.0 == "null"
    }

    /// An id whose JSON text is `text`, as it was read (an id [`as_json`](Id::as_json) gave).
    pub(crate) fn from_text(text: String) -> Id {
        Id(text)
    }

    /// An id from raw JSON, if it is a string, a number or null (the kinds JSON-RPC 2.0 allows).
    pub(crate) fn from_raw(raw: &RawValue) -> Option<Id> {
        let text = raw.get();
        match text.as_bytes().first() {
            Some(b'"' | b'-' | b'0'..=b'9') => Some(Id(text.to_owned())),
            Some(b'n') => Some(Id::null()),
            _ => None,
        }
    }

    /// True when both ids are the same JSON value (`1` and `1.0` differ; `"a"` and `"\u0061"` do not).
    pub fn same_as(&self, other: &Id) -> bool {
        if self.0 == other.0 {
            return true;
        }
        match (serde_json::from_str::<serde_json::Value>(&self.0), serde_json::from_str::<serde_json::Value>(&other.0))
        {
            (Ok(a), Ok(b)) => a == b,
            _ => false,
        }
    }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Id({})", self.0)
    }
}

/// One response: the id it answers and the result or the error (as a [`Fault`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    /// The id of the request it answers (`null` when the server could not read one).
    pub id: Id,
    /// The result, or the error object as a fault.
    pub result: Result<Value, Fault>,
}

impl Response {
    /// True when this answers the request with id `id`.
    pub fn answers(&self, id: &Id) -> bool {
        self.id.same_as(id)
    }
}

// ---------------------------------------------------------------------------------------------------------
// Values

fn non_finite_name(f: f64) -> &'static str {
    if f.is_nan() {
        "NaN"
    } else if f > 0.0 {
        "Infinity"
    } else {
        "-Infinity"
    }
}

/// The rest of an object whose first key has been read: the value it spells when that key is one of the tags
/// and the only member, a map otherwise (how [`typed`]'s deserializer reads an object whose first key starts with
/// `$`).
fn map_after_first_key<'de, A: MapAccess<'de>>(first: String, mut access: A) -> Result<Value, A::Error> {
    let mut map = Map::new();
    let value = access.next_value_seed(typed::ValueSeed)?;
    if TAGS.contains(&first.as_str()) {
        match access.next_key::<String>()? {
            None => return untag(&first, value).map_err(de::Error::custom),
            Some(second) => {
                map.push(first, value);
                let value = access.next_value_seed(typed::ValueSeed)?;
                map.push(second, value);
            }
        }
    } else {
        map.push(first, value);
    }
    while let Some(key) = access.next_key::<String>()? {
        let value = access.next_value_seed(typed::ValueSeed)?;
        map.push(key, value);
    }
    Ok(Value::Map(map))
}

/// The value a one-member `{"$tag": ...}` object spells.
fn untag(tag: &str, value: Value) -> Result<Value, String> {
    let bad = |what: &str, got: &Value| format!("{tag} takes {what}, not {}", got.kind());
    match (tag, value) {
        (BASE64_TAG, Value::String(text)) => {
            BASE64.decode(text.trim()).map(Value::Bytes).map_err(|e| format!("{tag}: invalid base64: {e}"))
        }
        (DATETIME_TAG, Value::String(text)) => {
            text.parse::<DateTime>().map(Value::DateTime).map_err(|e| format!("{tag}: {e}"))
        }
        (EXT_TAG, Value::Array(parts)) => match <[Value; 2]>::try_from(parts) {
            Ok([Value::Int(t), Value::String(data)]) => {
                let t = i8::try_from(t).map_err(|_| format!("{tag}: type {t} is outside -128..=127"))?;
                let data = BASE64.decode(data.trim()).map_err(|e| format!("{tag}: invalid base64: {e}"))?;
                Ok(Value::Ext(Ext::new(t, data)))
            }
            _ => Err(format!("{tag} takes [type, \"base64\"]")),
        },
        (MAP_TAG, Value::Array(pairs)) => {
            let mut map = Map::with_capacity(pairs.len());
            for pair in pairs {
                match pair {
                    Value::Array(kv) => match <[Value; 2]>::try_from(kv) {
                        Ok([k, v]) => map.push(k, v),
                        Err(kv) => return Err(format!("{tag}: an entry has {} items, not 2", kv.len())),
                    },
                    other => return Err(bad("[[key, value], ...]", &other)),
                }
            }
            Ok(Value::Map(map))
        }
        (FLOAT_TAG, Value::String(text)) => match text.as_str() {
            "NaN" => Ok(Value::Float(f64::NAN)),
            "Infinity" => Ok(Value::Float(f64::INFINITY)),
            "-Infinity" => Ok(Value::Float(f64::NEG_INFINITY)),
            _ => Err(format!("{tag} takes \"NaN\", \"Infinity\" or \"-Infinity\", not {text:?}")),
        },
        (BASE64_TAG | DATETIME_TAG | FLOAT_TAG, other) => Err(bad("a string", &other)),
        (EXT_TAG, other) => Err(bad("[type, \"base64\"]", &other)),
        (_, other) => Err(bad("[[key, value], ...]", &other)),
    }
}

/// Checks, without recursion and before any parsing, that `json` nests arrays and objects at most `max` levels
/// deep (brackets inside strings do not count). Over the limit is [`Error::Invalid`].
pub fn check_depth(json: &[u8], max: usize) -> Result<(), Error> {
    check_nesting(json, max, 0)
}

/// [`check_depth`] for values wrapped in `around` levels of a message's own (a batch, an object, a params
/// array), which the limit does not count.
pub(crate) fn check_nesting(json: &[u8], max: usize, around: usize) -> Result<(), Error> {
    let limit = max.saturating_add(around);
    let (mut depth, mut i) = (0usize, 0);
    while let Some(&b) = json.get(i) {
        i += 1;
        match b {
            b'"' => loop {
                // To the string's closing quote, a backslash escaping the byte after it (strings are most of the
                // bytes: they are skipped eight at a time).
                let Some(at) = json.get(i..).and_then(quote_or_backslash) else { return Ok(()) };
                i += at;
                if json[i] == b'"' {
                    i += 1;
                    break;
                }
                i += 2;
            },
            b'[' | b'{' => {
                depth += 1;
                if depth > limit {
                    return Err(Error::Invalid(format!("values nest deeper than {max} levels")));
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

/// Where the first `"` or `\` in `bytes` is.
fn quote_or_backslash(bytes: &[u8]) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // Non-zero when one of the eight bytes of `x` is `b` (the classic has-a-zero-byte test on `x ^ b...b`).
    let has = |x: u64, b: u8| {
        let y = x ^ (ONES * u64::from(b));
        y.wrapping_sub(ONES) & !y & HIGH
    };
    let mut skipped = 0;
    for chunk in bytes.chunks_exact(8) {
        let Ok(chunk) = <[u8; 8]>::try_from(chunk) else { break };
        let x = u64::from_le_bytes(chunk);
        if has(x, b'"') | has(x, b'\\') != 0 {
            break;
        }
        skipped += 8;
    }
    bytes[skipped..].iter().position(|&c| c == b'"' || c == b'\\').map(|at| skipped + at)
}

/// A serde_json error as ours: a value spelling that does not hold together is [`Error::Invalid`], anything
/// else [`Error::Malformed`].
fn json_error(e: serde_json::Error) -> Error {
    match e.classify() {
        serde_json::error::Category::Data => Error::Invalid(e.to_string()),
        _ => Error::Malformed(e.to_string()),
    }
}

/// Reads one value from JSON text in this module's spelling, nesting at most `max_depth` levels (at most
/// [`MAX_DEPTH`]).
///
/// ```
/// use rpc_core::Value;
///
/// let v = rpc_json::codec::decode_value(br#"{"$base64": "AP8="}"#, 64).unwrap();
/// assert_eq!(v, Value::Bytes(vec![0, 255]));
/// assert!(rpc_json::codec::decode_value(b"[[[1]]]", 2).is_err());
/// ```
pub fn decode_value(json: &[u8], max_depth: usize) -> Result<Value, Error> {
    typed::from_slice(json, max_depth)
}

/// A value as compact JSON text in this module's spelling: [`typed::to_writer`] with the value as the type.
///
/// ```
/// use rpc_core::Value;
///
/// let v = Value::Array(vec![Value::Int(1), Value::Bytes(vec![0, 255]), Value::Float(f64::NAN)]);
/// assert_eq!(rpc_json::codec::encode_value(&v).unwrap(), r#"[1,{"$base64":"AP8="},{"$float":"NaN"}]"#);
/// ```
pub fn encode_value(value: &Value) -> Result<String, Error> {
    let mut out = Vec::with_capacity(64);
    typed::to_writer(value, &mut out)?;
    String::from_utf8(out).map_err(|e| Error::Encode(e.to_string()))
}

/// A value as indented JSON text in this module's spelling, for people: [`encode_value`]'s text, indented by
/// serde_json's pretty printer token by token (serde-transcode), so that nothing in it changes but the spaces.
pub fn encode_value_pretty(value: &Value) -> Result<String, Error> {
    let compact = encode_value(value)?;
    let mut out = Vec::with_capacity(compact.len() * 2);
    let mut from = serde_json::Deserializer::from_str(&compact);
    serde_transcode::transcode(&mut from, &mut serde_json::Serializer::pretty(&mut out))
        .map_err(|e| Error::Encode(e.to_string()))?;
    String::from_utf8(out).map_err(|e| Error::Encode(e.to_string()))
}

// ---------------------------------------------------------------------------------------------------------
// Requests

/// Encodes one request: a call when `id` is given, a notification otherwise.
///
/// ```
/// use rpc_core::Value;
/// use rpc_json::codec::{Id, Params, encode_request};
///
/// let body = encode_request(Some(&Id::number(1)), "double", &Params::Positional(vec![Value::Int(7)])).unwrap();
/// assert_eq!(body, br#"{"jsonrpc":"2.0","method":"double","params":[7],"id":1}"#);
/// ```
pub fn encode_request(id: Option<&Id>, method: &str, params: &Params) -> Result<Vec<u8>, Error> {
    let mut out = Vec::with_capacity(64);
    write_request(&mut out, id, method, params)?;
    Ok(out)
}

/// Encodes a call of a typed client: [`encode_request`] with the params serialised straight into the text (see
/// [`typed`]).
pub fn encode_request_typed(id: &Id, method: &str, params: &[Param<'_>]) -> Result<Vec<u8>, Error> {
    let mut out = Vec::with_capacity(64);
    write_call(&mut out, Some(id), method, |out| typed::to_writer(params, out))?;
    Ok(out)
}

/// Encodes a batch of requests (calls where an id is given, notifications where not), in order.
pub fn encode_batch<'a>(
    requests: impl IntoIterator<Item = (Option<&'a Id>, &'a str, &'a Params)>,
) -> Result<Vec<u8>, Error> {
    let mut out = Vec::with_capacity(128);
    out.push(b'[');
    for (i, (id, method, params)) in requests.into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_request(&mut out, id, method, params)?;
    }
    out.push(b']');
    Ok(out)
}

fn write_request(out: &mut Vec<u8>, id: Option<&Id>, method: &str, params: &Params) -> Result<(), Error> {
    write_call(out, id, method, |out| match params {
        Params::Positional(items) => typed::to_writer(items.as_slice(), out),
        // The object of names is never a spelling (the server reads it as names, whatever they are).
        Params::Named(map) => {
            out.push(b'{');
            for (i, (k, v)) in map.iter().enumerate() {
                let Some(name) = k.as_str() else {
                    return Err(Error::Encode(format!("a named param's name must be a string, not {}", k.kind())));
                };
                if i > 0 {
                    out.push(b',');
                }
                typed::to_writer(name, out)?;
                out.push(b':');
                typed::to_writer(v, out)?;
            }
            out.push(b'}');
            Ok(())
        }
    })
}

/// Appends a request object, its params written by `params`.
fn write_call(
    out: &mut Vec<u8>,
    id: Option<&Id>,
    method: &str,
    params: impl FnOnce(&mut Vec<u8>) -> Result<(), Error>,
) -> Result<(), Error> {
    out.extend_from_slice(br#"{"jsonrpc":"2.0","method":"#);
    typed::to_writer(method, out)?;
    out.extend_from_slice(br#","params":"#);
    params(out)?;
    if let Some(id) = id {
        out.extend_from_slice(br#","id":"#);
        out.extend_from_slice(id.as_json().as_bytes());
    }
    out.push(b'}');
    Ok(())
}

/// A request body as the server reads it: one request or a batch.
#[derive(Debug)]
pub(crate) enum Body {
    Single(Entry),
    Batch(Vec<Entry>),
}

/// One element of a request body.
#[derive(Debug)]
pub(crate) enum Entry {
    /// A request (with an id) or a notification (without); its params may still be unreadable.
    Call { id: Option<Id>, method: String, params: Result<Params, Fault> },
    /// Not a valid request: it is answered with this fault whether or not it had an id.
    Invalid { id: Id, fault: Fault },
}

/// The members of a request object, unparsed.
#[derive(Deserialize)]
struct RequestObject<'a> {
    #[serde(borrow, default)]
    jsonrpc: Option<&'a RawValue>,
    #[serde(borrow, default)]
    method: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    params: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    id: Option<&'a RawValue>,
}

/// A member that is there, even as `null` (`Option`'s own deserializer reads `null` as absent).
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<&'de RawValue>, D::Error> {
    <&RawValue>::deserialize(d).map(Some)
}

/// Reads a request body: a fault here (parse error, empty or oversized batch, nesting over the limit) is the
/// whole answer, with id null.
pub(crate) fn decode_requests(body: &[u8], max_depth: usize, max_batch: usize) -> Result<Body, Fault> {
    check_nesting(body, max_depth.min(MAX_DEPTH), REQUEST_LEVELS).map_err(|e| invalid(e, Fault::invalid_request))?;
    let first = body.iter().find(|b| !b.is_ascii_whitespace());
    if first == Some(&b'[') {
        // Stop reading at the limit: a small body of tiny elements must not become a huge list first.
        let mut de = serde_json::Deserializer::from_slice(body);
        let over = std::cell::Cell::new(false);
        let items = match (BoundedBatch { max: max_batch, over: &over }).deserialize(&mut de).and_then(|items| {
            de.end()?;
            Ok(items)
        }) {
            Ok(items) => items,
            Err(_) if over.get() => {
                return Err(Fault::invalid_request(format!("a batch may hold at most {max_batch} requests")));
            }
            Err(e) => return Err(Fault::parse_error(e)),
        };
        if items.is_empty() {
            return Err(Fault::invalid_request("empty batch"));
        }
        Ok(Body::Batch(items.into_iter().map(|raw| decode_entry(raw, max_depth)).collect()))
    } else {
        // Requests as clients write them take a fast path; anything else, and every error, the general one.
        if let Some(entry) = fast::decode_request(body, max_depth) {
            return Ok(Body::Single(entry));
        }
        decode_single_general(body, max_depth).map(Body::Single)
    }
}

/// One request as a server reads it (see [`decode_request`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// The id to answer with; `None` for a notification (no answer).
    pub id: Option<Id>,
    /// The method called.
    pub method: String,
    /// Its params (none: an empty positional list).
    pub params: Params,
}

/// Reads one request object (not a batch) exactly as the server does, its values nesting at most `max_depth`
/// levels: for a JSON-RPC server on a transport of your own. An error is the answer the server would send: the
/// id to answer with (null where none could be read) and the fault.
///
/// ```
/// use rpc_json::codec::{Params, decode_request};
///
/// let request = decode_request(br#"{"jsonrpc":"2.0","method":"double","params":[7],"id":1}"#, 64).unwrap();
/// assert_eq!((request.method.as_str(), request.params), ("double", Params::Positional(vec![7.into()])));
/// let (id, fault) = decode_request(br#"{"jsonrpc":"2.0","method":"double","params":7,"id":2}"#, 64).unwrap_err();
/// assert_eq!((id.as_json(), fault.code), ("2", rpc_core::Fault::INVALID_REQUEST)); // params must be [..] or {..}
/// ```
pub fn decode_request(body: &[u8], max_depth: usize) -> Result<Request, (Id, Fault)> {
    if body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[') {
        return Err((Id::null(), Fault::invalid_request("a batch, where one request was expected")));
    }
    let entry = match decode_requests(body, max_depth, 1) {
        Ok(Body::Single(entry)) => entry,
        Ok(Body::Batch(_)) => {
            return Err((Id::null(), Fault::invalid_request("a batch, where one request was expected")));
        }
        Err(fault) => return Err((Id::null(), fault)),
    };
    match entry {
        Entry::Call { id, method, params: Ok(params) } => Ok(Request { id, method, params }),
        Entry::Call { id, params: Err(fault), .. } => Err((id.unwrap_or_else(Id::null), fault)),
        Entry::Invalid { id, fault } => Err((id, fault)),
    }
}

/// One request object (not a batch), read with serde_json.
fn decode_single_general(body: &[u8], max_depth: usize) -> Result<Entry, Fault> {
    // A well-formed request object is read in one pass; anything else again below, for the right error.
    if let Ok(obj) = serde_json::from_slice::<RequestObject<'_>>(body) {
        return Ok(entry_from(obj, max_depth));
    }
    let raw: &RawValue = serde_json::from_slice(body).map_err(Fault::parse_error)?;
    Ok(decode_entry(raw, max_depth))
}

/// A JSON array of raw elements, read up to `max` of them: one more stops reading with an error and sets
/// `over`.
struct BoundedBatch<'a> {
    max: usize,
    over: &'a std::cell::Cell<bool>,
}

impl<'de> DeserializeSeed<'de> for BoundedBatch<'_> {
    type Value = Vec<&'de RawValue>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for BoundedBatch<'_> {
    type Value = Vec<&'de RawValue>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a batch (an array of requests)")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(self.max));
        while let Some(item) = seq.next_element::<&RawValue>()? {
            if items.len() == self.max {
                self.over.set(true);
                return Err(de::Error::custom("the batch is over its limit"));
            }
            items.push(item);
        }
        Ok(items)
    }
}

/// A limit hit as the fault `make` builds, with the bare message.
fn invalid(e: Error, make: fn(String) -> Fault) -> Fault {
    match e {
        Error::Invalid(m) | Error::Malformed(m) | Error::Encode(m) => make(m),
        other => make(other.to_string()),
    }
}

fn decode_entry(raw: &RawValue, max_depth: usize) -> Entry {
    let invalid = |id: Option<Id>, msg: &str| Entry::Invalid {
        id: id.unwrap_or_else(Id::null),
        fault: Fault::invalid_request(msg),
    };
    if !raw.get().starts_with('{') {
        return invalid(None, "a request must be an object");
    }
    match serde_json::from_str(raw.get()) {
        Ok(obj) => entry_from(obj, max_depth),
        Err(e) => invalid(None, &e.to_string()),
    }
}

/// A string member as a `String`: most are plain, and copied without parsing.
fn json_string(raw: &RawValue) -> Option<String> {
    let text = raw.get();
    match text.strip_prefix('"').and_then(|t| t.strip_suffix('"')) {
        Some(plain) if !plain.contains('\\') => Some(plain.to_owned()),
        _ => serde_json::from_str::<String>(text).ok(),
    }
}

fn entry_from(obj: RequestObject<'_>, max_depth: usize) -> Entry {
    let invalid = |id: Option<Id>, msg: &str| Entry::Invalid {
        id: id.unwrap_or_else(Id::null),
        fault: Fault::invalid_request(msg),
    };
    let id = match obj.id.map(|raw| Id::from_raw(raw).ok_or(())) {
        None => None,
        Some(Ok(id)) => Some(id),
        Some(Err(())) => return invalid(None, "id must be a string, a number or null"),
    };
    if obj.jsonrpc.and_then(json_string).as_deref() != Some("2.0") {
        return invalid(id, r#"jsonrpc must be "2.0""#);
    }
    let Some(method) = obj.method.and_then(json_string) else {
        return invalid(id, "method must be a string");
    };
    let params = match obj.params.map(|p| (p, p.get().as_bytes().first().copied())) {
        // `"params": null` is not in the spec, but some clients send it for "no params".
        None | Some((_, Some(b'n'))) => Ok(Params::default()),
        Some((p, Some(b'['))) => positional_params(p.get().as_bytes(), max_depth).map(Params::Positional),
        Some((p, Some(b'{'))) => decode_params(p.get().as_bytes(), max_depth, NamedSeed).map(Params::Named),
        Some(_) => return invalid(id, "params must be an array or an object"),
    };
    Entry::Call { id, method, params }
}

/// Positional params (the JSON array after `"params":`) as values; a fault (-32602) where they do not read.
pub(crate) fn positional_params(json: &[u8], max_depth: usize) -> Result<Vec<Value>, Fault> {
    match decode_params(json, max_depth, typed::ValueSeed)? {
        Value::Array(items) => Ok(items),
        _ => Err(Fault::invalid_params("params must be an array")),
    }
}

fn decode_params<'a, S: DeserializeSeed<'a>>(json: &'a [u8], max_depth: usize, seed: S) -> Result<S::Value, Fault> {
    // The body's depth was checked with room for the envelope; check the params on their own.
    check_nesting(json, max_depth.min(MAX_DEPTH), 1).map_err(|e| invalid(e, Fault::invalid_params))?;
    let mut de = serde_json::Deserializer::from_slice(json);
    seed.deserialize(&mut de).map_err(Fault::invalid_params)
}

/// Reads named params: an object whose values are in this module's spelling (the object itself is never read
/// as one).
#[derive(Debug, Clone, Copy)]
struct NamedSeed;

impl<'de> DeserializeSeed<'de> for NamedSeed {
    type Value = Map;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Map, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for NamedSeed {
    type Value = Map;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object of named params")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Map, A::Error> {
        let mut map = Map::new();
        while let Some(key) = access.next_key::<String>()? {
            let value = access.next_value_seed(typed::ValueSeed)?;
            map.push(key, value);
        }
        Ok(map)
    }
}

// ---------------------------------------------------------------------------------------------------------
// Responses

/// The members of an error object.
#[derive(serde::Serialize)]
struct ErrorOut<'a> {
    code: i64,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<&'a Value>,
}

/// Encodes one response.
///
/// ```
/// use rpc_core::{Fault, Value};
/// use rpc_json::codec::{Id, encode_response};
///
/// let ok = encode_response(&Id::number(1), Ok(&Value::Int(14))).unwrap();
/// assert_eq!(ok, br#"{"jsonrpc":"2.0","result":14,"id":1}"#);
/// let err = encode_response(&Id::null(), Err(&Fault::new(-32700, "parse error"))).unwrap();
/// assert_eq!(err, br#"{"jsonrpc":"2.0","error":{"code":-32700,"message":"parse error"},"id":null}"#);
/// ```
pub fn encode_response(id: &Id, result: Result<&Value, &Fault>) -> Result<Vec<u8>, Error> {
    let mut out = Vec::with_capacity(64);
    write_response(&mut out, id, result)?;
    Ok(out)
}

/// Appends the response to request `id` of `method`: the result through the codec's serializer (a [`Value`], or
/// a handler's typed reply), or the fault's error object. A result that cannot be encoded becomes a -32603 error
/// in its place (naming the method, unless it is given as "").
pub(crate) fn push_response<T: Serialize + ?Sized>(
    out: &mut Vec<u8>,
    id: &Id,
    method: &str,
    result: Result<&T, &Fault>,
) {
    let start = out.len();
    if let Err(e) = write_response(out, id, result) {
        tracing::warn!(method, error = %e, "the result cannot be sent as JSON");
        out.truncate(start);
        let fault = rpc_core::encoding::cannot_encode(method, &e);
        // An error object of an integer and a string always encodes.
        let _ = write_response::<Value>(out, id, Err(&fault));
    }
}

fn write_response<T: Serialize + ?Sized>(out: &mut Vec<u8>, id: &Id, result: Result<&T, &Fault>) -> Result<(), Error> {
    out.extend_from_slice(br#"{"jsonrpc":"2.0","#);
    match result {
        Ok(value) => {
            out.extend_from_slice(br#""result":"#);
            typed::to_writer(value, out)?;
        }
        Err(fault) => {
            out.extend_from_slice(br#""error":"#);
            push_error_object(out, fault)?;
        }
    }
    out.extend_from_slice(br#","id":"#);
    out.extend_from_slice(id.as_json().as_bytes());
    out.push(b'}');
    Ok(())
}

/// Appends `fault` as an error object: `{"code", "message"}`, and `"data"` when it has data JSON can carry (data
/// it cannot, a NaN or a non-string map key, is left out; the fault itself always goes).
pub(crate) fn push_error_object(out: &mut Vec<u8>, fault: &Fault) -> Result<(), Error> {
    let error = ErrorOut { code: fault.code, message: &fault.message, data: fault.data.as_deref() };
    if typed::to_writer(&error, out).is_err() {
        typed::to_writer(&ErrorOut { data: None, ..error }, out)?;
    }
    Ok(())
}

/// The fault an error object read as a value says (`{"code", "message", "data"}`); `None` if it is none.
pub(crate) fn fault_of_error_value(error: &Value) -> Option<Fault> {
    let Value::Map(map) = error else { return None };
    let code = map.get_str("code")?.as_i64()?;
    let message = map.get_str("message").and_then(Value::as_str).unwrap_or_default();
    let fault = Fault::new(code, message);
    Some(match map.get_str("data") {
        Some(Value::Nil) | None => fault,
        Some(data) => fault.with_data(data.clone()),
    })
}

/// The members of a response object, unparsed.
#[derive(Deserialize)]
struct ResponseObject<'a> {
    #[serde(borrow, default, deserialize_with = "present")]
    result: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    error: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    id: Option<&'a RawValue>,
}

/// The members of an error object, leniently: some servers send a non-integer code or extra `data`.
#[derive(Deserialize)]
struct ErrorIn<'a> {
    #[serde(borrow)]
    code: &'a RawValue,
    #[serde(default)]
    message: Option<String>,
    #[serde(borrow, default, deserialize_with = "present")]
    data: Option<&'a RawValue>,
}

/// Reads one response (not a batch), its values nesting at most `max_depth` levels.
///
/// Reading is lenient where servers differ: `jsonrpc` may be missing, and a JSON-RPC 1.0 style
/// `"error": null` beside the result is ignored. An error's `data`, when present and not null, is the fault's
/// [`data`](Fault::data).
pub fn decode_response(body: &[u8], max_depth: usize) -> Result<Response, Error> {
    match decode_responses(body, max_depth)? {
        Responses::Single(r) => Ok(r),
        Responses::Batch(_) => Err(Error::Invalid("a batch answered a single request".into())),
    }
}

/// What a response body holds: one response, or a batch's.
#[derive(Debug, Clone, PartialEq)]
pub enum Responses {
    /// One response object (the answer to one request, or the one error a server sends for a whole batch).
    Single(Response),
    /// An array of responses, in the server's order.
    Batch(Vec<Response>),
}

/// Reads a response body: one response object, or a batch's array of them.
pub fn decode_responses(body: &[u8], max_depth: usize) -> Result<Responses, Error> {
    check_nesting(body, max_depth.min(MAX_DEPTH), RESPONSE_LEVELS)?;
    let first = body.iter().find(|b| !b.is_ascii_whitespace());
    if first == Some(&b'[') {
        let items: Vec<&RawValue> = serde_json::from_slice(body).map_err(json_error)?;
        let items = items.into_iter().map(|raw| decode_one_response(raw, max_depth)).collect::<Result<_, _>>()?;
        Ok(Responses::Batch(items))
    } else {
        let raw: &RawValue = serde_json::from_slice(body).map_err(json_error)?;
        decode_one_response(raw, max_depth).map(Responses::Single)
    }
}

fn decode_one_response(raw: &RawValue, max_depth: usize) -> Result<Response, Error> {
    if !raw.get().starts_with('{') {
        return Err(Error::Invalid(format!("a response must be an object, not {}", short(raw.get()))));
    }
    let obj: ResponseObject<'_> = serde_json::from_str(raw.get()).map_err(|e| Error::Invalid(e.to_string()))?;
    let id = match obj.id {
        Some(raw) => {
            Id::from_raw(raw).ok_or_else(|| Error::Invalid(format!("a response id of {}", short(raw.get()))))?
        }
        None => Id::null(),
    };
    let result = match (obj.result, obj.error.filter(|e| e.get() != "null")) {
        (_, Some(error)) => Err(decode_error(error, max_depth)?),
        (Some(result), None) => Ok(decode_value(result.get().as_bytes(), max_depth)?),
        (None, None) => return Err(Error::Invalid("a response with neither result nor error".into())),
    };
    Ok(Response { id, result })
}

fn decode_error(raw: &RawValue, max_depth: usize) -> Result<Fault, Error> {
    let bad = || Error::Invalid(format!("an error object of {}", short(raw.get())));
    let obj: ErrorIn<'_> = serde_json::from_str(raw.get()).map_err(|_| bad())?;
    let code = serde_json::from_str::<i64>(obj.code.get())
        .or_else(|_| serde_json::from_str::<f64>(obj.code.get()).map(|f| f as i64))
        .map_err(|_| bad())?;
    let mut fault = Fault::new(code, obj.message.unwrap_or_default());
    if let Some(data) = obj.data.filter(|d| d.get() != "null") {
        fault = fault.with_data(decode_value(data.get().as_bytes(), max_depth)?);
    }
    Ok(fault)
}

/// JSON text cut to a readable length for a message.
fn short(text: &str) -> String {
    const MAX: usize = 200;
    match text.char_indices().nth(MAX) {
        Some((i, _)) => format!("{}...", &text[..i]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(v: &Value) -> Value {
        let text = encode_value(v).unwrap();
        decode_value(text.as_bytes(), MAX_DEPTH).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    #[test]
    fn values_and_their_spelling() {
        let dt: DateTime = "19980717T14:08:55".parse().unwrap();
        let mut int_keys = Map::new();
        int_keys.push(1, "one");
        let mut tag_lookalike = Map::new();
        tag_lookalike.push("$base64", "not bytes");
        let mut plain = Map::new();
        plain.push("b", 1);
        plain.push("a", Value::Nil);
        plain.push("$base64", "two keys: a plain object");
        for (value, json) in [
            (Value::Nil, "null"),
            (Value::Bool(true), "true"),
            (Value::Int(i64::MIN), "-9223372036854775808"),
            (Value::UInt(u64::MAX), "18446744073709551615"),
            (Value::Float(1.0), "1.0"),
            (Value::Float(-0.5e-300), "-5e-301"),
            (Value::Float(f64::NAN), r#"{"$float":"NaN"}"#),
            (Value::Float(f64::INFINITY), r#"{"$float":"Infinity"}"#),
            (Value::Float(f64::NEG_INFINITY), r#"{"$float":"-Infinity"}"#),
            (Value::from("héllo \"😀\"\n"), r#""héllo \"😀\"\n""#),
            (Value::Bytes(vec![0, 255]), r#"{"$base64":"AP8="}"#),
            (Value::DateTime(dt), r#"{"$datetime":"19980717T14:08:55"}"#),
            (Value::Ext(Ext::new(-1, [1, 2, 3])), r#"{"$ext":[-1,"AQID"]}"#),
            (Value::Map(int_keys), r#"{"$map":[[1,"one"]]}"#),
            (Value::Map(tag_lookalike), r#"{"$map":[["$base64","not bytes"]]}"#),
            (Value::Map(plain), r#"{"b":1,"a":null,"$base64":"two keys: a plain object"}"#),
            (Value::Map(Map::new()), "{}"),
            (Value::Array(vec![Value::Array(vec![]), 1.into()]), "[[],1]"),
        ] {
            assert_eq!(encode_value(&value).unwrap(), json, "{value:?}");
            assert_eq!(round_trip(&value), value, "{json}");
        }
    }

    #[test]
    fn lenient_and_refused_spellings() {
        let read = |s: &str| decode_value(s.as_bytes(), 64);
        assert_eq!(read(r#"{"$base64":"AP8"}"#).unwrap(), Value::Bytes(vec![0, 255]));
        assert_eq!(
            read(r#"{"$datetime":"1998-07-17T14:08:55Z"}"#).unwrap(),
            Value::DateTime("19980717T14:08:55".parse().unwrap())
        );
        assert!(read("1e400").is_err());
        assert_eq!(read("18446744073709551616").unwrap(), Value::Float(18446744073709551616.0));
        for bad in [
            r#"{"$base64":"%%"}"#,
            r#"{"$base64":1}"#,
            r#"{"$datetime":"yesterday"}"#,
            r#"{"$ext":[300,""]}"#,
            r#"{"$ext":"x"}"#,
            r#"{"$map":[[1]]}"#,
            r#"{"$map":{}}"#,
            r#"{"$float":"nan"}"#,
        ] {
            match read(bad) {
                Err(Error::Invalid(msg)) => assert!(msg.contains('$'), "{bad}: {msg}"),
                other => panic!("{bad}: {other:?}"),
            }
        }
        assert!(matches!(read("[1,"), Err(Error::Malformed(_))));
        assert!(matches!(read("1 2"), Err(Error::Malformed(_))));
    }

    /// `check_nesting` as it was first written, a byte at a time: the fast one must answer the same.
    fn check_nesting_bytewise(json: &[u8], max: usize, around: usize) -> bool {
        let limit = max.saturating_add(around);
        let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
        for &b in json {
            if in_string {
                match b {
                    _ if escaped => escaped = false,
                    b'\\' => escaped = true,
                    b'"' => in_string = false,
                    _ => {}
                }
                continue;
            }
            match b {
                b'"' => in_string = true,
                b'[' | b'{' => {
                    depth += 1;
                    if depth > limit {
                        return false;
                    }
                }
                b']' | b'}' => depth = depth.saturating_sub(1),
                _ => {}
            }
        }
        true
    }

    proptest::proptest! {
        #[test]
        fn depth_checks_agree_with_the_bytewise_one(
            bytes in proptest::collection::vec(
                proptest::prop_oneof![
                    proptest::sample::select(&b"\"\\[]{}x\xff"[..]),
                    proptest::prelude::any::<u8>(),
                ],
                0..96,
            ),
            max in 0usize..6,
            around in 0usize..3,
        ) {
            proptest::prop_assert_eq!(check_nesting(&bytes, max, around).is_ok(), check_nesting_bytewise(&bytes, max, around));
        }
    }

    #[test]
    fn depth_is_checked_without_parsing() {
        assert!(check_depth(b"[[[]]]", 3).is_ok());
        assert!(matches!(check_depth(b"[[[[]]]]", 3), Err(Error::Invalid(_))));
        assert!(check_depth(br#"["[[[[\"[[[["]"#, 1).is_ok(), "brackets in strings do not count");
        // Far deeper than serde_json's limit or the stack would take: refused by counting alone.
        let deep = "[".repeat(1_000_000);
        assert!(check_depth(deep.as_bytes(), MAX_DEPTH).is_err());
        assert!(decode_value(deep.as_bytes(), 1000).is_err());
        let ok = format!("{}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        assert!(decode_value(ok.as_bytes(), 1000).is_ok(), "the clamp stays within serde_json's limit");
    }

    #[test]
    fn encoding_stops_at_its_depth_bound() {
        let mut v = Value::Nil;
        for _ in 0..MAX_ENCODE_DEPTH + 2 {
            v = Value::Array(vec![v]);
        }
        assert!(matches!(encode_value(&v), Err(Error::Encode(_))));
        let mut out = Vec::new();
        push_response(&mut out, &Id::number(1), "", Ok(&v));
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.starts_with(r#"{"jsonrpc":"2.0","error":{"code":-32603"#) && text.ends_with(r#""id":1}"#),
            "{text}"
        );
        // Dropping a deep value recurses too: take it apart iteratively.
        while let Value::Array(mut items) = v {
            v = items.pop().unwrap_or_default();
        }
    }

    #[test]
    fn requests_encode_and_decode() {
        let mut named = Map::new();
        named.push("a", 1);
        named.push("b", Value::Bytes(vec![1]));
        let body = encode_batch([
            (Some(&Id::string("x")), "add", &Params::Named(named.clone())),
            (None, "bump", &Params::Positional(vec![2.into()])),
        ])
        .unwrap();
        let text = String::from_utf8(body.clone()).unwrap();
        assert_eq!(
            text,
            r#"[{"jsonrpc":"2.0","method":"add","params":{"a":1,"b":{"$base64":"AQ=="}},"id":"x"},{"jsonrpc":"2.0","method":"bump","params":[2]}]"#
        );
        let Ok(Body::Batch(entries)) = decode_requests(&body, 64, 10) else { panic!("{text}") };
        match &entries[..] {
            [
                Entry::Call { id: Some(id), method: m1, params: Ok(Params::Named(p1)) },
                Entry::Call { id: None, method: m2, params: Ok(Params::Positional(p2)) },
            ] => {
                assert_eq!((id.as_json(), m1.as_str(), p1), (r#""x""#, "add", &named));
                assert_eq!((m2.as_str(), &p2[..]), ("bump", &[Value::Int(2)][..]));
            }
            other => panic!("{other:?}"),
        }
        let mut bad_key = Map::new();
        bad_key.push(1, 1);
        assert!(matches!(encode_request(None, "m", &Params::Named(bad_key)), Err(Error::Encode(_))));
    }

    #[test]
    fn responses_decode_leniently() {
        let r = decode_response(br#"{"result": 14, "error": null, "id": 1}"#, 64).unwrap();
        assert_eq!((r.id.as_json(), r.result), ("1", Ok(Value::Int(14))));
        let r = decode_response(br#"{"jsonrpc":"2.0","result":null,"id":"a"}"#, 64).unwrap();
        assert_eq!(r.result, Ok(Value::Nil));
        assert!(r.answers(&Id::string("a")));
        let r = decode_response(
            br#"{"jsonrpc":"2.0","error":{"code":-32000,"message":"boom","data":{"trace":"x"}},"id":null}"#,
            64,
        )
        .unwrap();
        let data = Value::Map([("trace", "x")].into_iter().collect());
        assert_eq!(r.result, Err(Fault::new(-32000, "boom").with_data(data)));
        assert!(r.id.is_null());
        assert!(matches!(decode_response(br#"{"id":1}"#, 64), Err(Error::Invalid(_))));
        assert!(matches!(decode_response(b"<html>", 64), Err(Error::Malformed(_))));
        assert!(matches!(decode_response(br#"[{"result":1,"id":1}]"#, 64), Err(Error::Invalid(_))));
        assert!(Id::number(5).same_as(&Id("5".into())) && !Id::number(5).same_as(&Id::string("5")));
    }
}

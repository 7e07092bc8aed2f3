//! The codec workloads: encode + decode of a `double` call and of a ~1 MB mixed struct, for each codec, through
//! the typed path (what generated clients and dispatchers run: params and results serialised straight to the
//! wire and read straight into the Rust types, `codec::typed` of rpc-json and rpc-msgpack), through the
//! [`Value`] tree (the value path: [`rpc_core::to_value`], the codec, [`rpc_core::from_value`]), and beside
//! serde_json and rmp-serde straight into the struct. The criterion benchmarks (`cargo bench -p rpc-bench`) and
//! the suite's codec table time these.
//!
//! A `double` call is the request a client writes, read as the server reads it (its envelope, then its params
//! into the handler's types; XML-RPC's server reads them as values); the 1 MB struct is one value written and
//! read back (on XML-RPC, in a `methodCall`), the 100,000-item list a result written as a server writes it
//! and read as a client reads it. rmp-serde writes structs as maps (`to_vec_named`), the form our codec gives them, so both put the same
//! kind of bytes on the wire.

use std::hint::black_box;

use bytes::BytesMut;
use rpc_core::{Value, from_value, to_value};
use serde::{Deserialize, Serialize};
use tokio_util::codec::Decoder;

/// The argument of the `double` calls every benchmark makes.
pub const DOUBLE_ARG: i64 = 7;

/// One record of the mixed struct: integers, floats, strings, booleans, an option, lists and a nested struct.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// An id.
    pub id: u64,
    /// A name.
    pub name: String,
    /// An address.
    pub email: String,
    /// A score.
    pub score: f64,
    /// A flag.
    pub active: bool,
    /// A few labels.
    pub tags: Vec<String>,
    /// A few counts, some negative.
    pub counts: Vec<i64>,
    /// Present on every other record.
    pub parent: Option<u64>,
    /// A nested struct.
    pub location: Point,
}

/// A nested struct.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Point {
    /// Latitude.
    pub lat: f64,
    /// Longitude.
    pub lon: f64,
}

/// The ~1 MB mixed struct (about 1 MB as JSON).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Mixed {
    /// A title.
    pub title: String,
    /// A version.
    pub version: u32,
    /// The records.
    pub records: Vec<Record>,
}

/// The mixed struct: deterministic content, about 1 MB as compact JSON.
pub fn mixed() -> Mixed {
    let records = (0..4_000u64)
        .map(|i| Record {
            id: i * 7_919,
            name: format!("record number {i} of the mixed benchmark"),
            email: format!("user{i}@example.com"),
            score: (i as f64) * 0.731 - 100.25,
            active: i % 3 != 0,
            tags: (0..(i % 4 + 1)).map(|t| format!("tag-{t}")).collect(),
            counts: (0..8).map(|c| (i as i64 - 2_000) * (c + 1)).collect(),
            parent: (i % 2 == 0).then_some(i / 2),
            location: Point { lat: 48.8566 + i as f64 * 1e-4, lon: 2.3522 - i as f64 * 1e-4 },
        })
        .collect();
    Mixed { title: "mixed benchmark payload".into(), version: 3, records }
}

/// One workload to time: a name in three parts and a closure doing one encode + decode. Decoders that keep
/// state across messages (MessagePack's codec) are made once per workload, as a connection makes one.
pub struct Case {
    /// `xml`, `json` or `msgpack`.
    pub codec: &'static str,
    /// `double` or `1MB`.
    pub payload: &'static str,
    /// `typed`, `value`, or the straight-into-the-struct peer: `serde_json` or `rmp-serde`.
    pub path: &'static str,
    /// One encode + decode.
    pub run: Box<dyn FnMut()>,
}

impl std::fmt::Debug for Case {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Case({})", self.name())
    }
}

impl Case {
    /// `codec/payload/path`.
    pub fn name(&self) -> String {
        format!("{}/{}/{}", self.codec, self.payload, self.path)
    }

    fn new(codec: &'static str, payload: &'static str, path: &'static str, run: impl FnMut() + 'static) -> Case {
        Case { codec, payload, path, run: Box::new(run) }
    }
}

/// A JSON-RPC request as a struct, for serde_json straight into it.
#[derive(Serialize, Deserialize)]
struct JsonCall<P> {
    jsonrpc: String,
    method: String,
    params: P,
    id: u64,
}

fn check<T: PartialEq + std::fmt::Debug>(got: T, want: &T) {
    assert_eq!(&got, want, "a codec benchmark's round trip changed the data");
}

/// Every workload. Each closure checks its round trip on its first run (and on every run in debug builds), so a
/// benchmark never times a codec that drops data.
#[allow(clippy::too_many_lines)]
pub fn cases() -> Vec<Case> {
    let big = mixed();
    let big_value = to_value(&big).unwrap_or_default();
    let mut cases = Vec::new();

    // XML-RPC: a methodCall both ways.
    cases.push(Case::new("xml", "double", "typed", || {
        // What the typed client does: the params written straight; the result read through a value.
        let body = rpc_xml::codec::encode_call_typed("double", &[black_box(DOUBLE_ARG)]).unwrap_or_default();
        let (_, mut params) = rpc_xml::codec::decode_call(black_box(&body), 64).unwrap_or_default();
        let n: i64 = from_value(params.pop().unwrap_or_default()).unwrap_or_default();
        check(n, &DOUBLE_ARG);
    }));
    cases.push(Case::new("xml", "double", "value", || {
        let body = rpc_xml::codec::encode_call("double", &[Value::Int(black_box(DOUBLE_ARG))]).unwrap_or_default();
        let (_, params) = rpc_xml::codec::decode_call(black_box(&body), 64).unwrap_or_default();
        black_box(params);
    }));
    {
        let big = big.clone();
        cases.push(Case::new("xml", "1MB", "typed", move || {
            let body = rpc_xml::codec::encode_call_typed("store", &[black_box(&big)]).unwrap_or_default();
            let back: Option<(String, (Mixed,))> = rpc_xml::codec::decode_call_typed(black_box(&body), 64).ok();
            black_box(back);
        }));
    }
    {
        let params = vec![big_value.clone()];
        cases.push(Case::new("xml", "1MB", "value", move || {
            let body = rpc_xml::codec::encode_call("store", black_box(&params)).unwrap_or_default();
            black_box(rpc_xml::codec::decode_call(black_box(&body), 64).ok());
        }));
    }

    // JSON-RPC: a request object both ways.
    let id = rpc_json::codec::Id::number(1);
    {
        let id = id.clone();
        cases.push(Case::new("json", "double", "typed", move || {
            let arg = black_box(DOUBLE_ARG);
            let params: [rpc_core::encoding::Param<'_>; 1] = [&arg];
            let body = rpc_json::codec::encode_request_typed(&id, "double", &params).unwrap_or_default();
            let n: i64 = rpc_json::codec::request_parts(black_box(&body))
                .and_then(|parts| rpc_json::codec::typed::from_params_slice::<(i64,)>(parts.params?, 64).ok())
                .map_or(0, |(n,)| n);
            check(n, &DOUBLE_ARG);
        }));
    }
    cases.push(Case::new("json", "double", "value", move || {
        let params = rpc_json::codec::Params::Positional(vec![Value::Int(black_box(DOUBLE_ARG))]);
        let body = rpc_json::codec::encode_request(Some(&id), "double", &params).unwrap_or_default();
        black_box(rpc_json::codec::decode_request(black_box(&body), 64).ok());
    }));
    cases.push(Case::new("json", "double", "serde_json", || {
        let call = JsonCall { jsonrpc: "2.0".into(), method: "double".into(), params: (black_box(DOUBLE_ARG),), id: 1 };
        let body = serde_json::to_vec(&call).unwrap_or_default();
        let back: Option<JsonCall<(i64,)>> = serde_json::from_slice(black_box(&body)).ok();
        check(back.map(|c| c.params.0), &Some(DOUBLE_ARG));
    }));
    {
        let big = big.clone();
        cases.push(Case::new("json", "1MB", "typed", move || {
            let mut body = Vec::new();
            let _ = rpc_json::codec::typed::to_writer(black_box(&big), &mut body);
            let back: Option<Mixed> = rpc_json::codec::typed::from_slice(black_box(&body), 64).ok();
            black_box(back);
        }));
    }
    {
        let value = big_value.clone();
        cases.push(Case::new("json", "1MB", "value", move || {
            let body = rpc_json::codec::encode_value(black_box(&value)).unwrap_or_default();
            black_box(rpc_json::codec::decode_value(black_box(body.as_bytes()), 64).ok());
        }));
    }
    {
        let big = big.clone();
        cases.push(Case::new("json", "1MB", "serde_json", move || {
            let body = serde_json::to_vec(black_box(&big)).unwrap_or_default();
            let back: Option<Mixed> = serde_json::from_slice(black_box(&body)).ok();
            black_box(back);
        }));
    }

    // MessagePack-RPC: a request message both ways.
    let mut codec = rpc_msgpack::codec::Codec::new(1 << 30, 64);
    cases.push(Case::new("msgpack", "double", "typed", move || {
        let arg = black_box(DOUBLE_ARG);
        let params: [rpc_core::encoding::Param<'_>; 1] = [&arg];
        let mut buf = BytesMut::with_capacity(64);
        let _ = rpc_msgpack::codec::encode_request_typed(1, "double", &params, &mut buf);
        let n: i64 = match codec.decode_frame(black_box(&mut buf)) {
            Ok(Some(frame)) => rpc_msgpack::codec::typed::request_parts(&frame)
                .and_then(|parts| rpc_msgpack::codec::typed::from_slice::<(i64,)>(parts.params, 63).ok())
                .map_or(0, |(n,)| n),
            _ => 0,
        };
        check(n, &DOUBLE_ARG);
    }));
    let mut codec = rpc_msgpack::codec::Codec::new(1 << 30, 64);
    cases.push(Case::new("msgpack", "double", "value", move || {
        let params = vec![Value::Int(black_box(DOUBLE_ARG))];
        let message = rpc_msgpack::codec::Message::Request { id: 1, method: "double".into(), params };
        let mut buf = BytesMut::with_capacity(64);
        let _ = message.encode(&mut buf);
        let decoded = codec.decode(black_box(&mut buf)).ok().flatten();
        black_box(decoded.map(rpc_msgpack::codec::Message::from_value));
    }));
    cases.push(Case::new("msgpack", "double", "rmp-serde", || {
        let body = rmp_serde::to_vec(&(0u8, 1u32, "double", (black_box(DOUBLE_ARG),))).unwrap_or_default();
        let back: Option<(u8, u32, String, (i64,))> = rmp_serde::from_slice(black_box(&body)).ok();
        check(back.map(|m| m.3.0), &Some(DOUBLE_ARG));
    }));
    {
        let big = big.clone();
        cases.push(Case::new("msgpack", "1MB", "typed", move || {
            let mut buf = BytesMut::new();
            let _ = rpc_msgpack::codec::typed::to_writer(black_box(&big), &mut buf);
            let back: Option<Mixed> = rpc_msgpack::codec::typed::from_slice(black_box(&buf), 64).ok();
            black_box(back);
        }));
    }
    {
        let value = big_value;
        let mut codec = rpc_msgpack::codec::Codec::new(1 << 30, 64);
        cases.push(Case::new("msgpack", "1MB", "value", move || {
            let mut buf = BytesMut::new();
            let _ = rpc_msgpack::codec::encode_value(black_box(&value), &mut buf);
            black_box(codec.decode(black_box(&mut buf)).ok().flatten());
        }));
    }
    cases.push(Case::new("msgpack", "1MB", "rmp-serde", move || {
        let body = rmp_serde::to_vec_named(black_box(&big)).unwrap_or_default();
        let back: Option<Mixed> = rmp_serde::from_slice(black_box(&body)).ok();
        black_box(back);
    }));
    list_cases(&mut cases);
    cases
}

/// The 100,000-item list: integers of one to six digits, some negative.
pub fn list() -> Vec<i64> {
    (0..LIST_LEN as i64).map(|i| (i * 7_919) % 1_000_003 - 500_000).collect()
}

/// How many items [`list`] has.
pub const LIST_LEN: usize = 100_000;

/// The 100,000-item list as a result: written as a server writes it and read as a client reads it, on each
/// codec's typed path and value path, and by serde_json / rmp-serde straight into the `Vec`.
fn list_cases(cases: &mut Vec<Case>) {
    let items = list();
    let value = to_value(&items).unwrap_or_default();
    {
        let items = items.clone();
        cases.push(Case::new("xml", "100k", "typed", move || {
            let body = rpc_xml::codec::encode_response_typed(Ok(black_box(&items))).unwrap_or_default();
            let back: Option<Vec<i64>> =
                rpc_xml::codec::decode_response_typed(black_box(&body), 64).ok().and_then(Result::ok);
            black_box(back);
        }));
    }
    {
        let value = value.clone();
        cases.push(Case::new("xml", "100k", "value", move || {
            let body = rpc_xml::codec::encode_response(Ok(black_box(&value))).unwrap_or_default();
            black_box(rpc_xml::codec::decode_response(black_box(&body), 64).ok());
        }));
    }
    {
        let items = items.clone();
        cases.push(Case::new("json", "100k", "typed", move || {
            let mut body = Vec::new();
            let _ = rpc_json::codec::typed::to_writer(black_box(&items), &mut body);
            let back: Option<Vec<i64>> = rpc_json::codec::typed::from_slice(black_box(&body), 64).ok();
            black_box(back);
        }));
    }
    {
        let value = value.clone();
        cases.push(Case::new("json", "100k", "value", move || {
            let body = rpc_json::codec::encode_value(black_box(&value)).unwrap_or_default();
            black_box(rpc_json::codec::decode_value(black_box(body.as_bytes()), 64).ok());
        }));
    }
    {
        let items = items.clone();
        cases.push(Case::new("json", "100k", "serde_json", move || {
            let body = serde_json::to_vec(black_box(&items)).unwrap_or_default();
            let back: Option<Vec<i64>> = serde_json::from_slice(black_box(&body)).ok();
            black_box(back);
        }));
    }
    {
        let items = items.clone();
        cases.push(Case::new("msgpack", "100k", "typed", move || {
            let mut buf = BytesMut::new();
            let _ = rpc_msgpack::codec::typed::to_writer(black_box(&items), &mut buf);
            let back: Option<Vec<i64>> = rpc_msgpack::codec::typed::from_slice(black_box(&buf), 64).ok();
            black_box(back);
        }));
    }
    {
        let mut codec = rpc_msgpack::codec::Codec::new(1 << 30, 64);
        cases.push(Case::new("msgpack", "100k", "value", move || {
            let mut buf = BytesMut::new();
            let _ = rpc_msgpack::codec::encode_value(black_box(&value), &mut buf);
            black_box(codec.decode(black_box(&mut buf)).ok().flatten());
        }));
    }
    cases.push(Case::new("msgpack", "100k", "rmp-serde", move || {
        let body = rmp_serde::to_vec(black_box(&items)).unwrap_or_default();
        let back: Option<Vec<i64>> = rmp_serde::from_slice(black_box(&body)).ok();
        black_box(back);
    }));
}

/// Checks that every typed 1 MB workload gives the struct back unchanged (run once by the suite and the tests,
/// outside the timed loops).
///
/// # Errors
/// The name of the codec whose round trip changed the struct.
pub fn verify_round_trips() -> Result<(), String> {
    let big = mixed();
    let value = to_value(&big).map_err(|e| e.to_string())?;
    let xml = rpc_xml::codec::encode_call("store", std::slice::from_ref(&value)).map_err(|e| e.to_string())?;
    let (_, mut params) = rpc_xml::codec::decode_call(&xml, 64).map_err(|e| e.to_string())?;
    let back: Mixed = from_value(params.pop().unwrap_or_default()).map_err(|e| format!("xml: {e}"))?;
    if back != big {
        return Err("xml".into());
    }
    let typed_xml = rpc_xml::codec::encode_call_typed("store", &[&big]).map_err(|e| e.to_string())?;
    let (_, (back,)): (_, (Mixed,)) =
        rpc_xml::codec::decode_call_typed(&typed_xml, 64).map_err(|e| format!("xml typed: {e}"))?;
    if back != big || typed_xml != xml {
        return Err("xml's typed path".into());
    }
    let items = list();
    let body = rpc_xml::codec::encode_response_typed(Ok(&items)).map_err(|e| e.to_string())?;
    if rpc_xml::codec::decode_response_typed::<Vec<i64>>(&body, 64).map_err(|e| e.to_string())? != Ok(items) {
        return Err("xml's typed path, the list".into());
    }
    let json = rpc_json::codec::encode_value(&value).map_err(|e| e.to_string())?;
    let back: Mixed = from_value(rpc_json::codec::decode_value(json.as_bytes(), 64).map_err(|e| e.to_string())?)
        .map_err(|e| format!("json: {e}"))?;
    if back != big {
        return Err("json".into());
    }
    let mut buf = BytesMut::new();
    rpc_msgpack::codec::encode_value(&value, &mut buf).map_err(|e| e.to_string())?;
    let decoded = rpc_msgpack::codec::Codec::new(1 << 30, 64).decode(&mut buf).map_err(|e| e.to_string())?;
    let back: Mixed = from_value(decoded.unwrap_or_default()).map_err(|e| format!("msgpack: {e}"))?;
    if back != big {
        return Err("msgpack".into());
    }
    // The typed path: the same bytes as the value path, and the struct back.
    let mut typed_json = Vec::new();
    rpc_json::codec::typed::to_writer(&big, &mut typed_json).map_err(|e| e.to_string())?;
    let back: Mixed = rpc_json::codec::typed::from_slice(&typed_json, 64).map_err(|e| format!("json typed: {e}"))?;
    if back != big || typed_json != json.as_bytes() {
        return Err("json's typed path".into());
    }
    let mut typed_msgpack = BytesMut::new();
    rpc_msgpack::codec::typed::to_writer(&big, &mut typed_msgpack).map_err(|e| e.to_string())?;
    let back: Mixed =
        rpc_msgpack::codec::typed::from_slice(&typed_msgpack, 64).map_err(|e| format!("msgpack typed: {e}"))?;
    let mut value_msgpack = BytesMut::new();
    rpc_msgpack::codec::encode_value(&value, &mut value_msgpack).map_err(|e| e.to_string())?;
    if back != big || typed_msgpack != value_msgpack {
        return Err("msgpack's typed path".into());
    }
    Ok(())
}

/// The sizes of the 1 MB payload on each wire, in bytes: XML-RPC call, JSON, MessagePack.
pub fn payload_sizes() -> [(&'static str, usize); 3] {
    let value = to_value(&mixed()).unwrap_or_default();
    let xml = rpc_xml::codec::encode_call("store", std::slice::from_ref(&value)).map_or(0, |b| b.len());
    let json = rpc_json::codec::encode_value(&value).map_or(0, |s| s.len());
    let mut buf = BytesMut::new();
    let msgpack = rpc_msgpack::codec::encode_value(&value, &mut buf).map_or(0, |()| buf.len());
    [("xml", xml), ("json", json), ("msgpack", msgpack)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_workload_round_trips() {
        verify_round_trips().unwrap_or_else(|codec| panic!("{codec} changed the struct"));
        for mut case in cases().into_iter().filter(|c| c.payload == "double") {
            (case.run)();
        }
        let sizes = payload_sizes();
        assert!((800_000..1_400_000).contains(&sizes[1].1), "{sizes:?}");
    }
}

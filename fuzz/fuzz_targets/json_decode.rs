//! JSON-RPC decoding of arbitrary bytes: `decode_value` and `decode_responses` never panic, and whatever they
//! accept, encoding gives back JSON that decodes to the same value or responses.
//!
//! The codec's one serde path (`codec::typed`, which `decode_value` and `encode_value` run for `Value`s) is held to
//! its references: where it reads the bytes into a struct it reads what `from_value` reads from the `Value` it
//! reads from them, and for JSON without a `$` key (no spelling of ours) the text it writes back is serde_json's
//! own compact text of the input (serde-transcode), members, duplicates and numbers as they were.
//!
//! Request decoding is crate-private in `rpc-json`; the `http_request` target reaches it through the server.

#![no_main]

use libfuzzer_sys::fuzz_target;
use rpc_core::from_value;
use rpc_fuzz::Probe;
use rpc_json::codec::{
    DEFAULT_MAX_DEPTH, MAX_DEPTH, Response, Responses, decode_responses, decode_value, encode_response, encode_value,
    typed,
};

fn encode_one(r: &Response) -> Option<Vec<u8>> {
    encode_response(&r.id, r.result.as_ref()).ok()
}

fuzz_target!(|data: &[u8]| {
    let value = decode_value(data, DEFAULT_MAX_DEPTH);
    if let Ok(typed) = typed::from_slice::<Probe>(data, DEFAULT_MAX_DEPTH) {
        let by_value = value.as_ref().ok().and_then(|v| from_value::<Probe>(v.clone()).ok());
        assert_eq!(Some(typed), by_value, "typed struct: {}", String::from_utf8_lossy(data));
    }
    if let Ok(value) = &value
        && !data.windows(2).any(|w| w == b"\"$")
    {
        let mut reference = Vec::new();
        let mut from = serde_json::Deserializer::from_slice(data);
        if serde_transcode::transcode(&mut from, &mut serde_json::Serializer::new(&mut reference)).is_ok() {
            let json = encode_value(value).unwrap_or_else(|e| panic!("a decoded value does not encode: {e}"));
            assert_eq!(json, String::from_utf8_lossy(&reference), "not serde_json's text of the input");
        }
    }
    if let Ok(value) = value {
        let json = encode_value(&value).unwrap_or_else(|e| panic!("a decoded value does not encode: {e}"));
        match decode_value(json.as_bytes(), MAX_DEPTH) {
            Ok(again) => assert_eq!(again, value, "value round trip: {json}"),
            Err(e) => panic!("our own value does not decode: {e}\n{json}"),
        }
    }
    if let Ok(responses) = decode_responses(data, DEFAULT_MAX_DEPTH) {
        let json = match &responses {
            Responses::Single(r) => encode_one(r),
            Responses::Batch(rs) => {
                let parts: Option<Vec<Vec<u8>>> = rs.iter().map(encode_one).collect();
                parts.map(|parts| [&b"["[..], &parts.join(&b","[..]), b"]"].concat())
            }
        };
        let json = json.unwrap_or_else(|| panic!("decoded responses do not encode: {responses:?}"));
        match decode_responses(&json, MAX_DEPTH) {
            Ok(again) => assert_eq!(again, responses, "responses round trip: {}", String::from_utf8_lossy(&json)),
            Err(e) => panic!("our own responses do not decode: {e}\n{}", String::from_utf8_lossy(&json)),
        }
    }
});

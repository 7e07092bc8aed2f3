//! JSON-RPC decoding of arbitrary bytes: `decode_value` and `decode_responses` never panic, and whatever they
//! accept, encoding gives back JSON that decodes to the same value or responses.
//!
//! The typed path (`codec::typed`) is held to the value path: where it reads the bytes (into a `Value` or into a
//! struct) it reads what `decode_value` and `from_value` read, and it writes what `encode_value` writes.
//!
//! Request decoding is crate-private in `rpc-json`; the `http_request` target reaches it through the server.

#![no_main]

use libfuzzer_sys::fuzz_target;
use rpc_core::{Value, from_value};
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
    if let Ok(typed) = typed::from_slice::<Value>(data, DEFAULT_MAX_DEPTH) {
        assert_eq!(Some(&typed), value.as_ref().ok(), "typed Value: {}", String::from_utf8_lossy(data));
    }
    if let Ok(typed) = typed::from_slice::<Probe>(data, DEFAULT_MAX_DEPTH) {
        let by_value = value.as_ref().ok().and_then(|v| from_value::<Probe>(v.clone()).ok());
        assert_eq!(Some(typed), by_value, "typed struct: {}", String::from_utf8_lossy(data));
    }
    if let Ok(value) = &value {
        let mut typed = Vec::new();
        if let Ok(json) = encode_value(value) {
            typed::to_writer(value, &mut typed).unwrap_or_else(|e| panic!("typed write failed: {e}"));
            assert_eq!(String::from_utf8_lossy(&typed), json, "typed write of {value:?}");
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

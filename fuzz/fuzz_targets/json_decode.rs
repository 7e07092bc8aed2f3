//! JSON-RPC decoding of arbitrary bytes: `decode_value` and `decode_responses` never panic, and whatever they
//! accept, encoding gives back JSON that decodes to the same value or responses.
//!
//! Request decoding is crate-private in `rpc-json`; the `http_request` target reaches it through the server.

#![no_main]

use libfuzzer_sys::fuzz_target;
use rpc_json::codec::{
    DEFAULT_MAX_DEPTH, MAX_DEPTH, Response, Responses, decode_responses, decode_value, encode_response, encode_value,
};

fn encode_one(r: &Response) -> Option<Vec<u8>> {
    encode_response(&r.id, r.result.as_ref()).ok()
}

fuzz_target!(|data: &[u8]| {
    if let Ok(value) = decode_value(data, DEFAULT_MAX_DEPTH) {
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

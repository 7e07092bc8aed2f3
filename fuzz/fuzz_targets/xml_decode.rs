//! XML-RPC decoding of arbitrary bytes: `decode_call` and `decode_response` never panic, and whatever they
//! accept, encoding gives back a document that decodes to the same call or response.

#![no_main]

use libfuzzer_sys::fuzz_target;
use rpc_xml::codec::{DEFAULT_MAX_DEPTH, decode_call, decode_response, encode_call, encode_response};

fuzz_target!(|data: &[u8]| {
    // Encoding may refuse what XML-RPC cannot carry (e.g. a character XML 1.0 forbids, read from a character
    // reference); whatever it writes must read back the same.
    if let Ok((method, params)) = decode_call(data, DEFAULT_MAX_DEPTH)
        && let Ok(xml) = encode_call(&method, &params)
    {
        match decode_call(&xml, DEFAULT_MAX_DEPTH) {
            Ok(again) => assert_eq!(again, (method, params), "call round trip:\n{}", String::from_utf8_lossy(&xml)),
            Err(e) => panic!("our own call does not decode: {e}\n{}", String::from_utf8_lossy(&xml)),
        }
    }
    if let Ok(response) = decode_response(data, DEFAULT_MAX_DEPTH)
        && let Ok(xml) = encode_response(response.as_ref())
    {
        match decode_response(&xml, DEFAULT_MAX_DEPTH) {
            Ok(again) => assert_eq!(again, response, "response round trip:\n{}", String::from_utf8_lossy(&xml)),
            Err(e) => panic!("our own response does not decode: {e}\n{}", String::from_utf8_lossy(&xml)),
        }
    }
});

//! Property tests: every value XML-RPC can carry survives encode -> decode exactly, and no input bytes make the
//! decoder panic.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use proptest::prelude::*;
use rpc_core::{Fault, Map, Value};
use rpc_test_support::values::datetime;
use rpc_xml::codec::{DEFAULT_MAX_DEPTH, decode_call, decode_response, encode_call, encode_response};

/// Text XML 1.0 can carry (any char but the C0 controls other than tab/newline/CR, and U+FFFE/U+FFFF).
fn xml_text() -> impl Strategy<Value = String> {
    proptest::collection::vec(any::<char>(), 0..24).prop_map(|chars| {
        chars
            .into_iter()
            .filter(
                |c| matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..),
            )
            .collect()
    })
}

/// Values XML-RPC can carry: no ext, no integers above i64::MAX, finite doubles, string struct keys.
fn xml_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Nil),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::Int),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(Value::Float),
        xml_text().prop_map(Value::String),
        proptest::collection::vec(any::<u8>(), 0..64).prop_map(Value::Bytes),
        datetime().prop_map(Value::DateTime),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::vec((xml_text(), inner), 0..6)
                .prop_map(|entries| Value::Map(entries.into_iter().collect::<Map>())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn calls_round_trip(method in "[A-Za-z_.:/]{1,20}", params in proptest::collection::vec(xml_value(), 0..4)) {
        let body = encode_call(&method, &params).unwrap();
        let (name, back) = decode_call(&body, DEFAULT_MAX_DEPTH).unwrap();
        prop_assert_eq!(name, method);
        prop_assert_eq!(back, params);
    }

    #[test]
    fn responses_round_trip(value in xml_value(), code in any::<i64>(), message in xml_text()) {
        let body = encode_response(Ok(&value)).unwrap();
        prop_assert_eq!(decode_response(&body, DEFAULT_MAX_DEPTH).unwrap().unwrap(), value);
        let fault = Fault::new(code, message);
        let body = encode_response(Err(&fault)).unwrap();
        prop_assert_eq!(decode_response(&body, DEFAULT_MAX_DEPTH).unwrap().unwrap_err(), fault);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = decode_call(&bytes, DEFAULT_MAX_DEPTH);
        let _ = decode_response(&bytes, DEFAULT_MAX_DEPTH);
    }

    #[test]
    fn mangled_messages_never_panic(value in xml_value(), cut in any::<prop::sample::Index>(), byte in any::<u8>()) {
        // A valid message with one byte changed, then cut short: close to real, so the parser goes deep.
        let mut body = encode_call("m", std::slice::from_ref(&value)).unwrap();
        let i = cut.index(body.len());
        body[i] = byte;
        let _ = decode_call(&body, DEFAULT_MAX_DEPTH);
        let _ = decode_call(&body[..i], DEFAULT_MAX_DEPTH);
    }
}

//! Property tests: every value survives the JSON wire (the tagged spelling included) exactly, and no input
//! bytes make a decoder panic.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use proptest::prelude::*;
use rpc_core::Fault;
use rpc_json::codec::{Id, check_depth, decode_responses, decode_value, encode_response, encode_value};
use rpc_test_support::values::{JSON_TAGS, any_value};

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn values_round_trip(value in any_value(&JSON_TAGS)) {
        let json = encode_value(&value).unwrap();
        prop_assert_eq!(decode_value(json.as_bytes(), 64).unwrap(), value);
    }

    #[test]
    fn responses_round_trip(value in any_value(&JSON_TAGS), id in any::<u64>(), code in any::<i64>(), message in ".{0,20}") {
        let body = encode_response(&Id::number(id), Ok(&value)).unwrap();
        let back = match decode_responses(&body, 64).unwrap() {
            rpc_json::codec::Responses::Single(r) => r,
            other => panic!("{other:?}"),
        };
        prop_assert!(back.answers(&Id::number(id)));
        prop_assert_eq!(back.result.unwrap(), value);
        let fault = Fault::new(code, message);
        let body = encode_response(&Id::null(), Err(&fault)).unwrap();
        match decode_responses(&body, 64).unwrap() {
            rpc_json::codec::Responses::Single(r) => prop_assert_eq!(r.result.unwrap_err(), fault),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = check_depth(&bytes, 64);
        let _ = decode_value(&bytes, 64);
        let _ = decode_responses(&bytes, 64);
    }

    #[test]
    fn mangled_values_never_panic(value in any_value(&JSON_TAGS), at in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let mut json = encode_value(&value).unwrap().into_bytes();
        if !json.is_empty() {
            let i = at.index(json.len());
            json[i] = byte;
            let _ = decode_value(&json, 64);
            let _ = decode_value(&json[..i], 64);
        }
    }
}

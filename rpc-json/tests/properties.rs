//! Property tests: every value survives the JSON wire (the tagged spelling included) exactly, and no input
//! bytes make a decoder panic.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use proptest::prelude::*;
use rpc_core::{DateTime, Ext, Fault, Map, Value};
use rpc_json::codec::{Id, check_depth, decode_responses, decode_value, encode_response, encode_value};

fn datetime() -> impl Strategy<Value = DateTime> {
    (0u16..=9999, 1u8..=12, 1u8..=28, 0u8..=23, 0u8..=59, 0u8..=59)
        .prop_map(|(y, mo, d, h, mi, s)| DateTime::new(y, mo, d, h, mi, s).expect("a valid date"))
}

/// Every kind of value, including what JSON cannot say natively (bytes, datetimes, ext, non-string keys, NaN,
/// unsigned integers above `i64::MAX`) and maps that look like the spelling's tags.
fn any_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Nil),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::Int),
        (i64::MAX as u64 + 1..=u64::MAX).prop_map(Value::UInt),
        any::<f64>().prop_map(Value::Float),
        ".{0,16}".prop_map(Value::String),
        proptest::collection::vec(any::<u8>(), 0..32).prop_map(Value::Bytes),
        datetime().prop_map(Value::DateTime),
        (any::<i8>(), proptest::collection::vec(any::<u8>(), 0..16)).prop_map(|(t, d)| Value::Ext(Ext::new(t, d))),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::vec((".{0,8}".prop_map(Value::String), inner.clone()), 0..6)
                .prop_map(|e| Value::Map(Map::from(e))),
            proptest::collection::vec((inner.clone(), inner.clone()), 0..4).prop_map(|e| Value::Map(Map::from(e))),
            (prop_oneof![Just("$base64"), Just("$datetime"), Just("$ext"), Just("$map"), Just("$float")], inner)
                .prop_map(|(tag, v)| Value::Map([(Value::from(tag), v)].into_iter().collect::<Map>())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn values_round_trip(value in any_value()) {
        let json = encode_value(&value).unwrap();
        prop_assert_eq!(decode_value(json.as_bytes(), 64).unwrap(), value);
    }

    #[test]
    fn responses_round_trip(value in any_value(), id in any::<u64>(), code in any::<i64>(), message in ".{0,20}") {
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
    fn mangled_values_never_panic(value in any_value(), at in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let mut json = encode_value(&value).unwrap().into_bytes();
        if !json.is_empty() {
            let i = at.index(json.len());
            json[i] = byte;
            let _ = decode_value(&json, 64);
            let _ = decode_value(&json[..i], 64);
        }
    }
}

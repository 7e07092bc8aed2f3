//! proptest strategies for the value model, shared by the codecs' property tests.

use proptest::prelude::*;
use rpc_core::{DateTime, Ext, Map, Value};

/// Any valid datetime (days up to 28, so every month has them).
pub fn datetime() -> impl Strategy<Value = DateTime> {
    (0u16..=9999, 1u8..=12, 1u8..=28, 0u8..=23, 0u8..=59, 0u8..=59).prop_map(|(y, mo, d, h, mi, s)| {
        DateTime::new(y, mo, d, h, mi, s).unwrap_or_else(|e| panic!("{y}-{mo}-{d} {h}:{mi}:{s}: {e}"))
    })
}

/// Any ext value with up to 16 bytes.
pub fn ext() -> impl Strategy<Value = Ext> {
    (any::<i8>(), proptest::collection::vec(any::<u8>(), 0..16)).prop_map(|(t, d)| Ext::new(t, d))
}

/// The keys of JSON-RPC's tagged spelling (`{"$base64": ...}` and the others).
pub const JSON_TAGS: [&str; 5] = ["$base64", "$datetime", "$ext", "$map", "$float"];

/// Every kind of value, nesting up to 4 deep: what JSON cannot say natively (bytes, datetimes, ext, non-string
/// keys, NaN, unsigned integers above `i64::MAX`) included, strings among `words` as well as arbitrary ones,
/// and one-entry maps keyed by each of `words` (a codec's tags, say, or enum variant names) around any value.
/// `words` must not be empty.
pub fn any_value(words: &'static [&'static str]) -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        proptest::sample::select(words).prop_map(Value::from),
        Just(Value::Nil),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::Int),
        (i64::MAX as u64 + 1..=u64::MAX).prop_map(Value::UInt),
        any::<f64>().prop_map(Value::Float),
        ".{0,16}".prop_map(Value::String),
        proptest::collection::vec(any::<u8>(), 0..32).prop_map(Value::Bytes),
        datetime().prop_map(Value::DateTime),
        ext().prop_map(Value::Ext),
    ];
    leaf.prop_recursive(4, 48, 6, move |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::vec((".{0,8}".prop_map(Value::String), inner.clone()), 0..6)
                .prop_map(|e| Value::Map(Map::from(e))),
            proptest::collection::vec((inner.clone(), inner.clone()), 0..4).prop_map(|e| Value::Map(Map::from(e))),
            (proptest::sample::select(words), inner)
                .prop_map(|(key, v)| Value::Map([(Value::from(key), v)].into_iter().collect::<Map>())),
        ]
    })
}

//! The codec against arbitrary input (proptest) and against rmp-serde, the reference Rust MessagePack
//! implementation: encode -> decode is the identity for any value, however the bytes are split; arbitrary bytes
//! never panic the decoder; and what rmp-serde writes we read as `to_value` would, and the other way round.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use bytes::BytesMut;
use proptest::prelude::*;
use rpc_core::{Ext, Map, Value};
use rpc_msgpack::codec::{Codec, Message, encode_value};
use serde::{Deserialize, Serialize};
use tokio_util::codec::Decoder;

/// Any value but `DateTime` (an XML-RPC type, which goes out as a string), nesting up to 6 deep.
fn any_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Nil),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::Int),
        ((i64::MAX as u64 + 1)..=u64::MAX).prop_map(Value::UInt),
        any::<u64>().prop_map(|bits| Value::Float(f64::from_bits(bits))),
        ".{0,40}".prop_map(Value::String),
        proptest::collection::vec(any::<u8>(), 0..40).prop_map(Value::Bytes),
        (any::<i8>(), proptest::collection::vec(any::<u8>(), 0..20)).prop_map(|(t, d)| Value::Ext(Ext::new(t, d))),
    ];
    leaf.prop_recursive(6, 64, 8, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            proptest::collection::vec((inner.clone(), inner), 0..8).prop_map(|e| Value::Map(Map::from(e))),
        ]
    })
}

fn encode(value: &Value) -> Vec<u8> {
    let mut buf = BytesMut::new();
    encode_value(value, &mut buf).unwrap();
    buf.to_vec()
}

/// Feeds `bytes` to a decoder `chunk` bytes at a time; every value it yields, and the first error if any.
fn decode_in_chunks(bytes: &[u8], chunk: usize, codec: &mut Codec) -> (Vec<Value>, Option<rpc_msgpack::Error>) {
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    for piece in bytes.chunks(chunk.max(1)) {
        buf.extend_from_slice(piece);
        loop {
            match codec.decode(&mut buf) {
                Ok(Some(v)) => out.push(v),
                Ok(None) => break,
                Err(e) => return (out, Some(e)),
            }
        }
    }
    (out, None)
}

proptest! {
    #[test]
    fn encode_then_decode_is_the_identity(value in any_value(), chunk in 1usize..64) {
        let bytes = encode(&value);
        let (decoded, error) = decode_in_chunks(&bytes, chunk, &mut Codec::new(1 << 20, 64));
        prop_assert!(error.is_none(), "{error:?}");
        prop_assert_eq!(decoded, vec![value]);
    }

    #[test]
    fn messages_survive_the_round_trip(id in any::<u32>(), method in ".{0,20}", params in proptest::collection::vec(any_value(), 0..4)) {
        for message in [
            Message::Request { id, method: method.clone(), params: params.clone() },
            Message::Notification { method: method.clone(), params: params.clone() },
            Message::Response { id, result: Ok(Value::Array(params.clone())) },
            Message::Response { id, result: Err(Value::Array(params.clone())) },
        ] {
            let mut buf = BytesMut::new();
            message.encode(&mut buf).unwrap();
            let value = Codec::new(1 << 20, 64).decode(&mut buf).unwrap().unwrap();
            prop_assert_eq!(Message::from_value(value).unwrap(), message);
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic_the_decoder(bytes in proptest::collection::vec(any::<u8>(), 0..512), chunk in 1usize..64) {
        let (values, _) = decode_in_chunks(&bytes, chunk, &mut Codec::new(1024, 8));
        for v in values {
            let _ = Message::from_value(v);
        }
    }

    #[test]
    fn corrupted_messages_never_panic_the_decoder(
        value in any_value(),
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
    ) {
        let mut bytes = encode(&Value::Array(vec![0.into(), 1.into(), "m".into(), Value::Array(vec![value])]));
        for (at, byte) in flips {
            let i = at.index(bytes.len());
            bytes[i] = byte;
        }
        let (values, _) = decode_in_chunks(&bytes, 7, &mut Codec::new(4096, 8));
        for v in values {
            let _ = Message::from_value(v);
        }
    }
}

/// A typed value with the edges rmp-serde and `to_value` must agree on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Typed {
    small: i8,
    min: i64,
    max: u64,
    float: f64,
    text: String,
    #[serde(with = "serde_bytes")]
    bytes: Vec<u8>,
    list: Vec<Option<i32>>,
    map: BTreeMap<String, f64>,
    nested: Vec<Inner>,
    ext: Ext,
    none: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Inner {
    flag: bool,
    name: String,
}

fn typed() -> Typed {
    Typed {
        small: -5,
        min: i64::MIN,
        max: u64::MAX,
        float: -0.5,
        text: "ünïcode ✓".into(),
        bytes: vec![0, 255, 7],
        list: vec![Some(1), None, Some(-70_000)],
        map: BTreeMap::from([("a".into(), 1.5), ("b".into(), f64::INFINITY)]),
        nested: vec![Inner { flag: true, name: "x".into() }],
        ext: Ext::new(7, vec![1, 2, 3]),
        none: None,
    }
}

#[test]
fn we_read_what_rmp_serde_writes() {
    let bytes = rmp_serde::to_vec_named(&typed()).unwrap();
    let decoded = Codec::new(1 << 20, 64).decode(&mut BytesMut::from(&bytes[..])).unwrap().unwrap();
    assert_eq!(decoded, rpc_core::to_value(&typed()).unwrap());
    assert_eq!(rpc_core::from_value::<Typed>(decoded).unwrap(), typed());
}

#[test]
fn rmp_serde_reads_what_we_write() {
    let bytes = encode(&rpc_core::to_value(&typed()).unwrap());
    assert_eq!(rmp_serde::from_slice::<Typed>(&bytes).unwrap(), typed());
    // Byte for byte the same as rmp-serde's own encoding.
    assert_eq!(bytes, rmp_serde::to_vec_named(&typed()).unwrap());
}

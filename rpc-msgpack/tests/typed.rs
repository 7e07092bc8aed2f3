//! The codec's one serde path (`codec::typed`, which `encode_value` and `Codec` run for `Value`s too) against its
//! references: for any value it writes the bytes rmp-serde writes; for any typed data it writes the bytes of that
//! data's `Value` (`to_value`), and whatever `from_slice` reads into a type, `from_value` on the `Value` it reads
//! from the same bytes reads alike (the generated code reads a call's params either way); hostile bytes never
//! panic it; and the envelope helpers agree with `Message::from_value`. Plus a timing against rmp-serde
//! (`--ignored`, in release mode).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::fmt::Debug;

use bytes::BytesMut;
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use rpc_core::{DateTime, Ext, Map, Value, from_value, to_value};
use rpc_msgpack::codec::typed::{self, from_slice, to_writer};
use rpc_msgpack::codec::{Codec, Message, encode_value};
use rpc_test_support::values::datetime;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;
use tokio_util::codec::Decoder;

const DEPTH: usize = 64;

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Nil),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::Int),
        (-40i64..300).prop_map(Value::Int),
        ((i64::MAX as u64 + 1)..=u64::MAX).prop_map(Value::UInt),
        any::<u64>().prop_map(|bits| Value::Float(f64::from_bits(bits))),
        ".{0,40}".prop_map(Value::String),
        "[a-z]{0,6}".prop_map(Value::String),
        proptest::collection::vec(any::<u8>(), 0..40).prop_map(Value::Bytes),
        (any::<i8>(), proptest::collection::vec(any::<u8>(), 0..20)).prop_map(|(t, d)| Value::Ext(Ext::new(t, d))),
    ]
}

/// Any value but `DateTime` (which goes out as a string), nesting up to 6 deep.
fn any_value() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(6, 64, 8, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            proptest::collection::vec((inner.clone(), inner.clone()), 0..8).prop_map(|e| Value::Map(Map::from(e))),
            proptest::collection::vec(("[a-z]{0,6}".prop_map(Value::String), inner), 0..6)
                .prop_map(|e| Value::Map(Map::from(e))),
        ]
    })
}

/// Any value, `DateTime` included.
fn any_value_with_datetimes() -> impl Strategy<Value = Value> {
    prop_oneof![leaf(), datetime().prop_map(Value::DateTime)].prop_recursive(5, 64, 8, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            proptest::collection::vec((inner.clone(), inner), 0..8).prop_map(|e| Value::Map(Map::from(e))),
        ]
    })
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Record {
    id: u32,
    name: String,
    score: f64,
    note: Option<String>,
    tags: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    parent: Option<i64>,
    shape: Shape,
    small: i8,
    big: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum Shape {
    Empty,
    Circle(f64),
    Rect(u32, u32),
    Named { name: String, sides: Option<u8> },
}

/// `serialize_map(None)`: a map whose length is known only at its end.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Flattened {
    id: i64,
    #[serde(flatten)]
    extra: BTreeMap<String, Value>,
}

/// One field: a map `{0: ...}` fills it if its key is visited as a `u64` (the field's index), not as an `i64`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Point {
    x: i64,
}

/// Buffered through serde's `Content` on the way in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
enum Either {
    Num(i64),
    Text(String),
    List(Vec<Either>),
}

fn shape() -> impl Strategy<Value = Shape> {
    prop_oneof![
        Just(Shape::Empty),
        any::<f64>().prop_map(Shape::Circle),
        (any::<u32>(), any::<u32>()).prop_map(|(a, b)| Shape::Rect(a, b)),
        (".{0,10}", proptest::option::of(any::<u8>())).prop_map(|(name, sides)| Shape::Named { name, sides }),
    ]
}

fn record() -> impl Strategy<Value = Record> {
    (
        any::<u32>(),
        ".{0,20}",
        any::<u64>().prop_map(f64::from_bits),
        proptest::option::of(".{0,10}"),
        proptest::collection::vec("[a-z]{0,8}", 0..20),
        proptest::option::of(any::<i64>()),
        shape(),
        any::<i8>(),
        any::<u64>(),
    )
        .prop_map(|(id, name, score, note, tags, parent, shape, small, big)| Record {
            id,
            name,
            score,
            note,
            tags,
            parent,
            shape,
            small,
            big,
        })
}

fn either() -> impl Strategy<Value = Either> {
    prop_oneof![any::<i64>().prop_map(Either::Num), ".{0,8}".prop_map(Either::Text)]
        .prop_recursive(3, 16, 4, |inner| proptest::collection::vec(inner, 0..4).prop_map(Either::List))
}

fn encode(value: &Value) -> Vec<u8> {
    let mut buf = BytesMut::new();
    encode_value(value, &mut buf).unwrap();
    buf.to_vec()
}

/// What the codec makes of `bytes`, if they are exactly one object.
fn decode(bytes: &[u8], depth: usize) -> Option<Value> {
    let mut buf = BytesMut::from(bytes);
    match Codec::new(1 << 20, depth).decode(&mut buf) {
        Ok(Some(v)) if buf.is_empty() => Some(v),
        _ => None,
    }
}

/// The same on the wire (floats by their bits), and the same Rust value as far as `Debug` shows (`Int(5)` is not
/// `UInt(5)`).
fn same<T: Serialize + Debug>(a: &T, b: &T) -> bool {
    to_value(a).unwrap() == to_value(b).unwrap() && format!("{a:?}") == format!("{b:?}")
}

/// If the typed path reads a `T` from `bytes`, the value path reads the same from `decoded`. Whether it did.
fn agrees<T>(bytes: &[u8], decoded: &Value) -> Result<bool, TestCaseError>
where
    T: DeserializeOwned + Serialize + Debug + 'static,
{
    let Ok(typed) = from_slice::<T>(bytes, DEPTH) else {
        return Ok(false);
    };
    let name = std::any::type_name::<T>();
    match from_value::<T>(decoded.clone()) {
        Ok(via_value) => {
            prop_assert!(same(&typed, &via_value), "{name}: typed {typed:?}, value path {via_value:?}");
            Ok(true)
        }
        Err(e) => Err(TestCaseError::fail(format!("{name}: typed read {typed:?}, the value path fails: {e}"))),
    }
}

/// [`agrees`] for every type of the suite; how many read the bytes.
fn agrees_for_all(bytes: &[u8], decoded: &Value) -> Result<usize, TestCaseError> {
    let results = [
        agrees::<Value>(bytes, decoded)?,
        agrees::<i64>(bytes, decoded)?,
        agrees::<u64>(bytes, decoded)?,
        agrees::<i8>(bytes, decoded)?,
        agrees::<u32>(bytes, decoded)?,
        agrees::<f64>(bytes, decoded)?,
        agrees::<f32>(bytes, decoded)?,
        agrees::<bool>(bytes, decoded)?,
        agrees::<String>(bytes, decoded)?,
        agrees::<char>(bytes, decoded)?,
        agrees::<ByteBuf>(bytes, decoded)?,
        agrees::<Vec<u8>>(bytes, decoded)?,
        agrees::<Option<i64>>(bytes, decoded)?,
        agrees::<Option<Value>>(bytes, decoded)?,
        agrees::<Vec<Value>>(bytes, decoded)?,
        agrees::<BTreeMap<String, Value>>(bytes, decoded)?,
        agrees::<(i64, String)>(bytes, decoded)?,
        agrees::<Record>(bytes, decoded)?,
        agrees::<Point>(bytes, decoded)?,
        agrees::<Shape>(bytes, decoded)?,
        agrees::<Vec<Shape>>(bytes, decoded)?,
        agrees::<Flattened>(bytes, decoded)?,
        agrees::<Either>(bytes, decoded)?,
        agrees::<DateTime>(bytes, decoded)?,
        agrees::<Ext>(bytes, decoded)?,
        agrees::<Vec<Ext>>(bytes, decoded)?,
        agrees::<()>(bytes, decoded)?,
    ];
    Ok(results.iter().filter(|&&r| r).count())
}

/// A typed value both ways: the same bytes as the value path, and read back by the typed path whenever the value
/// path reads it (never refused), alike.
fn round_trip<T>(t: &T) -> Result<(), TestCaseError>
where
    T: DeserializeOwned + Serialize + Debug + 'static,
{
    let name = std::any::type_name::<T>();
    let mut typed_bytes = BytesMut::from(&b"prefix"[..]);
    to_writer(t, &mut typed_bytes).map_err(|e| TestCaseError::fail(format!("{name}: to_writer failed: {e}")))?;
    let value = to_value(t).unwrap();
    let mut value_bytes = BytesMut::from(&b"prefix"[..]);
    encode_value(&value, &mut value_bytes).unwrap();
    prop_assert_eq!(&typed_bytes, &value_bytes, "{}: {:?}", name, t);
    let bytes = &value_bytes[6..];
    let decoded = decode(bytes, DEPTH).unwrap();
    if let Ok(via_value) = from_value::<T>(decoded.clone()) {
        match from_slice::<T>(bytes, DEPTH) {
            Ok(typed) => prop_assert!(same(&typed, &via_value), "{name}: typed {typed:?}, value {via_value:?}"),
            Err(e) => return Err(TestCaseError::fail(format!("{name}: the typed path refused {t:?}: {e}"))),
        }
    }
    agrees_for_all(bytes, &decoded)?;
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn values_are_written_as_rmp_serde_writes_them(value in any_value_with_datetimes()) {
        // rmp-serde writes an `Ext` (the newtype `_ExtStruct`) as an ext and a datetime as its text, as we do.
        prop_assert_eq!(encode(&value), rmp_serde::to_vec(&value).unwrap(), "{:?}", value);
    }

    #[test]
    fn values_deserialize_as_the_codec_decodes_them(value in any_value()) {
        let bytes = encode(&value);
        let decoded = decode(&bytes, DEPTH).unwrap();
        let typed = from_slice::<Value>(&bytes, DEPTH).unwrap();
        prop_assert!(same(&typed, &decoded), "{:?} != {:?}", typed, decoded);
        agrees_for_all(&bytes, &decoded)?;
    }

    #[test]
    fn typed_values_take_the_typed_path_both_ways(
        record in record(),
        shapes in proptest::collection::vec(shape(), 0..4),
        either in either(),
        value in any_value(),
        list in proptest::collection::vec(any_value(), 0..4),
        map in proptest::collection::btree_map(".{0,8}", any_value(), 0..4),
        when in datetime(),
        ext in (any::<i8>(), proptest::collection::vec(any::<u8>(), 0..40)).prop_map(|(t, d)| Ext::new(t, d)),
        scalars in (any::<i64>(), any::<u64>(), any::<u64>().prop_map(f64::from_bits), any::<bool>(), ".{0,40}", any::<char>()),
        bytes in proptest::collection::vec(any::<u8>(), 0..300),
        extra in proptest::collection::btree_map("[a-z]{1,6}", any_value(), 0..20),
    ) {
        round_trip(&record)?;
        round_trip(&vec![record.clone(); 3])?;
        round_trip(&shapes)?;
        round_trip(&either)?;
        round_trip(&value)?;
        round_trip(&list)?;
        round_trip(&map)?;
        round_trip(&when)?;
        round_trip(&ext)?;
        round_trip(&(when, ext.clone(), Some(ext.clone())))?;
        let (i, u, f, b, s, c) = scalars;
        round_trip(&i)?;
        round_trip(&u)?;
        round_trip(&f)?;
        round_trip(&(f as f32))?;
        round_trip(&b)?;
        round_trip(&s)?;
        round_trip(&c)?;
        round_trip(&(i, s.clone()))?;
        round_trip(&Some(i))?;
        round_trip(&None::<i64>)?;
        round_trip(&ByteBuf::from(bytes.clone()))?;
        round_trip(&bytes)?;
        round_trip(&())?;
        round_trip(&Flattened { id: i, extra: extra.clone() })?;
        round_trip(&(i as i128, u as u128, i as i16, u as u16, u as u8))?;
    }

    #[test]
    fn whatever_the_typed_path_reads_the_value_path_reads_alike(value in any_value(), record in record()) {
        // Values near the typed ones, so that the types match now and then.
        for v in [value.clone(), to_value(&record).unwrap(), Value::Array(vec![value.clone(), value.clone()])] {
            let bytes = encode(&v);
            agrees_for_all(&bytes, &decode(&bytes, DEPTH).unwrap())?;
        }
        let mut record_value = to_value(&record).unwrap();
        if let Value::Map(m) = &mut record_value {
            m.insert("shape", value.clone());
            m.insert("tags", value);
        }
        let bytes = encode(&record_value);
        agrees_for_all(&bytes, &decode(&bytes, DEPTH).unwrap())?;
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        if let Some(decoded) = decode(&bytes, DEPTH) {
            agrees_for_all(&bytes, &decoded)?;
        } else {
            prop_assert!(from_slice::<Value>(&bytes, DEPTH).is_err());
            let _ = from_slice::<Record>(&bytes, DEPTH);
            let _ = from_slice::<Vec<Shape>>(&bytes, DEPTH);
            let _ = from_slice::<Either>(&bytes, DEPTH);
        }
        let _ = typed::request_parts(&bytes);
        let _ = typed::response_parts(&bytes);
        let _ = typed::array_items(&bytes).map(Iterator::count);
    }

    #[test]
    fn corrupted_values_never_panic(
        record in record(),
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
    ) {
        let mut bytes = encode(&to_value(&vec![record]).unwrap());
        for (at, byte) in flips {
            let i = at.index(bytes.len());
            bytes[i] = byte;
        }
        match decode(&bytes, DEPTH) {
            Some(decoded) => {
                agrees_for_all(&bytes, &decoded)?;
            }
            None => {
                prop_assert!(from_slice::<Value>(&bytes, DEPTH).is_err());
                let _ = from_slice::<Vec<Record>>(&bytes, DEPTH);
            }
        }
    }
}

#[test]
fn hostile_lengths_are_refused_before_anything_is_allocated() {
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("str32 of 4 GiB", vec![0xdb, 0xff, 0xff, 0xff, 0xff, b'a']),
        ("bin32 of 4 GiB", vec![0xc6, 0xff, 0xff, 0xff, 0xff, 0]),
        ("ext32 of 4 GiB", vec![0xc9, 0xff, 0xff, 0xff, 0xff, 1, 0]),
        ("array32 of 4G items", vec![0xdd, 0xff, 0xff, 0xff, 0xff, 0xc0, 0xc0]),
        ("map32 of 4G entries", vec![0xdf, 0xff, 0xff, 0xff, 0xff, 0xc0, 0xc0]),
        ("array16 of 65535 items", vec![0xdc, 0xff, 0xff, 0x01]),
        ("map of 1 entry in 1 byte", vec![0x81, 0x01]),
        ("str in an array", vec![0x92, 0x01, 0xda, 0x04, 0x01]),
        ("truncated int", vec![0xcd, 0x01]),
        ("truncated float", vec![0xcb, 0, 0, 0]),
        ("truncated fixext", vec![0xd8, 1, 2]),
        ("the reserved byte", vec![0xc1]),
        ("the reserved byte inside", vec![0x92, 0x01, 0xc1]),
        ("nothing", vec![]),
        ("trailing bytes", vec![0x01, 0x02]),
    ];
    for (what, bytes) in cases {
        assert!(from_slice::<Value>(&bytes, DEPTH).is_err(), "{what}");
        assert!(from_slice::<Vec<Value>>(&bytes, DEPTH).is_err(), "{what}");
        assert!(from_slice::<Vec<u8>>(&bytes, DEPTH).is_err(), "{what}");
        assert!(from_slice::<ByteBuf>(&bytes, DEPTH).is_err(), "{what}");
        assert!(from_slice::<String>(&bytes, DEPTH).is_err(), "{what}");
        assert!(from_slice::<BTreeMap<String, Value>>(&bytes, DEPTH).is_err(), "{what}");
        assert!(from_slice::<Record>(&bytes, DEPTH).is_err(), "{what}");
        assert!(from_slice::<Ext>(&bytes, DEPTH).is_err(), "{what}");
        assert!(typed::request_parts(&bytes).is_none(), "{what}");
        assert!(typed::array_items(&bytes).is_none(), "{what}");
    }
}

#[test]
fn nesting_beyond_the_limit_is_refused() {
    // [[...[]]] or {0: {0: ... {}}}, `depth` levels.
    let nested = |depth: usize, open: u8| -> Vec<u8> {
        match open {
            0x91 => std::iter::repeat_n(0x91, depth - 1).chain([0x90]).collect(),
            _ => std::iter::repeat_n([0x81, 0x00], depth - 1).flatten().chain([0x80]).collect(),
        }
    };
    for open in [0x91, 0x81] {
        for depth in [1, 4, 64] {
            let ok = nested(depth, open);
            assert!(from_slice::<Value>(&ok, depth).is_ok(), "{open:x} {depth}");
            assert_eq!(from_slice::<Value>(&ok, depth).unwrap(), decode(&ok, depth).unwrap());
            let deep = nested(depth + 1, open);
            assert!(decode(&deep, depth).is_none());
            let err = from_slice::<Value>(&deep, depth).unwrap_err();
            assert!(matches!(err, rpc_msgpack::Error::TooDeep { limit } if limit == depth), "{err}");
        }
    }
    // Far beyond: no stack overflow, whatever the target.
    let deep = vec![0x91; 100_000];
    assert!(from_slice::<Value>(&deep, DEPTH).is_err());
    assert!(from_slice::<Either>(&deep, DEPTH).is_err());
    assert!(from_slice::<serde::de::IgnoredAny>(&deep, DEPTH).is_err());
    let deep_maps: Vec<u8> = std::iter::repeat_n([0x81, 0xa1, b'a'], 100_000).flatten().collect();
    assert!(from_slice::<Value>(&deep_maps, DEPTH).is_err());
    assert!(from_slice::<Record>(&deep_maps, DEPTH).is_err());
    // A recursive type that reads nothing between its levels is bounded too.
    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Endless(Option<Box<Endless>>);
    assert!(from_slice::<Endless>(&[0x05], DEPTH).is_err());
    // Serializing is bounded as well.
    let mut v = Value::Nil;
    for _ in 0..2000 {
        v = Value::Array(vec![v]);
    }
    let mut buf = BytesMut::from(&b"kept"[..]);
    assert!(to_writer(&v, &mut buf).is_err());
    assert_eq!(&buf[..], b"kept");
    while let Value::Array(mut items) = v {
        v = items.pop().unwrap_or_default();
    }
}

#[test]
fn the_codec_forms_read_as_the_codec_reads_them() {
    // Every form, including those we do not write; with non-UTF-8 strs and ints of every width.
    let cases: Vec<Vec<u8>> = vec![
        vec![0xca, 0x3f, 0xc0, 0, 0],
        vec![0xd0, 0x05],
        vec![0xd1, 0xff, 0x00],
        vec![0xd2, 0xff, 0xff, 0xff, 0xff],
        vec![0xd3, 0, 0, 0, 0, 0, 0, 0, 9],
        vec![0xcc, 0x05],
        vec![0xcd, 0x01, 0x00],
        vec![0xce, 0, 0, 1, 0],
        vec![0xcf, 0x80, 0, 0, 0, 0, 0, 0, 0],
        vec![0xcf, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
        vec![0xd9, 2, b'h', b'i'],
        vec![0xda, 0, 2, b'h', b'i'],
        vec![0xdb, 0, 0, 0, 2, b'h', b'i'],
        vec![0xa2, 0xff, 0xfe],
        vec![0xc4, 3, b'a', b'b', b'c'],
        vec![0xc5, 0, 1, 9],
        vec![0xc6, 0, 0, 0, 1, 9],
        vec![0xdc, 0, 1, 0xc0],
        vec![0xdd, 0, 0, 0, 1, 0xc0],
        vec![0xde, 0, 1, 1, 2],
        vec![0xdf, 0, 0, 0, 1, 1, 2],
        vec![0xc7, 0, 4],
        vec![0xc8, 0, 1, 4, 9],
        vec![0xc9, 0, 0, 0, 1, 4, 9],
        vec![0xd4, 0xff, 1],
        vec![0x92, 0xd4, 5, 1, 0xc7, 0, 7],
        vec![0x81, 0xa1, b'x', 0xd4, 5, 1],
        // Int keys in every form: the value path visits them as i64 (a struct's field index wants a u64).
        vec![0x81, 0x00, 0x05],
        vec![0x81, 0xcc, 0x00, 0x05],
        vec![0x81, 0xd0, 0x00, 0x05],
        vec![0x81, 0xa1, b'x', 0x05],
        vec![0x91, 0xcc, 0x05],
        // Enums: unit variant as a str, as a map to nil, variants as maps; a one-entry map with a bin key.
        vec![0xa5, b'E', b'm', b'p', b't', b'y'],
        vec![0x81, 0xa5, b'E', b'm', b'p', b't', b'y', 0xc0],
        vec![0x81, 0xa6, b'C', b'i', b'r', b'c', b'l', b'e', 0xcb, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0],
        vec![0x81, 0xa4, b'R', b'e', b'c', b't', 0x92, 0x01, 0x02],
        vec![0x81, 0xa4, b'R', b'e', b'c', b't', 0x92, 0x01, 0x02],
        vec![0x81, 0xa5, b'N', b'a', b'm', b'e', b'd', 0x92, 0xa1, b'n', 0x03],
        vec![0x81, 0xa5, b'N', b'a', b'm', b'e', b'd', 0x81, 0xa4, b'n', b'a', b'm', b'e', 0xa1, b'n'],
        vec![0x81, 0xc4, 5, b'E', b'm', b'p', b't', b'y', 0xc0],
        // Strings as bin (pynvim), a datetime's text, a byte string filling a Vec<u8>.
        vec![
            0xc4, 17, b'1', b'9', b'9', b'8', b'0', b'7', b'1', b'7', b'T', b'1', b'4', b':', b'0', b'8', b':', b'5',
            b'5',
        ],
    ];
    for bytes in cases {
        let decoded = decode(&bytes, DEPTH).unwrap();
        assert_eq!(from_slice::<Value>(&bytes, DEPTH).unwrap(), decoded, "{bytes:x?}");
        let read = agrees_for_all(&bytes, &decoded).unwrap();
        assert!(read > 0, "{bytes:x?}");
    }
    assert_eq!(from_slice::<Shape>(&[0x81, 0xa5, b'E', b'm', b'p', b't', b'y', 0xc0], DEPTH).unwrap(), Shape::Empty);
    assert_eq!(from_slice::<String>(&[0xc4, 2, b'h', b'i'], DEPTH).unwrap(), "hi");
    assert_eq!(from_slice::<Vec<u8>>(&[0xc4, 2, 1, 2], DEPTH).unwrap(), [1, 2]);
    assert_eq!(from_slice::<Vec<u8>>(&[0xa2, 0xff, 0xfe], DEPTH).unwrap(), [0xff, 0xfe]);
    assert_eq!(from_slice::<Value>(&[0xa2, 0xff, 0xfe], DEPTH).unwrap(), Value::Bytes(vec![0xff, 0xfe]));
    assert_eq!(from_slice::<Ext>(&[0xd4, 5, 1], DEPTH).unwrap(), Ext::new(5, [1]));
    assert_eq!(from_slice::<Ext>(&[0x92, 5, 0xc4, 1, 1], DEPTH).unwrap(), Ext::new(5, [1]));
    assert_eq!(from_slice::<Value>(&[0xcf, 0xff, 0, 0, 0, 0, 0, 0, 0], DEPTH).unwrap(), Value::UInt(0xff << 56));
    // Borrowed where the type borrows.
    let bytes = [0x92, 0xa2, b'h', b'i', 0xc4, 1, 7];
    let (s, b): (&str, &[u8]) = from_slice(&bytes, DEPTH).unwrap();
    assert_eq!((s, b), ("hi", &[7][..]));
}

#[test]
fn marker_maps_stay_maps() {
    // `{"$rpc_core::Ext": [1, b"x"]}` from the wire is a map: `Value`'s visitor, which rebuilds an ext from a
    // one-entry marker map, is not given it as one.
    for marker in [rpc_core::encoding::EXT_MARKER, rpc_core::encoding::DATETIME_MARKER] {
        let mut m = Map::new();
        m.push(marker, Value::Array(vec![1.into(), Value::Bytes(b"x".to_vec())]));
        let bytes = encode(&Value::Map(m.clone()));
        assert_eq!(from_slice::<Value>(&bytes, DEPTH).unwrap(), Value::Map(m.clone()));
        assert_eq!(decode(&bytes, DEPTH).unwrap(), Value::Map(m.clone()));
        assert_eq!(from_value::<Value>(Value::Map(m.clone())).unwrap(), Value::Map(m));
        // Any other first key is fine.
        let mut m = Map::new();
        m.push("a", 1);
        m.push(marker, 2);
        let bytes = encode(&Value::Map(m.clone()));
        assert_eq!(from_slice::<Value>(&bytes, DEPTH).unwrap(), Value::Map(m));
    }
}

/// A `Serialize` that writes `n` items without saying how many up front.
struct Unsized(usize, bool);

impl Serialize for Unsized {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{SerializeMap, SerializeSeq};
        if self.1 {
            let mut map = serializer.serialize_map(None)?;
            for i in 0..self.0 {
                map.serialize_entry(&i, &format!("v{i}"))?;
            }
            map.end()
        } else {
            let mut seq = serializer.serialize_seq(None)?;
            for i in 0..self.0 {
                seq.serialize_element(&Unsized(i % 3, i % 2 == 0))?;
            }
            seq.end()
        }
    }
}

/// A `Serialize` whose declared length is wrong.
struct Liar(usize, usize);

impl Serialize for Liar {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq;
        let mut seq = serializer.serialize_seq(Some(self.0))?;
        for i in 0..self.1 {
            seq.serialize_element(&i)?;
        }
        seq.end()
    }
}

#[test]
fn unknown_and_wrong_lengths_are_counted() {
    for n in [0, 1, 15, 16, 17, 300, 65535, 65536, 70_000] {
        for as_map in [false, true] {
            let value = Unsized(n, as_map);
            let mut buf = BytesMut::from(&b"x"[..]);
            to_writer(&value, &mut buf).unwrap();
            assert_eq!(&buf[1..], &encode(&to_value(&value).unwrap())[..], "{n} {as_map}");
        }
    }
    for (declared, actual) in [(0, 20), (20, 0), (100_000, 3), (3, 100_000), (16, 15)] {
        let mut buf = BytesMut::new();
        to_writer(&Liar(declared, actual), &mut buf).unwrap();
        assert_eq!(&buf[..], &encode(&to_value(&Liar(declared, actual)).unwrap())[..], "{declared} {actual}");
    }
}

#[test]
fn serializing_errors_leave_the_buffer_as_it_was() {
    /// Serializes a seq, one of whose elements fails; swallowing the error if asked to.
    struct Failing(bool);
    impl Serialize for Failing {
        fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            use serde::ser::SerializeSeq;
            let mut seq = serializer.serialize_seq(Some(3))?;
            seq.serialize_element(&1)?;
            let failed = seq.serialize_element(&(1i128 << 100));
            if !self.0 {
                failed?;
            }
            seq.serialize_element(&3)?;
            seq.end()
        }
    }
    for swallow in [false, true] {
        let mut buf = BytesMut::from(&b"kept"[..]);
        assert!(to_writer(&Failing(swallow), &mut buf).is_err());
        assert_eq!(&buf[..], b"kept");
    }
    // What ser.rs refuses, refused: integers beyond 64 bits, a bad datetime or ext.
    let mut buf = BytesMut::from(&b"kept"[..]);
    assert!(to_writer(&(1u128 << 64), &mut buf).is_err());
    assert!(to_writer(&-(1i128 << 64), &mut buf).is_err());
    assert!(rpc_core::to_value(&(1u128 << 64)).is_err());
    assert_eq!(&buf[..], b"kept");
    struct Named(&'static str, Value);
    impl Serialize for Named {
        fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            serializer.serialize_newtype_struct(self.0, &self.1)
        }
    }
    let odd = [
        Named(rpc_core::encoding::DATETIME_STRUCT_NAME, Value::from("not a date")),
        Named(rpc_core::encoding::DATETIME_STRUCT_NAME, Value::Int(1)),
        Named(rpc_core::encoding::EXT_STRUCT_NAME, Value::Array(vec![Value::Int(300), Value::Bytes(vec![])])),
        Named(rpc_core::encoding::EXT_STRUCT_NAME, Value::Array(vec![Value::Int(1)])),
        Named(rpc_core::encoding::EXT_STRUCT_NAME, Value::from("x")),
    ];
    for named in &odd {
        assert!(to_value(named).is_err());
        assert!(to_writer(named, &mut buf).is_err());
        assert_eq!(&buf[..], b"kept");
    }
    // And what it accepts, alike: a datetime in its extended form, an ext from a (u8, bytes).
    let fine = [
        Named(rpc_core::encoding::DATETIME_STRUCT_NAME, Value::from("1998-07-17T14:08:55Z")),
        Named(rpc_core::encoding::EXT_STRUCT_NAME, Value::Array(vec![Value::Int(-1), Value::Bytes(vec![1, 2, 3, 4])])),
        Named("other", Value::from("x")),
    ];
    for named in &fine {
        let mut buf = BytesMut::new();
        to_writer(named, &mut buf).unwrap();
        assert_eq!(&buf[..], &encode(&to_value(named).unwrap())[..]);
    }
}

#[test]
fn visitors_that_leave_bytes_unread_or_swallow_errors_are_refused() {
    /// Reads nothing of its newtype.
    #[derive(Debug, PartialEq)]
    struct Skip;
    impl<'de> Deserialize<'de> for Skip {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Skip, D::Error> {
            struct V;
            impl<'de> serde::de::Visitor<'de> for V {
                type Value = Skip;
                fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                    f.write_str("anything")
                }
                fn visit_newtype_struct<D: serde::Deserializer<'de>>(self, _: D) -> Result<Skip, D::Error> {
                    Ok(Skip)
                }
            }
            d.deserialize_newtype_struct("Skip", V)
        }
    }
    /// Takes a failed read as `None`.
    #[derive(Debug, PartialEq)]
    struct Lenient(Option<Vec<i64>>);
    impl<'de> Deserialize<'de> for Lenient {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Lenient, D::Error> {
            Ok(Lenient(Vec::<i64>::deserialize(d).ok()))
        }
    }
    let bytes = encode(&Value::Array(vec![5.into(), 6.into()]));
    assert_eq!(from_value::<(Skip, i64)>(decode(&bytes, DEPTH).unwrap()).unwrap(), (Skip, 6));
    assert!(from_slice::<(Skip, i64)>(&bytes, DEPTH).is_err());
    let bytes = encode(&Value::Array(vec![Value::Array(vec![1.into(), "x".into(), 3.into()]), 5.into()]));
    assert_eq!(from_value::<(Lenient, i64)>(decode(&bytes, DEPTH).unwrap()).unwrap(), (Lenient(None), 5));
    assert!(from_slice::<(Lenient, i64)>(&bytes, DEPTH).is_err());
    // Read whole, they are fine.
    let bytes = encode(&Value::Array(vec![Value::Array(vec![1.into()]), 5.into()]));
    assert_eq!(from_slice::<(Lenient, i64)>(&bytes, DEPTH).unwrap(), (Lenient(Some(vec![1])), 5));
    // A tuple shorter than its array fails both ways; longer too.
    let bytes = encode(&Value::Array(vec![1.into(), 2.into()]));
    assert!(from_value::<(i64,)>(decode(&bytes, DEPTH).unwrap()).is_err());
    assert!(from_slice::<(i64,)>(&bytes, DEPTH).is_err());
    assert!(from_slice::<(i64, i64, i64)>(&bytes, DEPTH).is_err());
}

/// Message-shaped values, valid and not.
fn message_like() -> impl Strategy<Value = Value> {
    let kind = prop_oneof![
        Just(Value::Int(0)),
        Just(Value::Int(1)),
        Just(Value::Int(2)),
        Just(Value::Int(3)),
        Just(Value::Int(-1)),
        Just(Value::Float(0.0)),
        Just(Value::from("0"))
    ];
    let id = prop_oneof![
        any::<u32>().prop_map(Value::from),
        Just(Value::Int(-1)),
        Just(Value::Int(1 << 32)),
        Just(Value::UInt(u64::MAX)),
        Just(Value::Nil),
        Just(Value::from("1"))
    ];
    let method = prop_oneof![
        ".{0,12}".prop_map(Value::String),
        "[a-z]{1,8}".prop_map(|s| Value::Bytes(s.into_bytes())),
        Just(Value::Bytes(vec![0xff, 0xfe])),
        Just(Value::Int(5)),
        Just(Value::Nil)
    ];
    let params = prop_oneof![
        4 => proptest::collection::vec(any_value(), 0..4).prop_map(Value::Array),
        1 => any_value(),
    ];
    (kind, id, method, params, any_value(), 0usize..6).prop_map(|(kind, id, method, params, other, len)| {
        let request = matches!(kind, Value::Int(0));
        let mut items = match &kind {
            Value::Int(1) => vec![kind, id, other, params],
            Value::Int(2) => vec![kind, method, params],
            _ if request || len % 2 == 0 => vec![kind, id, method, params],
            _ => vec![kind, method, params],
        };
        match len {
            0 => items.truncate(2),
            1 => items.push(Value::Nil),
            _ => {}
        }
        Value::Array(items)
    })
}

/// The helpers against `Message::from_value`, on one frame.
fn check_envelope(frame: &[u8]) -> Result<(), TestCaseError> {
    let request = typed::request_parts(frame);
    let response = typed::response_parts(frame);
    let message = decode(frame, 1 << 10).map(Message::from_value);
    let raw = |bytes: &[u8]| decode(bytes, 1 << 10);
    match message {
        Some(Ok(Message::Request { id, method, params })) => {
            let parts = request.ok_or_else(|| TestCaseError::fail(format!("request not read: {frame:x?}")))?;
            prop_assert_eq!((parts.id, parts.method), (Some(id), method.as_str()));
            prop_assert_eq!(raw(parts.params), Some(Value::Array(params)));
            prop_assert!(response.is_none());
        }
        Some(Ok(Message::Notification { method, params })) => {
            let parts = request.ok_or_else(|| TestCaseError::fail(format!("notification not read: {frame:x?}")))?;
            prop_assert_eq!((parts.id, parts.method), (None, method.as_str()));
            prop_assert_eq!(raw(parts.params), Some(Value::Array(params)));
            prop_assert!(response.is_none());
        }
        Some(Ok(Message::Response { id, result })) => {
            let parts = response.ok_or_else(|| TestCaseError::fail(format!("response not read: {frame:x?}")))?;
            prop_assert_eq!(parts.id, id);
            match result {
                Ok(result) => {
                    prop_assert!(!parts.is_error());
                    prop_assert_eq!(raw(parts.error), Some(Value::Nil));
                    prop_assert_eq!(raw(parts.result), Some(result));
                }
                Err(error) => {
                    prop_assert!(parts.is_error());
                    prop_assert_eq!(raw(parts.error), Some(error));
                    prop_assert!(raw(parts.result).is_some());
                }
            }
            prop_assert!(request.is_none());
        }
        Some(Err(_)) | None => {
            prop_assert!(request.is_none(), "{:?} read from {:x?}", request, frame);
            prop_assert!(response.is_none(), "{:?} read from {:x?}", response, frame);
        }
    }
    if let Some(parts) = request {
        let items: Vec<&[u8]> = typed::array_items(parts.params).unwrap().collect();
        let Some(Value::Array(params)) = raw(parts.params) else { unreachable!() };
        prop_assert_eq!(items.len(), params.len());
        for (item, param) in items.iter().zip(params) {
            prop_assert_eq!(raw(item), Some(param));
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1024, ..ProptestConfig::default() })]

    #[test]
    fn envelopes_agree_with_message_from_value(value in message_like()) {
        check_envelope(&encode(&value))?;
    }

    #[test]
    fn envelopes_of_real_messages_are_read(id in any::<u32>(), method in ".{0,20}", params in proptest::collection::vec(any_value(), 0..4), error in any_value()) {
        for message in [
            Message::Request { id, method: method.clone(), params: params.clone() },
            Message::Notification { method: method.clone(), params: params.clone() },
            Message::Response { id, result: Ok(Value::Array(params.clone())) },
            Message::Response { id, result: Err(error.clone()) },
        ] {
            let mut buf = BytesMut::new();
            message.encode(&mut buf).unwrap();
            prop_assert!(typed::request_parts(&buf).is_some() || typed::response_parts(&buf).is_some());
            check_envelope(&buf)?;
        }
    }

    #[test]
    fn corrupted_envelopes_agree(
        value in message_like(),
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..3),
    ) {
        let mut bytes = encode(&value);
        for (at, byte) in flips {
            let i = at.index(bytes.len());
            bytes[i] = byte;
        }
        check_envelope(&bytes)?;
    }
}

#[test]
fn envelope_edge_cases() {
    let cases: Vec<Vec<u8>> = vec![
        // Requests, with the kind and the id in every int form, and a bin method.
        vec![0x94, 0x00, 0x05, 0xa1, b'm', 0x90],
        vec![0x94, 0xcc, 0x00, 0x05, 0xa1, b'm', 0x90],
        vec![0x94, 0xd0, 0x00, 0xd0, 0x05, 0xa1, b'm', 0x90],
        vec![0x94, 0x00, 0xce, 0xff, 0xff, 0xff, 0xff, 0xa1, b'm', 0x90],
        vec![0x94, 0x00, 0xcf, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xa1, b'm', 0x90],
        vec![0x94, 0x00, 0x05, 0xc4, 1, b'm', 0x91, 0x01],
        vec![0x94, 0x00, 0x05, 0xd9, 1, b'm', 0xdc, 0, 1, 0x01],
        vec![0x93, 0x02, 0xa1, b'n', 0x90],
        vec![0x94, 0x01, 0x05, 0xc0, 0x01],
        vec![0x94, 0x01, 0x05, 0xa1, b'e', 0xc0],
        vec![0xdc, 0, 4, 0x01, 0x05, 0xc0, 0x01],
        // Not messages, or not valid ones.
        vec![0x94, 0x00, 0xcf, 0, 0, 0, 1, 0, 0, 0, 0, 0xa1, b'm', 0x90], // msgid 2^32
        vec![0x94, 0x00, 0xff, 0xa1, b'm', 0x90],                         // msgid -1
        vec![0x94, 0x00, 0x05, 0xa2, 0xff, 0xfe, 0x90],                   // method not UTF-8
        vec![0x94, 0x00, 0x05, 0xc4, 1, 0xff, 0x90],                      // bin method not UTF-8
        vec![0x94, 0x00, 0x05, 0x05, 0x90],                               // method an int
        vec![0x94, 0x00, 0x05, 0xa1, b'm', 0x80],                         // params a map
        vec![0x95, 0x00, 0x05, 0xa1, b'm', 0x90, 0xc0],                   // an extra element
        vec![0x93, 0x00, 0x05, 0xa1, b'm'],                               // one short
        vec![0x94, 0x00, 0x05, 0xa1, b'm', 0x90, 0xc0],                   // trailing bytes
        vec![0x94, 0x00, 0x05, 0xa1, b'm', 0x91],                         // params cut short
        vec![0x94, 0x00, 0x05, 0xa1, b'm', 0x91, 0xc1],                   // the reserved byte
        vec![0x94, 0x02, 0x05, 0xa1, b'm', 0x90],                         // notification of 4
        vec![0x94, 0x03, 0x05, 0xa1, b'm', 0x90],                         // kind 3
        vec![0x93, 0x01, 0x05, 0xc0],                                     // response of 3
        vec![0x94, 0x01, 0xcf, 0, 0, 0, 1, 0, 0, 0, 0, 0xc0, 0xc0],       // response msgid 2^32
        vec![0x94, 0xca, 0, 0, 0, 0, 0x05, 0xa1, b'm', 0x90],             // kind a float
        vec![0x90],
        vec![0x80],
        vec![],
    ];
    for frame in cases {
        check_envelope(&frame).unwrap_or_else(|e| panic!("{frame:x?}: {e}"));
    }
    let parts = typed::request_parts(&[0x94, 0x00, 0x05, 0xc4, 1, b'm', 0x91, 0x01]).unwrap();
    assert_eq!(parts, typed::RequestParts { id: Some(5), method: "m", params: &[0x91, 0x01] });
    assert_eq!(
        typed::request_parts(&[0x94, 0x00, 0xce, 0xff, 0xff, 0xff, 0xff, 0xa1, b'm', 0x90]).unwrap().id,
        Some(u32::MAX)
    );
    assert!(typed::request_parts(&[0x94, 0x00, 0xcf, 0, 0, 0, 1, 0, 0, 0, 0, 0xa1, b'm', 0x90]).is_none());
    assert!(typed::request_parts(&[0x95, 0x00, 0x05, 0xa1, b'm', 0x90, 0xc0]).is_none());
    let response = typed::response_parts(&[0x94, 0x01, 0x05, 0xa1, b'e', 0xc0]).unwrap();
    assert_eq!(
        (response.id, response.error, response.result, response.is_error()),
        (5, &[0xa1, b'e'][..], &[0xc0][..], true)
    );
}

// ---------------------------------------------------------------------------------------------------------------
// Timing: `cargo test --release -p rpc-msgpack --test typed -- --ignored --nocapture`
// ---------------------------------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Dataset {
    name: String,
    records: Vec<Person>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Person {
    id: u64,
    name: String,
    email: String,
    age: u8,
    balance: f64,
    active: bool,
    tags: Vec<String>,
    manager: Option<u32>,
    address: Address,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Address {
    street: String,
    city: String,
    zip: u32,
    lat: f64,
    lon: f64,
}

fn dataset(n: usize) -> Dataset {
    let records = (0..n)
        .map(|i| Person {
            id: i as u64 * 7919,
            name: format!("Person Number {i}"),
            email: format!("person{i}@example.com"),
            age: (i % 90) as u8,
            balance: i as f64 * 1.25 - 300.5,
            active: i % 3 == 0,
            tags: (0..i % 5).map(|t| format!("tag-{t}")).collect(),
            manager: (i % 4 != 0).then_some(i as u32 / 10),
            address: Address {
                street: format!("{} Long Street", i * 3),
                city: ["Paris", "Lyon", "Nantes", "Lille"][i % 4].to_owned(),
                zip: 75000 + i as u32 % 1000,
                lat: 48.85 + i as f64 * 1e-4,
                lon: 2.35 - i as f64 * 1e-4,
            },
        })
        .collect();
    Dataset { name: "people".into(), records }
}

#[test]
#[ignore = "a timing: run in release mode with --ignored --nocapture"]
fn timing_against_rmp_serde() {
    use std::hint::black_box;
    use std::time::{Duration, Instant};

    let data = dataset(4000);
    let mut buf = BytesMut::new();
    to_writer(&data, &mut buf).unwrap();
    let reference = rmp_serde::to_vec_named(&data).unwrap();
    assert_eq!(&buf[..], &reference[..], "the typed path writes what rmp-serde writes");
    assert_eq!(from_slice::<Dataset>(&buf, DEPTH).unwrap(), data);
    println!("{} records, {} bytes", data.records.len(), buf.len());

    /// The best time of each, the candidates taking turns round by round (so that the state of the heap and
    /// of the machine falls on all alike).
    fn best<const N: usize>(rounds: usize, mut fs: [&mut dyn FnMut(); N]) -> [Duration; N] {
        let mut best = [Duration::MAX; N];
        for _ in 0..rounds {
            for (f, best) in fs.iter_mut().zip(&mut best) {
                let start = Instant::now();
                f();
                *best = (*best).min(start.elapsed());
            }
        }
        best
    }
    let [typed_ser, rmp_ser, value_ser, typed_de, rmp_de, value_de] = best(
        100,
        [
            &mut || {
                let mut buf = BytesMut::with_capacity(64);
                to_writer(black_box(&data), &mut buf).unwrap();
                black_box(buf);
            },
            &mut || {
                black_box(rmp_serde::to_vec_named(black_box(&data)).unwrap());
            },
            &mut || {
                let mut buf = BytesMut::with_capacity(64);
                encode_value(&to_value(black_box(&data)).unwrap(), &mut buf).unwrap();
                black_box(buf);
            },
            &mut || {
                black_box(from_slice::<Dataset>(black_box(&buf), DEPTH).unwrap());
            },
            &mut || {
                black_box(rmp_serde::from_slice::<Dataset>(black_box(&reference)).unwrap());
            },
            &mut || {
                let mut frame = BytesMut::from(black_box(&buf[..]));
                let value = Codec::new(1 << 26, DEPTH).decode(&mut frame).unwrap().unwrap();
                black_box(from_value::<Dataset>(value).unwrap());
            },
        ],
    );
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "serialize:   typed {:.3} ms, rmp-serde {:.3} ms, value path {:.3} ms",
        ms(typed_ser),
        ms(rmp_ser),
        ms(value_ser)
    );
    println!(
        "deserialize: typed {:.3} ms, rmp-serde {:.3} ms, value path {:.3} ms",
        ms(typed_de),
        ms(rmp_de),
        ms(value_de)
    );
    let (typed, rmp, value) = (typed_ser + typed_de, rmp_ser + rmp_de, value_ser + value_de);
    println!(
        "both:        typed {:.3} ms, rmp-serde {:.3} ms, value path {:.3} ms: typed / rmp-serde = {:.2}, value / typed = {:.2}",
        ms(typed),
        ms(rmp),
        ms(value),
        typed.as_secs_f64() / rmp.as_secs_f64(),
        value.as_secs_f64() / typed.as_secs_f64()
    );
}

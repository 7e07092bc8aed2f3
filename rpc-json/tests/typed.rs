//! The typed path against the value path: the same text written, the same values read (or a refusal), for
//! values of every kind and for the typed data a service passes; hostile input never panics.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::fmt::Debug;

use proptest::prelude::*;
use rpc_core::{DateTime, Ext, Value, from_value, to_value};
use rpc_json::codec::typed::{self, from_slice, to_writer};
use rpc_json::codec::{decode_value, encode_value};
use rpc_test_support::values::{any_value, datetime, ext};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;

/// Strings and one-entry map keys the typed path must treat as the value path does: the tags, the probe enum's
/// variant names, a datetime's text.
const WORDS: [&str; 10] =
    ["$base64", "$datetime", "$ext", "$map", "$float", "Empty", "Circle", "Rect", "Named", "19980717T14:08:55"];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Inner {
    label: String,
    weight: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Record {
    id: u64,
    name: String,
    score: f64,
    ratio: f32,
    delta: i32,
    tags: Vec<String>,
    note: Option<String>,
    inner: Inner,
    children: Vec<Inner>,
    flag: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum Shape {
    Empty,
    Circle(f64),
    Rect(u32, u32),
    Named { name: String, sides: Option<u8> },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Rich {
    #[serde(with = "serde_bytes")]
    blob: Vec<u8>,
    when: DateTime,
    ext: Ext,
    by_number: BTreeMap<i64, String>,
    by_name: BTreeMap<String, Shape>,
    shapes: Vec<Shape>,
    any: Value,
    unit: (),
    pair: (i64, String),
    big: u64,
    wide: i128,
    char: char,
}

fn inner() -> impl Strategy<Value = Inner> {
    (".{0,8}", any::<f64>()).prop_map(|(label, weight)| Inner { label, weight })
}

fn record() -> impl Strategy<Value = Record> {
    (
        any::<u64>(),
        ".{0,12}",
        any::<f64>(),
        any::<f32>(),
        any::<i32>(),
        proptest::collection::vec(".{0,6}", 0..4),
        proptest::option::of(".{0,6}"),
        inner(),
        proptest::collection::vec(inner(), 0..3),
        any::<bool>(),
    )
        .prop_map(|(id, name, score, ratio, delta, tags, note, inner, children, flag)| Record {
            id,
            name,
            score,
            ratio,
            delta,
            tags,
            note,
            inner,
            children,
            flag,
        })
}

fn shape() -> impl Strategy<Value = Shape> {
    prop_oneof![
        Just(Shape::Empty),
        any::<f64>().prop_map(Shape::Circle),
        (any::<u32>(), any::<u32>()).prop_map(|(w, h)| Shape::Rect(w, h)),
        (".{0,6}", proptest::option::of(any::<u8>())).prop_map(|(name, sides)| Shape::Named { name, sides }),
    ]
}

fn rich() -> impl Strategy<Value = Rich> {
    (
        (proptest::collection::vec(any::<u8>(), 0..16), datetime(), ext()),
        proptest::collection::btree_map(any::<i64>(), ".{0,4}", 0..3),
        proptest::collection::btree_map(".{0,4}", shape(), 0..3),
        proptest::collection::vec(shape(), 0..3),
        any_value(&WORDS),
        (any::<i64>(), ".{0,4}"),
        any::<u64>(),
        prop_oneof![any::<i64>().prop_map(i128::from), any::<u64>().prop_map(i128::from)],
        any::<char>(),
    )
        .prop_map(|((blob, when, ext), by_number, by_name, shapes, any, pair, big, wide, char)| Rich {
            blob,
            when,
            ext,
            by_number,
            by_name,
            shapes,
            any,
            unit: (),
            pair,
            big,
            wide,
            char,
        })
}

/// The typed path writes what the value path writes, after what `out` held already.
fn written<T: Serialize>(t: &T) -> Vec<u8> {
    let mut out = b"[".to_vec();
    to_writer(t, &mut out).unwrap();
    assert_eq!(out[0], b'[');
    let text = out.split_off(1);
    let value_path = encode_value(&to_value(t).unwrap()).unwrap();
    assert_eq!(String::from_utf8(text.clone()).unwrap(), value_path);
    text
}

/// When the typed path reads `json` as a `T`, the value path reads the same; whether it read.
fn reads_alike<T: DeserializeOwned + Serialize + Debug + 'static>(json: &[u8]) -> bool {
    let Ok(typed) = from_slice::<T>(json, 64) else { return false };
    let text = String::from_utf8_lossy(json);
    let value = decode_value(json, 64).unwrap_or_else(|e| panic!("{text}: value path: {e}"));
    let value: T = from_value(value).unwrap_or_else(|e| panic!("{text}: value path into the type: {e}"));
    assert_eq!(format!("{typed:?}"), format!("{value:?}"), "{text}");
    assert_eq!(to_value(&typed).ok(), to_value(&value).ok(), "{text}");
    true
}

/// [`reads_alike`] for every type of the matrix; how many read.
fn all_read_alike(json: &[u8]) -> usize {
    [
        reads_alike::<Value>(json),
        reads_alike::<i64>(json),
        reads_alike::<u64>(json),
        reads_alike::<f64>(json),
        reads_alike::<f32>(json),
        reads_alike::<i128>(json),
        reads_alike::<bool>(json),
        reads_alike::<char>(json),
        reads_alike::<String>(json),
        reads_alike::<ByteBuf>(json),
        reads_alike::<Vec<u8>>(json),
        reads_alike::<Option<i64>>(json),
        reads_alike::<Option<Value>>(json),
        reads_alike::<Vec<Value>>(json),
        reads_alike::<BTreeMap<String, Value>>(json),
        reads_alike::<BTreeMap<i64, Value>>(json),
        reads_alike::<(i64, String)>(json),
        reads_alike::<Record>(json),
        reads_alike::<Shape>(json),
        reads_alike::<Vec<Shape>>(json),
        reads_alike::<Rich>(json),
        reads_alike::<DateTime>(json),
        reads_alike::<Ext>(json),
        reads_alike::<()>(json),
    ]
    .into_iter()
    .filter(|&read| read)
    .count()
}

/// A typed value: written as the value path writes it, and read back by the typed path itself.
fn round_trips<T: DeserializeOwned + Serialize + Debug + 'static>(t: &T) -> Vec<u8> {
    let text = written(t);
    let back: T = from_slice(&text, 64).unwrap_or_else(|e| panic!("{}: {e}", String::from_utf8_lossy(&text)));
    assert_eq!(format!("{back:?}"), format!("{t:?}"));
    assert!(reads_alike::<T>(&text));
    text
}

#[test]
fn hand_picked_texts_read_alike() {
    for json in [
        "null",
        "true",
        "0",
        "-0",
        "1.0",
        "1e3",
        "-1.5e-3",
        "9223372036854775807",
        "9223372036854775808",
        "18446744073709551615",
        "18446744073709551616",
        "-9223372036854775809",
        r#""x""#,
        r#""\u00e9\n""#,
        r#""Empty""#,
        r#""19980717T14:08:55""#,
        "[]",
        "{}",
        r#"[1,"a"]"#,
        r#"[1,"a",2]"#,
        r#"{"Circle":1}"#,
        r#"{"Rect":[1,2]}"#,
        r#"{"Named":{"name":"n","sides":null}}"#,
        r#"{"Named":["n",3]}"#,
        r#"{"$base64":"AP8="}"#,
        r#"{"$base64":""}"#,
        r#"{"$datetime":"1998-07-17T14:08:55"}"#,
        r#"{"$ext":[1,"AQ=="]}"#,
        r#"{"$float":"-Infinity"}"#,
        r#"{"$map":[[1,2],["a",{"$base64":"AQ=="}]]}"#,
        r#"{"$map":[["Circle",1.5]]}"#,
        r#"{"$map":[]}"#,
        r#"{"$other":1}"#,
        r#"[5,{"$base64":"AQID"}]"#,
        r#"[5,"AQID"]"#,
        r#"{"a":1,"a":2}"#,
        r#"{"1":1}"#,
        r#"{"label":"l","weight":1}"#,
    ] {
        all_read_alike(json.as_bytes());
    }
    assert_eq!(all_read_alike(b"null"), 4, "Value, Option<i64>, Option<Value>, ()");
}

#[test]
fn ordinary_data_takes_the_typed_path() {
    let record = Record {
        id: 7,
        name: "héllo \"w\"".into(),
        score: -0.5,
        ratio: 0.1,
        delta: -3,
        tags: vec!["a".into(), String::new()],
        note: None,
        inner: Inner { label: "in".into(), weight: 2.0 },
        children: vec![Inner { label: "c".into(), weight: 1e-9 }],
        flag: true,
    };
    let text = round_trips(&record);
    assert!(text.starts_with(br#"{"id":7,"name":"h"#));
    round_trips(&vec![
        Shape::Empty,
        Shape::Circle(1.0),
        Shape::Rect(1, 2),
        Shape::Named { name: "n".into(), sides: None },
    ]);
    round_trips(&(1i64, "one".to_owned()));
    round_trips(&"19980717T14:08:55".parse::<DateTime>().unwrap());
    round_trips(&Ext::new(-5, [1, 2]));
    round_trips(&ByteBuf::from(vec![0, 255]));
    round_trips(&vec![0u8, 255]);
    round_trips(&Some(5i64));
    round_trips(&());
    round_trips(&f64::NAN);
    round_trips(&u64::MAX);
}

#[test]
fn nesting_over_the_limit_is_refused() {
    let deep = format!("{}1{}", "[".repeat(65), "]".repeat(65));
    assert!(from_slice::<Value>(deep.as_bytes(), 64).is_err());
    assert!(decode_value(deep.as_bytes(), 64).is_err());
    assert!(from_slice::<Value>(deep.as_bytes(), 65).is_ok());
    // The deepest any setting allows (MAX_DEPTH), arrays and objects, read by the typed path on a test thread.
    let deepest = format!("{}{}1{}{}", "[".repeat(60), r#"{"a":"#.repeat(60), "}".repeat(60), "]".repeat(60));
    let value = from_slice::<Value>(deepest.as_bytes(), 1000).unwrap();
    assert_eq!(value, decode_value(deepest.as_bytes(), 1000).unwrap());
    let very_deep = "[".repeat(1_000_000);
    assert!(from_slice::<Value>(very_deep.as_bytes(), 10_000).is_err(), "clamped to MAX_DEPTH");
    let objects = r#"{"a":"#.repeat(200);
    assert!(from_slice::<Record>(objects.as_bytes(), 64).is_err());
    // Params: the array itself is not counted, as the server counts.
    let params = format!("[{}1{}]", "[".repeat(64), "]".repeat(64));
    assert!(typed::from_params_slice::<Vec<Value>>(params.as_bytes(), 64).is_ok());
    assert!(from_slice::<Vec<Value>>(params.as_bytes(), 64).is_err());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn values_write_and_read_alike(value in any_value(&WORDS)) {
        let text = written(&value);
        prop_assert_eq!(from_slice::<Value>(&text, 64).unwrap(), value);
        all_read_alike(&text);
    }

    #[test]
    fn typed_data_writes_and_reads_alike(record in record(), shape in shape(), rich in rich()) {
        round_trips(&record);
        round_trips(&shape);
        round_trips(&rich);
        round_trips(&(record.clone(), vec![shape.clone()], Some(rich.clone())));
        all_read_alike(&written(&record));
        all_read_alike(&written(&rich));
    }

    #[test]
    fn mangled_texts_read_alike(
        value in any_value(&WORDS),
        record in record(),
        at in any::<prop::sample::Index>(),
        byte in prop_oneof![Just(b'"'), Just(b'$'), Just(b'{'), Just(b'}'), Just(b'['), Just(b']'), Just(b','), Just(b':'), Just(b'0'), Just(b'-'), Just(b'.'), Just(b'e'), any::<u8>()],
    ) {
        for text in [written(&value), written(&record)] {
            let i = at.index(text.len());
            let mut changed = text.clone();
            changed[i] = byte;
            all_read_alike(&changed);
            all_read_alike(&text[..i]);
            let mut inserted = text.clone();
            inserted.insert(i, byte);
            all_read_alike(&inserted);
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        all_read_alike(&bytes);
        let _ = typed::from_params_slice::<Vec<Value>>(&bytes, 64);
    }
}

/// A rough timing against serde_json straight into and out of the same struct:
/// `cargo test --release -p rpc-json --test typed -- --ignored --nocapture timing`.
#[test]
#[ignore = "a timing, for release builds"]
fn timing() {
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    struct Batch {
        records: Vec<Record>,
    }
    let records = (0..4000u32)
        .map(|i| Record {
            id: u64::from(i) * 7919,
            name: format!("record number {i} with a name"),
            score: f64::from(i) * 1.25 + 0.1,
            ratio: i as f32 / 3.0,
            delta: -(i as i32),
            tags: (0..4).map(|t| format!("tag-{t}-{i}")).collect(),
            note: (i % 2 == 0).then(|| format!("note {i}")),
            inner: Inner { label: format!("inner {i}"), weight: f64::from(i) / 7.0 },
            children: (0..2).map(|c| Inner { label: format!("child {c}"), weight: f64::from(c) + 0.5 }).collect(),
            flag: i % 3 == 0,
        })
        .collect();
    let batch = Batch { records };
    let ours = written(&batch);
    let theirs = serde_json::to_vec(&batch).unwrap();
    println!("{} bytes of JSON (serde_json: {})", ours.len(), theirs.len());
    let back: Batch = from_slice(&ours, 64).unwrap();
    assert_eq!(back, batch);

    let rounds = 30;
    let time = |label: &str, mut f: Box<dyn FnMut()>| {
        f();
        let start = std::time::Instant::now();
        for _ in 0..rounds {
            f();
        }
        let per = start.elapsed() / rounds;
        println!("{label:<36} {per:>10.2?}");
        per
    };
    let mut out = Vec::with_capacity(ours.len());
    let w_ours = time(
        "typed::to_writer",
        Box::new(|| {
            out.clear();
            to_writer(&batch, &mut out).unwrap();
        }),
    );
    let mut out2 = Vec::with_capacity(ours.len());
    let w_json = time(
        "serde_json::to_writer",
        Box::new(|| {
            out2.clear();
            serde_json::to_writer(&mut out2, &batch).unwrap();
        }),
    );
    let w_value = time("to_value + encode_value", Box::new(|| drop(encode_value(&to_value(&batch).unwrap()).unwrap())));
    let r_ours = time("typed::from_slice", Box::new(|| drop(from_slice::<Batch>(&ours, 64).unwrap())));
    let r_json = time("serde_json::from_slice", Box::new(|| drop(serde_json::from_slice::<Batch>(&theirs).unwrap())));
    time("serde_json::from_slice, our text", Box::new(|| drop(serde_json::from_slice::<Batch>(&ours).unwrap())));
    time("check_depth", Box::new(|| rpc_json::codec::check_depth(std::hint::black_box(&ours), 64).unwrap()));
    let r_value = time(
        "decode_value + from_value",
        Box::new(|| drop(from_value::<Batch>(decode_value(&ours, 64).unwrap()).unwrap())),
    );
    println!(
        "write: {:.2}x serde_json ({:.2}x faster than the value path); read: {:.2}x serde_json ({:.2}x faster than the value path)",
        w_ours.as_secs_f64() / w_json.as_secs_f64(),
        w_value.as_secs_f64() / w_ours.as_secs_f64(),
        r_ours.as_secs_f64() / r_json.as_secs_f64(),
        r_value.as_secs_f64() / r_ours.as_secs_f64(),
    );
}

//! MessagePack decoding of arbitrary bytes arriving in arbitrary chunks: the resumable `Codec` never panics,
//! gives the same values and the same error whether the bytes come all at once or piece by piece, and every
//! value (and every MessagePack-RPC message read from one) encodes to bytes that decode to the same again.
//!
//! The codec's one serde path (`codec::typed`, which the `Codec` and `encode_value` run for `Value`s) is held to
//! its references on every whole object: where it reads the bytes into a struct, it reads what `from_value` reads
//! from the `Value` it reads from them; its envelopes agree with `Message`; the bytes it writes for a value are
//! the bytes rmp-serde writes for it.
//!
//! Input layout: byte 0 picks the size and depth limits, byte 1 seeds the chunk sizes, the rest is the stream.

#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use rpc_core::{Value, from_value};
use rpc_fuzz::Probe;
use rpc_msgpack::codec::{Codec, Message, encode_value, typed};
use tokio_util::codec::Decoder;

/// What a codec makes of a stream: the values it yields, then the error that stopped it (if any).
#[derive(Debug, PartialEq)]
struct Outcome {
    values: Vec<Value>,
    error: Option<String>,
}

/// Feeds `chunks` to a fresh codec one after another, decoding all it can after each.
fn run<'a>(codec: &Codec, chunks: impl IntoIterator<Item = &'a [u8]>) -> Outcome {
    let mut codec = codec.clone();
    let mut buf = BytesMut::new();
    let mut values = Vec::new();
    for chunk in chunks {
        buf.extend_from_slice(chunk);
        loop {
            match codec.decode(&mut buf) {
                Ok(Some(v)) => values.push(v),
                Ok(None) => break,
                Err(e) => return Outcome { values, error: Some(e.to_string()) },
            }
        }
    }
    Outcome { values, error: None }
}

/// Splits `data` into chunks of 1 to 16 bytes, their sizes drawn from a small generator seeded by `seed`.
fn chunks(data: &[u8], seed: u8) -> Vec<&[u8]> {
    let mut state = u32::from(seed) | 0x100;
    let mut out = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        let n = (state % 16 + 1) as usize;
        let (head, tail) = rest.split_at(n.min(rest.len()));
        out.push(head);
        rest = tail;
    }
    out
}

/// Where the codec reads a whole object into a struct, it reads what `from_value` reads from its `Value`.
fn typed_agrees(stream: &[u8], max_size: usize, max_depth: usize) {
    let mut codec = Codec::new(max_size, max_depth);
    let mut buf = BytesMut::from(stream);
    while let Ok(Some(frame)) = codec.decode_frame(&mut buf) {
        let Ok(value) = codec.read(&frame) else { break };
        if let Ok(typed) = typed::from_slice::<Probe>(&frame, max_depth) {
            assert_eq!(Some(typed), from_value::<Probe>(value.clone()).ok(), "typed struct: {frame:02x?}");
        }
        let message = Message::from_value(value.clone());
        let params_of = |bytes: &[u8]| Codec::new(usize::MAX, max_depth).read(bytes).ok();
        if let Some(parts) = typed::request_parts(&frame) {
            let (id, method, params) = match message {
                Ok(Message::Request { id, method, params }) => (Some(id), method, params),
                Ok(Message::Notification { method, params }) => (None, method, params),
                other => panic!("request_parts read {parts:?}, the value path {other:?}"),
            };
            assert_eq!((parts.id, parts.method), (id, method.as_str()), "{frame:02x?}");
            assert_eq!(params_of(parts.params), Some(Value::Array(params)), "{frame:02x?}");
        } else if let Some(parts) = typed::response_parts(&frame) {
            let Ok(Message::Response { id, result }) = message else {
                panic!("response_parts read {parts:?}, the value path {message:?}")
            };
            assert_eq!(parts.id, id, "{frame:02x?}");
            match result {
                Ok(result) => assert_eq!((parts.is_error(), params_of(parts.result)), (false, Some(result))),
                Err(error) => assert_eq!((parts.is_error(), params_of(parts.error)), (true, Some(error))),
            }
        }
        let mut bytes = BytesMut::new();
        if encode_value(&value, &mut bytes).is_ok() {
            let reference = rmp_serde::to_vec(&value).unwrap_or_else(|e| panic!("rmp-serde cannot write it: {e}"));
            assert_eq!(&bytes[..], &reference[..], "the bytes of {value:?} are not rmp-serde's");
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let [limits, seed, stream @ ..] = data else { return };
    // Sizes from 64 bytes to 8 KiB and depths from 1 to 64, so the limits are hit as often as not.
    let max_size = 64usize << (limits & 7);
    let max_depth = [1, 2, 3, 4, 8, 16, 32, 64][usize::from(limits >> 5)];
    let codec = Codec::new(max_size, max_depth);

    let whole = run(&codec, [stream]);
    let pieces = run(&codec, chunks(stream, *seed));
    assert_eq!(whole, pieces, "the same stream decodes differently in chunks");
    let bytewise = run(&codec, stream.chunks(1));
    assert_eq!(whole, bytewise, "the same stream decodes differently byte by byte");
    typed_agrees(stream, max_size, max_depth);

    // Encoding writes floats as float 64, so a value may grow: read it back with room to spare.
    let reader = Codec::new(usize::MAX, max_depth);
    for value in whole.values {
        let mut bytes = BytesMut::new();
        encode_value(&value, &mut bytes).unwrap_or_else(|e| panic!("a decoded value does not encode: {e}"));
        let again = run(&reader, [&bytes[..]]);
        assert_eq!(again, Outcome { values: vec![value.clone()], error: None }, "value round trip: {bytes:02x?}");

        if let Ok(message) = Message::from_value(value) {
            let mut bytes = BytesMut::new();
            message.encode(&mut bytes).unwrap_or_else(|e| panic!("a decoded message does not encode: {e}"));
            let again = run(&reader, [&bytes[..]]);
            let [value] = &again.values[..] else { panic!("our own message does not decode: {again:?}") };
            match Message::from_value(value.clone()) {
                Ok(again) => assert_eq!(again, message, "message round trip: {bytes:02x?}"),
                Err(e) => panic!("our own message is not a message: {e}: {bytes:02x?}"),
            }
        }
    }
});

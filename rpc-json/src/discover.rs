//! `rpc.discover`: an [OpenRPC](https://spec.open-rpc.org) document of the served methods, built from the
//! `#[service]` metadata (names, param names and types, doc comments).
//!
//! Each param's and result's schema is a JSON Schema type guessed from the Rust type (`i64` is
//! `{"type": "integer"}`), with the Rust type itself under `x-rust-type`; `Value` params have an empty schema
//! (anything goes).
//!
//! A stream method (see [`rpc_core::stream`]) is listed under its subscribe name, its `result` being each item,
//! with the extension member `"x-subscription": {"notification": NAME, "unsubscribe": NAME}` (OpenRPC has no
//! word for subscriptions). A method marked `#[rpc(idempotent)]` has `"x-idempotent": true`: clients may send it
//! again when it failed without an answer.

use rpc_core::{Fault, Map, MethodInfo, Value};

/// The method name OpenRPC reserves for the document.
pub(crate) const METHOD: &str = "rpc.discover";

/// The OpenRPC version the document follows.
const OPENRPC_VERSION: &str = "1.3.2";

/// The document for `methods`, in their order.
pub(crate) fn document(methods: &[MethodInfo]) -> Value {
    let mut info = Map::new();
    info.push("title", "rpc-json service");
    info.push("version", env!("CARGO_PKG_VERSION"));
    let mut doc = Map::new();
    doc.push("openrpc", OPENRPC_VERSION);
    doc.push("info", info);
    doc.push("methods", Value::Array(methods.iter().map(method).collect()));
    Value::Map(doc)
}

/// The answer to a `rpc.discover` call: the document, for a call without params.
pub(crate) fn answer(doc: &Value, params: &[Value]) -> Result<Value, Fault> {
    match params.len() {
        0 => Ok(doc.clone()),
        n => Err(Fault::invalid_params(format!("{METHOD} takes 0 params, got {n}"))),
    }
}

fn method(m: &MethodInfo) -> Value {
    let params = m
        .params
        .iter()
        .map(|p| {
            let mut param = Map::new();
            param.push("name", p.name);
            param.push("required", !p.optional);
            param.push("schema", schema(p.ty));
            Value::Map(param)
        })
        .collect();
    let mut result = Map::new();
    result.push("name", if m.stream.is_some() { "item" } else { "result" });
    result.push("schema", schema(m.returns));
    let mut out = Map::new();
    out.push("name", m.name.as_ref());
    if !m.docs.is_empty() {
        out.push("description", m.docs);
    }
    out.push("params", Value::Array(params));
    out.push("result", result);
    out.push("paramStructure", "either");
    if m.idempotent {
        out.push("x-idempotent", true);
    }
    if let Some(stream) = &m.stream {
        let mut subscription = Map::new();
        subscription.push("notification", stream.notification.as_ref());
        subscription.push("unsubscribe", stream.unsubscribe.as_ref());
        out.push("x-subscription", subscription);
    }
    Value::Map(out)
}

/// A JSON Schema for a Rust type as written in the trait, with the type under `x-rust-type`.
fn schema(rust: &str) -> Value {
    let mut s = Map::new();
    if let Some(ty) = json_type(rust) {
        s.push("type", ty);
    }
    s.push("x-rust-type", rust);
    Value::Map(s)
}

/// The JSON type a Rust type goes out as, when there is one (`None` for `Value`: any type).
fn json_type(rust: &str) -> Option<&'static str> {
    let ty = rust.trim();
    let ty = ty.strip_prefix('&').unwrap_or(ty).trim();
    if ty == "()" {
        return Some("null");
    }
    if ty.starts_with('(') || ty.starts_with('[') {
        return Some("array");
    }
    let head = ty.split('<').next().unwrap_or(ty);
    match head.rsplit("::").next().unwrap_or(head).trim() {
        "i8" | "i16" | "i32" | "i64" | "i128" | "isize" | "u8" | "u16" | "u32" | "u64" | "u128" | "usize" => {
            Some("integer")
        }
        "f32" | "f64" => Some("number"),
        "bool" => Some("boolean"),
        "String" | "str" | "char" | "Cow" => Some("string"),
        "Vec" | "VecDeque" | "HashSet" | "BTreeSet" | "LinkedList" => Some("array"),
        "Option" | "Box" | "Arc" | "Rc" => {
            ty.find('<').and_then(|i| ty.rfind('>').map(|j| &ty[i + 1..j])).and_then(json_type)
        }
        "Value" => None,
        // Maps, structs, and the `{"$...": ...}` spellings of bytes and datetimes.
        _ => Some("object"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_and_documents() {
        for (rust, json) in [
            ("i64", Some("integer")),
            ("f64", Some("number")),
            ("Option<String>", Some("string")),
            ("Vec<u8>", Some("array")),
            ("(i32, i32)", Some("array")),
            ("rpc_core::Value", None),
            ("Option<Value>", None),
            ("HashMap<String, i64>", Some("object")),
            ("()", Some("null")),
        ] {
            assert_eq!(json_type(rust), json, "{rust}");
        }
        static PARAMS: [rpc_core::ParamInfo; 1] = [rpc_core::ParamInfo::new("num", "i64", false)];
        let doc = document(&[MethodInfo::new("double", &PARAMS, "i64", "Returns num * 2.")]);
        let text = crate::codec::encode_value(&doc).unwrap();
        assert!(text.contains(r#"{"name":"double","description":"Returns num * 2.","params":[{"name":"num","required":true,"schema":{"type":"integer","x-rust-type":"i64"}}]"#), "{text}");
        assert!(answer(&doc, &[Value::Nil]).is_err());
    }
}

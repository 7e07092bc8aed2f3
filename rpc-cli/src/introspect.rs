//! `rpc list` and `rpc help`: introspection in each protocol's own way (its scheme's [`Introspection`]), where
//! the server offers it.
//!
//! - XML-RPC: `system.listMethods`, `system.methodSignature` and `system.methodHelp`.
//! - JSON-RPC (over HTTP, TCP or a Unix socket): `rpc.discover` (an OpenRPC document, as `rpc-json` servers
//!   answer it).
//! - MessagePack-RPC has no standard; Neovim's `nvim_get_api_info` is used when the server answers it.
//! - zerorpc: `_zerorpc_list` and `_zerorpc_inspect`.

use rpc_core::{Fault, Value};

use crate::conn::{Conn, no_introspection};
use crate::scheme::{Introspection, Target};
use crate::{Failure, show};

const LIST_METHODS: &str = "system.listMethods";
const METHOD_HELP: &str = "system.methodHelp";
const METHOD_SIGNATURE: &str = "system.methodSignature";
const DISCOVER: &str = "rpc.discover";
const NVIM_API_INFO: &str = "nvim_get_api_info";
const ZERORPC_LIST: &str = "_zerorpc_list";
const ZERORPC_INSPECT: &str = "_zerorpc_inspect";

/// The names of the server's methods, sorted.
pub async fn list(conn: &Conn, target: &Target) -> Result<Vec<String>, Failure> {
    let mut names: Vec<String> = match target.scheme.introspection {
        Introspection::SystemMethods => {
            let names = ask(conn, target, LIST_METHODS, vec![]).await?;
            strings(names.as_array().unwrap_or_default())
        }
        Introspection::Discover => {
            methods(&ask(conn, target, DISCOVER, vec![]).await?, "methods").iter().map(name).collect()
        }
        Introspection::NvimApiInfo => {
            let info = ask(conn, target, NVIM_API_INFO, vec![]).await?;
            nvim_functions(&info).iter().map(name).collect()
        }
        Introspection::ZerorpcInspect => {
            strings(ask(conn, target, ZERORPC_LIST, vec![]).await?.as_array().unwrap_or_default())
        }
    };
    names.sort_unstable();
    Ok(names)
}

/// A method's signatures (one line each) and documentation.
pub async fn help(conn: &Conn, target: &Target, method: &str) -> Result<String, Failure> {
    let mut lines = Vec::new();
    match target.scheme.introspection {
        Introspection::SystemMethods => {
            let docs = conn.call(METHOD_HELP, vec![method.into()]).await;
            let sigs = conn.call(METHOD_SIGNATURE, vec![method.into()]).await;
            // Python answers "signatures not supported" (a string) where it has none.
            if let Ok(Value::Array(sigs)) = &sigs {
                for sig in sigs.iter().filter_map(Value::as_array) {
                    let types = strings(sig);
                    if let Some((ret, params)) = types.split_first() {
                        lines.push(format!("{method}({}) -> {ret}", params.join(", ")));
                    }
                }
            }
            match (docs, sigs) {
                (Ok(docs), _) => lines.extend(docs.as_str().filter(|d| !d.is_empty()).map(str::to_owned)),
                (Err(e), Ok(_)) if !lines.is_empty() => drop(e),
                (Err(Failure::Fault(fault, _)), _) if fault.code != Fault::METHOD_NOT_FOUND => {
                    return Err(no_introspection(target, METHOD_HELP, fault));
                }
                (Err(e), _) => return Err(e),
            }
        }
        Introspection::Discover => {
            let doc = ask(conn, target, DISCOVER, vec![]).await?;
            let all = methods(&doc, "methods");
            let m = all.iter().find(|m| name(m) == method).ok_or_else(|| not_listed(target, method, all))?;
            let params: Vec<String> = methods(m, "params")
                .iter()
                .map(|p| format!("{}: {}", name(p), schema_type(p.as_map().and_then(|p| p.get_str("schema")))))
                .collect();
            let result = m.as_map().and_then(|m| m.get_str("result")).and_then(Value::as_map);
            let ret = schema_type(result.and_then(|r| r.get_str("schema")));
            // A stream method: its result is each item, sent as a notification (rpc-json's `x-subscription`).
            let subscription = m.as_map().and_then(|m| m.get_str("x-subscription"));
            let idempotent = m.as_map().and_then(|m| m.get_str("x-idempotent")).and_then(Value::as_bool);
            match subscription {
                None => lines.push(format!("{method}({}) -> {ret}", params.join(", "))),
                Some(s) => {
                    lines.push(format!("{method}({}) -> stream of {ret}", params.join(", ")));
                    let (notification, unsubscribe) = (text(s, "notification"), text(s, "unsubscribe"));
                    lines.push(format!(
                        "A subscription: items come as {:?} notifications; {:?} ends it (rpc subscribe).",
                        notification.unwrap_or_default(),
                        unsubscribe.unwrap_or_default()
                    ));
                }
            }
            lines.extend(text(m, "description"));
            if idempotent == Some(true) {
                // As `system.methodHelp` says it (rpc-json's `x-idempotent`).
                lines.extend(["".to_owned(), "Idempotent: safe to send again.".to_owned()]);
            }
        }
        Introspection::ZerorpcInspect => {
            let inspect = ask(conn, target, ZERORPC_INSPECT, vec![]).await?;
            let all = inspect.as_map().and_then(|i| i.get_str("methods")).and_then(Value::as_map);
            let m = all.and_then(|all| all.get_str(method)).ok_or_else(|| {
                let names: Vec<Value> = all.map(|all| all.iter().map(|(k, _)| k.clone()).collect()).unwrap_or_default();
                not_listed(target, method, &names)
            })?;
            let args: Vec<String> = methods(m, "args").iter().map(name).collect();
            lines.push(format!("{method}({})", args.join(", ")));
            lines.extend(text(m, "doc").filter(|d| !d.is_empty()));
        }
        Introspection::NvimApiInfo => {
            let info = ask(conn, target, NVIM_API_INFO, vec![]).await?;
            let all = nvim_functions(&info);
            let f = all.iter().find(|f| name(f) == method).ok_or_else(|| not_listed(target, method, all))?;
            let params: Vec<String> =
                methods(f, "parameters").iter().map(|p| strings(p.as_array().unwrap_or_default()).join(" ")).collect();
            let ret = text(f, "return_type").unwrap_or_else(|| "?".into());
            lines.push(format!("{method}({}) -> {ret}", params.join(", ")));
        }
    }
    Ok(lines.join("\n"))
}

/// Whether the server says `method` may safely run twice (`#[rpc(idempotent)]`): in `system.methodHelp` or
/// OpenRPC's `x-idempotent`. False where it does not say, or cannot.
pub async fn idempotent(conn: &Conn, target: &Target, method: &str) -> bool {
    match target.scheme.introspection {
        Introspection::SystemMethods => ask(conn, target, METHOD_HELP, vec![Value::from(method)])
            .await
            .is_ok_and(|help| help.as_str().is_some_and(|h| h.ends_with("Idempotent: safe to send again."))),
        Introspection::Discover => ask(conn, target, DISCOVER, vec![]).await.is_ok_and(|doc| {
            methods(&doc, "methods").iter().any(|m| {
                name(m) == method
                    && m.as_map().and_then(|m| m.get_str("x-idempotent")).and_then(Value::as_bool) == Some(true)
            })
        }),
        Introspection::NvimApiInfo | Introspection::ZerorpcInspect => false,
    }
}

/// Calls an introspection method; its fault means the server does not offer introspection that way.
async fn ask(conn: &Conn, target: &Target, method: &str, params: Vec<Value>) -> Result<Value, Failure> {
    conn.call(method, params).await.map_err(|e| match e {
        Failure::Fault(fault, _) => no_introspection(target, method, fault),
        other => other,
    })
}

fn not_listed(target: &Target, method: &str, all: &[Value]) -> Failure {
    let names: Vec<String> = all.iter().map(name).collect();
    Failure::other(format!("{target} lists no method {method:?}; `rpc list` shows its {} methods", names.len()))
}

/// The strings of an array, skipping anything else.
fn strings(items: &[Value]) -> Vec<String> {
    items.iter().filter_map(Value::as_str).map(str::to_owned).collect()
}

/// The array under `key` of a map (empty if there is none).
fn methods<'a>(v: &'a Value, key: &str) -> &'a [Value] {
    v.as_map().and_then(|m| m.get_str(key)).and_then(Value::as_array).unwrap_or_default()
}

fn text(v: &Value, key: &str) -> Option<String> {
    v.as_map().and_then(|m| m.get_str(key)).and_then(Value::as_str).map(str::to_owned)
}

fn name(v: &Value) -> String {
    text(v, "name").unwrap_or_default()
}

/// A JSON Schema's type for a signature line: the Rust type `rpc-json` records, else the JSON type, else "any".
fn schema_type(schema: Option<&Value>) -> String {
    let schema = schema.and_then(Value::as_map);
    let get = |k: &str| schema.and_then(|s| s.get_str(k));
    match (get("x-rust-type"), get("type")) {
        (Some(Value::String(rust)), _) => rust.clone(),
        (_, Some(Value::String(ty))) => ty.clone(),
        (_, Some(other)) => show(other, false),
        _ => "any".into(),
    }
}

/// Neovim's `[channel, {functions: [...]}]`.
fn nvim_functions(info: &Value) -> &[Value] {
    info.as_array().and_then(|i| i.get(1)).map(|api| methods(api, "functions")).unwrap_or_default()
}

//! The `system.*` methods every XML-RPC server answers on its own: `system.multicall` and introspection
//! (`system.listMethods`, `system.methodHelp`, `system.methodSignature`).

use std::collections::HashSet;
use std::sync::Arc;

use rpc_core::encoding::{Reply, serve_call, serve_call_value};
use rpc_core::{BoxFuture, CallParams, Context, Dispatch, Fault, MethodInfo, Value};

/// A call's answer: the handler's result (or a system method's value), or its fault.
pub(crate) type Answer = Result<Reply, Fault>;

fn reply(value: Value) -> Reply {
    Box::new(value)
}

/// The default cap on the number of calls in one `system.multicall`.
pub const DEFAULT_MAX_MULTICALL: usize = 1000;

const MULTICALL: &str = "system.multicall";
const LIST_METHODS: &str = "system.listMethods";
const METHOD_HELP: &str = "system.methodHelp";
const METHOD_SIGNATURE: &str = "system.methodSignature";

/// Which system methods are on, and the multicall cap.
#[derive(Debug, Clone)]
pub(crate) struct SystemConfig {
    pub introspection: bool,
    pub multicall: bool,
    pub max_multicall: usize,
}

/// A dispatcher plus the system methods, routed by name. A method of the user's with a system name wins.
pub(crate) struct Routes<D> {
    dispatch: Arc<D>,
    config: SystemConfig,
    /// The user's methods, for introspection.
    methods: Vec<MethodInfo>,
    /// Their names, to let a user's own `system.*` method take precedence.
    user_names: HashSet<String>,
}

impl<D: Dispatch> Routes<D> {
    pub fn new(dispatch: Arc<D>, config: SystemConfig) -> Routes<D> {
        let methods = dispatch.methods();
        let user_names = methods.iter().map(|m| m.name.clone().into_owned()).collect();
        Routes { dispatch, config, methods, user_names }
    }

    fn system_names(&self) -> Vec<&'static str> {
        let mut names = Vec::new();
        if self.config.multicall {
            names.push(MULTICALL);
        }
        if self.config.introspection {
            names.extend([LIST_METHODS, METHOD_HELP, METHOD_SIGNATURE]);
        }
        names.retain(|n| !self.user_names.contains(*n));
        names
    }

    /// Handles one call: a system method here, anything else through the dispatcher (panics become faults).
    /// The answer is the handler's result as it is, for the codec to write straight.
    pub fn call(self: &Arc<Self>, method: &str, params: Vec<Value>, cx: Context) -> BoxFuture<'static, Answer> {
        if method == MULTICALL && self.config.multicall && !self.user_names.contains(method) {
            let this = self.clone();
            return Box::pin(async move { this.multicall(params, cx).await.map(reply) });
        }
        if let Some(answer) = self.introspect(method, &params) {
            return Box::pin(std::future::ready(answer.map(reply)));
        }
        Box::pin(serve_call(&*self.dispatch, method, CallParams::Values(params), cx))
    }

    /// The answer of an introspection method, when `method` is one that is on (and not the user's own).
    fn introspect(&self, method: &str, params: &[Value]) -> Option<Result<Value, Fault>> {
        if !self.config.introspection || !method.starts_with("system.") || self.user_names.contains(method) {
            return None;
        }
        match method {
            LIST_METHODS => Some(self.list_methods(params)),
            METHOD_HELP => Some(self.method_help(params)),
            METHOD_SIGNATURE => Some(self.method_signature(params)),
            _ => None,
        }
    }

    /// Runs the calls one after another, in order, as Python does; each answer is `[result]` or a fault
    /// struct in its place.
    async fn multicall(&self, params: Vec<Value>, cx: Context) -> Result<Value, Fault> {
        let calls = match <[Value; 1]>::try_from(params) {
            Ok([Value::Array(calls)]) => calls,
            _ => return Err(Fault::invalid_params("system.multicall takes one array of {methodName, params} structs")),
        };
        if calls.len() > self.config.max_multicall {
            return Err(Fault::invalid_request(format!(
                "system.multicall of {} calls is over the limit of {}",
                calls.len(),
                self.config.max_multicall
            )));
        }
        let mut results = Vec::with_capacity(calls.len());
        for (i, call) in calls.into_iter().enumerate() {
            let outcome = match split_call(call) {
                Ok((name, _)) if name == MULTICALL && !self.user_names.contains(MULTICALL) => {
                    Err(Fault::invalid_request("system.multicall cannot be nested"))
                }
                Ok((name, params)) => self.call_one(&name, params, cx.clone()).await,
                Err(msg) => Err(Fault::invalid_request(format!("system.multicall entry {i}: {msg}"))),
            };
            results.push(match outcome {
                Ok(v) => Value::Array(vec![v]),
                Err(f) => fault_struct(&f),
            });
        }
        Ok(Value::Array(results))
    }

    /// One call inside a multicall (system methods included, nesting excluded above).
    fn call_one(&self, method: &str, params: Vec<Value>, cx: Context) -> BoxFuture<'static, Result<Value, Fault>> {
        match self.introspect(method, &params) {
            Some(answer) => Box::pin(std::future::ready(answer)),
            None => Box::pin(serve_call_value(&*self.dispatch, method, params, cx)),
        }
    }

    fn list_methods(&self, params: &[Value]) -> Result<Value, Fault> {
        no_params(LIST_METHODS, params)?;
        let mut names: Vec<&str> = self.methods.iter().map(|m| m.name.as_ref()).collect();
        names.extend(self.system_names());
        names.sort_unstable();
        Ok(Value::Array(names.into_iter().map(Value::from).collect()))
    }

    fn method_help(&self, params: &[Value]) -> Result<Value, Fault> {
        let name = one_name(METHOD_HELP, params)?;
        if let Some(m) = self.methods.iter().find(|m| m.name == name) {
            return Ok(match &m.stream {
                None if m.idempotent => Value::from(idempotent_help(m.docs)),
                None => Value::from(m.docs),
                Some(stream) => Value::from(subscription_help(m.docs, &stream.notification, &stream.unsubscribe)),
            });
        }
        match self.system_names().into_iter().find(|n| *n == name) {
            Some(n) => Ok(Value::from(system_help(n))),
            None => Err(Fault::method_not_found(name)),
        }
    }

    fn method_signature(&self, params: &[Value]) -> Result<Value, Fault> {
        let name = one_name(METHOD_SIGNATURE, params)?;
        if let Some(m) = self.methods.iter().find(|m| m.name == name) {
            return Ok(signatures(m));
        }
        let sig = |types: &[&str]| Value::Array(vec![Value::Array(types.iter().map(|t| Value::from(*t)).collect())]);
        match self.system_names().into_iter().find(|n| *n == name) {
            Some(MULTICALL) => Ok(sig(&["array", "array"])),
            Some(LIST_METHODS) => Ok(sig(&["array"])),
            Some(METHOD_HELP) => Ok(sig(&["string", "string"])),
            Some(_) => Ok(sig(&["array", "string"])),
            None => Err(Fault::method_not_found(name)),
        }
    }
}

fn no_params(method: &str, params: &[Value]) -> Result<(), Fault> {
    match params.len() {
        0 => Ok(()),
        n => Err(Fault::invalid_params(format!("{method} takes 0 params, got {n}"))),
    }
}

fn one_name<'a>(method: &str, params: &'a [Value]) -> Result<&'a str, Fault> {
    match params {
        [Value::String(name)] => Ok(name),
        _ => Err(Fault::invalid_params(format!("{method} takes 1 param (name: string)"))),
    }
}

fn system_help(name: &str) -> &'static str {
    match name {
        MULTICALL => {
            "Runs several calls in one request: takes an array of {methodName, params} structs and returns, in \
             order, [result] for each success and a {faultCode, faultString} struct for each failure."
        }
        LIST_METHODS => "Returns the names of every method this server answers.",
        METHOD_HELP => "Returns a method's documentation.",
        _ => "Returns a method's signatures: arrays of XML-RPC type names, the result's first, then each param's.",
    }
}

/// `[["int", "int"]]`-style signatures, one per number of params a caller may send (trailing optional params
/// may be left out).
fn signatures(m: &MethodInfo) -> Value {
    let ret = xml_type(m.returns);
    let all: Vec<&str> = m.params.iter().map(|p| xml_type(p.ty)).collect();
    let sigs = (m.required_params()..=all.len())
        .map(|n| Value::Array(std::iter::once(ret).chain(all[..n].iter().copied()).map(Value::from).collect()))
        .collect();
    Value::Array(sigs)
}

/// The XML-RPC type a Rust type (as written in the trait) goes out as.
pub(crate) fn xml_type(rust: &str) -> &'static str {
    let ty = rust.trim();
    let ty = ty.strip_prefix('&').unwrap_or(ty).trim();
    if ty == "()" {
        return "nil";
    }
    if ty.starts_with('(') || ty.starts_with('[') {
        return "array";
    }
    // The outermost type's last path segment: `std::collections::HashMap<K, V>` -> `HashMap`.
    let head = ty.split('<').next().unwrap_or(ty);
    let name = head.rsplit("::").next().unwrap_or(head).trim();
    match name {
        "i8" | "i16" | "i32" | "i64" | "i128" | "isize" | "u8" | "u16" | "u32" | "u64" | "u128" | "usize" => "int",
        "f32" | "f64" => "double",
        "bool" => "boolean",
        "String" | "str" | "char" | "Cow" => "string",
        "DateTime" => "dateTime.iso8601",
        "ByteBuf" | "Bytes" => "base64",
        // A plain `Vec<u8>` goes out as an array of ints (it reads base64 too); `serde_bytes` types are base64.
        "Vec" | "VecDeque" | "HashSet" | "BTreeSet" | "LinkedList" => "array",
        "Option" | "Box" | "Arc" | "Rc" => {
            let inner = ty.find('<').and_then(|i| ty.rfind('>').map(|j| &ty[i + 1..j]));
            inner.map_or("any", xml_type)
        }
        "Value" => "any",
        // Maps, and user structs, which serialize as maps.
        _ => "struct",
    }
}

/// A fault as the struct `system.multicall` puts in place of a result.
fn fault_struct(f: &Fault) -> Value {
    // Without data: data XML-RPC cannot carry would fail the whole multicall's answer.
    crate::codec::fault_struct(f, false)
}

/// `{methodName, params}` from a multicall entry.
fn split_call(call: Value) -> Result<(String, Vec<Value>), &'static str> {
    let Value::Map(m) = call else { return Err("not a struct") };
    let mut name = None;
    let mut params = None;
    for (k, v) in m {
        match (k.as_str(), v) {
            (Some("methodName"), Value::String(s)) => name = Some(s),
            (Some("params"), Value::Array(a)) => params = Some(a),
            (Some("methodName"), _) => return Err("methodName is not a string"),
            (Some("params"), _) => return Err("params is not an array"),
            _ => {}
        }
    }
    match name {
        Some(name) => Ok((name, params.unwrap_or_default())),
        None => Err("no methodName"),
    }
}

/// The sentence `system.methodHelp` adds to the docs of a method marked `#[rpc(idempotent)]`.
const IDEMPOTENT_HELP: &str = "Idempotent: safe to send again.";

/// The help of a method marked `#[rpc(idempotent)]`: its docs, then [`IDEMPOTENT_HELP`].
fn idempotent_help(docs: &str) -> String {
    if docs.is_empty() { IDEMPOTENT_HELP.to_owned() } else { format!("{docs}\n\n{IDEMPOTENT_HELP}") }
}

/// The help of a stream method: its docs, and what it is on the wire (a subscription, which XML-RPC over HTTP
/// cannot carry).
fn subscription_help(docs: &str, notification: &str, unsubscribe: &str) -> String {
    let about = format!(
        "A subscription: each item comes as the notification {notification:?}, and {unsubscribe:?} ends it; it needs \
         a duplex transport (TCP, a Unix socket, stdio or WebSocket), not HTTP."
    );
    if docs.is_empty() { about } else { format!("{docs}\n\n{about}") }
}

#[cfg(test)]
mod tests {
    use super::xml_type;

    #[test]
    fn rust_types_map_to_xml_rpc_types() {
        for (rust, xml) in [
            ("i64", "int"),
            ("u8", "int"),
            ("f64", "double"),
            ("bool", "boolean"),
            ("String", "string"),
            ("Vec<i64>", "array"),
            ("Vec<u8>", "array"),
            ("serde_bytes::ByteBuf", "base64"),
            ("(i32, String)", "array"),
            ("[u8; 4]", "array"),
            ("HashMap<String, i64>", "struct"),
            ("std::collections::BTreeMap<String, Vec<i64>>", "struct"),
            ("Point", "struct"),
            ("Option<i64>", "int"),
            ("Option<Vec<String>>", "array"),
            ("rpc_core::DateTime", "dateTime.iso8601"),
            ("rpc_core::Value", "any"),
            ("()", "nil"),
        ] {
            assert_eq!(xml_type(rust), xml, "{rust}");
        }
    }
}

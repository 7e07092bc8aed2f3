//! Interop with Python 3's standard library, both ways: `xmlrpc.client` calling our server
//! (`python/client.py`), and our client calling `xmlrpc.server` (`python/echo_server.py`). Every value type with
//! its edges (32/64-bit integers, signed zero and subnormal doubles, non-BMP text, escapes, CR, all byte values,
//! datetimes, nesting, empties, 1 MB), faults both ways, and connection reuse.
//!
//! python3 must be on `PATH`: without it these tests fail, they do not skip.
#![allow(clippy::expect_used, reason = "tests fail by panicking, with a message")]

use std::collections::BTreeMap;
use std::time::Duration;

use rpc_core::{Context, DateTime, Error, Fault, Map, RemoteAddr, Transport, Value};
use rpc_test_support::{bind_loopback, run_python, spawn_python_server};
use serde::{Deserialize, Serialize};

/// `python3 client.py URL`: calls our server, asserts on the Python side, prints `ok N`.
const PY_CLIENT: &str = include_str!("python/client.py");
/// A `SimpleXMLRPCServer` with `echo`, `double`, `describe`, `fail` and `ports`; prints its port first.
const PY_SERVER: &str = include_str!("python/echo_server.py");

// -------------------------------------------------------------------------------------------------------------
// Python's client, our server

/// A handler error with its own fault code. `Serialize`, so its fault carries it as a `faultData` member too,
/// which Python's `xmlrpc.client.Fault` takes as an extra keyword and ignores: the fault reads as ever.
#[derive(Debug, Serialize)]
pub struct NotFound(String);

impl From<NotFound> for Fault {
    fn from(e: NotFound) -> Fault {
        Fault::new(404, format!("no such key: {:?}", e.0))
    }
}

/// What `python/client.py` calls.
#[rpc_core::service]
pub trait Interop {
    /// Returns its param unchanged.
    async fn echo(&self, value: Value) -> Value;

    /// Returns num * 2.
    async fn double(&self, num: i64) -> i64;

    /// Integers beyond 32 bits (they go out as `<i8>`), which Python reads but cannot send.
    async fn big_ints(&self) -> Vec<i64>;

    /// Looks a key up; an unknown key is a fault with code 404.
    async fn lookup(&self, key: String) -> Result<String, NotFound>;

    /// Panics.
    async fn boom(&self) -> i64;

    /// The caller's TCP port: the same on every call while the connection is kept alive.
    async fn peer_port(&self, cx: &Context) -> u16;
}

struct InteropImpl;

impl Interop for InteropImpl {
    async fn echo(&self, value: Value) -> Value {
        value
    }

    async fn double(&self, num: i64) -> i64 {
        num * 2
    }

    async fn big_ints(&self) -> Vec<i64> {
        vec![1 << 31, -(1 << 31) - 1, (1 << 53) + 1, i64::MAX, i64::MIN]
    }

    async fn lookup(&self, key: String) -> Result<String, NotFound> {
        if key == "answer" { Ok("42".into()) } else { Err(NotFound(key)) }
    }

    async fn boom(&self) -> i64 {
        panic!("boom on purpose")
    }

    async fn peer_port(&self, cx: &Context) -> u16 {
        cx.get::<RemoteAddr>().map_or(0, |a| a.0.port())
    }
}

#[tokio::test]
async fn python_client_calls_our_server() {
    let listener = bind_loopback().await;
    let url = format!("http://{}/", listener.local_addr().expect("the listener's address"));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server =
        tokio::spawn(rpc_xml::Server::new(InteropServer::new(InteropImpl)).serve_with_shutdown(listener, async {
            let _ = stopped.await;
        }));

    let out = run_python(PY_CLIENT, &[&url]).await;
    assert!(out.starts_with("ok "), "the Python client's output: {out}");

    let _ = stop.send(());
    let served = tokio::time::timeout(Duration::from_secs(5), server).await;
    assert!(matches!(served, Ok(Ok(Ok(())))), "the server shuts down cleanly: {served:?}");
}

// -------------------------------------------------------------------------------------------------------------
// Our client, Python's server

/// A typed value that travels as a struct.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    name: String,
    #[serde(with = "serde_bytes")]
    blob: Vec<u8>,
    when: DateTime,
    tags: Vec<String>,
    score: f64,
    count: i32,
    maybe: Option<i32>,
    nothing: Option<i32>,
    scores: BTreeMap<String, Vec<f64>>,
}

/// What `python/echo_server.py` offers.
#[rpc_core::service]
pub trait PyPeer {
    /// Returns its param unchanged (here typed: the raw `Value` echo goes through `Transport::call`).
    async fn echo(&self, record: Record) -> Record;

    /// Returns num * 2.
    async fn double(&self, num: i64) -> i64;

    /// What Python decoded: its type name and `ascii()` form.
    async fn describe(&self, value: Value) -> String;

    /// Raises `ValueError(message)`, which Python's server sends as fault 1.
    async fn fail(&self, message: String) -> String;

    /// Each request so far (this one included).
    async fn seen(&self) -> Vec<Seen>;
}

/// What Python's server noted about one request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Seen {
    port: u16,
    content_encoding: String,
    accept_encoding: String,
}

fn datetime(s: &str) -> DateTime {
    s.parse().expect("a valid datetime literal")
}

fn map<const N: usize>(entries: [(&str, Value); N]) -> Value {
    Value::Map(entries.into_iter().map(|(k, v)| (Value::from(k), v)).collect::<Map>())
}

/// Values that Python's server echoes back exactly.
fn echo_cases() -> Vec<(&'static str, Value)> {
    let all_bytes: Vec<u8> = (0..=255).collect();
    let big: String = "plain ascii, <&> escapes, é, 😀𝄞\n".chars().cycle().take(1_000_000).collect();
    let mut ten_deep = Value::from("ten deep");
    for _ in 0..10 {
        ten_deep = Value::Array(vec![ten_deep]);
    }
    vec![
        ("nil", Value::Nil),
        ("true", true.into()),
        ("false", false.into()),
        ("0", 0.into()),
        ("-1", (-1).into()),
        ("i32::MAX", i32::MAX.into()),
        ("i32::MIN", i32::MIN.into()),
        ("0.0", 0.0.into()),
        ("-0.0", (-0.0).into()),
        ("1e300", 1e300.into()),
        ("-1e300", (-1e300).into()),
        ("5e-324", 5e-324.into()),
        ("f64::MIN_POSITIVE", f64::MIN_POSITIVE.into()),
        ("f64::MAX", f64::MAX.into()),
        ("0.1", 0.1.into()),
        ("1e16", 1e16.into()),
        ("123456.789", 123456.789.into()),
        ("empty string", "".into()),
        ("ascii", "hello".into()),
        ("beyond the BMP", "😀𝄞".into()),
        ("latin", "héllo wörld".into()),
        ("markup characters", "<&>\"'".into()),
        ("CDATA end", "]]>".into()),
        ("CDATA lookalike", "a]]>b<![CDATA[x]]>".into()),
        ("entity lookalikes", "&amp; &lt; &#13;".into()),
        ("tab and LF", "tab\there\nnewline".into()),
        ("spaces around", "  spaces around  ".into()),
        ("one space", " ".into()),
        ("one LF", "\n".into()),
        ("odd code points", "\u{2028}\u{a0}\u{feff}\u{fffd}\u{85}".into()),
        ("empty bytes", Value::Bytes(vec![])),
        ("a NUL byte", Value::Bytes(vec![0])),
        ("all 256 bytes", Value::Bytes(all_bytes.clone())),
        ("2560 bytes (many base64 lines)", Value::Bytes(all_bytes.repeat(10))),
        ("datetime", datetime("19980717T14:08:55").into()),
        ("datetime year 1", datetime("00010101T00:00:00").into()),
        ("datetime year 9999", datetime("99991231T23:59:59").into()),
        ("empty array", Value::Array(vec![])),
        ("empty struct", Value::Map(Map::new())),
        ("array of empty array", Value::Array(vec![Value::Array(vec![])])),
        ("array of empty struct", Value::Array(vec![Value::Map(Map::new())])),
        ("empty member name", map([("", "".into())])),
        (
            "mixed array",
            Value::Array(vec![
                1.into(),
                "two".into(),
                3.0.into(),
                Value::Nil,
                true.into(),
                Value::Bytes(vec![0xff]),
                datetime("20000101T00:00:00").into(),
                Value::Array(vec![]),
                Value::Map(Map::new()),
            ]),
        ),
        (
            "nested struct",
            map([
                ("a", 1.into()),
                (
                    "b",
                    Value::Array(vec![
                        1.into(),
                        map([("c", Value::Nil), ("d", Value::Array(vec![Value::Bytes(b"x".to_vec()), (-0.0).into()]))]),
                    ]),
                ),
                ("ключ😀", "v".into()),
                ("<&>", "escaped name".into()),
                ("", "empty name".into()),
                (" spaced name ", "kept".into()),
            ]),
        ),
        ("member order kept", map([("z", 1.into()), ("a", 2.into()), ("m", 3.into())])),
        ("ten deep", ten_deep),
        ("1 MB string", big.into()),
    ]
}

/// A value's `Debug` form, cut short for messages (some cases are 1 MB).
fn short(v: &Value) -> String {
    let s = format!("{v:?}");
    match s.char_indices().nth(300) {
        Some((i, _)) => format!("{}... ({} bytes)", &s[..i], s.len()),
        None => s,
    }
}

/// A call that must fail with a fault; returns it.
async fn expect_fault(client: &rpc_xml::Client, what: &str, method: &str, params: Vec<Value>) -> Fault {
    match client.call(method, params).await {
        Err(Error::Fault(f)) => f,
        other => panic!("{what}: expected a fault, got {other:?}"),
    }
}

#[tokio::test]
async fn our_client_calls_python_server() {
    let peer = spawn_python_server(PY_SERVER, &[]).await;
    let client = rpc_xml::Client::new(&format!("http://{}/", peer.addr())).expect("a valid URL");

    // Every value type, through `Transport::call` (Python's server takes our requests: they carry a
    // Content-Length, never a chunked body).
    for (what, value) in echo_cases() {
        match client.call("echo", vec![value.clone()]).await {
            Ok(got) => assert!(got == value, "echo of {what}: sent {}, got {}", short(&value), short(&got)),
            Err(e) => panic!("echo of {what}: {e}"),
        }
    }

    // What Python decoded, as Python types.
    let described = [
        (Value::Nil, "NoneType None"),
        (true.into(), "bool True"),
        (i32::MIN.into(), "int -2147483648"),
        ((-0.0).into(), "float -0.0"),
        (5e-324.into(), "float 5e-324"),
        ("😀".into(), r"str '\U0001f600'"),
        (Value::Bytes(vec![0, 0xff]), r"bytes b'\x00\xff'"),
        (datetime("19980717T14:08:55").into(), "datetime datetime.datetime(1998, 7, 17, 14, 8, 55)"),
        (Value::Array(vec![1.into(), "a".into()]), "list [1, 'a']"),
        (map([("k", 1.into())]), "dict {'k': 1}"),
    ];
    for (value, want) in described {
        let got = client.call("describe", vec![value.clone()]).await.expect("describe");
        assert_eq!(got, Value::from(want), "how Python decodes {value:?}");
    }

    // Integers beyond 32 bits: Python reads our `<i8>` exactly, but its marshaller cannot send them back (it
    // raises OverflowError while encoding the result, which its server turns into fault 1).
    for n in [1i64 << 31, -(1 << 31) - 1, (1 << 53) + 1, i64::MAX, i64::MIN] {
        let got = client.call("describe", vec![n.into()]).await.expect("describe of a 64-bit integer");
        assert_eq!(got, Value::from(format!("int {n}")), "Python reads {n}");
        let fault = expect_fault(&client, "echo of a 64-bit integer", "echo", vec![n.into()]).await;
        assert!(fault.code == 1 && fault.message.contains("OverflowError"), "echo of {n}: {fault}");
    }
    let fault = expect_fault(&client, "double of 2**40", "double", vec![(1i64 << 40).into()]).await;
    assert!(fault.code == 1 && fault.message.contains("OverflowError"), "double of 2**40: {fault}");

    // A CR survives the way in (we write it as `&#13;`) but not the way back: Python writes it raw, and an
    // XML parser reads a raw CR, alone or before LF, as LF.
    for (sent, python_sees, comes_back) in
        [("a\r\nb", r"str 'a\r\nb'", "a\nb"), ("a\rb", r"str 'a\rb'", "a\nb"), ("\r", r"str '\r'", "\n")]
    {
        let got = client.call("describe", vec![sent.into()]).await.expect("describe of a CR");
        assert_eq!(got, Value::from(python_sees), "Python reads {sent:?}");
        let got = client.call("echo", vec![sent.into()]).await.expect("echo of a CR");
        assert_eq!(got, Value::from(comes_back), "echo of {sent:?}");
    }

    // Year 0 is valid here but not in Python's datetime: Python fails to read the request.
    let fault = expect_fault(&client, "year 0", "echo", vec![datetime("00000101T00:00:00").into()]).await;
    assert!(fault.code == 1 && fault.message.contains("ValueError"), "year 0: {fault}");

    // Beyond i64 cannot be written as XML-RPC at all: a local error, nothing sent.
    let err = client.call("echo", vec![Value::UInt(u64::MAX)]).await.expect_err("u64::MAX cannot be sent");
    assert!(matches!(err, Error::Encode(_)), "u64::MAX: {err:?}");

    // Faults from Python: an exception in a function, and an unknown method, are both code 1.
    let fault = expect_fault(&client, "a Python exception", "fail", vec!["boom".into()]).await;
    assert_eq!((fault.code, fault.message.as_str()), (1, "<class 'ValueError'>:boom"));
    let fault = expect_fault(&client, "an unknown method", "no_such_method", vec![]).await;
    assert_eq!(
        (fault.code, fault.message.as_str()),
        (1, r#"<class 'Exception'>:method "no_such_method" is not supported"#)
    );
    assert_eq!(client.call("double", vec![7.into()]).await.expect("double after faults"), Value::Int(14));

    // system.multicall and introspection as Python's server offers them.
    let answers = client
        .multicall([("double", vec![7.into()]), ("fail", vec!["in a multicall".into()]), ("no_such_method", vec![])])
        .await
        .expect("a multicall");
    assert_eq!(answers.len(), 3, "{answers:?}");
    assert_eq!(answers[0], Ok(Value::Int(14)));
    assert_eq!(answers[1], Err(Fault::new(1, "<class 'ValueError'>:in a multicall")));
    assert!(matches!(&answers[2], Err(f) if f.code == 1 && f.message.contains("no_such_method")), "{answers:?}");
    let methods = client.call("system.listMethods", vec![]).await.expect("system.listMethods");
    let want = [
        "describe",
        "double",
        "echo",
        "fail",
        "seen",
        "system.listMethods",
        "system.methodHelp",
        "system.methodSignature",
        "system.multicall",
    ];
    assert_eq!(methods, Value::Array(want.into_iter().map(Value::from).collect()));
    let help = client.call("system.methodHelp", vec!["describe".into()]).await.expect("system.methodHelp");
    assert_eq!(help, Value::from("What Python decoded: its type name and ascii() form."));

    // Python serves `/` and `/RPC2`; another path is an HTTP error, not a fault.
    let rpc2 = rpc_xml::Client::new(&format!("http://{}/RPC2", peer.addr())).expect("a valid URL");
    assert_eq!(rpc2.call("double", vec![7.into()]).await.expect("double on /RPC2"), Value::Int(14));
    let elsewhere = rpc_xml::Client::new(&format!("http://{}/elsewhere", peer.addr())).expect("a valid URL");
    let err = elsewhere.call("double", vec![7.into()]).await.expect_err("no XML-RPC at /elsewhere");
    assert!(matches!(&err, Error::Transport(_)) && err.to_string().contains("404"), "{err}");

    // The generated typed client over the same transport.
    let typed = PyPeerClient::new(client);
    assert_eq!(typed.double(7).await.expect("typed double"), 14);
    let record = Record {
        name: "ada 😀 <&>".into(),
        blob: (0..=255).collect(),
        when: datetime("19980717T14:08:55"),
        tags: vec!["a".into(), String::new(), "]]>".into()],
        score: -0.5,
        count: i32::MIN,
        maybe: Some(7),
        nothing: None,
        scores: [("x".to_owned(), vec![0.1, 1e300]), ("y".to_owned(), vec![])].into_iter().collect(),
    };
    assert_eq!(typed.echo(record.clone()).await.expect("typed echo of a struct"), record);
    match typed.fail("typed boom").await {
        Err(Error::Fault(f)) => assert_eq!((f.code, f.message.as_str()), (1, "<class 'ValueError'>:typed boom")),
        other => panic!("a Python exception through the typed client: expected fault 1, got {other:?}"),
    }
}

#[tokio::test]
async fn our_client_keeps_connections_alive() {
    // An HTTP/1.1 Python server that notes the client port of every request.
    let peer = spawn_python_server(PY_SERVER, &["--keep-alive"]).await;
    let client = PyPeerClient::new(rpc_xml::Client::new(&format!("http://{}/", peer.addr())).expect("a valid URL"));
    for i in 0..20 {
        assert_eq!(client.double(i).await.expect("double"), 2 * i);
    }
    let mut ports: Vec<u16> = client.seen().await.expect("seen").iter().map(|s| s.port).collect();
    ports.dedup();
    assert_eq!(ports.len(), 1, "21 sequential calls should share one connection; client ports seen: {ports:?}");
}

#[tokio::test]
async fn gzip_both_ways_with_python_server() {
    let peer = spawn_python_server(PY_SERVER, &[]).await;
    let url = format!("http://{}/", peer.addr());
    let client = rpc_xml::Client::builder().gzip_requests_over(Some(0)).build(&url).expect("a valid URL");
    let typed = PyPeerClient::new(client.clone());
    // Python inflates our request, and compresses its answer (over 1400 bytes) since we accept gzip.
    let big: String = "gzip me, 😀 <&>\n".chars().cycle().take(1_000_000).collect();
    let got = client.call("echo", vec![big.as_str().into()]).await.expect("a 1 MB gzip echo");
    assert!(got == Value::from(big), "the 1 MB string came back changed");
    let seen = typed.seen().await.expect("seen");
    let echo = &seen[seen.len() - 2];
    assert_eq!(echo.content_encoding, "gzip", "the echo request was compressed: {seen:?}");
    assert!(echo.accept_encoding.contains("gzip"), "we accept gzip answers: {seen:?}");
}

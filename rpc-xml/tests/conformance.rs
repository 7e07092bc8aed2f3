//! XML-RPC conformance: table-driven wire fixtures for what we read, what we write, and what we refuse.
//!
//! Python's `xmlrpc` behaviour observed on the wire is the reference for layout and leniency; where Python
//! answers loosely (fault 1 for everything), we answer with the fault-interop codes. Refusals are checked end to
//! end against a running server, which must keep serving afterwards.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use rpc_core::{DateTime, Fault, Map, Transport, Value};
use rpc_xml::codec::{DEFAULT_MAX_DEPTH, decode_call, decode_response, encode_call, encode_response};

mod common;
use common::{client, post, raw, start};

const APACHE: &str = "xmlns:ex='http://ws.apache.org/xmlrpc/namespaces/extensions'";

fn dt(s: &str) -> Value {
    Value::DateTime(s.parse::<DateTime>().unwrap())
}

fn map(entries: &[(&str, Value)]) -> Value {
    Value::Map(entries.iter().map(|(k, v)| (*k, v.clone())).collect())
}

fn arr(items: Vec<Value>) -> Value {
    Value::Array(items)
}

/// Every form we must read, as one param of a call.
fn parse_cases() -> Vec<(&'static str, String, Value)> {
    let s = |x: &str| x.to_owned();
    vec![
        ("int", s("<value><int>7</int></value>"), Value::Int(7)),
        ("i4", s("<value><i4>-7</i4></value>"), Value::Int(-7)),
        ("i4 max", s("<value><i4>2147483647</i4></value>"), Value::Int(2147483647)),
        ("i4 min", s("<value><i4>-2147483648</i4></value>"), Value::Int(-2147483648)),
        ("i8 beyond 2^53", s("<value><i8>9007199254740993</i8></value>"), Value::Int(9007199254740993)),
        ("i8 max", s("<value><i8>9223372036854775807</i8></value>"), Value::Int(i64::MAX)),
        ("i8 min", s("<value><i8>-9223372036854775808</i8></value>"), Value::Int(i64::MIN)),
        ("i8 above i64 reads as unsigned", s("<value><i8>18446744073709551615</i8></value>"), Value::UInt(u64::MAX)),
        ("apache ex:i8", format!("<value><ex:i8 {APACHE}>5</ex:i8></value>"), Value::Int(5)),
        ("int with sign and spaces", s("<value><int> +42 </int></value>"), Value::Int(42)),
        ("boolean 1", s("<value><boolean>1</boolean></value>"), Value::Bool(true)),
        ("boolean 0 with spaces", s("<value><boolean> 0 </boolean></value>"), Value::Bool(false)),
        ("double", s("<value><double>-1.5</double></value>"), Value::Float(-1.5)),
        ("double exponent", s("<value><double>1e300</double></value>"), Value::Float(1e300)),
        ("double exponent sign", s("<value><double>1.5E-7</double></value>"), Value::Float(1.5e-7)),
        ("double negative zero", s("<value><double>-0.0</double></value>"), Value::Float(-0.0)),
        ("double subnormal", s("<value><double>5e-324</double></value>"), Value::Float(5e-324)),
        ("double integral", s("<value><double>3</double></value>"), Value::Float(3.0)),
        ("string", s("<value><string>hello</string></value>"), "hello".into()),
        ("string keeps spaces", s("<value><string>  a b  </string></value>"), "  a b  ".into()),
        ("empty string element", s("<value><string></string></value>"), "".into()),
        ("self-closed string", s("<value><string/></value>"), "".into()),
        ("untagged string keeps whitespace", s("<value>  untagged  </value>"), "  untagged  ".into()),
        ("empty value", s("<value></value>"), "".into()),
        ("self-closed value", s("<value/>"), "".into()),
        ("whitespace around a typed value", s("<value>\n  <int>3</int>\n</value>"), Value::Int(3)),
        ("predefined entities", s("<value><string>&lt;&gt;&amp;&quot;&apos;</string></value>"), "<>&\"'".into()),
        ("decimal char refs", s("<value><string>&#65;&#233;</string></value>"), "Aé".into()),
        ("char refs beyond the BMP", s("<value><string>&#128512;&#x1D11E;</string></value>"), "😀𝄞".into()),
        ("raw text beyond the BMP", s("<value><string>😀𝄞</string></value>"), "😀𝄞".into()),
        ("CDATA", s("<value><string><![CDATA[<raw> & ]]></string></value>"), "<raw> & ".into()),
        ("CDATA between text", s("<value><string>a<![CDATA[<b>]]>c</string></value>"), "a<b>c".into()),
        ("comment inside text", s("<value><string>a<!-- note -->b</string></value>"), "ab".into()),
        ("CRLF normalised, &#13; kept", s("<value><string>a\r\nb&#13;</string></value>"), "a\nb\r".into()),
        ("nil", s("<value><nil/></value>"), Value::Nil),
        ("nil open-close", s("<value><nil></nil></value>"), Value::Nil),
        ("apache ex:nil", format!("<value><ex:nil {APACHE}/></value>"), Value::Nil),
        ("base64", s("<value><base64>AAH/</base64></value>"), Value::Bytes(vec![0, 1, 255])),
        (
            "base64 with line breaks",
            s("<value><base64>\nAAH/\nAA==\n</base64></value>"),
            Value::Bytes(vec![0, 1, 255, 0]),
        ),
        ("base64 without padding", s("<value><base64>AAH/AA</base64></value>"), Value::Bytes(vec![0, 1, 255, 0])),
        ("empty base64", s("<value><base64></base64></value>"), Value::Bytes(vec![])),
        (
            "dateTime basic",
            s("<value><dateTime.iso8601>19980717T14:08:55</dateTime.iso8601></value>"),
            dt("19980717T14:08:55"),
        ),
        (
            "dateTime extended",
            s("<value><dateTime.iso8601>1998-07-17T14:08:55</dateTime.iso8601></value>"),
            dt("19980717T14:08:55"),
        ),
        (
            "dateTime compact time",
            s("<value><dateTime.iso8601>19980717T140855</dateTime.iso8601></value>"),
            dt("19980717T14:08:55"),
        ),
        (
            "dateTime zone and fraction dropped",
            s("<value><dateTime.iso8601>1998-07-17T14:08:55.25Z</dateTime.iso8601></value>"),
            dt("19980717T14:08:55"),
        ),
        ("empty array", s("<value><array><data></data></array></value>"), arr(vec![])),
        ("self-closed data", s("<value><array><data/></array></value>"), arr(vec![])),
        ("self-closed array", s("<value><array/></value>"), arr(vec![])),
        (
            "array of mixed values",
            s(
                "<value><array><data><value><int>1</int></value><value>x</value><value><nil/></value></data></array></value>",
            ),
            arr(vec![1.into(), "x".into(), Value::Nil]),
        ),
        ("empty struct", s("<value><struct></struct></value>"), map(&[])),
        (
            "struct member order kept",
            s(
                "<value><struct><member><name>z</name><value><int>1</int></value></member><member><name>a</name><value><int>2</int></value></member></struct></value>",
            ),
            map(&[("z", 1.into()), ("a", 2.into())]),
        ),
        (
            "nested struct and array, whitespace between elements",
            s(
                "<value>\n <struct>\n  <member>\n   <name>list</name>\n   <value><array>\n <data>\n <value><struct><member><name></name><value/></member></struct></value>\n </data>\n </array></value>\n  </member>\n </struct>\n</value>",
            ),
            map(&[("list", arr(vec![map(&[("", "".into())])]))]),
        ),
    ]
}

#[test]
fn reads_every_form() {
    let cases = parse_cases();
    assert!(cases.len() >= 40, "{} parse cases", cases.len());
    for (name, value_xml, expected) in cases {
        let body = format!(
            "<?xml version='1.0'?><methodCall><methodName>m</methodName><params><param>{value_xml}</param></params></methodCall>"
        );
        let (method, params) =
            decode_call(body.as_bytes(), DEFAULT_MAX_DEPTH).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(method, "m", "{name}");
        assert_eq!(params, vec![expected.clone()], "{name}");
        // And the same value as a response.
        let body = format!("<methodResponse><params><param>{value_xml}</param></params></methodResponse>");
        assert_eq!(
            decode_response(body.as_bytes(), DEFAULT_MAX_DEPTH).unwrap().unwrap(),
            expected,
            "{name} (response)"
        );
    }
}

#[test]
fn reads_call_and_response_shapes() {
    let shapes: Vec<(&str, &str, Vec<Value>)> = vec![
        ("no params element", "<methodCall><methodName>a.b</methodName></methodCall>", vec![]),
        ("empty params", "<methodCall><methodName>a.b</methodName><params/></methodCall>", vec![]),
        ("method name trimmed", "<methodCall><methodName>\n a.b \n</methodName></methodCall>", vec![]),
        (
            "declaration, BOM, comments and PIs",
            "\u{feff}<?xml version=\"1.0\" encoding=\"UTF-8\"?><!-- c --><?pi x?><methodCall><methodName>a.b</methodName></methodCall><!-- after -->\n",
            vec![],
        ),
        (
            "two params",
            "<methodCall><methodName>a.b</methodName><params><param><value><int>1</int></value></param><param><value>s</value></param></params></methodCall>",
            vec![1.into(), "s".into()],
        ),
    ];
    for (name, body, params) in shapes {
        let (method, got) = decode_call(body.as_bytes(), DEFAULT_MAX_DEPTH).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!((method.as_str(), got), ("a.b", params), "{name}");
    }
    let fault = "<methodResponse><fault><value><struct><member><name>faultCode</name><value><int>4</int></value></member><member><name>faultString</name><value><string>Too many parameters.</string></value></member></struct></value></fault></methodResponse>";
    assert_eq!(decode_response(fault.as_bytes(), 8).unwrap().unwrap_err(), Fault::new(4, "Too many parameters."));
    let untagged_fault = "<methodResponse><fault><value><struct><member><name>faultString</name><value>oops</value></member><member><name>faultCode</name><value><i4>1</i4></value></member></struct></value></fault></methodResponse>";
    assert_eq!(decode_response(untagged_fault.as_bytes(), 8).unwrap().unwrap_err(), Fault::new(1, "oops"));
}

/// What we write, byte for byte (Python's layout).
#[test]
fn writes_pythons_layout() {
    let cases: Vec<(&str, Value, &str)> = vec![
        ("nil", Value::Nil, "<value><nil/></value>\n"),
        ("true", Value::Bool(true), "<value><boolean>1</boolean></value>\n"),
        ("false", Value::Bool(false), "<value><boolean>0</boolean></value>\n"),
        ("int", Value::Int(-7), "<value><int>-7</int></value>\n"),
        ("i4 max stays int", Value::Int(2147483647), "<value><int>2147483647</int></value>\n"),
        ("beyond i4 is i8", Value::Int(2147483648), "<value><i8>2147483648</i8></value>\n"),
        ("below i4 is i8", Value::Int(-2147483649), "<value><i8>-2147483649</i8></value>\n"),
        ("small unsigned", Value::UInt(5), "<value><int>5</int></value>\n"),
        ("double keeps a point", Value::Float(1.0), "<value><double>1.0</double></value>\n"),
        ("negative zero", Value::Float(-0.0), "<value><double>-0.0</double></value>\n"),
        ("shortest round-trip", Value::Float(0.1), "<value><double>0.1</double></value>\n"),
        ("escapes", "a&b<c>\r]]>".into(), "<value><string>a&amp;b&lt;c&gt;&#13;]]&gt;</string></value>\n"),
        ("quotes stay raw", "\"'".into(), "<value><string>\"'</string></value>\n"),
        ("beyond the BMP stays raw", "😀".into(), "<value><string>😀</string></value>\n"),
        ("base64 lines", Value::Bytes(vec![0, 1, 255]), "<value><base64>\nAAH/\n</base64></value>\n"),
        ("empty base64", Value::Bytes(vec![]), "<value><base64>\n</base64></value>\n"),
        (
            "datetime",
            dt("19980717T14:08:55"),
            "<value><dateTime.iso8601>19980717T14:08:55</dateTime.iso8601></value>\n",
        ),
        ("empty array", arr(vec![]), "<value><array><data>\n</data></array></value>\n"),
        ("array", arr(vec![1.into()]), "<value><array><data>\n<value><int>1</int></value>\n</data></array></value>\n"),
        ("empty struct", map(&[]), "<value><struct>\n</struct></value>\n"),
        (
            "struct",
            map(&[("k", "v".into())]),
            "<value><struct>\n<member>\n<name>k</name>\n<value><string>v</string></value>\n</member>\n</struct></value>\n",
        ),
    ];
    for (name, value, xml) in cases {
        let body = String::from_utf8(encode_response(Ok(&value)).unwrap()).unwrap();
        let expected = format!(
            "<?xml version='1.0'?>\n<methodResponse>\n<params>\n<param>\n{xml}</param>\n</params>\n</methodResponse>\n"
        );
        assert_eq!(body, expected, "{name}");
        // Whatever we write, we read back as the same value.
        assert_eq!(decode_response(body.as_bytes(), 8).unwrap().unwrap(), value, "{name} (read back)");
    }
    let call = String::from_utf8(encode_call("double", &[Value::Int(7)]).unwrap()).unwrap();
    assert_eq!(
        call,
        "<?xml version='1.0'?>\n<methodCall>\n<methodName>double</methodName>\n<params>\n<param>\n<value><int>7</int></value>\n</param>\n</params>\n</methodCall>\n"
    );
    let fault = String::from_utf8(encode_response(Err(&Fault::new(4, "Too many parameters."))).unwrap()).unwrap();
    assert_eq!(
        fault,
        "<?xml version='1.0'?>\n<methodResponse>\n<fault>\n<value><struct>\n<member>\n<name>faultCode</name>\n<value><int>4</int></value>\n</member>\n<member>\n<name>faultString</name>\n<value><string>Too many parameters.</string></value>\n</member>\n</struct></value>\n</fault>\n</methodResponse>\n"
    );
}

#[test]
fn never_writes_what_the_wire_cannot_carry() {
    let mut int_keyed = Map::new();
    int_keyed.push(1, 2);
    let cases: Vec<(&str, Value)> = vec![
        ("NaN", Value::Float(f64::NAN)),
        ("infinity", Value::Float(f64::INFINITY)),
        ("minus infinity", Value::Float(f64::NEG_INFINITY)),
        ("above i64", Value::UInt(u64::MAX)),
        ("int struct key", Value::Map(int_keyed)),
        ("ext", Value::Ext(rpc_core::Ext::new(1, [0]))),
        ("control character", "bell \u{7}".into()),
        ("non-character", "\u{FFFE}".into()),
        ("nested NaN", arr(vec![arr(vec![Value::Float(f64::NAN)])])),
    ];
    for (name, v) in cases {
        assert!(encode_call("m", std::slice::from_ref(&v)).is_err(), "{name}: call");
        assert!(encode_response(Ok(&v)).is_err(), "{name}: response");
    }
}

enum Expect {
    Fault(i64),
    Status(u16),
}

/// Bodies a server must refuse, with the answer; it must keep serving after each.
fn refusals() -> Vec<(&'static str, String, Expect)> {
    let call = |value_xml: &str| {
        format!("<methodCall><methodName>echo</methodName><params><param>{value_xml}</param></params></methodCall>")
    };
    use Expect::{Fault as F, Status};
    vec![
        ("empty body", String::new(), F(Fault::PARSE_ERROR)),
        ("not XML", "hello".into(), F(Fault::PARSE_ERROR)),
        ("unclosed", "<methodCall><methodName>echo</methodName>".into(), F(Fault::PARSE_ERROR)),
        ("mismatched end", "<methodCall><methodName>echo</methodName></methodResponse>".into(), F(Fault::PARSE_ERROR)),
        (
            "DOCTYPE with entity (billion laughs seed)",
            "<?xml version='1.0'?><!DOCTYPE l [<!ENTITY a 'aaaaaaaaaa'><!ENTITY b '&a;&a;&a;&a;'>]><methodCall><methodName>&b;</methodName></methodCall>".into(),
            F(Fault::PARSE_ERROR),
        ),
        (
            "external entity",
            "<!DOCTYPE x [<!ENTITY e SYSTEM 'file:///etc/passwd'>]><methodCall><methodName>&e;</methodName></methodCall>".into(),
            F(Fault::PARSE_ERROR),
        ),
        ("undeclared entity", call("<value>&nbsp;</value>"), F(Fault::PARSE_ERROR)),
        ("char ref to NUL", call("<value>&#0;</value>"), F(Fault::PARSE_ERROR)),
        ("char ref to a control char", call("<value>&#x1;</value>"), F(Fault::PARSE_ERROR)),
        ("raw control char", call("<value>a\u{1}b</value>"), F(Fault::PARSE_ERROR)),
        ("UTF-16 declared", "<?xml version='1.0' encoding='UTF-16'?><methodCall><methodName>echo</methodName></methodCall>".into(), F(Fault::PARSE_ERROR)),
        ("trailing element", "<methodCall><methodName>echo</methodName></methodCall><x/>".into(), F(Fault::PARSE_ERROR)),
        ("trailing text", "<methodCall><methodName>echo</methodName></methodCall>junk".into(), F(Fault::PARSE_ERROR)),
        ("a methodResponse", "<methodResponse><params/></methodResponse>".into(), F(Fault::INVALID_REQUEST)),
        ("no methodName", "<methodCall><params/></methodCall>".into(), F(Fault::INVALID_REQUEST)),
        ("blank methodName", "<methodCall><methodName> </methodName></methodCall>".into(), F(Fault::INVALID_REQUEST)),
        ("param without value", "<methodCall><methodName>echo</methodName><params><param/></params></methodCall>".into(), F(Fault::INVALID_REQUEST)),
        ("int not a number", call("<value><int>x</int></value>"), F(Fault::INVALID_REQUEST)),
        ("int overflows 64 bits", call("<value><int>99999999999999999999</int></value>"), F(Fault::INVALID_REQUEST)),
        ("i4 below i64", call("<value><i4>-9223372036854775809</i4></value>"), F(Fault::INVALID_REQUEST)),
        ("boolean true", call("<value><boolean>true</boolean></value>"), F(Fault::INVALID_REQUEST)),
        ("double nan", call("<value><double>nan</double></value>"), F(Fault::INVALID_REQUEST)),
        ("double inf", call("<value><double>inf</double></value>"), F(Fault::INVALID_REQUEST)),
        ("double junk", call("<value><double>1.5x</double></value>"), F(Fault::INVALID_REQUEST)),
        ("bad base64", call("<value><base64>!!!</base64></value>"), F(Fault::INVALID_REQUEST)),
        ("bad dateTime", call("<value><dateTime.iso8601>yesterday</dateTime.iso8601></value>"), F(Fault::INVALID_REQUEST)),
        ("unknown type", call("<value><float>1</float></value>"), F(Fault::INVALID_REQUEST)),
        ("text mixed with a type", call("<value>x<int>1</int></value>"), F(Fault::INVALID_REQUEST)),
        ("two types in one value", call("<value><int>1</int><int>2</int></value>"), F(Fault::INVALID_REQUEST)),
        ("nil with content", call("<value><nil>x</nil></value>"), F(Fault::INVALID_REQUEST)),
        ("member without name", call("<value><struct><member><value><int>1</int></value></member></struct></value>"), F(Fault::INVALID_REQUEST)),
        ("array without data", call("<value><array><value><int>1</int></value></array></value>"), F(Fault::INVALID_REQUEST)),
        ("param is not a value", call("<int>1</int>"), F(Fault::INVALID_REQUEST)),
        (
            "nesting over the limit",
            call(&format!("{}<value><nil/></value>{}", "<value><array><data>".repeat(65), "</data></array></value>".repeat(65))),
            F(Fault::INVALID_REQUEST),
        ),
        (
            "100,000-deep nesting",
            call(&format!("{}{}", "<value><array><data>".repeat(100_000), "</data></array></value>".repeat(100_000))),
            F(Fault::INVALID_REQUEST),
        ),
        ("unknown method", "<methodCall><methodName>nope</methodName></methodCall>".into(), F(Fault::METHOD_NOT_FOUND)),
        ("too few params", "<methodCall><methodName>echo</methodName></methodCall>".into(), F(Fault::INVALID_PARAMS)),
        ("wrong param type", "<methodCall><methodName>double</methodName><params><param><value>x</value></param></params></methodCall>".into(), F(Fault::INVALID_PARAMS)),
        ("param out of range", "<methodCall><methodName>sleep</methodName><params><param><value><int>-1</int></value></param></params></methodCall>".into(), F(Fault::INVALID_PARAMS)),
        ("body over the size limit", call(&format!("<value>{}</value>", "x".repeat(17 << 20))), Status(413)),
    ]
}

#[tokio::test]
async fn refuses_bad_input_and_keeps_serving() {
    let s = start(|s| s).await;
    let c = client(s.addr);
    let cases = refusals();
    assert!(cases.len() >= 40, "{} refusal cases", cases.len());
    for (name, body, expect) in cases {
        let resp = raw(s.addr, &post("/RPC2", &body)).await;
        match expect {
            Expect::Status(code) => {
                assert!(resp.starts_with(&format!("HTTP/1.1 {code}")), "{name}: {}", &resp[..resp.len().min(300)])
            }
            Expect::Fault(code) => {
                assert!(resp.starts_with("HTTP/1.1 200"), "{name}: {resp}");
                let body = &resp[resp.find("\r\n\r\n").unwrap() + 4..];
                let fault = decode_response(body.as_bytes(), 8).unwrap().unwrap_err();
                assert_eq!(fault.code, code, "{name}: {fault}");
            }
        }
        assert_eq!(c.call("double", vec![21.into()]).await.unwrap(), Value::Int(42), "after {name}");
    }
}

#[test]
fn reads_latin1_when_declared() {
    let body: &[u8] = b"<?xml version='1.0' encoding='iso-8859-1'?><methodCall><methodName>echo</methodName><params><param><value>caf\xe9</value></param></params></methodCall>";
    assert_eq!(decode_call(body, 8).unwrap().1, vec![Value::from("café")]);
}

#[tokio::test]
async fn invalid_utf8_is_a_parse_error() {
    let body: &[u8] = b"<methodCall><methodName>\xff\xfe</methodName></methodCall>";
    assert!(matches!(decode_call(body, 8), Err(rpc_xml::Error::Malformed(_))));
    let s = start(|s| s).await;
    let mut request =
        format!("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len())
            .into_bytes();
    request.extend_from_slice(body);
    let resp = raw(s.addr, &request).await;
    let xml = &resp[resp.find("\r\n\r\n").unwrap() + 4..];
    assert_eq!(decode_response(xml.as_bytes(), 8).unwrap().unwrap_err().code, Fault::PARSE_ERROR);
}

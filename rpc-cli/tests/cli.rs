//! The built `rpc` binary against interop_server's service on XML-RPC, JSON-RPC (over HTTP, TCP and a Unix
//! socket) and MessagePack-RPC (TCP and a Unix socket), against Python's `SimpleXMLRPCServer` and against Neovim:
//! output, exit codes and messages.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;

use common::{rpc, servers};
use rpc_examples::interop::{InteropServer, InteropService};
use rpc_test_support::{TempDir, bind_loopback, spawn_nvim, spawn_python_server};

/// Runs `rpc` and checks it succeeded with exactly `stdout`.
async fn ok(args: &[&str], stdout: &str) {
    let run = rpc(args).await;
    assert_eq!((run.code, run.stdout.as_str(), run.stderr.as_str()), (Some(0), stdout, ""), "rpc {args:?}");
}

/// Runs `rpc`, checks it failed with `code`, printed nothing on stdout and one line on stderr that contains
/// every one of `parts`; returns that line.
async fn fails(args: &[&str], code: i32, parts: &[&str]) -> String {
    let run = rpc(args).await;
    assert_eq!((run.code, run.stdout.as_str()), (Some(code), ""), "rpc {args:?}: {run:?}");
    assert_eq!(run.stderr.lines().count(), 1, "one line of message: {run:?}");
    for part in parts {
        assert!(run.stderr.contains(part), "rpc {args:?}: {:?} lacks {part:?}", run.stderr);
    }
    run.stderr
}

/// A loopback port where connecting is refused (bound, not listening, so no parallel test can take it): keep
/// the guard alive as long as the address is used.
fn closed_port() -> rpc_test_support::ClosedPort {
    rpc_test_support::ClosedPort::new()
}

#[tokio::test]
async fn calls_faults_and_notifications_on_every_protocol() {
    let s = servers().await;
    for url in s.all() {
        ok(&["call", url, "double", "7"], "14\n").await;
        ok(&["call", url, "add", "-2", "5"], "3\n").await;
        ok(&["call", url, "echo", r#"{"a": [1, 2.5, true, null, "é"]}"#], "{\"a\":[1,2.5,true,null,\"é\"]}\n").await;
        assert_eq!(
            fails(&["call", url, "fail", "42", r#""custom message""#], 1, &[]).await,
            "fault 42: custom message\n"
        );
        assert_eq!(fails(&["call", url, "nope"], 1, &[]).await, "fault -32601: method not found: \"nope\"\n");
        fails(&["call", url, "double", r#""x""#], 1, &["fault -32602: ", "double", "num"]).await;
        fails(&["call", url, "explode"], 1, &["fault -32603: "]).await;
        ok(&["notify", url, "bump", "1"], "").await;
    }
    // Nine notifications on one shared instance, all delivered (a duplex `rpc notify` writes its own out
    // before it exits).
    ok(&["call", &s.json, "counter"], "9\n").await;
    ok(&["call", &s.json_tcp, "counter"], "9\n").await;
    ok(&["call", &s.ws, "counter"], "9\n").await;
}

#[tokio::test]
async fn values_json_cannot_say_use_one_spelling_both_ways() {
    let s = servers().await;
    // MessagePack has no datetime type (a datetime goes as its text), XML-RPC no ext, non-string keys, u64
    // above i64 or NaN.
    let datetime = r#"{"$datetime":"19980717T14:08:55"}"#;
    for url in [&s.json, &s.json_tcp, &s.json_unix] {
        ok(&["call", url, "echo", datetime], &format!("{datetime}\n")).await;
    }
    ok(&["call", &s.xml, "echo", datetime], &format!("{datetime}\n")).await;
    ok(&["call", &s.msgpack, "echo", datetime], "\"19980717T14:08:55\"\n").await;
    let everywhere = [
        r#"{"$base64":"AP8="}"#,
        "9223372036854775807",
        "-9223372036854775808",
        "1.5",
        r#"["nested",{"k":[{"$base64":""}]}]"#,
    ];
    let not_xml = [
        r#"{"$ext":[5,"AQID"]}"#,
        r#"{"$map":[[1,"one"],[true,null]]}"#,
        "18446744073709551615",
        r#"{"$float":"NaN"}"#,
        r#"{"$float":"-Infinity"}"#,
    ];
    for url in [&s.json, &s.json_tcp, &s.json_unix, &s.msgpack] {
        for value in everywhere.iter().chain(&not_xml) {
            ok(&["call", url, "echo", value], &format!("{value}\n")).await;
        }
    }
    for value in everywhere {
        ok(&["call", &s.xml, "echo", value], &format!("{value}\n")).await;
    }
    for value in not_xml {
        fails(&["call", &s.xml, "echo", value], 2, &["error: ", "XML-RPC"]).await;
    }
}

#[tokio::test]
async fn list_and_help_where_the_server_offers_introspection() {
    let s = servers().await;
    let xml = rpc(&["list", &s.xml]).await;
    assert_eq!(xml.code, Some(0));
    assert!(xml.stdout.lines().any(|l| l == "system.listMethods") && xml.stdout.lines().any(|l| l == "double"));
    ok(&["help", &s.xml, "double"], "double(int) -> int\nReturns num * 2.\n\nIdempotent: safe to send again.\n").await;
    ok(&["help", &s.xml_unix, "double"], "double(int) -> int\nReturns num * 2.\n\nIdempotent: safe to send again.\n")
        .await;
    fails(&["help", &s.xml, "nope"], 1, &["fault -32601: method not found: \"nope\""]).await;
    // rpc.discover, over HTTP, TCP, a Unix socket and WebSocket alike.
    for url in [&s.json, &s.json_tcp, &s.json_unix, &s.ws] {
        ok(&["list", url], "add\nask_client\nbump\ncounter\ndouble\necho\nexplode\nfail\nsleep\nslow_bump\nstreams_open\nsubscribe_count\n")
            .await;
        ok(
            &["help", url, "add"],
            "add(a: i64, b: i64) -> i64\nReturns a + b (a fault -32602 if the sum overflows 64 bits).\n\nIdempotent: safe to send \
             again.\n",
        )
        .await;
        ok(
            &["help", url, "sleep"],
            "sleep(ms: u64) -> u64\nWaits ms milliseconds (at most one minute), then returns ms.\n",
        )
        .await;
        fails(&["help", url, "nope"], 2, &["error: ", "lists no method \"nope\"", "rpc list"]).await;
    }
    fails(&["list", &s.msgpack], 1, &["fault -32601", "does not seem to offer introspection", "rpc call"]).await;
}

#[tokio::test]
async fn everything_else_exits_2_with_what_to_do() {
    let s = servers().await;
    let closed_port = closed_port();
    let closed = closed_port.addr();
    for url in [
        format!("http://{closed}/"),
        format!("jsonrpc+http://{closed}/"),
        format!("msgpack://{closed}"),
        format!("jsonrpc+tcp://{closed}"),
    ] {
        fails(&["call", &url, "double", "1"], 2, &["error: ", "refused", "listening"]).await;
    }
    fails(
        &["call", "msgpack+unix:///nonexistent/rpc.sock", "double", "1"],
        2,
        &["error: ", "cannot connect", "listening"],
    )
    .await;
    for (command, protocol) in [("call", "JSON-RPC"), ("list", "JSON-RPC"), ("notify", "JSON-RPC")] {
        let mut args = vec![command, "jsonrpc+unix:///nonexistent/rpc.sock"];
        if command != "list" {
            args.push("bump");
        }
        let wanted = format!("is a {protocol} server listening there?");
        fails(&args, 2, &["error: cannot connect to /nonexistent/rpc.sock", &wanted]).await;
    }
    for url in [&s.xml, &s.json, &s.msgpack, &s.json_tcp, &s.json_unix] {
        fails(
            &["--timeout", "200ms", "call", url, "sleep", "3000"],
            2,
            &["error: no answer within 200ms", "raise --timeout"],
        )
        .await;
    }
    // A bad URL: the message lists every scheme, in the form it takes, with its protocol.
    let every_scheme = [
        "http://HOST:PORT/PATH",
        "https://HOST:PORT/PATH",
        "http+unix:///PATH (XML-RPC)",
        "jsonrpc+http://HOST:PORT/PATH",
        "jsonrpc+https://HOST:PORT/PATH",
        "ws://HOST:PORT/PATH",
        "wss://HOST:PORT/PATH",
        "jsonrpc+tcp://HOST:PORT",
        "jsonrpc+unix:///PATH (JSON-RPC)",
        "msgpack://HOST:PORT",
        "msgpack+tls://HOST:PORT",
        "msgpack+unix:///PATH (MessagePack-RPC)",
    ];
    for (url, why) in [
        ("ftp://127.0.0.1/", "unknown scheme \"ftp\""),
        ("127.0.0.1:6789", "no scheme"),
        ("msgpack://127.0.0.1", "msgpack:// takes HOST:PORT and nothing else"),
        ("jsonrpc+tcp://127.0.0.1", "jsonrpc+tcp:// takes HOST:PORT and nothing else"),
        ("jsonrpc+tcp://127.0.0.1:1/path", "jsonrpc+tcp:// takes HOST:PORT and nothing else"),
        ("jsonrpc+unix://", "nothing after the scheme"),
    ] {
        let bad = format!("error: bad URL {url:?}: {why}; use ");
        for command in
            [&["call", url, "double", "1"][..], &["notify", url, "bump"], &["list", url], &["help", url, "x"]]
        {
            let mut parts = vec![bad.as_str()];
            parts.extend(every_scheme);
            fails(command, 2, &parts).await;
        }
    }
    fails(&["call", &s.json, "echo", "hello"], 2, &["error: argument 1 (\"hello\") is not JSON", r#"'"hello"'"#]).await;
    fails(&["call", &s.json, "echo", r#"{"$base64": 1}"#], 2, &["error: argument 1", "$base64 takes a string"]).await;
    let wrong_path = s.xml.replace("/", "") + "/nope";
    let wrong_path = wrong_path.replace("http:", "http://");
    fails(&["call", &wrong_path, "double", "1"], 2, &["error: ", "answered HTTP 404", "check the URL"]).await;
    // An XML-RPC server is not a JSON-RPC one.
    let xml_as_json = s.xml.replace("http://", "jsonrpc+http://");
    fails(&["call", &xml_as_json, "double", "1"], 2, &["error: the server's answer could not be read", "protocol"])
        .await;
    let bad_timeout = rpc(&["--timeout", "soon", "call", &s.json, "double", "1"]).await;
    assert_eq!(bad_timeout.code, Some(2), "{bad_timeout:?}");
    assert!(bad_timeout.stderr.contains("\"soon\" is not a duration: write e.g. 500ms"), "{bad_timeout:?}");
    let usage = rpc(&["call", &s.json]).await;
    assert_eq!(usage.code, Some(2), "{usage:?}");
    assert!(usage.stderr.contains("Usage: rpc call"), "{usage:?}");
}

#[tokio::test]
async fn help_alone_prints_the_usage() {
    let usage = rpc(&["--help"]).await;
    assert_eq!(usage.code, Some(0), "{usage:?}");
    assert!(
        usage.stdout.contains("Usage: rpc [OPTIONS] <COMMAND>") && usage.stdout.contains("Exit codes"),
        "{usage:?}"
    );
    ok(&["help"], &usage.stdout).await;
    // The URL schemes, one a line, with what each speaks; --ca names the TLS ones.
    for line in [
        "  http://HOST:PORT/PATH           XML-RPC over HTTP\n",
        "  jsonrpc+tcp://HOST:PORT         JSON-RPC over TCP, one message per line\n",
        "  jsonrpc+unix:///PATH            JSON-RPC over a Unix socket, one message per line\n",
        "  msgpack+unix:///PATH            MessagePack-RPC over a Unix socket\n",
        "  ws://HOST:PORT/PATH             JSON-RPC over WebSocket\n",
        "  http+unix:///PATH               XML-RPC over HTTP on a Unix socket\n",
    ] {
        assert!(usage.stdout.contains(line), "{line:?} in {}", usage.stdout);
    }
    assert!(usage.stdout.contains("https://, jsonrpc+https://, wss:// and msgpack+tls://"), "{}", usage.stdout);
    let call = rpc(&["call", "--help"]).await;
    assert!(call.stdout.contains("Usage: rpc call [OPTIONS] <URL> <METHOD> [ARGS]..."), "{call:?}");
    ok(&["help", "call"], &call.stdout).await;
    // A URL and no method: say what is missing.
    let s = servers().await;
    fails(&["help", &s.json], 2, &["error: name the method: rpc help ", "rpc list "]).await;
}

#[tokio::test]
async fn options_go_before_or_after_the_arguments_and_double_dash_ends_them() {
    let s = servers().await;
    for url in [&s.xml, &s.json, &s.msgpack, &s.json_tcp] {
        let url = url.as_str();
        ok(&["call", url, "double", "7", "--timeout", "1s"], "14\n").await;
        ok(&["call", url, "add", "-2", "-3", "--timeout=5s"], "-5\n").await;
        // An option after the arguments takes effect: it is not a param, nor ignored.
        fails(&["call", url, "sleep", "3000", "--timeout", "200ms"], 2, &["error: no answer within 200ms"]).await;
        ok(&["notify", url, "bump", "1", "--timeout", "1s"], "").await;
        // After `--`, a param that looks like an option is a param.
        ok(&["call", url, "echo", "--", "-1e-3"], "-0.001\n").await;
        ok(&["call", url, "add", "--timeout", "2s", "--", "-2", "5"], "3\n").await;
    }
    let run = rpc(&["call", &s.msgpack, "double", "3", "-v"]).await;
    assert_eq!((run.code, run.stderr.as_str()), (Some(0), "> [0, msgid, \"double\", [3]]\n< [1, msgid, null, 6]\n"));
    ok(
        &["help", &s.xml, "double", "--timeout", "1s"],
        "double(int) -> int\nReturns num * 2.\n\nIdempotent: safe to send again.\n",
    )
    .await;
    let list = rpc(&["list", &s.json, "-v"]).await;
    assert_eq!(list.code, Some(0), "{list:?}");
    assert!(list.stdout.lines().any(|l| l == "double") && list.stderr.contains("rpc.discover"), "{list:?}");
    fails(&["call", &s.json, "echo", "--", "--timeout"], 2, &["error: argument 1 (\"--timeout\") is not JSON"]).await;
    // Without `--`, what looks like an option (a signed exponent is not a plain negative number) is taken for one,
    // and the message says to use `--`.
    let run = rpc(&["call", &s.json, "echo", "-1e-3"]).await;
    assert_eq!((run.code, run.stdout.as_str()), (Some(2), ""), "{run:?}");
    assert!(run.stderr.contains("error: unexpected argument '-1'") && run.stderr.contains("use '-- "), "{run:?}");
}

#[tokio::test]
async fn verbose_shows_the_wire_on_stderr() {
    let s = servers().await;
    let run = rpc(&["--verbose", "call", &s.json, "double", "3"]).await;
    assert_eq!((run.code, run.stdout.as_str()), (Some(0), "6\n"));
    let addr = s.json.trim_start_matches("jsonrpc+");
    assert_eq!(
        run.stderr,
        format!(
            "> POST {addr}\n{{\"jsonrpc\":\"2.0\",\"method\":\"double\",\"params\":[3],\"id\":1}}\n< HTTP 200\n\
             {{\"jsonrpc\":\"2.0\",\"result\":6,\"id\":1}}\n"
        )
    );
    let run = rpc(&["-v", "notify", &s.json, "bump", "1"]).await;
    assert!(run.stderr.ends_with("< HTTP 204 No Content\n"), "{run:?}");
    let run = rpc(&["-v", "call", &s.xml, "double", "3"]).await;
    assert!(run.stderr.contains("<methodName>double</methodName>") && run.stderr.contains("<int>6</int>"), "{run:?}");
    let run = rpc(&["-v", "call", &s.msgpack, "double", "3"]).await;
    assert_eq!(run.stderr, "> [0, msgid, \"double\", [3]]\n< [1, msgid, null, 6]\n");
    // JSON-RPC over a socket: the messages as JSON, `msgid` for the id the client picked.
    for url in [&s.json_tcp, &s.json_unix, &s.ws] {
        let run = rpc(&["-v", "call", url, "double", "3"]).await;
        assert_eq!((run.code, run.stdout.as_str()), (Some(0), "6\n"), "{run:?}");
        assert_eq!(
            run.stderr,
            "> {\"jsonrpc\":\"2.0\",\"method\":\"double\",\"params\":[3],\"id\":msgid}\n\
             < {\"jsonrpc\":\"2.0\",\"result\":6,\"id\":msgid}\n"
        );
        let run = rpc(&["-v", "call", url, "fail", "7", r#""no""#]).await;
        assert_eq!(run.code, Some(1), "{run:?}");
        assert!(
            run.stderr.starts_with(
                "> {\"jsonrpc\":\"2.0\",\"method\":\"fail\",\"params\":[7,\"no\"],\"id\":msgid}\n\
                 < {\"jsonrpc\":\"2.0\",\"error\":{\"code\":7,\"message\":\"no\"},\"id\":msgid}\n"
            ),
            "{run:?}"
        );
        let run = rpc(&["-v", "notify", url, "bump", "1"]).await;
        assert_eq!(
            (run.code, run.stderr.as_str()),
            (Some(0), "> {\"jsonrpc\":\"2.0\",\"method\":\"bump\",\"params\":[1]}\n")
        );
    }
}

#[tokio::test]
async fn against_python_simplexmlrpcserver() {
    let server = spawn_python_server(
        "from xmlrpc.server import SimpleXMLRPCServer\n\
         server = SimpleXMLRPCServer(('127.0.0.1', 0), allow_none=True, logRequests=False)\n\
         server.register_introspection_functions()\n\
         def double(num):\n    '''Returns num * 2.'''\n    return num * 2\n\
         server.register_function(double)\n\
         print(server.server_address[1], flush=True)\n\
         server.serve_forever()\n",
        &[],
    )
    .await;
    let url = format!("http://{}/", server.addr());
    ok(&["call", &url, "double", "7"], "14\n").await;
    ok(&["call", &url, "double", r#""ab""#], "\"abab\"\n").await;
    ok(&["list", &url], "double\nsystem.listMethods\nsystem.methodHelp\nsystem.methodSignature\n").await;
    // Python has no signatures ("signatures not supported"): the docs alone.
    ok(&["help", &url, "double"], "Returns num * 2.\n").await;
    // Python's code for every fault is 1, with the exception in the message.
    fails(&["call", &url, "nope"], 1, &["fault 1: ", "nope"]).await;
}

#[tokio::test]
async fn against_neovim() {
    let nvim = spawn_nvim().await;
    let url = format!("msgpack://127.0.0.1:{}", nvim.port());
    ok(&["call", &url, "nvim_eval", r#""6*7""#], "42\n").await;
    ok(&["call", &url, "nvim_eval", r#""[1, 'two', {'k': v:true}]""#], "[1,\"two\",{\"k\":true}]\n").await;
    let list = rpc(&["list", &url]).await;
    assert_eq!(list.code, Some(0), "{list:?}");
    assert!(list.stdout.lines().any(|l| l == "nvim_eval"), "{list:?}");
    ok(&["help", &url, "nvim_eval"], "nvim_eval(String expr) -> Object\n").await;
    // Neovim's errors are [type, message]: the type is the code.
    fails(&["call", &url, "nvim_eval", r#""no_such_function()""#], 1, &["fault 0: ", "no_such_function"]).await;
    ok(&["notify", &url, "nvim_set_var", r#""rpc_cli""#, "7"], "").await;
    // The notification went on its own connection, and the call below goes on another: Neovim orders what
    // comes on one channel, not across channels, so its effect shows once Neovim has handled it (at once, or
    // a moment later), never before the notification was sent. Wait for that, within 10 s.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let got = rpc(&["call", &url, "nvim_get_var", r#""rpc_cli""#]).await;
        if got.code == Some(0) && got.stdout == "7\n" {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the notification never took effect: {got:?}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn tls_urls_trust_a_private_ca_given_with_ca() {
    let pki = rpc_test_support::tls::Pki::new();
    let service = Arc::new(InteropService::default());
    let (msgpack, xml, json) = (bind_loopback().await, bind_loopback().await, bind_loopback().await);
    let port = |l: &tokio::net::TcpListener| l.local_addr().unwrap().port();
    let urls = [
        format!("msgpack+tls://localhost:{}", port(&msgpack)),
        format!("https://localhost:{}/", port(&xml)),
        format!("jsonrpc+https://127.0.0.1:{}/", port(&json)),
    ];
    let mp = rpc_msgpack::Server::new(InteropServer::from_arc(service.clone())).tls(pki.server_config());
    tokio::spawn(mp.serve(msgpack));
    tokio::spawn(rpc_xml::Server::new(InteropServer::from_arc(service.clone())).tls(pki.server_config()).serve(xml));
    tokio::spawn(rpc_json::Server::new(InteropServer::from_arc(service)).tls(pki.server_config()).serve(json));
    let dir = TempDir::new("rpc-cli-test");
    let ca = pki.write_ca_pem(dir.path());
    let ca = ca.to_str().unwrap();
    for url in &urls {
        let url = url.as_str();
        ok(&["--ca", ca, "call", url, "double", "7"], "14\n").await;
        fails(&["call", "--ca", ca, url, "fail", "42", r#""over TLS""#], 1, &["fault 42: over TLS"]).await;
        // Without the CA, the system's roots do not know the server's certificate: say what to do.
        fails(&["call", url, "double", "7"], 2, &["error: ", "invalid peer certificate", "--ca FILE"]).await;
    }
    // A --ca file that is missing, or holds no certificate.
    let missing = dir.path().join("missing.pem");
    fails(&["--ca", missing.to_str().unwrap(), "call", &urls[0], "double", "1"], 2, &["error: cannot read --ca"]).await;
    let empty = dir.path().join("empty.pem");
    std::fs::write(&empty, "not a certificate\n").unwrap();
    fails(&["--ca", empty.to_str().unwrap(), "call", &urls[0], "double", "1"], 2, &["holds no PEM certificate"]).await;
    fails(&["call", "msgpack+tls://localhost", "double", "1"], 2, &["error: bad URL", "msgpack+tls://HOST:PORT"]).await;
}

#[tokio::test]
async fn subscribe_prints_each_item_until_the_stream_ends() {
    let s = servers().await;
    for url in [&s.json_tcp, &s.json_unix, &s.ws, &s.msgpack, &s.unix] {
        ok(&["subscribe", url, "subscribe_count", "3", "1"], "0\n1\n2\n").await;
        // Names given outright, as for a server that does not follow the subscribe_<name> convention.
        let named = [
            "subscribe",
            url,
            "subscribe_count",
            "2",
            "0",
            "--notification",
            "count",
            "--unsubscribe",
            "unsubscribe_count",
        ];
        ok(&named, "0\n1\n").await;
        // The stream's plain name works as well.
        ok(&["subscribe", url, "count", "1", "0"], "0\n").await;
        fails(&["subscribe", url, "subscribe_nope"], 1, &["fault -32601: "]).await;
    }
    for url in [&s.json, &s.xml] {
        fails(&["subscribe", url, "subscribe_count", "3", "1"], 2, &["needs a duplex transport", "jsonrpc+tcp://"])
            .await;
    }
    // zerorpc's streams, by either name.
    ok(&["subscribe", &s.zerorpc, "count", "3", "1"], "0\n1\n2\n").await;
    ok(&["subscribe", &s.zerorpc, "subscribe_count", "2"], "0\n1\n").await;
    ok(&["help", &s.zerorpc, "add"], "add(a, b)\nReturns a + b (a fault -32602 if the sum overflows 64 bits).\n").await;
    // Introspection shows it as a subscription (rpc.discover's x-subscription).
    let help = rpc(&["help", &s.json_tcp, "subscribe_count"]).await;
    let mut lines = help.stdout.lines();
    assert_eq!(lines.next(), Some("subscribe_count(n: u64, interval_ms: Option<u64>) -> stream of u64"), "{help:?}");
    assert_eq!(
        lines.next(),
        Some(r#"A subscription: items come as "count" notifications; "unsubscribe_count" ends it (rpc subscribe)."#)
    );
    // XML-RPC's system.methodHelp says so too.
    let help = rpc(&["help", &s.xml, "subscribe_count"]).await;
    assert!(help.stdout.contains(r#"each item comes as the notification "count""#), "{help:?}");
}

#[tokio::test]
async fn ctrl_c_unsubscribes_and_exits_zero() {
    use tokio::io::AsyncBufReadExt;
    let s = servers().await;
    for url in [&s.json_tcp, &s.msgpack] {
        let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_rpc"))
            .args(["subscribe", url, "subscribe_count", "0", "5"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
        for expected in ["0", "1", "2"] {
            assert_eq!(lines.next_line().await.unwrap().as_deref(), Some(expected));
        }
        let pid = child.id().unwrap().to_string();
        assert!(std::process::Command::new("kill").args(["-INT", &pid]).status().unwrap().success());
        let status = tokio::time::timeout(std::time::Duration::from_secs(5), child.wait()).await.unwrap().unwrap();
        assert_eq!(status.code(), Some(0), "rpc subscribe after Ctrl-C");
        // The stream ended on the server before rpc exited: it unsubscribed, and waited for the answer.
        ok(&["call", url, "streams_open"], "0\n").await;
    }
}

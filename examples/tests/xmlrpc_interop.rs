//! `interop_server` as a peer on XML-RPC: Python's `ServerProxy` and Node's `xmlrpc` package drive every method,
//! multicall, introspection and gzip; and our client drives Python's `SimpleXMLRPCServer` with its multicall and
//! introspection functions registered.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;
use std::time::Duration;

use rpc_core::{Error, Transport, Value};
use rpc_test_support::{example_binary, find_program, run_peer, run_python, spawn_peer, spawn_python_server};

async fn interop_server() -> rpc_test_support::Peer {
    let mut cmd = Command::new(example_binary("interop_server"));
    cmd.args(["--xml", "127.0.0.1:0"]);
    spawn_peer(cmd, "interop_server").await
}

#[tokio::test]
async fn python_server_proxy_drives_interop_server() {
    let server = interop_server().await;
    let url = format!("http://{}/", server.addr());
    let out = run_python(include_str!("python/xmlrpc_interop_client.py"), &[&url]).await;
    assert_eq!(out, "ok\n");
}

#[tokio::test]
async fn node_xmlrpc_client_drives_interop_server() {
    let node = find_program("node").expect("node not found: install Node.js (`apt-get install -y nodejs npm`)");
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/node");
    rpc_test_support::peers::node_packages(&dir);
    let server = interop_server().await;
    let mut cmd = Command::new(node);
    cmd.arg(dir.join("xmlrpc_client.js")).arg(format!("http://{}/RPC2", server.addr()));
    let out = run_peer(cmd, "node xmlrpc client", Duration::from_secs(30)).await;
    let got: serde_json::Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    let expected = serde_json::json!({
        "double": {"value": 14},
        "add": {"value": 5},
        "echoString": {"value": "héllo <&> 😀"},
        "echoArray": {"value": [1, "two", true, 1.5]},
        "echoStruct": {"value": {"a": 1, "b": {"c": []}}},
        "echoNil": {"value": null},
        "echoDate": {"value": "1998-07-17T14:08:55.000Z"},
        "echoBytes": {"value": [0, 1, 255]},
        "fail": {"fault": 42},
        "unknown": {"fault": -32601},
        "badParams": {"fault": -32602},
        "explode": {"fault": -32603},
        "afterExplode": {"value": 16},
        "multicall": {"value": [[2], {"faultCode": -32601, "faultString": "method not found: \"nope\""}]},
    });
    for (key, want) in expected.as_object().unwrap() {
        assert_eq!(&got[key], want, "{key}");
    }
    let methods = got["listMethods"]["value"].as_array().unwrap();
    assert!(methods.iter().any(|m| m == "system.multicall") && methods.iter().any(|m| m == "counter"), "{methods:?}");
}

#[tokio::test]
async fn our_client_drives_python_with_multicall_and_introspection() {
    let server = spawn_python_server(
        "from xmlrpc.server import SimpleXMLRPCServer\n\
         server = SimpleXMLRPCServer(('127.0.0.1', 0), allow_none=True, logRequests=False)\n\
         server.register_introspection_functions()\n\
         server.register_multicall_functions()\n\
         def double(num):\n    '''Returns num * 2.'''\n    return num * 2\n\
         def nothing():\n    return None\n\
         server.register_function(double)\n\
         server.register_function(nothing)\n\
         print(server.server_address[1], flush=True)\n\
         server.serve_forever()\n",
        &[],
    )
    .await;
    let c = rpc_xml::Client::new(&format!("http://{}/", server.addr())).unwrap();
    assert_eq!(c.call("nothing", vec![]).await.unwrap(), Value::Nil);
    let methods = c.call("system.listMethods", vec![]).await.unwrap();
    let names: Vec<&str> = methods.as_array().unwrap().iter().filter_map(Value::as_str).collect();
    assert!(names.contains(&"double") && names.contains(&"system.multicall"), "{names:?}");
    let help = c.call("system.methodHelp", vec!["double".into()]).await.unwrap();
    assert_eq!(help, Value::from("Returns num * 2."));
    let answers = c
        .multicall([("double", vec![Value::Int(4)]), ("nope", vec![]), ("double", vec![Value::Int(5)])])
        .await
        .unwrap();
    assert_eq!(answers[0], Ok(Value::Int(8)));
    // Python answers an unknown method with fault code 1 (not -32601).
    assert_eq!(answers[1].as_ref().unwrap_err().code, 1);
    assert_eq!(answers[2], Ok(Value::Int(10)));
    match c.call("nope", vec![]).await {
        Err(Error::Fault(f)) => assert!(f.message.contains("nope"), "{f}"),
        other => panic!("{other:?}"),
    }
}

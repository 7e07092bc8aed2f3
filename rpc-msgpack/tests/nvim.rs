//! Interop with Neovim, every way it speaks MessagePack-RPC: our client calls a headless Neovim (and Neovim
//! calls back into it), Neovim connects to our server over TCP and a Unix socket (`sockconnect`), and Neovim
//! runs our stdio server as a job (`jobstart(..., {'rpc': v:true})`), calling it and being called back.
//!
//! `nvim` must be on `PATH` (`apt-get install -y neovim`, as `.ci/run` does): without it these tests fail, they
//! do not skip.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Impl, ProbeServer, serve};
use rpc_core::{Ext, Value};
use rpc_msgpack::Client;
use rpc_msgpack::MessagePackSettings;
use rpc_msgpack::codec::ErrorFormat;
use rpc_test_support::{example_binary, spawn_nvim};

/// Evaluates a Vim expression in Neovim.
async fn eval(nvim: &Client, expr: &str) -> Result<Value, rpc_core::Error> {
    nvim.call("nvim_eval", vec![expr.into()]).await
}

/// Our channel's id in Neovim, from `nvim_get_api_info`.
async fn channel(nvim: &Client) -> i64 {
    let info = nvim.call("nvim_get_api_info", vec![]).await.unwrap();
    info.as_array().and_then(|i| i.first()).and_then(Value::as_i64).expect("[channel, metadata]")
}

#[tokio::test]
async fn our_client_calls_neovim() {
    let nvim_process = spawn_nvim().await;
    let nvim = Client::connect(nvim_process.addr()).await.unwrap();
    assert_eq!(eval(&nvim, "1+2").await.unwrap(), Value::Int(3));

    // The API metadata: nested maps, and the ext type ids Neovim uses for its handles.
    let info = nvim.call("nvim_get_api_info", vec![]).await.unwrap();
    let [channel, metadata] = info.as_array().unwrap() else { panic!("{info:?}") };
    assert!(channel.as_i64().unwrap() > 0);
    let metadata = metadata.as_map().unwrap();
    assert_eq!(metadata.get_str("version").unwrap().as_map().unwrap().get_str("major"), Some(&Value::Int(0)));
    let functions = metadata.get_str("functions").unwrap().as_array().unwrap();
    assert!(functions.iter().any(|f| f.as_map().unwrap().get_str("name") == Some(&"nvim_eval".into())));
    let types = metadata.get_str("types").unwrap().as_map().unwrap();
    let buffer_type = types.get_str("Buffer").unwrap().as_map().unwrap().get_str("id").unwrap().as_i64().unwrap();

    // Handles are ext values, and go back to Neovim unchanged.
    let buf = nvim.call("nvim_get_current_buf", vec![]).await.unwrap();
    assert!(matches!(&buf, Value::Ext(Ext { tag, .. }) if i64::from(*tag) == buffer_type), "{buf:?}");
    let lines = Value::Array(vec!["hello".into(), "wörld".into()]);
    let set = vec![buf.clone(), 0.into(), (-1).into(), true.into(), lines.clone()];
    nvim.call("nvim_buf_set_lines", set).await.unwrap();
    assert_eq!(nvim.call("nvim_buf_get_lines", vec![buf, 0.into(), (-1).into(), true.into()]).await.unwrap(), lines);

    // Neovim's errors are [type, message]: 0 for an exception, 1 for a validation error.
    let err = eval(&nvim, "no_such_variable").await.unwrap_err();
    let fault = err.as_fault().unwrap();
    assert_eq!(fault.code, 0, "{fault}");
    assert!(fault.message.contains("E121"), "{fault}");
    let err = nvim.call("nvim_buf_get_lines", vec![0.into(), 5.into(), 2.into(), true.into()]).await.unwrap_err();
    assert_eq!(err.as_fault().map(|f| (f.code, f.message.as_str())), Some((1, "Index out of bounds")), "{err}");

    // Vim strings are bytes: a blob comes as a str that is not UTF-8, and keeps its bytes.
    assert_eq!(eval(&nvim, "0z00ff").await.unwrap(), Value::Bytes(vec![0x00, 0xff]));

    // Many calls in flight at once on the one connection.
    let calls: Vec<_> = (0..100)
        .map(|i| {
            let nvim = nvim.clone();
            tokio::spawn(async move { (i, eval(&nvim, &format!("{i} * 3")).await.unwrap()) })
        })
        .collect();
    for call in calls {
        let (i, v) = call.await.unwrap();
        assert_eq!(v, Value::Int(i * 3));
    }
}

#[tokio::test]
async fn neovim_calls_back_into_our_client() {
    let nvim_process = spawn_nvim().await;
    let mine = Impl::default();
    let nvim = Client::builder()
        .handler(ProbeServer::new(mine.clone()))
        .error_format(ErrorFormat::Neovim)
        .connect(nvim_process.addr())
        .await
        .unwrap();
    let chan = channel(&nvim).await;
    // Neovim calls our `double` while our call to nvim_eval waits for its answer.
    assert_eq!(eval(&nvim, &format!("rpcrequest({chan}, 'double', 8)")).await.unwrap(), Value::Int(16));
    // Our handler's fault reaches Vim script as an error with its message (in Neovim's error format), and comes
    // back to us as Neovim's exception.
    let err = eval(&nvim, &format!("rpcrequest({chan}, 'fail', 5, 'nope')")).await.unwrap_err();
    let fault = err.as_fault().unwrap();
    assert_eq!(fault.code, 0, "{fault}");
    assert!(fault.message.contains("Error invoking 'fail'") && fault.message.ends_with("nope"), "{fault}");
    let err = eval(&nvim, &format!("rpcrequest({chan}, 'double', 'eight')")).await.unwrap_err();
    assert!(err.as_fault().unwrap().message.contains("invalid params"), "{err}");
    // Notifications from Neovim.
    nvim.call("nvim_command", vec![format!("call rpcnotify({chan}, 'record', 'from nvim')").into()]).await.unwrap();
    common::eventually(|| !mine.0.notes.lock().unwrap().is_empty()).await;
    assert_eq!(*mine.0.notes.lock().unwrap(), [Value::from("from nvim")]);
}

#[tokio::test]
async fn neovim_connects_to_our_tcp_server() {
    let (addr, _) = serve(|s| s.error_format(ErrorFormat::Neovim)).await;
    let nvim_process = spawn_nvim().await;
    let nvim = Client::connect(nvim_process.addr()).await.unwrap();
    let chan = eval(&nvim, &format!("sockconnect('tcp', '{addr}', {{'rpc': v:true}})")).await.unwrap();
    let chan = chan.as_i64().unwrap();
    assert!(chan > 0);
    assert_eq!(eval(&nvim, &format!("rpcrequest({chan}, 'double', 8)")).await.unwrap(), Value::Int(16));
    // Both ways on Neovim's connection: our server's handler calls Neovim while Neovim waits for its answer.
    let asked = eval(&nvim, &format!("rpcrequest({chan}, 'call_back', 'nvim_eval', ['40 + 2'])")).await;
    assert_eq!(asked.unwrap(), Value::Int(42));
    // Our error replies reach Vim script with their messages.
    let err = eval(&nvim, &format!("rpcrequest({chan}, 'no_such_method')")).await.unwrap_err();
    assert!(err.as_fault().is_some_and(|f| f.message.ends_with(r#"method not found: "no_such_method""#)), "{err}");
}

#[cfg(unix)]
#[tokio::test]
async fn neovim_connects_to_our_unix_socket_server() {
    let dir = rpc_test_support::TempDir::new("rpc-msgpack-nvim");
    let path = dir.path().join("server.sock");
    let listener = tokio::net::UnixListener::bind(&path).unwrap();
    tokio::spawn(rpc_msgpack::Server::new(ProbeServer::new(Impl::default())).serve(listener));
    let nvim_process = spawn_nvim().await;
    let nvim = Client::connect(nvim_process.addr()).await.unwrap();
    let expr = format!("rpcrequest(sockconnect('pipe', '{}', {{'rpc': v:true}}), 'double', 8)", path.display());
    assert_eq!(eval(&nvim, &expr).await.unwrap(), Value::Int(16));
}

#[tokio::test]
async fn neovim_runs_our_stdio_server_as_a_job() {
    let plugin = example_binary("stdio_plugin");
    let nvim_process = spawn_nvim().await;
    let nvim = Client::connect(nvim_process.addr()).await.unwrap();
    let on_exit = "function! OnPluginExit(job, code, event)\n  let g:plugin_exit = a:code\nendfunction";
    nvim.call("nvim_exec", vec![on_exit.into(), false.into()]).await.unwrap();
    let start = format!("jobstart(['{}'], {{'rpc': v:true, 'on_exit': 'OnPluginExit'}})", plugin.display());
    let job = eval(&nvim, &start).await.unwrap();
    let job = job.as_i64().unwrap();
    assert!(job > 0, "jobstart failed: {job}");
    assert_eq!(eval(&nvim, &format!("rpcrequest({job}, 'double', 8)")).await.unwrap(), Value::Int(16));
    // The plugin calls Neovim back over its stdout while Neovim waits for its answer.
    assert_eq!(eval(&nvim, &format!("rpcrequest({job}, 'ask', '40 + 2')")).await.unwrap(), Value::Int(42));
    let err = eval(&nvim, &format!("rpcrequest({job}, 'double', 'eight')")).await.unwrap_err();
    assert!(err.as_fault().unwrap().message.contains("invalid params"), "{err}");
    // Closing the channel closes the plugin's stdin: it exits cleanly.
    nvim.call("nvim_command", vec![format!("call chanclose({job})").into()]).await.unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let code = loop {
        let code = eval(&nvim, "get(g:, 'plugin_exit', -1)").await.unwrap();
        if code != Value::Int(-1) || std::time::Instant::now() > deadline {
            break code;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    assert_eq!(code, Value::Int(0), "the plugin's exit code");
}

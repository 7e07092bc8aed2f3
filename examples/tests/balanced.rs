//! The `balanced` example: 300 calls over three servers, one stopped and started again midway, none failed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[tokio::test]
async fn the_balanced_example_loses_no_call_while_a_server_restarts() {
    let out = tokio::process::Command::new(rpc_test_support::example_binary("balanced")).output().await.unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("300 calls over 3 endpoints, 0 failed"), "{stdout}");
    assert!(stdout.contains("stopped ") && stdout.contains(" again"), "{stdout}");
    let endpoints: Vec<&str> = stdout.lines().filter(|l| l.contains(" calls, ")).collect();
    assert_eq!(endpoints.len(), 3, "{stdout}");
    for line in endpoints {
        assert!(line.ends_with(", up"), "every endpoint up at the end: {stdout}");
        assert!(!line.contains(": 0 calls"), "every endpoint answered calls: {stdout}");
    }
}

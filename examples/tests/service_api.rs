//! The `#[service]` API as a user meets it, on all three encodings (XML-RPC and JSON-RPC over HTTP,
//! MessagePack-RPC over TCP): the same trait's client reaching a service mounted under a prefix
//! (`Client::with_prefix`) and a service that names its own namespace (`#[service(namespace = ..)]`); a
//! service's own error type coming back to the caller; the client used through the trait; borrowed params.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use rpc_core::{CallError, Error, Fault, Router, Transport, service};
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;

/// Mounted under a prefix the trait knows nothing of.
#[service]
pub trait Math {
    /// Twice `n`.
    async fn double(&self, n: i64) -> i64;
}

/// Names its own namespace, for both halves.
#[service(namespace = "text")]
pub trait Text {
    /// `s` in capitals.
    async fn upper(&self, s: String) -> String;
    /// The length of `s` in bytes.
    #[rpc(name = "len")]
    async fn length(&self, s: String) -> u64;
}

struct Impl;

impl Math for Impl {
    async fn double(&self, n: i64) -> i64 {
        2 * n
    }
}

impl Text for Impl {
    async fn upper(&self, s: String) -> String {
        s.to_uppercase()
    }
    async fn length(&self, s: String) -> u64 {
        s.len() as u64
    }
}

fn router() -> Router {
    Router::new().mount_prefixed("math", MathServer::new(Impl)).mount(TextServer::new(Impl))
}

async fn listener() -> (TcpListener, String) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    (listener, addr)
}

/// What every encoding must do with the router: the prefixed client and the namespaced one reach their
/// methods; the plain client gets "method not found" for the prefixed service.
async fn check<T: Transport + Clone>(transport: T) {
    let math = MathClient::with_prefix(transport.clone(), "math");
    assert_eq!(math.double(21).await.unwrap(), 42);
    let text = TextClient::new(transport.clone());
    assert_eq!(text.upper("abc").await.unwrap(), "ABC");
    assert_eq!(text.length("abcd").await.unwrap(), 4);
    let unprefixed = MathClient::new(transport.clone());
    let fault = unprefixed.double(1).await.unwrap_err();
    assert_eq!(fault.as_fault().map(|f| f.code), Some(rpc_core::Fault::METHOD_NOT_FOUND), "{fault:?}");
    // The wire names are the ones listed.
    let names: Vec<String> = router().method_names().map(str::to_owned).collect();
    assert_eq!(names, ["math.double", "text.upper", "text.len"]);
}

#[tokio::test]
async fn prefixes_and_namespaces_over_xml_rpc() {
    let (listener, addr) = listener().await;
    tokio::spawn(rpc_xml::Server::new(router()).serve(listener));
    check(rpc_xml::Client::new(&format!("http://{addr}/")).unwrap()).await;
}

#[tokio::test]
async fn prefixes_and_namespaces_over_json_rpc() {
    let (listener, addr) = listener().await;
    tokio::spawn(rpc_json::Server::new(router()).serve(listener));
    check(rpc_json::Client::new(&format!("http://{addr}/")).unwrap()).await;
}

#[tokio::test]
async fn prefixes_and_namespaces_over_msgpack_rpc() {
    let (listener, addr) = listener().await;
    tokio::spawn(rpc_msgpack::Server::new(router()).serve(listener));
    check(rpc_msgpack::Client::connect(addr.as_str()).await.unwrap()).await;
}

/// A service's own error type: `Serialize + Deserialize` so that it travels as the fault's data and comes back
/// as itself; `Into<Fault>` for the code and message every peer sees; `From<rpc_core::Error>` so that a client
/// can be used through the trait.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, thiserror::Error)]
pub enum BankError {
    /// Not enough money.
    #[error("insufficient funds: {balance} left")]
    Insufficient {
        /// What is left.
        balance: u64,
    },
    /// No such account.
    #[error("no account {0:?}")]
    NoAccount(String),
    /// The call itself failed (made on the client side only).
    #[error("the call failed: {0}")]
    Call(String),
}

impl From<BankError> for Fault {
    fn from(e: BankError) -> Fault {
        let code = match e {
            BankError::Insufficient { .. } => 1001,
            BankError::NoAccount(_) => 1002,
            BankError::Call(_) => Fault::INTERNAL_ERROR,
        };
        Fault::new(code, e.to_string())
    }
}

impl From<Error> for BankError {
    fn from(e: Error) -> BankError {
        BankError::Call(e.to_string())
    }
}

/// An account holder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Owner {
    /// The name.
    pub name: String,
    /// The age.
    pub age: u8,
}

/// Every method returns a `Result` whose error absorbs `rpc_core::Error`: the client implements the trait.
#[service]
pub trait Bank {
    /// Takes `amount` from `account`; answers what is left.
    async fn withdraw(&self, account: String, amount: u64) -> Result<u64, BankError>;
    /// Opens an account for `owner`, labelled with `tags`; answers its name.
    async fn open(&self, owner: Owner, tags: Vec<String>) -> Result<String, BankError>;
    /// Fails the way a handler bug does.
    async fn crash(&self) -> Result<u64, BankError>;
}

struct Vault;

impl Bank for Vault {
    async fn withdraw(&self, account: String, amount: u64) -> Result<u64, BankError> {
        match (account.as_str(), amount) {
            ("ada", n) if n <= 100 => Ok(100 - n),
            ("ada", _) => Err(BankError::Insufficient { balance: 100 }),
            _ => Err(BankError::NoAccount(account)),
        }
    }
    async fn open(&self, owner: Owner, tags: Vec<String>) -> Result<String, BankError> {
        Ok(format!("{}-{}:{}", owner.name, owner.age, tags.join(",")))
    }
    async fn crash(&self) -> Result<u64, BankError> {
        panic!("a bug")
    }
}

/// Code written against the trait: takes the local service and a remote one alike.
async fn pay_twice(bank: &impl Bank, amount: u64) -> Result<u64, BankError> {
    let first = bank.withdraw("ada".to_owned(), amount).await?;
    let second = bank.withdraw("ada".to_owned(), amount).await?;
    Ok(first + second)
}

/// What every encoding must do with typed errors, the trait and borrowed params. `dead` is a transport whose
/// calls fail before any answer.
async fn check_bank<T: Transport + Clone, D: Transport>(transport: T, dead: D) {
    let client = BankClient::new(transport.clone());
    // The service's own error comes back as itself.
    assert_eq!(client.withdraw("ada", 30).await.unwrap(), 70);
    match client.withdraw("ada", 500).await {
        Err(CallError::Service(e)) => assert_eq!(e, BankError::Insufficient { balance: 100 }),
        other => panic!("expected the service's error, got {other:?}"),
    }
    match client.withdraw("bob", 1).await {
        Err(CallError::Service(e)) => assert_eq!(e, BankError::NoAccount("bob".into())),
        other => panic!("expected the service's error, got {other:?}"),
    }
    // On the wire: the fault's code and message from `Into<Fault>`, the error itself as the data.
    let raw = transport.call("withdraw", vec!["ada".into(), 500.into()]).await.unwrap_err();
    let fault = raw.as_fault().expect("a fault");
    assert_eq!((fault.code, fault.message.as_str()), (1001, "insufficient funds: 100 left"));
    let data = rpc_core::from_value::<BankError>(*fault.data.clone().expect("the fault carries data")).unwrap();
    assert_eq!(data, BankError::Insufficient { balance: 100 });
    // A fault that is not the service's error stays a fault.
    match client.crash().await {
        Err(CallError::Rpc(Error::Fault(f))) => assert_eq!(f.code, Fault::INTERNAL_ERROR),
        other => panic!("expected an internal error, got {other:?}"),
    }

    // The client through the trait: the same code runs against the local service and the remote one.
    assert_eq!(pay_twice(&Vault, 10).await, Ok(180));
    assert_eq!(pay_twice(&client, 10).await, Ok(180));
    assert_eq!(pay_twice(&client, 500).await, Err(BankError::Insufficient { balance: 100 }));
    // A call that fails on the way is the trait's error through `From<rpc_core::Error>`.
    let unreachable = pay_twice(&BankClient::new(dead), 10).await;
    assert!(matches!(unreachable, Err(BankError::Call(_))), "{unreachable:?}");

    // Borrowed params: nothing to clone to keep them.
    let owner = Owner { name: "ada".into(), age: 36 };
    let tags = vec!["gold".to_owned(), "eu".to_owned()];
    let account = String::from("ada");
    assert_eq!(client.open(&owner, &tags).await.unwrap(), "ada-36:gold,eu");
    assert_eq!(client.open(&owner, &tags[..1]).await.unwrap(), "ada-36:gold");
    assert_eq!(client.open(owner.clone(), tags.clone()).await.unwrap(), "ada-36:gold,eu");
    assert_eq!(client.withdraw(&account, 1).await.unwrap(), 99);
    // The owned values are still here.
    assert_eq!((owner.age, tags.len(), account.len()), (36, 2, 3));
}

/// A port nothing listens on (bound, then let go).
async fn dead_addr() -> String {
    let (listener, addr) = listener().await;
    drop(listener);
    addr
}

#[tokio::test]
async fn typed_errors_and_the_trait_over_xml_rpc() {
    let (listener, addr) = listener().await;
    tokio::spawn(rpc_xml::Server::new(BankServer::new(Vault)).serve(listener));
    let dead = rpc_xml::Client::new(&format!("http://{}/", dead_addr().await)).unwrap();
    check_bank(rpc_xml::Client::new(&format!("http://{addr}/")).unwrap(), dead).await;
}

#[tokio::test]
async fn typed_errors_and_the_trait_over_json_rpc() {
    let (listener, addr) = listener().await;
    tokio::spawn(rpc_json::Server::new(BankServer::new(Vault)).serve(listener));
    let dead = rpc_json::Client::new(&format!("http://{}/", dead_addr().await)).unwrap();
    check_bank(rpc_json::Client::new(&format!("http://{addr}/")).unwrap(), dead).await;
}

#[tokio::test]
async fn typed_errors_and_the_trait_over_msgpack_rpc() {
    let (listener, addr) = listener().await;
    tokio::spawn(rpc_msgpack::Server::new(BankServer::new(Vault)).serve(listener));
    // A connection that was shut down: every call on it fails at once.
    let dead = rpc_msgpack::Client::connect(addr.as_str()).await.unwrap();
    dead.shutdown().await;
    check_bank(rpc_msgpack::Client::connect(addr.as_str()).await.unwrap(), dead).await;
}

/// Whether a connection reaches `listener` within a moment.
async fn connects(listener: &TcpListener) -> bool {
    tokio::time::timeout(std::time::Duration::from_millis(100), listener.accept()).await.is_ok()
}

/// One way to make a client on every transport: `build` is lazy (nothing opened until the first call),
/// `connect` eager (an unreachable server is an error at once), and every error is an `rpc_core::Error` by `?`.
#[tokio::test]
async fn every_client_is_built_lazily_or_connected_eagerly() -> Result<(), Error> {
    let dead = dead_addr().await;
    let dead_url = format!("http://{dead}/");
    assert!(rpc_xml::Client::connect(&dead_url).await.is_err());
    assert!(rpc_json::Client::connect(&dead_url).await.is_err());
    assert!(rpc_msgpack::Client::connect(dead.as_str()).await.is_err());
    assert!(rpc_json::duplex::Client::connect(dead.as_str()).await.is_err());
    // Lazy: made without a server; the first call is what fails, as a transport error.
    let math = |t| MathClient::with_prefix(t, "math");
    let xml = rpc_xml::Client::builder().build(&dead_url)?;
    let json = rpc_json::Client::builder().build(&dead_url)?;
    let msgpack = rpc_msgpack::Client::builder().build(&dead)?;
    let duplex = rpc_json::duplex::Client::builder().build(&dead)?;
    for err in [
        MathClient::with_prefix(xml, "math").double(1).await.unwrap_err(),
        MathClient::with_prefix(json, "math").double(1).await.unwrap_err(),
        math(msgpack).double(1).await.unwrap_err(),
        MathClient::with_prefix(duplex, "math").double(1).await.unwrap_err(),
    ] {
        // Never sent: a client over several endpoints may send it to another.
        assert!(matches!(err, Error::Connect(_)), "{err:?}");
    }
    // A malformed address is an error at once.
    assert!(rpc_msgpack::Client::builder().build("no-port").is_err());
    assert!(rpc_xml::Client::builder().build("ftp://x/").is_err());

    // Lazy against a live server: no connection until the first call, then calls work.
    let (listener, addr) = listener().await;
    let url = format!("http://{addr}/");
    let clients = (
        rpc_xml::Client::builder().build(&url)?,
        rpc_json::Client::new(&url)?,
        rpc_msgpack::Client::new(&addr)?,
        rpc_json::duplex::Client::builder().build(&addr)?,
    );
    assert!(!connects(&listener).await, "a lazy client connected before its first call");
    // Eager: the connection is there before any call.
    let eager_xml = rpc_xml::Client::builder().connect(&url).await?;
    assert!(connects(&listener).await, "connect() did not connect");
    let eager_msgpack = rpc_msgpack::Client::connect(addr.as_str()).await?;
    assert!(connects(&listener).await, "connect() did not connect");
    drop((eager_xml, eager_msgpack));
    // Now serve the same listener over MessagePack-RPC and call through the lazy MessagePack-RPC client.
    tokio::spawn(rpc_msgpack::Server::new(router()).serve(listener));
    assert_eq!(math(clients.2).double(4).await?, 8);
    Ok(())
}

//! [`Arg`]: what a generated client's method takes for a param.

use serde::Serialize;

/// A value a generated client sends where the method takes a `T`: the `T` itself, a reference to one, or a
/// borrowed form that goes on the wire as a `T` does (`&str` for a `String`, `&[U]` for a `Vec<U>`).
///
/// A client method for `async fn greet(&self, name: String, tags: Vec<String>)` takes
/// `name: impl Arg<String>, tags: impl Arg<Vec<String>>`, so a caller that keeps its values passes
/// references and nothing is cloned:
///
/// ```
/// # use rpc_core::{MemoryTransport, service};
/// #[service]
/// pub trait Greeter {
///     async fn greet(&self, name: String, tags: Vec<String>) -> String;
/// }
/// # struct G;
/// # impl Greeter for G {
/// #     async fn greet(&self, name: String, tags: Vec<String>) -> String { format!("{name} {}", tags.join(",")) }
/// # }
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// # let client = GreeterClient::new(MemoryTransport::new(GreeterServer::new(G)));
/// let tags = vec!["a".to_owned(), "b".to_owned()];
/// let name = String::from("ada");
/// client.greet(&name, &tags).await?; // borrowed
/// client.greet("ada", &tags[..1]).await?; // &str, a slice
/// client.greet(name, tags).await?; // owned
/// # Ok::<(), rpc_core::Error>(())
/// # }).unwrap();
/// ```
///
/// A value whose type the compiler must infer from the param (`x.into()`, `iter.collect()`) needs its type
/// written: `client.greet(String::from(x), ..)`, `iter.collect::<Vec<_>>()`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be sent as the param type `{T}`",
    label = "expected `{T}`, a reference to one, or its borrowed form",
    note = "a client param takes the method's own type `T`, a `&T`, `&str` for `String` or `&[U]` for `Vec<U>`"
)]
pub trait Arg<T>: Serialize {}

impl<T: Serialize> Arg<T> for T {}

impl<T: Serialize> Arg<T> for &T {}

impl Arg<String> for &str {}

impl<U: Serialize> Arg<Vec<U>> for &[U] {}

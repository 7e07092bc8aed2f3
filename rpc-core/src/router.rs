//! [`Router`]: several services behind one server.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use crate::{CallFuture, CallParams, Context, Dispatch, Fault, MethodInfo, Value};

/// Mounts several services on one server, each optionally under a prefix (`math.double`).
///
/// A router is itself a [`Dispatch`], so every server transport takes one. Unknown names answer
/// [`Fault::METHOD_NOT_FOUND`].
///
/// ```
/// use rpc_core::{Router, service};
///
/// #[service]
/// pub trait Math {
///     /// Returns num * 2.
///     async fn double(&self, num: i64) -> i64;
/// }
///
/// #[service]
/// pub trait Greeter {
///     /// Says hello.
///     async fn hello(&self, name: String) -> String;
/// }
///
/// struct Impl;
/// impl Math for Impl {
///     async fn double(&self, num: i64) -> i64 { num * 2 }
/// }
/// impl Greeter for Impl {
///     async fn hello(&self, name: String) -> String { format!("hello, {name}") }
/// }
///
/// let router = Router::new()
///     .mount(GreeterServer::new(Impl))              // "hello"
///     .mount_prefixed("math", MathServer::new(Impl)); // "math.double"
/// let names: Vec<_> = router.method_names().collect();
/// assert_eq!(names, ["hello", "math.double"]);
/// ```
#[derive(Clone, Default)]
pub struct Router {
    routes: HashMap<String, Route>,
    methods: Vec<MethodInfo>,
}

#[derive(Clone)]
struct Route {
    service: Arc<dyn Dispatch>,
    local: Cow<'static, str>,
}

impl Router {
    /// An empty router.
    pub fn new() -> Router {
        Router::default()
    }

    /// Mounts `service` with its methods under their own names.
    ///
    /// # Panics
    /// If one of its names is already mounted: two services answering one name is a bug to fix at start-up,
    /// not a choice to make at run time. Use [`Router::try_mount`] to handle it instead.
    pub fn mount(self, service: impl Dispatch) -> Router {
        self.mount_inner(None, Arc::new(service)).unwrap_or_else(|name| panic!("{}", duplicate(&name)))
    }

    /// Mounts `service` with each method name prefixed by `prefix` and a dot (`math` + `double` is
    /// `math.double`).
    ///
    /// # Panics
    /// If one of the prefixed names is already mounted (see [`Router::try_mount_prefixed`]).
    pub fn mount_prefixed(self, prefix: &str, service: impl Dispatch) -> Router {
        self.mount_inner(Some(prefix), Arc::new(service)).unwrap_or_else(|name| panic!("{}", duplicate(&name)))
    }

    /// Like [`Router::mount`], but a clash is an error naming the method (the router is unchanged).
    pub fn try_mount(self, service: impl Dispatch) -> Result<Router, (Router, String)> {
        self.try_mount_inner(None, Arc::new(service))
    }

    /// Like [`Router::mount_prefixed`], but a clash is an error naming the method (the router is unchanged).
    pub fn try_mount_prefixed(self, prefix: &str, service: impl Dispatch) -> Result<Router, (Router, String)> {
        self.try_mount_inner(Some(prefix), Arc::new(service))
    }

    /// The wire names of every mounted method, in mount order.
    pub fn method_names(&self) -> impl Iterator<Item = &str> {
        self.methods.iter().map(|m| m.name.as_ref())
    }

    fn try_mount_inner(self, prefix: Option<&str>, service: Arc<dyn Dispatch>) -> Result<Router, (Router, String)> {
        let backup = self.clone();
        self.mount_inner(prefix, service).map_err(|name| (backup, duplicate(&name)))
    }

    fn mount_inner(mut self, prefix: Option<&str>, service: Arc<dyn Dispatch>) -> Result<Router, String> {
        for mut info in service.methods() {
            let local = info.name.clone();
            if let Some(prefix) = prefix {
                info.name = Cow::Owned(format!("{prefix}.{local}"));
                // A stream method's other names go under the prefix too.
                if let Some(stream) = &mut info.stream {
                    stream.notification = Cow::Owned(format!("{prefix}.{}", stream.notification));
                    stream.unsubscribe = Cow::Owned(format!("{prefix}.{}", stream.unsubscribe));
                }
            }
            if self.routes.contains_key(info.name.as_ref()) {
                return Err(info.name.into_owned());
            }
            self.routes.insert(info.name.clone().into_owned(), Route { service: service.clone(), local });
            self.methods.push(info);
        }
        Ok(self)
    }
}

fn duplicate(name: &str) -> String {
    format!("method {name:?} is mounted twice on one router")
}

impl Dispatch for Router {
    fn call(&self, method: &str, params: CallParams<'_>, cx: Context) -> CallFuture {
        match self.routes.get(method) {
            Some(route) => route.service.call(&route.local, params, cx),
            None => {
                let fault = Fault::method_not_found(method);
                Box::pin(async move { Err(fault) })
            }
        }
    }

    fn methods(&self) -> Vec<MethodInfo> {
        self.methods.clone()
    }

    fn subscribe(&self, method: &str, params: Vec<Value>, cx: Context) -> crate::StreamFuture {
        match self.routes.get(method) {
            Some(route) => route.service.subscribe(&route.local, params, cx),
            None => {
                let fault = Fault::method_not_found(method);
                Box::pin(async move { Err(fault) })
            }
        }
    }
}

impl fmt::Debug for Router {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Router").field("methods", &self.method_names().collect::<Vec<_>>()).finish()
    }
}

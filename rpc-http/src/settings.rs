//! The HTTP settings every HTTP encoding's server and client builders offer, written once: an encoding's
//! builder keeps an `http` field ([`ServerConfig`](crate::ServerConfig) or [`ClientBuilder`](crate::ClientBuilder))
//! and calls [`http_server_settings!`](crate::http_server_settings) or
//! [`http_client_settings!`](crate::http_client_settings) inside its `impl` block. Each setting is documented
//! once, at the `ServerConfig` or `ClientBuilder` method it sets, with its default linked to its constant; the
//! encoding's method says what it is in a line and links there.

/// The setters of an encoding's builder, each `self.http = self.http.NAME(ARG)`.
#[doc(hidden)]
#[macro_export]
macro_rules! __http_settings {
    ($($(#[$doc:meta])* $name:ident($arg:ident: $ty:ty);)*) => {$(
        $(#[$doc])*
        pub fn $name(mut self, $arg: $ty) -> Self {
            self.http = self.http.$name($arg);
            self
        }
    )*};
}

/// Generates the HTTP settings of an encoding's server builder: a type with a field
/// `http: rpc_http::ServerConfig` gets `max_body_size`, `max_decompressed_size`, `header_read_timeout`,
/// `body_read_timeout`, `max_connections`, `shutdown_timeout`, `drain_grace`, `http_layer`, `gzip_threshold`,
/// `tls` and `authenticate`, each setting the [`ServerConfig`](crate::ServerConfig) method of the same name
/// (whose docs say it all, the default included).
#[macro_export]
macro_rules! http_server_settings {
    () => {
        $crate::__http_settings! {
            /// The largest request body accepted, in bytes (HTTP 413 past it): see
            /// [`ServerConfig::max_body_size`](rpc_http::ServerConfig::max_body_size); default
            /// [`DEFAULT_MAX_BODY_SIZE`](rpc_http::DEFAULT_MAX_BODY_SIZE), 16 MiB.
            max_body_size(bytes: usize);
            /// The largest size a gzipped request body may inflate to: see
            /// [`ServerConfig::max_decompressed_size`](rpc_http::ServerConfig::max_decompressed_size); default
            /// [`DEFAULT_MAX_BODY_SIZE`](rpc_http::DEFAULT_MAX_BODY_SIZE), 16 MiB.
            max_decompressed_size(bytes: usize);
            /// How long a client may take to send a request's headers, and the longest a keep-alive connection may
            /// sit idle: see [`ServerConfig::header_read_timeout`](rpc_http::ServerConfig::header_read_timeout);
            /// default [`DEFAULT_HEADER_READ_TIMEOUT`](rpc_http::DEFAULT_HEADER_READ_TIMEOUT), 30 s.
            header_read_timeout(timeout: ::std::time::Duration);
            /// How long a client may take to send a request's body (HTTP 408 past it): see
            /// [`ServerConfig::body_read_timeout`](rpc_http::ServerConfig::body_read_timeout); default
            /// [`DEFAULT_BODY_READ_TIMEOUT`](rpc_http::DEFAULT_BODY_READ_TIMEOUT), 30 s.
            body_read_timeout(timeout: ::std::time::Duration);
            /// How many connections are served at once (HTTP 503 past it): see
            /// [`ServerConfig::max_connections`](rpc_http::ServerConfig::max_connections); default
            /// [`DEFAULT_MAX_CONNECTIONS`](rpc_http::DEFAULT_MAX_CONNECTIONS), 10,000.
            max_connections(connections: usize);
            /// How long a graceful shutdown waits for calls in flight: see
            /// [`ServerConfig::shutdown_timeout`](rpc_http::ServerConfig::shutdown_timeout); default
            /// [`DEFAULT_SHUTDOWN_TIMEOUT`](rpc_http::DEFAULT_SHUTDOWN_TIMEOUT), 30 s.
            shutdown_timeout(timeout: ::std::time::Duration);
            /// How long a graceful shutdown keeps an idle connection open for one more request (behind a proxy:
            /// keep the proxy's upstream idle timeout below it): see
            /// [`ServerConfig::drain_grace`](rpc_http::ServerConfig::drain_grace); default
            /// [`DEFAULT_DRAIN_GRACE`](rpc_http::DEFAULT_DRAIN_GRACE), 2 s.
            drain_grace(grace: ::std::time::Duration);
            /// Wraps the handling of every HTTP request in a tower layer (tower-http's, or your own; several
            /// stack, the first outermost): see [`ServerConfig::http_layer`](rpc_http::ServerConfig::http_layer);
            /// default none.
            http_layer(layer: impl $crate::HttpLayer);
            /// Compresses responses of at least this many bytes for clients that accept gzip (`None`: never): see
            /// [`ServerConfig::gzip_threshold`](rpc_http::ServerConfig::gzip_threshold); default 1400 bytes.
            gzip_threshold(bytes: ::std::option::Option<usize>);
            /// Serves HTTPS with this rustls configuration: see
            /// [`ServerConfig::tls`](rpc_http::ServerConfig::tls); default plain HTTP.
            tls(config: ::std::sync::Arc<$crate::rustls::ServerConfig>);
            /// Checks every request's credentials (HTTP Basic or Bearer) before reading it (HTTP 401 on `false`;
            /// handlers find them in their `&Context`): see
            /// [`ServerConfig::authenticate`](rpc_http::ServerConfig::authenticate); default no check.
            authenticate(check: impl Fn(::std::option::Option<&$crate::Credentials>) -> bool + Send + Sync + 'static);
        }
    };
}

/// Generates the HTTP settings of an encoding's client builder: a type with a field
/// `http: rpc_http::ClientBuilder` gets `timeout`, `max_response_size`, `pool_idle_timeout`,
/// `gzip_requests_over`, `credentials`, `tls_config` and `unix_socket`, each setting the
/// [`ClientBuilder`](crate::ClientBuilder) method of the same name (whose docs say it all, the default
/// included).
#[macro_export]
macro_rules! http_client_settings {
    () => {
        $crate::__http_settings! {
            /// How long one call may take (`None`: for ever; over it, `rpc_core::Error::Timeout`): see
            /// [`ClientBuilder::timeout`](rpc_http::ClientBuilder::timeout); default
            /// [`DEFAULT_TIMEOUT`](rpc_http::DEFAULT_TIMEOUT), 30 s.
            timeout(timeout: ::std::option::Option<::std::time::Duration>);
            /// The largest response body accepted, after inflating gzip: see
            /// [`ClientBuilder::max_response_size`](rpc_http::ClientBuilder::max_response_size); default
            /// [`DEFAULT_MAX_RESPONSE_SIZE`](rpc_http::DEFAULT_MAX_RESPONSE_SIZE), 64 MiB.
            max_response_size(bytes: usize);
            /// How long an idle pooled connection is kept: see
            /// [`ClientBuilder::pool_idle_timeout`](rpc_http::ClientBuilder::pool_idle_timeout); default
            /// [`DEFAULT_POOL_IDLE_TIMEOUT`](rpc_http::DEFAULT_POOL_IDLE_TIMEOUT), 90 s.
            pool_idle_timeout(timeout: ::std::time::Duration);
            /// Compresses request bodies of at least this many bytes with gzip, for servers that accept it: see
            /// [`ClientBuilder::gzip_requests_over`](rpc_http::ClientBuilder::gzip_requests_over); default never.
            gzip_requests_over(bytes: ::std::option::Option<usize>);
            /// Sends these credentials (HTTP Basic or Bearer) with every call, instead of a `user:password@` in
            /// the URL: see [`ClientBuilder::credentials`](rpc_http::ClientBuilder::credentials).
            credentials(credentials: $crate::Credentials);
            /// The rustls configuration for `https://` URLs: see
            /// [`ClientBuilder::tls_config`](rpc_http::ClientBuilder::tls_config); default the system's roots.
            tls_config(config: ::std::sync::Arc<$crate::rustls::ClientConfig>);
            /// Connects to the Unix socket at `path` instead of the URL's host: see
            /// [`ClientBuilder::unix_socket`](rpc_http::ClientBuilder::unix_socket).
            unix_socket(path: impl ::std::convert::Into<::std::path::PathBuf>);
        }
    };
}

/// Generates `serve` and `serve_with_shutdown` for an encoding's server builder that has a method
/// `fn into_http(self) -> (rpc_http::ServerConfig, impl rpc_http::Endpoint)`: its HTTP settings and the endpoint
/// that answers its requests, served by [`serve`](crate::serve).
#[macro_export]
macro_rules! http_serve {
    () => {
        /// Serves connections from `listener` (a [`TcpListener`](tokio::net::TcpListener), a
        /// [`UnixListener`](tokio::net::UnixListener), or any [`Listener`](rpc_http::Listener)) for ever (errors
        /// accepting one connection are logged and skipped).
        pub async fn serve<L: $crate::Listener>(self, listener: L) -> ::std::io::Result<()> {
            self.serve_with_shutdown(listener, ::std::future::pending()).await
        }

        /// Serves connections from `listener` until `signal` completes; then stops accepting, lets the requests
        /// in flight finish, answers at most one more request on each idle connection within the drain grace
        /// (each answer with `Connection: close`, so that a proxy in front loses no call: see
        /// [`drain_grace`](Self::drain_grace)), closes the connections (for up to the shutdown timeout), and
        /// returns.
        pub async fn serve_with_shutdown<L: $crate::Listener>(
            self,
            listener: L,
            signal: impl ::std::future::Future<Output = ()> + Send,
        ) -> ::std::io::Result<()> {
            let (config, endpoint) = self.into_http();
            $crate::serve(listener, endpoint, config, signal).await
        }
    };
}

/// Generates the constructors every HTTP encoding's client has, documented once: `new` (lazy), `connect`
/// (eager), `builder` and `uri`. For a `Client` with a field `http: rpc_http::Client`, with its `ClientBuilder`
/// (an [`EncodingClientBuilder`](crate::EncodingClientBuilder)) and `Error` in scope; the argument says which
/// URLs it takes.
#[macro_export]
macro_rules! http_client_constructors {
    ($urls:literal) => {
        #[doc = concat!("A client for `url` (", $urls, ") with the default settings.")]
        pub fn new(url: &str) -> Result<Client, Error> {
            Client::builder().build(url)
        }

        /// A client for `url` with the default settings, connected now: an endpoint that cannot be reached is an
        /// error here rather than at the first call (see [`ClientBuilder::connect`]).
        pub async fn connect(url: &str) -> Result<Client, Error> {
            Client::builder().connect(url).await
        }

        /// A builder to change the settings; it ends in [`build`](ClientBuilder::build) (lazy) or
        /// [`connect`](ClientBuilder::connect) (eager), as every client's builder does.
        pub fn builder() -> ClientBuilder {
            ClientBuilder::default()
        }

        /// The endpoint this client calls (without credentials).
        pub fn uri(&self) -> &$crate::__http::Uri {
            self.http.uri()
        }
    };
}

//! The HTTP settings every HTTP encoding's server and client builders offer, written once: an encoding's
//! builder keeps an `http` field ([`ServerConfig`](crate::ServerConfig) or [`ClientBuilder`](crate::ClientBuilder))
//! and calls [`http_server_settings!`](crate::http_server_settings) or
//! [`http_client_settings!`](crate::http_client_settings) inside its `impl` block.

/// Generates the HTTP settings of an encoding's server builder: a type with a field
/// `http: rpc_http::ServerConfig` gets `max_body_size`, `max_decompressed_size`, `header_read_timeout`,
/// `body_read_timeout`, `max_connections`, `shutdown_timeout`, `drain_grace`, `gzip_threshold`, `tls`,
/// `authenticate` and `http_layer`,
/// each delegating to the [`ServerConfig`](crate::ServerConfig) method of the same name (whose docs give
/// the defaults).
#[macro_export]
macro_rules! http_server_settings {
    () => {
        /// The largest request body accepted, in bytes (default 16 MiB). Larger ones get HTTP 413, a declared
        /// `Content-Length` before any of the body is read.
        pub fn max_body_size(mut self, bytes: usize) -> Self {
            self.http = self.http.max_body_size(bytes);
            self
        }

        /// The largest size a `Content-Encoding: gzip` request body may inflate to, in bytes (default 16 MiB).
        /// Larger ones get HTTP 413; inflating stops at the limit, so a gzip bomb costs no more than this.
        pub fn max_decompressed_size(mut self, bytes: usize) -> Self {
            self.http = self.http.max_decompressed_size(bytes);
            self
        }

        /// How long a client may take to send a request's headers, which is also the longest a keep-alive
        /// connection may sit idle between requests (default 30 s); then the connection is closed.
        pub fn header_read_timeout(mut self, timeout: ::std::time::Duration) -> Self {
            self.http = self.http.header_read_timeout(timeout);
            self
        }

        /// How long a client may take to send a request's body once its headers are in (default 30 s); a
        /// slower one gets HTTP 408.
        pub fn body_read_timeout(mut self, timeout: ::std::time::Duration) -> Self {
            self.http = self.http.body_read_timeout(timeout);
            self
        }

        /// How many connections are served at once (default 10,000); one over the limit gets HTTP 503 and is
        /// closed. Keep it under the process's file-descriptor limit.
        pub fn max_connections(mut self, connections: usize) -> Self {
            self.http = self.http.max_connections(connections);
            self
        }

        /// How long a graceful shutdown waits for calls in flight before closing their connections anyway
        /// (default 30 s).
        pub fn shutdown_timeout(mut self, timeout: ::std::time::Duration) -> Self {
            self.http = self.http.shutdown_timeout(timeout);
            self
        }

        /// How long a graceful shutdown keeps a connection with nothing in flight (idle keep-alive, or not yet
        /// sent its first request) open for one more request, answered with `Connection: close` (default 2 s).
        /// Behind a proxy, keep the proxy's idle timeout for upstream connections below it (nginx:
        /// `keepalive_timeout` in the `upstream` block), so that no connection is closed under a request the
        /// proxy is sending. See `rpc_http::ServerConfig::drain_grace`.
        pub fn drain_grace(mut self, grace: ::std::time::Duration) -> Self {
            self.http = self.http.drain_grace(grace);
            self
        }

        /// Wrap the handling of every HTTP request in a tower layer (tower-http's `CorsLayer`, `TraceLayer`,
        /// `RequestBodyLimitLayer`, ... or your own): it sees each request before the server checks it and each
        /// answer, the server's refusals included. Several calls stack, the first outermost. Default: none. See
        /// `rpc_http::ServerConfig::http_layer`.
        pub fn http_layer(mut self, layer: impl $crate::HttpLayer) -> Self {
            self.http = self.http.http_layer(layer);
            self
        }

        /// Compress responses of at least this many bytes with gzip when the client sends
        /// `Accept-Encoding: gzip` (default `Some(1400)`, Python's threshold); `None` never compresses.
        pub fn gzip_threshold(mut self, bytes: ::std::option::Option<usize>) -> Self {
            self.http = self.http.gzip_threshold(bytes);
            self
        }

        /// Serve HTTPS with this rustls configuration (see `rpc_http::ServerConfig::tls`); the handshake must
        /// finish within the header-read timeout.
        pub fn tls(mut self, config: ::std::sync::Arc<$crate::rustls::ServerConfig>) -> Self {
            self.http = self.http.tls(config);
            self
        }

        /// Check every request's credentials (HTTP Basic or Bearer; `None` when it sent none) before reading
        /// it: `false` answers HTTP 401. Handlers find the caller's credentials in their `&Context` as
        /// `rpc_http::Credentials`. See `rpc_http::ServerConfig::authenticate`.
        pub fn authenticate(
            mut self,
            check: impl Fn(::std::option::Option<&$crate::Credentials>) -> bool + Send + Sync + 'static,
        ) -> Self {
            self.http = self.http.authenticate(check);
            self
        }
    };
}

/// Generates the HTTP settings of an encoding's client builder: a type with a field
/// `http: rpc_http::ClientBuilder` gets `timeout`, `max_response_size`, `pool_idle_timeout`,
/// `gzip_requests_over`, `credentials` and `tls_config`, each delegating to the
/// [`ClientBuilder`](crate::ClientBuilder) method of the same name.
#[macro_export]
macro_rules! http_client_settings {
    () => {
        /// How long one call may take, from sending to the last byte of the answer (default 30 s); `None` waits
        /// for ever. A call over time fails with `rpc_core::Error::Timeout`.
        pub fn timeout(mut self, timeout: ::std::option::Option<::std::time::Duration>) -> Self {
            self.http = self.http.timeout(timeout);
            self
        }

        /// The largest response body accepted, in bytes, after inflating gzip (default 64 MiB).
        pub fn max_response_size(mut self, bytes: usize) -> Self {
            self.http = self.http.max_response_size(bytes);
            self
        }

        /// How long an idle pooled connection is kept (default 90 s).
        pub fn pool_idle_timeout(mut self, timeout: ::std::time::Duration) -> Self {
            self.http = self.http.pool_idle_timeout(timeout);
            self
        }

        /// Compress request bodies of at least this many bytes with gzip (default `None`: never, like Python's
        /// `Transport.encode_threshold`); only for servers that accept `Content-Encoding: gzip` (Python's and
        /// ours do). Responses are always accepted gzipped.
        pub fn gzip_requests_over(mut self, bytes: ::std::option::Option<usize>) -> Self {
            self.http = self.http.gzip_requests_over(bytes);
            self
        }

        /// Send these credentials (HTTP Basic or a Bearer token) with every call, instead of any
        /// `user:password@` in the URL.
        pub fn credentials(mut self, credentials: $crate::Credentials) -> Self {
            self.http = self.http.credentials(credentials);
            self
        }

        /// The rustls configuration for `https://` URLs, e.g. to trust a private CA (default: the system's root
        /// certificates, or Mozilla's bundled ones where the system has none).
        pub fn tls_config(mut self, config: ::std::sync::Arc<$crate::rustls::ClientConfig>) -> Self {
            self.http = self.http.tls_config(config);
            self
        }

        /// Connect to the Unix socket at `path` instead of the URL's host; the URL (`http://localhost/`) still
        /// gives each request's path and `Host`. Servers of this crate serve Unix sockets with
        /// `serve(tokio::net::UnixListener::bind(path)?)`.
        pub fn unix_socket(mut self, path: impl ::std::convert::Into<::std::path::PathBuf>) -> Self {
            self.http = self.http.unix_socket(path);
            self
        }
    };
}

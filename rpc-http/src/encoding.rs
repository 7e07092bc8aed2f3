//! [`EncodingClientBuilder`]: the one builder of every HTTP encoding's client (`rpc_xml::ClientBuilder` and
//! `rpc_json::ClientBuilder` are it), the shared HTTP settings plus what the encoding says of itself
//! ([`HttpEncoding`]).

use std::marker::PhantomData;

use crate::{Client, ClientBuilder, EncodingError};

/// What an HTTP encoding tells [`EncodingClientBuilder`] to make its client.
pub trait HttpEncoding {
    /// The encoding's client.
    type Client;
    /// The name of its format in error messages (`"XML"`, `"JSON"`): see [`EncodingError`].
    const FORMAT: &'static str;
    /// The `Content-Type` of its bodies.
    const CONTENT_TYPE: &'static str;
    /// Its `User-Agent`: the crate and its version.
    const USER_AGENT: &'static str;
    /// Its default depth limit on a response's values.
    const DEFAULT_MAX_DEPTH: usize;

    /// The URL to post to, from the one the user gave (default: as it is; rpc-json takes off a CLI-style
    /// `jsonrpc+` prefix).
    fn url(url: &str) -> &str {
        url
    }

    /// Its client over `http`, reading responses within `max_depth`.
    fn client(http: Client, max_depth: usize) -> Self::Client;

    /// The HTTP client inside its client.
    fn http(client: &Self::Client) -> &Client;
}

/// Settings for an HTTP encoding's client: every HTTP setting of [`ClientBuilder`] (its docs give each one's
/// default), the depth limit on responses, then [`build`](Self::build) (lazy) or [`connect`](Self::connect)
/// (eager).
pub struct EncodingClientBuilder<E> {
    http: ClientBuilder,
    max_depth: usize,
    encoding: PhantomData<fn() -> E>,
}

impl<E> Clone for EncodingClientBuilder<E> {
    fn clone(&self) -> Self {
        EncodingClientBuilder { http: self.http.clone(), max_depth: self.max_depth, encoding: PhantomData }
    }
}

impl<E> std::fmt::Debug for EncodingClientBuilder<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientBuilder").field("http", &self.http).field("max_depth", &self.max_depth).finish()
    }
}

impl<E: HttpEncoding> Default for EncodingClientBuilder<E> {
    fn default() -> Self {
        EncodingClientBuilder { http: ClientBuilder::default(), max_depth: E::DEFAULT_MAX_DEPTH, encoding: PhantomData }
    }
}

impl<E: HttpEncoding> EncodingClientBuilder<E> {
    crate::http_client_settings!();

    /// How deeply arrays and maps may nest in a response's values (default: the encoding's `DEFAULT_MAX_DEPTH`,
    /// 64); a deeper response is an error.
    pub fn max_depth(mut self, depth: usize) -> Self {
        self.max_depth = depth;
        self
    }

    /// A client for `url` (`http://` or `https://`); `user:password@` becomes Basic authentication. Lazy:
    /// nothing is opened until the first call (a bad URL is an error now, an unreachable server at that call).
    ///
    /// # Errors
    /// A URL that does not parse, or of another scheme.
    pub fn build(self, url: &str) -> Result<E::Client, EncodingError<E>> {
        let http = self.http.build(E::url(url), E::CONTENT_TYPE, E::USER_AGENT)?;
        Ok(E::client(http, self.max_depth))
    }

    /// A client for `url`, as [`build`](Self::build) makes it, connected now: one connection is opened (TCP,
    /// TLS, or the [`unix_socket`](Self::unix_socket)) within the [`timeout`](Self::timeout), so that an
    /// unreachable server is an error here. Calls still take connections from the keep-alive pool, which opens
    /// its own as they are needed.
    ///
    /// # Errors
    /// As [`build`](Self::build), and a server that cannot be reached.
    pub async fn connect(self, url: &str) -> Result<E::Client, EncodingError<E>> {
        let client = self.build(url)?;
        E::http(&client).reach().await?;
        Ok(client)
    }
}

//! Streams: a `#[service]` method that returns [`Stream<T>`] pushes its items to the caller, who gets a
//! [`Subscription<T>`].
//!
//! On the wire a stream method is a subscription, by the convention jsonrpsee and Ethereum nodes use: the caller
//! calls its subscribe name (`subscribe_<name>` unless `#[rpc(subscribe = "...")]` says otherwise) and is answered
//! with a subscription id; every item then comes as a notification named after the method (`<name>`, or
//! `#[rpc(notification = "...")]`) carrying the id and the item; the caller ends it early by calling the
//! unsubscribe name (`unsubscribe_<name>`, or `#[rpc(unsubscribe = "...")]`) with the id. How each encoding spells
//! the notifications, and how it tells the caller that a stream has ended, is in its crate's docs.
//!
//! Only duplex transports (TCP, Unix sockets, stdio, WebSocket) can push: over HTTP a stream method answers a
//! fault saying so ([`needs_duplex`]), and a client over HTTP fails with the same words before sending anything.
//! [`MemoryTransport`](crate::MemoryTransport) serves streams in process.
//!
//! ```
//! use rpc_core::{MemoryTransport, Stream, service};
//! use futures_util::StreamExt;
//!
//! #[service]
//! pub trait Counter {
//!     /// Counts from 0 to n - 1.
//!     async fn count(&self, n: u64) -> Stream<u64>;
//! }
//!
//! struct Impl;
//!
//! impl Counter for Impl {
//!     async fn count(&self, n: u64) -> Stream<u64> {
//!         Stream::new(futures_util::stream::iter(0..n))
//!     }
//! }
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let client = CounterClient::new(MemoryTransport::new(CounterServer::new(Impl)));
//! let items: Vec<u64> = client.count(3).await?.map(|item| item.unwrap()).collect().await;
//! assert_eq!(items, [0, 1, 2]);
//! # Ok::<(), rpc_core::Error>(())
//! # }).unwrap();
//! ```

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Poll, ready};

use futures_util::StreamExt;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::encoding::{Answer, Reply};
use crate::{BoxFuture, Error, Fault, Value};

/// What a stream method returns: its items, made by any [`futures::Stream`](futures_util::Stream) (`futures`,
/// `tokio-stream`, `async-stream`).
///
/// The subscription ends when the stream does (the caller is told), or at its first `Err` item (the caller
/// gets the fault, and nothing after it is polled). The stream is dropped as soon as the caller unsubscribes,
/// drops its [`Subscription`] or closes the connection, so that its `Drop` stops whatever feeds it.
pub struct Stream<T> {
    inner: Pin<Box<dyn futures_util::Stream<Item = Result<T, Fault>> + Send>>,
}

impl<T: Send + 'static> Stream<T> {
    /// The items of `stream`, each sent as it comes.
    pub fn new(stream: impl futures_util::Stream<Item = T> + Send + 'static) -> Stream<T> {
        Stream { inner: Box::pin(stream.map(Ok)) }
    }

    /// The items of a stream that can fail: an `Err` ends the subscription with the error as its fault.
    pub fn try_new<E: Into<Fault>>(
        stream: impl futures_util::Stream<Item = Result<T, E>> + Send + 'static,
    ) -> Stream<T> {
        Stream { inner: Box::pin(stream.map(|item| item.map_err(Into::into))) }
    }

    /// A stream that ends at once, with no items.
    pub fn empty() -> Stream<T> {
        Stream::new(futures_util::stream::empty())
    }
}

impl<T> futures_util::Stream for Stream<T> {
    type Item = Result<T, Fault>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<Option<Self::Item>> {
        self.inner.as_mut().poll_next(cx)
    }
}

impl<T> fmt::Debug for Stream<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Stream").finish_non_exhaustive()
    }
}

/// A stream method's items on their way to the wire (the server side of a subscription, as
/// [`Dispatch::subscribe`](crate::Dispatch::subscribe) gives them): each a reply the encoding serialises
/// straight into its notification. A transport stops polling after the first `Err`.
pub type ItemStream = Pin<Box<dyn futures_util::Stream<Item = Result<Reply, Fault>> + Send>>;

impl<T: Serialize + Send + 'static> Stream<T> {
    /// The items as replies, for the transport.
    pub(crate) fn into_items(self) -> ItemStream {
        Box::pin(self.inner.map(|item| item.map(|item| Box::new(item) as Reply)))
    }
}

/// The names a stream method goes by on the wire (see the [module docs](self)), in its [`MethodInfo`](crate::MethodInfo)
/// (whose `name` is the subscribe name).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct StreamInfo {
    /// The name of the notifications that carry the items.
    pub notification: Cow<'static, str>,
    /// The method that ends a subscription early, called with its id.
    pub unsubscribe: Cow<'static, str>,
}

/// The three names of a stream method as a client calls it ([`Transport::subscribe`](crate::Transport::subscribe)).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StreamNames<'a> {
    /// The method called to subscribe, answered with the subscription's id.
    pub subscribe: &'a str,
    /// The notifications the items arrive in.
    pub notification: &'a str,
    /// The method called with the id to end the subscription.
    pub unsubscribe: &'a str,
}

/// What a stream method answers where the transport cannot push (HTTP), and the error a client over such a
/// transport fails with before sending anything: the same words on both sides.
pub fn needs_duplex(method: &str) -> String {
    format!(
        "{method} returns a stream, which needs a duplex transport (TCP, a Unix socket, stdio or WebSocket): \
         this transport cannot push items"
    )
}

/// The fault for [`needs_duplex`]: -32600, invalid request (the method exists; this transport cannot carry it).
pub(crate) fn needs_duplex_fault(method: &str) -> Fault {
    Fault::invalid_request(needs_duplex(method))
}

/// A subscription as a transport holds it: the items as they arrive, still in the encoding's hands, and the
/// way to end it. Dropping it ends the subscription on the server too (the transport sends the unsubscribe).
pub trait SubscriptionSource: Send {
    /// The subscription's id, as the server gave it.
    fn id(&self) -> &Value;

    /// The next item; `None` once the stream has ended. A stream that failed, or a subscription the transport
    /// lost (the connection closed, the caller fell too far behind), gives one `Err` and then `None`.
    fn poll_item(&mut self, cx: &mut std::task::Context<'_>) -> Poll<Option<Result<Box<dyn Answer>, Error>>>;

    /// Ends the subscription, waiting for the server to confirm it.
    fn unsubscribe(self: Box<Self>) -> BoxFuture<'static, Result<(), Error>>;
}

/// The caller's end of a stream method: a [`futures::Stream`](futures_util::Stream) of its items.
///
/// It ends when the server's stream ends; a stream that failed gives its fault as [`Error::Fault`], and a
/// subscription lost on the way (the connection closed, or this side left more items unread than its buffer
/// holds) gives one error saying so; either is the last item. Dropping it, or
/// [`unsubscribe`](Subscription::unsubscribe), ends the stream on the server.
pub struct Subscription<T> {
    source: Box<dyn SubscriptionSource>,
    method: &'static str,
    ended: bool,
    item: PhantomData<fn() -> T>,
}

impl<T> Subscription<T> {
    /// The subscription `source` delivers, of the stream method `method` (named in decode errors).
    pub fn new(method: &'static str, source: Box<dyn SubscriptionSource>) -> Subscription<T> {
        Subscription { source, method, ended: false, item: PhantomData }
    }

    /// The id the server gave the subscription.
    pub fn id(&self) -> &Value {
        self.source.id()
    }

    /// Ends the subscription and waits for the server to confirm it; items sent before it did are dropped.
    pub async fn unsubscribe(self) -> Result<(), Error> {
        self.source.unsubscribe().await
    }
}

impl<T: DeserializeOwned + Send + 'static> futures_util::Stream for Subscription<T> {
    type Item = Result<T, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.ended {
            return Poll::Ready(None);
        }
        Poll::Ready(match ready!(this.source.poll_item(cx)) {
            // An item that does not read as a `T` is an error of its own; the items after it still come.
            Some(Ok(answer)) => Some(crate::__private::read_answer::<T>(this.method, Ok(answer))),
            // The source has ended (after an error too): nothing more.
            None => {
                this.ended = true;
                None
            }
            Some(Err(e)) => {
                this.ended = true;
                Some(Err(e))
            }
        })
    }
}

impl<T> fmt::Debug for Subscription<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Subscription").field("method", &self.method).field("id", self.id()).finish_non_exhaustive()
    }
}

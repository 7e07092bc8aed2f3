//! The code `#[service]` generates names only absolute paths: it compiles in a module without the prelude,
//! where `Result`, `Option`, `Box`, `Vec`, `String`, `Send`, `Future` and friends are not in scope, and next
//! to user items that shadow those names.

#![no_implicit_prelude]

mod service {
    // Items named like prelude and std items: generated code must not pick these up.
    #[allow(dead_code)]
    mod shadows {
        pub struct Result;
        pub struct Option;
        pub struct Box;
        pub struct Vec;
        pub struct String;
        pub struct Arc;
        pub trait Send {}
        pub trait Sync {}
        pub trait Future {}
        pub trait Clone {}
        pub trait Debug {}
        pub trait Transport {}
        pub trait Dispatch {}
        pub struct Subscription;
        pub fn drop() {}
    }
    #[allow(unused_imports)]
    use self::shadows::*;

    /// A struct param and result.
    #[derive(::core::fmt::Debug, ::core::cmp::PartialEq, ::serde::Serialize, ::serde::Deserialize)]
    pub struct Point {
        pub x: i32,
        pub y: i32,
    }

    /// A handler error.
    #[derive(::core::fmt::Debug)]
    pub struct Denied;

    impl ::core::convert::From<Denied> for ::rpc_core::Fault {
        fn from(_: Denied) -> ::rpc_core::Fault {
            ::rpc_core::Fault::new(403, "denied")
        }
    }

    /// Every shape the macro supports.
    #[::rpc_core::service]
    pub trait Shapes {
        /// A plain call.
        async fn double(&self, num: i64) -> i64;

        /// A `Result` return.
        async fn check(&self, user: ::std::string::String) -> ::core::result::Result<::std::string::String, Denied>;

        /// A trailing `Option` param.
        async fn add(&self, a: i64, b: ::core::option::Option<i64>) -> i64;

        /// A context param, not sent on the wire.
        async fn peer(&self, cx: &::rpc_core::Context, greeting: ::std::string::String) -> ::std::string::String;

        /// A renamed method.
        #[rpc(name = "shapes.shift")]
        async fn shift(&self, p: Point, dx: i32) -> Point;

        /// A vector param and no result.
        async fn take(&self, items: ::std::vec::Vec<Point>);

        /// A default body.
        async fn answer(&self) -> u8 {
            self.double(21).await as u8
        }

        /// A stream method.
        async fn points(&self, n: i32) -> ::rpc_core::Stream<Point>;

        /// A stream method that can be refused.
        async fn checked(&self, ok: bool) -> ::core::result::Result<::rpc_core::Stream<i64>, Denied>;
    }

    /// The implementation.
    pub struct Impl;

    impl Shapes for Impl {
        async fn double(&self, num: i64) -> i64 {
            num * 2
        }

        async fn check(&self, user: ::std::string::String) -> ::core::result::Result<::std::string::String, Denied> {
            if user == "root" { ::core::result::Result::Err(Denied) } else { ::core::result::Result::Ok(user) }
        }

        async fn add(&self, a: i64, b: ::core::option::Option<i64>) -> i64 {
            a + b.unwrap_or(1)
        }

        async fn peer(&self, cx: &::rpc_core::Context, greeting: ::std::string::String) -> ::std::string::String {
            match cx.get::<::rpc_core::RemoteAddr>() {
                ::core::option::Option::Some(_) => ::std::format!("{greeting}, peer"),
                ::core::option::Option::None => ::std::format!("{greeting}, stranger"),
            }
        }

        async fn shift(&self, p: Point, dx: i32) -> Point {
            Point { x: p.x + dx, y: p.y }
        }

        async fn take(&self, items: ::std::vec::Vec<Point>) {
            ::core::mem::drop(items);
        }

        async fn points(&self, n: i32) -> ::rpc_core::Stream<Point> {
            ::rpc_core::Stream::new(::futures_util::stream::iter(::core::iter::Iterator::map(0..n, |x| Point {
                x,
                y: 0,
            })))
        }

        async fn checked(&self, ok: bool) -> ::core::result::Result<::rpc_core::Stream<i64>, Denied> {
            if ok {
                ::core::result::Result::Ok(::rpc_core::Stream::empty())
            } else {
                ::core::result::Result::Err(Denied)
            }
        }
    }
}

#[test]
fn generated_code_needs_no_prelude() {
    use self::service::{Impl, Point, ShapesClient, ShapesServer};

    let runtime = match ::tokio::runtime::Builder::new_current_thread().build() {
        ::core::result::Result::Ok(runtime) => runtime,
        ::core::result::Result::Err(e) => ::core::panic!("runtime: {e}"),
    };
    runtime.block_on(async {
        let client = ShapesClient::new(::rpc_core::MemoryTransport::new(ShapesServer::new(Impl)));
        ::core::assert_eq!(client.double(7).await.ok(), ::core::option::Option::Some(14));
        ::core::assert_eq!(client.add(2, ::core::option::Option::None).await.ok(), ::core::option::Option::Some(3));
        ::core::assert_eq!(
            client.shift(Point { x: 1, y: 2 }, 10).await.ok(),
            ::core::option::Option::Some(Point { x: 11, y: 2 })
        );
        ::core::assert_eq!(client.answer().await.ok(), ::core::option::Option::Some(42));
        let denied = client.check(::std::borrow::ToOwned::to_owned("root")).await;
        ::core::assert!(
            ::core::matches!(denied, ::core::result::Result::Err(::rpc_core::CallError::Rpc(::rpc_core::Error::Fault(ref f))) if f.code == 403)
        );
        let peer = client.peer(::std::borrow::ToOwned::to_owned("hi")).await.ok();
        ::core::assert_eq!(peer.as_deref(), ::core::option::Option::Some("hi, stranger"));
        ::core::assert!(client.take(::std::vec::Vec::new()).await.is_ok());
        let points = match client.points(2).await {
            ::core::result::Result::Ok(points) => points,
            ::core::result::Result::Err(e) => ::core::panic!("{e}"),
        };
        let points: ::std::vec::Vec<_> = ::futures_util::StreamExt::collect(points).await;
        ::core::assert_eq!(points.len(), 2);
        ::core::assert!(client.checked(false).await.is_err());
        ::core::assert!(client.checked(true).await.is_ok());
    });
    let points = &ShapesServer::<Impl>::METHODS[7];
    ::core::assert_eq!(points.name, "subscribe_points");
    ::core::assert_eq!(points.stream.as_ref().map(|s| &*s.notification), ::core::option::Option::Some("points"));
    ::core::assert_eq!(ShapesServer::<Impl>::METHODS[4].name, "shapes.shift");
}

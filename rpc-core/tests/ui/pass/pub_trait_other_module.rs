//! A pub trait declared in one module and implemented, served and called from another: the generated client
//! and server share the trait's visibility.

mod api {
    use serde::{Deserialize, Serialize};

    #[derive(Debug, Serialize, Deserialize)]
    pub struct Point {
        pub x: i32,
        pub y: i32,
    }

    #[rpc_core::service]
    pub trait Geometry {
        async fn shift(&self, p: Point, dx: i32) -> Point;
    }
}

mod imp {
    use crate::api::{Geometry, Point};

    pub struct Impl;

    impl Geometry for Impl {
        async fn shift(&self, p: Point, dx: i32) -> Point {
            Point {
                x: p.x + dx,
                y: p.y,
            }
        }
    }
}

mod caller {
    use crate::api::{GeometryClient, GeometryServer, Point};
    use crate::imp::Impl;
    use rpc_core::MemoryTransport;

    pub fn client() -> GeometryClient<MemoryTransport<GeometryServer<Impl>>> {
        let client = GeometryClient::new(MemoryTransport::new(GeometryServer::new(Impl)));
        let _ = client.shift(Point { x: 1, y: 2 }, 3);
        client
    }
}

fn main() {
    let client = caller::client();
    let _: &rpc_core::MemoryTransport<_> = client.transport();
    let server = api::GeometryServer::new(imp::Impl);
    let _ = format!("{server:?} {:?}", server.clone());
}

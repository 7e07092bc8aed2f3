//! User types named like the generated code's type parameters, and a `Context` of the user's own that is an
//! ordinary param, must not confuse the macro.
use rpc_core::service;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
pub struct T(i32);
#[derive(Serialize, Deserialize)]
pub struct S(i32);

pub mod mine {
    #[derive(serde::Serialize, serde::Deserialize)]
    pub struct Context {
        pub depth: u8,
    }
}

#[service]
pub trait Names {
    async fn swap(&self, t: T) -> S;
    async fn own_context(&self, cx: mine::Context) -> u8;
}

struct Impl;

impl Names for Impl {
    async fn swap(&self, t: T) -> S {
        S(t.0)
    }
    async fn own_context(&self, cx: mine::Context) -> u8 {
        cx.depth
    }
}

fn main() {
    let _ = NamesServer::new(Impl);
    assert_eq!(NamesServer::<Impl>::METHODS[1].params.len(), 1);
}

//! The `#[service]` attribute of the `rpc` framework. Use it as `rpc_core::service`: the generated code names
//! only paths under `::rpc_core`, so that is the one dependency users need. See `rpc_core`'s docs for what it
//! accepts and generates.

#![deny(missing_docs)]

mod expand;
mod parse;

use proc_macro::TokenStream;

/// Turns a trait of `async fn`s into an RPC service: `<Trait>Client<T>` and `<Trait>Server<S>`.
#[proc_macro_attribute]
pub fn service(args: TokenStream, input: TokenStream) -> TokenStream {
    parse::service(args.into(), input.into())
        .map(|service| expand::expand(&service))
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

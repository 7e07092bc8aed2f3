//! Parse and validate the annotated trait into a [`Service`]; every rejection is a `syn::Error` spanned on the
//! offending code.

use proc_macro2::TokenStream;
use quote::ToTokens;
use syn::spanned::Spanned;
use syn::{
    Attribute, Error, FnArg, GenericArgument, Ident, ItemTrait, LitStr, Pat, PathArguments, ReceiverKind, Result,
    ReturnType, TraitItem, TraitItemFn, Type,
};

/// Names the generated client defines itself, which a method of the same name would clash with.
const CLIENT_RESERVED: &[&str] = &["new", "with_prefix", "transport", "into_transport"];

/// A validated service trait.
pub struct Service {
    /// The trait as written, minus our own `#[rpc(...)]` attributes.
    pub item: ItemTrait,
    pub methods: Vec<Method>,
}

/// One validated method.
pub struct Method {
    pub ident: Ident,
    pub wire_name: String,
    pub docs: String,
    pub doc_attrs: Vec<Attribute>,
    /// `#[cfg(...)]` on the method: carried to every item generated for it (client method, metadata, dispatch
    /// arms), so that a method compiled out leaves nothing behind that names it.
    pub cfg_attrs: Vec<Attribute>,
    /// Lint and deprecation attributes (`allow`, `warn`, `deny`, `expect`, `deprecated`): carried to the client's
    /// method too.
    pub lint_attrs: Vec<Attribute>,
    /// Wire params, in order.
    pub params: Vec<Param>,
    /// The `&Context` param: its position among all params and its name.
    pub context: Option<(usize, Ident)>,
    pub ret: Return,
    /// For a method returning `Stream<T>` (or `Result<Stream<T>, E>`): its item type and other wire names
    /// (`wire_name` is then the subscribe name).
    pub stream: Option<StreamSpec>,
    /// `#[rpc(idempotent)]`: the method may safely run twice, so clients may resend it.
    pub idempotent: bool,
}

/// A stream method: the type of its items and the names its notifications and its unsubscribe go by.
pub struct StreamSpec {
    pub item: Type,
    pub notification: String,
    pub unsubscribe: String,
}

pub struct Param {
    pub ident: Ident,
    pub ty: Type,
    pub optional: bool,
}

pub enum Return {
    /// `-> T` (or nothing: `()`): the generated code checks that `T` is no `Result` behind an alias.
    Plain(Box<Type>),
    /// `-> Result<T, E>` (`E` is kept to span errors about `E: Into<Fault>` on it). For a `Result` behind an
    /// alias (`io::Result<T>`, `MyResult<T>`, or any type with `#[rpc(result)]`), `ok` and `err` are read through
    /// `rpc_core::__private::IsResult`. `shown` is what the method's metadata calls its result; `written` the
    /// return type as written.
    /// `alias` says the type is a `Result` behind an alias (read through `IsResult`).
    Result { ok: Box<Type>, err: Box<Type>, shown: Box<Type>, written: Box<Type>, alias: bool },
}

/// What `#[rpc(result)]` or `#[rpc(value)]` says a return type is.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Marked {
    Result,
    Value,
}

impl Method {
    /// The number of params a caller must send (trailing `Option`s may be left out).
    pub fn required_params(&self) -> usize {
        self.params.iter().rposition(|p| !p.optional).map_or(0, |i| i + 1)
    }
}

pub fn service(args: TokenStream, input: TokenStream) -> Result<Service> {
    let mut namespace = None;
    let options = syn::meta::parser(|meta| {
        if meta.path.is_ident("namespace") {
            let lit: LitStr = meta.value()?.parse()?;
            let value = lit.value();
            if value.is_empty() || value.starts_with('.') || value.ends_with('.') {
                return Err(Error::new_spanned(
                    &lit,
                    "a namespace is a non-empty name without a leading or trailing dot",
                ));
            }
            namespace = Some(value);
            Ok(())
        } else {
            Err(meta.error("unknown #[service] option; expected `namespace = \"...\"`"))
        }
    });
    syn::parse::Parser::parse2(options, args)?;
    let mut item: ItemTrait = syn::parse2(input)?;
    if !item.generics.params.is_empty() || item.generics.where_clause.is_some() {
        return Err(Error::new_spanned(&item.generics, "a #[service] trait cannot be generic"));
    }
    if let Some(unsafety) = &item.unsafety {
        return Err(Error::new_spanned(unsafety, "a #[service] trait cannot be unsafe"));
    }
    let mut methods = Vec::new();
    let mut errors: Option<Error> = None;
    for trait_item in &mut item.items {
        let result = match trait_item {
            TraitItem::Fn(f) => method(f),
            other => Err(Error::new_spanned(other, "a #[service] trait can only hold `async fn` methods")),
        };
        match result {
            Ok(m) => methods.push(m),
            Err(e) => match &mut errors {
                Some(all) => all.combine(e),
                None => errors = Some(e),
            },
        }
    }
    if let Some(e) = errors {
        return Err(e);
    }
    if let Some(namespace) = &namespace {
        for m in &mut methods {
            m.wire_name = format!("{namespace}.{}", m.wire_name);
            if let Some(stream) = &mut m.stream {
                stream.notification = format!("{namespace}.{}", stream.notification);
                stream.unsubscribe = format!("{namespace}.{}", stream.unsubscribe);
            }
        }
    }
    check_clashes(&methods)?;
    Ok(Service { item, methods })
}

fn check_clashes(methods: &[Method]) -> Result<()> {
    for (i, m) in methods.iter().enumerate() {
        if CLIENT_RESERVED.contains(&m.ident.to_string().as_str()) {
            return Err(Error::new(
                m.ident.span(),
                format!(
                    "a method named `{}` would clash with the generated client's own `{}`; rename it and keep the wire \
                     name with #[rpc(name = \"{}\")]",
                    m.ident, m.ident, m.ident
                ),
            ));
        }
        if let Some(first) = methods[..i].iter().find(|o| o.wire_name == m.wire_name) {
            return Err(Error::new(
                m.ident.span(),
                format!("the wire name {:?} is already used by `{}`", m.wire_name, first.ident),
            ));
        }
    }
    Ok(())
}

fn method(f: &mut TraitItemFn) -> Result<Method> {
    if f.sig.asyncness.is_none() {
        desugared(f)?;
    }
    let sig = &f.sig;
    if !sig.generics.params.is_empty()
        && sig.generics.params.iter().all(|p| matches!(p, syn::GenericParam::Lifetime(_)))
    {
        return Err(Error::new_spanned(
            &sig.generics,
            "#[service] methods cannot take lifetime params: params are owned values decoded from the wire (only \
             `&Context` is borrowed, and its lifetime is left out)",
        ));
    }
    if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
        return Err(Error::new_spanned(
            &sig.generics,
            "#[service] methods cannot be generic: the dispatcher must know each param's type",
        ));
    }
    if let Some(c) = &sig.constness {
        return Err(Error::new_spanned(c, "#[service] methods cannot be `const`"));
    }
    if !matches!(sig.safety, syn::Safety::Default) {
        return Err(Error::new_spanned(&sig.safety, "#[service] methods cannot be `unsafe`"));
    }
    if let Some(v) = &sig.variadic {
        return Err(Error::new_spanned(v, "#[service] methods cannot be variadic"));
    }

    let mut inputs = sig.inputs.iter();
    match inputs.next() {
        Some(FnArg::Receiver(r)) if matches!(r.kind, ReceiverKind::Reference(_, _, None)) => {}
        Some(FnArg::Receiver(r)) if matches!(r.kind, ReceiverKind::Value) => {
            return Err(Error::new_spanned(r, "#[service] methods take `&self`, not `self` by value"));
        }
        Some(FnArg::Receiver(r)) => {
            return Err(Error::new_spanned(
                r,
                "#[service] methods take `&self`; keep mutable state behind a lock inside the type",
            ));
        }
        _ => return Err(Error::new(sig.ident.span(), "#[service] methods take `&self` as their first param")),
    }

    let mut params: Vec<Param> = Vec::new();
    let mut context: Option<(usize, Ident)> = None;
    for (index, arg) in inputs.enumerate() {
        let FnArg::Typed(pt) = arg else {
            return Err(Error::new_spanned(arg, "unexpected receiver"));
        };
        let ident = match &*pt.pat {
            Pat::Ident(p) if p.by_ref.is_none() && p.subpat.is_none() => p.ident.clone(),
            Pat::Wild(w) => {
                return Err(Error::new_spanned(
                    w,
                    "a #[service] param needs a name: it is the param's name on the wire (introspection, named \
                     params); write `_name: Type` for a param the method does not use",
                ));
            }
            other => {
                return Err(Error::new_spanned(
                    other,
                    "a #[service] param is one name and its type (`point: (i64, i64)`); destructure it inside the \
                     method",
                ));
            }
        };
        let taken = params.iter().map(|p| &p.ident).chain(context.as_ref().map(|(_, cx)| cx));
        if let Some(first) = taken.into_iter().find(|other| **other == ident) {
            return Err(Error::new(ident.span(), format!("the param name `{first}` is used twice")));
        }
        match &*pt.ty {
            ty if is_context(ty) => {
                return Err(Error::new_spanned(
                    ty,
                    "take the context by reference, `&Context`: it is given by the transport, not sent on the wire",
                ));
            }
            Type::ImplTrait(t) => {
                return Err(Error::new_spanned(t, "#[service] params cannot be `impl Trait`: name a concrete type"));
            }
            Type::Reference(r) if r.mutability.is_none() && is_context(&r.elem) => {
                if context.is_some() {
                    return Err(Error::new_spanned(r, "a #[service] method takes at most one `&Context`"));
                }
                context = Some((index, ident));
            }
            Type::Reference(r) => {
                return Err(Error::new_spanned(
                    r,
                    "#[service] params must be owned types (e.g. `String`, not `&str`): they are decoded from the \
                     wire; only `&Context` may be borrowed",
                ));
            }
            ty => params.push(Param { ident, optional: is_option(ty), ty: ty.clone() }),
        }
    }

    if let ReturnType::Type(_, ty) = &sig.output
        && let Type::ImplTrait(t) = &**ty
    {
        return Err(Error::new_spanned(t, "#[service] methods cannot return `impl Trait`"));
    }
    let output = sig.output.clone();

    let mut wire_name = sig.ident.to_string();
    let mut rpc_attrs = Vec::new();
    f.attrs.retain(|a| {
        let ours = a.path().is_ident("rpc");
        if ours {
            rpc_attrs.push(a.clone());
        }
        !ours
    });
    let mut marked = None;
    let mut idempotent = false;
    let (mut subscribe, mut unsubscribe, mut notification) = (None, None, None);
    for attr in &rpc_attrs {
        attr.parse_nested_meta(|meta| {
            let mark = if meta.path.is_ident("result") {
                Some(Marked::Result)
            } else if meta.path.is_ident("value") {
                Some(Marked::Value)
            } else {
                None
            };
            if let Some(mark) = mark {
                if marked.is_some_and(|m| m != mark) {
                    return Err(meta.error("a method is marked `result` or `value`, not both"));
                }
                marked = Some(mark);
                Ok(())
            } else if meta.path.is_ident("idempotent") {
                idempotent = true;
                Ok(())
            } else if meta.path.is_ident("name") {
                let lit: LitStr = meta.value()?.parse()?;
                if lit.value().is_empty() {
                    return Err(Error::new_spanned(&lit, "the wire name cannot be empty"));
                }
                wire_name = lit.value();
                Ok(())
            } else if let Some(slot) =
                [("subscribe", &mut subscribe), ("unsubscribe", &mut unsubscribe), ("notification", &mut notification)]
                    .into_iter()
                    .find_map(|(name, slot)| meta.path.is_ident(name).then_some(slot))
            {
                let lit: LitStr = meta.value()?.parse()?;
                if lit.value().is_empty() {
                    return Err(Error::new_spanned(&lit, "the wire name cannot be empty"));
                }
                *slot = Some(lit);
                Ok(())
            } else {
                Err(meta.error(
                    "unknown #[rpc] option; expected `name = \"...\"`, `result`, `value`, `idempotent`, or for a \
                     stream method `subscribe`, `unsubscribe` or `notification = \"...\"`",
                ))
            }
        })?;
    }

    let ret = match &output {
        ReturnType::Default if marked == Some(Marked::Result) => {
            return Err(Error::new(sig.ident.span(), "`#[rpc(result)]` on a method that returns nothing"));
        }
        ReturnType::Default => Return::Plain(Box::new(syn::parse_quote!(()))),
        ReturnType::Type(_, ty) => return_kind(ty, marked),
    };

    // A stream method: the method's name (or `name`) is its notifications', and the calls that start and end a
    // subscription are named after it, jsonrpsee's way, unless set.
    let stream = match stream_item(&ret) {
        Some(_) if idempotent => {
            return Err(Error::new(
                sig.ident.span(),
                "a stream method cannot be `#[rpc(idempotent)]`: a subscription is never sent again",
            ));
        }
        Some(item) => {
            let base = notification.map_or(wire_name, |lit| lit.value());
            wire_name = subscribe.map_or_else(|| format!("subscribe_{base}"), |lit| lit.value());
            let unsubscribe = unsubscribe.map_or_else(|| format!("unsubscribe_{base}"), |lit| lit.value());
            Some(StreamSpec { item, notification: base, unsubscribe })
        }
        None => {
            if let Some(lit) = subscribe.or(unsubscribe).or(notification) {
                return Err(Error::new_spanned(
                    lit,
                    "only a stream method (returning `Stream<T>`) has subscribe, unsubscribe and notification names",
                ));
            }
            None
        }
    };

    let doc_attrs: Vec<Attribute> = f.attrs.iter().filter(|a| a.path().is_ident("doc")).cloned().collect();
    let having = |names: &[&str]| -> Vec<Attribute> {
        f.attrs.iter().filter(|a| names.iter().any(|n| a.path().is_ident(n))).cloned().collect()
    };
    let cfg_attrs = having(&["cfg"]);
    let lint_attrs = having(&["allow", "warn", "deny", "expect", "deprecated"]);
    Ok(Method {
        ident: f.sig.ident.clone(),
        wire_name,
        docs: docs(&doc_attrs),
        doc_attrs,
        cfg_attrs,
        lint_attrs,
        params,
        context,
        ret,
        stream,
        idempotent,
    })
}

/// The item type of a stream method's return type: `Stream<T>` (`rpc_core::Stream<T>`, or as imported), or a
/// `Result<Stream<T>, E>` spelled out.
fn stream_item(ret: &Return) -> Option<Type> {
    let ty = match ret {
        Return::Plain(ty) => ty,
        Return::Result { ok, alias: false, .. } => ok,
        Return::Result { .. } => return None,
    };
    let Type::Path(p) = &**ty else { return None };
    let last = p.path.segments.last().filter(|s| s.ident == "Stream" && p.qself.is_none())?;
    let PathArguments::AngleBracketed(args) = &last.arguments else { return None };
    match args.args.iter().collect::<Vec<_>>().as_slice() {
        [GenericArgument::Type(item)] => Some(item.clone()),
        _ => None,
    }
}

/// Accepts a method written as what `async fn` becomes, `fn name(..) -> impl Future<Output = T> (+ Send)`, by
/// turning it into `async fn name(..) -> T` (a default body, which makes the future, is awaited inside);
/// any other method without `async` is refused, saying what to write.
fn desugared(f: &mut TraitItemFn) -> Result<()> {
    let not_async = || {
        Error::new(
            f.sig.fn_token.span(),
            "#[service] methods must be `async fn` (or `fn .. -> impl Future<Output = T> + Send`)",
        )
    };
    let ReturnType::Type(_, ty) = &f.sig.output else { return Err(not_async()) };
    let Type::ImplTrait(bounds) = &**ty else { return Err(not_async()) };
    let output = bounds.bounds.iter().find_map(|bound| {
        let syn::TypeParamBound::Trait(t) = bound else { return None };
        let last = t.path.segments.last().filter(|s| s.ident == "Future")?;
        let PathArguments::AngleBracketed(args) = &last.arguments else { return None };
        args.args.iter().find_map(|a| match a {
            GenericArgument::AssocType(binding) if binding.ident == "Output" => Some(binding.ty.clone()),
            _ => None,
        })
    });
    let Some(output) = output else { return Err(not_async()) };
    f.sig.asyncness = Some(Default::default());
    f.sig.output = syn::parse_quote!(-> #output);
    if let Some(block) = &f.default {
        f.default = Some(syn::parse_quote!({ (#block).await }));
    }
    Ok(())
}

/// `&Context`: the bare name (as imported) or a path ending in `rpc_core::Context`. Other `Context` types
/// (`std::task::Context`, a user's own `mine::Context`) are ordinary params.
fn is_context(ty: &Type) -> bool {
    let Type::Path(p) = ty else { return false };
    let names: Vec<String> = p.path.segments.iter().map(|s| s.ident.to_string()).collect();
    let plain = p.qself.is_none() && p.path.segments.iter().all(|s| s.arguments.is_empty());
    // `Context` as imported, or spelled through the crate: `rpc_core::Context`, `::rpc_core::Context`.
    plain && (names == ["Context"] || names.ends_with(&["rpc_core".to_owned(), "Context".to_owned()]))
}

fn is_option(ty: &Type) -> bool {
    matches!(ty, Type::Path(p) if p.qself.is_none() && p.path.segments.last().is_some_and(|s| s.ident == "Option"))
}

/// How a method's return type `ty` is served. `Result<T, E>` spelled out is a `Result`; so is a path whose last
/// name ends in `Result` (`io::Result<T>`, `anyhow::Result<T>`, `MyResult<T>`: aliases, read through
/// `IsResult`, which fails at compile time with what to write if the type is not one), unless marked
/// `#[rpc(value)]`; and any type marked `#[rpc(result)]`. Anything else is a plain value, which the generated code
/// checks is no `Result` behind an alias.
fn return_kind(ty: &Type, marked: Option<Marked>) -> Return {
    if marked != Some(Marked::Value)
        && let Some((ok, err)) = result_types(ty)
    {
        let (shown, written) = (Box::new(ok.clone()), Box::new(ty.clone()));
        return Return::Result { shown, ok: Box::new(ok), err, written, alias: false };
    }
    let named_result = match ty {
        Type::Path(p) => {
            p.qself.is_none() && p.path.segments.last().is_some_and(|s| s.ident.to_string().ends_with("Result"))
        }
        _ => false,
    };
    match marked {
        Some(Marked::Result) => aliased_result(ty),
        None if named_result => aliased_result(ty),
        _ => Return::Plain(Box::new(ty.clone())),
    }
}

/// A `Result` behind an alias: its halves read through `rpc_core::__private::IsResult`; its metadata shows the
/// alias's one type argument when it has exactly one (`io::Result<u8>` returns `u8`), else the alias.
fn aliased_result(ty: &Type) -> Return {
    let span = ty.span();
    let ok: Type = syn::parse_quote_spanned!(span=> <#ty as ::rpc_core::__private::IsResult>::Ok);
    let err: Type = syn::parse_quote_spanned!(span=> <#ty as ::rpc_core::__private::IsResult>::Err);
    let shown = match type_args(ty).as_deref() {
        Some([one]) => (*one).clone(),
        _ => ty.clone(),
    };
    let (ok, err, shown, written) = (Box::new(ok), Box::new(err), Box::new(shown), Box::new(ty.clone()));
    Return::Result { ok, err, shown, written, alias: true }
}

/// `T` and `E` of `Result<T, E>` spelled with both arguments.
fn result_types(ty: &Type) -> Option<(Type, Box<Type>)> {
    let Type::Path(p) = ty else { return None };
    if p.path.segments.last()?.ident != "Result" {
        return None;
    }
    match type_args(ty)?.as_slice() {
        [ok, err] => Some(((*ok).clone(), Box::new((*err).clone()))),
        _ => None,
    }
}

/// The type arguments of a path type's last segment (`u8` and `E` of `io::Result<u8, E>`), if it has `<..>`.
fn type_args(ty: &Type) -> Option<Vec<&Type>> {
    let Type::Path(p) = ty else { return None };
    let PathArguments::AngleBracketed(args) = &p.path.segments.last()?.arguments else { return None };
    Some(
        args.args
            .iter()
            .filter_map(|a| match a {
                GenericArgument::Type(t) => Some(t),
                _ => None,
            })
            .collect(),
    )
}

/// The doc comment's text, with rustdoc's one leading space per line removed and outer blank lines trimmed.
fn docs(attrs: &[Attribute]) -> String {
    let mut lines = Vec::new();
    for attr in attrs {
        if let syn::Meta::NameValue(nv) = &attr.meta
            && let syn::Expr::Lit(syn::ExprLit { lit: syn::Lit::Str(s), .. }) = &nv.value
        {
            let text = s.value();
            if text.is_empty() {
                lines.push(String::new());
            }
            for line in text.lines() {
                lines.push(line.strip_prefix(' ').unwrap_or(line).trim_end().to_owned());
            }
        }
    }
    lines.join("\n").trim().to_owned()
}

/// A type as a readable string: `Vec<i64>`, not `Vec < i64 >`.
pub fn type_name(ty: &impl ToTokens) -> String {
    let mut s = ty.to_token_stream().to_string();
    for (from, to) in [
        (" :: ", "::"),
        (":: ", "::"),
        (" ::", "::"),
        (" <", "<"),
        ("< ", "<"),
        (" >", ">"),
        (" ,", ","),
        ("& ", "&"),
        ("( ", "("),
        (" )", ")"),
        ("[ ", "["),
        (" ]", "]"),
        (" ;", ";"),
    ] {
        s = s.replace(from, to);
    }
    s
}

#[cfg(test)]
mod tests {
    use quote::quote;

    use super::*;

    fn parse(tokens: TokenStream) -> Result<Service> {
        service(TokenStream::new(), tokens)
    }

    #[test]
    fn reads_methods_params_and_docs() {
        let s = parse(quote! {
            pub trait Math {
                /// Returns num * 2.
                ///
                /// Second paragraph.
                async fn double(&self, num: i64) -> i64;
                #[rpc(name = "math.add")]
                async fn add(&self, a: i64, b: Option<i64>) -> Result<i64, MyError>;
                async fn ping(&self, cx: &rpc_core::Context);
            }
        })
        .unwrap();
        assert_eq!(s.methods.len(), 3);
        let double = &s.methods[0];
        assert_eq!(double.wire_name, "double");
        assert_eq!(double.docs, "Returns num * 2.\n\nSecond paragraph.");
        let add = &s.methods[1];
        assert_eq!(add.wire_name, "math.add");
        assert_eq!(add.required_params(), 1);
        assert!(matches!(add.ret, Return::Result { .. }));
        let ping = &s.methods[2];
        assert!(ping.params.is_empty());
        assert_eq!(ping.context.as_ref().map(|(i, id)| (*i, id.to_string())), Some((0, "cx".into())));
        // our attribute is stripped from the trait that is emitted
        assert!(!quote!(#(s.item)).to_string().contains("rpc ("));
    }

    #[test]
    fn rejects_unsupported_shapes() {
        let cases = [
            (quote! { trait T { fn f(&self); } }, "must be `async fn`"),
            (quote! { trait T { async fn f<X>(&self, x: X); } }, "cannot be generic"),
            (quote! { trait T { async fn f(self); } }, "not `self` by value"),
            (quote! { trait T { async fn f(&mut self); } }, "take `&self`"),
            (quote! { trait T { async fn f(); } }, "first param"),
            (quote! { trait T { async fn f(&self, x: impl Clone); } }, "impl Trait"),
            (quote! { trait T { async fn f(&self, x: &str); } }, "owned types"),
            (quote! { trait T { async fn new(&self); } }, "clash"),
            (quote! { trait T { async fn a(&self); #[rpc(name = "a")] async fn b(&self); } }, "already used"),
            (quote! { trait T { #[rpc(rename = "x")] async fn a(&self); } }, "unknown #[rpc] option"),
            (quote! { trait T<X> { async fn a(&self); } }, "cannot be generic"),
            (quote! { trait T { type X; } }, "only hold"),
        ];
        for (tokens, expected) in cases {
            let err = match parse(tokens.clone()) {
                Ok(_) => panic!("accepted: {tokens}"),
                Err(e) => e.to_string(),
            };
            assert!(err.contains(expected), "{tokens}: {err}");
        }
    }

    #[test]
    fn type_names_read_like_rust() {
        let ty: Type = syn::parse_quote!(std::collections::HashMap<String, Vec<Option<i64>>>);
        assert_eq!(type_name(&ty), "std::collections::HashMap<String, Vec<Option<i64>>>");
        let ty: Type = syn::parse_quote!((i32, &'static str, [u8; 4]));
        assert_eq!(type_name(&ty), "(i32, &'static str, [u8; 4])");
    }
}

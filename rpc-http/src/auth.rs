//! HTTP authentication: [`Credentials`] read from `Authorization`, checked by a hook the server is given, and
//! handed to handlers through the call's [`Context`](rpc_core::Context).

use std::fmt;
use std::sync::Arc;

use base64::Engine as _;

/// What a request presented in its `Authorization` header.
///
/// After the server's hook accepts them, they are in the call's `Context`, so a handler can tell who is calling:
/// `cx.get::<rpc_http::Credentials>()`. `Debug` never shows the password or token.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Credentials {
    /// HTTP Basic: a user and a password.
    Basic {
        /// The user name.
        user: String,
        /// The password.
        password: String,
    },
    /// A bearer token (`Authorization: Bearer ...`).
    Bearer {
        /// The token.
        token: String,
    },
}

impl Credentials {
    /// Reads an `Authorization` header value; `None` for a scheme other than Basic or Bearer, or one that does
    /// not decode.
    pub fn parse(header: &str) -> Option<Credentials> {
        let (scheme, rest) = header.trim().split_once(' ')?;
        let rest = rest.trim();
        if scheme.eq_ignore_ascii_case("basic") {
            let decoded = base64::engine::general_purpose::STANDARD.decode(rest).ok()?;
            let text = String::from_utf8(decoded).ok()?;
            let (user, password) = text.split_once(':')?;
            Some(Credentials::Basic { user: user.to_owned(), password: password.to_owned() })
        } else if scheme.eq_ignore_ascii_case("bearer") && !rest.is_empty() {
            Some(Credentials::Bearer { token: rest.to_owned() })
        } else {
            None
        }
    }

    /// The `Authorization` header value for these credentials.
    pub fn header_value(&self) -> String {
        match self {
            Credentials::Basic { user, password } => {
                format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}")))
            }
            Credentials::Bearer { token } => format!("Bearer {token}"),
        }
    }

    /// The Basic user name, if these are Basic credentials.
    pub fn user(&self) -> Option<&str> {
        match self {
            Credentials::Basic { user, .. } => Some(user),
            Credentials::Bearer { .. } => None,
        }
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credentials::Basic { user, .. } => {
                f.debug_struct("Basic").field("user", user).field("password", &"<redacted>").finish()
            }
            Credentials::Bearer { .. } => f.debug_struct("Bearer").field("token", &"<redacted>").finish(),
        }
    }
}

/// A check of a request's credentials (`None` when it sent none): `true` lets the request through.
pub(crate) type Check = dyn Fn(Option<&Credentials>) -> bool + Send + Sync;

/// The server's [`Check`], shareable and printable.
#[derive(Clone)]
pub(crate) struct Authenticator(pub(crate) Arc<Check>);

impl fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Authenticator(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::Credentials;

    #[test]
    fn parses_basic_and_bearer() {
        let basic = Credentials::parse("Basic YWwgaWNlOnM6Y3JldA==").unwrap();
        assert_eq!(basic, Credentials::Basic { user: "al ice".into(), password: "s:cret".into() });
        assert_eq!(Credentials::parse(&basic.header_value()), Some(basic.clone()));
        assert_eq!(Credentials::parse("bearer abc.def"), Some(Credentials::Bearer { token: "abc.def".into() }));
        for bad in ["", "Basic", "Basic !!!", "Basic bm9jb2xvbg==", "Digest x", "Bearer "] {
            assert_eq!(Credentials::parse(bad), None, "{bad}");
        }
        assert!(!format!("{basic:?}").contains("cret"));
    }
}

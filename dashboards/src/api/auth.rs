//! Bearer-token auth for `/api/*` (CONTRACT section 6) and the start-up
//! check that refuses to expose an unprotected API beyond this machine.
//!
//! When a token is configured (`ORDERPULSE_API_TOKEN`), every `/api/*`
//! request must carry `Authorization: Bearer <token>`; the comparison is
//! constant-time. The check runs before the request body is read, so an
//! unauthenticated caller cannot make the server read a large body.

use std::net::SocketAddr;

use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq;

use super::ApiError;
use crate::{Error, Result};

/// The environment variable holding the API token.
pub const API_TOKEN_ENV: &str = "ORDERPULSE_API_TOKEN";

/// The secret `/api/*` callers must present. `Debug` never prints it.
#[derive(Clone)]
pub struct ApiToken(String);

impl ApiToken {
    /// `None` for a missing or empty (all-whitespace) token: no auth.
    pub fn new(token: Option<&str>) -> Option<ApiToken> {
        let token = token?.trim();
        (!token.is_empty()).then(|| ApiToken(token.to_string()))
    }

    /// The token from `ORDERPULSE_API_TOKEN`, if set and not empty.
    pub fn from_env() -> Option<ApiToken> {
        ApiToken::new(std::env::var(API_TOKEN_ENV).ok().as_deref())
    }

    /// True when `presented` is the token, in time independent of where
    /// they differ.
    pub fn matches(&self, presented: &[u8]) -> bool {
        bool::from(self.0.as_bytes().ct_eq(presented))
    }
}

impl std::fmt::Debug for ApiToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiToken(<redacted>)")
    }
}

/// Refuses to serve the API on a non-loopback address without a token:
/// anyone who can reach the port could otherwise read every order attempt.
pub fn check_bind(addr: SocketAddr, token: Option<&ApiToken>) -> Result<()> {
    if addr.ip().is_loopback() || token.is_some() {
        Ok(())
    } else {
        Err(Error::UnprotectedBind(addr))
    }
}

/// Middleware: 401 unless the request carries the configured bearer token.
pub(crate) async fn require_token(
    State(token): State<Option<ApiToken>>,
    request: Request,
    next: Next,
) -> Response {
    let Some(token) = token else {
        return next.run(request).await;
    };
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| bearer(v.as_bytes()));
    match presented {
        Some(p) if token.matches(p) => next.run(request).await,
        _ => ApiError::unauthorized().into_response(),
    }
}

/// The credentials of `Bearer <credentials>` (scheme case-insensitive).
fn bearer(value: &[u8]) -> Option<&[u8]> {
    let (scheme, rest) = value.split_at_checked(7)?;
    scheme
        .eq_ignore_ascii_case(b"bearer ")
        .then(|| rest.trim_ascii())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_scheme_and_token() {
        assert_eq!(bearer(b"Bearer abc"), Some(&b"abc"[..]));
        assert_eq!(bearer(b"bearer  abc "), Some(&b"abc"[..]));
        assert_eq!(bearer(b"Basic abc"), None);
        assert_eq!(bearer(b"Bear"), None);
        let t = ApiToken::new(Some("s3cret-token")).unwrap();
        assert!(t.matches(b"s3cret-token"));
        assert!(!t.matches(b"s3cret-tokeN"));
        assert!(!t.matches(b"s3cret"));
        assert!(!t.matches(b""));
        assert!(ApiToken::new(Some("  ")).is_none());
        assert_eq!(format!("{t:?}"), "ApiToken(<redacted>)");
    }

    #[test]
    fn non_loopback_needs_a_token() {
        let t = ApiToken::new(Some("tok"));
        for addr in ["127.0.0.1:8080", "[::1]:8080"] {
            assert!(check_bind(addr.parse().unwrap(), None).is_ok(), "{addr}");
        }
        for addr in ["0.0.0.0:8080", "[::]:8080", "192.168.1.5:80"] {
            let addr: SocketAddr = addr.parse().unwrap();
            let err = check_bind(addr, None).unwrap_err().to_string();
            assert!(err.contains(API_TOKEN_ENV), "{err}");
            assert!(check_bind(addr, t.as_ref()).is_ok());
        }
    }
}

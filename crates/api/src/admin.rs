//! Administrative endpoints: the bearer token that guards them and the [`SyncStarter`] that
//! lets `POST /sources/{name}/sync` start a sync.
//!
//! - With no token configured ([`ApiConfig::admin_token`](crate::ApiConfig::admin_token) is
//!   None) every admin endpoint answers **403** `{"error": {"message": "admin endpoints are
//!   disabled …"}}`, whatever the request carries.
//! - With a token, a request without `Authorization: Bearer <token>`, or with another token,
//!   gets **401** with `WWW-Authenticate: Bearer realm="threddex-admin"`. The comparison
//!   takes the same time wherever the tokens differ.
//! - The token never appears in logs or `Debug` output.

use std::sync::Arc;

use async_trait::async_trait;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::AppState;
use crate::error::json_response;

/// Longest admin token accepted, in bytes.
pub const MAX_ADMIN_TOKEN_BYTES: usize = 1024;

/// The bearer token of the administrative endpoints. `Debug` prints `AdminToken(<redacted>)`;
/// equality is constant-time.
#[derive(Clone)]
pub struct AdminToken(String);

impl AdminToken {
    /// A token: 1 to 1024 visible ASCII characters (what fits in an `Authorization` header;
    /// use at least 32 random ones). The error never contains the token.
    pub fn new(token: impl Into<String>) -> Result<Self, String> {
        let token = token.into();
        if token.is_empty() {
            return Err("the admin token is empty".into());
        }
        if token.len() > MAX_ADMIN_TOKEN_BYTES {
            return Err(format!(
                "the admin token is longer than {MAX_ADMIN_TOKEN_BYTES} bytes"
            ));
        }
        if !token.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(
                "the admin token must be visible ASCII characters (no spaces or control characters)"
                    .into(),
            );
        }
        Ok(Self(token))
    }

    /// Whether `presented` is this token, in time that does not depend on where they differ.
    pub fn matches(&self, presented: &str) -> bool {
        constant_time_eq(self.0.as_bytes(), presented.as_bytes())
    }
}

impl std::fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AdminToken(<redacted>)")
    }
}

impl PartialEq for AdminToken {
    fn eq(&self, other: &Self) -> bool {
        self.matches(&other.0)
    }
}

impl Eq for AdminToken {}

/// Equality of two byte strings that looks at every byte of the longer one whatever the
/// contents (only the lengths, which the caller knows, shape the time taken).
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let n = a.len().max(b.len());
    let mut diff: u8 = u8::from(a.len() != b.len());
    for i in 0..n {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0);
        diff |= std::hint::black_box(x ^ y);
    }
    std::hint::black_box(diff) == 0
}

/// Proof that a request carried the admin token: take it as the first argument of an admin
/// handler.
pub(crate) struct Admin;

/// Why a request was refused before reaching an admin handler.
pub(crate) enum AdminRejection {
    Disabled,
    Unauthorized(&'static str),
}

impl IntoResponse for AdminRejection {
    fn into_response(self) -> Response {
        match self {
            Self::Disabled => json_response(
                StatusCode::FORBIDDEN,
                &json!({"error": {"message":
                    "admin endpoints are disabled: no admin token is configured on this server"}}),
            ),
            Self::Unauthorized(why) => {
                let mut r = json_response(
                    StatusCode::UNAUTHORIZED,
                    &json!({"error": {"message": why}}),
                );
                r.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"threddex-admin\""),
                );
                r
            }
        }
    }
}

impl FromRequestParts<AppState> for Admin {
    type Rejection = AdminRejection;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let Some(token) = &state.config.admin_token else {
            return Err(AdminRejection::Disabled);
        };
        let Some(value) = parts.headers.get(header::AUTHORIZATION) else {
            return Err(AdminRejection::Unauthorized(
                "admin endpoints need an Authorization: Bearer <token> header",
            ));
        };
        let presented = value
            .to_str()
            .ok()
            .and_then(|v| {
                let (scheme, rest) = v.trim().split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
            })
            .unwrap_or("");
        if presented.is_empty() || !token.matches(presented) {
            crate::metrics::admin_denied();
            return Err(AdminRejection::Unauthorized("invalid admin token"));
        }
        Ok(Admin)
    }
}

/// A sync started by [`SyncStarter::start_sync`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SyncStarted {
    /// The crawl run recorded for it (see `GET /runs`); None when it could not be recorded
    /// (the sync runs anyway).
    pub run_id: Option<i64>,
}

/// Why a sync could not be started.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SyncStartError {
    /// No source has this name: 404.
    #[error("no source named {0:?}")]
    UnknownSource(String),
    /// A sync of this source is running (its lease is held): 409.
    #[error("a sync of source {name:?} is already running: {holder}")]
    Busy {
        /// The source.
        name: String,
        /// Who holds the lease, since when and until when.
        holder: String,
    },
    /// The store failed: 500 (the detail is logged). Match on the [`StoreError`] for
    /// not-found and conflicts.
    #[error("store error")]
    Store(#[from] threddex_store::StoreError),
    /// Anything else: 500 (the detail is logged).
    #[error("{0}")]
    Failed(String),
}

/// Starts syncs of registered sources in the background (for `POST /sources/{name}/sync`).
/// [`CrawlSyncStarter`](crate::CrawlSyncStarter) implements it over the crawler's `Syncer`.
#[async_trait]
pub trait SyncStarter: Send + Sync + 'static {
    /// Start a sync of the source named `source` and return as soon as it runs (holding the
    /// source's lease); it goes on in the background.
    async fn start_sync(&self, source: &str) -> Result<SyncStarted, SyncStartError>;
}

/// Shared handle to a [`SyncStarter`].
pub type SharedSyncStarter = Arc<dyn SyncStarter>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens() {
        let t = AdminToken::new("s3cret-admin-token-0123456789").unwrap();
        assert!(t.matches("s3cret-admin-token-0123456789"));
        assert!(!t.matches("s3cret-admin-token-012345678"));
        assert!(!t.matches("s3cret-admin-token-01234567890"));
        assert!(!t.matches(""));
        assert!(!t.matches("S3cret-admin-token-0123456789"));
        assert_eq!(format!("{t:?}"), "AdminToken(<redacted>)");
        assert!(AdminToken::new("").is_err());
        assert!(AdminToken::new("a b").is_err());
        let e = AdminToken::new("bad\ntoken-visible").unwrap_err();
        assert!(!e.contains("token-visible"));
        assert!(AdminToken::new("x".repeat(MAX_ADMIN_TOKEN_BYTES + 1)).is_err());
        assert_eq!(t, AdminToken::new("s3cret-admin-token-0123456789").unwrap());
        assert!(constant_time_eq(b"", b""));
        assert!(!constant_time_eq(b"a", b""));
    }
}

//! Per-source credentials: HTTP basic, bearer token or cookie, sent on every request
//! to the source's own origin and nowhere else.
//!
//! Credentials are given per source **name** in [`CrawlConfig::auth`](crate::CrawlConfig::auth)
//! and attached to the requests of every run of that source (harvest, sync, refresh on demand,
//! robots.txt and ISO record fetches), but only to URLs with the same origin (scheme, host and
//! port) as the source's start catalog: a `catalogRef` to another host (followed with
//! `follow_other_hosts`) is fetched without them. Redirects: reqwest drops `Authorization` and
//! `Cookie` when a redirect changes the scheme, host or port (tested in
//! `tests/auth.rs`). Header values are marked sensitive (`HeaderValue::set_sensitive`), so
//! they are never printed by the HTTP stack, and [`SourceAuth`]'s `Debug` redacts the secrets.

use std::collections::BTreeMap;
use std::sync::Arc;

use base64::Engine;
use reqwest::header::{self, HeaderName, HeaderValue};
use url::{Origin, Url};

use crate::CrawlError;

/// Credentials for one source.
#[derive(Clone, PartialEq, Eq)]
pub enum SourceAuth {
    /// HTTP basic authentication: `Authorization: Basic base64(username:password)`.
    Basic {
        /// The user name (may be printed; not a secret).
        username: String,
        /// The password (never printed).
        password: String,
    },
    /// A bearer token: `Authorization: Bearer TOKEN`.
    Bearer {
        /// The token (never printed).
        token: String,
    },
    /// A cookie header, sent as is: `Cookie: COOKIE` (e.g. `JSESSIONID=…`).
    Cookie {
        /// The `Cookie` header value (never printed).
        cookie: String,
    },
}

impl SourceAuth {
    /// HTTP basic credentials.
    pub fn basic(username: impl Into<String>, password: impl Into<String>) -> Self {
        Self::Basic {
            username: username.into(),
            password: password.into(),
        }
    }

    /// A bearer token.
    pub fn bearer(token: impl Into<String>) -> Self {
        Self::Bearer {
            token: token.into(),
        }
    }

    /// A `Cookie` header value.
    pub fn cookie(cookie: impl Into<String>) -> Self {
        Self::Cookie {
            cookie: cookie.into(),
        }
    }

    /// The scheme name: `basic`, `bearer` or `cookie` (safe to print).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Basic { .. } => "basic",
            Self::Bearer { .. } => "bearer",
            Self::Cookie { .. } => "cookie",
        }
    }

    /// The request header carrying these credentials, marked sensitive. The error names the
    /// problem, never the secret.
    pub fn header(&self) -> Result<(HeaderName, HeaderValue), String> {
        let (name, text) = match self {
            Self::Basic { username, password } => {
                if username.contains(':') {
                    return Err("a basic-auth user name cannot contain ':'".into());
                }
                let raw = format!("{username}:{password}");
                let encoded = base64::engine::general_purpose::STANDARD.encode(raw.as_bytes());
                (header::AUTHORIZATION, format!("Basic {encoded}"))
            }
            Self::Bearer { token } => {
                let t = token.trim();
                if t.is_empty() {
                    return Err("the bearer token is empty".into());
                }
                (header::AUTHORIZATION, format!("Bearer {t}"))
            }
            Self::Cookie { cookie } => {
                let c = cookie.trim();
                if c.is_empty() {
                    return Err("the cookie is empty".into());
                }
                (header::COOKIE, c.to_owned())
            }
        };
        let mut value = HeaderValue::from_str(&text).map_err(|_| {
            format!(
                "the {} credentials contain characters not allowed in an HTTP header",
                self.kind()
            )
        })?;
        value.set_sensitive(true);
        Ok((name, value))
    }
}

impl std::fmt::Debug for SourceAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Basic { username, .. } => f
                .debug_struct("Basic")
                .field("username", username)
                .field("password", &"<redacted>")
                .finish(),
            Self::Bearer { .. } => f
                .debug_struct("Bearer")
                .field("token", &"<redacted>")
                .finish(),
            Self::Cookie { .. } => f
                .debug_struct("Cookie")
                .field("cookie", &"<redacted>")
                .finish(),
        }
    }
}

/// Credentials by source name (the key of [`CrawlConfig::auth`](crate::CrawlConfig::auth)).
pub type SourceAuthMap = BTreeMap<String, SourceAuth>;

/// The header of a source's credentials, bound to the origin of its start catalog.
#[derive(Clone)]
pub(crate) struct Credentials {
    origin: Origin,
    name: HeaderName,
    value: HeaderValue,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("origin", &self.origin.ascii_serialization())
            .field("header", &self.name)
            .finish_non_exhaustive()
    }
}

impl Credentials {
    /// The header to add to a request for `url`: only when `url` has the same origin.
    pub(crate) fn for_url(&self, url: &Url) -> Option<(&HeaderName, &HeaderValue)> {
        (url.origin() == self.origin).then_some((&self.name, &self.value))
    }
}

/// The validated headers of [`CrawlConfig::auth`](crate::CrawlConfig::auth), by source name.
#[derive(Clone, Debug, Default)]
pub(crate) struct AuthTable {
    headers: BTreeMap<String, (HeaderName, HeaderValue)>,
}

impl AuthTable {
    /// Build every header now, so that bad credentials fail at startup.
    pub(crate) fn new(map: &SourceAuthMap) -> Result<Self, CrawlError> {
        let mut headers = BTreeMap::new();
        for (name, auth) in map {
            let h = auth.header().map_err(|e| {
                CrawlError::BadConfig(format!("credentials of source {name:?}: {e}"))
            })?;
            headers.insert(name.clone(), h);
        }
        Ok(Self { headers })
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.headers.is_empty()
    }

    /// The credentials of the source named `name` whose start catalog is `start_url`.
    pub(crate) fn for_source(&self, name: &str, start_url: &str) -> Option<Arc<Credentials>> {
        let (header, value) = self.headers.get(name)?;
        let origin = match Url::parse(start_url.trim()) {
            Ok(u) if matches!(u.scheme(), "http" | "https") => u.origin(),
            _ => {
                tracing::warn!(source = %name, "credentials not used: the source URL is not http(s)");
                return None;
            }
        };
        Some(Arc::new(Credentials {
            origin,
            name: header.clone(),
            value: value.clone(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_redacts_secrets() {
        let all = [
            SourceAuth::basic("alice", "s3cret-pass"),
            SourceAuth::bearer("tok-123456"),
            SourceAuth::cookie("JSESSIONID=abcdef"),
        ];
        for a in &all {
            let d = format!("{a:?} {:#?}", a);
            for secret in ["s3cret-pass", "tok-123456", "abcdef"] {
                assert!(!d.contains(secret), "{d}");
            }
            assert!(d.contains("<redacted>"), "{d}");
            let (_, v) = a.header().unwrap();
            assert!(v.is_sensitive());
            assert!(!format!("{v:?}").contains("123456"));
        }
        assert!(format!("{:?}", all[0]).contains("alice"));
        let mut map = SourceAuthMap::new();
        map.insert("s".into(), all[1].clone());
        let table = AuthTable::new(&map).unwrap();
        let c = table
            .for_source("s", "http://h:8080/thredds/catalog.xml")
            .unwrap();
        assert!(!format!("{c:?} {table:?}").contains("tok-123456"));
    }

    #[test]
    fn headers() {
        let (n, v) = SourceAuth::basic("Aladdin", "open sesame")
            .header()
            .unwrap();
        assert_eq!(n, header::AUTHORIZATION);
        assert_eq!(v.to_str().unwrap(), "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==");
        let (n, v) = SourceAuth::bearer(" abc ").header().unwrap();
        assert_eq!(n, header::AUTHORIZATION);
        assert_eq!(v.to_str().unwrap(), "Bearer abc");
        let (n, v) = SourceAuth::cookie("a=b; c=d").header().unwrap();
        assert_eq!(n, header::COOKIE);
        assert_eq!(v.to_str().unwrap(), "a=b; c=d");
        assert!(SourceAuth::bearer("").header().is_err());
        assert!(SourceAuth::basic("a:b", "c").header().is_err());
        let e = SourceAuth::bearer("abc\r\nX-Evil: 1").header().unwrap_err();
        assert!(!e.contains("Evil"), "{e}");
        let mut map = SourceAuthMap::new();
        map.insert("s".into(), SourceAuth::cookie("x\ny"));
        assert!(AuthTable::new(&map).is_err());
    }

    #[test]
    fn same_origin_only() {
        let mut map = SourceAuthMap::new();
        map.insert("s".into(), SourceAuth::bearer("t"));
        let table = AuthTable::new(&map).unwrap();
        assert!(table.for_source("other", "http://h/x.xml").is_none());
        let c = table
            .for_source("s", "https://data.example.org/thredds/catalog.xml")
            .unwrap();
        let yes = |u: &str| c.for_url(&Url::parse(u).unwrap()).is_some();
        assert!(yes("https://data.example.org/thredds/a/catalog.xml"));
        assert!(yes("https://DATA.example.org:443/robots.txt"));
        assert!(!yes("http://data.example.org/thredds/a/catalog.xml"));
        assert!(!yes("https://data.example.org:8443/thredds/a/catalog.xml"));
        assert!(!yes("https://other.example.org/thredds/catalog.xml"));
        assert!(!yes(
            "https://data.example.org.evil.net/thredds/catalog.xml"
        ));
        assert!(table.for_source("s", "ftp://h/x").is_none());
    }
}

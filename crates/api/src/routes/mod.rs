//! Request handlers.

pub(crate) mod admin;
pub(crate) mod changes;
pub(crate) mod collections;
pub(crate) mod csw;
pub(crate) mod health;
pub(crate) mod index;
pub(crate) mod openapi;
pub(crate) mod page;
pub(crate) mod stac;
pub(crate) mod subscriptions;
pub(crate) mod timeline;

use std::time::Instant;

use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::Response;
use serde_json::json;

use crate::ApiConfig;
use crate::error::json_response;

/// Unknown paths: a JSON 404.
pub(crate) async fn fallback(method: Method) -> Response {
    let started = Instant::now();
    let response = json_response(
        StatusCode::NOT_FOUND,
        &json!({"error": {"message": "no such endpoint; see /openapi.json"}}),
    );
    crate::metrics::record(
        "unmatched".to_owned(),
        crate::metrics::method_label(&method),
        response.status().as_u16(),
        started,
    );
    response
}

/// The base URL for absolute links: the configured public URL, else `http://` + a sane `Host`
/// header, else empty (relative links).
pub(crate) fn base_url(config: &ApiConfig, headers: &HeaderMap) -> String {
    if let Some(url) = &config.public_url {
        return url.trim_end_matches('/').to_owned();
    }
    headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| {
            !h.is_empty()
                && h.len() <= 255
                && h.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b".-:[]_".contains(&b))
        })
        .map(|h| format!("http://{h}"))
        .unwrap_or_default()
}

/// Which of `offered` media types the `Accept` header prefers (by q-value, then by the order
/// of `offered`); None when the header is absent or names none of them (wildcards match the
/// first offered type).
pub(crate) fn negotiate(headers: &HeaderMap, offered: &[&str]) -> Option<usize> {
    let accept = headers.get(header::ACCEPT)?.to_str().ok()?;
    let mut best: Option<(f32, usize)> = None;
    for item in accept.split(',').take(32) {
        let mut parts = item.split(';');
        let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let mut q = 1.0_f32;
        for p in parts {
            if let Some(v) = p.trim().strip_prefix("q=") {
                q = v.trim().parse().unwrap_or(0.0);
            }
        }
        if q <= 0.0 {
            continue;
        }
        let idx = if media == "*/*" {
            Some(0)
        } else if let Some(prefix) = media.strip_suffix("/*") {
            offered
                .iter()
                .position(|o| o.split('/').next() == Some(prefix))
        } else {
            offered.iter().position(|o| *o == media)
        };
        if let Some(i) = idx {
            let better = match best {
                None => true,
                Some((bq, bi)) => q > bq || (q == bq && i < bi),
            };
            if better {
                best = Some((q, i));
            }
        }
    }
    best.map(|(_, i)| i)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn accept(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::ACCEPT, HeaderValue::from_str(v).unwrap());
        h
    }

    #[test]
    fn negotiation() {
        let offered = ["application/json", "application/xml", "text/xml"];
        assert_eq!(negotiate(&HeaderMap::new(), &offered), None);
        assert_eq!(negotiate(&accept("application/xml"), &offered), Some(1));
        assert_eq!(negotiate(&accept("text/xml"), &offered), Some(2));
        assert_eq!(negotiate(&accept("*/*"), &offered), Some(0));
        assert_eq!(
            negotiate(&accept("application/json;q=0.5, application/xml"), &offered),
            Some(1)
        );
        assert_eq!(negotiate(&accept("text/html"), &offered), None);
        assert_eq!(negotiate(&accept("application/xml;q=0"), &offered), None);
    }

    #[test]
    fn base_urls() {
        let mut h = HeaderMap::new();
        let cfg = ApiConfig::default();
        assert_eq!(base_url(&cfg, &h), "");
        h.insert(header::HOST, HeaderValue::from_static("localhost:8080"));
        assert_eq!(base_url(&cfg, &h), "http://localhost:8080");
        h.insert(header::HOST, HeaderValue::from_static("evil/<x>"));
        assert_eq!(base_url(&cfg, &h), "");
        let cfg = ApiConfig {
            public_url: Some("https://x.org/api/".into()),
            ..ApiConfig::default()
        };
        assert_eq!(base_url(&cfg, &h), "https://x.org/api");
    }
}

//! The search page at `/` and its assets at `/ui/{file}`: hand-written HTML, CSS and ES
//! modules embedded in the binary (no build step, no CDN, no tile server), reading only the
//! public API. See `docs/api.md#the-search-page`.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::OnceLock;

use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;

/// The Content-Security-Policy of the page: its own scripts, styles, images and API only.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
    img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; \
    frame-ancestors 'none'";

/// An embedded file: name under `/ui/`, media type, content.
struct Asset {
    name: &'static str,
    media_type: &'static str,
    body: &'static [u8],
}

const INDEX: Asset = Asset {
    name: "index.html",
    media_type: "text/html; charset=utf-8",
    body: include_bytes!("../../ui/index.html"),
};

/// The files under `/ui/`.
const ASSETS: &[Asset] = &[
    Asset {
        name: "app.js",
        media_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../ui/app.js"),
    },
    Asset {
        name: "style.css",
        media_type: "text/css; charset=utf-8",
        body: include_bytes!("../../ui/style.css"),
    },
    Asset {
        name: "world.json",
        media_type: "application/json",
        body: include_bytes!("../../ui/world.json"),
    },
];

/// The ETag of an asset (a hash of its content, computed once per asset).
fn etag(asset: &Asset) -> &'static str {
    static TAGS: OnceLock<Vec<String>> = OnceLock::new();
    let tags = TAGS.get_or_init(|| {
        std::iter::once(&INDEX)
            .chain(ASSETS)
            .map(|a| {
                let mut h = DefaultHasher::new();
                a.body.hash(&mut h);
                format!("\"{:016x}\"", h.finish())
            })
            .collect()
    });
    let i = if asset.name == INDEX.name {
        0
    } else {
        1 + ASSETS
            .iter()
            .position(|a| a.name == asset.name)
            .unwrap_or(0)
    };
    tags.get(i).map_or("\"0\"", String::as_str)
}

fn serve(asset: &Asset, headers: &HeaderMap) -> Response {
    let tag = etag(asset);
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == tag));
    let status = if fresh {
        StatusCode::NOT_MODIFIED
    } else {
        StatusCode::OK
    };
    let mut response = if fresh {
        status.into_response()
    } else {
        (status, asset.body).into_response()
    };
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(asset.media_type),
    );
    // Revalidated with the ETag after 5 minutes; the page itself always.
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(if asset.name == INDEX.name {
            "no-cache"
        } else {
            "public, max-age=300"
        }),
    );
    if let Ok(v) = HeaderValue::from_str(tag) {
        h.insert(header::ETAG, v);
    }
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

/// `GET /`: the search page.
pub(crate) async fn index(headers: HeaderMap) -> Response {
    serve(&INDEX, &headers)
}

/// `GET /ui/{file}`: a script, style sheet or the world outline of the page.
pub(crate) async fn asset(
    Path(file): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    ASSETS
        .iter()
        .find(|a| a.name == file)
        .map(|a| serve(a, &headers))
        .ok_or_else(|| ApiError::NotFound("no such file".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The whole page, uncompressed, stays under the 500 KB budget (compressed it is about a
    /// third of that).
    #[test]
    fn page_weight() {
        let total = INDEX.body.len() + ASSETS.iter().map(|a| a.body.len()).sum::<usize>();
        assert!(total < 500_000, "{total} bytes");
    }

    /// Text from the index reaches the page only as text: the scripts never parse HTML.
    #[test]
    fn scripts_never_parse_html() {
        for a in ASSETS.iter().filter(|a| a.name.ends_with(".js")) {
            let js = String::from_utf8_lossy(a.body);
            for sink in [
                "innerHTML",
                "outerHTML",
                "insertAdjacentHTML",
                "document.write",
                "eval(",
            ] {
                assert!(!js.contains(sink), "{} uses {sink}", a.name);
            }
        }
    }

    /// Every asset the page names is served, with its media type.
    #[test]
    fn page_names_only_served_assets() {
        let html = String::from_utf8_lossy(INDEX.body);
        for part in html.split("/ui/").skip(1) {
            let name: String = part.chars().take_while(|c| *c != '"').collect();
            assert!(
                ASSETS.iter().any(|a| a.name == name),
                "{name} is not served"
            );
        }
        assert!(ASSETS.iter().all(|a| a.media_type.contains('/')));
    }
}

//! Catalog URL normalisation and compact keys for the visited set.

use std::hash::{Hash, Hasher};

use url::Url;

/// Normalise a catalog URL: drop the fragment and an empty query, drop the scheme's default
/// port, and switch an HTML catalog page to its XML twin (`….html` → `….xml`, so
/// `catalog.html` → `catalog.xml`). Scheme and host are lower-cased by the URL parser.
pub fn normalize(mut url: Url) -> Url {
    url.set_fragment(None);
    if url.query() == Some("") {
        url.set_query(None);
    }
    if let (Some(port), Some(default)) = (url.port(), default_port(url.scheme()))
        && port == default
    {
        // Cannot fail for http(s) URLs with a host.
        let _ = url.set_port(None);
    }
    let path = url.path();
    if let Some(stem) = path.strip_suffix(".html") {
        let new = format!("{stem}.xml");
        url.set_path(&new);
    } else if let Some(stem) = path.strip_suffix(".htm") {
        let new = format!("{stem}.xml");
        url.set_path(&new);
    }
    url
}

/// Parse and normalise an absolute catalog URL (http or https only).
pub fn parse_catalog_url(s: &str) -> Result<Url, String> {
    let url = Url::parse(s.trim()).map_err(|e| format!("invalid URL {s:?}: {e}"))?;
    match url.scheme() {
        "http" | "https" => {}
        other => return Err(format!("unsupported URL scheme {other:?} in {s:?}")),
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(format!("URL without host: {s:?}"));
    }
    Ok(normalize(url))
}

fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "http" => Some(80),
        "https" => Some(443),
        _ => None,
    }
}

/// `host[:port]` of a URL: the unit of politeness (one rate limiter, one robots.txt).
pub fn host_key(url: &Url) -> String {
    let host = url.host_str().unwrap_or("");
    match url.port() {
        Some(p) => format!("{}://{host}:{p}", url.scheme()),
        None => format!("{}://{host}", url.scheme()),
    }
}

/// A 128-bit key of a normalised URL for the visited set (16 bytes per catalog instead of the
/// whole string). Two SipHash-1-3 runs with fixed, different keys; collisions are negligible
/// for any realistic tree (~10^-20 at ten million catalogs).
pub fn url_key(url: &str) -> u128 {
    let mut a = std::hash::DefaultHasher::new();
    url.hash(&mut a);
    let mut b = std::hash::DefaultHasher::new();
    0xA5A5_5A5A_u32.hash(&mut b);
    url.hash(&mut b);
    (u128::from(a.finish()) << 64) | u128::from(b.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> String {
        parse_catalog_url(s).expect("valid").to_string()
    }

    #[test]
    fn strips_fragment_default_port_and_switches_html() {
        assert_eq!(
            n("http://Example.ORG:80/thredds/catalog.html#top"),
            "http://example.org/thredds/catalog.xml"
        );
        assert_eq!(
            n("https://example.org:443/thredds/catalog/x/catalog.xml?"),
            "https://example.org/thredds/catalog/x/catalog.xml"
        );
        assert_eq!(
            n("http://127.0.0.1:8080/a/catalog.xml"),
            "http://127.0.0.1:8080/a/catalog.xml"
        );
        assert_eq!(n("http://h/a/b.htm"), "http://h/a/b.xml");
        assert_eq!(
            n("http://h/a/b.xml?dataset=x"),
            "http://h/a/b.xml?dataset=x"
        );
    }

    #[test]
    fn rejects_non_http() {
        assert!(parse_catalog_url("ftp://h/x.xml").is_err());
        assert!(parse_catalog_url("file:///etc/passwd").is_err());
        assert!(parse_catalog_url("not a url").is_err());
    }

    #[test]
    fn same_catalog_same_key() {
        let a = n("http://h:80/t/catalog.html#x");
        let b = n("http://H/t/catalog.xml");
        assert_eq!(url_key(&a), url_key(&b));
        assert_ne!(url_key(&a), url_key("http://h/t/other.xml"));
    }

    #[test]
    fn host_keys() {
        let u = parse_catalog_url("http://h:8080/x").expect("valid");
        assert_eq!(host_key(&u), "http://h:8080");
        let u = parse_catalog_url("https://h:443/x").expect("valid");
        assert_eq!(host_key(&u), "https://h");
    }
}

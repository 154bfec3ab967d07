//! The `/index` CSV answer: one row per granule (`id,start,end,size,url_path,catalog,url`,
//! `url` through the first access service), the next page and the freshness in headers.

use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use threddex_search::GranulePage;
use threddex_store::Timestamp;
use url::form_urlencoded;

use crate::query::GranuleSearch;

/// Header of the CSV answer.
pub(crate) const CSV_HEADER: &str = "id,start,end,size,url_path,catalog,url";

fn time(t: Option<Timestamp>) -> Option<String> {
    t.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
}

/// The CSV body of a granule page (RFC 4180, CRLF line ends, a header row).
pub fn index_csv(page: &GranulePage) -> String {
    let mut body = String::with_capacity(64 + page.granules.len() * 160);
    body.push_str(CSV_HEADER);
    body.push_str("\r\n");
    for g in &page.granules {
        let url = match (page.services.first(), g.url_path.as_deref()) {
            (Some(s), Some(p)) => s.url_for(p),
            _ => String::new(),
        };
        // Text from the catalogs is guarded against spreadsheet formulas; times and sizes are
        // ours.
        let fields = [
            (g.granule_id.clone(), true),
            (time(g.start).unwrap_or_default(), false),
            (time(g.end).unwrap_or_default(), false),
            (g.size.map(|s| s.to_string()).unwrap_or_default(), false),
            (g.url_path.clone().unwrap_or_default(), true),
            (g.catalog_url.clone(), true),
            (url, true),
        ];
        for (i, (f, untrusted)) in fields.iter().enumerate() {
            if i > 0 {
                body.push(',');
            }
            if *untrusted {
                push_csv_text(&mut body, f);
            } else {
                push_csv_field(&mut body, f);
            }
        }
        body.push_str("\r\n");
    }
    body
}

/// The whole CSV answer: the body, the freshness in `X-Refreshed`, `X-Stale` and
/// `X-Indexed-Through`, and the next page in `X-Next-Cursor` and a `Link` (below `base`, with
/// the parameters of `search`).
pub(crate) fn response(page: &GranulePage, search: &GranuleSearch, base: &str) -> Response {
    let mut response = (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/csv; charset=utf-8")],
        index_csv(page),
    )
        .into_response();
    let h = response.headers_mut();
    let mut set = |name: &'static str, value: String| {
        if let Ok(v) = HeaderValue::from_str(&value) {
            h.insert(HeaderName::from_static(name), v);
        }
    };
    let outcome = &page.freshness.outcome;
    set("x-refreshed", outcome.refreshed.to_string());
    set("x-stale", outcome.stale.to_string());
    set(
        "x-indexed-through",
        time(outcome.indexed_through).unwrap_or_default(),
    );
    if let Some(cursor) = &page.next {
        let mut q = form_urlencoded::Serializer::new(String::new());
        q.append_pair("collection", &search.collection_id);
        if let Some(s) = time(search.start) {
            q.append_pair("start", &s);
        }
        if let Some(e) = time(search.end) {
            q.append_pair("end", &e);
        }
        q.append_pair("limit", &search.limit.to_string());
        q.append_pair("format", "csv");
        q.append_pair("cursor", cursor);
        set(
            "link",
            format!("<{base}/index?{}>; rel=\"next\"", q.finish()),
        );
        set("x-next-cursor", cursor.clone());
    }
    response
}

/// Append one CSV field (RFC 4180 quoting).
pub(crate) fn push_csv_field(out: &mut String, field: &str) {
    if field.contains([',', '"', '\n', '\r']) {
        out.push('"');
        out.push_str(&field.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(field);
    }
}

/// Append one CSV field of text that came from a catalog: a value a spreadsheet would take as
/// a formula (starting with `=`, `+`, `-`, `@`, a tab or a carriage return) gets a leading `'`,
/// which spreadsheets show as text (the OWASP advice against CSV injection).
pub(crate) fn push_csv_text(out: &mut String, field: &str) {
    if field.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        push_csv_field(out, &format!("'{field}"));
    } else {
        push_csv_field(out, field);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalog_text_is_never_a_formula() {
        for (field, want) in [
            (
                "=HYPERLINK(\"http://x\")",
                "\"'=HYPERLINK(\"\"http://x\"\")\"",
            ),
            ("+1", "'+1"),
            ("-2+3", "'-2+3"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("\tx", "'\tx"),
            ("\r=1", "\"'\r=1\""),
            (
                "Level3_YUX_N0Q_20190830_1713.nids",
                "Level3_YUX_N0Q_20190830_1713.nids",
            ),
            ("a-b=c", "a-b=c"),
        ] {
            let mut s = String::new();
            push_csv_text(&mut s, field);
            assert_eq!(s, want, "{field:?}");
        }
    }

    #[test]
    fn csv_quoting() {
        let mut s = String::new();
        push_csv_field(&mut s, "plain");
        s.push(',');
        push_csv_field(&mut s, "a,b \"c\"\nd");
        assert_eq!(s, "plain,\"a,b \"\"c\"\"\nd\"");
    }
}

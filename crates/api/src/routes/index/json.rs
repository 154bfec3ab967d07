//! The `/index` JSON body, written straight into one pre-sized buffer.
//!
//! This is the hot path of the API: building a `serde` tree of per-granule structs with one
//! `String` per access URL costs more than the rest of the request on the server side. The
//! writer here produces exactly the bytes `serde_json::to_vec` produced for the former
//! `IndexPage` structs (same field order, same string escaping, timestamps as chrono's
//! `to_rfc3339_opts(AutoSi, true)`: the writers of `threddex-json`, shared with the STAC item
//! pages); the tests compare both byte for byte.
//!
//! Access URLs are never materialised: each access service of the page is turned once (per
//! page) into an [`AccessJson`] fragment pair, and a granule's URL is written as `head` +
//! escaped `url_path` + `tail`.

use threddex_json::{push_bool, push_escaped, push_i64, push_opt_time, push_quoted};
use threddex_search::GranulePage;
use threddex_store::{AccessService, Granule};

use crate::refresh::RefreshOutcome;

/// The `/index` JSON body of a granule page: `collection`, `granules` (each with its access
/// URLs), `next`, `refreshed`, `stale`, `indexed_through`.
pub fn index_json(page: &GranulePage) -> Vec<u8> {
    let access: Vec<AccessJson> = page.services.iter().map(AccessJson::new).collect();
    index_page(
        &page.collection_id,
        &page.granules,
        &access,
        page.next.as_deref(),
        &page.freshness.outcome,
    )
}

/// One access service, pre-rendered: an access entry is `head`, the escaped `url_path`, `tail`.
#[derive(Clone, Debug, PartialEq, Eq)]
struct AccessJson {
    /// `{"service":"…","type":"…","url":"<escaped base>`.
    head: Vec<u8>,
    /// `<escaped suffix>"}`.
    tail: Vec<u8>,
}

impl AccessJson {
    fn new(service: &AccessService) -> Self {
        let mut head = Vec::with_capacity(40 + service.name.len() + service.base.len());
        head.extend_from_slice(b"{\"service\":");
        push_quoted(&mut head, &service.name);
        head.extend_from_slice(b",\"type\":");
        push_quoted(&mut head, &service.service_type);
        head.extend_from_slice(b",\"url\":\"");
        push_escaped(&mut head, &service.base);
        let mut tail = Vec::with_capacity(service.suffix.len() + 2);
        push_escaped(&mut tail, &service.suffix);
        tail.extend_from_slice(b"\"}");
        Self { head, tail }
    }

    /// Bytes of one entry, without the path.
    fn len(&self) -> usize {
        self.head.len() + self.tail.len()
    }
}

/// A rough upper estimate of the body size, so the buffer is allocated once.
fn estimate(id: &str, rows: &[Granule], access: &[AccessJson]) -> usize {
    let per_access: usize = access.iter().map(|a| a.len() + 1).sum();
    let per_row: usize = 160 + per_access;
    let strings: usize = rows
        .iter()
        .map(|g| {
            let path = g.url_path.as_deref().map_or(0, str::len);
            g.granule_id.len() + g.name.len() + g.catalog_url.len() + path * (1 + access.len())
        })
        .sum();
    256 + id.len() + rows.len() * per_row + strings + strings / 8
}

/// The whole `/index` JSON body.
fn index_page(
    id: &str,
    rows: &[Granule],
    access: &[AccessJson],
    next: Option<&str>,
    outcome: &RefreshOutcome,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(estimate(id, rows, access));
    out.extend_from_slice(b"{\"collection\":");
    push_quoted(&mut out, id);
    out.extend_from_slice(b",\"granules\":[");
    for (i, g) in rows.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"id\":");
        push_quoted(&mut out, &g.granule_id);
        out.extend_from_slice(b",\"name\":");
        push_quoted(&mut out, &g.name);
        out.extend_from_slice(b",\"start\":");
        push_opt_time(&mut out, g.start);
        out.extend_from_slice(b",\"end\":");
        push_opt_time(&mut out, g.end);
        out.extend_from_slice(b",\"size\":");
        match g.size {
            Some(n) => push_i64(&mut out, n),
            None => out.extend_from_slice(b"null"),
        }
        out.extend_from_slice(b",\"url_path\":");
        match g.url_path.as_deref() {
            Some(p) => push_quoted(&mut out, p),
            None => out.extend_from_slice(b"null"),
        }
        out.extend_from_slice(b",\"catalog\":");
        push_quoted(&mut out, &g.catalog_url);
        out.extend_from_slice(b",\"access\":[");
        if let Some(path) = g.url_path.as_deref() {
            for (j, a) in access.iter().enumerate() {
                if j > 0 {
                    out.push(b',');
                }
                out.extend_from_slice(&a.head);
                push_escaped(&mut out, path);
                out.extend_from_slice(&a.tail);
            }
        }
        out.extend_from_slice(b"]}");
    }
    out.extend_from_slice(b"],\"next\":");
    match next {
        Some(n) => push_quoted(&mut out, n),
        None => out.extend_from_slice(b"null"),
    }
    out.extend_from_slice(b",\"refreshed\":");
    push_bool(&mut out, outcome.refreshed);
    out.extend_from_slice(b",\"stale\":");
    push_bool(&mut out, outcome.stale);
    out.extend_from_slice(b",\"indexed_through\":");
    push_opt_time(&mut out, outcome.indexed_through);
    out.push(b'}');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};
    use serde::Serialize;
    use threddex_store::Timestamp;

    /// The former serde representation, kept as the reference the writer must match.
    #[derive(Serialize)]
    struct IndexPage<'a> {
        collection: &'a str,
        granules: Vec<GranuleOut<'a>>,
        next: Option<&'a str>,
        refreshed: bool,
        stale: bool,
        indexed_through: Option<Timestamp>,
    }

    #[derive(Serialize)]
    struct GranuleOut<'a> {
        id: &'a str,
        name: &'a str,
        start: Option<Timestamp>,
        end: Option<Timestamp>,
        size: Option<i64>,
        url_path: Option<&'a str>,
        catalog: &'a str,
        access: Vec<Access<'a>>,
    }

    #[derive(Serialize)]
    struct Access<'a> {
        service: &'a str,
        #[serde(rename = "type")]
        service_type: &'a str,
        url: String,
    }

    fn reference(
        id: &str,
        rows: &[Granule],
        services: &[AccessService],
        next: Option<&str>,
        outcome: &RefreshOutcome,
    ) -> Vec<u8> {
        let page = IndexPage {
            collection: id,
            granules: rows
                .iter()
                .map(|g| GranuleOut {
                    id: &g.granule_id,
                    name: &g.name,
                    start: g.start,
                    end: g.end,
                    size: g.size,
                    url_path: g.url_path.as_deref(),
                    catalog: &g.catalog_url,
                    access: g
                        .url_path
                        .as_deref()
                        .map(|p| {
                            services
                                .iter()
                                .map(|s| Access {
                                    service: &s.name,
                                    service_type: &s.service_type,
                                    url: s.url_for(p),
                                })
                                .collect()
                        })
                        .unwrap_or_default(),
                })
                .collect(),
            next,
            refreshed: outcome.refreshed,
            stale: outcome.stale,
            indexed_through: outcome.indexed_through,
        };
        serde_json::to_vec(&page).unwrap()
    }

    fn svc(name: &str, ty: &str, base: &str, suffix: &str) -> AccessService {
        AccessService {
            name: name.into(),
            service_type: ty.into(),
            base: base.into(),
            suffix: suffix.into(),
        }
    }

    #[test]
    fn page_matches_the_serde_representation() {
        let services = vec![
            svc("odap", "OpenDAP", "http://h/thredds/dodsC/", ""),
            svc("http", "HTTPServer", "http://h/thredds/fileServer/", ""),
            svc("w\"ms", "WMS\n", "http://h/wms/\\", "?service=WMS&x=\"y\""),
        ];
        let access: Vec<AccessJson> = services.iter().map(AccessJson::new).collect();
        let t0 = Utc.with_ymd_and_hms(2020, 1, 1, 0, 0, 0).unwrap();
        let g = |i: i64| Granule {
            collection_id: "c".into(),
            granule_id: format!("dir/g{i}.nc"),
            name: format!("g{i}.nc"),
            start: Some(t0 + chrono::Duration::milliseconds(i * 3_600_001)),
            end: (i % 2 == 0).then(|| t0 + chrono::Duration::hours(i + 1)),
            url_path: Some(format!("model/é/g{i}\t.nc")),
            size: (i % 3 != 0).then_some(i * 1_000_003 - 5),
            modified: None,
            catalog_url: "http://h/thredds/catalog/model/catalog.xml".into(),
        };
        let mut rows: Vec<Granule> = (0..5).map(g).collect();
        rows.push(Granule {
            start: None,
            end: None,
            url_path: None,
            size: Some(-3),
            name: "odd \"name\"\u{1}".into(),
            ..g(9)
        });
        let outcomes = [
            RefreshOutcome::default(),
            RefreshOutcome {
                refreshed: true,
                stale: true,
                indexed_through: Some(t0 + chrono::Duration::microseconds(414_244)),
            },
        ];
        for outcome in &outcomes {
            for next in [None, Some("eyJ2IjoxfQ")] {
                for n in [0, 1, rows.len()] {
                    let id = "test:sst/daily \"x\"";
                    let ours = index_page(id, &rows[..n], &access, next, outcome);
                    let theirs = reference(id, &rows[..n], &services, next, outcome);
                    assert_eq!(
                        String::from_utf8(ours).unwrap(),
                        String::from_utf8(theirs).unwrap()
                    );
                }
            }
        }
        // No services: empty access lists.
        let ours = index_page("c", &rows, &[], None, &outcomes[0]);
        assert_eq!(ours, reference("c", &rows, &[], None, &outcomes[0]));
    }
}

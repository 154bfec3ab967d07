//! Golden transcripts of `/index` and `/collections`: the exact status, headers and body bytes
//! of a fixed set of requests against the fixture store, compared byte for byte with the
//! `*.golden` files next to this module (the same file for both backends).
//!
//! After a deliberate change of the wire format, rewrite the files with
//! `THREDDEX_BLESS=1 cargo test -p threddex-api --test it transcripts` and review the diff.

#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use threddex_api::{
    ApiConfig, AppState, Freshness, RefreshError, RefreshReport, Refresher, router,
};
use tower::ServiceExt;

use crate::common::*;

/// One request: the URI (already encoded) and extra request headers.
struct Req {
    uri: String,
    headers: Vec<(&'static str, &'static str)>,
}

fn req(uri: impl Into<String>) -> Req {
    Req {
        uri: uri.into(),
        headers: Vec::new(),
    }
}

/// Records requests and their answers as text.
struct Transcript {
    state: AppState,
    text: String,
}

impl Transcript {
    fn new(state: AppState) -> Self {
        Self {
            state,
            text: String::new(),
        }
    }

    /// Send `r`, append the exchange, and return the response headers and body.
    async fn send(&mut self, r: Req) -> (axum::http::HeaderMap, Vec<u8>) {
        let mut builder = axum::http::Request::builder()
            .uri(&r.uri)
            .header("host", "api.test");
        for (k, v) in &r.headers {
            builder = builder.header(*k, *v);
        }
        let resp = router(self.state.clone())
            .oneshot(builder.body(axum::body::Body::empty()).unwrap())
            .await
            .unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = axum::body::to_bytes(resp.into_body(), 16 * 1024 * 1024)
            .await
            .unwrap()
            .to_vec();
        self.text.push_str(&format!("=== GET {}\n", r.uri));
        for (k, v) in &r.headers {
            self.text.push_str(&format!("> {k}: {v}\n"));
        }
        self.text.push_str(&format!("--- {}\n", status.as_u16()));
        let mut names: Vec<&str> = headers.keys().map(|k| k.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        for name in names {
            for v in headers.get_all(name) {
                self.text
                    .push_str(&format!("{name}: {}\n", v.to_str().unwrap()));
            }
        }
        let text = String::from_utf8(body.clone()).expect("UTF-8 body");
        self.text
            .push_str(&format!("--- body {} bytes\n{text}\n", body.len()));
        (headers, body)
    }

    /// Send `r`, then follow the `next` cursor of JSON pages (or the `Link` of CSV pages)
    /// until the last page, recording every page.
    async fn send_paged(&mut self, r: Req) {
        let mut uri = r.uri.clone();
        let accept = r.headers.clone();
        for _ in 0..50 {
            let (headers, body) = self
                .send(Req {
                    uri: uri.clone(),
                    headers: accept.clone(),
                })
                .await;
            let next = if let Some(link) = headers.get("link") {
                let link = link.to_str().unwrap();
                Some(
                    link.trim_start_matches("<http://api.test")
                        .split('>')
                        .next()
                        .unwrap()
                        .to_owned(),
                )
            } else {
                serde_json::from_slice::<serde_json::Value>(&body)
                    .ok()
                    .and_then(|v| v["next"].as_str().map(str::to_owned))
                    .map(|c| {
                        let base = uri.split("&cursor=").next().unwrap().to_owned();
                        format!("{base}&cursor={c}")
                    })
            };
            match next {
                Some(n) => uri = n,
                None => return,
            }
        }
        panic!("{}: paging does not end", r.uri);
    }

    /// Compare with (or, under `THREDDEX_BLESS=1`, write) the golden file `name`.
    fn check(&self, name: &str) {
        let path: PathBuf = [
            env!("CARGO_MANIFEST_DIR"),
            "tests",
            "it",
            "transcripts",
            &format!("{name}.golden"),
        ]
        .iter()
        .collect();
        if std::env::var_os("THREDDEX_BLESS").is_some() {
            std::fs::write(&path, &self.text).unwrap();
            return;
        }
        let want = std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!("{}: {e} (record it with THREDDEX_BLESS=1)", path.display())
        });
        if want == self.text {
            return;
        }
        let got_entries: Vec<&str> = self.text.split("\n=== ").collect();
        let want_entries: Vec<&str> = want.split("\n=== ").collect();
        for (i, (g, w)) in got_entries.iter().zip(&want_entries).enumerate() {
            assert_eq!(g, w, "{name}: exchange {i} differs");
        }
        assert_eq!(
            got_entries.len(),
            want_entries.len(),
            "{name}: number of exchanges differs"
        );
        panic!("{name}: transcripts differ");
    }
}

/// `/index` in JSON and CSV: paging, windows, empty answers, negotiation, errors.
async fn index_transcript(backend: Backend) {
    let fx = fixture(backend).await;
    let mut t = Transcript::new(state(fx.store.clone(), None));
    let c = enc(DAILY);
    t.send_paged(req(format!("/index?collection={c}&limit=12")))
        .await;
    t.send(req(format!(
        "/index?collection={c}&start=2024-01-03T12:00:00Z&end=2024-01-05"
    )))
    .await;
    t.send(req(format!("/index?collection={}", enc(OTHER))))
        .await;
    t.send(req(format!("/index?collection={c}&start=2025-01-01")))
        .await;
    t.send(req(format!(
        "/index?collection={c}&start=2024-01-01T00:00:00%2B02:00&end=2024-01-02T00:00:00.5Z"
    )))
    .await;
    t.send_paged(req(format!(
        "/index?collection={c}&start=2024-01-04&end=2024-01-07&format=csv&limit=3"
    )))
    .await;
    t.send(req(format!(
        "/index?collection={c}&start=2025-01-01&format=CSV"
    )))
    .await;
    t.send(Req {
        uri: format!("/index?collection={c}&limit=2"),
        headers: vec![("accept", "text/csv")],
    })
    .await;
    t.send(Req {
        uri: format!("/index?collection={c}&limit=2&format=json"),
        headers: vec![("accept", "text/csv")],
    })
    .await;
    t.send(Req {
        uri: format!("/index?collection={c}&limit=1"),
        headers: vec![(
            "accept",
            "text/html, application/json;q=0.9, text/csv;q=0.5",
        )],
    })
    .await;
    // A one-granule collection with limit=1: no next page.
    t.send(req(format!("/index?collection={}&limit=1", enc(OTHER))))
        .await;
    for bad in [
        "/index".to_owned(),
        format!("/index?collection={c}&start=yesterday"),
        format!("/index?collection={c}&start=2024-01-05&end=2024-01-05"),
        format!("/index?collection={c}&limit=0"),
        format!("/index?collection={c}&limit=10001"),
        format!("/index?collection={c}&cursor=bogus"),
        format!("/index?collection={c}&format=xml"),
        format!("/index?collection={c}&colection=x"),
        format!("/index?collection={c}&limit=1&limit=2"),
        format!("/index?collection={c}&start=%zz"),
        "/index?collection=a%0Ab".to_owned(),
        "/index?collection=nope:none".to_owned(),
        "/index?collection=nope:none&format=csv".to_owned(),
    ] {
        t.send(req(bad)).await;
    }
    // A cursor of DAILY used for OTHER.
    let (_, body) = t.send(req(format!("/index?collection={c}&limit=1"))).await;
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let cursor = v["next"].as_str().unwrap().to_owned();
    t.send(req(format!(
        "/index?collection={}&cursor={cursor}",
        enc(OTHER)
    )))
    .await;
    // The database goes away: a generic 500.
    fx.close().await;
    t.send(req(format!("/index?collection={c}"))).await;
    t.check("index");
}

/// `/collections`: all, paging, text, bbox and time filters, empty answers, errors.
async fn collections_transcript(backend: Backend) {
    let fx = fixture(backend).await;
    let mut t = Transcript::new(state(fx.store.clone(), None));
    t.send(req("/collections")).await;
    t.send_paged(req("/collections?limit=1")).await;
    for q in [
        "/collections?q=wind",
        "/collections?q=temperature&start=2024-01-02&end=2024-01-03",
        "/collections?bbox=179,-5,-179,5",
        "/collections?bbox=5,55,6,56&limit=5",
        "/collections?start=2024-01-15&end=2024-01-16",
        "/collections?q=nothing%20like%20this",
        "/collections?start=2024-02-15",
        "/collections?bbox=0,0,10",
        "/collections?limit=1001",
        "/collections?cursor=nope",
        "/collections?foo=bar",
    ] {
        t.send(req(q)).await;
    }
    fx.close().await;
    t.send(req("/collections")).await;
    t.check("collections");
}

/// A refresher with a fixed freshness whose refreshes succeed or fail.
struct Fixed {
    fail: bool,
}

#[async_trait]
impl Refresher for Fixed {
    async fn freshness(&self, _id: &str) -> Result<Freshness, RefreshError> {
        Ok(Freshness {
            has_live_nodes: true,
            indexed_through: Some(day(10)),
            last_sync: Some(day(9)),
        })
    }

    async fn refresh(&self, _id: &str) -> Result<RefreshReport, RefreshError> {
        if self.fail {
            return Err(RefreshError::Fetch("server said 500".into()));
        }
        Ok(RefreshReport {
            catalogs_read: 1,
            granules_added: 0,
            granules_removed: 0,
            indexed_through: Some(day(30)),
        })
    }
}

/// The freshness fields of `/index` (JSON body, CSV headers) with refresh on demand: a
/// successful refresh, a throttled one, a covered window, a failed refresh.
async fn refresh_transcript(backend: Backend) {
    let fx = fixture(backend).await;
    let c = enc(DAILY);
    for fail in [false, true] {
        let st = AppState::new(
            fx.store.clone(),
            Some(Arc::new(Fixed { fail }) as Arc<dyn Refresher>),
            ApiConfig::default(),
        );
        let mut t = Transcript::new(st);
        t.send(req(format!(
            "/index?collection={c}&start=2024-01-29&limit=1"
        )))
        .await;
        t.send(req(format!(
            "/index?collection={c}&start=2024-01-29&format=csv&limit=1"
        )))
        .await;
        t.send(req(format!(
            "/index?collection={c}&start=2024-01-04&end=2024-01-05"
        )))
        .await;
        t.send(req(format!(
            "/index?collection={c}&end=2024-01-02&format=csv"
        )))
        .await;
        t.check(if fail { "refresh_failed" } else { "refresh_ok" });
    }
}

mod sqlite {
    #[tokio::test]
    async fn index_transcript() {
        super::index_transcript(crate::common::Backend::Sqlite).await;
    }
    #[tokio::test]
    async fn collections_transcript() {
        super::collections_transcript(crate::common::Backend::Sqlite).await;
    }
    #[tokio::test]
    async fn refresh_transcript() {
        super::refresh_transcript(crate::common::Backend::Sqlite).await;
    }
}

mod postgres {
    #[tokio::test]
    async fn index_transcript() {
        super::index_transcript(crate::common::Backend::Postgres).await;
    }
    #[tokio::test]
    async fn collections_transcript() {
        super::collections_transcript(crate::common::Backend::Postgres).await;
    }
    #[tokio::test]
    async fn refresh_transcript() {
        super::refresh_transcript(crate::common::Backend::Postgres).await;
    }
}

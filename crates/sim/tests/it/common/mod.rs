//! Shared helpers: an XML catalog parser and a tiny breadth-first walker.
#![allow(dead_code, clippy::unwrap_used)]

use std::collections::{HashSet, VecDeque};

use quick_xml::events::Event;
use quick_xml::{Reader, XmlVersion};

/// What a catalog lists.
#[derive(Debug, Default)]
pub struct Parsed {
    /// `xlink:href` of every catalogRef.
    pub refs: Vec<String>,
    /// `(ID, urlPath)` of every dataset with a urlPath.
    pub datasets: Vec<(String, String)>,
    /// Name of the root element.
    pub root: String,
}

/// Parses a catalog; errors on anything not well-formed.
pub fn parse(body: &str) -> Result<Parsed, String> {
    let mut r = Reader::from_str(body);
    r.config_mut().trim_text(true);
    let mut p = Parsed::default();
    // Open elements: a document cut short ends with some still open.
    let mut depth = 0usize;
    loop {
        let ev = r.read_event().map_err(|e| e.to_string())?;
        match &ev {
            Event::Start(_) => depth += 1,
            Event::End(_) => depth = depth.saturating_sub(1),
            _ => {}
        }
        match ev {
            Event::Start(e) | Event::Empty(e) if e.name().as_ref() == "catalogRef" => {
                for a in e.attributes() {
                    let a = a.map_err(|e| e.to_string())?;
                    if a.key.as_ref() == "xlink:href" {
                        p.refs.push(
                            a.normalized_value(XmlVersion::Implicit1_0)
                                .map_err(|e| e.to_string())?
                                .into_owned(),
                        );
                    }
                }
            }
            Event::Start(e) | Event::Empty(e) if e.name().as_ref() == "dataset" => {
                let (mut id, mut up) = (None, None);
                for a in e.attributes() {
                    let a = a.map_err(|e| e.to_string())?;
                    let v = a
                        .normalized_value(XmlVersion::Implicit1_0)
                        .map_err(|e| e.to_string())?
                        .into_owned();
                    match a.key.as_ref() {
                        "ID" => id = Some(v),
                        "urlPath" => up = Some(v),
                        _ => {}
                    }
                }
                if let (Some(id), Some(up)) = (id, up) {
                    p.datasets.push((id, up));
                }
            }
            Event::Start(e) if p.root.is_empty() => {
                p.root = e.name().as_ref().to_owned();
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if p.root.is_empty() {
        return Err("no root element".into());
    }
    if depth != 0 {
        return Err(format!("{depth} elements not closed at the end"));
    }
    Ok(p)
}

/// Result of a walk.
#[derive(Debug, Default)]
pub struct Walk {
    pub catalogs: HashSet<String>,
    pub granule_ids: HashSet<String>,
    pub leaf_datasets: u64,
}

/// Fetches every catalog reachable from `root`, counting distinct catalogs and granule IDs
/// (datasets with a urlPath, except the model views `Best` and `TwoD`).
pub async fn walk(client: &reqwest::Client, root: &str) -> Walk {
    let mut w = Walk::default();
    let mut queue = VecDeque::from([reqwest::Url::parse(root).unwrap()]);
    while let Some(url) = queue.pop_front() {
        if !w.catalogs.insert(url.to_string()) {
            continue;
        }
        let resp = client.get(url.clone()).send().await.unwrap();
        assert_eq!(resp.status(), 200, "{url}");
        let body = resp.text().await.unwrap();
        let p = parse(&body).unwrap_or_else(|e| panic!("{url}: {e}"));
        for r in p.refs {
            queue.push_back(url.join(&r).unwrap());
        }
        for (id, up) in p.datasets {
            w.leaf_datasets += 1;
            if !up.ends_with("/Best") && !up.ends_with("/TwoD") {
                w.granule_ids.insert(id);
            }
        }
    }
    w
}

pub fn t(s: &str) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339(s).unwrap().to_utc()
}

pub async fn get(url: &str) -> reqwest::Response {
    reqwest::get(url).await.unwrap()
}

//! A collection as a STAC Collection.

use serde_json::{Map, Value, json};
use threddex_records::{Party, SeriesInput, encode_query};
use threddex_store::{Collection, CollectionView};

use crate::{
    GEOJSON, ITEM_ASSETS_EXTENSION, JSON, STAC_VERSION, Urls, footprint, link, time, titled_link,
};

/// The whole world, the spatial extent of a collection whose catalog declares no coverage
/// (the STAC schema requires one; its items have `geometry: null`).
const WORLD: [f64; 4] = [-180.0, -90.0, 180.0, 90.0];

/// The `href`s of the catalog's rights documentation (`<documentation type="rights"
/// xlink:href="…">`), when it gives them as links.
fn rights_links(metadata: &Value) -> Vec<(String, Option<String>)> {
    let Some(docs) = metadata.get("documentation").and_then(Value::as_array) else {
        return Vec::new();
    };
    docs.iter()
        .filter(|d| {
            d.get("doc_type")
                .and_then(Value::as_str)
                .is_some_and(|t| t.eq_ignore_ascii_case("rights"))
        })
        .filter_map(|d| {
            let href = d.get("href").and_then(Value::as_str)?;
            (href.starts_with("http://") || href.starts_with("https://")).then(|| {
                (
                    href.to_owned(),
                    d.get("title").and_then(Value::as_str).map(str::to_owned),
                )
            })
        })
        .collect()
}

fn provider(p: &Party, role: &str) -> Value {
    let mut out = Map::new();
    out.insert("name".into(), Value::String(p.name.clone()));
    out.insert("roles".into(), json!([role]));
    if let Some(url) = p
        .url
        .as_deref()
        .filter(|u| u.starts_with("http://") || u.starts_with("https://"))
    {
        out.insert("url".into(), Value::String(url.to_owned()));
    }
    Value::Object(out)
}

/// A collection as a STAC Collection, with its virtual views as assets (see the crate
/// documentation for what it holds).
pub fn collection(c: &Collection, views: &[CollectionView], urls: &Urls) -> Value {
    let input = SeriesInput::from_collection(&c.info, Some(&urls.api));
    let id = &c.info.id;
    let self_url = urls.collection(id);

    let mut keywords: Vec<String> = Vec::new();
    for w in input
        .keywords
        .iter()
        .flat_map(|g| g.words.iter())
        .chain(c.info.keywords.iter())
    {
        let w = w.trim();
        if !w.is_empty() && !keywords.iter().any(|k| k == w) {
            keywords.push(w.to_owned());
        }
    }

    let mut providers: Vec<Value> = Vec::new();
    for p in &input.creators {
        providers.push(provider(p, "producer"));
    }
    for p in &input.publishers {
        providers.push(provider(p, "host"));
    }

    let bbox = footprint(c).map_or(WORLD, |b| [b.west, b.south, b.east, b.north]);
    let interval = json!([[c.start.map(time), c.end.map(time)]]);

    let mut links = vec![
        link("self", &self_url, JSON),
        link("root", &urls.stac, JSON),
        link("parent", &urls.stac, JSON),
        link("items", &format!("{self_url}/items"), GEOJSON),
        titled_link(
            "describedby",
            &format!("{}/collections/{}?f=iso", urls.api, encode_query(id)),
            "application/vnd.iso.19139+xml",
            "ISO 19139 series record",
        ),
        titled_link(
            "alternate",
            &format!(
                "{}/csw?service=CSW&version=2.0.2&request=GetRecordById&outputSchema=http%3A%2F%2Fwww.isotc211.org%2F2005%2Fgmd&id={}",
                urls.api,
                encode_query(id)
            ),
            "application/xml",
            "CSW record",
        ),
        titled_link(
            "related",
            &format!("{}/collections/{}/timeline", urls.api, encode_query(id)),
            "text/html",
            "Granule timeline",
        ),
    ];
    let rights = rights_links(&c.info.metadata);
    for (href, title) in &rights {
        links.push(titled_link(
            "license",
            href,
            "text/html",
            title.as_deref().unwrap_or("Rights"),
        ));
    }
    for l in input
        .links
        .iter()
        .filter(|l| !rights.iter().any(|(r, _)| *r == l.url))
    {
        links.push(titled_link(
            "about",
            &l.url,
            "text/html",
            l.title.as_deref().unwrap_or("Documentation"),
        ));
    }

    let mut item_assets = Map::new();
    for (key, s) in crate::item_asset_keys(&c.info.services) {
        let kind = crate::asset_kind(&s.service_type, "");
        let mut a = Map::new();
        a.insert("title".into(), Value::String(s.name.clone()));
        // A file's media type depends on its name: only the others are the same for all items.
        if let Some(t) = kind.media_type.filter(|_| !kind.is_file) {
            a.insert("type".into(), Value::String(t.into()));
        }
        a.insert("roles".into(), json!(kind.roles));
        item_assets.insert(key, Value::Object(a));
    }

    let mut assets = Map::new();
    let mut n = 0usize;
    for v in views {
        let kind = v.view.kind.as_str();
        let title = format!("{} ({})", v.view.name, v.view.kind.description());
        let mut entries: Vec<(String, &str, &[&str])> = v
            .view
            .access
            .iter()
            .map(|a| {
                let k = crate::asset_kind(&a.service_type, a.url.as_str());
                (
                    a.url.clone(),
                    k.media_type.unwrap_or("application/octet-stream"),
                    k.roles,
                )
            })
            .collect();
        if entries.is_empty()
            && let Some(cat) = &v.view.catalog_ref
        {
            entries.push((cat.clone(), "application/xml", &["metadata", "catalog"]));
        }
        for (href, media_type, roles) in entries {
            n += 1;
            let mut a = Map::new();
            a.insert("href".into(), Value::String(href));
            a.insert("type".into(), Value::String(media_type.into()));
            a.insert("title".into(), Value::String(title.clone()));
            let mut r: Vec<&str> = vec!["virtual", kind];
            r.extend_from_slice(roles);
            a.insert("roles".into(), json!(r));
            assets.insert(format!("view-{n}-{kind}"), Value::Object(a));
        }
    }

    let mut summaries = Map::new();
    let variables: Vec<&str> = input.variables.iter().map(|v| v.name.as_str()).collect();
    if !variables.is_empty() {
        summaries.insert("variables".into(), json!(variables));
    }
    if let Some(t) = &input.data_type {
        summaries.insert("thredds:data_type".into(), json!([t]));
    }
    if let Some(f) = &input.data_format {
        summaries.insert("thredds:data_format".into(), json!([f]));
    }

    let description = input
        .abstract_text
        .clone()
        .filter(|d| !d.trim().is_empty())
        .unwrap_or_else(|| input.title.clone());

    let mut out = Map::new();
    out.insert("type".into(), json!("Collection"));
    out.insert("stac_version".into(), json!(STAC_VERSION));
    out.insert("stac_extensions".into(), json!([ITEM_ASSETS_EXTENSION]));
    out.insert("id".into(), Value::String(id.clone()));
    out.insert("title".into(), Value::String(input.title.clone()));
    out.insert("description".into(), Value::String(description));
    if !keywords.is_empty() {
        out.insert("keywords".into(), json!(keywords));
    }
    out.insert("license".into(), json!("other"));
    if !providers.is_empty() {
        out.insert("providers".into(), Value::Array(providers));
    }
    out.insert(
        "extent".into(),
        json!({"spatial": {"bbox": [bbox]}, "temporal": {"interval": interval}}),
    );
    if !summaries.is_empty() {
        out.insert("summaries".into(), Value::Object(summaries));
    }
    out.insert("item_assets".into(), Value::Object(item_assets));
    if !assets.is_empty() {
        out.insert("assets".into(), Value::Object(assets));
    }
    out.insert("links".into(), Value::Array(links));
    Value::Object(out)
}

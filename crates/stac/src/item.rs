//! A granule as a STAC Item.

use serde_json::{Map, Value, json};
use threddex_store::{AccessService, BBox, Collection, Granule};

use crate::{FILE_EXTENSION, GEOJSON, JSON, STAC_VERSION, collection_url, link, segment, time};

/// What an item needs besides its granule: where it links to and what its collection says.
#[derive(Clone, Copy, Debug)]
pub struct ItemContext<'a> {
    /// The STAC root URL (`https://example.org/threddex/stac`, no trailing slash).
    pub root: &'a str,
    /// The collection's ID.
    pub collection_id: &'a str,
    /// The collection's access services (a granule's access URL through one of them is
    /// [`AccessService::url_for`] of its urlPath); `Compound` services and services without
    /// a base are left out of the assets.
    pub services: &'a [AccessService],
    /// The granule's effective geospatial coverage (its collection's; see [`footprint`]);
    /// None: unknown, the item has `geometry: null`.
    pub footprint: Option<BBox>,
}

impl<'a> ItemContext<'a> {
    /// The context of the items of `collection` under the STAC root `root`.
    pub fn of(root: &'a str, collection: &'a Collection) -> Self {
        Self {
            root,
            collection_id: &collection.info.id,
            services: &collection.info.services,
            footprint: footprint(collection),
        }
    }
}

/// The effective geospatial coverage of a collection's granules:
/// [`Collection::footprint`], the collection's box when it is valid, else None.
pub fn footprint(collection: &Collection) -> Option<BBox> {
    collection.footprint()
}

/// The GeoJSON geometry of a box: a `Point` when it has no extent, a `Polygon`
/// (counter-clockwise), or a `MultiPolygon` of its two halves when it crosses the antimeridian.
pub fn geometry(b: &BBox) -> Value {
    let ring = |w: f64, e: f64| {
        json!([[
            [w, b.south],
            [e, b.south],
            [e, b.north],
            [w, b.north],
            [w, b.south]
        ]])
    };
    if b.west == b.east && b.south == b.north {
        json!({"type": "Point", "coordinates": [b.west, b.south]})
    } else if b.crosses_antimeridian() {
        json!({"type": "MultiPolygon", "coordinates": [ring(b.west, 180.0), ring(-180.0, b.east)]})
    } else {
        json!({"type": "Polygon", "coordinates": ring(b.west, b.east)})
    }
}

/// The URL of an item.
pub fn item_url(root: &str, collection_id: &str, item_id: &str) -> String {
    format!(
        "{}/items/{}",
        collection_url(root, collection_id),
        segment(item_id)
    )
}

/// A granule as a STAC Item (see the crate documentation for what it holds). The item's ID is
/// the granule's ID; its `title` the granule's name.
pub fn item(granule: &Granule, ctx: &ItemContext<'_>) -> Value {
    let mut props = Map::new();
    props.insert(
        "datetime".into(),
        granule
            .start
            .map_or(Value::Null, |t| Value::String(time(t))),
    );
    if let (Some(start), Some(end)) = (granule.start, granule.end) {
        props.insert("start_datetime".into(), Value::String(time(start)));
        props.insert("end_datetime".into(), Value::String(time(end)));
    }
    props.insert("title".into(), Value::String(granule.name.clone()));

    let mut assets = Map::new();
    let mut uses_file = false;
    if let Some(path) = granule.url_path.as_deref() {
        for (key, service) in crate::item_asset_keys(ctx.services) {
            let kind = crate::asset_kind(&service.service_type, path);
            let mut asset = Map::new();
            asset.insert("href".into(), Value::String(service.url_for(path)));
            if let Some(t) = kind.media_type {
                asset.insert("type".into(), Value::String(t.into()));
            }
            asset.insert("title".into(), Value::String(service.name.clone()));
            asset.insert("roles".into(), json!(kind.roles));
            if kind.is_file
                && let Some(size) = granule.size.filter(|s| *s >= 0)
            {
                asset.insert("file:size".into(), json!(size));
                uses_file = true;
            }
            assets.insert(key, Value::Object(asset));
        }
    }

    let collection = collection_url(ctx.root, ctx.collection_id);
    let links = vec![
        link(
            "self",
            &item_url(ctx.root, ctx.collection_id, &granule.granule_id),
            GEOJSON,
        ),
        link("collection", &collection, JSON),
        link("parent", &collection, JSON),
        link("root", ctx.root, JSON),
    ];

    let mut out = Map::new();
    out.insert("type".into(), json!("Feature"));
    out.insert("stac_version".into(), json!(STAC_VERSION));
    out.insert(
        "stac_extensions".into(),
        if uses_file {
            json!([FILE_EXTENSION])
        } else {
            json!([])
        },
    );
    out.insert("id".into(), Value::String(granule.granule_id.clone()));
    out.insert("collection".into(), Value::String(ctx.collection_id.into()));
    match &ctx.footprint {
        Some(b) => {
            out.insert("geometry".into(), geometry(b));
            out.insert("bbox".into(), json!([b.west, b.south, b.east, b.north]));
        }
        None => {
            out.insert("geometry".into(), Value::Null);
        }
    }
    out.insert("properties".into(), Value::Object(props));
    out.insert("links".into(), Value::Array(links));
    out.insert("assets".into(), Value::Object(assets));
    Value::Object(out)
}

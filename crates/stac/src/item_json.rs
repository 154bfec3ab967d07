//! Items written straight into a byte buffer: the bytes `serde_json::to_vec(&item(..))` writes
//! for [`crate::item`], without building its `Value` tree (the hot path of item searches).
//!
//! What is the same for every item of a collection (its ID, links, footprint, the access
//! services' bases, titles and roles) is rendered once into an [`ItemTemplate`]; an item is
//! then the template's fragments with the granule's ID, name, times, size and escaped
//! `urlPath` between them. Keys come in the order `serde_json`'s map writes them (sorted),
//! so the output is byte for byte that of [`crate::item`]; the tests check it over generated
//! granules and collections.

use threddex_json::{push_escaped, push_i64, push_null, push_quoted, push_time};
use threddex_store::Granule;

use crate::assets::file_media_type;
use crate::{FILE_EXTENSION, GEOJSON, ItemContext, JSON, STAC_VERSION, collection_url, geometry};

/// One asset of the items of a collection, pre-rendered.
#[derive(Clone, Debug)]
struct AssetTemplate {
    /// `"key":{`.
    open: Vec<u8>,
    /// Whether the access URL is the file itself (`file:size`, media type from the name).
    is_file: bool,
    /// `"href":"<escaped base>`.
    href: Vec<u8>,
    /// `<escaped suffix>","roles":[…],"title":"…"`, then the media type and `}` for a
    /// service that is not the file (a file's media type comes from its `urlPath`).
    tail: Vec<u8>,
}

/// What every item of one collection shares, rendered once (see the module documentation).
#[derive(Clone, Debug)]
pub struct ItemTemplate {
    /// The assets, in key order.
    assets: Vec<AssetTemplate>,
    /// `}` closing the assets, `bbox`, `collection`, `geometry`, then `,"id":`.
    middle: Vec<u8>,
    /// `,"links":[{"href":"<escaped collection URL>/items/`.
    self_head: Vec<u8>,
    /// The rest of the links, then `,"properties":{"datetime":`.
    links_tail: Vec<u8>,
}

/// `{"href":…,"rel":…,"type":…}` as [`crate::link`] serializes.
fn push_link(out: &mut Vec<u8>, rel: &str, href: &str, media_type: &str) {
    out.extend_from_slice(b"{\"href\":");
    push_quoted(out, href);
    out.extend_from_slice(b",\"rel\":");
    push_quoted(out, rel);
    out.extend_from_slice(b",\"type\":");
    push_quoted(out, media_type);
    out.push(b'}');
}

/// A JSON value through `serde_json` (used once per template, for the footprint's numbers).
fn push_value(out: &mut Vec<u8>, v: &serde_json::Value) {
    // Writing a `Value` into a `Vec` cannot fail: its keys are strings and the writer is
    // infallible.
    if serde_json::to_writer(&mut *out, v).is_err() {
        push_null(out);
    }
}

/// `id` percent-encoded as one path segment, exactly as [`crate::segment`] does it.
fn push_segment(out: &mut Vec<u8>, id: &str) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in id.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b);
        } else {
            out.extend_from_slice(&[b'%', HEX[usize::from(b >> 4)], HEX[usize::from(b & 0xf)]]);
        }
    }
}

impl ItemTemplate {
    /// The template of the items under `ctx`.
    pub fn new(ctx: &ItemContext<'_>) -> Self {
        let mut keyed = crate::item_asset_keys(ctx.services);
        keyed.sort_by(|a, b| a.0.cmp(&b.0));
        let assets = keyed
            .into_iter()
            .map(|(key, service)| {
                let kind = crate::asset_kind(&service.service_type, "");
                let mut open = Vec::with_capacity(key.len() + 4);
                push_quoted(&mut open, &key);
                open.extend_from_slice(b":{");
                let mut href = Vec::with_capacity(service.base.len() + 8);
                href.extend_from_slice(b"\"href\":\"");
                push_escaped(&mut href, &service.base);
                let mut tail = Vec::with_capacity(service.suffix.len() + service.name.len() + 64);
                push_escaped(&mut tail, &service.suffix);
                tail.extend_from_slice(b"\",\"roles\":[");
                for (i, role) in kind.roles.iter().enumerate() {
                    if i > 0 {
                        tail.push(b',');
                    }
                    push_quoted(&mut tail, role);
                }
                tail.extend_from_slice(b"],\"title\":");
                push_quoted(&mut tail, &service.name);
                if !kind.is_file {
                    if let Some(t) = kind.media_type {
                        tail.extend_from_slice(b",\"type\":");
                        push_quoted(&mut tail, t);
                    }
                    tail.push(b'}');
                }
                AssetTemplate {
                    open,
                    is_file: kind.is_file,
                    href,
                    tail,
                }
            })
            .collect();

        let collection = collection_url(ctx.root, ctx.collection_id);
        let mut middle = Vec::with_capacity(256 + ctx.collection_id.len());
        middle.push(b'}');
        if let Some(b) = &ctx.footprint {
            middle.extend_from_slice(b",\"bbox\":");
            push_value(
                &mut middle,
                &serde_json::json!([b.west, b.south, b.east, b.north]),
            );
        }
        middle.extend_from_slice(b",\"collection\":");
        push_quoted(&mut middle, ctx.collection_id);
        middle.extend_from_slice(b",\"geometry\":");
        match &ctx.footprint {
            Some(b) => push_value(&mut middle, &geometry(b)),
            None => push_null(&mut middle),
        }
        middle.extend_from_slice(b",\"id\":");

        let mut self_head = Vec::with_capacity(collection.len() + 24);
        self_head.extend_from_slice(b",\"links\":[{\"href\":\"");
        push_escaped(&mut self_head, &collection);
        self_head.extend_from_slice(b"/items/");

        let mut links_tail = Vec::with_capacity(2 * collection.len() + ctx.root.len() + 200);
        links_tail.extend_from_slice(b"\",\"rel\":\"self\",\"type\":");
        push_quoted(&mut links_tail, GEOJSON);
        links_tail.extend_from_slice(b"},");
        push_link(&mut links_tail, "collection", &collection, JSON);
        links_tail.push(b',');
        push_link(&mut links_tail, "parent", &collection, JSON);
        links_tail.push(b',');
        push_link(&mut links_tail, "root", ctx.root, JSON);
        links_tail.extend_from_slice(b"],\"properties\":{\"datetime\":");

        Self {
            assets,
            middle,
            self_head,
            links_tail,
        }
    }

    /// A rough upper estimate of one item's size, to size buffers.
    pub fn estimate(&self, granule: &Granule) -> usize {
        let path = granule.url_path.as_deref().map_or(0, str::len);
        let assets: usize = self
            .assets
            .iter()
            .map(|a| a.open.len() + a.href.len() + a.tail.len() + path + 80)
            .sum();
        assets
            + self.middle.len()
            + self.self_head.len()
            + self.links_tail.len()
            + 4 * granule.granule_id.len()
            + granule.name.len()
            + 200
    }

    /// `granule` as a STAC Item ([`crate::item`] of it under this template's context),
    /// appended to `out`.
    pub fn write(&self, out: &mut Vec<u8>, granule: &Granule) {
        out.extend_from_slice(b"{\"assets\":{");
        let mut uses_file = false;
        if let Some(path) = granule.url_path.as_deref() {
            for (i, a) in self.assets.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                out.extend_from_slice(&a.open);
                if a.is_file
                    && let Some(size) = granule.size.filter(|s| *s >= 0)
                {
                    out.extend_from_slice(b"\"file:size\":");
                    push_i64(out, size);
                    out.push(b',');
                    uses_file = true;
                }
                out.extend_from_slice(&a.href);
                push_escaped(out, path);
                out.extend_from_slice(&a.tail);
                if a.is_file {
                    out.extend_from_slice(b",\"type\":");
                    push_quoted(out, file_media_type(path));
                    out.push(b'}');
                }
            }
        }
        out.extend_from_slice(&self.middle);
        push_quoted(out, &granule.granule_id);
        out.extend_from_slice(&self.self_head);
        push_segment(out, &granule.granule_id);
        out.extend_from_slice(&self.links_tail);
        match granule.start {
            Some(t) => push_time(out, t),
            None => push_null(out),
        }
        if let (Some(start), Some(end)) = (granule.start, granule.end) {
            out.extend_from_slice(b",\"end_datetime\":");
            push_time(out, end);
            out.extend_from_slice(b",\"start_datetime\":");
            push_time(out, start);
        }
        out.extend_from_slice(b",\"title\":");
        push_quoted(out, &granule.name);
        out.extend_from_slice(b"},\"stac_extensions\":[");
        if uses_file {
            push_quoted(out, FILE_EXTENSION);
        }
        out.extend_from_slice(b"],\"stac_version\":");
        push_quoted(out, STAC_VERSION);
        out.extend_from_slice(b",\"type\":\"Feature\"}");
    }
}

/// `granule` as a STAC Item under `ctx`, appended to `out`: the bytes
/// `serde_json::to_vec(&item(granule, ctx))` gives. For many items of one collection, build
/// one [`ItemTemplate`] and call [`ItemTemplate::write`] for each.
pub fn write_item(out: &mut Vec<u8>, granule: &Granule, ctx: &ItemContext<'_>) {
    ItemTemplate::new(ctx).write(out, granule);
}

#[cfg(test)]
#[path = "item_json_tests.rs"]
mod tests;

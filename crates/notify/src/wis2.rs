//! Change-log entries as WMO WIS2 notification messages (WNM 1.0: a GeoJSON Feature with
//! `links`) and the MQTT topic of a collection.
//!
//! ```json
//! {"type": "Feature", "conformsTo": ["http://wis.wmo.int/spec/wnm/1/conf/core"],
//!  "id": "6f1e0a52-9c3d-8d10-8000-00000000002a",
//!  "geometry": {"type": "Polygon", "coordinates": [[[-100, 30], …]]},
//!  "properties": {"data_id": "ID/42", "pubtime": "2026-12-07T09:00:00Z",
//!                 "start_datetime": "…", "end_datetime": "…",
//!                 "threddex:change": {"seq": 42, "kind": "granules.added", "count": 3,
//!                                     "collection": "ID", "granule_ids": ["…"]}},
//!  "links": [{"rel": "canonical", "href": "…/index?collection=ID&start=…&end=…", "type": "application/json"},
//!            {"rel": "collection", "href": "…/collections/ID", "type": "application/json"}]}
//! ```
//!
//! The `id` is a UUID (version 8) made of a hash of the base URL and the entry's position, so
//! a message sent again (after a reconnection) has the same `id`.

use chrono::SecondsFormat;
use serde_json::{Value, json};
use threddex_store::{BBox, Change, ChangeKind, Timestamp};

use crate::event::{collection_url, index_url};

/// The WNM core conformance class.
pub const WNM_CONFORMANCE: &str = "http://wis.wmo.int/spec/wnm/1/conf/core";

fn rfc3339(t: Timestamp) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// Bytes of a collection ID kept as they are in a topic level; every other byte is written
/// `%XX` (upper-case hex).
fn topic_safe(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b':')
}

/// The topic of a collection: `{prefix}/{encoded ID}`. The ID's `/` stay level separators
/// (so `prefix/edu.ucar.unidata:NWS/NEXRAD3/#` subscribes to a tree), except one that would
/// make an empty level (leading, trailing or doubled), which is written `%2F`; every byte
/// outside `A-Z a-z 0-9 - . _ ~ :` — among them the wildcards `+` `#`, `$`, `%`, spaces,
/// control and non-ASCII bytes — is written `%XX`. The encoding is one-to-one, and an
/// encoded ID never contains a wildcard or starts a level with `$`.
pub fn topic(prefix: &str, collection_id: &str) -> String {
    let bytes = collection_id.as_bytes();
    let mut out = String::with_capacity(prefix.len() + 1 + bytes.len());
    out.push_str(prefix.trim_end_matches('/'));
    if !out.is_empty() {
        out.push('/');
    }
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'/' {
            let empty_before = i == 0 || bytes[i - 1] == b'/';
            let empty_after = i + 1 == bytes.len() || bytes[i + 1] == b'/';
            if !empty_before && !empty_after {
                out.push('/');
                continue;
            }
        } else if topic_safe(b) {
            out.push(char::from(b));
            continue;
        }
        out.push_str(&format!("%{b:02X}"));
    }
    out
}

/// FNV-1a, 64 bits: a stable hash of the base URL for message IDs.
fn fnv1a(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The message ID of the entry at `seq` below `base`: a UUID, version 8, variant 10.
pub fn message_id(base: &str, seq: i64) -> String {
    let h = fnv1a(base);
    let seq = seq.max(0) as u64;
    format!(
        "{:08x}-{:04x}-8{:03x}-{:04x}-{:012x}",
        h >> 32,
        (h >> 16) & 0xffff,
        h & 0x0fff,
        0x8000 | ((seq >> 48) & 0x3fff),
        seq & 0xffff_ffff_ffff
    )
}

/// A box as a GeoJSON Polygon (counter-clockwise; a box across the antimeridian keeps its
/// corners, `west > east`).
fn polygon(b: BBox) -> Value {
    json!({
        "type": "Polygon",
        "coordinates": [[
            [b.west, b.south], [b.east, b.south], [b.east, b.north],
            [b.west, b.north], [b.west, b.south]
        ]]
    })
}

/// The WIS2 notification message of a change-log entry. `base`: the API's public URL (no
/// trailing slash); `bbox`: the collection's extent, when known (else `geometry` is null).
///
/// Times: `start_datetime` / `end_datetime` when the granules span time, `datetime` when they
/// are at one instant, and for collection entries (no granule time) `datetime` is when the
/// change was made. Links: `canonical` (granules added: their `/index` query; a collection
/// created or changed: the collection), `deletion` (granules removed: the `/index` query of
/// their former span; a collection removed: its former URL) and `collection`.
pub fn notification(change: &Change, base: &str, bbox: Option<BBox>) -> Value {
    let mut properties = serde_json::Map::new();
    properties.insert(
        "data_id".into(),
        Value::String(format!("{}/{}", change.collection_id, change.seq)),
    );
    properties.insert("pubtime".into(), Value::String(rfc3339(change.at)));
    match (change.start, change.end) {
        (Some(s), Some(e)) if s != e => {
            properties.insert("datetime".into(), Value::Null);
            properties.insert("start_datetime".into(), Value::String(rfc3339(s)));
            properties.insert("end_datetime".into(), Value::String(rfc3339(e)));
        }
        (Some(t), _) | (None, Some(t)) => {
            properties.insert("datetime".into(), Value::String(rfc3339(t)));
        }
        (None, None) => {
            properties.insert("datetime".into(), Value::String(rfc3339(change.at)));
        }
    }
    let mut detail = json!({
        "seq": change.seq,
        "kind": change.kind.as_str(),
        "collection": change.collection_id,
        "count": change.count,
    });
    if let Some(ids) = &change.granule_ids {
        detail["granule_ids"] = json!(ids);
    }
    properties.insert("threddex:change".into(), detail);

    let link =
        |rel: &str, href: String| json!({"rel": rel, "href": href, "type": "application/json"});
    let collection = collection_url(base, &change.collection_id);
    let links = match change.kind {
        ChangeKind::GranulesAdded => vec![
            link("canonical", index_url(base, change)),
            link("collection", collection),
        ],
        ChangeKind::GranulesRemoved => vec![
            link("deletion", index_url(base, change)),
            link("collection", collection),
        ],
        ChangeKind::CollectionCreated | ChangeKind::CollectionUpdated => vec![
            link("canonical", collection.clone()),
            link("collection", collection),
        ],
        ChangeKind::CollectionRemoved => vec![link("deletion", collection)],
    };
    json!({
        "type": "Feature",
        "conformsTo": [WNM_CONFORMANCE],
        "id": message_id(base, change.seq),
        "geometry": bbox.map_or(Value::Null, polygon),
        "properties": properties,
        "links": links,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::DateTime;

    fn decode(topic_level: &str) -> String {
        let mut out = Vec::new();
        let b = topic_level.as_bytes();
        let mut i = 0;
        while i < b.len() {
            if b[i] == b'%' {
                let hex = std::str::from_utf8(&b[i + 1..i + 3]).expect("hex");
                out.push(u8::from_str_radix(hex, 16).expect("hex"));
                i += 3;
            } else {
                out.push(b[i]);
                i += 1;
            }
        }
        String::from_utf8(out).expect("utf-8")
    }

    #[test]
    fn topics_are_safe_and_one_to_one() {
        assert_eq!(
            topic(
                "threddex/",
                "edu.ucar.unidata:NWS/NEXRAD3/PTA/Level3_PTA.nids"
            ),
            "threddex/edu.ucar.unidata:NWS/NEXRAD3/PTA/Level3_PTA.nids"
        );
        assert_eq!(topic("t", "/a//b+c#d/"), "t/%2Fa%2F%2Fb%2Bc%23d%2F");
        assert_eq!(topic("t", "$SYS x%é"), "t/%24SYS%20x%25%C3%A9");
        assert_eq!(topic("", "a"), "a");
        // Many generated IDs: no wildcard, no empty or `$` level, and decoding gives the ID.
        let alphabet = ['a', '/', '+', '#', '$', '%', ' ', ':', '.', 'é', '\0', 'Z'];
        for n in 0..20_000u32 {
            let mut x = n;
            let mut id = String::new();
            for _ in 0..(n % 7 + 1) {
                id.push(alphabet[(x % 12) as usize]);
                x /= 12;
            }
            let t = topic("p", &id);
            assert!(!t.contains(['+', '#', '\0', ' ']), "{id:?} → {t}");
            let levels: Vec<&str> = t.split('/').collect();
            assert!(
                levels.iter().all(|l| !l.is_empty() && !l.starts_with('$')),
                "{t}"
            );
            assert_eq!(decode(&levels[1..].join("/")), id, "{t}");
        }
    }

    #[test]
    fn an_entry_becomes_a_wis2_notification() {
        let t = |s: i64| DateTime::from_timestamp(1_700_000_000 + s, 0).expect("time");
        let change = Change {
            seq: 42,
            at: t(100),
            collection_id: "c:x".into(),
            kind: ChangeKind::GranulesAdded,
            count: 2,
            start: Some(t(0)),
            end: Some(t(60)),
            granule_ids: Some(vec!["g1".into(), "g2".into()]),
        };
        let bbox = BBox {
            west: -10.0,
            south: 40.0,
            east: 5.0,
            north: 50.0,
        };
        let m = notification(&change, "https://x.org", Some(bbox));
        assert_eq!(m["type"], "Feature");
        assert_eq!(m["geometry"]["coordinates"][0][2], json!([5.0, 50.0]));
        let p = &m["properties"];
        assert_eq!(p["data_id"], "c:x/42");
        assert_eq!(p["pubtime"], "2023-11-14T22:15:00Z");
        assert_eq!(p["datetime"], Value::Null);
        assert_eq!(p["start_datetime"], "2023-11-14T22:13:20Z");
        assert_eq!(p["end_datetime"], "2023-11-14T22:14:20Z");
        assert_eq!(p["threddex:change"]["granule_ids"][1], "g2");
        assert_eq!(m["links"][0]["rel"], "canonical");
        assert!(
            m["links"][0]["href"]
                .as_str()
                .is_some_and(|h| h.starts_with("https://x.org/index?collection=c%3Ax&start="))
        );
        assert_eq!(m["links"][1]["href"], "https://x.org/collections/c:x");
        let id = m["id"].as_str().expect("id");
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "8", "version 8");
        assert!(id.ends_with("00000000002a"));
        assert_eq!(message_id("https://x.org", 42), id, "stable");
        assert_ne!(message_id("https://y.org", 42), id);

        let removed = notification(
            &Change {
                kind: ChangeKind::CollectionRemoved,
                start: None,
                end: None,
                granule_ids: None,
                ..change
            },
            "",
            None,
        );
        assert_eq!(removed["geometry"], Value::Null);
        assert_eq!(removed["properties"]["datetime"], "2023-11-14T22:15:00Z");
        assert_eq!(
            removed["links"],
            json!([{"rel": "deletion", "href": "/collections/c:x", "type": "application/json"}])
        );
    }
}

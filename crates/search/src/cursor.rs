//! Opaque keyset cursors.
//!
//! A cursor is URL-safe base64 (no padding) of a small versioned JSON document: for granules
//! `{"v":1,"k":"g","h":<collection hash>,"s":<start in µs or null>,"id":<granule ID>}`, for
//! collections `{"v":1,"k":"c","id":<last collection ID>}`. Anything that does not decode to
//! the expected kind (or belongs to another collection) is an unknown cursor.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::DateTime;
use serde::{Deserialize, Serialize};
use threddex_store::Timestamp;

use crate::MAX_ID_BYTES;

/// Longest accepted cursor, in characters.
pub const MAX_CURSOR_CHARS: usize = 4096;

/// Why a cursor was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CursorError {
    /// Not a cursor of the expected kind (malformed, too long, another version).
    #[error("unknown cursor")]
    Unknown,
    /// A granule cursor of another collection.
    #[error("unknown cursor (it belongs to another collection)")]
    OtherCollection,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct CursorDoc {
    v: u32,
    k: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    h: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    s: Option<i64>,
    /// The collection of an item cursor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    c: Option<String>,
    /// The order of an item cursor (`c`: collection, `d`: datetime, `i`: ID; upper case
    /// descending).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    o: Option<String>,
    id: String,
}

/// 32-bit FNV-1a, to tie a granule cursor to its collection without carrying the whole ID.
fn fnv32(s: &str) -> u32 {
    s.bytes().fold(0x811c_9dc5_u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}

fn encode(doc: &CursorDoc) -> String {
    // Serializing this plain struct cannot fail; an empty cursor would be rejected later.
    let json = serde_json::to_vec(doc).unwrap_or_default();
    URL_SAFE_NO_PAD.encode(json)
}

fn decode(raw: &str, kind: &str) -> Result<CursorDoc, CursorError> {
    if raw.len() > MAX_CURSOR_CHARS {
        return Err(CursorError::Unknown);
    }
    let bytes = URL_SAFE_NO_PAD
        .decode(raw.trim_end_matches('=').as_bytes())
        .map_err(|_| CursorError::Unknown)?;
    let doc: CursorDoc = serde_json::from_slice(&bytes).map_err(|_| CursorError::Unknown)?;
    if doc.v != 1 || doc.k != kind || doc.id.len() > MAX_ID_BYTES {
        return Err(CursorError::Unknown);
    }
    Ok(doc)
}

/// The cursor positioned after a granule.
pub fn encode_granule(collection_id: &str, start: Option<Timestamp>, granule_id: &str) -> String {
    encode(&CursorDoc {
        v: 1,
        k: "g".into(),
        h: Some(fnv32(collection_id)),
        s: start.map(|t| t.timestamp_micros()),
        c: None,
        o: None,
        id: granule_id.to_owned(),
    })
}

/// Decode a granule cursor of `collection_id`: the keyset position (start, granule ID).
pub fn decode_granule(
    raw: &str,
    collection_id: &str,
) -> Result<(Option<Timestamp>, String), CursorError> {
    let doc = decode(raw, "g")?;
    if doc.h != Some(fnv32(collection_id)) {
        return Err(CursorError::OtherCollection);
    }
    let start = match doc.s {
        None => None,
        Some(us) => Some(DateTime::from_timestamp_micros(us).ok_or(CursorError::Unknown)?),
    };
    Ok((start, doc.id))
}

/// The cursor positioned after a collection.
pub fn encode_collection(id: &str) -> String {
    encode(&CursorDoc {
        v: 1,
        k: "c".into(),
        h: None,
        s: None,
        c: None,
        o: None,
        id: id.to_owned(),
    })
}

/// Decode a collection cursor: the last collection ID of the previous page.
pub fn decode_collection(raw: &str) -> Result<String, CursorError> {
    decode(raw, "c").map(|d| d.id)
}

/// The position of an item search page: after the item `(start, collection, id)` in the
/// search's order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ItemPosition {
    /// The order the position belongs to (`'c'`: by collection, `'d'`: by datetime, `'i'`: by
    /// ID; upper case when descending).
    pub order: char,
    /// The granule's start.
    pub start: Option<Timestamp>,
    /// Its collection.
    pub collection: String,
    /// Its granule ID.
    pub id: String,
}

/// The cursor positioned after an item.
pub fn encode_item(p: &ItemPosition) -> String {
    encode(&CursorDoc {
        v: 1,
        k: "i".into(),
        h: None,
        s: p.start.map(|t| t.timestamp_micros()),
        c: Some(p.collection.clone()),
        o: Some(p.order.to_string()),
        id: p.id.clone(),
    })
}

/// Decode an item cursor.
pub fn decode_item(raw: &str) -> Result<ItemPosition, CursorError> {
    let doc = decode(raw, "i")?;
    let start = match doc.s {
        None => None,
        Some(us) => Some(DateTime::from_timestamp_micros(us).ok_or(CursorError::Unknown)?),
    };
    let collection = doc
        .c
        .filter(|c| c.len() <= MAX_ID_BYTES)
        .ok_or(CursorError::Unknown)?;
    let order = match doc.o.as_deref() {
        Some(o @ ("c" | "d" | "i" | "C" | "D" | "I")) => {
            o.chars().next().ok_or(CursorError::Unknown)?
        }
        _ => return Err(CursorError::Unknown),
    };
    Ok(ItemPosition {
        order,
        start,
        collection,
        id: doc.id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    #[test]
    fn errors_say_why() {
        let c = encode_granule("a", None, "x");
        assert_eq!(decode_granule(&c, "b"), Err(CursorError::OtherCollection));
        assert_eq!(decode_granule("zz", "a"), Err(CursorError::Unknown));
        let long = "A".repeat(MAX_CURSOR_CHARS + 1);
        assert_eq!(decode_collection(&long), Err(CursorError::Unknown));
        let far = URL_SAFE_NO_PAD.encode(format!(
            r#"{{"v":1,"k":"g","h":{},"s":{},"id":"x"}}"#,
            fnv32("a"),
            i64::MAX
        ));
        assert_eq!(decode_granule(&far, "a"), Err(CursorError::Unknown));
        let t = Utc.with_ymd_and_hms(2024, 1, 2, 3, 4, 5).unwrap();
        let c = encode_granule("a", Some(t), "g");
        assert_eq!(decode_granule(&c, "a"), Ok((Some(t), "g".to_owned())));
    }
}

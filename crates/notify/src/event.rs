//! Change-log entries as CloudEvents 1.0 in the JSON event format (the format of OGC API -
//! Publish-Subscribe and pycsw), the same for `/changes`, `/changes/stream` and webhooks.
//!
//! ```json
//! {"specversion": "1.0", "id": "42", "type": "org.threddex.granules.added",
//!  "source": "https://example.org/threddex/collections/ID", "subject": "ID",
//!  "time": "2026-12-07T09:00:00Z", "datacontenttype": "application/json",
//!  "data": {"collection": "ID", "kind": "granules.added", "count": 3,
//!           "start": "…", "end": "…", "granule_ids": ["…"],
//!           "links": [{"rel": "items", "href": "…/index?collection=ID&start=…&end=…"}]}}
//! ```
//!
//! The event `id` is the entry's position in the log: the same event always has the same ID
//! (the idempotency key of a receiver) and IDs grow in commit order.

use chrono::SecondsFormat;
use serde::{Deserialize, Serialize};
use threddex_store::{Change, ChangeKind, Timestamp};
use url::form_urlencoded;

/// The CloudEvents `type` prefix.
pub const TYPE_PREFIX: &str = "org.threddex.";

/// A CloudEvent (JSON format, structured mode).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CloudEvent {
    /// Always `1.0`.
    pub specversion: String,
    /// The entry's position, as a string.
    pub id: String,
    /// `org.threddex.` + the kind (`org.threddex.granules.added`, …).
    #[serde(rename = "type")]
    pub event_type: String,
    /// The collection's URL (relative when no base URL is known).
    pub source: String,
    /// The collection ID.
    pub subject: String,
    /// When the change was committed (appended).
    pub time: String,
    /// Always `application/json`.
    pub datacontenttype: String,
    /// The entry.
    pub data: EventData,
}

/// The `data` of an event: the thin entry and a link to its granules.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EventData {
    /// The collection ID.
    pub collection: String,
    /// `collection.created`, `collection.updated`, `collection.removed`, `granules.added`,
    /// `granules.removed`.
    pub kind: String,
    /// Granules concerned (for a removed collection: how many it held).
    pub count: u64,
    /// Earliest start of the granules concerned.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start: Option<String>,
    /// Latest end (or start) of the granules concerned.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end: Option<String>,
    /// Their IDs, when few.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub granule_ids: Option<Vec<String>>,
    /// `items`: the `/index` query of the granules concerned (none for removals);
    /// `collection`: the collection (none once removed).
    pub links: Vec<Link>,
}

/// A link of an event.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Link {
    /// Relation.
    pub rel: String,
    /// Target.
    pub href: String,
    /// Media type.
    #[serde(rename = "type")]
    pub media_type: String,
}

/// `org.threddex.` + the kind.
pub fn event_type(kind: ChangeKind) -> String {
    format!("{TYPE_PREFIX}{}", kind.as_str())
}

fn rfc3339(t: Timestamp) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// The collection's URL below `base` (no trailing slash; empty: relative).
pub fn collection_url(base: &str, id: &str) -> String {
    let path: String = form_urlencoded::byte_serialize(id.as_bytes()).collect();
    // Collection IDs keep their `/` and `:` readable in the path (the route takes `{*id}`).
    let path = path.replace("%2F", "/").replace("%3A", ":");
    format!("{base}/collections/{path}")
}

/// The `/index` query of the granules of `change` (its collection and time span; the end is
/// widened by a microsecond since `/index` windows are half-open).
pub fn index_url(base: &str, change: &Change) -> String {
    let mut q = form_urlencoded::Serializer::new(String::new());
    q.append_pair("collection", &change.collection_id);
    if let Some(s) = change.start {
        q.append_pair("start", &rfc3339(s));
    }
    if let Some(e) = change.end {
        q.append_pair("end", &rfc3339(e + chrono::Duration::microseconds(1)));
    }
    format!("{base}/index?{}", q.finish())
}

/// The CloudEvent of a change-log entry; links are absolute below `base` (no trailing slash;
/// empty: relative).
pub fn cloud_event(change: &Change, base: &str) -> CloudEvent {
    let mut links = Vec::new();
    if change.kind != ChangeKind::CollectionRemoved {
        links.push(Link {
            rel: "collection".into(),
            href: collection_url(base, &change.collection_id),
            media_type: "application/json".into(),
        });
    }
    if change.kind == ChangeKind::GranulesAdded {
        links.push(Link {
            rel: "items".into(),
            href: index_url(base, change),
            media_type: "application/json".into(),
        });
    }
    CloudEvent {
        specversion: "1.0".into(),
        id: change.seq.to_string(),
        event_type: event_type(change.kind),
        source: collection_url(base, &change.collection_id),
        subject: change.collection_id.clone(),
        time: rfc3339(change.at),
        datacontenttype: "application/json".into(),
        data: EventData {
            collection: change.collection_id.clone(),
            kind: change.kind.as_str().into(),
            count: change.count,
            start: change.start.map(rfc3339),
            end: change.end.map(rfc3339),
            granule_ids: change.granule_ids.clone(),
            links,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::DateTime;

    #[test]
    fn an_entry_becomes_a_cloud_event() {
        let t = |s: i64| DateTime::from_timestamp(1_700_000_000 + s, 0).expect("time");
        let change = Change {
            seq: 42,
            at: t(100),
            collection_id: "edu.ucar:NWS/N0Q a".into(),
            kind: ChangeKind::GranulesAdded,
            count: 2,
            start: Some(t(0)),
            end: Some(t(60)),
            granule_ids: Some(vec!["g1".into(), "g2".into()]),
        };
        let e = cloud_event(&change, "https://x.org/api");
        let v = serde_json::to_value(&e).expect("json");
        assert_eq!(v["specversion"], "1.0");
        assert_eq!(v["id"], "42");
        assert_eq!(v["type"], "org.threddex.granules.added");
        assert_eq!(v["subject"], "edu.ucar:NWS/N0Q a");
        assert_eq!(
            v["source"],
            "https://x.org/api/collections/edu.ucar:NWS/N0Q+a"
        );
        assert_eq!(v["time"], "2023-11-14T22:15:00Z");
        assert_eq!(v["data"]["count"], 2);
        assert_eq!(v["data"]["granule_ids"][1], "g2");
        assert_eq!(
            v["data"]["links"][1]["href"],
            "https://x.org/api/index?collection=edu.ucar%3ANWS%2FN0Q+a\
             &start=2023-11-14T22%3A13%3A20Z&end=2023-11-14T22%3A14%3A20.000001Z"
        );
        let back: CloudEvent = serde_json::from_value(v).expect("read back");
        assert_eq!(back, e);
        let removed = cloud_event(
            &Change {
                kind: ChangeKind::CollectionRemoved,
                granule_ids: None,
                ..change
            },
            "",
        );
        assert!(removed.data.links.is_empty());
        assert_eq!(removed.source, "/collections/edu.ucar:NWS/N0Q+a");
    }
}

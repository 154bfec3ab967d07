//! Suite: stored ISO 19139 records and their staleness.

use super::*;
use crate::{Batch, IsoRecordUpdate, Store};

fn record(
    id: &str,
    xml: &str,
    start: Option<Timestamp>,
    end: Option<Timestamp>,
) -> IsoRecordUpdate {
    IsoRecordUpdate {
        collection_id: id.into(),
        xml: xml.into(),
        start,
        end,
        date_stamp: t(7),
        views_version: 0,
    }
}

async fn stale_ids(store: &dyn Store, source: Option<i64>) -> Vec<String> {
    store
        .stale_iso_records(source, 0)
        .await
        .expect("stale records")
        .into_iter()
        .map(|c| c.info.id)
        .collect()
}

/// Records are saved and read back; a collection is stale while its record is missing or
/// states another extent than the collection's current one.
pub async fn test_iso_records(store: &dyn Store) {
    let cat = "http://127.0.0.1/s/catalog.xml";
    let src = setup(store, "s", cat, "c").await;
    store
        .write_batch(&Batch {
            collections: vec![collection("b", src, cat), collection("empty", src, cat)],
            granules: vec![
                granule("c", "g/1.nc", cat, Some(t(100))),
                granule("c", "g/2.nc", cat, Some(t(200))),
                granule("b", "h/1.nc", cat, Some(t(50))),
            ],
            ..Batch::default()
        })
        .await
        .expect("write");
    let ids = ["b".to_owned(), "c".to_owned(), "empty".to_owned()];
    store.refresh_collection_stats(&ids).await.expect("refresh");
    assert_eq!(stale_ids(store, None).await, ["b", "c", "empty"]);
    assert_eq!(stale_ids(store, Some(src)).await, ["b", "c", "empty"]);
    assert!(stale_ids(store, Some(src + 1000)).await.is_empty());
    let limited = store.stale_iso_records(None, 2).await.expect("limited");
    assert_eq!(limited.len(), 2);

    // Save: "c" with its real extent, "empty" with no extent, "b" with a wrong one, and a
    // record for a collection that does not exist (skipped).
    let n = store
        .set_iso_records(&[
            record("c", "<c1/>", Some(t(100)), Some(t(200))),
            record("empty", "<e/>", None, None),
            record("b", "<b/>", Some(t(0)), Some(t(50))),
            record("nope", "<n/>", None, None),
        ])
        .await
        .expect("set");
    assert_eq!(n, 3);
    let c = store.collection("c").await.expect("get").expect("c");
    assert_eq!(c.iso_record.as_deref(), Some("<c1/>"));
    assert_eq!(stale_ids(store, None).await, ["b"]);
    assert!(store.collection("nope").await.expect("get").is_none());

    // Same XML again: nothing moves.
    store
        .set_iso_records(&[record("c", "<c1/>", Some(t(100)), Some(t(200)))])
        .await
        .expect("set same");
    assert_eq!(store.collection("c").await.expect("get"), Some(c.clone()));

    // New granules widen "c": stale again once the stats are refreshed.
    store
        .write_batch(&Batch {
            granules: vec![granule("c", "g/3.nc", cat, Some(t(300)))],
            ..Batch::default()
        })
        .await
        .expect("write more");
    assert_eq!(
        stale_ids(store, None).await,
        ["b"],
        "stats not refreshed yet"
    );
    store.refresh_collection_stats(&ids).await.expect("refresh");
    assert_eq!(stale_ids(store, None).await, ["b", "c"]);
    let stale_c = store
        .stale_iso_records(Some(src), 0)
        .await
        .expect("stale")
        .into_iter()
        .find(|x| x.info.id == "c")
        .expect("c is stale");
    assert_eq!((stale_c.start, stale_c.end), (Some(t(100)), Some(t(300))));
    assert_eq!(stale_c.iso_record.as_deref(), Some("<c1/>"));

    store
        .set_iso_records(&[
            record("c", "<c2/>", stale_c.start, stale_c.end),
            record("b", "<b/>", Some(t(50)), Some(t(50))),
        ])
        .await
        .expect("set new");
    assert!(stale_ids(store, None).await.is_empty());
    let c2 = store.collection("c").await.expect("get").expect("c");
    assert_eq!(c2.iso_record.as_deref(), Some("<c2/>"));
    assert!(c2.updated_at >= c.updated_at);

    // Records and hostile text survive a round trip unchanged.
    let xml = "<r a=\"&amp;\">é ' \" ; -- DROP TABLE x; \u{1F600}</r>";
    store
        .set_iso_records(&[record("b", xml, Some(t(50)), Some(t(50)))])
        .await
        .expect("set hostile");
    assert_eq!(
        store
            .collection("b")
            .await
            .expect("get")
            .expect("b")
            .iso_record
            .as_deref(),
        Some(xml)
    );
    assert_eq!(
        store
            .list_collections(&crate::CollectionQuery::default())
            .await
            .expect("list")
            .iter()
            .filter(|x| x.iso_record.is_some())
            .count(),
        3
    );
}

/// Expiring granules narrows the extent, which makes the record stale; records go away with
/// their source.
pub async fn test_iso_records_expiry_and_removal(store: &dyn Store) {
    let cat = "http://127.0.0.1/s/catalog.xml";
    setup(store, "s", cat, "c").await;
    store
        .write_batch(&Batch {
            granules: vec![
                granule("c", "g/1.nc", cat, Some(t(100))),
                granule("c", "g/2.nc", cat, Some(t(200))),
            ],
            ..Batch::default()
        })
        .await
        .expect("write");
    let ids = ["c".to_owned()];
    store.refresh_collection_stats(&ids).await.expect("refresh");
    store
        .set_iso_records(&[record("c", "<c/>", Some(t(100)), Some(t(200)))])
        .await
        .expect("set");
    assert!(stale_ids(store, None).await.is_empty());
    // The complete listing of the catalog now only has g/2.nc: g/1.nc expired.
    store
        .write_batch(&Batch {
            granules: vec![granule("c", "g/2.nc", cat, Some(t(200)))],
            complete_catalogs: vec![cat.into()],
            ..Batch::default()
        })
        .await
        .expect("expire");
    store.refresh_collection_stats(&ids).await.expect("refresh");
    let stale = store.stale_iso_records(None, 0).await.expect("stale");
    assert_eq!(stale.len(), 1);
    assert_eq!((stale[0].start, stale[0].end), (Some(t(200)), Some(t(200))));
    assert!(store.remove_source("s").await.expect("remove"));
    assert!(stale_ids(store, None).await.is_empty());
    assert_eq!(
        store
            .set_iso_records(&[record("c", "<c/>", None, None)])
            .await
            .expect("set after removal"),
        0
    );
}

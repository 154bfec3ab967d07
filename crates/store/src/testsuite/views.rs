//! Suite: virtual views of catalogs and their links to collections.

use super::*;
use crate::{
    Batch, CatalogViews, IsoRecordUpdate, MAX_VIEWS_PER_CATALOG, Store, StoreError, View,
    ViewAccess, ViewKind,
};

/// A dataset view with one OPeNDAP access URL.
pub fn view(name: &str, kind: ViewKind, path: &str) -> View {
    View {
        name: name.into(),
        kind,
        id: Some(path.into()),
        url_path: Some(path.into()),
        catalog_ref: None,
        access: vec![ViewAccess {
            service: "odap".into(),
            service_type: "OPENDAP".into(),
            url: format!("http://127.0.0.1/thredds/dodsC/{path}"),
        }],
        start: Some(t(0)),
        end: Some(t(3600)),
    }
}

fn views_of(url: &str, views: Vec<View>) -> CatalogViews {
    CatalogViews {
        catalog_url: url.into(),
        views,
    }
}

/// `(catalog, view name)` of a collection's views.
async fn names(store: &dyn Store, collection: &str) -> Vec<(String, String)> {
    store
        .collection_views(collection)
        .await
        .expect("collection views")
        .into_iter()
        .map(|v| (v.catalog_url, v.view.name))
        .collect()
}

/// Whether the ISO record of `gfs` is stale.
async fn stale(store: &dyn Store, src: i64) -> bool {
    store
        .stale_iso_records(Some(src), 0)
        .await
        .expect("stale")
        .into_iter()
        .any(|c| c.info.id == "gfs")
}

async fn version(store: &dyn Store, collection: &str) -> i64 {
    store
        .collection(collection)
        .await
        .expect("get")
        .expect("collection exists")
        .views_version
}

/// A catalog's views are replaced as a whole at each read (an empty list removes them); views
/// of a catalog that is neither stored nor in the batch are refused; views are not granules.
pub async fn test_catalog_views_replaced(store: &dyn Store) {
    let cat = "http://127.0.0.1/v/grib/catalog.xml";
    let src = setup(store, "v", cat, "c").await;
    let best = view("Best", ViewKind::Best, "grib/Best");
    let twod = view("TwoD", ViewKind::TwoD, "grib/TwoD");
    let mut latest = view("latest.xml", ViewKind::Latest, "latest.xml");
    latest.access[0].service_type = "Resolver".into();
    latest.start = None;
    latest.end = None;
    let mut runs = view("Forecast Model Run", ViewKind::ForecastRun, "");
    runs.url_path = None;
    runs.access.clear();
    runs.catalog_ref = Some("http://127.0.0.1/v/grib/runs/catalog.xml".into());
    let all = vec![twod.clone(), best.clone(), latest.clone(), runs.clone()];
    store
        .write_batch(&Batch {
            catalogs: vec![fetched(cat, src, None, 0)],
            catalog_views: vec![views_of(cat, all.clone())],
            ..Batch::default()
        })
        .await
        .expect("write views");
    assert_eq!(store.catalog_views(cat).await.expect("views"), all);
    assert!(
        store
            .catalog_views("http://127.0.0.1/v/other/catalog.xml")
            .await
            .expect("views of an unknown catalog")
            .is_empty()
    );
    assert!(
        all_granules(store, "c").await.is_empty(),
        "views are not granules"
    );

    // Re-read with one view fewer: the missing one goes.
    store
        .write_batch(&Batch {
            catalog_views: vec![views_of(cat, vec![best.clone()])],
            ..Batch::default()
        })
        .await
        .expect("rewrite");
    assert_eq!(
        store.catalog_views(cat).await.expect("views"),
        std::slice::from_ref(&best)
    );
    // The same batch written twice changes nothing.
    for _ in 0..2 {
        store
            .write_batch(&Batch {
                catalog_views: vec![views_of(cat, vec![best.clone(), twod.clone()])],
                ..Batch::default()
            })
            .await
            .expect("idempotent");
    }
    assert_eq!(
        store.catalog_views(cat).await.expect("views"),
        [best.clone(), twod.clone()]
    );
    // No views at the next read: none stored.
    store
        .write_batch(&Batch {
            catalog_views: vec![views_of(cat, Vec::new())],
            ..Batch::default()
        })
        .await
        .expect("clear");
    assert!(store.catalog_views(cat).await.expect("views").is_empty());

    // A bounded number per catalog.
    let many: Vec<View> = (0..MAX_VIEWS_PER_CATALOG + 5)
        .map(|i| view(&format!("v{i}"), ViewKind::Resolver, &format!("r/{i}")))
        .collect();
    store
        .write_batch(&Batch {
            catalog_views: vec![views_of(cat, many.clone())],
            ..Batch::default()
        })
        .await
        .expect("many views");
    assert_eq!(
        store.catalog_views(cat).await.expect("views"),
        many[..MAX_VIEWS_PER_CATALOG]
    );

    // Unknown catalog: refused, and nothing of the batch is written.
    let err = store
        .write_batch(&Batch {
            collections: vec![collection("d", src, cat)],
            catalog_views: vec![views_of(
                "http://127.0.0.1/v/unknown/catalog.xml",
                vec![best],
            )],
            ..Batch::default()
        })
        .await
        .expect_err("views of an unknown catalog");
    assert!(matches!(err, StoreError::Invalid(_)), "{err}");
    assert!(store.collection("d").await.expect("get").is_none());
}

/// A view catalog's views belong to the collections with a granule in it or in a catalog it
/// references directly, and stay right as granules arrive and leave; the collection's
/// `views_version` moves (and its ISO record goes stale) exactly when its views change.
pub async fn test_collection_views_follow_granules(store: &dyn Store) {
    let root = "http://127.0.0.1/g/catalog.xml";
    let src = setup(store, "g", root, "gfs").await;
    let fc = "http://127.0.0.1/g/grib/GFS/catalog.xml";
    let f1 = "http://127.0.0.1/g/grib/GFS/GFS_20240101_0000.grib2/catalog.xml";
    let f2 = "http://127.0.0.1/g/grib/GFS/GFS_20240101_0600.grib2/catalog.xml";
    let other = "http://127.0.0.1/g/nexrad/catalog.xml";
    let deep = "http://127.0.0.1/g/grib/GFS/sub/deeper/catalog.xml";
    let tp = view(
        "Full Collection Dataset",
        ViewKind::FullCollection,
        "grib/GFS/TP",
    );
    let latest = view("Latest", ViewKind::Latest, "latest.xml");

    // The collection catalog first (its files are catalogRefs, not read yet).
    store
        .write_batch(&Batch {
            catalogs: vec![
                fetched(root, src, None, 0),
                fetched(fc, src, Some(root), 1),
                CatalogState::pending(f1, src, Some(fc.into()), 2),
                CatalogState::pending(f2, src, Some(fc.into()), 2),
            ],
            collections: vec![collection("radar", src, other)],
            complete_catalogs: vec![fc.into()],
            catalog_views: vec![views_of(fc, vec![tp.clone(), latest.clone()])],
            ..Batch::default()
        })
        .await
        .expect("collection catalog");
    assert!(names(store, "gfs").await.is_empty());
    let v0 = version(store, "gfs").await;

    // A file catalog arrives: its collection gets the views of the catalog referencing it.
    store
        .write_batch(&Batch {
            catalogs: vec![fetched(f1, src, Some(fc), 2)],
            granules: vec![granule(
                "gfs",
                "grib/GFS/GFS_20240101_0000.grib2",
                f1,
                Some(t(0)),
            )],
            complete_catalogs: vec![f1.into()],
            catalog_views: vec![views_of(f1, Vec::new())],
            ..Batch::default()
        })
        .await
        .expect("first file");
    let want = vec![
        (fc.to_owned(), tp.name.clone()),
        (fc.to_owned(), latest.name.clone()),
    ];
    assert_eq!(names(store, "gfs").await, want);
    let full = store.collection_views("gfs").await.expect("views");
    assert_eq!(full[0].view, tp);
    assert_eq!(full[1].view, latest);
    let v1 = version(store, "gfs").await;
    assert!(v1 > v0, "linking moves the version");

    // ISO record built for v1: current.
    let record = |v: i64| IsoRecordUpdate {
        collection_id: "gfs".into(),
        xml: "<r/>".into(),
        start: None,
        end: None,
        date_stamp: t(0),
        views_version: v,
    };
    store.set_iso_records(&[record(v1)]).await.expect("record");
    assert!(!stale(store, src).await);

    // A second file, the same catalog re-read with the same views, a granule elsewhere:
    // nothing changes for the collection's views.
    store
        .write_batch(&Batch {
            catalogs: vec![
                fetched(f2, src, Some(fc), 2),
                fetched(other, src, Some(root), 1),
            ],
            granules: vec![
                granule(
                    "gfs",
                    "grib/GFS/GFS_20240101_0600.grib2",
                    f2,
                    Some(t(21600)),
                ),
                granule("radar", "nexrad/KFTG_20240101_0000.ar2v", other, Some(t(0))),
            ],
            complete_catalogs: vec![f2.into(), other.into()],
            catalog_views: vec![
                views_of(f2, Vec::new()),
                views_of(other, Vec::new()),
                views_of(fc, vec![tp.clone(), latest.clone()]),
            ],
            ..Batch::default()
        })
        .await
        .expect("second file");
    assert_eq!(names(store, "gfs").await, want);
    assert_eq!(version(store, "gfs").await, v1);
    assert!(!stale(store, src).await);
    assert!(
        names(store, "radar").await.is_empty(),
        "not below the view catalog"
    );

    // The views change (the full collection's coverage grew): the record is stale.
    let mut tp2 = tp.clone();
    tp2.end = Some(t(21600));
    store
        .write_batch(&Batch {
            catalog_views: vec![views_of(fc, vec![tp2.clone(), latest.clone()])],
            ..Batch::default()
        })
        .await
        .expect("views changed");
    let v2 = version(store, "gfs").await;
    assert!(v2 > v1);
    assert!(stale(store, src).await);
    assert_eq!(
        store.collection_views("gfs").await.expect("views")[0].view,
        tp2
    );
    store.set_iso_records(&[record(v2)]).await.expect("record");
    assert!(!stale(store, src).await);

    // Granules two levels down do not count (only catalogs the view catalog references).
    store
        .write_batch(&Batch {
            catalogs: vec![
                fetched(
                    "http://127.0.0.1/g/grib/GFS/sub/catalog.xml",
                    src,
                    Some(fc),
                    2,
                ),
                fetched(
                    deep,
                    src,
                    Some("http://127.0.0.1/g/grib/GFS/sub/catalog.xml"),
                    3,
                ),
            ],
            collections: vec![collection("deep", src, deep)],
            granules: vec![granule("deep", "deep/x_20240101.nc", deep, Some(t(0)))],
            ..Batch::default()
        })
        .await
        .expect("deep");
    assert!(names(store, "deep").await.is_empty());

    // One file vanishes (its listing is empty now): the other still links the views.
    store
        .write_batch(&Batch {
            catalogs: vec![fetched(f1, src, Some(fc), 2)],
            complete_catalogs: vec![f1.into()],
            catalog_views: vec![views_of(f1, Vec::new())],
            ..Batch::default()
        })
        .await
        .expect("file 1 empty");
    assert_eq!(names(store, "gfs").await.len(), 2);
    assert_eq!(version(store, "gfs").await, v2);
    // The last file's catalog is expired with its subtree: the collection has no views left.
    store
        .write_batch(&Batch {
            delete_catalog_trees: vec![f2.into()],
            ..Batch::default()
        })
        .await
        .expect("expire file 2");
    assert!(names(store, "gfs").await.is_empty());
    let v3 = version(store, "gfs").await;
    assert!(v3 > v2);
    assert!(stale(store, src).await);

    // A file arrives again; then the view catalog itself is expired: views go with it.
    store
        .write_batch(&Batch {
            catalogs: vec![fetched(f1, src, Some(fc), 2)],
            granules: vec![granule(
                "gfs",
                "grib/GFS/GFS_20240102_0000.grib2",
                f1,
                Some(t(86400)),
            )],
            complete_catalogs: vec![f1.into()],
            ..Batch::default()
        })
        .await
        .expect("file again");
    assert_eq!(names(store, "gfs").await.len(), 2);
    let v4 = version(store, "gfs").await;
    assert!(v4 > v3);
    store
        .write_batch(&Batch {
            delete_catalog_trees: vec![fc.into()],
            ..Batch::default()
        })
        .await
        .expect("expire the collection catalog");
    assert!(names(store, "gfs").await.is_empty());
    assert!(store.catalog_views(fc).await.expect("views").is_empty());
    assert!(version(store, "gfs").await > v4);
}

/// Views listed next to granules in the same catalog (a `latest.xml` resolver in a plain
/// folder) belong to those granules' collections; a catalog whose views appear after its
/// files were stored links them at once; removing the views unlinks them.
pub async fn test_collection_views_same_catalog_and_late_views(store: &dyn Store) {
    let root = "http://127.0.0.1/l/catalog.xml";
    let src = setup(store, "l", root, "sat").await;
    let day = "http://127.0.0.1/l/sat/20240101/catalog.xml";
    let latest = view("latest.xml", ViewKind::Latest, "latest.xml");
    store
        .write_batch(&Batch {
            catalogs: vec![fetched(day, src, Some(root), 1)],
            granules: vec![
                granule("sat", "sat/20240101/a_0000.nc", day, Some(t(0))),
                granule("sat", "sat/20240101/a_0100.nc", day, Some(t(3600))),
            ],
            complete_catalogs: vec![day.into()],
            catalog_views: vec![views_of(day, vec![latest.clone()])],
            ..Batch::default()
        })
        .await
        .expect("day folder");
    assert_eq!(
        names(store, "sat").await,
        [(day.to_owned(), latest.name.clone())]
    );

    // Files stored first (an older harvest), views appear at a later read of the parent.
    let fc = "http://127.0.0.1/l/model/catalog.xml";
    let file = "http://127.0.0.1/l/model/M_20240101.grib2/catalog.xml";
    store
        .write_batch(&Batch {
            catalogs: vec![
                fetched(fc, src, Some(root), 1),
                fetched(file, src, Some(fc), 2),
            ],
            collections: vec![collection("model", src, file)],
            granules: vec![granule("model", "model/M_20240101.grib2", file, Some(t(0)))],
            complete_catalogs: vec![file.into()],
            ..Batch::default()
        })
        .await
        .expect("files first");
    assert!(names(store, "model").await.is_empty());
    let before = version(store, "model").await;
    let best = view("Best", ViewKind::Best, "model/Best");
    store
        .write_batch(&Batch {
            catalogs: vec![fetched(fc, src, Some(root), 1)],
            catalog_views: vec![views_of(fc, vec![best.clone()])],
            ..Batch::default()
        })
        .await
        .expect("views appear");
    assert_eq!(
        names(store, "model").await,
        [(fc.to_owned(), best.name.clone())]
    );
    assert!(version(store, "model").await > before);
    let linked = version(store, "model").await;

    // The catalog is read again without views: they go.
    store
        .write_batch(&Batch {
            catalogs: vec![fetched(fc, src, Some(root), 1)],
            catalog_views: vec![views_of(fc, Vec::new())],
            ..Batch::default()
        })
        .await
        .expect("views gone");
    assert!(names(store, "model").await.is_empty());
    assert!(version(store, "model").await > linked);
    // The other collection is untouched.
    assert_eq!(names(store, "sat").await.len(), 1);

    // Removing the source removes everything.
    assert!(store.remove_source("l").await.expect("remove"));
    assert!(names(store, "sat").await.is_empty());
    assert!(store.catalog_views(day).await.expect("views").is_empty());
}

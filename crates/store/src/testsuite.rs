//! Generic behaviour tests every backend runs (enabled by the `testsuite` feature), one module
//! per capability trait: `change_log`, `maintenance`, `source_registry`, `crawl_state`, `sync_leases`,
//! `collection_catalog`, `granule_index`, `iso_records`, `crawl_runs`, `subscriptions`.
//!
//! Each `test_*` function takes a fresh, empty, migrated store. A backend instantiates them all
//! with [`store_test_suite!`](crate::store_test_suite):
//!
//! ```ignore
//! threddex_store::store_test_suite!(async { MyStore::connect("…").await.unwrap() });
//! ```
//!
//! Times used here are whole seconds or microseconds: backends keep microsecond precision.

use chrono::DateTime;
use serde_json::json;

mod change_log;
mod collection_catalog;
mod crawl_runs;
mod crawl_state;
mod granule_index;
mod granule_order;
mod iso_records;
mod maintenance;
mod source_registry;
mod subscriptions;
mod sync_leases;

pub use change_log::*;
pub use collection_catalog::*;
pub use crawl_runs::*;
pub use crawl_state::*;
pub use granule_index::*;
pub use granule_order::*;
pub use iso_records::*;
pub use maintenance::*;
pub use source_registry::*;
pub use subscriptions::*;
pub use sync_leases::*;

use crate::{
    AccessService, BBox, Batch, CatalogState, CatalogStatus, CollectionUpsert, Granule,
    GranuleQuery, NewSource, Store, Timestamp,
};

/// What `$make` of [`store_test_suite!`](crate::store_test_suite) may produce: a store, a
/// shared `Arc<dyn Store>`, or a `(store, guard)` pair whose guard (e.g. a temporary
/// directory) lives as long as the test.
pub trait SuiteStore {
    /// The store under test.
    fn as_store(&self) -> &dyn Store;
}

impl<S: Store> SuiteStore for S {
    fn as_store(&self) -> &dyn Store {
        self
    }
}

impl SuiteStore for std::sync::Arc<dyn Store> {
    fn as_store(&self) -> &dyn Store {
        &**self
    }
}

impl<S: Store, G> SuiteStore for (S, G) {
    fn as_store(&self) -> &dyn Store {
        &self.0
    }
}
/// A fixed time: `2024-01-01T00:00:00Z` plus `secs`.
pub fn t(secs: i64) -> Timestamp {
    DateTime::from_timestamp(1_704_067_200 + secs, 0).expect("valid time")
}
/// A source with the given name and URL.
pub fn new_source(name: &str, url: &str) -> NewSource {
    NewSource {
        name: name.into(),
        url: url.into(),
        ..NewSource::default()
    }
}
/// A collection of `source_id` first seen in `catalog_url`.
pub fn collection(id: &str, source_id: i64, catalog_url: &str) -> CollectionUpsert {
    CollectionUpsert {
        id: id.into(),
        source_id,
        title: format!("Title of {id}"),
        template: Some(format!("{id}_{{time}}.nc")),
        catalog_url: catalog_url.into(),
        services: vec![AccessService {
            name: "odap".into(),
            service_type: "OpenDAP".into(),
            base: "http://127.0.0.1/dodsC/".into(),
            suffix: String::new(),
        }],
        metadata: json!({"keywords": ["sst"], "creator": {"name": "Lab"}}),
        summary: Some(format!("Summary of {id}.")),
        keywords: vec!["Keyword One".into(), "variable_x".into()],
        bbox: Some(BBox {
            west: -10.0,
            south: -5.0,
            east: 10.0,
            north: 5.0,
        }),
    }
}
/// A granule `dir/id` of a collection, listed in `catalog_url`, with a start and no end.
pub fn granule(
    collection_id: &str,
    id: &str,
    catalog_url: &str,
    start: Option<Timestamp>,
) -> Granule {
    let name = id.rsplit('/').next().unwrap_or(id).to_owned();
    Granule {
        collection_id: collection_id.into(),
        granule_id: id.into(),
        url_path: Some(format!("data/{name}")),
        name,
        start,
        end: None,
        size: Some(1000),
        modified: Some(t(-3600)),
        catalog_url: catalog_url.into(),
    }
}
/// A catalog that was fetched successfully.
pub fn fetched(url: &str, source_id: i64, parent: Option<&str>, depth: i32) -> CatalogState {
    CatalogState {
        status: CatalogStatus::Ok,
        last_fetch: Some(t(0)),
        ..CatalogState::pending(url, source_id, parent.map(str::to_owned), depth)
    }
}
/// All granules of a collection, unbounded.
pub async fn all_granules(store: &dyn Store, collection_id: &str) -> Vec<Granule> {
    store
        .list_granules(&GranuleQuery {
            collection_id: collection_id.into(),
            start: None,
            end: None,
            after: None,
            limit: 0,
        })
        .await
        .expect("list granules")
}
/// Granule IDs of a collection overlapping `[start, end)`.
pub async fn ids_in(
    store: &dyn Store,
    collection_id: &str,
    start: Option<Timestamp>,
    end: Option<Timestamp>,
) -> Vec<String> {
    store
        .list_granules(&GranuleQuery {
            collection_id: collection_id.into(),
            start,
            end,
            after: None,
            limit: 1000,
        })
        .await
        .expect("list granules")
        .into_iter()
        .map(|g| g.granule_id)
        .collect()
}
/// A source plus one catalog and one collection; returns the source ID.
async fn setup(store: &dyn Store, name: &str, cat: &str, coll: &str) -> i64 {
    let src = store
        .add_source(&new_source(
            name,
            &format!("http://127.0.0.1/{name}/catalog.xml"),
        ))
        .await
        .expect("add source");
    store
        .write_batch(&Batch {
            catalogs: vec![fetched(cat, src.id, None, 0)],
            collections: vec![collection(coll, src.id, cat)],
            ..Batch::default()
        })
        .await
        .expect("setup batch");
    src.id
}
/// One `#[tokio::test]` per behaviour, each on a fresh store from `$make`: an async expression
/// (evaluated once per test) whose output is a migrated, empty store (see [`SuiteStore`]). The instantiating crate needs `tokio` (macros, rt) as a dependency.
#[macro_export]
macro_rules! store_test_suite {
    ($make:expr) => {
        $crate::store_test_suite!(@tests $make;
            test_backend_ping_migrate,
            test_sources,
            test_ensure_source,
            test_update_source,
            test_mark_source_synced,
            test_catalog_state,
            test_pending_state_keeps_read_state,
            test_due_catalogs,
            test_write_idempotent,
            test_granule_round_trip,
            test_granule_overlap,
            test_granule_paging,
            test_granule_paging_descending,
            test_granule_timeline,
            test_granule_template_forms,
            test_complete_catalogs,
            test_complete_listing_whatever_came_before,
            test_delete_catalog_trees,
            test_remove_source_cascades,
            test_collection_description_kept,
            test_refresh_collection_stats,
            test_collection_stats_follow_granules,
            test_changed_collections,
            test_list_collections,
            test_free_text_syntax,
            test_unknown_references,
            test_stats,
            test_search_records_filters,
            test_search_records_paging_and_sort,
            test_search_records_hostile_text,
            test_search_records_anytext_logic,
            test_search_records_keywords,
            test_iso_records,
            test_iso_records_expiry_and_removal,
            test_sync_leases,
            test_sync_lease_contention,
            test_lease_holder_details,
            test_lease_takeover_of_gone_holder,
            test_catalogs_for_collection,
            test_crawl_runs,
            test_crawl_run_errors_bounded,
            test_catalog_views_replaced,
            test_collection_views_follow_granules,
            test_collection_views_same_catalog_and_late_views,
            test_change_log_records_writes,
            test_change_log_atomic_and_thin,
            test_change_log_retention,
            test_subscriptions,
            test_relay_cursors,
        );
    };
    (@tests $make:expr; $($name:ident),* $(,)?) => {
        $(
            #[::tokio::test]
            async fn $name() {
                let made = $make.await;
                let store = $crate::testsuite::SuiteStore::as_store(&made);
                $crate::testsuite::$name(store).await;
            }
        )*
    };
}

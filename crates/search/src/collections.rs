//! Collection search: one page of collections matching text, a bounding box and a window.

use threddex_store::{BBox, CollectionHit, CollectionQuery, Timestamp};

use crate::{SearchCore, SearchError, cursor};

/// A validated collection search.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CollectionRequest {
    /// Free text, if any.
    pub text: Option<String>,
    /// Bounding box, if any.
    pub bbox: Option<BBox>,
    /// Time window start, if any.
    pub start: Option<Timestamp>,
    /// Time window end, if any.
    pub end: Option<Timestamp>,
    /// Keyset position (the last collection ID of the previous page, from its cursor).
    pub after_id: Option<String>,
    /// Only collections changed at or after this time.
    pub updated_since: Option<Timestamp>,
    /// Page size.
    pub limit: u32,
}

impl CollectionRequest {
    /// The store query for one page (one row more than the page, to know whether another
    /// page follows).
    pub fn store_query(&self) -> CollectionQuery {
        CollectionQuery {
            text: self.text.clone(),
            bbox: self.bbox,
            source_id: None,
            start: self.start,
            end: self.end,
            after_id: self.after_id.clone(),
            updated_since: self.updated_since,
            limit: self.limit.saturating_add(1),
        }
    }

    /// Cut the store's answer to the page and compute the cursor of the next page.
    pub fn page(&self, mut rows: Vec<CollectionHit>) -> (Vec<CollectionHit>, Option<String>) {
        let limit = self.limit as usize;
        if rows.len() <= limit {
            return (rows, None);
        }
        rows.truncate(limit);
        let next = rows.last().map(|c| cursor::encode_collection(&c.id));
        (rows, next)
    }
}

/// One page of a collection search, read from the store.
#[derive(Clone, Debug, PartialEq)]
pub struct CollectionPage {
    /// The hits, in the store's order.
    pub collections: Vec<CollectionHit>,
    /// The cursor of the next page (None on the last one).
    pub next: Option<String>,
}

impl SearchCore {
    /// One page of collections matching `request`.
    pub async fn collections(
        &self,
        request: &CollectionRequest,
    ) -> Result<CollectionPage, SearchError> {
        let rows = self
            .store
            .list_collection_hits(&request.store_query())
            .await?;
        let (collections, next) = request.page(rows);
        Ok(CollectionPage { collections, next })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hit(id: &str) -> CollectionHit {
        CollectionHit {
            id: id.into(),
            title: id.into(),
            summary: None,
            bbox: None,
            granule_count: 1,
            start: None,
            end: None,
        }
    }

    #[test]
    fn pages_ask_one_more_and_point_at_the_last_row() {
        let r = CollectionRequest {
            text: Some("sst".into()),
            limit: 2,
            ..CollectionRequest::default()
        };
        let q = r.store_query();
        assert_eq!(
            (q.limit, q.text.as_deref(), q.source_id),
            (3, Some("sst"), None)
        );
        let (rows, next) = r.page(vec![hit("a"), hit("b"), hit("c")]);
        assert_eq!(rows.len(), 2);
        assert_eq!(cursor::decode_collection(&next.unwrap()).unwrap(), "b");
        let (rows, next) = r.page(vec![hit("a")]);
        assert_eq!((rows.len(), next), (1, None));
    }
}

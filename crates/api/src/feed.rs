//! The change feed behind `/changes` and `/changes/stream`: one task per process watches the
//! store's change log and keeps its newest entries in memory, so any number of waiting
//! readers cost one store poll per interval, and readers near the head are served from
//! memory.
//!
//! The watcher polls [`ChangeLog::change_head`] every [`ApiConfig::change_poll`] (another
//! process, e.g. a `threddex sync`, may write the store), reads the new entries once, and
//! wakes the readers waiting for them. Memory is bounded: at most [`RECENT`] entries.

use std::collections::VecDeque;
use std::sync::{Arc, OnceLock, RwLock, Weak};
use std::time::Duration;

use threddex_store::{Change, ChangePage, ChangeQuery, MAX_CHANGE_PAGE, Result, Store};
use tokio::sync::watch;
use tokio::time::Instant;

/// Entries kept in memory for readers near the head.
pub const RECENT: usize = 4096;

/// Shared by every handler of one [`crate::AppState`]. Cheap to clone.
#[derive(Clone)]
pub struct ChangeFeed {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for ChangeFeed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChangeFeed")
            .field("head", &*self.inner.head.borrow())
            .finish_non_exhaustive()
    }
}

struct Inner {
    store: Arc<dyn Store>,
    poll: Duration,
    head: watch::Sender<i64>,
    started: OnceLock<()>,
    recent: RwLock<Recent>,
}

/// The newest entries: every entry with a position in `(after, last]`.
#[derive(Default)]
struct Recent {
    /// Nothing is known yet.
    empty: bool,
    after: i64,
    last: i64,
    entries: VecDeque<Change>,
}

impl ChangeFeed {
    /// A feed over `store`'s change log, polled every `poll` once started.
    pub fn new(store: Arc<dyn Store>, poll: Duration) -> Self {
        let (head, _) = watch::channel(0);
        Self {
            inner: Arc::new(Inner {
                store,
                poll: poll.max(Duration::from_millis(10)),
                head,
                started: OnceLock::new(),
                recent: RwLock::new(Recent {
                    empty: true,
                    ..Recent::default()
                }),
            }),
        }
    }

    /// Start the watcher (once; it ends when the last clone of this feed is dropped). Needs a
    /// Tokio runtime.
    pub fn start(&self) {
        self.inner.started.get_or_init(|| {
            let weak = Arc::downgrade(&self.inner);
            let poll = self.inner.poll;
            tokio::spawn(watch_loop(weak, poll));
        });
    }

    /// The newest position the watcher has seen.
    pub fn head(&self) -> i64 {
        *self.inner.head.borrow()
    }

    /// A page of the log: from memory when `query.after` is within the recent entries, else
    /// from the store.
    pub async fn page(&self, query: &ChangeQuery) -> Result<ChangePage> {
        self.start();
        if let Some(page) = self.page_in_memory(query) {
            return Ok(page);
        }
        self.inner.store.changes(query).await
    }

    fn page_in_memory(&self, query: &ChangeQuery) -> Option<ChangePage> {
        let recent = self.inner.recent.read().ok()?;
        if recent.empty || query.after < recent.after || query.after > recent.last {
            return None;
        }
        let limit = query.page_size() as usize;
        let mut page = ChangePage {
            head: recent.last,
            ..ChangePage::default()
        };
        for c in recent.entries.iter().filter(|c| c.seq > query.after) {
            if page.changes.len() == limit {
                break;
            }
            if query.collections.is_empty() || query.collections.contains(&c.collection_id) {
                page.changes.push(c.clone());
            }
        }
        page.next = if page.changes.len() == limit {
            page.changes.last().map_or(query.after, |c| c.seq)
        } else {
            recent.last
        };
        Some(page)
    }

    /// Wait until the head moves beyond `after`, or until `deadline`. True when it did.
    pub async fn wait_beyond(&self, after: i64, deadline: Instant) -> bool {
        self.start();
        let mut rx = self.inner.head.subscribe();
        loop {
            if *rx.borrow_and_update() > after {
                return true;
            }
            match tokio::time::timeout_at(deadline, rx.changed()).await {
                Ok(Ok(())) => {}
                _ => return *rx.borrow() > after,
            }
        }
    }
}

async fn watch_loop(weak: Weak<Inner>, poll: Duration) {
    let mut tick = tokio::time::interval(poll);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(inner) = weak.upgrade() else { return };
        if let Err(e) = refresh(&inner).await {
            tracing::warn!(error = %threddex_store::ErrorChain(&e), "change feed: cannot read the change log");
        }
    }
}

/// Read what is new since the last look into memory and publish the head.
async fn refresh(inner: &Inner) -> Result<()> {
    let (head, pruned) = inner.store.change_head().await?;
    let (empty, last) = {
        let r = inner.recent.read().map_err(|_| poisoned())?;
        (r.empty, r.last)
    };
    if empty || head < last {
        // First look (or a store that went back): remember from the head on.
        let mut r = inner.recent.write().map_err(|_| poisoned())?;
        *r = Recent {
            empty: false,
            after: head,
            last: head,
            entries: VecDeque::new(),
        };
        drop(r);
        inner.head.send_replace(head);
        return Ok(());
    }
    let mut cursor = last;
    while cursor < head {
        let page = inner
            .store
            .changes(&ChangeQuery {
                after: cursor,
                collections: Vec::new(),
                limit: MAX_CHANGE_PAGE,
            })
            .await?;
        let mut r = inner.recent.write().map_err(|_| poisoned())?;
        if page.expired || cursor < pruned {
            // Fell behind retention: start again from the head.
            *r = Recent {
                empty: false,
                after: page.head,
                last: page.head,
                entries: VecDeque::new(),
            };
            cursor = page.head;
            break;
        }
        r.entries.extend(page.changes);
        while r.entries.len() > RECENT {
            if let Some(old) = r.entries.pop_front() {
                r.after = old.seq;
            }
        }
        r.last = page.next.max(cursor);
        if page.next <= cursor {
            break;
        }
        cursor = page.next;
    }
    inner.head.send_replace(cursor);
    Ok(())
}

fn poisoned() -> threddex_store::StoreError {
    threddex_store::StoreError::Internal("change feed lock poisoned".into())
}

//! [`CrawlSyncStarter`]: the [`SyncStarter`] backed by the crawler's sync engine
//! ([`threddex_crawler::Syncer::spawn_sync`]).

use async_trait::async_trait;
use threddex_crawler::{CrawlError, SpawnedSync, Syncer};
use threddex_store::ErrorChain;

use crate::admin::{SyncStartError, SyncStarted, SyncStarter};

/// A [`SyncStarter`] over a [`Syncer`]: looks the source up by name, takes its lease and
/// runs the sync in a background task on the current runtime. Each started sync takes the
/// lease under its own holder name, so it never overlaps a scheduled sync of the same source
/// (in this process or another): that answers [`SyncStartError::Busy`] naming the lease's
/// holder (host, process, start) and when the lease expires.
#[derive(Clone)]
pub struct CrawlSyncStarter {
    syncer: Syncer,
}

impl CrawlSyncStarter {
    /// An adapter over `syncer` (usually the scheduler's: same crawler, same store).
    pub fn new(syncer: Syncer) -> Self {
        Self { syncer }
    }
}

#[async_trait]
impl SyncStarter for CrawlSyncStarter {
    async fn start_sync(&self, source: &str) -> Result<SyncStarted, SyncStartError> {
        let found = self.syncer.store().source_by_name(source).await?;
        let Some(s) = found else {
            return Err(SyncStartError::UnknownSource(source.to_owned()));
        };
        match self.syncer.spawn_sync(&s).await {
            Ok(SpawnedSync::Started(started)) => Ok(SyncStarted {
                run_id: started.run_id,
            }),
            Ok(SpawnedSync::Busy(info)) => Err(SyncStartError::Busy {
                name: source.to_owned(),
                holder: info.to_string(),
            }),
            Err(CrawlError::Store(e)) => Err(SyncStartError::Store(e)),
            Err(e) => Err(SyncStartError::Failed(ErrorChain(&e).to_string())),
        }
    }
}

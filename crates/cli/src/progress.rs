//! Progress on stderr while a crawl runs: a live bar on a terminal, log lines otherwise.

use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use threddex_crawler::{Progress, ProgressSnapshot};
use tokio::task::JoinHandle;

/// A running progress reporter; call [`Reporter::finish`] when the crawl ends.
pub struct Reporter {
    task: JoinHandle<()>,
    bar: Option<ProgressBar>,
}

/// Set by the global `-q`: no progress on stderr from any command.
static QUIET: AtomicBool = AtomicBool::new(false);

/// Hide every reporter started from now on (`threddex -q …`).
pub fn set_quiet(quiet: bool) {
    QUIET.store(quiet, Ordering::Relaxed);
}

fn line(s: &ProgressSnapshot, elapsed: Duration) -> String {
    let secs = elapsed.as_secs_f64().max(0.001);
    format!(
        "catalogs {} done / {} queued · {} granules · {} collections · {} errors · {:.0} catalogs/s",
        s.catalogs_done,
        s.catalogs_queued,
        s.granules,
        s.collections,
        s.catalogs_failed,
        s.catalogs_done as f64 / secs
    )
}

impl Reporter {
    /// Start reporting `progress` (hidden when `quiet` or under `-q`).
    pub fn start(progress: Arc<Progress>, quiet: bool) -> Self {
        let started = Instant::now();
        if quiet || QUIET.load(Ordering::Relaxed) {
            return Self {
                task: tokio::spawn(async {}),
                bar: None,
            };
        }
        if std::io::stderr().is_terminal() {
            let bar = ProgressBar::new_spinner();
            bar.set_style(
                ProgressStyle::with_template("{spinner} [{elapsed_precise}] {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar.enable_steady_tick(Duration::from_millis(120));
            let b = bar.clone();
            let task = tokio::spawn(async move {
                loop {
                    b.set_message(line(&progress.snapshot(), started.elapsed()));
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            });
            Self {
                task,
                bar: Some(bar),
            }
        } else {
            let task = tokio::spawn(async move {
                let mut tick = tokio::time::interval(Duration::from_secs(5));
                tick.tick().await;
                loop {
                    tick.tick().await;
                    eprintln!(
                        "progress: {}",
                        line(&progress.snapshot(), started.elapsed())
                    );
                }
            });
            Self { task, bar: None }
        }
    }

    /// Stop reporting and clear the bar.
    pub fn finish(self) {
        self.task.abort();
        if let Some(bar) = self.bar {
            bar.finish_and_clear();
        }
    }
}

//! SQLite on a full disk: the index lives on a small tmpfs (16 MiB); a harvest that runs out of space
//! stops with a clear error, the index stays readable while the disk is full, `PRAGMA
//! integrity_check` is `ok` once space returns, and the same harvest then completes.
//!
//! Mounting a tmpfs needs root (CAP_SYS_ADMIN); elsewhere the test is skipped with a note.

use super::common;

use std::io::Write;
use std::path::{Path, PathBuf};

use common::*;
use sqlx::Connection;
use threddex_sim::{NexradSpec, SimConfig, SimServer, TreeSpec};

/// A tmpfs mounted for the test; unmounted when dropped.
struct Tmpfs {
    path: PathBuf,
    _dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size: &str) -> Result<Tmpfs, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let path = dir.path().join("mnt");
        std::fs::create_dir(&path).map_err(|e| e.to_string())?;
        let out = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&path)
            .output()
            .map_err(|e| e.to_string())?;
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).trim().to_owned());
        }
        Ok(Tmpfs { path, _dir: dir })
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg(&self.path)
            .status();
    }
}

/// Fill the file system of `path` with a file until writing fails; returns the file.
fn fill(dir: &Path) -> PathBuf {
    let filler = dir.join("filler");
    let mut f = std::fs::File::create(&filler).expect("filler");
    let chunk = vec![0u8; 16 * 1024];
    while f.write_all(&chunk).is_ok() {}
    let _ = f.flush();
    filler
}

fn nexrad(products: usize, stations: usize, days: usize, files: usize) -> SimConfig {
    SimConfig {
        tree: TreeSpec::Nexrad(NexradSpec {
            products,
            stations,
            days,
            files_per_day: files,
        }),
        ..SimConfig::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_disk_full_is_a_clear_error_and_corrupts_nothing() {
    let fs = match Tmpfs::mount("16m") {
        Ok(fs) => fs,
        Err(e) => {
            eprintln!("skipping the disk-full test: cannot mount a tmpfs ({e}); run as root");
            return;
        }
    };
    let db = format!("sqlite://{}", fs.path.join("t.db").display());
    let work = tempfile::tempdir().expect("tempdir");
    let small = SimServer::start(nexrad(1, 2, 2, 12)).await.expect("sim");
    let big = SimServer::start(nexrad(3, 6, 6, 48)).await.expect("sim");

    let out = run(
        work.path(),
        &["harvest", "--db", &db, &small.root_catalog_url()],
    )
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
    let before = run(work.path(), &["collections", "--db", &db, "--json"]).await;
    assert!(before.status.success(), "{}", stderr(&before));
    let before = stdout(&before);
    assert_eq!(before.lines().count(), 2, "{before}");

    // The service keeps the index open (as in production) while the disk fills up in the
    // middle of the second harvest.
    std::fs::write(
        work.path().join("threddex.toml"),
        format!("[database]\nurl = \"{db}\"\n[sync]\nscheduler = false\n"),
    )
    .expect("config");
    let svc = Service::start(work.path(), &["serve"]).await;
    let (status, listed) = get_json(&format!("{}/collections", svc.base)).await;
    assert_eq!(status, 200, "{listed}");
    let filler = fill(&fs.path);
    let full = run(
        work.path(),
        &["harvest", "--db", &db, &big.root_catalog_url()],
    )
    .await;
    let err = stderr(&full);
    assert!(!full.status.success(), "a harvest on a full disk fails");
    assert!(err.contains("disk holding"), "the error says why: {err}");
    assert!(!err.contains("panicked"), "{err}");

    // Still readable: the first server's collections and granules as they were.
    let (status, during) = get_json(&format!("{}/collections?limit=1000", svc.base)).await;
    assert_eq!(status, 200, "{during}");
    let during = during.to_string();
    let first: Vec<serde_json::Value> = before
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    for c in &first {
        let id = c["id"].as_str().expect("id");
        assert!(during.contains(id), "{id} is gone: {during}");
    }
    let id = first[0]["id"].as_str().expect("id");
    let enc: String = url::form_urlencoded::byte_serialize(id.as_bytes()).collect();
    let (status, page) = get_json(&format!("{}/index?collection={enc}&limit=100", svc.base)).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(
        page["granules"].as_array().map(Vec::len),
        Some(24),
        "{page}"
    );
    // A new process cannot open the database while the disk is full (SQLite must grow its
    // WAL index), and says so.
    let cli = run(work.path(), &["collections", "--db", &db]).await;
    if !cli.status.success() {
        assert!(stderr(&cli).contains("disk holding"), "{}", stderr(&cli));
    }
    let log = svc.stop().await.join("\n");
    assert!(!log.contains("panicked"), "{log}");

    // Space returns: nothing is corrupt, and the harvest completes.
    std::fs::remove_file(&filler).expect("free the disk");
    let mut conn = sqlx::SqliteConnection::connect(&db).await.expect("open");
    let check: String = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_one(&mut conn)
        .await
        .expect("integrity_check");
    assert_eq!(check, "ok");
    conn.close().await.expect("close");
    let again = run(
        work.path(),
        &["harvest", "--db", &db, &big.root_catalog_url()],
    )
    .await;
    assert!(again.status.success(), "{}", stderr(&again));
    let after = run(work.path(), &["collections", "--db", &db, "--json"]).await;
    // Both servers name their stations alike: 3 products × 6 stations in all.
    assert_eq!(stdout(&after).lines().count(), 3 * 6, "{}", stdout(&after));
    small.shutdown().await;
    big.shutdown().await;
}

//! The `threddex-sim` binary prints the root URL first and serves it.
#![allow(clippy::unwrap_used)]

use super::common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

#[tokio::test]
async fn binary_prints_root_url_and_serves() {
    let mut child = Kill(
        Command::new(env!("CARGO_BIN_EXE_threddex-sim"))
            .args([
                "--tree",
                "nexrad",
                "--products",
                "1",
                "--stations",
                "2",
                "--days",
                "1",
                "--files-per-day",
                "4",
                "--fixed-time",
                "2024-01-08T12:00:00Z",
                "--fault",
                "again=status:503@1",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let mut line = String::new();
    BufReader::new(child.0.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line.trim().to_owned();
    assert!(
        url.starts_with("http://127.0.0.1:") && url.ends_with("/thredds/catalog.xml"),
        "{url}"
    );
    let w = common::walk(&reqwest::Client::new(), &url).await;
    // 1 root + top + 1 product + 2 stations + 2 days; 2 stations x 3 files (00,06,12).
    assert_eq!(w.catalogs.len(), 7);
    assert_eq!(w.granule_ids.len(), 6);
    let base = url.trim_end_matches("/thredds/catalog.xml");
    let tlx = format!("{base}/thredds/catalog/nexrad/level3/N0Q/TLX/catalog.xml?again");
    assert_eq!(
        reqwest::get(&tlx).await.unwrap().status(),
        503,
        "--fault applies"
    );
    assert_eq!(
        reqwest::get(&tlx).await.unwrap().status(),
        200,
        "@1: once only"
    );
    drop(child);
}

/// Kills the child even when an assertion fails.
struct Kill(std::process::Child);

impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

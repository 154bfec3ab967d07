//! Serving a directory of real captured catalogs.
#![allow(clippy::unwrap_used)]

use super::common;

use std::path::PathBuf;

use common::{get, parse};
use threddex_sim::*;

fn real_dir() -> Option<PathBuf> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/fixtures/real/siphon/thredds.ucar.edu");
    if p.is_dir() {
        return Some(p);
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("real fixtures missing at {}", p.display());
    }
    eprintln!("note: skipping, real fixtures not found at {}", p.display());
    None
}

#[tokio::test]
async fn serves_real_captures_by_path_and_query() {
    let Some(dir) = real_dir() else { return };
    let s = SimServer::start(SimConfig {
        tree: TreeSpec::Empty,
        dir: Some(dir.clone()),
        ..Default::default()
    })
    .await
    .unwrap();
    let root = get(&s.root_catalog_url()).await.text().await.unwrap();
    assert_eq!(
        root,
        std::fs::read_to_string(dir.join("thredds/catalog.xml")).unwrap()
    );
    let p = parse(&root).unwrap();
    assert!(p.refs.iter().any(|r| r == "idd/forecastModels.xml"));

    let gfs = "/thredds/catalog/grib/NCEP/GFS/Global_0p25deg_ana/catalog.xml";
    let r = get(&format!("{}{gfs}", s.base_url())).await;
    assert_eq!(r.status(), 200);
    assert!(r.headers().contains_key("etag") && r.headers().contains_key("last-modified"));
    let p = parse(&r.text().await.unwrap()).unwrap();
    assert!(p.refs.len() > 10);

    let q = "/thredds/catalog/nexrad/level3/NMD/FTG/20170719/catalog.xml?dataset=NWS/NEXRAD3/NMD/FTG/20170719/Level3_FTG_NMD_20170719_2337.nids";
    let r = get(&format!("{}{q}", s.base_url())).await;
    assert_eq!(r.status(), 200);
    let p = parse(&r.text().await.unwrap()).unwrap();
    assert_eq!(
        p.datasets[0].0,
        "NWS/NEXRAD3/NMD/FTG/20170719/Level3_FTG_NMD_20170719_2337.nids"
    );

    // HTML twin of a file catalog, 404 for unknown and for escapes out of the directory.
    let r = get(&format!(
        "{}/thredds/catalog/grib/NCEP/GFS/Global_0p25deg_ana/catalog.html",
        s.base_url()
    ))
    .await;
    assert_eq!(r.status(), 200);
    for bad in [
        "/thredds/nothing.xml",
        "/thredds/%2e%2e/%2e%2e/PROVENANCE.md",
        "/thredds/catalog/..%2F..%2Fcatalog.xml",
    ] {
        assert_eq!(
            get(&format!("{}{bad}", s.base_url())).await.status(),
            404,
            "{bad}"
        );
    }
    // Raw request (no client-side normalisation) trying to leave the directory.
    assert!(dir.join("../../PROVENANCE.md").is_file());
    let raw = raw_get(s.addr(), "/../../PROVENANCE.md").await;
    assert!(raw.starts_with("HTTP/1.1 404"), "{raw}");
    let raw = raw_get(s.addr(), "/thredds/catalog.xml").await;
    assert!(raw.starts_with("HTTP/1.1 200"), "{raw}");
    s.shutdown().await;
}

async fn raw_get(addr: std::net::SocketAddr, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut c = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    c.write_all(req.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    c.read_to_end(&mut out).await.unwrap();
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test]
async fn dir_and_generated_tree_together() {
    let Some(dir) = real_dir() else { return };
    let s = SimServer::start(SimConfig {
        tree: TreeSpec::Nexrad(NexradSpec::default()),
        dir: Some(dir),
        ..Default::default()
    })
    .await
    .unwrap();
    let generated = format!(
        "{}/thredds/catalog/nexrad/level3/N0Q/catalog.xml",
        s.base_url()
    );
    assert_eq!(get(&generated).await.status(), 200);
    let file = format!("{}/thredds/idd/forecastModels.xml", s.base_url());
    assert_eq!(get(&file).await.status(), 200);
    s.shutdown().await;
}

#[tokio::test]
async fn missing_dir_is_an_error() {
    let r = SimServer::start(SimConfig {
        dir: Some(PathBuf::from("/definitely/not/here")),
        ..Default::default()
    })
    .await;
    assert!(r.is_err());
}

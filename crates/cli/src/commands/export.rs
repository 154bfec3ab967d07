//! `threddex export --format iso --out DIR`: one ISO 19139 series record per collection.
//!
//! The stored record is written (re-indented for reading). A collection without a record yet
//! (e.g. harvested before records existed) gets one synthesised from its catalog metadata, and a
//! record whose time extent is behind the collection's is re-timed; neither is stored back
//! (the next harvest or sync does that) and no server is contacted.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, bail};
use threddex_records::{Extent, SeriesInput};
use threddex_store::{Collection, CollectionQuery, CollectionView};

use crate::cli::ExportArgs;

const PAGE: u32 = 500;
/// Longest file name written (bytes, before `.xml`); longer encoded IDs are cut and get a hash.
const MAX_NAME: usize = 200;

/// The file name of a collection's record: its ID percent-encoded (unique and safe on every
/// file system: only `A-Z a-z 0-9 - . _ ~` and `%XX` remain), plus `.xml`.
pub fn file_name(collection_id: &str) -> String {
    let encoded = threddex_records::encode_query(collection_id);
    if encoded.len() <= MAX_NAME {
        return format!("{encoded}.xml");
    }
    // FNV-1a 64 of the full ID keeps cut names unique.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in collection_id.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    let mut cut = MAX_NAME - 17;
    while !encoded.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}-{h:016x}.xml", encoded.get(..cut).unwrap_or_default())
}

/// The record to export for a collection (see the module docs); `views` are its virtual views
/// (a synthesised record lists them; a stored one already does).
pub fn current_record(
    c: &Collection,
    views: &[CollectionView],
    public_url: &str,
) -> anyhow::Result<String> {
    let extent = Extent::new(c.start, c.end);
    let now = chrono::Utc::now();
    let xml = match &c.iso_record {
        Some(xml) => threddex_records::update_extent(xml, &extent, now)
            .with_context(|| format!("stored record of {} is unreadable", c.info.id))?,
        None => {
            let mut input = SeriesInput::from_collection(&c.info, Some(public_url));
            input.views = views.to_vec();
            threddex_records::synthesize(&input, &extent, now)
        }
    };
    Ok(threddex_records::pretty(&xml)?)
}

pub async fn run(args: ExportArgs, cfg: &crate::config::Config) -> anyhow::Result<ExitCode> {
    if !args.format.eq_ignore_ascii_case("iso") {
        bail!(
            "unsupported export format {:?}: only `iso` (ISO 19139 records) is supported",
            args.format
        );
    }
    let public_url = args
        .public_url
        .as_deref()
        .or(cfg.api.public_url.as_deref())
        .unwrap_or(threddex_crawler::DEFAULT_PUBLIC_URL)
        .trim_end_matches('/');
    let store = cfg.database.open().await?;
    export_iso(&*store, &args.out, public_url).await?;
    Ok(ExitCode::SUCCESS)
}

/// Writes every collection's record into `dir`; returns the number of files written.
pub async fn export_iso(
    store: &dyn threddex_store::Store,
    dir: &Path,
    public_url: &str,
) -> anyhow::Result<u64> {
    tokio::fs::create_dir_all(dir)
        .await
        .with_context(|| format!("cannot create {}", dir.display()))?;
    let mut after: Option<String> = None;
    let mut written = 0u64;
    loop {
        let page = store
            .list_collections(&CollectionQuery {
                after_id: after.clone(),
                limit: PAGE,
                ..CollectionQuery::default()
            })
            .await?;
        for c in &page {
            let views = match c.iso_record {
                Some(_) => Vec::new(),
                None => store.collection_views(&c.info.id).await?,
            };
            let xml = current_record(c, &views, public_url)?;
            let path = dir.join(file_name(&c.info.id));
            tokio::fs::write(&path, xml)
                .await
                .with_context(|| format!("cannot write {}", path.display()))?;
            written += 1;
        }
        match page.last() {
            Some(last) if page.len() == PAGE as usize => after = Some(last.info.id.clone()),
            _ => break,
        }
    }
    eprintln!("wrote {written} ISO records to {}", dir.display());
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn only_iso_is_supported() {
        let dir = tempfile::tempdir().expect("tempdir");
        let args = ExportArgs {
            format: "csv".into(),
            out: dir.path().join("out"),
            db: crate::cli::DbArgs { db: None },
            public_url: None,
        };
        let mut cfg = crate::config::Config::default();
        cfg.database.url = crate::config::DatabaseUrl::new(format!(
            "sqlite://{}",
            dir.path().join("t.db").display()
        ));
        let err = run(args, &cfg).await.expect_err("must fail");
        assert!(
            err.to_string()
                .contains("unsupported export format \"csv\""),
            "{err}"
        );
        assert!(!dir.path().join("out").exists());
    }

    #[test]
    fn file_names_are_safe_and_unique() {
        assert_eq!(
            file_name("edu.ucar.unidata:grib/NCEP/GFS"),
            "edu.ucar.unidata%3Agrib%2FNCEP%2FGFS.xml"
        );
        assert_ne!(file_name("a/b"), file_name("a%2Fb"));
        assert_ne!(file_name("a/b"), file_name("a:b"));
        assert_eq!(file_name(".."), "...xml");
        let long_a = "x/".repeat(200) + "a";
        let long_b = "x/".repeat(200) + "b";
        let (a, b) = (file_name(&long_a), file_name(&long_b));
        assert_ne!(a, b);
        assert!(a.len() <= MAX_NAME + 4);
        for n in [a, b, file_name("é/ü\\*?<>|\"")] {
            assert!(
                n.bytes()
                    .all(|c| c.is_ascii_alphanumeric() || b"-._~%".contains(&c)),
                "{n}"
            );
        }
    }
}

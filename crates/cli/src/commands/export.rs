//! `threddex export --format iso|stac-geoparquet --out DIR`: one file per collection.
//!
//! `iso`: the stored ISO 19139 series record is written (re-indented for reading). A
//! collection without a record yet (e.g. harvested before records existed) gets one
//! synthesised from its catalog metadata, and a record whose time extent is behind the
//! collection's is re-timed; neither is stored back (the next harvest or sync does that) and
//! no server is contacted.
//!
//! `stac-geoparquet`: the collection's STAC Items (the ones `/stac` serves) as a
//! stac-geoparquet file, streamed from the store in bounded memory (see
//! `threddex_stac_geoparquet`).

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, bail};
use threddex_records::{Extent, SeriesInput};
use threddex_store::{Collection, CollectionQuery, CollectionView};

use crate::cli::ExportArgs;

const PAGE: u32 = 500;
/// Longest file name written (bytes, before `.xml`); longer encoded IDs are cut and get a hash.
const MAX_NAME: usize = 200;

/// The file name of a collection's record: [`file_stem`] plus `.xml`.
pub fn file_name(collection_id: &str) -> String {
    format!("{}.xml", file_stem(collection_id))
}

/// A collection's exported file name without extension: its ID percent-encoded (unique and
/// safe on every file system: only `A-Z a-z 0-9 - . _ ~` and `%XX` remain).
pub fn file_stem(collection_id: &str) -> String {
    let encoded = threddex_records::encode_query(collection_id);
    if encoded.len() <= MAX_NAME {
        return encoded;
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
    format!("{}-{h:016x}", encoded.get(..cut).unwrap_or_default())
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

/// The export formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    Iso,
    StacGeoparquet,
}

pub async fn run(args: ExportArgs, cfg: &crate::config::Config) -> anyhow::Result<ExitCode> {
    let format = match args.format.to_ascii_lowercase().as_str() {
        "iso" => Format::Iso,
        "stac-geoparquet" => Format::StacGeoparquet,
        _ => bail!(
            "unsupported export format {:?}: `iso` (ISO 19139 records) or `stac-geoparquet` \
             (STAC Items as GeoParquet)",
            args.format
        ),
    };
    if format == Format::Iso && !args.collections.is_empty() {
        bail!("--collection is for --format stac-geoparquet; `iso` exports every collection");
    }
    let public_url = args
        .public_url
        .as_deref()
        .or(cfg.api.public_url.as_deref())
        .unwrap_or(threddex_crawler::DEFAULT_PUBLIC_URL)
        .trim_end_matches('/');
    let store = cfg.database.open().await?;
    match format {
        Format::Iso => {
            export_iso(&*store, &args.out, public_url).await?;
        }
        Format::StacGeoparquet => {
            let options = threddex_stac_geoparquet::Options::default();
            export_stac_geoparquet(&*store, &args.out, public_url, &args.collections, &options)
                .await?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Writes one stac-geoparquet file per collection into `dir` (every collection, or those of
/// `only`: an unknown ID is an error before anything is written); returns what each file got.
pub async fn export_stac_geoparquet(
    store: &dyn threddex_store::Store,
    dir: &Path,
    public_url: &str,
    only: &[String],
    options: &threddex_stac_geoparquet::Options,
) -> anyhow::Result<Vec<threddex_stac_geoparquet::FileReport>> {
    let started = std::time::Instant::now();
    let mut chosen = Vec::with_capacity(only.len());
    for id in only {
        if chosen.iter().any(|c: &Collection| c.info.id == *id) {
            continue;
        }
        match store.collection(id).await? {
            Some(c) => chosen.push(c),
            None => bail!("unknown collection {id:?}"),
        }
    }
    tokio::fs::create_dir_all(dir)
        .await
        .with_context(|| format!("cannot create {}", dir.display()))?;
    let urls = threddex_stac::Urls::new(public_url);
    let mut reports = Vec::new();
    let mut write = async |c: &Collection| -> anyhow::Result<()> {
        let views = store.collection_views(&c.info.id).await?;
        let json = threddex_stac::collection(c, &views, &urls);
        let path = dir.join(format!("{}.parquet", file_stem(&c.info.id)));
        let report = threddex_stac_geoparquet::export_collection(
            store, &urls.stac, c, &json, &path, options,
        )
        .await?;
        tracing::debug!(collection = %c.info.id, items = report.items, bytes = report.bytes, "exported");
        reports.push(report);
        Ok(())
    };
    if only.is_empty() {
        let mut after: Option<String> = None;
        loop {
            let page = store
                .list_collections(&CollectionQuery {
                    after_id: after.clone(),
                    limit: PAGE,
                    ..CollectionQuery::default()
                })
                .await?;
            for c in &page {
                write(c).await?;
            }
            match page.last() {
                Some(last) if page.len() == PAGE as usize => after = Some(last.info.id.clone()),
                _ => break,
            }
        }
    } else {
        for c in &chosen {
            write(c).await?;
        }
    }
    let items: u64 = reports.iter().map(|r| r.items).sum();
    let bytes: u64 = reports.iter().map(|r| r.bytes).sum();
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "wrote {items} STAC items of {} collections ({:.1} MB) to {} in {secs:.1} s ({:.0} items/s)",
        reports.len(),
        bytes as f64 / 1e6,
        dir.display(),
        items as f64 / secs.max(1e-9)
    );
    Ok(reports)
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
            collections: Vec::new(),
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
                .contains("unsupported export format \"csv\": `iso`"),
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

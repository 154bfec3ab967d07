//! Serving a directory of catalog files: URL path → file path under the directory.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

use crate::xml::{Doc, DocKind};

/// Largest file served from the directory.
const MAX_FILE: u64 = 64 * 1024 * 1024;

pub(crate) struct DirSource {
    root: PathBuf,
}

impl DirSource {
    pub(crate) fn new(p: &Path) -> anyhow::Result<Self> {
        let root = std::fs::canonicalize(p)
            .map_err(|e| anyhow::anyhow!("catalog directory {}: {e}", p.display()))?;
        if !root.is_dir() {
            anyhow::bail!("{} is not a directory", root.display());
        }
        Ok(Self { root })
    }

    /// The relative file path for a URL path and query, or `None` for unsafe paths.
    ///
    /// A query is mapped like the captures in `shared/fixtures/real`: `catalog.xml?dataset=a/b`
    /// becomes `catalog.xml__dataset=a%2Fb.xml`.
    pub(crate) fn relative(path: &str, query: Option<&str>) -> Option<PathBuf> {
        let rel = path.strip_prefix('/')?;
        let mut out = PathBuf::new();
        let segs: Vec<&str> = rel.split('/').collect();
        let n = segs.len();
        for (i, seg) in segs.into_iter().enumerate() {
            if seg.is_empty() || seg == "." || seg == ".." || seg.contains(['\\', '\0']) {
                return None;
            }
            if i + 1 == n
                && let Some(q) = query.filter(|q| !q.is_empty())
            {
                let enc = q
                    .replace('/', "%2F")
                    .replace('&', "%26")
                    .replace(':', "%3A");
                let mut name = format!("{seg}__{enc}");
                if !name.ends_with(".xml") {
                    name.push_str(".xml");
                }
                if name.contains(['/', '\\']) || name.len() > 255 {
                    return None;
                }
                out.push(name);
                continue;
            }
            out.push(seg);
        }
        Some(out)
    }

    pub(crate) async fn resolve(&self, path: &str, query: Option<&str>) -> Option<Doc> {
        let rel = Self::relative(path, query)?;
        let full = tokio::fs::canonicalize(self.root.join(rel)).await.ok()?;
        if !full.starts_with(&self.root) {
            return None;
        }
        let meta = tokio::fs::metadata(&full).await.ok()?;
        if !meta.is_file() || meta.len() > MAX_FILE {
            return None;
        }
        let bytes = tokio::fs::read(&full).await.ok()?;
        let body = match String::from_utf8(bytes) {
            Ok(s) => s,
            Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
        };
        let kind = match full.extension().and_then(|e| e.to_str()) {
            Some("xml") => DocKind::Xml,
            Some("html" | "htm") => DocKind::Html,
            _ => DocKind::Text,
        };
        let last_modified = meta
            .modified()
            .ok()
            .map(DateTime::<Utc>::from)
            .unwrap_or_else(crate::tree::static_epoch);
        Some(Doc {
            body,
            last_modified,
            kind,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_paths_and_queries() {
        assert_eq!(
            DirSource::relative("/thredds/catalog.xml", None),
            Some(PathBuf::from("thredds/catalog.xml"))
        );
        assert_eq!(
            DirSource::relative("/a/catalog.xml", Some("dataset=X/Y/z.nids")),
            Some(PathBuf::from("a/catalog.xml__dataset=X%2FY%2Fz.nids.xml"))
        );
        assert_eq!(DirSource::relative("/a/../b", None), None);
        assert_eq!(DirSource::relative("/a//b", None), None);
        assert_eq!(DirSource::relative("a", None), None);
    }
}

//! The stored form of a granule row (migration `0006_granule_compaction`): what follows
//! exactly from the granule's time and its collection's templates is not stored.
//!
//! - the ID is NULL when [`threddex_ids::renders_back`] holds for the collection's `template`
//!   and the row's own start and end (and the row is at its home hash slot);
//! - the name is NULL when it is the last `/`-segment of the ID;
//! - the urlPath is NULL when it equals the ID ([`URL_PATH_IS_ID`]) or when the collection's
//!   `path_template` renders it exactly ([`URL_PATH_RENDERED`]); otherwise it is stored, as a
//!   prefix when the name completes it ([`FLAG_PATH_PREFIX`]);
//! - `modified` is NULL when it equals the start ([`MODIFIED_IS_START`]).
//!
//! Anything else is stored verbatim: reading back always gives exactly what was written.
//! Only times that survive `timestamptz` unchanged (whole microseconds) are rendered from.

use threddex_store::{Granule, StoreError, Timestamp};

use crate::convert::{FLAG_PATH_PREFIX, compact, expand, last_segment};

/// Flag bit: the urlPath equals the granule ID (`url_path` NULL).
pub(crate) const URL_PATH_IS_ID: i16 = 2;
/// Flag bit: the row is not at its home hash slot (a collision); its ID is always stored.
pub(crate) const PROBED: i16 = 4;
/// Flag bit: the urlPath is rendered from the collection's `path_template` (`url_path` NULL).
pub(crate) const URL_PATH_RENDERED: i16 = 8;
/// Flag bit: `modified` equals the start time (`modified` NULL).
pub(crate) const MODIFIED_IS_START: i16 = 16;

/// The templates of a collection (`collections.template`, `collections.path_template`).
#[derive(Clone, Debug, Default)]
pub(crate) struct Templates {
    pub template: Option<String>,
    pub path_template: Option<String>,
}

/// Whether `t` reads back from `timestamptz` unchanged (whole microseconds, no leap second).
fn exact(t: Timestamp) -> bool {
    let n = t.timestamp_subsec_nanos();
    n < 1_000_000_000 && n.is_multiple_of(1_000)
}

/// `render(template, start, end)`, when both times read back unchanged.
fn render_exact(
    template: Option<&str>,
    start: Option<Timestamp>,
    end: Option<Timestamp>,
) -> Option<(&str, Timestamp)> {
    let (t, s) = (template?, start?);
    (exact(s) && end.is_none_or(exact)).then_some((t, s))
}

/// A granule row's stored columns.
#[derive(Debug, PartialEq)]
pub(crate) struct Stored<'a> {
    pub flags: i16,
    pub granule_id: Option<&'a str>,
    pub name: Option<String>,
    pub url_path: Option<String>,
    pub modified: Option<Timestamp>,
}

/// The stored form of granule `g` whose (NUL-free) ID, name and urlPath are `id`, `name`,
/// `url_path`; `probed`: the row is away from its home hash slot (keeps its ID).
pub(crate) fn encode<'a>(
    t: &Templates,
    id: &'a str,
    name: &str,
    url_path: Option<&str>,
    g: &Granule,
    probed: bool,
) -> Stored<'a> {
    let fits = |template: Option<&str>, raw: &str, check_start: bool| {
        render_exact(template, g.start, g.end).is_some_and(|(tpl, s)| {
            if check_start {
                threddex_ids::renders_back(tpl, raw, s, g.end)
            } else {
                threddex_ids::render(tpl, s, g.end).is_some_and(|r| r == raw)
            }
        })
    };
    let mut flags = 0;
    let granule_id = if !probed && fits(t.template.as_deref(), id, true) {
        None
    } else {
        Some(id)
    };
    if probed {
        flags |= PROBED;
    }
    let short_name = || (name != last_segment(id)).then(|| name.to_owned());
    let (name, url_path) = match url_path {
        Some(p) if p == id => {
            flags |= URL_PATH_IS_ID;
            (short_name(), None)
        }
        Some(p) if fits(t.path_template.as_deref(), p, false) => {
            flags |= URL_PATH_RENDERED;
            (short_name(), None)
        }
        other => {
            let (n, p, f) = compact(id, name, other);
            flags |= f;
            (n, p)
        }
    };
    let modified = match (g.modified, g.start) {
        (Some(m), Some(s)) if m == s && exact(s) => {
            flags |= MODIFIED_IS_START;
            None
        }
        (m, _) => m,
    };
    Stored {
        flags,
        granule_id,
        name,
        url_path,
        modified,
    }
}

fn corrupt(what: &str) -> StoreError {
    StoreError::Backend(format!("corrupt granule row: {what}"))
}

/// The ID of a row: stored, or rendered from the collection's template.
pub(crate) fn row_id(
    t: &Templates,
    stored: Option<String>,
    start: Option<Timestamp>,
    end: Option<Timestamp>,
) -> Result<String, StoreError> {
    match stored {
        Some(id) => Ok(id),
        None => threddex_ids::render(
            t.template
                .as_deref()
                .ok_or_else(|| corrupt("no ID template"))?,
            start.ok_or_else(|| corrupt("no ID and no start"))?,
            end,
        )
        .ok_or_else(|| corrupt("ID not renderable")),
    }
}

/// The inverse of [`encode`]: `(name, url_path, modified)` of a row whose ID is `id` and
/// whose start and end are `times`.
pub(crate) fn decode(
    t: &Templates,
    id: &str,
    (stored_name, stored_path): (Option<String>, Option<String>),
    flags: i16,
    (start, end): (Option<Timestamp>, Option<Timestamp>),
    modified: Option<Timestamp>,
) -> Result<(String, Option<String>, Option<Timestamp>), StoreError> {
    let (name, path) = if flags & URL_PATH_IS_ID != 0 {
        (
            stored_name.unwrap_or_else(|| last_segment(id).to_owned()),
            Some(id.to_owned()),
        )
    } else if flags & URL_PATH_RENDERED != 0 {
        let path = threddex_ids::render(
            t.path_template
                .as_deref()
                .ok_or_else(|| corrupt("no urlPath template"))?,
            start.ok_or_else(|| corrupt("rendered urlPath without a start"))?,
            end,
        )
        .ok_or_else(|| corrupt("urlPath not renderable"))?;
        (
            stored_name.unwrap_or_else(|| last_segment(id).to_owned()),
            Some(path),
        )
    } else {
        expand(id, stored_name, stored_path, flags & FLAG_PATH_PREFIX)
    };
    let modified = if flags & MODIFIED_IS_START != 0 {
        start
    } else {
        modified
    };
    Ok((name, path, modified))
}

/// A urlPath template for a collection, from one of its granules: the template
/// `threddex_ids` derives from the urlPath, when it renders that urlPath back exactly.
pub(crate) fn learn_path_template(g: &Granule, url_path: &str, id: &str) -> Option<String> {
    if url_path == id {
        return None;
    }
    let t = threddex_ids::Deriver::new().derive(url_path, "").template?;
    render_exact(Some(&t), g.start, g.end)
        .and_then(|(tpl, s)| threddex_ids::render(tpl, s, g.end))
        .is_some_and(|r| r == url_path)
        .then_some(t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, TimeDelta};

    fn nexrad() -> (Templates, Granule) {
        let raw = "NWS/NEXRAD3/PTA/YUX/20190830/Level3_YUX_PTA_20190830_1713.nids";
        let d = threddex_ids::Deriver::new().derive(raw, "edu.ucar.unidata");
        let t = Templates {
            template: d.template.clone(),
            path_template: None,
        };
        let g = Granule {
            collection_id: "c".into(),
            granule_id: raw.into(),
            name: "Level3_YUX_PTA_20190830_1713.nids".into(),
            start: d.start,
            end: d.end,
            url_path: Some(format!("files/{raw}")),
            size: Some(5),
            modified: d.start,
            catalog_url: String::new(),
        };
        (t, g)
    }

    fn roundtrip(t: &Templates, g: &Granule, probed: bool) -> Stored<'static> {
        let id: &'static str = Box::leak(g.granule_id.clone().into_boxed_str());
        let s = encode(t, id, &g.name, g.url_path.as_deref(), g, probed);
        let back_id = row_id(t, s.granule_id.map(str::to_owned), g.start, g.end).unwrap();
        let (name, path, modified) = decode(
            t,
            &back_id,
            (s.name.clone(), s.url_path.clone()),
            s.flags,
            (g.start, g.end),
            s.modified,
        )
        .unwrap();
        assert_eq!(back_id, g.granule_id);
        assert_eq!(name, g.name);
        assert_eq!(path, g.url_path);
        assert_eq!(modified, g.modified);
        s
    }

    #[test]
    fn usual_rows_store_no_text() {
        let (mut t, g) = nexrad();
        let s = roundtrip(&t, &g, false);
        assert_eq!(s.granule_id, None);
        assert_eq!(s.name, None);
        assert_eq!(s.modified, None);
        // The urlPath is a prefix until a path template is known.
        assert_eq!(
            s.url_path.as_deref(),
            Some("files/NWS/NEXRAD3/PTA/YUX/20190830/")
        );
        t.path_template = learn_path_template(&g, g.url_path.as_deref().unwrap(), &g.granule_id);
        assert!(t.path_template.is_some());
        let s = roundtrip(&t, &g, false);
        assert_eq!(s.url_path, None);
        assert_eq!(s.flags, URL_PATH_RENDERED | MODIFIED_IS_START);
    }

    #[test]
    fn anything_else_is_stored_verbatim() {
        let (t, g) = nexrad();
        // Probed rows keep their ID.
        assert!(roundtrip(&t, &g, true).granule_id.is_some());
        // A start the ID does not show, a sub-microsecond start, no start.
        for start in [
            g.start.map(|s| s + TimeDelta::seconds(1)),
            g.start.map(|s| s + TimeDelta::nanoseconds(1)),
            None,
        ] {
            let g2 = Granule { start, ..g.clone() };
            assert_eq!(
                roundtrip(&t, &g2, false).granule_id,
                Some(g.granule_id.as_str())
            );
        }
        // Another folder, another name, a urlPath equal to the ID, a modified time.
        let g3 = Granule {
            granule_id: g.granule_id.replace("20190830/", "20190831/"),
            name: "other".into(),
            url_path: Some(g.granule_id.replace("20190830/", "20190831/")),
            modified: Some(DateTime::from_timestamp(5, 0).unwrap()),
            ..g.clone()
        };
        let s = roundtrip(&t, &g3, false);
        assert!(s.granule_id.is_some());
        assert_eq!(s.flags & URL_PATH_IS_ID, URL_PATH_IS_ID);
        assert!(s.modified.is_some());
        // No template at all.
        roundtrip(&Templates::default(), &g, false);
    }
}

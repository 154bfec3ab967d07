//! The stored form of a granule row (migration `0006_granule_compaction`): the shared codec
//! ([`threddex_store::granule_codec`]) on this backend's columns. `granule_id`, `name`,
//! `url_path` and `modified` are NULL where the codec leaves them out; `flags` (`int2`) holds
//! the codec's flags in the bits of [`LAYOUT`] and [`PROBED`].
//!
//! Only times that survive `timestamptz` unchanged (whole microseconds) are rendered from.

use threddex_store::granule_codec::{self as codec, Codec, Fields, FlagLayout};
use threddex_store::{Granule, StoreError, Timestamp};

/// Flag bit: the row is not at its home hash slot (a collision); its ID is always stored.
pub(crate) const PROBED: i16 = 4;

/// The bits of the codec's flags in `granules.flags`.
pub(crate) const LAYOUT: FlagLayout = FlagLayout {
    url_path_ends_with_name: 1,
    url_path_is_id: 2,
    url_path_rendered: 8,
    modified_is_start: 16,
    inverted: 0,
};

/// Whether `t` reads back from `timestamptz` unchanged (whole microseconds, no leap second).
fn exact(t: Timestamp) -> bool {
    let n = t.timestamp_subsec_nanos();
    n < 1_000_000_000 && n.is_multiple_of(1_000)
}

/// The codec with `threddex_ids`' templates, rendering only from exact times.
pub(crate) const CODEC: Codec = Codec {
    render: threddex_ids::render,
    renders_back: threddex_ids::renders_back,
    derive_template: |p| threddex_ids::Deriver::new().derive(p, "").template,
    read_back: |t| exact(t).then_some(t),
};

/// The templates of a collection (`collections.template`, `collections.path_template`).
#[derive(Clone, Debug, Default)]
pub(crate) struct Templates {
    pub template: Option<String>,
    pub path_template: Option<String>,
}

impl Templates {
    fn view(&self) -> codec::Templates<'_> {
        codec::Templates::of(&self.template, &self.path_template)
    }
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
    let t = t.view();
    let render_id = !probed && CODEC.id_renders_back(&t, id, g.start, g.end);
    let e = CODEC.encode(
        &t,
        &Fields {
            id,
            name,
            url_path,
            start: g.start,
            end: g.end,
            modified: g.modified,
        },
        render_id,
    );
    Stored {
        flags: LAYOUT.encode(e.flags) as i16 | if probed { PROBED } else { 0 },
        granule_id: e.id.map(|_| id),
        name: e.name.map(str::to_owned),
        url_path: e.url_path.map(str::to_owned),
        modified: e.modified,
    }
}

/// The ID of a row: stored, or rendered from the collection's template.
pub(crate) fn row_id(
    t: &Templates,
    stored: Option<String>,
    start: Option<Timestamp>,
    end: Option<Timestamp>,
) -> Result<String, StoreError> {
    CODEC.row_id(&t.view(), stored, start, end)
}

/// The inverse of [`encode`]: `(name, url_path, modified)` of a row whose ID is `id` and
/// whose start and end are `times`.
pub(crate) fn decode(
    t: &Templates,
    id: &str,
    (name, url_path): (Option<String>, Option<String>),
    flags: i16,
    (start, end): (Option<Timestamp>, Option<Timestamp>),
    modified: Option<Timestamp>,
) -> Result<(String, Option<String>, Option<Timestamp>), StoreError> {
    CODEC.decode_with_id(
        &t.view(),
        id,
        codec::Stored {
            flags: LAYOUT.decode(i64::from(flags)),
            id: None,
            name,
            url_path,
            start,
            end,
            modified,
        },
    )
}

/// A urlPath template for a collection, from one of its granules (see
/// [`Codec::path_template_from`]).
pub(crate) fn learn_path_template(g: &Granule, url_path: &str, id: &str) -> Option<String> {
    CODEC.path_template_from(id, url_path, g.start, g.end)
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
        // URL_PATH_RENDERED | MODIFIED_IS_START in this backend's bits.
        assert_eq!(s.flags, 8 | 16);
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
        assert_eq!(s.flags & 2, 2, "URL_PATH_IS_ID");
        assert!(s.modified.is_some());
        // No template at all.
        roundtrip(&Templates::default(), &g, false);
    }
}

//! The compact stored form of a granule row, shared by every backend.
//!
//! What follows exactly from a granule's time and its collection's templates is not stored:
//!
//! - the **ID** is left out when the collection's ID template renders it back from the
//!   granule's start and end ([`Codec::id_renders_back`]) and the backend places the row where
//!   the rendered ID finds it (each backend has its own rule: a hash slot, a slot 0);
//! - the **name** is left out when it is the last `/`-segment of the ID;
//! - the **urlPath** is left out when it equals the ID ([`GranuleFlags::URL_PATH_IS_ID`]) or
//!   when the collection's urlPath template renders it exactly
//!   ([`GranuleFlags::URL_PATH_RENDERED`]); otherwise it is stored, as a prefix when the name
//!   completes it ([`GranuleFlags::URL_PATH_ENDS_WITH_NAME`]);
//! - **`modified`** is left out when it equals the start ([`GranuleFlags::MODIFIED_IS_START`]).
//!
//! Anything else is stored verbatim, so reading back always gives exactly what was written.
//! Rendering uses the times as the backend's columns read them back ([`Codec::read_back`]):
//! a time that does not survive the column is never rendered from.
//!
//! The codec is pure: the template functions come from `threddex-ids` through [`Codec`] (this
//! crate depends on no other), and each backend maps [`GranuleFlags`] onto its own `flags`
//! column with a [`FlagLayout`].

use std::ops::{BitOr, BitOrAssign};

use crate::{StoreError, Timestamp};

/// The codec's flags: which left-out fields are rendered how. Each backend stores them in its
/// own bit positions ([`FlagLayout`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct GranuleFlags(u8);

impl GranuleFlags {
    /// No flag.
    pub const NONE: Self = Self(0);
    /// The stored urlPath is a prefix; the urlPath is prefix + name.
    pub const URL_PATH_ENDS_WITH_NAME: Self = Self(1);
    /// The urlPath equals the granule ID (none stored).
    pub const URL_PATH_IS_ID: Self = Self(2);
    /// The urlPath is rendered from the collection's urlPath template (none stored).
    pub const URL_PATH_RENDERED: Self = Self(4);
    /// `modified` equals the start (none stored).
    pub const MODIFIED_IS_START: Self = Self(8);
    /// Every flag, each once.
    pub const ALL: [Self; 4] = [
        Self::URL_PATH_ENDS_WITH_NAME,
        Self::URL_PATH_IS_ID,
        Self::URL_PATH_RENDERED,
        Self::MODIFIED_IS_START,
    ];

    /// Whether every flag of `other` is set.
    pub const fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }
}

impl BitOr for GranuleFlags {
    type Output = Self;
    fn bitor(self, rhs: Self) -> Self {
        Self(self.0 | rhs.0)
    }
}

impl BitOrAssign for GranuleFlags {
    fn bitor_assign(&mut self, rhs: Self) {
        self.0 |= rhs.0;
    }
}

/// Where a backend's `flags` column keeps each [`GranuleFlags`] flag (one distinct bit each),
/// and which of those bits it stores inverted. Bits the layout does not name belong to the
/// backend (row placement, migration state) and are ignored by [`FlagLayout::decode`].
#[derive(Clone, Copy, Debug)]
pub struct FlagLayout {
    /// Bit of [`GranuleFlags::URL_PATH_ENDS_WITH_NAME`].
    pub url_path_ends_with_name: i64,
    /// Bit of [`GranuleFlags::URL_PATH_IS_ID`].
    pub url_path_is_id: i64,
    /// Bit of [`GranuleFlags::URL_PATH_RENDERED`].
    pub url_path_rendered: i64,
    /// Bit of [`GranuleFlags::MODIFIED_IS_START`].
    pub modified_is_start: i64,
    /// Bits stored inverted (column = bits XOR this), so the usual row stores 0.
    pub inverted: i64,
}

impl FlagLayout {
    fn pairs(&self) -> [(GranuleFlags, i64); 4] {
        [
            (
                GranuleFlags::URL_PATH_ENDS_WITH_NAME,
                self.url_path_ends_with_name,
            ),
            (GranuleFlags::URL_PATH_IS_ID, self.url_path_is_id),
            (GranuleFlags::URL_PATH_RENDERED, self.url_path_rendered),
            (GranuleFlags::MODIFIED_IS_START, self.modified_is_start),
        ]
    }

    /// The column bits of `flags` (without the backend's own bits).
    pub fn encode(&self, flags: GranuleFlags) -> i64 {
        let bits = self
            .pairs()
            .iter()
            .filter(|(f, _)| flags.contains(*f))
            .fold(0, |acc, (_, bit)| acc | bit);
        bits ^ self.inverted
    }

    /// The flags of a column value.
    pub fn decode(&self, column: i64) -> GranuleFlags {
        let bits = column ^ self.inverted;
        self.pairs()
            .iter()
            .filter(|(_, bit)| bits & bit != 0)
            .fold(GranuleFlags::NONE, |acc, (f, _)| acc | *f)
    }

    /// The bits this layout uses (the backend's own bits must be outside them).
    pub fn mask(&self) -> i64 {
        self.pairs().iter().fold(0, |acc, (_, bit)| acc | bit)
    }
}

/// A collection's templates, as its row stores them.
#[derive(Clone, Copy, Debug, Default)]
pub struct Templates<'a> {
    /// The ID template (`collections.template`).
    pub id: Option<&'a str>,
    /// The urlPath template (`collections.path_template`).
    pub url_path: Option<&'a str>,
}

impl<'a> Templates<'a> {
    /// The templates of a collection row's `template` and `path_template` columns.
    pub fn of(id: &'a Option<String>, url_path: &'a Option<String>) -> Self {
        Self {
            id: id.as_deref(),
            url_path: url_path.as_deref(),
        }
    }
}

/// The template functions and the time precision of one backend.
#[derive(Clone, Copy, Debug)]
pub struct Codec {
    /// `threddex_ids::render`: a name from a template and `(start, end)`.
    pub render: fn(&str, Timestamp, Option<Timestamp>) -> Option<String>,
    /// `threddex_ids::renders_back`: whether a name renders back from a template and
    /// `(start, end)`, and its start reads back from it.
    pub renders_back: fn(&str, &str, Timestamp, Option<Timestamp>) -> bool,
    /// The template `threddex_ids` derives from a name, if any.
    pub derive_template: fn(&str) -> Option<String>,
    /// A time as the backend's time columns read it back; `None` when the codec must not
    /// render from it.
    pub read_back: fn(Timestamp) -> Option<Timestamp>,
}

/// A granule's fields that the codec stores or leaves out (strings as the backend stores them).
#[derive(Clone, Copy, Debug)]
pub struct Fields<'a> {
    /// The granule ID.
    pub id: &'a str,
    /// Its name.
    pub name: &'a str,
    /// Its urlPath.
    pub url_path: Option<&'a str>,
    /// Its start time.
    pub start: Option<Timestamp>,
    /// Its end time.
    pub end: Option<Timestamp>,
    /// Its modification time.
    pub modified: Option<Timestamp>,
}

/// The stored form of [`Fields`]: `None` where nothing is stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Encoded<'a> {
    /// How the left-out fields are rendered.
    pub flags: GranuleFlags,
    /// The stored ID.
    pub id: Option<&'a str>,
    /// The stored name.
    pub name: Option<&'a str>,
    /// The stored urlPath (or its prefix).
    pub url_path: Option<&'a str>,
    /// The stored modification time.
    pub modified: Option<Timestamp>,
}

/// A stored row's columns, as read.
#[derive(Clone, Debug, Default)]
pub struct Stored {
    /// The `flags` column, decoded ([`FlagLayout::decode`]).
    pub flags: GranuleFlags,
    /// The `granule_id` column.
    pub id: Option<String>,
    /// The `name` column.
    pub name: Option<String>,
    /// The `url_path` column.
    pub url_path: Option<String>,
    /// The start time column.
    pub start: Option<Timestamp>,
    /// The end time column.
    pub end: Option<Timestamp>,
    /// The `modified` column.
    pub modified: Option<Timestamp>,
}

/// The fields of a row read back: exactly what was written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decoded {
    /// The granule ID.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Its urlPath.
    pub url_path: Option<String>,
    /// Its modification time.
    pub modified: Option<Timestamp>,
}

/// The last `/`-segment of a granule ID (the whole ID when it has none).
pub fn last_segment(id: &str) -> &str {
    id.rsplit('/').next().unwrap_or(id)
}

fn corrupt(what: &str) -> StoreError {
    StoreError::Corrupt(format!("granule row: {what}"))
}

impl Codec {
    /// `(start, end)` as read back, when both can be rendered from.
    fn render_times(
        &self,
        start: Option<Timestamp>,
        end: Option<Timestamp>,
    ) -> Option<(Timestamp, Option<Timestamp>)> {
        self.times_from((self.read_back)(start?)?, end)
    }

    /// [`Codec::render_times`] for a start already read back.
    fn times_from(
        &self,
        start: Timestamp,
        end: Option<Timestamp>,
    ) -> Option<(Timestamp, Option<Timestamp>)> {
        match end {
            Some(e) => Some((start, Some((self.read_back)(e)?))),
            None => Some((start, None)),
        }
    }

    /// Whether the ID template renders `id` back from `(start, end)`: the ID need not be
    /// stored.
    pub fn id_renders_back(
        &self,
        t: &Templates<'_>,
        id: &str,
        start: Option<Timestamp>,
        end: Option<Timestamp>,
    ) -> bool {
        match (t.id, self.render_times(start, end)) {
            (Some(tpl), Some((s, e))) => (self.renders_back)(tpl, id, s, e),
            _ => false,
        }
    }

    /// The stored form of `f`. `render_id`: leave the ID out; the backend passes it only
    /// for an ID that [renders back](Self::id_renders_back) in a row the rendered ID finds.
    pub fn encode<'a>(&self, t: &Templates<'_>, f: &Fields<'a>, render_id: bool) -> Encoded<'a> {
        debug_assert!(!render_id || self.id_renders_back(t, f.id, f.start, f.end));
        let id = (!render_id).then_some(f.id);
        let name = (f.name != last_segment(f.id)).then_some(f.name);
        let mut flags = GranuleFlags::NONE;
        let start = f.start.and_then(self.read_back);
        let url_path = match f.url_path {
            Some(p) if p == f.id => {
                flags |= GranuleFlags::URL_PATH_IS_ID;
                None
            }
            Some(p) if self.path_renders(t, p, start, f.end) => {
                flags |= GranuleFlags::URL_PATH_RENDERED;
                None
            }
            Some(p) if !f.name.is_empty() => match p.strip_suffix(f.name) {
                Some(prefix) => {
                    flags |= GranuleFlags::URL_PATH_ENDS_WITH_NAME;
                    Some(prefix)
                }
                None => Some(p),
            },
            other => other,
        };
        let modified = match (f.modified, start) {
            (Some(m), Some(s)) if (self.read_back)(m) == Some(s) => {
                flags |= GranuleFlags::MODIFIED_IS_START;
                None
            }
            (m, _) => m,
        };
        Encoded {
            flags,
            id,
            name,
            url_path,
            modified,
        }
    }

    /// Whether the urlPath template renders `path` exactly from `(start, end)` (`start` as
    /// read back).
    fn path_renders(
        &self,
        t: &Templates<'_>,
        path: &str,
        start: Option<Timestamp>,
        end: Option<Timestamp>,
    ) -> bool {
        match (t.url_path, start.and_then(|s| self.times_from(s, end))) {
            (Some(tpl), Some((s, e))) => (self.render)(tpl, s, e).is_some_and(|r| r == path),
            _ => false,
        }
    }

    /// The ID of a row: stored, or rendered from the ID template and the row's times.
    pub fn row_id(
        &self,
        t: &Templates<'_>,
        stored: Option<String>,
        start: Option<Timestamp>,
        end: Option<Timestamp>,
    ) -> Result<String, StoreError> {
        match stored {
            Some(id) => Ok(id),
            None => (self.render)(
                t.id.ok_or_else(|| corrupt("no ID and no ID template"))?,
                start.ok_or_else(|| corrupt("no ID and no start"))?,
                end,
            )
            .ok_or_else(|| corrupt("ID not renderable")),
        }
    }

    /// The inverse of [`Codec::encode`], for a row whose ID is already known (from
    /// [`Codec::row_id`]): `(name, url_path, modified)`.
    pub fn decode_with_id(
        &self,
        t: &Templates<'_>,
        id: &str,
        row: Stored,
    ) -> Result<(String, Option<String>, Option<Timestamp>), StoreError> {
        let name = row.name.unwrap_or_else(|| last_segment(id).to_owned());
        let url_path = if row.flags.contains(GranuleFlags::URL_PATH_IS_ID) {
            Some(id.to_owned())
        } else if row.flags.contains(GranuleFlags::URL_PATH_RENDERED) {
            let path = (self.render)(
                t.url_path
                    .ok_or_else(|| corrupt("rendered urlPath without a template"))?,
                row.start
                    .ok_or_else(|| corrupt("rendered urlPath without a start"))?,
                row.end,
            )
            .ok_or_else(|| corrupt("urlPath not renderable"))?;
            Some(path)
        } else {
            match row.url_path {
                Some(mut prefix) if row.flags.contains(GranuleFlags::URL_PATH_ENDS_WITH_NAME) => {
                    prefix.push_str(&name);
                    Some(prefix)
                }
                other => other,
            }
        };
        let modified = if row.flags.contains(GranuleFlags::MODIFIED_IS_START) {
            row.start
        } else {
            row.modified
        };
        Ok((name, url_path, modified))
    }

    /// The inverse of [`Codec::encode`].
    pub fn decode(&self, t: &Templates<'_>, mut row: Stored) -> Result<Decoded, StoreError> {
        let id = self.row_id(t, row.id.take(), row.start, row.end)?;
        let (name, url_path, modified) = self.decode_with_id(t, &id, row)?;
        Ok(Decoded {
            id,
            name,
            url_path,
            modified,
        })
    }

    /// A urlPath template for a collection, from one of its granules: the template derived
    /// from its urlPath, when that renders the urlPath back exactly from the granule's times.
    /// `None` for a urlPath equal to the ID (that needs no template).
    pub fn path_template_from(
        &self,
        id: &str,
        url_path: &str,
        start: Option<Timestamp>,
        end: Option<Timestamp>,
    ) -> Option<String> {
        if url_path == id {
            return None;
        }
        let (s, e) = self.render_times(start, end)?;
        let t = (self.derive_template)(url_path)?;
        (self.render)(&t, s, e)
            .is_some_and(|r| r == url_path)
            .then_some(t)
    }
}

#[cfg(test)]
mod tests;

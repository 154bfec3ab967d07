//! Tests on single granules (the items of a STAC search) inside the filter tree, and the
//! evaluation of a filter on one granule.
//!
//! Granule rows are compact (their IDs are often rendered from their times, see
//! [`crate::granule_codec`]), so tests on a granule's own properties are not SQL: a search
//! compiles what it can into SQL on collections ([`RecordFilter::item_pushdown`]: the
//! collection list, the footprint box, the time window) and tests each granule listed against
//! the whole filter ([`RecordFilter::matches_item`]). A granule's footprint is its
//! collection's box (THREDDS granules inherit their collection's geospatial coverage).

use serde::{Deserialize, Serialize};

use crate::{
    BBox, Collection, CompareOp, Granule, LikePattern, RecordFilter, TextProperty, Timestamp,
};

/// A time of a granule, as STAC names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ItemTime {
    /// `datetime`: the granule's start.
    Datetime,
    /// `start_datetime`: the granule's start, for granules with an end.
    Start,
    /// `end_datetime`: the granule's end.
    End,
}

/// A text of a granule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ItemText {
    /// The item ID: the granule ID.
    Id,
    /// The item title: the granule's name.
    Title,
}

/// A polygon in degrees (longitude, latitude), its outer ring first, then holes; rings are
/// closed or not (the last vertex joins the first either way).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Polygon {
    /// The rings.
    pub rings: Vec<Vec<[f64; 2]>>,
}

impl Polygon {
    /// The polygon's bounding box (None without vertices).
    pub fn bbox(&self) -> Option<BBox> {
        let mut pts = self.rings.iter().flatten();
        let first = pts.next()?;
        let mut b = BBox {
            west: first[0],
            south: first[1],
            east: first[0],
            north: first[1],
        };
        for p in pts {
            b.west = b.west.min(p[0]);
            b.east = b.east.max(p[0]);
            b.south = b.south.min(p[1]);
            b.north = b.north.max(p[1]);
        }
        Some(b)
    }

    fn edges(&self) -> impl Iterator<Item = ([f64; 2], [f64; 2])> + '_ {
        self.rings.iter().flat_map(|r| {
            (0..r.len()).filter_map(move |i| Some((*r.get(i)?, *r.get((i + 1) % r.len())?)))
        })
    }

    /// Whether a point is inside (even-odd rule over every ring).
    fn contains(&self, x: f64, y: f64) -> bool {
        let mut inside = false;
        for (a, b) in self.edges() {
            if (a[1] > y) != (b[1] > y) {
                let cross = a[0] + (y - a[1]) * (b[0] - a[0]) / (b[1] - a[1]);
                if x < cross {
                    inside = !inside;
                }
            }
        }
        inside
    }

    /// Whether the polygon and a box intersect (touching counts; antimeridian-crossing boxes
    /// are tested as their two halves).
    pub fn intersects(&self, b: &BBox) -> bool {
        b.lon_intervals()
            .into_iter()
            .any(|(w, e)| self.intersects_rect(w, b.south, e, b.north))
    }

    fn intersects_rect(&self, w: f64, s: f64, e: f64, n: f64) -> bool {
        let in_rect = |p: &[f64; 2]| w <= p[0] && p[0] <= e && s <= p[1] && p[1] <= n;
        if self.rings.iter().flatten().any(in_rect) {
            return true;
        }
        if [[w, s], [e, s], [e, n], [w, n]]
            .iter()
            .any(|c| self.contains(c[0], c[1]))
        {
            return true;
        }
        let sides = [
            ([w, s], [e, s]),
            ([e, s], [e, n]),
            ([e, n], [w, n]),
            ([w, n], [w, s]),
        ];
        self.edges()
            .any(|(a, b)| sides.iter().any(|(c, d)| segments_meet(a, b, *c, *d)))
    }
}

fn orient(a: [f64; 2], b: [f64; 2], c: [f64; 2]) -> f64 {
    (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])
}

fn on_segment(a: [f64; 2], b: [f64; 2], p: [f64; 2]) -> bool {
    p[0] >= a[0].min(b[0])
        && p[0] <= a[0].max(b[0])
        && p[1] >= a[1].min(b[1])
        && p[1] <= a[1].max(b[1])
}

fn segments_meet(a: [f64; 2], b: [f64; 2], c: [f64; 2], d: [f64; 2]) -> bool {
    let (o1, o2, o3, o4) = (
        orient(a, b, c),
        orient(a, b, d),
        orient(c, d, a),
        orient(c, d, b),
    );
    if ((o1 > 0.0 && o2 < 0.0) || (o1 < 0.0 && o2 > 0.0))
        && ((o3 > 0.0 && o4 < 0.0) || (o3 < 0.0 && o4 > 0.0))
    {
        return true;
    }
    (o1 == 0.0 && on_segment(a, b, c))
        || (o2 == 0.0 && on_segment(a, b, d))
        || (o3 == 0.0 && on_segment(c, d, a))
        || (o4 == 0.0 && on_segment(c, d, b))
}

impl Collection {
    /// The footprint of the collection's granules (THREDDS granules inherit their
    /// collection's geospatial coverage): its box when the coordinates are finite and within
    /// range (south ≤ north), else None.
    pub fn footprint(&self) -> Option<BBox> {
        self.info.bbox.filter(|b| {
            [b.west, b.south, b.east, b.north]
                .iter()
                .all(|v| v.is_finite())
                && (-180.0..=180.0).contains(&b.west)
                && (-180.0..=180.0).contains(&b.east)
                && (-90.0..=90.0).contains(&b.south)
                && (-90.0..=90.0).contains(&b.north)
                && b.south <= b.north
        })
    }
}

/// A test on a granule's own properties (see the module documentation).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum ItemTest {
    /// `prop op value` on a text, case-sensitively.
    CompareText {
        /// The property.
        prop: ItemText,
        /// The operator.
        op: CompareOp,
        /// The value.
        value: String,
    },
    /// `prop LIKE pattern`.
    Like {
        /// The property.
        prop: ItemText,
        /// The pattern.
        pattern: LikePattern,
        /// Case-sensitive match.
        match_case: bool,
    },
    /// `prop op value` on a time (granules without that time do not match).
    CompareTime {
        /// The property.
        prop: ItemTime,
        /// The operator.
        op: CompareOp,
        /// The value.
        value: Timestamp,
    },
    /// `lower <= prop <= upper` on a time.
    BetweenTime {
        /// The property.
        prop: ItemTime,
        /// Lower bound (inclusive).
        lower: Timestamp,
        /// Upper bound (inclusive).
        upper: Timestamp,
    },
    /// The granule's time (its start, or from its start to its end) meets the closed interval
    /// `[start, end]` (a missing bound: open); granules without a time do not match.
    Intersects {
        /// Start (inclusive).
        start: Option<Timestamp>,
        /// End (inclusive).
        end: Option<Timestamp>,
    },
    /// The granule's footprint intersects the polygon (granules without one do not match).
    Polygon(Polygon),
}

fn compare<T: PartialOrd + ?Sized>(a: &T, op: CompareOp, b: &T) -> bool {
    match op {
        CompareOp::Eq => a == b,
        CompareOp::Ne => a != b,
        CompareOp::Lt => a < b,
        CompareOp::Le => a <= b,
        CompareOp::Gt => a > b,
        CompareOp::Ge => a >= b,
    }
}

impl ItemTest {
    fn time(prop: ItemTime, g: &Granule) -> Option<Timestamp> {
        match prop {
            ItemTime::Datetime => g.start,
            ItemTime::Start => g.start.filter(|_| g.end.is_some()),
            ItemTime::End => g.end.filter(|_| g.start.is_some()),
        }
    }

    fn text(prop: ItemText, g: &Granule) -> &str {
        match prop {
            ItemText::Id => &g.granule_id,
            ItemText::Title => &g.name,
        }
    }

    /// Whether the granule, with its footprint, passes the test.
    pub fn matches(&self, g: &Granule, footprint: Option<&BBox>) -> bool {
        match self {
            Self::CompareText { prop, op, value } => {
                compare(Self::text(*prop, g), *op, value.as_str())
            }
            Self::Like {
                prop,
                pattern,
                match_case,
            } => pattern.matches(Self::text(*prop, g), *match_case),
            Self::CompareTime { prop, op, value } => {
                Self::time(*prop, g).is_some_and(|t| compare(&t, *op, value))
            }
            Self::BetweenTime { prop, lower, upper } => {
                Self::time(*prop, g).is_some_and(|t| *lower <= t && t <= *upper)
            }
            Self::Intersects { start, end } => {
                let Some(gs) = g.start else {
                    return false;
                };
                let ge = g.end.unwrap_or(gs).max(gs);
                start.is_none_or(|s| ge >= s) && end.is_none_or(|e| gs <= e)
            }
            Self::Polygon(p) => footprint.is_some_and(|b| p.intersects(b)),
        }
    }
}

/// What of a filter on items SQL can do on collections: a filter on collections that every
/// collection holding a matching granule passes, and the time window `[start, end)` every
/// matching granule overlaps.
#[derive(Clone, Debug, PartialEq)]
pub struct ItemPushdown {
    /// Collections that may hold matches.
    pub collections: RecordFilter,
    /// Window start (inclusive), if the filter bounds it.
    pub start: Option<Timestamp>,
    /// Window end (exclusive), if the filter bounds it.
    pub end: Option<Timestamp>,
}

impl RecordFilter {
    /// Whether the filter holds a test on items ([`RecordFilter::Item`]).
    pub fn has_item_tests(&self) -> bool {
        match self {
            Self::Item(_) => true,
            Self::And(v) | Self::Or(v) => v.iter().any(Self::has_item_tests),
            Self::Not(f) => f.has_item_tests(),
            _ => false,
        }
    }

    /// Whether a granule of collection `collection_id` with footprint `footprint` passes the
    /// filter. Collection tests an item can answer are the ID ([`TextProperty::Identifier`]:
    /// its collection's ID) and the box (its footprint); any other collection test is false.
    pub fn matches_item(&self, g: &Granule, footprint: Option<&BBox>) -> bool {
        match self {
            Self::All => true,
            Self::And(v) => v.iter().all(|f| f.matches_item(g, footprint)),
            Self::Or(v) => v.iter().any(|f| f.matches_item(g, footprint)),
            Self::Not(f) => !f.matches_item(g, footprint),
            Self::Item(t) => t.matches(g, footprint),
            Self::BBox(b) => footprint.is_some_and(|f| f.intersects(b)),
            Self::CompareText {
                prop: TextProperty::Identifier,
                op,
                value,
                match_case,
            } => {
                if *match_case {
                    compare(g.collection_id.as_str(), *op, value.as_str())
                } else {
                    compare(
                        g.collection_id.to_lowercase().as_str(),
                        *op,
                        value.to_lowercase().as_str(),
                    )
                }
            }
            Self::Like {
                prop: TextProperty::Identifier,
                pattern,
                match_case,
            } => pattern.matches(&g.collection_id, *match_case),
            Self::BetweenText {
                prop: TextProperty::Identifier,
                lower,
                upper,
            } => {
                lower.as_str() <= g.collection_id.as_str()
                    && g.collection_id.as_str() <= upper.as_str()
            }
            _ => false,
        }
    }

    /// The filter for the granules of one collection: its tests of the footprint (boxes,
    /// polygons) decided once for `footprint` (every granule of a collection has its
    /// collection's), so testing each granule costs no geometry.
    pub fn with_footprint(&self, footprint: Option<&BBox>) -> RecordFilter {
        let decided = |yes: bool| {
            if yes { Self::All } else { Self::Or(Vec::new()) }
        };
        match self {
            Self::And(v) => Self::And(v.iter().map(|f| f.with_footprint(footprint)).collect()),
            Self::Or(v) => Self::Or(v.iter().map(|f| f.with_footprint(footprint)).collect()),
            Self::Not(f) => Self::Not(Box::new(f.with_footprint(footprint))),
            Self::BBox(b) => decided(footprint.is_some_and(|f| f.intersects(b))),
            Self::Item(ItemTest::Polygon(p)) => decided(footprint.is_some_and(|f| p.intersects(f))),
            other => other.clone(),
        }
    }

    /// What SQL can do of this filter on items (see [`ItemPushdown`]): its top-level
    /// conjuncts without item tests as they are, a polygon as its box, a time intersection as
    /// the window; everything else is left to [`RecordFilter::matches_item`].
    pub fn item_pushdown(&self) -> ItemPushdown {
        let mut out = ItemPushdown {
            collections: RecordFilter::All,
            start: None,
            end: None,
        };
        let conjuncts: Vec<&RecordFilter> = match self {
            Self::And(v) => v.iter().collect(),
            f => vec![f],
        };
        let mut keep = Vec::new();
        for c in conjuncts {
            match c {
                Self::And(_) => {
                    let inner = c.item_pushdown();
                    if inner.collections != RecordFilter::All {
                        keep.push(inner.collections);
                    }
                    narrow(&mut out, inner.start, inner.end);
                }
                Self::Item(ItemTest::Polygon(p)) => {
                    if let Some(b) = p.bbox() {
                        keep.push(Self::BBox(b));
                    }
                }
                Self::Item(ItemTest::Intersects { start, end }) => {
                    narrow(
                        &mut out,
                        *start,
                        end.map(|e| e + chrono::TimeDelta::microseconds(1)),
                    );
                }
                c if !c.has_item_tests() => keep.push(c.clone()),
                _ => {}
            }
        }
        out.collections = match keep.len() {
            0 => RecordFilter::All,
            1 => keep.pop().unwrap_or(RecordFilter::All),
            _ => RecordFilter::And(keep),
        };
        out
    }
}

fn narrow(out: &mut ItemPushdown, start: Option<Timestamp>, end: Option<Timestamp>) {
    if let Some(s) = start {
        out.start = Some(out.start.map_or(s, |o| o.max(s)));
    }
    if let Some(e) = end {
        out.end = Some(out.end.map_or(e, |o| o.min(e)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn square(w: f64, s: f64, e: f64, n: f64) -> Polygon {
        Polygon {
            rings: vec![vec![[w, s], [e, s], [e, n], [w, n], [w, s]]],
        }
    }

    fn bbox(w: f64, s: f64, e: f64, n: f64) -> BBox {
        BBox {
            west: w,
            south: s,
            east: e,
            north: n,
        }
    }

    #[test]
    fn polygons_meet_boxes() {
        let tri = Polygon {
            rings: vec![vec![[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]]],
        };
        assert!(tri.intersects(&bbox(1.0, 1.0, 2.0, 2.0)), "box inside");
        assert!(
            tri.intersects(&bbox(-5.0, -5.0, 20.0, 20.0)),
            "polygon inside"
        );
        assert!(
            !tri.intersects(&bbox(6.0, 6.0, 9.0, 9.0)),
            "beyond the hypotenuse"
        );
        assert!(tri.intersects(&bbox(4.0, 4.0, 9.0, 9.0)), "across an edge");
        assert!(
            tri.intersects(&bbox(10.0, -3.0, 12.0, 0.0)),
            "touching a vertex"
        );
        let cross = square(-5.0, -1.0, 5.0, 1.0);
        assert!(
            cross.intersects(&bbox(-1.0, -5.0, 1.0, 5.0)),
            "crossing, no vertex inside"
        );
        assert!(
            square(175.0, 0.0, 179.0, 1.0).intersects(&bbox(170.0, -1.0, -170.0, 2.0)),
            "antimeridian box"
        );
        assert!(!square(-160.0, 0.0, -150.0, 1.0).intersects(&bbox(170.0, -1.0, -170.0, 2.0)));
        let holed = Polygon {
            rings: vec![
                vec![[0.0, 0.0], [10.0, 0.0], [10.0, 10.0], [0.0, 10.0]],
                vec![[2.0, 2.0], [8.0, 2.0], [8.0, 8.0], [2.0, 8.0]],
            ],
        };
        assert!(
            !holed.intersects(&bbox(4.0, 4.0, 5.0, 5.0)),
            "inside the hole"
        );
        assert_eq!(tri.bbox(), Some(bbox(0.0, 0.0, 10.0, 10.0)));
    }
}

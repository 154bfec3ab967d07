//! `geospatialCoverage` with a normalised bounding box.
//!
//! Longitudes may be given in 0..360 or -180..180 and may cross the antimeridian. The
//! normalised box has `west`/`east` in -180..=180; when the box crosses the antimeridian,
//! `west > east` and `crosses_antimeridian` is set. A coverage spanning 360 degrees (size plus
//! one grid step, as GRIB global grids write it: start 0, size 359.75, resolution 0.25) is
//! reported as the whole globe (-180..180).

use serde::{Deserialize, Serialize};

use crate::model::Vocab;

/// One axis of a `geospatialCoverage` (`northsouth`, `eastwest`, `updown`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Range {
    /// `start`.
    pub start: Option<f64>,
    /// `size` (may be negative).
    pub size: Option<f64>,
    /// `resolution`.
    pub resolution: Option<f64>,
    /// `units`.
    pub units: Option<String>,
}

/// A normalised bounding box in degrees.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BBox {
    /// Western edge, -180..=180.
    pub west: f64,
    /// Eastern edge, -180..=180 (less than `west` when crossing the antimeridian).
    pub east: f64,
    /// Southern edge.
    pub south: f64,
    /// Northern edge.
    pub north: f64,
    /// Whether the box crosses the antimeridian (180°).
    pub crosses_antimeridian: bool,
}

/// A `geospatialCoverage` element.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GeospatialCoverage {
    /// `@zpositive` (up/down).
    pub zpositive: Option<String>,
    /// `northsouth`.
    pub north_south: Option<Range>,
    /// `eastwest`.
    pub east_west: Option<Range>,
    /// `updown`.
    pub up_down: Option<Range>,
    /// `name` children (e.g. `global`).
    pub names: Vec<Vocab>,
    /// Normalised box, when both horizontal ranges have start and size.
    pub bbox: Option<BBox>,
}

impl GeospatialCoverage {
    /// Computes [`GeospatialCoverage::bbox`] from the ranges.
    pub fn compute_bbox(&mut self) {
        self.bbox = normalise(self.north_south.as_ref(), self.east_west.as_ref());
    }
}

fn finite(v: Option<f64>) -> Option<f64> {
    v.filter(|x| x.is_finite() && x.abs() < 1.0e9)
}

/// Wraps a longitude into [-180, 180).
pub fn wrap_lon(x: f64) -> f64 {
    let w = (x + 180.0).rem_euclid(360.0) - 180.0;
    if w >= 180.0 { -180.0 } else { w }
}

fn normalise(ns: Option<&Range>, ew: Option<&Range>) -> Option<BBox> {
    let (ns, ew) = (ns?, ew?);
    let (ns_start, ns_size) = (finite(ns.start)?, finite(ns.size)?);
    let (ew_start, ew_size) = (finite(ew.start)?, finite(ew.size)?);
    let south = ns_start.min(ns_start + ns_size).clamp(-90.0, 90.0);
    let north = ns_start.max(ns_start + ns_size).clamp(-90.0, 90.0);
    let lo = ew_start.min(ew_start + ew_size);
    let width = ew_size.abs();
    let step = finite(ew.resolution).map(f64::abs).unwrap_or(0.0);
    if width + step >= 360.0 - 1e-6 {
        return Some(BBox {
            west: -180.0,
            east: 180.0,
            south,
            north,
            crosses_antimeridian: false,
        });
    }
    let west = wrap_lon(lo);
    let mut east = wrap_lon(lo + width);
    if east == -180.0 {
        east = 180.0;
    }
    let crosses = west > east;
    Some(BBox {
        west,
        east,
        south,
        north,
        crosses_antimeridian: crosses,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cov(ns: (f64, f64), ew: (f64, f64), res: Option<f64>) -> BBox {
        let mut g = GeospatialCoverage {
            north_south: Some(Range {
                start: Some(ns.0),
                size: Some(ns.1),
                ..Default::default()
            }),
            east_west: Some(Range {
                start: Some(ew.0),
                size: Some(ew.1),
                resolution: res,
                units: None,
            }),
            ..Default::default()
        };
        g.compute_bbox();
        g.bbox.unwrap()
    }

    #[test]
    fn plain_box() {
        let b = cov((20.0, 40.0), (-135.0, 70.0), None);
        assert_eq!(
            (b.west, b.east, b.south, b.north),
            (-135.0, -65.0, 20.0, 60.0)
        );
        assert!(!b.crosses_antimeridian);
    }

    #[test]
    fn zero_360_longitudes() {
        // 200E..260E == -160..-100
        let b = cov((0.0, 10.0), (200.0, 60.0), None);
        assert_eq!((b.west, b.east), (-160.0, -100.0));
        assert!(!b.crosses_antimeridian);
    }

    #[test]
    fn antimeridian() {
        // 170E, 20 wide -> 170..-170
        let b = cov((-10.0, 20.0), (170.0, 20.0), None);
        assert_eq!((b.west, b.east), (170.0, -170.0));
        assert!(b.crosses_antimeridian);
        // Pacific in 0..360: 140..240
        let b = cov((-10.0, 20.0), (140.0, 100.0), None);
        assert_eq!((b.west, b.east), (140.0, -120.0));
        assert!(b.crosses_antimeridian);
    }

    #[test]
    fn global_grid_with_resolution() {
        let b = cov((-90.0, 180.0), (0.0, 359.75), Some(0.25));
        assert_eq!(
            (b.west, b.east, b.south, b.north),
            (-180.0, 180.0, -90.0, 90.0)
        );
        assert!(!b.crosses_antimeridian);
    }

    #[test]
    fn negative_size_and_edge_180() {
        let b = cov((10.0, -20.0), (180.0, -30.0), None);
        assert_eq!((b.south, b.north), (-10.0, 10.0));
        assert_eq!((b.west, b.east), (150.0, 180.0));
        assert!(!b.crosses_antimeridian);
    }

    #[test]
    fn missing_values_no_bbox() {
        let mut g = GeospatialCoverage::default();
        g.compute_bbox();
        assert!(g.bbox.is_none());
    }
}

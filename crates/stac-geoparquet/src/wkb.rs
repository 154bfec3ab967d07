//! GeoJSON geometries to and from ISO well-known binary (little endian), as GeoParquet stores
//! them: Point, LineString, Polygon, their Multi forms and GeometryCollection, 2D or 3D.
//!
//! Input is untrusted (an item's JSON): a malformed geometry is an error, never a panic;
//! nesting and sizes are bounded.

use serde_json::{Map, Value, json};

/// Deepest GeometryCollection nesting accepted.
const MAX_DEPTH: usize = 8;
/// Most coordinates in one geometry.
const MAX_COORDS: usize = 1 << 20;

/// Why a geometry could not be converted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct WkbError(String);

fn err<T>(msg: impl Into<String>) -> Result<T, WkbError> {
    Err(WkbError(msg.into()))
}

/// The ISO WKB type codes of the 2D forms (3D adds 1000).
const TYPES: [(&str, u32); 7] = [
    ("Point", 1),
    ("LineString", 2),
    ("Polygon", 3),
    ("MultiPoint", 4),
    ("MultiLineString", 5),
    ("MultiPolygon", 6),
    ("GeometryCollection", 7),
];

/// A GeoJSON geometry as WKB; also its GeoParquet geometry type name (`Polygon`,
/// `MultiPolygon Z`, …).
pub fn from_geojson(geometry: &Value) -> Result<(Vec<u8>, String), WkbError> {
    let mut out = Vec::with_capacity(128);
    let mut coords = 0usize;
    let (kind, z) = write_geometry(&mut out, geometry, 0, &mut coords)?;
    let name = if z {
        format!("{kind} Z")
    } else {
        kind.to_owned()
    };
    Ok((out, name))
}

fn write_geometry(
    out: &mut Vec<u8>,
    g: &Value,
    depth: usize,
    coords: &mut usize,
) -> Result<(&'static str, bool), WkbError> {
    if depth > MAX_DEPTH {
        return err("geometry collections nest too deeply");
    }
    let Some(obj) = g.as_object() else {
        return err("a geometry must be an object");
    };
    let Some(kind) = obj.get("type").and_then(Value::as_str) else {
        return err("a geometry needs a string `type`");
    };
    let Some(&(name, code)) = TYPES.iter().find(|(n, _)| *n == kind) else {
        return err(format!("unknown geometry type {kind:?}"));
    };
    if name == "GeometryCollection" {
        let Some(members) = obj.get("geometries").and_then(Value::as_array) else {
            return err("a GeometryCollection needs `geometries`");
        };
        // The dimension of a collection is that of its members (2D when empty).
        let mut body = Vec::new();
        let mut z = None;
        for m in members {
            let (_, mz) = write_geometry(&mut body, m, depth + 1, coords)?;
            if *z.get_or_insert(mz) != mz {
                return err("a GeometryCollection mixes 2D and 3D members");
            }
        }
        let z = z.unwrap_or(false);
        header(out, code, z);
        put_len(out, members.len())?;
        out.extend_from_slice(&body);
        return Ok((name, z));
    }
    let Some(c) = obj.get("coordinates") else {
        return err(format!("a {name} needs `coordinates`"));
    };
    let z = dimension(c)?;
    header(out, code, z);
    match name {
        "Point" => position(out, c, z, coords)?,
        "LineString" => positions(out, c, z, coords)?,
        "Polygon" => rings(out, c, z, coords)?,
        "MultiPoint" | "MultiLineString" | "MultiPolygon" => {
            let parts = array(c)?;
            put_len(out, parts.len())?;
            let (part, part_code) = match name {
                "MultiPoint" => ("Point", 1),
                "MultiLineString" => ("LineString", 2),
                _ => ("Polygon", 3),
            };
            for p in parts {
                header(out, part_code, z);
                match part {
                    "Point" => position(out, p, z, coords)?,
                    "LineString" => positions(out, p, z, coords)?,
                    _ => rings(out, p, z, coords)?,
                }
            }
        }
        _ => return err(format!("unsupported geometry type {name:?}")),
    }
    Ok((name, z))
}

/// Whether the first position found has a third value (the dimension of the geometry).
fn dimension(c: &Value) -> Result<bool, WkbError> {
    let mut v = c;
    loop {
        let a = array(v)?;
        match a.first() {
            Some(Value::Array(_)) => v = &a[0],
            Some(_) => return Ok(a.len() >= 3),
            None => return Ok(false),
        }
    }
}

fn array(v: &Value) -> Result<&Vec<Value>, WkbError> {
    v.as_array()
        .ok_or_else(|| WkbError("coordinates must be arrays".into()))
}

fn header(out: &mut Vec<u8>, code: u32, z: bool) {
    out.push(1); // little endian
    out.extend_from_slice(&(code + if z { 1000 } else { 0 }).to_le_bytes());
}

fn put_len(out: &mut Vec<u8>, n: usize) -> Result<(), WkbError> {
    let n = u32::try_from(n).map_err(|_| WkbError("too many parts".into()))?;
    out.extend_from_slice(&n.to_le_bytes());
    Ok(())
}

fn position(out: &mut Vec<u8>, p: &Value, z: bool, coords: &mut usize) -> Result<(), WkbError> {
    let a = array(p)?;
    let want = if z { 3 } else { 2 };
    if a.len() != want {
        return err(format!(
            "a position has {} values where {want} were expected",
            a.len()
        ));
    }
    *coords += 1;
    if *coords > MAX_COORDS {
        return err("geometry has too many coordinates");
    }
    for v in a {
        let Some(f) = v.as_f64().filter(|f| f.is_finite()) else {
            return err("a coordinate must be a finite number");
        };
        out.extend_from_slice(&f.to_le_bytes());
    }
    Ok(())
}

fn positions(out: &mut Vec<u8>, c: &Value, z: bool, coords: &mut usize) -> Result<(), WkbError> {
    let a = array(c)?;
    put_len(out, a.len())?;
    a.iter().try_for_each(|p| position(out, p, z, coords))
}

fn rings(out: &mut Vec<u8>, c: &Value, z: bool, coords: &mut usize) -> Result<(), WkbError> {
    let a = array(c)?;
    put_len(out, a.len())?;
    a.iter().try_for_each(|r| positions(out, r, z, coords))
}

/// WKB (either byte order) back to a GeoJSON geometry (for readers and tests).
pub fn to_geojson(wkb: &[u8]) -> Result<Value, WkbError> {
    let mut r = Reader { b: wkb, at: 0 };
    let g = r.geometry(0)?;
    if r.at != wkb.len() {
        return err("trailing bytes after the geometry");
    }
    Ok(g)
}

struct Reader<'a> {
    b: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> Result<[u8; N], WkbError> {
        let s = self
            .b
            .get(self.at..self.at + N)
            .ok_or_else(|| WkbError("truncated WKB".into()))?;
        self.at += N;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    fn u32(&mut self, le: bool) -> Result<u32, WkbError> {
        let a = self.take::<4>()?;
        Ok(if le {
            u32::from_le_bytes(a)
        } else {
            u32::from_be_bytes(a)
        })
    }

    fn f64(&mut self, le: bool) -> Result<f64, WkbError> {
        let a = self.take::<8>()?;
        Ok(if le {
            f64::from_le_bytes(a)
        } else {
            f64::from_be_bytes(a)
        })
    }

    /// A count, bounded by the bytes left (each element takes at least 8 bytes).
    fn count(&mut self, le: bool) -> Result<usize, WkbError> {
        let n = self.u32(le)? as usize;
        if n > (self.b.len() - self.at) / 8 + 1 {
            return err("WKB count larger than the data");
        }
        Ok(n)
    }

    fn geometry(&mut self, depth: usize) -> Result<Value, WkbError> {
        if depth > MAX_DEPTH {
            return err("geometry collections nest too deeply");
        }
        let le = match self.take::<1>()?[0] {
            0 => false,
            1 => true,
            b => return err(format!("bad WKB byte order {b}")),
        };
        let code = self.u32(le)?;
        let (base, z) = match code {
            1..=7 => (code, false),
            1001..=1007 => (code - 1000, true),
            _ => return err(format!("unsupported WKB type {code}")),
        };
        let dims = if z { 3 } else { 2 };
        let name = TYPES
            .iter()
            .find(|(_, c)| *c == base)
            .map(|(n, _)| *n)
            .unwrap_or("GeometryCollection");
        let mut obj = Map::new();
        obj.insert("type".into(), json!(name));
        if base == 7 {
            let n = self.count(le)?;
            let members = (0..n)
                .map(|_| self.geometry(depth + 1))
                .collect::<Result<Vec<_>, _>>()?;
            obj.insert("geometries".into(), Value::Array(members));
            return Ok(Value::Object(obj));
        }
        let coords = match base {
            1 => self.position(le, dims)?,
            2 => self.positions(le, dims)?,
            3 => self.rings(le, dims)?,
            _ => {
                let n = self.count(le)?;
                let mut parts = Vec::with_capacity(n);
                for _ in 0..n {
                    let part = self.geometry(depth + 1)?;
                    let c = part.get("coordinates").cloned().unwrap_or(Value::Null);
                    parts.push(c);
                }
                Value::Array(parts)
            }
        };
        obj.insert("coordinates".into(), coords);
        Ok(Value::Object(obj))
    }

    fn position(&mut self, le: bool, dims: usize) -> Result<Value, WkbError> {
        (0..dims)
            .map(|_| self.f64(le).map(|f| json!(f)))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array)
    }

    fn positions(&mut self, le: bool, dims: usize) -> Result<Value, WkbError> {
        let n = self.count(le)?;
        (0..n)
            .map(|_| self.position(le, dims))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array)
    }

    fn rings(&mut self, le: bool, dims: usize) -> Result<Value, WkbError> {
        let n = self.count(le)?;
        (0..n)
            .map(|_| self.positions(le, dims))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(g: Value, kind: &str) {
        let (wkb, name) = from_geojson(&g).expect("encode");
        assert_eq!(name, kind);
        assert_eq!(to_geojson(&wkb).expect("decode"), g);
    }

    #[test]
    fn a_polygon_is_iso_wkb_little_endian() {
        let g = json!({"type": "Polygon", "coordinates": [[[-125.0, 24.0], [-66.0, 24.0], [-66.0, 50.0], [-125.0, 50.0], [-125.0, 24.0]]]});
        let (wkb, _) = from_geojson(&g).expect("encode");
        // byte order, type 3, one ring of five positions, then 5 × 2 doubles
        assert_eq!(&wkb[..13], &[1, 3, 0, 0, 0, 1, 0, 0, 0, 5, 0, 0, 0]);
        assert_eq!(wkb.len(), 13 + 5 * 16);
        assert_eq!(&wkb[13..21], &(-125.0f64).to_le_bytes());
        round_trip(g, "Polygon");
    }

    #[test]
    fn every_type_round_trips() {
        round_trip(
            json!({"type": "Point", "coordinates": [1.5, -2.0]}),
            "Point",
        );
        round_trip(
            json!({"type": "Point", "coordinates": [1.5, -2.0, 30.0]}),
            "Point Z",
        );
        round_trip(
            json!({"type": "LineString", "coordinates": [[0.0, 0.0], [1.0, 1.0]]}),
            "LineString",
        );
        round_trip(
            json!({"type": "MultiPoint", "coordinates": [[0.0, 0.0], [1.0, 1.0]]}),
            "MultiPoint",
        );
        round_trip(
            json!({"type": "MultiLineString", "coordinates": [[[0.0, 0.0], [1.0, 1.0]], [[2.0, 2.0], [3.0, 3.0]]]}),
            "MultiLineString",
        );
        round_trip(
            json!({"type": "MultiPolygon", "coordinates": [
                [[[170.0, -10.0], [180.0, -10.0], [180.0, 10.0], [170.0, 10.0], [170.0, -10.0]]],
                [[[-180.0, -10.0], [-170.0, -10.0], [-170.0, 10.0], [-180.0, 10.0], [-180.0, -10.0]]]
            ]}),
            "MultiPolygon",
        );
        round_trip(
            json!({"type": "GeometryCollection", "geometries": [
                {"type": "Point", "coordinates": [1.0, 2.0]},
                {"type": "LineString", "coordinates": [[0.0, 0.0], [1.0, 1.0]]}
            ]}),
            "GeometryCollection",
        );
    }

    #[test]
    fn malformed_geometries_are_errors() {
        for g in [
            json!(null),
            json!("Point"),
            json!({"type": "Circle", "coordinates": [0, 0]}),
            json!({"type": "Point"}),
            json!({"type": "Point", "coordinates": [1.0]}),
            json!({"type": "Point", "coordinates": ["a", 1.0]}),
            json!({"type": "LineString", "coordinates": [[0.0, 0.0], [1.0, 1.0, 2.0]]}),
            json!({"type": "Polygon", "coordinates": 5}),
            json!({"type": "GeometryCollection"}),
        ] {
            assert!(from_geojson(&g).is_err(), "{g}");
        }
        let mut deep = json!({"type": "Point", "coordinates": [0.0, 0.0]});
        for _ in 0..20 {
            deep = json!({"type": "GeometryCollection", "geometries": [deep]});
        }
        assert!(from_geojson(&deep).is_err());
    }

    #[test]
    fn malformed_wkb_is_an_error() {
        let (wkb, _) =
            from_geojson(&json!({"type": "LineString", "coordinates": [[0.0, 0.0], [1.0, 1.0]]}))
                .expect("encode");
        for cut in 0..wkb.len() {
            assert!(to_geojson(&wkb[..cut]).is_err(), "cut at {cut}");
        }
        let mut huge = vec![1u8, 2, 0, 0, 0];
        huge.extend_from_slice(&u32::MAX.to_le_bytes());
        assert!(to_geojson(&huge).is_err());
        assert!(to_geojson(&[2, 1, 0, 0, 0]).is_err());
        let mut trailing = wkb.clone();
        trailing.push(0);
        assert!(to_geojson(&trailing).is_err());
    }

    #[test]
    fn big_endian_wkb_reads() {
        let mut wkb = vec![0u8];
        wkb.extend_from_slice(&1u32.to_be_bytes());
        wkb.extend_from_slice(&3.0f64.to_be_bytes());
        wkb.extend_from_slice(&4.0f64.to_be_bytes());
        assert_eq!(
            to_geojson(&wkb).expect("decode"),
            json!({"type": "Point", "coordinates": [3.0, 4.0]})
        );
    }
}

"""Reads a `threddex export --format stac-geoparquet` directory back in Python and compares it
with what threddex serves.

Usage: python stac_geoparquet_read.py OUT_DIR EXPECTED_JSON

EXPECTED_JSON maps each file name to {"collection": <STAC Collection>, "items": [<STAC Item>,
...], "index_ids": [<granule ID from /index>, ...]}. Every file is read twice:

* with pyarrow alone: schema (timestamps, WKB, bbox struct), the `geo` and `stac-geoparquet`
  metadata, and every row turned back into an item (properties lowered, bbox struct to an
  array, WKB decoded here) must equal the expected item exactly;
* with stac-geoparquet's own reader (`stac_table_to_items`) for files whose items all have a
  geometry (its reader cannot turn a null geometry into GeoJSON); it formats datetimes its
  own way, so datetimes are compared as instants there.

Prints a JSON summary on stdout; exits 1 with the first difference on stderr.
"""

import datetime as dt
import json
import os
import struct
import sys

import pyarrow as pa
import pyarrow.parquet as pq
import stac_geoparquet.arrow as sga

TOP_LEVEL = {
    "type",
    "stac_version",
    "stac_extensions",
    "id",
    "geometry",
    "bbox",
    "collection",
    "links",
    "assets",
}
WKB_TYPES = {
    1: "Point",
    2: "LineString",
    3: "Polygon",
    4: "MultiPoint",
    5: "MultiLineString",
    6: "MultiPolygon",
    7: "GeometryCollection",
}


def fail(msg):
    print(msg, file=sys.stderr)
    sys.exit(1)


def wkb_to_geojson(b):
    """Decodes ISO WKB (either byte order) into a GeoJSON geometry."""
    pos = 0

    def take(fmt):
        nonlocal pos
        size = struct.calcsize(fmt)
        vals = struct.unpack_from(fmt, b, pos)
        pos += size
        return vals

    def geometry():
        (order,) = take("B")
        e = "<" if order == 1 else ">"
        (code,) = take(e + "I")
        dims = 3 if code > 1000 else 2
        kind = WKB_TYPES[code % 1000]

        def point():
            return list(take(e + "d" * dims))

        def points():
            (n,) = take(e + "I")
            return [point() for _ in range(n)]

        def rings():
            (n,) = take(e + "I")
            return [points() for _ in range(n)]

        if kind == "Point":
            return {"type": kind, "coordinates": point()}
        if kind == "LineString":
            return {"type": kind, "coordinates": points()}
        if kind == "Polygon":
            return {"type": kind, "coordinates": rings()}
        (n,) = take(e + "I")
        parts = [geometry() for _ in range(n)]
        if kind == "GeometryCollection":
            return {"type": kind, "geometries": parts}
        return {"type": kind, "coordinates": [p["coordinates"] for p in parts]}

    g = geometry()
    if pos != len(b):
        fail(f"trailing bytes after a WKB geometry ({len(b) - pos})")
    return g


def stac_time(t):
    """A datetime as the STAC encoder writes it (RFC 3339, UTC, Z, 0/3/6 fraction digits)."""
    t = t.astimezone(dt.timezone.utc)
    base = t.strftime("%Y-%m-%dT%H:%M:%S")
    us = t.microsecond
    if us == 0:
        return base + "Z"
    if us % 1000 == 0:
        return f"{base}.{us // 1000:03d}Z"
    return f"{base}.{us:06d}Z"


def clean(v):
    """Drops absent (null) fields inside objects: JSON items leave them out."""
    if isinstance(v, dict):
        return {k: clean(x) for k, x in v.items() if x is not None}
    if isinstance(v, list):
        return [clean(x) for x in v]
    if isinstance(v, dt.datetime):
        return stac_time(v)
    if isinstance(v, tuple):
        return [clean(x) for x in v]
    return v


def row_to_item(row):
    item, props = {}, {}
    for k, v in row.items():
        if k == "geometry":
            item["geometry"] = None if v is None else wkb_to_geojson(v)
        elif k == "bbox":
            if v is not None:
                keys = ["xmin", "ymin", "zmin", "xmax", "ymax", "zmax"]
                item["bbox"] = [v[x] for x in keys if x in v]
        elif k in TOP_LEVEL:
            if v is not None:
                item[k] = clean(v)
        elif k == "datetime":
            props[k] = None if v is None else stac_time(v)
        elif v is not None:
            props[k] = clean(v)
    item["properties"] = props
    return item


DATETIMES = {
    "datetime",
    "start_datetime",
    "end_datetime",
    "created",
    "updated",
    "expires",
    "published",
    "unpublished",
}


def instants(item):
    """An item with its datetimes as instants and its null properties left out, to compare
    with what stac-geoparquet's reader gives (it formats datetimes its own way, e.g.
    `…:00.000000Z`, and leaves null properties out once `clean`ed)."""
    item = json.loads(json.dumps(item))
    props = {}
    for k, v in item["properties"].items():
        if v is None:
            continue
        if k in DATETIMES:
            v = dt.datetime.fromisoformat(v.replace("Z", "+00:00"))
        props[k] = v
    item["properties"] = props
    return item


def first_difference(got, want):
    for i, (g, w) in enumerate(zip(got, want)):
        if g != w:
            return f"item {i}:\n got  {json.dumps(g, sort_keys=True, default=str)}\n want {json.dumps(w, sort_keys=True, default=str)}"
    return f"{len(got)} items where {len(want)} were expected"


def main():
    out_dir, expected_path = sys.argv[1], sys.argv[2]
    with open(expected_path) as f:
        expected = json.load(f)
    files = sorted(n for n in os.listdir(out_dir) if n.endswith(".parquet"))
    if files != sorted(expected):
        fail(f"files {files} != expected {sorted(expected)}")
    others = sorted(n for n in os.listdir(out_dir) if not n.endswith(".parquet"))
    if others:
        fail(f"unexpected files in the export: {others}")

    summary = {"files": 0, "items": 0, "read_with_stac_geoparquet": 0}
    for name in files:
        want = expected[name]
        path = os.path.join(out_dir, name)
        table = pq.read_table(path)
        schema = table.schema

        # Types of the specification.
        if not pa.types.is_binary(schema.field("geometry").type):
            fail(f"{name}: geometry is {schema.field('geometry').type}, not WKB binary")
        t = schema.field("datetime").type
        if not (pa.types.is_timestamp(t) and t.tz in ("UTC", "+00:00")):
            fail(f"{name}: datetime is {t}, not a UTC timestamp")
        bbox = schema.field("bbox").type
        if not pa.types.is_struct(bbox) or [bbox.field(i).name for i in range(bbox.num_fields)] != [
            "xmin",
            "ymin",
            "xmax",
            "ymax",
        ]:
            fail(f"{name}: bbox is {bbox}")

        # File metadata.
        md = schema.metadata or {}
        geo = json.loads(md[b"geo"])
        col = geo["columns"]["geometry"]
        if geo["version"] != "1.1.0" or geo["primary_column"] != "geometry" or col["encoding"] != "WKB":
            fail(f"{name}: geo metadata {geo}")
        if col["covering"]["bbox"] != {k: ["bbox", k] for k in ("xmin", "ymin", "xmax", "ymax")}:
            fail(f"{name}: covering {col['covering']}")
        stac = json.loads(md[b"stac-geoparquet"])
        cid = want["collection"]["id"]
        if stac["version"] != "1.1.0" or stac["collections"] != {cid: want["collection"]}:
            fail(f"{name}: stac-geoparquet metadata differs from the collection")

        # Every row back into an item, with pyarrow only.
        items = [row_to_item(r) for r in table.to_pylist()]
        if items != want["items"]:
            fail(f"{name}: {first_difference(items, want['items'])}")
        ids = [i["id"] for i in items]
        if ids != want["index_ids"]:
            fail(f"{name}: item IDs differ from /index: {len(ids)} vs {len(want['index_ids'])}")
        kinds = sorted({i["geometry"]["type"] for i in items if i["geometry"]})
        if col["geometry_types"] != kinds:
            fail(f"{name}: geometry_types {col['geometry_types']} but the items have {kinds}")

        # And with stac-geoparquet's reader where it can read every row.
        if table.column("geometry").null_count == 0 and table.num_rows > 0:
            got = [instants(clean(i)) for i in sga.stac_table_to_items(table)]
            wanted = [instants(i) for i in want["items"]]
            if got != wanted:
                fail(f"{name} (stac-geoparquet): {first_difference(got, wanted)}")
            summary["read_with_stac_geoparquet"] += 1

        summary["files"] += 1
        summary["items"] += len(items)
    print(json.dumps(summary))


if __name__ == "__main__":
    main()

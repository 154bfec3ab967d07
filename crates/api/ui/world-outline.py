#!/usr/bin/env python3
"""Builds world.json (the page's world outline) from Natural Earth 1:110m land.

Input: land-110m.json of the npm package world-atlas@2.0.2 (Natural Earth 4.1.0 as TopoJSON;
Natural Earth is in the public domain). Output: {"rings": [[lon, lat, lon, lat, ...], ...]},
coordinates in degrees rounded to 0.1, repeated points dropped.

    npm pack world-atlas@2.0.2 && tar xzf world-atlas-2.0.2.tgz
    python3 world-outline.py package/land-110m.json > world.json
"""
import json
import sys


def main(path):
    topo = json.load(open(path))
    (sx, sy), (tx, ty) = topo["transform"]["scale"], topo["transform"]["translate"]
    arcs = []
    for arc in topo["arcs"]:
        x = y = 0
        pts = []
        for dx, dy in arc:
            x += dx
            y += dy
            pts.append((x * sx + tx, y * sy + ty))
        arcs.append(pts)

    def ring(indexes):
        out = []
        for i in indexes:
            pts = arcs[i] if i >= 0 else arcs[~i][::-1]
            out.extend(pts if not out else pts[1:])
        return out

    rings = []
    for geom in topo["objects"]["land"]["geometries"]:
        polys = geom["arcs"] if geom["type"] == "MultiPolygon" else [geom["arcs"]]
        for poly in polys:
            for r in poly:
                flat, last, shift = [], None, 0.0
                for lon, lat in ring(r):
                    # Unwrap across the antimeridian: no step longer than 180 degrees (the
                    # page draws a ring reaching past +-180 a second time, shifted by 360).
                    if last is not None and abs(lon + shift - last[0]) > 180:
                        shift += 360.0 if lon + shift < last[0] else -360.0
                    p = (round(lon + shift, 1), round(lat, 1))
                    if p != last:
                        flat.extend(p)
                        last = p
                if len(flat) >= 6:
                    rings.append(flat)
    json.dump({"source": "Natural Earth 1:110m land 4.1.0 (public domain), via world-atlas@2.0.2",
               "rings": rings}, sys.stdout, separators=(",", ":"))


main(sys.argv[1])

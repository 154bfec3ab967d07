"""OWSLib against threddex's /csw, checked against what the harvest stored.

Usage: python test_csw.py CSW_URL EXPECTED_JSON [RESPONSES_DIR]

EXPECTED_JSON (written by tests/tests/csw_owslib.rs): {"collections": [{id, title, abstract,
keywords, bbox: [w, s, e, n] | null, start, end}], "granule": {id, collection, name}}.
RESPONSES_DIR: every answer of the server is written there (NNN-what.xml) for the caller to
validate against the schemas.
Prints "ok <check>" per passed check; exits non-zero on the first failure.
"""

import json
import sys
from datetime import datetime, timezone

from owslib import fes
from owslib.csw import CatalogueServiceWeb
from owslib.ows import ExceptionReport

CSW = "http://www.opengis.net/cat/csw/2.0.2"
GMD = "http://www.isotc211.org/2005/gmd"


RESPONSES = {"dir": None, "n": 0}


def ok(name):
    print(f"ok {name}", flush=True)


def save(csw, what):
    """Keeps the raw bytes of the last answer for schema validation by the caller."""
    if RESPONSES["dir"] is None:
        return
    RESPONSES["n"] += 1
    path = f"{RESPONSES['dir']}/{RESPONSES['n']:03d}-{what}.xml"
    with open(path, "wb") as f:
        f.write(csw.response)


def check(cond, msg):
    if not cond:
        raise AssertionError(msg)


def parse_time(s):
    if s is None:
        return None
    return datetime.fromisoformat(s.replace("Z", "+00:00")).astimezone(timezone.utc)


def all_ids(csw, constraints=None, cql=None, page=3, sortby=None):
    """Pages through every match with startposition/nextrecord; returns (ids, matches)."""
    ids = []
    start = 0
    matches = None
    for _ in range(1000):
        csw.getrecords2(
            constraints=constraints or [],
            cql=cql,
            esn="brief",
            startposition=start,
            maxrecords=page,
            sortby=sortby,
        )
        res = csw.results
        matches = res["matches"] if matches is None else matches
        check(res["matches"] == matches, "matches changed while paging")
        check(res["returned"] == len(csw.records), f"returned {res['returned']} != {len(csw.records)}")
        ids.extend(csw.records.keys())
        nxt = res["nextrecord"]
        if nxt == 0 or nxt > matches:
            break
        check(nxt == (start or 1) + res["returned"], f"nextrecord {nxt} after start {start}")
        start = nxt
    return ids, matches


def main():
    url, expected_path = sys.argv[1], sys.argv[2]
    RESPONSES["dir"] = sys.argv[3] if len(sys.argv) > 3 else None
    with open(expected_path) as f:
        expected = json.load(f)
    cols = expected["collections"]
    by_id = {c["id"]: c for c in cols}

    # Capabilities.
    csw = CatalogueServiceWeb(url, timeout=30)
    save(csw, "capabilities")
    check(csw.identification.type == "CSW", csw.identification.type)
    check("2.0.2" in csw.identification.version, csw.identification.version)
    ops = {op.name for op in csw.operations}
    for name in ["GetCapabilities", "DescribeRecord", "GetDomain", "GetRecords", "GetRecordById"]:
        check(name in ops, f"{name} missing from {ops}")
    getrecords = csw.get_operation_by_name("GetRecords")
    posts = [m for m in getrecords.methods if m["type"].lower() == "post"]
    check(posts and posts[0]["url"] == url, f"POST DCP {posts}")
    ok("capabilities")

    # Every record, paged three at a time.
    ids, matches = all_ids(csw)
    check(matches == len(cols), f"matches {matches} != {len(cols)}")
    check(len(ids) == len(set(ids)), "duplicates while paging")
    check(set(ids) == set(by_id), f"paged ids differ: {sorted(set(ids) ^ set(by_id))}")
    ok(f"paging {len(ids)} records")

    # hits only.
    csw.getrecords2(resulttype="hits", maxrecords=5)
    check(csw.results["matches"] == len(cols) and csw.results["returned"] == 0, csw.results)
    ok("hits")

    # AnyText PropertyIsLike: a word from some (not all) titles.
    word = None
    for c in cols:
        for w in c["title"].replace("/", " ").split():
            n = sum(1 for d in cols if w.lower() in anytext(d))
            if len(w) >= 3 and 0 < n < len(cols):
                word = w
                break
        if word:
            break
    check(word is not None, "no selective word in titles")
    want = {c["id"] for c in cols if word.lower() in anytext(c)}
    got, n = all_ids(csw, [fes.PropertyIsLike("csw:AnyText", f"%{word.upper()}%")])
    check(set(got) == want and n == len(want), f"AnyText {word!r}: {sorted(got)} != {sorted(want)}")
    ok(f"AnyText like %{word}% -> {len(want)}")

    # Wildcards and escapes of OWSLib's defaults (%, _, \\).
    title = cols[0]["title"]
    pattern = title[:1] + "_" + title[2:].replace("%", "\\%").replace("_", "\\_")
    got, _ = all_ids(csw, [fes.PropertyIsLike("dc:title", pattern)])
    want = {c["id"] for c in cols if like(c["title"], pattern)}
    check(set(got) == want and cols[0]["id"] in got, f"title like {pattern!r}: {got}")
    ok("dc:title like with single-char wildcard")

    # BBox (lon/lat): intersects.
    box = [-100.0, 30.0, -90.0, 40.0]
    want = {c["id"] for c in cols if c["bbox"] and intersects(c["bbox"], box)}
    check(0 < len(want) < len(cols), f"bbox selects {len(want)}")
    got, _ = all_ids(csw, [fes.BBox(box)])
    check(set(got) == want, f"bbox: {sorted(got)} != {sorted(want)}")
    ok(f"BBox -> {len(want)}")
    far = [100.0, -40.0, 110.0, -30.0]
    got, n = all_ids(csw, [fes.BBox(far)])
    check(n == 0 and not got, f"far bbox matched {got}")
    ok("BBox elsewhere -> 0")

    # Temporal: TempExtent_begin >= t1 AND TempExtent_end <= t2.
    starts = sorted({parse_time(c["start"]) for c in cols if c["start"]})
    ends = sorted({parse_time(c["end"]) for c in cols if c["end"]})
    check(len(starts) > 1 or len(ends) > 1, "all collections share one time extent")
    t1 = starts[1] if len(starts) > 1 else starts[0]
    t2 = ends[-1] if len(starts) > 1 else ends[-2]
    want = {
        c["id"]
        for c in cols
        if c["start"] and c["end"] and parse_time(c["start"]) >= t1 and parse_time(c["end"]) <= t2
    }
    check(0 < len(want) < len(cols), f"temporal selects {len(want)}")
    temporal = fes.And([
        fes.PropertyIsGreaterThanOrEqualTo("apiso:TempExtent_begin", t1.strftime("%Y-%m-%dT%H:%M:%SZ")),
        fes.PropertyIsLessThanOrEqualTo("apiso:TempExtent_end", t2.strftime("%Y-%m-%dT%H:%M:%SZ")),
    ])
    got, _ = all_ids(csw, [temporal])
    check(set(got) == want, f"temporal: {sorted(got)} != {sorted(want)}")
    ok(f"TempExtent_begin/end -> {len(want)}")

    # A list of constraints is OR; a nested list is AND (OWSLib convention).
    got, _ = all_ids(csw, [[fes.PropertyIsLike("csw:AnyText", f"%{word}%"), fes.BBox(box)]])
    want = {c["id"] for c in cols if word.lower() in anytext(c) and c["bbox"] and intersects(c["bbox"], box)}
    check(set(got) == want, f"AnyText AND BBox: {got} != {want}")
    ok("And(AnyText, BBox)")

    # SortBy title descending.
    csw.getrecords2(
        esn="summary",
        maxrecords=100,
        sortby=fes.SortBy([fes.SortProperty("dc:title", "DESC")]),
    )
    titles = [r.title for r in csw.records.values()]
    check(titles == sorted((c["title"] for c in cols), reverse=True), f"sorted titles {titles}")
    ok("SortBy dc:title DESC")

    # CQL text.
    got, _ = all_ids(csw, cql=f"csw:AnyText LIKE '%{word}%'")
    want = {c["id"] for c in cols if word.lower() in anytext(c)}
    check(set(got) == want, f"CQL: {got}")
    ok("CQL AnyText")

    # Every record in each element set, Dublin Core and ISO 19139 (several ncISO records).
    for schema, name in [(CSW, "csw"), (GMD, "gmd")]:
        for esn in ["brief", "summary", "full"]:
            csw.getrecords2(outputschema=schema, esn=esn, maxrecords=100)
            save(csw, f"getrecords-{name}-{esn}")
            check(csw.results["returned"] == len(cols), f"{name} {esn}: {csw.results}")
    ok("GetRecords brief/summary/full in both schemas")

    # GetRecords in ISO 19139.
    csw.getrecords2(outputschema=GMD, esn="full", maxrecords=100)
    check(set(csw.records) == set(by_id), f"gmd ids {sorted(csw.records)}")
    for rid, rec in csw.records.items():
        check(rec.identifier == rid, f"{rec.identifier} != {rid}")
        check(rec.identification[0].title == by_id[rid]["title"], f"gmd title of {rid}")
    ok("GetRecords outputSchema=gmd")

    # GetRecordById, both schemas.
    c = next(c for c in cols if c["bbox"])
    csw.getrecordbyid(id=[c["id"]], esn="full")
    save(csw, "getrecordbyid-csw")
    rec = csw.records[c["id"]]
    check(rec.title == c["title"] and rec.type == "series", f"{rec.title} {rec.type}")
    w, s, e, n = c["bbox"]
    check(rec.bbox is not None, "no bbox in csw:Record")
    got_box = [float(rec.bbox.minx), float(rec.bbox.miny), float(rec.bbox.maxx), float(rec.bbox.maxy)]
    check(
        sorted(got_box) == sorted([w, s, e, n]),
        f"bbox {got_box} vs {c['bbox']}",
    )
    ok("GetRecordById csw:Record")
    csw.getrecordbyid(id=[c["id"]], outputschema=GMD)
    save(csw, "getrecordbyid-gmd")
    rec = csw.records[c["id"]]
    check(rec.identifier == c["id"], rec.identifier)
    check(rec.identification[0].title == c["title"], rec.identification[0].title)
    gb = rec.identification[0].bbox
    check(gb is not None and abs(float(gb.minx) - w) < 1e-6 and abs(float(gb.maxy) - n) < 1e-6, "gmd bbox")
    ok("GetRecordById gmd:MD_Metadata")

    # A granule: its record is derived on demand.
    g = expected["granule"]
    csw.getrecordbyid(id=[g["id"]], outputschema=GMD)
    check(g["id"] in csw.records, f"granule {g['id']} not returned: {list(csw.records)}")
    rec = csw.records[g["id"]]
    check(rec.parentidentifier == g["collection"], f"parent {rec.parentidentifier}")
    check(rec.hierarchy == "dataset", f"hierarchy {rec.hierarchy}")
    csw.getrecordbyid(id=[g["id"]], esn="summary")
    check(g["id"] in csw.records, "granule as csw:SummaryRecord")
    ok("GetRecordById granule")

    # Unknown ID: empty answer.
    csw.getrecordbyid(id=["no:such/record"])
    check(len(csw.records) == 0, "unknown id answered")
    ok("GetRecordById unknown")

    # Errors come back as ows:ExceptionReport.
    try:
        csw.getrecords2(outputschema="urn:bogus")
        raise AssertionError("bogus outputSchema accepted")
    except ExceptionReport as e:
        check("outputSchema" in str(e) or "InvalidParameterValue" in str(e.code if hasattr(e, "code") else e), str(e))
    ok("ExceptionReport")

    # Several records by ID, both schemas.
    many = [c["id"] for c in cols[:6]]
    for schema, name in [(CSW, "csw"), (GMD, "gmd")]:
        csw.getrecordbyid(id=many, outputschema=schema, esn="full")
        save(csw, f"getrecordbyid-many-{name}")
        check(len(csw.records) == len(many), f"{name}: {len(csw.records)} of {len(many)}")
    ok(f"GetRecordById {len(many)} records, both schemas")

    # GetDomain and DescribeRecord.
    csw.getdomain("dc:type", dtype="property")
    save(csw, "getdomain")
    check(csw.results.get("values") == ["series"], csw.results)
    csw.describerecord(typename="csw:Record")
    save(csw, "describerecord")
    ok("GetDomain, DescribeRecord")

    metasearch(csw, cols)


def metasearch(csw, cols):
    """The requests QGIS MetaSearch sends (its CSW 2.0.2 search, OWSLib underneath): the
    keywords as typed go into PropertyIsLike('csw:AnyText', text) without wildcards, the map
    extent (strings minx, miny, maxx, maxy) into a BBox in EPSG:4326 latitude/longitude order
    unless it is the whole world, both in a nested list (AND); full records, 10 per page from
    startposition 1; then GetRecordById of a chosen record."""

    def query_records(bbox, keywords, offset=1):
        constraints = []
        if bbox and bbox != ["-180", "-90", "180", "90"]:
            minx, miny, maxx, maxy = bbox
            constraints.append(fes.BBox([miny, minx, maxy, maxx], crs="urn:ogc:def:crs:EPSG::4326"))
        if keywords:
            constraints.append(fes.PropertyIsLike("csw:AnyText", keywords))
        if len(constraints) > 1:
            constraints = [constraints]
        csw.getrecords2(constraints=constraints, maxrecords=10, startposition=offset, esn="full")
        save(csw, "metasearch")
        return csw.results, list(csw.records)

    def search(bbox, keywords):
        """Every page, as the Next button walks them: (ids, matches)."""
        ids, offset = [], 1
        for _ in range(100):
            res, page = query_records(bbox, keywords, offset)
            ids.extend(page)
            if res["nextrecord"] == 0 or res["nextrecord"] > res["matches"]:
                return ids, res["matches"]
            offset = res["nextrecord"]
        raise AssertionError("paging did not end")

    def contains_all(c, text):
        return all(w.lower() in anytext(c) for w in text.split())

    # Two words of one title, typed in another case and the other order.
    title = next(c["title"] for c in cols if len([w for w in c["title"].split() if len(w) >= 3]) >= 2)
    words = [w for w in title.split() if len(w) >= 3][:2]
    typed = f"{words[1].upper()} {words[0].lower()}"
    want = {c["id"] for c in cols if contains_all(c, typed)}
    check(0 < len(want) < len(cols), f"{typed!r} selects {len(want)} of {len(cols)}")
    got, n = search(None, typed)
    check(set(got) == want and n == len(want), f"keywords {typed!r}: {sorted(got)} != {sorted(want)}")
    ok(f"MetaSearch keywords {typed!r} -> {len(want)}")

    # One word alone, and a word no record has.
    word = words[0].swapcase()
    want1 = {c["id"] for c in cols if contains_all(c, word)}
    got, n = search(None, word)
    check(set(got) == want1 and n == len(want1) and want <= want1, f"keyword {word!r}: {sorted(got)}")
    got, n = search(None, f"{words[0]} zzzqqq")
    check(not got and n == 0, f"unknown word matched {got}")
    ok(f"MetaSearch keyword {word!r} -> {len(want1)}, unknown word -> 0")

    # The map extent: lon/lat strings from the canvas; the whole world sends no box.
    box = ["-100", "30", "-90", "40"]
    qbox = [float(v) for v in box]
    wantb = {c["id"] for c in cols if c["bbox"] and intersects(c["bbox"], qbox)}
    check(0 < len(wantb) < len(cols), f"box selects {len(wantb)}")
    got, n = search(box, None)
    check(set(got) == wantb and n == len(wantb), f"box: {sorted(got)} != {sorted(wantb)}")
    got, n = search(["-180", "-90", "180", "90"], None)
    check(n == len(cols), f"whole world: {n}")
    ok(f"MetaSearch map extent -> {len(wantb)}")

    # Keywords and extent together.
    for text in [typed, word]:
        wantk = {c["id"] for c in cols if contains_all(c, text) and c["bbox"] and intersects(c["bbox"], qbox)}
        got, n = search(box, text)
        check(set(got) == wantk and n == len(wantk), f"box + {text!r}: {sorted(got)} != {sorted(wantk)}")
    ok("MetaSearch keywords and map extent")

    # Double-click on a result: GetRecordById with OWSLib's defaults.
    rid = sorted(want)[0]
    csw.getrecordbyid([rid])
    save(csw, "metasearch-record")
    check(rid in csw.records and csw.records[rid].title, f"record {rid}")
    ok("MetaSearch GetRecordById")


def anytext(c):
    parts = [c["id"], c["title"], c.get("abstract") or "", json.dumps(c.get("keywords") or [])]
    return " ".join(parts).lower()


def like(value, pattern):
    """SQL LIKE (%, _, backslash escape), case-sensitive."""
    import re

    out = ""
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            out += re.escape(pattern[i + 1])
            i += 2
            continue
        out += ".*" if ch == "%" else "." if ch == "_" else re.escape(ch)
        i += 1
    return re.fullmatch(out, value, re.S) is not None


def intersects(b, q):
    w, s, e, n = b
    qw, qs, qe, qn = q
    if s > qn or qs > n:
        return False
    intervals = [(w, 180.0), (-180.0, e)] if w > e else [(w, e)]
    return any(a <= qe and qw <= z for a, z in intervals)


if __name__ == "__main__":
    try:
        main()
    except ExceptionReport as e:
        print(f"FAIL: server exception: {e}", flush=True)
        sys.exit(1)
    except AssertionError as e:
        print(f"FAIL: {e}", flush=True)
        sys.exit(1)

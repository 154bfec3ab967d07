"""The STAC API driven by pystac-client, unmodified, against a running threddex.

Usage: test_stac.py BASE_URL EXPECTED_JSON OUT_DIR

BASE_URL is the API root (the STAC root is BASE_URL/stac). EXPECTED_JSON lists what the harvest
stored ({"collections": [{"id", "granules", "bbox"}]}). Every STAC document received is saved in
OUT_DIR for validate-stac.py. Prints one "ok NAME" line per check; exits non-zero on the first
failure.
"""
import datetime as dt
import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request

from pystac_client import Client

BASE, EXPECTED, OUT = sys.argv[1:4]
STAC = BASE + "/stac"
EXP = json.load(open(EXPECTED))
SAVED = [0]


def ok(name):
    print("ok " + name, flush=True)


def check(cond, msg):
    if not cond:
        raise AssertionError(msg)


def get(path):
    with urllib.request.urlopen(BASE + path) as r:
        return json.load(r)


def save(name, doc):
    SAVED[0] += 1
    with open(os.path.join(OUT, "%03d-%s.json" % (SAVED[0], name)), "w") as f:
        json.dump(doc, f)


def parse(t):
    return dt.datetime.fromisoformat(t.replace("Z", "+00:00"))


def stamp(t):
    return t.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def index(cid, start=None, end=None):
    """Every granule /index lists for a collection in [start, end)."""
    out, cursor = [], None
    while True:
        q = {"collection": cid, "limit": 1000}
        if start:
            q["start"] = start
        if end:
            q["end"] = end
        if cursor:
            q["cursor"] = cursor
        page = get("/index?" + urllib.parse.urlencode(q))
        out += page["granules"]
        cursor = page["next"]
        if not cursor:
            return out


def ids(items):
    return [(i["collection"], i["id"]) for i in items]


def intersects(b, q):
    """Boxes [w, s, e, n] intersect (antimeridian aware)."""
    def lons(x):
        return [(x[0], 180.0), (-180.0, x[2])] if x[0] > x[2] else [(x[0], x[2])]
    if b[1] > q[3] or q[1] > b[3]:
        return False
    return any(w1 <= e2 and w2 <= e1 for (w1, e1) in lons(b) for (w2, e2) in lons(q))


def main():
    landing = get("/stac")
    save("landing", landing)
    conformance = get("/stac/conformance")
    check(isinstance(conformance["conformsTo"], list) and conformance["conformsTo"] == landing["conformsTo"],
          "conformance")
    ok("landing and conformance")

    client = Client.open(STAC)
    cols = list(client.get_collections())
    check(sorted(c.id for c in cols) == sorted(c["id"] for c in EXP["collections"]),
          "get_collections: %s" % [c.id for c in cols])
    ok("get_collections (%d)" % len(cols))
    save("collections-page", get("/stac/collections?limit=2"))
    for c in EXP["collections"]:
        doc = get("/stac/collections/" + urllib.parse.quote(c["id"], safe=""))
        check(doc["id"] == c["id"], "collection by ID")
        save("collection", doc)
    # The collection search.
    boxed = [c for c in EXP["collections"] if c["bbox"]]
    q = boxed[0]["bbox"]
    found = get("/stac/collections?limit=100&bbox=%s" % ",".join(map(str, q)))
    want = sorted(c["id"] for c in EXP["collections"] if c["bbox"] and intersects(c["bbox"], q))
    check(sorted(c["id"] for c in found["collections"]) == want, "collection search by bbox")
    check(found["numberMatched"] == len(want), "collection search numberMatched")
    ok("collection search")

    # One timed collection, several pages, GET and POST, against /index.
    timed = max((c for c in EXP["collections"] if c["granules"] > 4), key=lambda c: c["granules"])
    listing = index(timed["id"])
    check(len(listing) == timed["granules"], "index lists the collection")
    starts = sorted(parse(g["start"]) for g in listing if g["start"])
    a, b = starts[1], starts[-2]
    # STAC datetime is closed; /index's window is [start, end): one second past b is the same
    # set (granule times are whole seconds).
    want = index(timed["id"], stamp(a), stamp(b + dt.timedelta(seconds=1)))
    check(len(want) >= 3, "a window with several granules")
    for method in ("GET", "POST"):
        search = client.search(collections=[timed["id"]], datetime=[a, b], limit=2, method=method)
        got = list(search.items_as_dicts())
        check(sorted(i["id"] for i in got) == sorted(g["id"] for g in want),
              "%s search: %d items, /index %d" % (method, len(got), len(want)))
        check(len({i["id"] for i in got}) == len(got), "no item twice")
        counted = client.search(collections=[timed["id"]], datetime=[a, b], limit=2, method=method)
        check(counted.matched() == len(want), "numberMatched %s of a window: %s" % (method, counted.matched()))
        pages = list(client.search(collections=[timed["id"]], datetime=[a, b], limit=2,
                                   method=method).pages_as_dicts())
        check(len(pages) >= 2, "several pages")
        for p in pages:
            save("item-collection", p)
        ok("%s search over %d pages = /index (%d items)" % (method, len(pages), len(got)))
    all_items = list(client.search(collections=[timed["id"]], limit=7).items_as_dicts())
    check(len(all_items) == timed["granules"], "all items of the collection")
    whole = client.search(collections=[timed["id"]], limit=3, method="GET")
    check(whole.matched() == timed["granules"], "numberMatched of one collection")
    one = all_items[len(all_items) // 2]
    item = get("/stac/collections/%s/items/%s" % (urllib.parse.quote(one["collection"], safe=""),
                                                   urllib.parse.quote(one["id"], safe="")))
    check(item == one, "the item by ID is the item searched")
    save("item", item)
    ok("items of one collection, numberMatched, item by ID")

    # bbox and intersects over every collection.
    want = sorted((c["id"], g["id"]) for c in EXP["collections"] if c["bbox"] and intersects(c["bbox"], q)
                  for g in index(c["id"]))
    got = sorted(ids(client.search(bbox=q, limit=50).items_as_dicts()))
    check(got == want, "bbox: %d items, expected %d" % (len(got), len(want)))
    poly = {"type": "Polygon", "coordinates": [[[q[0], q[1]], [q[2], q[1]], [q[2], q[3]], [q[0], q[3]], [q[0], q[1]]]]}
    for method in ("GET", "POST"):
        got = sorted(ids(client.search(intersects=poly, limit=50, method=method).items_as_dicts()))
        check(got == want, "intersects %s: %d items, expected %d" % (method, len(got), len(want)))
    ok("bbox and intersects (%d items)" % len(want))

    # filter: CQL2 text and JSON give the same items, and what /index says.
    text = "collection = '%s' AND T_INTERSECTS(datetime, INTERVAL('%s', '%s'))" % (
        timed["id"].replace("'", "''"), stamp(a), stamp(b))
    cql_json = {"op": "and", "args": [
        {"op": "=", "args": [{"property": "collection"}, timed["id"]]},
        {"op": "t_intersects", "args": [{"property": "datetime"}, {"interval": [stamp(a), stamp(b)]}]}]}
    expected = sorted((timed["id"], g["id"]) for g in index(timed["id"], stamp(a), stamp(b + dt.timedelta(seconds=1))))
    for method in ("GET", "POST"):
        t = sorted(ids(client.search(filter=text, filter_lang="cql2-text", limit=3, method=method).items_as_dicts()))
        j = sorted(ids(client.search(filter=cql_json, filter_lang="cql2-json", limit=3, method=method).items_as_dicts()))
        check(t == expected and j == expected, "filter %s: text %d, json %d, /index %d" % (method, len(t), len(j), len(expected)))
    like = "id LIKE '%s%%'" % one["id"][: max(1, len(one["id"]) - 2)].replace("'", "''").replace("%", "\\%").replace("_", "\\_")
    got = list(client.search(collections=[timed["id"]], filter=like, filter_lang="cql2-text", limit=5).items_as_dicts())
    check(one["id"] in [i["id"] for i in got] and all(i["id"].startswith(one["id"][:-2]) for i in got), "like")
    ok("filter (CQL2 text and JSON, GET and POST, like)")

    # sortby datetime over several collections: ordered, complete.
    two = sorted(c["id"] for c in EXP["collections"] if c["granules"] > 0)[:3]
    for method in ("GET", "POST"):
        got = list(client.search(collections=two, sortby="+properties.datetime", limit=4, method=method).items_as_dicts())
        times = [(i["properties"]["datetime"] is not None, i["properties"]["datetime"] or "") for i in got]
        check(times == sorted(times), "sorted by datetime")
        check(len(got) == sum(c["granules"] for c in EXP["collections"] if c["id"] in two), "sorted search is complete")
    ok("sortby datetime across %d collections" % len(two))

    # sortby both ways, on datetime, id and collection: descending is ascending reversed, paged
    # with GET and POST, the pages saved for validation.
    asc = ids(client.search(collections=two, sortby="+properties.datetime", limit=5).items_as_dicts())
    by_id = sorted(asc, key=lambda x: (x[1], x[0]))
    by_collection = sorted(asc, key=lambda x: x[0])
    for method in ("GET", "POST"):
        search = client.search(collections=two, sortby="-properties.datetime", limit=5, method=method)
        pages = list(search.pages_as_dicts())
        check(len(pages) >= 2, "several descending pages")
        for p in pages[:2]:
            save("item-collection-desc", p)
        desc = [i for p in pages for i in p["features"]]
        check(ids(desc) == asc[::-1], "%s sortby -datetime is +datetime reversed" % method)
        times = [i["properties"]["datetime"] or "" for i in desc]
        check(times == sorted(times, reverse=True), "%s descending datetimes" % method)
        got = ids(client.search(collections=two, sortby="id", limit=6, method=method).items_as_dicts())
        check(got == by_id, "%s sortby id" % method)
        got = ids(client.search(collections=two, sortby="-id", limit=6, method=method).items_as_dicts())
        check(got == by_id[::-1], "%s sortby -id" % method)
        got = ids(client.search(collections=two, sortby="-collection", limit=6, method=method).items_as_dicts())
        check([c for c, _ in got] == [c for c, _ in by_collection][::-1], "%s sortby -collection" % method)
        check(sorted(got) == sorted(asc), "%s sortby -collection is complete" % method)
    ok("sortby datetime, id, collection, both directions, GET and POST (%d items)" % len(asc))

    # More filter operators, each against what /index lists.
    listed = index(timed["id"])
    some = [g["id"] for g in listed[:3]]
    cid = timed["id"].replace("'", "''")
    cases = [
        ("id IN (%s)" % ", ".join("'%s'" % i.replace("'", "''") for i in some), set(some)),
        ("NOT (id IN ('%s'))" % some[0].replace("'", "''"), {g["id"] for g in listed} - {some[0]}),
        ("datetime BETWEEN TIMESTAMP('%s') AND TIMESTAMP('%s')" % (stamp(a), stamp(b)),
         {g["id"] for g in listed if g["start"] and a <= parse(g["start"]) <= b}),
    ]
    for f, want in cases:
        for method in ("GET", "POST"):
            got = [i["id"] for i in client.search(collections=[timed["id"]], filter="collection = '%s' AND (%s)" % (cid, f),
                                                  filter_lang="cql2-text", limit=4, method=method).items_as_dicts()]
            check(len(got) == len(set(got)) and set(got) == want,
                  "filter %s %s: %d items, expected %d" % (method, f, len(got), len(want)))
    ok("filter in, not, between (GET and POST)")

    # fields.
    got = list(client.search(collections=[timed["id"]], fields=["-assets", "properties.datetime"], limit=3,
                             max_items=3).items_as_dicts())
    check(all("assets" not in i and "datetime" in i["properties"] for i in got), "fields")
    ok("fields")

    # Errors: 400 naming the parameter, 404.
    for path, param in (("/stac/search?limit=0", "limit"), ("/stac/search?bbox=1,2", "bbox"),
                        ("/stac/search?filter=nope%20%3D%201", "filter"), ("/stac/search?sortby=-datetime,collection", "sortby"),
                        ("/stac/search?datetime=tomorrow", "datetime")):
        try:
            get(path)
            check(False, "%s answered" % path)
        except urllib.error.HTTPError as e:
            body = json.load(e)
            check(e.code == 400 and body["error"]["parameter"] == param, "%s: %s %s" % (path, e.code, body))
    for path in ("/stac/collections/nope", "/stac/collections/nope/items",
                 "/stac/collections/%s/items/nope" % urllib.parse.quote(timed["id"], safe="")):
        try:
            get(path)
            check(False, "%s answered" % path)
        except urllib.error.HTTPError as e:
            check(e.code == 404, "%s: %s" % (path, e.code))
    ok("errors")


if __name__ == "__main__":
    main()

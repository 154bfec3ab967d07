#!/usr/bin/env python3
"""Builds the seed corpora of the fuzz targets under fuzz/corpus/<target>/ from the fixtures.

Run from anywhere: `python3 fuzz/seed-corpora.py` (needs ../shared beside the repository for
the real fixtures and the CSW examples; without it only the repository's own fixtures and the
hand-written seeds below are used). The corpora are not committed (fuzz/corpus is ignored);
libFuzzer adds what it finds to them.
"""

import hashlib
import pathlib
import re
import sys

FUZZ = pathlib.Path(__file__).resolve().parent
REPO = FUZZ.parent
SHARED = REPO.parent / "shared"
OUT = FUZZ / "corpus"
MAX_SEED = 256 * 1024

CSW = 'xmlns:csw="http://www.opengis.net/cat/csw/2.0.2"'
OGC = 'xmlns:ogc="http://www.opengis.net/ogc"'
GML = 'xmlns:gml="http://www.opengis.net/gml"'

FILTERS = [
    f'<ogc:Filter {OGC}><ogc:PropertyIsLike wildCard="%" singleChar="_" escapeChar="\\">'
    "<ogc:PropertyName>csw:AnyText</ogc:PropertyName><ogc:Literal>%sea%</ogc:Literal>"
    "</ogc:PropertyIsLike></ogc:Filter>",
    f'<ogc:Filter {OGC} {GML}><ogc:And><ogc:BBOX><ogc:PropertyName>ows:BoundingBox</ogc:PropertyName>'
    '<gml:Envelope srsName="urn:ogc:def:crs:EPSG::4326"><gml:lowerCorner>-10 -20</gml:lowerCorner>'
    "<gml:upperCorner>10 20</gml:upperCorner></gml:Envelope></ogc:BBOX>"
    "<ogc:PropertyIsGreaterThanOrEqualTo><ogc:PropertyName>apiso:TempExtent_begin</ogc:PropertyName>"
    "<ogc:Literal>2019-08-30</ogc:Literal></ogc:PropertyIsGreaterThanOrEqualTo>"
    "<ogc:Not><ogc:PropertyIsNull><ogc:PropertyName>dc:subject</ogc:PropertyName></ogc:PropertyIsNull></ogc:Not>"
    "</ogc:And></ogc:Filter>",
    f'<ogc:Filter {OGC}><ogc:Or><ogc:PropertyIsEqualTo matchCase="false"><ogc:PropertyName>dc:title</ogc:PropertyName>'
    "<ogc:Literal>Radar</ogc:Literal></ogc:PropertyIsEqualTo><ogc:PropertyIsBetween>"
    "<ogc:PropertyName>dc:date</ogc:PropertyName><ogc:LowerBoundary><ogc:Literal>2019</ogc:Literal></ogc:LowerBoundary>"
    "<ogc:UpperBoundary><ogc:Literal>2020-01-01T00:00:00Z</ogc:Literal></ogc:UpperBoundary></ogc:PropertyIsBetween>"
    "</ogc:Or></ogc:Filter>",
]

CQL = [
    "csw:AnyText LIKE '%sea%'",
    "dc:title LIKE '%sea%' AND BBOX(ows:BoundingBox, -10, -5, 10, 5)",
    "csw:AnyText LIKE '%sea%' AND (dc:title = 'It''s' OR NOT dc:subject IS NULL)",
    "apiso:TempExtent_begin >= '2019-08-30' AND apiso:TempExtent_end < '2019-09-01T00:00:00Z'",
    "dc:date BETWEEN '2019' AND '2020'",
    "NOT apiso:AnyText = 'wind'",
    'temperature "sea surface" -ice',
]

CQL2 = [
    "collection = 'a:b' AND datetime >= TIMESTAMP('2019-08-30T00:00:00Z')",
    "s_intersects(geometry, POLYGON((-10 -5, 10 -5, 10 5, -10 5, -10 -5)))",
    "s_intersects(geometry, BBOX(-180, -90, 180, 90)) OR NOT (id LIKE 'Level3%')",
    "t_intersects(datetime, INTERVAL('2019-08-30', '..'))",
    "\"file:size\" BETWEEN 10 AND 20000 AND id IN ('a', 'b', 'c')",
    "title IS NULL OR keywords = 'radar'",
    '{"op": "and", "args": [{"op": "=", "args": [{"property": "collection"}, "a:b"]}, '
    '{"op": "t_intersects", "args": [{"property": "datetime"}, {"interval": ["2019-08-30", ".."]}]}]}',
    '{"op": "s_intersects", "args": [{"property": "geometry"}, {"type": "Polygon", '
    '"coordinates": [[[-10, -5], [10, -5], [10, 5], [-10, 5], [-10, -5]]]}]}',
    '{"op": "like", "args": [{"property": "id"}, "Level3%"]}',
    '{"op": "not", "args": [{"op": "in", "args": [{"property": "id"}, ["a", "b"]]}]}',
]

KVP = [
    "service=CSW&request=GetCapabilities",
    "service=CSW&version=2.0.2&request=GetRecords&resultType=results&ElementSetName=brief"
    "&constraintLanguage=CQL_TEXT&constraint_language_version=1.1.0&constraint=csw%3AAnyText%20LIKE%20%27%25sea%25%27",
    "service=CSW&version=2.0.2&request=GetRecords&typeNames=csw:Record&startPosition=11&maxRecords=5"
    "&SortBy=dc:title:D&outputSchema=http://www.isotc211.org/2005/gmd",
    "service=CSW&version=2.0.2&request=GetRecordById&id=edu.ucar.unidata%3ANWS%2FNEXRAD3&ElementSetName=full",
    "service=CSW&version=2.0.2&request=DescribeRecord&typeName=csw:Record&schemaLanguage=XMLSCHEMA",
    "service=CSW&version=2.0.2&request=GetDomain&PropertyName=dc:type",
    "service=CSW&version=2.0.2&request=GetRecords&constraintLanguage=FILTER&constraint="
    + "%3Cogc%3AFilter%20xmlns%3Aogc%3D%22http%3A%2F%2Fwww.opengis.net%2Fogc%22%2F%3E",
]

CSW_BODIES = [
    f'<csw:GetCapabilities {CSW} service="CSW"/>',
    f'<csw:GetRecords {CSW} {OGC} service="CSW" version="2.0.2" resultType="results" maxRecords="5">'
    '<csw:Query typeNames="csw:Record"><csw:ElementSetName>summary</csw:ElementSetName>'
    '<csw:Constraint version="1.1.0"><csw:CqlText>dc:title LIKE \'%a%\'</csw:CqlText></csw:Constraint>'
    "</csw:Query></csw:GetRecords>",
    f'<csw:GetRecordById {CSW} service="CSW" version="2.0.2"><csw:Id>x:y</csw:Id>'
    "<csw:ElementSetName>brief</csw:ElementSetName></csw:GetRecordById>",
    f'<csw:GetDomain {CSW} service="CSW" version="2.0.2"><csw:ParameterName>GetRecords.resultType</csw:ParameterName></csw:GetDomain>',
] + [
    f'<csw:GetRecords {CSW} service="CSW" version="2.0.2" resultType="hits"><csw:Query typeNames="csw:Record">'
    f'<csw:Constraint version="1.1.0">{f}</csw:Constraint></csw:Query></csw:GetRecords>'
    for f in FILTERS
]

TIMES = [
    "2024-05-01", "2024-05-01T12:00:00Z", "2024-05-01T12:00:00+02:00", "2024-05-01T12:00:00 02:00",
    "2024-05-01T12:00", "2024-05-01T12:00:00.123456789", "2024-02-30", "0000-01-01", "9999-12-31T23:59:60Z",
    "1985", "90s", "10m", "2h", "1d", "366d", "0s", "250ms", "1.5s", "-10,-20,10,20", "170,-10,-170,10",
    "1000", "0", "18446744073709551616",
]

CONFIG_EXTRA = [
    '[api]\nbind = "127.0.0.1:8080"\nrefresh_deadline = "3s"\n[admin]\ntoken = "0123456789abcdef0123456789abcdef"\n',
    '[[sources]]\nname = "ucar"\nurl = "https://thredds.example.org/thredds/catalog/catalog.xml"\nevery = "10m"\n'
    'select = ["NEXRAD"]\nrules = ["/\\\\d{8}/=archival"]\n[sources.auth]\nkind = "basic"\nuser = "u"\npassword_env = "P"\n',
]


def write(target, data):
    if isinstance(data, str):
        data = data.encode()
    if not data or len(data) > MAX_SEED:
        return 0
    d = OUT / target
    d.mkdir(parents=True, exist_ok=True)
    (d / hashlib.sha1(data).hexdigest()).write_bytes(data)
    return 1


def files(root, pattern):
    return sorted(p for p in root.rglob(pattern) if p.is_file()) if root.is_dir() else []


def main():
    n = {}
    xml = files(REPO / "fixtures", "*.xml") + files(SHARED / "fixtures" / "real", "*.xml")
    xml += [p for p in files(SHARED / "fixtures" / "real", "*") if p.suffix != ".xml" and "catalog" in p.name]
    catalogs = []
    for p in xml:
        b = p.read_bytes()
        if b"<catalog" in b[:4096] or b"InvCatalog" in b[:4096]:
            catalogs.append(b)
            n["parse_catalog"] = n.get("parse_catalog", 0) + write("parse_catalog", b)
    ids = set()
    for b in catalogs:
        for m in re.finditer(rb'(?:ID|urlPath)="([^"]{1,300})"', b):
            ids.add(m.group(1))
    for i in sorted(ids)[:3000]:
        n["ids_roundtrip"] = n.get("ids_roundtrip", 0) + write("ids_roundtrip", i)
    csw_examples = files(SHARED / "schemas" / "csw202", "*.xml")
    for p in csw_examples:
        b = p.read_bytes()
        if b"http://www.opengis.net/cat/csw/2.0.2" in b and (b"Request" in p.name.encode() or b"GetRecords" in p.name.encode()):
            n["csw_xml"] = n.get("csw_xml", 0) + write("csw_xml", b)
        if b"Filter" in b:
            n["ogc_filter"] = n.get("ogc_filter", 0) + write("ogc_filter", b)
    for b in CSW_BODIES:
        n["csw_xml"] = n.get("csw_xml", 0) + write("csw_xml", b)
    for f in FILTERS:
        n["ogc_filter"] = n.get("ogc_filter", 0) + write("ogc_filter", f)
    for q in KVP:
        n["csw_kvp"] = n.get("csw_kvp", 0) + write("csw_kvp", q)
    for c in CQL:
        n["cql_text"] = n.get("cql_text", 0) + write("cql_text", c)
    for c in CQL2:
        n["cql2"] = n.get("cql2", 0) + write("cql2", c)
    for t in TIMES:
        n["time_forms"] = n.get("time_forms", 0) + write("time_forms", t)
    example = (REPO / "crates" / "cli" / "src" / "config" / "example.toml").read_text()
    uncommented = re.sub(r"(?m)^#(\w+ = )", r"\1", example)
    for t in [example, uncommented, *CONFIG_EXTRA] + [p.read_text() for p in files(REPO / "docker", "*.toml")]:
        n["config_toml"] = n.get("config_toml", 0) + write("config_toml", t)
    for target, count in sorted(n.items()):
        print(f"{target}: {count} seeds")
    return 0


if __name__ == "__main__":
    sys.exit(main())

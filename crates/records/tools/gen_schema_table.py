#!/usr/bin/env python3
"""Generates src/schema_table.rs: the content models of the ISO 19139 / 19115-2 schemas
(gco, gmd, gmx, gss, gts, gsr, srv, gmi) as stored in shared/schemas/iso19139, used by
src/sanitize.rs to put elements in schema order and drop what the schemas do not allow.

Usage: python3 tools/gen_schema_table.py ../../../shared/schemas/iso19139 > src/schema_table.rs
"""
import os
import sys
import xml.etree.ElementTree as ET

XS = "{http://www.w3.org/2001/XMLSchema}"
PREFIX = {
    "http://www.isotc211.org/2005/gco": "gco",
    "http://www.isotc211.org/2005/gmd": "gmd",
    "http://www.isotc211.org/2005/gmx": "gmx",
    "http://www.isotc211.org/2005/gss": "gss",
    "http://www.isotc211.org/2005/gts": "gts",
    "http://www.isotc211.org/2005/gsr": "gsr",
    "http://www.isotc211.org/2005/srv": "srv",
    "http://www.isotc211.org/2005/gmi": "gmi",
    "http://www.opengis.net/gml/3.2": "gml",
    "http://www.w3.org/1999/xlink": "xlink",
    "http://www.w3.org/2001/XMLSchema": "xs",
}
XLINK_SIMPLE = ["xlink:type", "xlink:href", "xlink:role", "xlink:arcrole", "xlink:title", "xlink:show", "xlink:actuate"]


def schema_files(root):
    dirs = [
        "schemas.opengis.net/iso/19139/20070417/" + d for d in ["gco", "gmd", "gmx", "gss", "gts", "gsr", "srv/1.0"]
    ] + ["www.isotc211.org/2005/gmi"]
    for d in dirs:
        p = os.path.join(root, d)
        for f in sorted(os.listdir(p)):
            if f.endswith(".xsd"):
                yield os.path.join(p, f)


def load(path):
    nsmap = {}
    for ev, (pfx, uri) in ET.iterparse(path, events=["start-ns"]):
        nsmap.setdefault(pfx, uri)
    tree = ET.parse(path)
    return tree.getroot(), nsmap


def qn(value, nsmap):
    pfx, _, local = value.rpartition(":")
    uri = nsmap.get(pfx, "")
    return PREFIX.get(uri, "?" + uri) + ":" + local


types, elements, agroups = {}, {}, {}

for path in schema_files(sys.argv[1]):
    root, nsmap = load(path)
    tns = PREFIX[root.get("targetNamespace")]
    for child in root:
        name = child.get("name")
        if child.tag == XS + "complexType" and name:
            types[tns + ":" + name] = (child, nsmap, tns)
        elif child.tag == XS + "element" and name:
            t = child.get("type")
            sub = child.get("substitutionGroup")
            elements[tns + ":" + name] = (qn(t, nsmap) if t else "", qn(sub, nsmap) if sub else "")
        elif child.tag == XS + "attributeGroup" and name:
            agroups[tns + ":" + name] = (child, nsmap, tns)


def attr_list(node, nsmap, tns, out):
    """Collects attribute qnames; returns False when something could not be resolved."""
    ok = True
    for a in node:
        if a.tag == XS + "attribute":
            if a.get("ref"):
                out.append(qn(a.get("ref"), nsmap))
            elif a.get("name"):
                out.append(a.get("name"))
        elif a.tag == XS + "attributeGroup":
            r = qn(a.get("ref"), nsmap)
            if r == "xlink:simpleAttrs":
                out.extend(XLINK_SIMPLE)
            elif r in agroups:
                g, gns, gt = agroups[r]
                ok = attr_list(g, gns, gt, out) and ok
            else:
                ok = False
        elif a.tag == XS + "anyAttribute":
            ok = False
    return ok


def particle(node, nsmap, tns, slots, rank, optional):
    """Appends slots for a sequence/choice; returns the next rank."""
    opt = optional or node.get("minOccurs") == "0"
    if node.tag == XS + "sequence":
        for c in node:
            if c.tag == XS + "element":
                slots.append(slot(c, nsmap, tns, rank, opt))
                rank += 1
            elif c.tag in (XS + "sequence", XS + "choice"):
                rank = particle(c, nsmap, tns, slots, rank, opt)
            elif c.tag == XS + "any":
                slots.append(("*", "", False, True, False, rank))
                rank += 1
    elif node.tag == XS + "choice":
        for c in node:
            if c.tag == XS + "element":
                slots.append(slot(c, nsmap, tns, rank, True))
            elif c.tag in (XS + "sequence", XS + "choice"):
                particle(c, nsmap, tns, slots, rank, True)
        rank += 1
    return rank


def slot(el, nsmap, tns, rank, optional):
    many = el.get("maxOccurs", "1") != "1"
    required = not optional and el.get("minOccurs", "1") != "0"
    if el.get("ref"):
        return (qn(el.get("ref"), nsmap), "", required, many, True, rank)
    t = el.get("type")
    return (tns + ":" + el.get("name"), qn(t, nsmap) if t else "", required, many, False, rank)


resolved = {}


def resolve(tname):
    """-> (simple, any_attr, attrs, slots) or None for types outside the schema set."""
    if tname in resolved:
        return resolved[tname]
    if tname not in types:
        return None
    node, nsmap, tns = types[tname]
    simple, any_attr, attrs, slots = False, False, [], []
    for c in node:
        if c.tag in (XS + "sequence", XS + "choice"):
            particle(c, nsmap, tns, slots, 0, False)
        elif c.tag in (XS + "complexContent", XS + "simpleContent"):
            simple = c.tag == XS + "simpleContent"
            for d in c:
                if d.tag not in (XS + "extension", XS + "restriction"):
                    continue
                base = qn(d.get("base"), nsmap)
                if d.tag == XS + "extension" and not base.startswith("xs:"):
                    b = resolve(base)
                    if b is None:
                        any_attr = True
                    else:
                        simple = simple or b[0]
                        any_attr = any_attr or b[1]
                        attrs.extend(b[2])
                        slots.extend(b[3])
                start = max([s[5] for s in slots], default=-1) + 1
                for e in d:
                    if e.tag in (XS + "sequence", XS + "choice"):
                        particle(e, nsmap, tns, slots, start, False)
                if not attr_list(d, nsmap, tns, attrs):
                    any_attr = True
    if not attr_list(node, nsmap, tns, attrs):
        any_attr = True
    if node.get("mixed") == "true":
        any_attr = True
    resolved[tname] = (simple, any_attr, sorted(set(attrs)), slots)
    return resolved[tname]


def rs(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


out = []
out.append("//! @generated by tools/gen_schema_table.py from shared/schemas/iso19139 (ISO 19139 2007-04-17 and")
out.append("//! ISO 19115-2 gmi schemas). Do not edit by hand; regenerate instead.")
out.append("")
out.append("use crate::sanitize::{Slot, TypeDef};")
out.append("")
out.append("/// Named complex types, sorted by name.")
out.append("pub(crate) static TYPES: &[TypeDef] = &[")
for tname in sorted(types):
    simple, any_attr, attrs, slots = resolve(tname)
    sl = ", ".join(
        "Slot { name: %s, ty: %s, required: %s, many: %s, is_ref: %s, rank: %d }"
        % (rs(n), rs(t), str(req).lower(), str(m).lower(), str(r).lower(), k)
        for (n, t, req, m, r, k) in slots
    )
    out.append(
        "    TypeDef { name: %s, simple: %s, any_attr: %s, attrs: &[%s], slots: &[%s] },"
        % (rs(tname), str(simple).lower(), str(any_attr).lower(), ", ".join(rs(a) for a in attrs), sl)
    )
out.append("];")
out.append("")
out.append("/// Global elements `(name, type, substitution group head)`, sorted by name.")
out.append("pub(crate) static ELEMENTS: &[(&str, &str, &str)] = &[")
for e in sorted(elements):
    t, s = elements[e]
    out.append("    (%s, %s, %s)," % (rs(e), rs(t), rs(s)))
out.append("];")
print("\n".join(out))

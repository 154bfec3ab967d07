"""Walk a THREDDS catalog tree with siphon, the way a siphon user would write it.

siphon's TDSCatalog reads one catalog and has no crawler of its own, so this follows every
catalogRef with a ThreadPoolExecutor and lists the datasets of each catalog (ID, urlPath and
access URLs, which siphon builds from the catalog's services). One request per catalog.

    python siphon_walk.py URL [--workers 16]

Prints one JSON object on stdout: catalogs read, datasets found, failures and a digest of the
sorted dataset names (to check that every crawler found the same datasets).
"""

import argparse
import concurrent.futures as cf
import hashlib
import json
import sys

from siphon.catalog import TDSCatalog


def visit(url):
    cat = TDSCatalog(url)
    datasets = []
    for ds in cat.datasets.values():
        datasets.append((ds.id, ds.name, ds.url_path, ds.access_urls.get("HTTPServer")))
    refs = [ref.href for ref in cat.catalog_refs.values()]
    return datasets, refs


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("url")
    ap.add_argument("--workers", type=int, default=16)
    args = ap.parse_args()

    seen = {args.url}
    names = []
    catalogs = 0
    failures = 0
    with cf.ThreadPoolExecutor(max_workers=args.workers) as pool:
        pending = {pool.submit(visit, args.url)}
        while pending:
            done, pending = cf.wait(pending, return_when=cf.FIRST_COMPLETED)
            for fut in done:
                try:
                    datasets, refs = fut.result()
                except Exception as exc:  # a failed catalog is counted, not fatal
                    failures += 1
                    print(f"siphon_walk: {exc}", file=sys.stderr)
                    continue
                catalogs += 1
                names.extend(d[1] for d in datasets)
                for ref in refs:
                    if ref not in seen:
                        seen.add(ref)
                        pending.add(pool.submit(visit, ref))
    digest = hashlib.sha256("\n".join(sorted(names)).encode()).hexdigest()[:16]
    print(json.dumps({"crawler": "siphon", "catalogs": catalogs, "datasets": len(names),
                      "failures": failures, "names_digest": digest}))


if __name__ == "__main__":
    main()

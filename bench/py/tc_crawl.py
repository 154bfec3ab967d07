"""Crawl a THREDDS catalog tree with thredds_crawler (pip install thredds_crawler).

    python tc_crawl.py URL [--workers 16]

`Crawl(url, workers=N)` is the library's documented entry point: it walks the catalogRefs with a
multiprocessing pool of N processes, then requests `catalog.xml?dataset=ID` once per leaf dataset
(to read its services, size and metadata) with the same pool. Prints one JSON object on stdout:
datasets found and a digest of their sorted names.
"""

import argparse
import hashlib
import json

from thredds_crawler.crawl import Crawl


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("url")
    ap.add_argument("--workers", type=int, default=16)
    args = ap.parse_args()

    crawl = Crawl(args.url, workers=args.workers)
    names = [d.name for d in crawl.datasets]
    digest = hashlib.sha256("\n".join(sorted(names)).encode()).hexdigest()[:16]
    with_services = sum(1 for d in crawl.datasets if d.services)
    print(json.dumps({"crawler": "thredds_crawler", "datasets": len(names),
                      "with_services": with_services, "names_digest": digest}))


if __name__ == "__main__":
    main()

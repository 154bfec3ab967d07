"""Harvest a THREDDS catalog tree into STAC with tds2stac, with its fastest settings.

tds2stac (KIT's THREDDS -> STAC harvester) walks the catalogRefs itself, one request at a time,
and reads each dataset's own catalog (`catalog.xml?dataset=ID`) before writing its STAC item.
Its fastest settings, used here: a web-service configuration that names no web service (no
NcML / ISO / WMS request per dataset), a fixed spatial extent (`spatial_information`, no
extent lookup) and the item time taken from the dataset name; no thumbnails, no extensions.
It has no concurrency setting.

    python tds2stac_run.py URL --out DIR

Prints one JSON object on stdout: the STAC items written. (Its item IDs are the dataset IDs with
every non-alphanumeric character replaced, and items have no title, so no digest of dataset
names comparable with the other crawlers' can be made; the count is compared.)
"""

import argparse
import json
import logging
import os
import sys
import tempfile

from tds2stac import TDS2STACIntegrator


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("url")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    logging.disable(logging.CRITICAL)
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump({}, f)
        no_services = f.name
    try:
        TDS2STACIntegrator(
            args.url,
            stac_dir=args.out,
            stac_id="bench",
            stac_description="tds2stac benchmark",
            webservice_properties={"web_service_config_file": no_services},
            spatial_information=[-180, 180, -90, 90],
            logger_properties={"logger_handler": "NullHandler"},
        )
    finally:
        os.unlink(no_services)
    items = 0
    for root, _dirs, files in os.walk(args.out):
        for name in files:
            if not name.endswith(".json"):
                continue
            with open(os.path.join(root, name)) as fh:
                if json.load(fh).get("type") == "Feature":
                    items += 1
    print(json.dumps({"crawler": "tds2stac", "datasets": items, "names_digest": "-"}))


if __name__ == "__main__":
    sys.exit(main())

"""``python -m satcle.serve --write-land``: regenerate the shipped base layer (`land.LAND_FILE`)."""

import json
import sys

from satcle.core.atomic import write_atomic

from .land import LAND_FILE, land_layer

if sys.argv[1:] != ["--write-land"]:
    sys.exit("usage: python -m satcle.serve --write-land")
write_atomic(LAND_FILE, (json.dumps(land_layer(), separators=(",", ":")) + "\n").encode())
print(f"wrote {LAND_FILE} ({LAND_FILE.stat().st_size:,} bytes)")

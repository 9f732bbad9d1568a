"""Helpers the tests import by name (`from support import ...`); fixtures live in conftest.py.

A module of its own name: `tests/build_grid/conftest.py` would shadow `conftest` for a
test collected after it.
"""

from pathlib import Path

import numpy as np
import pytest


def needs_data(folder: Path | None, what: str):
    """Mark a test that reads `folder` (`what` names it): skipped where the folder is missing,
    a failure there when $SATCLE_REQUIRE_DATA is 1."""
    return pytest.mark.needs_data(folder=folder, what=what)


def write_s2_folder(root, count=3, bands=12):
    """An S2-100K-layout folder of `count` random 16 x 16 LZW GeoTIFFs; point i at (10 i, -20 i) degrees, wrapped."""
    import tifffile

    (root / "images").mkdir(parents=True)
    lines = ["lat,lon,fn"]
    rng = np.random.default_rng(0)
    for i in range(count):
        data = rng.integers(0, 12000, size=(16, 16, bands), dtype=np.uint16)
        tifffile.imwrite(root / "images" / f"patch_{i}.tif", data, compression="lzw")
        lines.append(f"{(10.0 * i + 90) % 180 - 90},{(-20.0 * i - 180) % 360 - 180},patch_{i}.tif")
    (root / "index.csv").write_text("\n".join(lines) + "\n")


def write_document(grid_dir, document):
    """Write a manifest's JSON object as ``manifest.json`` with its ``manifest_checksum``
    recomputed, as a crafted grid (or a buggy writer) would: only what the manifest
    says is then wrong."""
    import json

    from satcle.grid.format.store import MANIFEST_CHECKSUM_FIELD, MANIFEST_FILE, manifest_checksum

    document = {k: v for k, v in document.items() if k != MANIFEST_CHECKSUM_FIELD}
    document[MANIFEST_CHECKSUM_FIELD] = manifest_checksum(document)
    (grid_dir / MANIFEST_FILE).unlink(missing_ok=True)   # a new file: never written through a hard link
    (grid_dir / MANIFEST_FILE).write_text(json.dumps(document))

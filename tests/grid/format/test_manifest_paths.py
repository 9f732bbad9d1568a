"""A manifest from an untrusted directory cannot make satcle read files outside it."""

import json
import os

import numpy as np
import pytest
from typer.testing import CliRunner

import satcle
from build_grid.cli import app
from build_grid.engine import write_cells
from support import write_document
from satcle import open_grid
from satcle.core.errors import GridFormatError
from satcle.geo.h3_cells import cells_at_resolution
from satcle.grid.format.store import DUCKDB_FILE, MANIFEST_FILE, Manifest, read_manifest
from satcle.grid.format.verify import verify_grid

runner = CliRunner()


@pytest.fixture(scope="module")
def encoder(tiny_grid):
    return tiny_grid[1]


@pytest.fixture
def grid_and_secret(tmp_path, encoder):
    """A sound grid, and a valid partition file outside it (a copy of one of its own)."""
    path = write_cells(tmp_path / "grid", encoder, cells_at_resolution(0)[:4], error_bound=False)
    secret = tmp_path / "elsewhere" / "secret.parquet"
    secret.parent.mkdir()
    secret.write_bytes((path / read_manifest(path).partitions[0].file).read_bytes())
    return path, secret


def point_first_partition_at(grid_dir, file):
    document = json.loads((grid_dir / MANIFEST_FILE).read_text())
    old = document["partitions"][0]["file"]
    document["partitions"][0]["file"] = file
    document["checksums"][file] = document["checksums"].pop(old)   # as a builder writing `file` would
    write_document(grid_dir, document)


def del_checksum(grid_dir, file):
    document = json.loads((grid_dir / MANIFEST_FILE).read_text())
    del document["checksums"][file]
    write_document(grid_dir, document)


def escaping_paths(grid_dir, secret):
    return [str(secret), os.path.relpath(secret, grid_dir), "partitions/../../elsewhere/secret.parquet",
            "partitions\\..\\..\\elsewhere\\secret.parquet", "C:/elsewhere/secret.parquet", ""]


def test_escaping_paths_are_refused_by_every_reader(grid_and_secret, encoder):
    grid_dir, secret = grid_and_secret
    for file in escaping_paths(grid_dir, secret):
        point_first_partition_at(grid_dir, file)
        for read in (read_manifest, verify_grid, lambda d: open_grid(d, encoder=encoder), satcle.connect):
            with pytest.raises(GridFormatError, match="partition file .* relative path inside|is not a path"):
                read(grid_dir)
        with pytest.raises(GridFormatError, match="relative path inside|is not a path"):
            Manifest.from_json((grid_dir / MANIFEST_FILE).read_text())   # the resumed build's reader too


def test_symbolic_link_out_of_the_grid_is_refused(grid_and_secret, encoder):
    grid_dir, secret = grid_and_secret
    (grid_dir / "partitions" / "link.parquet").symlink_to(secret)
    point_first_partition_at(grid_dir, "partitions/link.parquet")
    for read in (read_manifest, verify_grid, lambda d: open_grid(d, encoder=encoder)):
        with pytest.raises(GridFormatError, match="'partitions/link.parquet' resolves outside the grid directory"):
            read(grid_dir)


def test_verify_cli_names_the_entry_and_prints_no_hash(grid_and_secret):
    grid_dir, secret = grid_and_secret
    point_first_partition_at(grid_dir, str(secret))
    result = runner.invoke(app, ["verify", str(grid_dir)])
    assert result.exit_code == 2
    assert "relative path inside the grid directory" in result.output and str(secret) in result.output
    assert "sha256" not in result.output and "Traceback" not in result.output


def test_paths_inside_the_grid_still_work(grid_and_secret, encoder):
    grid_dir, _ = grid_and_secret
    first = read_manifest(grid_dir).partitions[0].file
    (grid_dir / DUCKDB_FILE).unlink()   # its view is checked against the manifest, which this test edits
    del_checksum(grid_dir, DUCKDB_FILE)
    point_first_partition_at(grid_dir, "./" + first)
    assert verify_grid(grid_dir) == []
    assert open_grid(grid_dir, encoder=encoder).lookup([0.0], [0.0]).shape == (1, 8)
    # A symbolic link that stays inside the grid is fine.
    (grid_dir / "partitions" / "inside.parquet").symlink_to(grid_dir / first)
    point_first_partition_at(grid_dir, "partitions/inside.parquet")
    assert verify_grid(grid_dir) == []
    assert np.isfinite(open_grid(grid_dir, encoder=encoder).lookup([0.0], [0.0])).all()

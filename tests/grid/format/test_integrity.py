"""A damaged, mixed or planted grid is refused by the default open and named by
`satcle-grid verify`, never served: checksums of every file, Parquet page
checksums, the partitions' own identity, per-cell values, the satcle.duckdb view."""

import dataclasses
import json
import shutil

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from typer.testing import CliRunner

from build_grid.cli import app
from build_grid.engine import write_cells
from satcle import EncoderConfig, LocationEncoder, open_grid
from satcle.core.checksum import file_checksum
from satcle.core.errors import GridFormatError
from satcle.geo.h3_cells import cells_at_resolution
from satcle.grid.format.store import DUCKDB_FILE, MANIFEST_FILE, read_manifest
from satcle.grid.format.verify import verify_grid

runner = CliRunner()


def small_encoder(sha):
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(5)
        encoder = LocationEncoder(EncoderConfig(legendre_degree=3, hidden_dim=16, output_dim=8))
    encoder.metadata.update(name="test", sha256=sha)
    return encoder


@pytest.fixture(scope="module")
def encoder():
    return small_encoder("0" * 64)


@pytest.fixture(scope="module")
def built(tmp_path_factory, encoder):
    """A float16 grid with error bounds: every res-1 cell under 4 res-0 parents."""
    cells = cells_at_resolution(1)
    return write_cells(tmp_path_factory.mktemp("built") / "grid", encoder, cells, error_bound=True)


@pytest.fixture
def grid(built, tmp_path):
    """A fresh copy of the built grid, to damage."""
    return shutil.copytree(built, tmp_path / "grid")


def column_chunk(path, name):
    """(offset, size) of column `name`'s bytes (its first row group) in a Parquet file."""
    metadata = pq.ParquetFile(path).metadata.row_group(0)
    chunk = next(metadata.column(i) for i in range(metadata.num_columns)
                 if metadata.column(i).path_in_schema.split(".")[0] == name)
    return chunk.data_page_offset, chunk.total_compressed_size


def rewrite_manifest(grid, **changes):
    manifest = dataclasses.replace(read_manifest(grid), **changes)
    (grid / MANIFEST_FILE).write_text(manifest.to_json())


@pytest.mark.parametrize("column", ["embedding", "lat", "interp_error"])
def test_flipped_bytes_are_caught_by_the_default_open(grid, encoder, column):
    part = read_manifest(grid).partitions[3].file
    path = grid / part
    offset, size = column_chunk(path, column)
    data = bytearray(path.read_bytes())
    if column == "embedding":
        # The attack: two stored float16 values made 60000 and NaN (uncompressed page, last values).
        end = offset + size
        data[end - 4: end] = np.array([60000, np.nan], dtype=np.float16).tobytes()
    else:
        data[offset + size - 2] ^= 0x10   # in the page's data (its header, with statistics, has no CRC)
    path.write_bytes(bytes(data))
    with pytest.raises(GridFormatError, match=f"{part} is corrupt: checksum"):
        open_grid(grid, encoder=encoder)
    problems = verify_grid(grid)
    assert problems and all(part in p for p in problems)
    # Page checksums: a Parquet reader that verifies them refuses the page too.
    with pytest.raises(OSError, match="CRC"):
        pq.read_table(path, page_checksum_verification=True)


def test_every_listed_file_is_checked_generically(grid, encoder):
    """A file another part of the builder lists (e.g. an index) is checked by the same mechanism."""
    (grid / "extra.bin").write_bytes(b"\x00" * 1000)
    manifest = read_manifest(grid)
    rewrite_manifest(grid, checksums={**manifest.checksums, "extra.bin": file_checksum(grid / "extra.bin")})
    open_grid(grid, encoder=encoder)
    (grid / "extra.bin").write_bytes(b"\x00" * 999 + b"\x01")
    with pytest.raises(GridFormatError, match="extra.bin is corrupt"):
        open_grid(grid, encoder=encoder)
    (grid / "extra.bin").unlink()
    with pytest.raises(GridFormatError, match="extra.bin: listed in the manifest but missing"):
        open_grid(grid, encoder=encoder)


def test_non_finite_partition_values_written_with_matching_checksums_are_named_by_verify(grid, encoder):
    """A partition whose checksum was recomputed over bad values (a buggy or hostile writer):
    the open reads the lookup files, not the partitions' values; verify names a NaN centre,
    a negative bound and a NaN embedding."""
    manifest = read_manifest(grid)
    part = manifest.partitions[0]
    table = pq.read_table(grid / part.file)

    def replace_and_record(name, values):
        column = table.schema.get_field_index(name)
        bad = table.set_column(column, table.schema.field(name), values)
        pq.write_table(bad, grid / part.file)
        rewrite_manifest(grid, checksums={**manifest.checksums, part.file: file_checksum(grid / part.file)})

    lat = table.column("lat").to_numpy().copy()
    lat[2] = np.nan
    replace_and_record("lat", pa.array(lat))
    assert any("bad lat" in p for p in verify_grid(grid))

    bound = table.column("interp_error").to_numpy().copy()
    bound[1] = -1.0
    replace_and_record("interp_error", pa.array(bound))
    assert any("bad interp_error" in p for p in verify_grid(grid))

    values = table.column("embedding").combine_chunks()
    flat = values.flatten().to_numpy().copy()
    flat[5] = np.nan
    replace_and_record("embedding", pa.FixedSizeListArray.from_arrays(pa.array(flat), values.type.list_size))
    assert any(f"{part.file}: 1 rows with non-finite embedding values" in p for p in verify_grid(grid))


def test_non_finite_lookup_values_written_with_matching_checksums_are_caught(grid, built, encoder):
    """The same for the lookup files, which the open maps: a NaN centre and a negative
    bound are refused by the open, and verify names them and a NaN embedding."""
    manifest = read_manifest(grid)

    def replace_and_record(name, change):
        file = next(f.file for f in manifest.lookup.files if f.name == name)
        array = np.load(built / file)
        change(array)
        (grid / file).unlink()
        np.save(grid / file, array)
        rewrite_manifest(grid, checksums={**manifest.checksums, file: file_checksum(grid / file)})
        return file

    def restore(file):
        shutil.copyfile(built / file, grid / file)
        rewrite_manifest(grid, checksums=manifest.checksums)

    file = replace_and_record("lat", lambda lat: lat.__setitem__(2, np.nan))
    with pytest.raises(GridFormatError, match="1 cells have a bad lat"):
        open_grid(grid, encoder=encoder)
    assert any(p.startswith(f"{file}: 1 cells have a bad lat") for p in verify_grid(grid))
    restore(file)

    file = replace_and_record("interp_error", lambda bound: bound.__setitem__(1, -1.0))
    with pytest.raises(GridFormatError, match="1 cells have a bad interp_error"):
        open_grid(grid, encoder=encoder)
    assert any(p.startswith(f"{file}: 1 cells have a bad interp_error") for p in verify_grid(grid))
    restore(file)

    file = replace_and_record("values", lambda values: values.__setitem__((5, 3), np.nan))
    assert any(p.startswith(f"{file}: 1 rows with non-finite embedding values (row 5)") for p in verify_grid(grid))


def test_cell_index_out_of_bounds_with_matching_checksum_is_caught_by_verify(grid, built):
    """A neighbour row past the last cell, its file's checksum recorded: the
    compiled search would read outside memory; verify names the index."""
    manifest = read_manifest(grid)
    file = next(f.file for f in manifest.lookup.files if f.name == "neighbours")
    neighbours = np.load(built / file)
    neighbours[3, 2] = manifest.total_cells
    (grid / file).unlink()
    np.save(grid / file, neighbours)
    rewrite_manifest(grid, checksums={**manifest.checksums, file: file_checksum(grid / file)})
    assert any("corrupt cell index: a neighbour row outside" in p for p in verify_grid(grid))


def plant_partition_of_another_model(grid, tmp_path):
    """Replace the grid's second partition by one written for another model, its checksums
    recorded in the manifest (as two builds mixed in one directory would leave); its file name."""
    other = write_cells(tmp_path / "other", small_encoder("1" * 64), cells_at_resolution(1), error_bound=True)
    manifest = read_manifest(grid)
    part = manifest.partitions[1]
    shutil.copyfile(other / part.file, grid / part.file)
    rewrite_manifest(grid, checksums={**manifest.checksums, part.file: file_checksum(grid / part.file)})
    return part.file


def test_partition_of_another_model_is_refused(grid, encoder, tmp_path):
    """A manifest over a partition written for another model, checksums and all: the
    partitions' own metadata disagree."""
    file = plant_partition_of_another_model(grid, tmp_path)
    with pytest.raises(GridFormatError, match=f"{file} belongs to another grid: its satcle_model_sha256"):
        open_grid(grid, encoder=encoder)
    assert any("belongs to another grid" in p for p in verify_grid(grid))


def planted_database(path, secret):
    """A satcle.duckdb whose `satcle` view returns a local file's content."""
    path.unlink()
    with duckdb.connect(str(path)) as con:
        con.execute(f"CREATE VIEW satcle AS SELECT 0::UBIGINT AS h3, 0.0 AS lat, 0.0 AS lon, content AS embedding "
                    f"FROM read_text('{secret}')")


def test_planted_duckdb_is_caught_by_verify(grid, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("password")
    assert verify_grid(grid) == []
    planted_database(grid / DUCKDB_FILE, secret)
    problems = verify_grid(grid)
    assert any(f"{DUCKDB_FILE} is corrupt: checksum" in p for p in problems)
    assert any("not the one the builder writes for this manifest" in p for p in problems)
    # Even with the manifest's checksum made to match the planted file, its definition gives it away.
    rewrite_manifest(grid, checksums={**read_manifest(grid).checksums, DUCKDB_FILE: file_checksum(grid / DUCKDB_FILE)})
    problems = verify_grid(grid)
    assert len(problems) == 1 and "not the one the builder writes" in problems[0]
    result = runner.invoke(app, ["verify", str(grid)])
    assert result.exit_code == 1 and "do not open it" in result.output
    # Garbage bytes under the name.
    (grid / DUCKDB_FILE).write_bytes(b"\x00" * 4096)
    assert any(f"{DUCKDB_FILE} is unreadable" in p for p in verify_grid(grid))


def test_duckdb_with_an_extra_macro_is_caught(grid, built):
    """The builder's own view plus a macro: the view is right, the file is not."""
    database = grid / DUCKDB_FILE
    with duckdb.connect(str(database)) as con:
        con.execute("CREATE MACRO helper(x) AS x + 1")
    problems = verify_grid(grid)
    assert any("holds objects the builder never writes (macro helper)" in p for p in problems)


def test_duckdb_with_another_similar_macro_is_caught(grid, built):
    """The builder's macro name over another body (it could read any file when called)."""
    with duckdb.connect(str(grid / DUCKDB_FILE)) as con:
        con.execute("CREATE OR REPLACE MACRO satcle_similar(cell, k) AS TABLE SELECT * FROM read_text('/etc/hostname')")
    problems = verify_grid(grid)
    assert any("satcle_similar macro is not the one the builder writes" in p for p in problems)


def test_the_builders_database_passes_and_matches_the_manifest(built):
    assert verify_grid(built) == []
    result = runner.invoke(app, ["verify", str(built)])
    manifest = read_manifest(built)
    assert result.exit_code == 0, result.output
    lookup_files = {f.file for f in manifest.lookup.files}
    assert f"the manifest and all {len(manifest.checksums)} files it lists match" in result.output
    assert set(manifest.checksums) == {p.file for p in manifest.partitions} | lookup_files | {DUCKDB_FILE}
    # The view (which checks the manifest's sha256 less its own checksum) still answers.
    with duckdb.connect(str(built / DUCKDB_FILE), read_only=True) as con:
        con.execute(f"SET file_search_path = '{built}'")
        assert con.execute("SELECT count(*) FROM satcle").fetchone()[0] == manifest.total_cells


def test_grid_of_another_format_is_refused_in_one_line_naming_its_writer_and_the_rebuild(grid, encoder):
    """Format 1 (no manifest checksum, partitions with a sha256): one line naming the
    satcle that wrote it, its format and the command that rebuilds it; verify and the
    command line say the same, exit 2."""
    document = json.loads((grid / MANIFEST_FILE).read_text())
    document.update(format_version=1, library_version="0.0.9")
    del document["manifest_checksum"]
    (grid / MANIFEST_FILE).write_text(json.dumps(document))
    with pytest.raises(GridFormatError, match=r"written by satcle 0\.0\.9, format 1; this satcle .* reads format 2 "
                                              r"only; rebuild it with `satcle-grid build --res 1 --coverage global "
                                              r"--dtype float16 --model test --out "):
        open_grid(grid, encoder=encoder)
    with pytest.raises(GridFormatError, match="written by satcle 0.0.9, format 1"):
        verify_grid(grid)
    result = runner.invoke(app, ["info", str(grid)])
    assert result.exit_code == 2 and "format 1" in result.output and "Traceback" not in result.output

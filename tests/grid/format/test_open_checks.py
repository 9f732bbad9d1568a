"""A grid from anywhere never crashes the process or serves another grid's data: every
array the compiled kernels index is checked at open (with or without checksums), the
manifest carries its own checksum, pyramid levels are checked when read, and paths reach
DuckDB as data. Crafted grids are opened in a subprocess: a crash there fails the test
instead of the test run."""

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from typer.testing import CliRunner

import satcle
from build_grid.cli import app
from build_grid.engine import write_cells
from support import write_document
from satcle import EncoderConfig, LocationEncoder, open_grid
from satcle.core.checksum import file_checksum
from satcle.core.errors import GridFormatError
from satcle.geo.h3_cells import cells_at_resolution
from satcle.grid.format.index_layout import INDEX_ARRAYS
from satcle.grid.format.lookup_files import lookup_file
from satcle.grid.format.store import MANIFEST_FILE, pyramid_file, read_manifest
from satcle.grid.format.verify import verify_grid
from satcle.grid.lookup.shared_grids import clear_shared_grids
from satcle.grid.similar_cells import most_similar_cells
from satcle.grid.sql import shell_sql

runner = CliRunner()


def small_encoder(seed):
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        encoder = LocationEncoder(EncoderConfig(legendre_degree=3, hidden_dim=16, output_dim=8))
    encoder.metadata.update(name="test", sha256=f"{seed:064d}")
    return encoder


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """A res-1 grid of every cell (odd resolution: cells with more than 6 vertices, so
    the fan arrays are used), with error bounds and a pyramid."""
    return write_cells(tmp_path_factory.mktemp("built") / "grid", small_encoder(5), cells_at_resolution(1),
                       error_bound=True, pyramid=True)


def linked_copy(built, target):
    """A copy of the grid whose files are hard links (cheap); replace a file by
    unlinking it first (`replace_file`), never by writing through the link."""
    shutil.copytree(built, target, copy_function=os.link)
    return target


def replace_file(path, data):
    path.unlink()
    path.write_bytes(data)


def record_checksum(grid, file):
    """The manifest rewritten with `file`'s current checksum (and its own recomputed): a crafted grid."""
    document = json.loads((grid / MANIFEST_FILE).read_text())
    document["checksums"][file] = file_checksum(grid / file)
    write_document(grid, document)


def crafted_array(built, target, name, change):
    """A grid whose lookup array `name` is `change(array)`, written as a valid .npy with
    its checksum recorded in a manifest whose own checksum matches."""
    grid = linked_copy(built, target)
    array = np.load(built / lookup_file(name))
    changed = change(array.copy())
    path = grid / lookup_file(name)
    path.unlink()
    np.save(path, changed)
    record_checksum(grid, lookup_file(name))
    return grid


# In a subprocess: open each grid given and look up points in it; one line per grid,
# "refused: <message>" or "served: <rows checked>", each answer checked to be the blend
# of stored rows that the kernel's own triangle and weights name.
CHECKER = textwrap.dedent('''
    import sys
    import numpy as np
    import satcle
    from satcle.core.errors import GridFormatError
    from satcle._ext.grid_locate import MISS

    rng = np.random.default_rng(0)
    z = rng.uniform(-1, 1, 400)
    lats = np.concatenate([np.degrees(np.arcsin(z)), [90.0, -90.0, 0.0, 45.0]])
    lons = np.concatenate([rng.uniform(-180, 180, 400), [0.0, 180.0, -180.0, 179.999]])
    verify = sys.argv[1] == "verify"
    for path in sys.argv[2:]:
        try:
            grid = satcle.open_grid(path, verify_checksums=verify)
            out = grid.lookup(lats, lons, on_miss="nan")
            cells = grid.lookup(lats, lons, method="cell", on_miss="nan")
            coarse = [grid.lookup(lats, lons, res=r, on_miss="nan") for r in grid.stored_resolutions]
        except GridFormatError as exc:
            print("refused:", str(exc).replace("\\n", " "), flush=True)
            continue
        values = grid.table.values.astype(np.float32)
        if grid.table.scale is not None:
            values *= grid.table.scale[:, None]
        cell_rows, rows, weights = grid.locate(lats, lons, interp=True, exact_cell=False)
        inside = cell_rows != MISS
        assert ((rows[inside] >= 0) & (rows[inside] < grid.num_cells)).all(), "a row outside the table"
        assert (weights[inside] >= 0).all() and np.allclose(weights[inside].sum(axis=1), 1, atol=1e-5)
        blend = np.einsum("nk,nkd->nd", weights[inside], values[rows[inside]])
        assert np.allclose(out[inside], blend, atol=1e-4, equal_nan=True), "an answer that is not a blend"
        assert np.isnan(out[~inside]).all()
        assert np.isfinite(cells[~np.isnan(cells).any(axis=1)]).all() and all(c.shape == out.shape for c in coarse)
        print("served:", int(inside.sum()), flush=True)
''')


def run_checker(paths, *, verify=True, timeout=300):
    """(one line per path, stderr) of the checker over `paths`; fails on a crash (a
    signal), a hang (the timeout) or a failed check."""
    done = subprocess.run([sys.executable, "-c", CHECKER, "verify" if verify else "no-verify", *map(str, paths)],
                          capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, (f"checker ended with {done.returncode}"
                                  f"{' (signal ' + signal.Signals(-done.returncode).name + ')' if done.returncode < 0 else ''}"
                                  f": {done.stderr[-2000:]}")
    lines = done.stdout.splitlines()
    assert len(lines) == len(paths), done.stdout + done.stderr
    return lines


# Each index array made to point far outside what it indexes (or not finite), as the
# issue's attacks did: all rows 2,000,000,000, negative rows, NaN coordinates.
CRAFTED = {
    "bucket_rows": lambda a: np.full_like(a, 2_000_000_000),
    "bucket_offsets": lambda a: np.where(np.arange(a.size) == a.size // 2, 2_000_000_000, a).astype(a.dtype),
    "neighbours": lambda a: np.where(a >= 0, 2_000_000_000, a).astype(a.dtype),
    "cell_vertices": lambda a: np.full_like(a, 2_000_000_000),
    "vertices": lambda a: np.full_like(a, np.nan),
    "centres": lambda a: np.where(np.arange(a.size).reshape(a.shape) == 7, np.inf, a).astype(a.dtype),
    "fan_offsets": lambda a: np.full_like(a, 2_000_000_000),
    "fan_vertex_ids": lambda a: np.full_like(a, 2_000_000_000),
}
NEGATIVE = {
    "neighbours": lambda a: np.where(a >= 0, -5, a).astype(a.dtype),
    "bucket_rows": lambda a: -a - 1,
    "cell_vertices": lambda a: np.full_like(a, -3),
}
WRONG_DTYPE = {name: (lambda a: a.astype(np.int64 if a.dtype == np.int32 else np.float64)) for name in INDEX_ARRAYS}


def test_crafted_index_arrays_with_matching_checksums_are_refused_not_crashing(built, tmp_path):
    """Every index array, crafted three ways (out of range or not finite, negative, another
    dtype), its checksum recorded: each open is refused in one line naming the grid, the
    file and the fix, with and without checksum verification; nothing crashes."""
    assert set(CRAFTED) == set(INDEX_ARRAYS)
    cases = [(name, kind, change) for kind, changes in (("range", CRAFTED), ("negative", NEGATIVE),
                                                        ("dtype", WRONG_DTYPE))
             for name, change in changes.items()]
    paths = [crafted_array(built, tmp_path / f"{name}-{kind}", name, change) for name, kind, change in cases]
    for verify in (True, False):
        for (name, kind, _), path, line in zip(cases, paths, run_checker(paths, verify=verify)):
            assert line.startswith(f"refused: {path}: {lookup_file(name)}"), (name, kind, line)
            assert "rebuild it with `satcle-grid build" in line, line


def test_the_issues_attack_segfaulted_and_now_is_refused_with_the_file_named(built, tmp_path):
    """bucket_rows all 2,000,000,000 with its checksum recorded (the issue's reproduction):
    `open_grid(D).lookup([48.85], [2.35])` raises GridFormatError here, in this process."""
    grid = crafted_array(built, tmp_path / "g", "bucket_rows", CRAFTED["bucket_rows"])
    with pytest.raises(GridFormatError, match=r"lookup/bucket_rows.npy: corrupt cell index: a candidate row "
                                              r"outside \[0, 842\); rebuild it with `satcle-grid build"):
        satcle.open_grid(grid, verify_checksums=False).lookup([48.85], [2.35])
    assert any("lookup/bucket_rows.npy: corrupt cell index" in p for p in verify_grid(grid))


def test_nan_vertices_cannot_make_the_cell_method_answer_another_cell(built, tmp_path):
    """NaN in vertices.npy, checksum recorded: refused at open, not a wrong cell's row."""
    grid = crafted_array(built, tmp_path / "g", "vertices",
                         lambda v: np.where(np.arange(v.size).reshape(v.shape) == 0, np.nan, v).astype(v.dtype))
    with pytest.raises(GridFormatError, match="lookup/vertices.npy: corrupt cell index: a value that is not finite"):
        open_grid(grid)


def manifest_edits():
    """The issue's manifest edits, as text replacements of manifest.json."""
    return {
        "lat0": lambda d: d["lookup"]["index"].update(lat0=d["lookup"]["index"]["lat0"] + 10.0),
        "delta": lambda d: d["lookup"]["index"].update(delta=d["lookup"]["index"]["delta"] * 1.1),
        "n_lat": lambda d: d["lookup"]["index"].update(n_lat=d["lookup"]["index"]["n_lat"] + 1),
        "pyramid resolution": lambda d: d["pyramid"][0].update(resolution=2),
        "dim": lambda d: d.update(dim=d["dim"] + 1),
        "dtype": lambda d: d.update(dtype="float32"),
        "a checksum": lambda d: d["checksums"].update({lookup_file("h3"): "xxh3_128:" + "0" * 32}),
        "resolution": lambda d: d.update(resolution=2),
    }


@pytest.mark.parametrize("edit", list(manifest_edits()))
def test_each_manifest_edit_is_refused_by_open_and_verify(built, tmp_path, edit):
    grid = linked_copy(built, tmp_path / "g")
    document = json.loads((grid / MANIFEST_FILE).read_text())
    manifest_edits()[edit](document)
    (grid / MANIFEST_FILE).unlink()
    (grid / MANIFEST_FILE).write_text(json.dumps(document, indent=2, sort_keys=True))   # the checksum kept
    message = f"{grid / MANIFEST_FILE}: manifest_checksum .* does not match the manifest's content"
    with pytest.raises(GridFormatError, match=message):
        open_grid(grid)
    with pytest.raises(GridFormatError, match=message):
        verify_grid(grid)
    result = runner.invoke(app, ["verify", str(grid)])
    assert result.exit_code == 2 and "manifest_checksum" in result.output and "Traceback" not in result.output


def test_manifest_edits_with_the_checksum_recomputed_are_refused_or_harmless(built, tmp_path):
    """A crafted manifest (its checksum recomputed): the edits that would serve wrong rows
    are refused by what the files say (shapes, the pyramid's own cells); the raster's
    constants can only make points miss, never read outside the arrays (the fuzz test)."""
    # What the default open says (the partitions' footers first), and what it says without checksums.
    refused = {
        "n_lat": ("lookup/bucket_offsets.npy: corrupt cell index: .* offsets for n_lat x n_lon",) * 2,
        "dim": ("belongs to another grid: its satcle_dim is '8', the manifest's '9'", "lookup/values.npy holds"),
        "dtype": ("its satcle_dtype is 'float16'", "lookup/values.npy holds float16"),
        "a checksum": ("lookup/h3.npy is corrupt: checksum", None),
        "resolution": ("belongs to another grid: its satcle_resolution", None),
        "pyramid resolution": ("pyramid level pyramid/r0.parquet: cells of another resolution than 2",) * 2,
    }
    for edit, messages in refused.items():
        grid = linked_copy(built, tmp_path / edit.replace(" ", "-"))
        document = json.loads((grid / MANIFEST_FILE).read_text())
        manifest_edits()[edit](document)
        write_document(grid, document)
        for verify, message in zip((True, False), messages):
            clear_shared_grids()
            if message is None:   # nothing the kernels read is wrong: served as the files say
                open_grid(grid, verify_checksums=verify).lookup([10.0], [20.0], on_miss="nan")
                continue
            with pytest.raises(GridFormatError, match=message):
                open_grid(grid, verify_checksums=verify).lookup([10.0], [20.0], res=2, on_miss="nan")


def test_a_pyramid_file_swapped_after_open_is_not_served(built, tmp_path):
    grid_dir = linked_copy(built, tmp_path / "g")
    grid = open_grid(grid_dir)
    level = pyramid_file(0)
    table = pq.read_table(grid_dir / level)
    values = np.stack(table.column("embedding").to_numpy(zero_copy_only=False))
    flipped = pa.FixedSizeListArray.from_arrays(pa.array((-values).reshape(-1)), values.shape[1])
    negated = table.set_column(3, table.schema.field("embedding"), flipped)   # a valid level, other values
    (grid_dir / level).unlink()
    pq.write_table(negated, grid_dir / level)
    with pytest.raises(GridFormatError, match=rf"pyramid level {level} is corrupt: checksum .* \(replaced or "
                                              r"damaged since the grid was written\); rebuild it with"):
        grid.lookup([48.85], [2.35], res=0)
    # The level as written is served (and kept) once the file is back.
    replace_file(grid_dir / level, (built / level).read_bytes())
    assert np.isfinite(grid.lookup([48.85], [2.35], res=0)).all()


def test_a_folder_named_with_glob_characters_reads_its_own_files(built, tmp_path):
    """`g[3]` (a copy of one grid) beside `g3` (a grid of another model): every SQL entry
    point over `g[3]` returns g[3]'s rows, which DuckDB's glob would have read from g3."""
    bracket = shutil.copytree(built, tmp_path / "g[3]")
    other = write_cells(tmp_path / "g3", small_encoder(6), cells_at_resolution(1), error_bound=True, pyramid=True)
    cell = int(pq.read_table(built / read_manifest(built).partitions[0].file).column("h3")[0].as_py())
    mine = np.asarray(pq.read_table(bracket / read_manifest(bracket).partitions[0].file)
                      .column("embedding")[0].as_py(), dtype=np.float32)
    theirs = np.asarray(pq.read_table(other / read_manifest(other).partitions[0].file)
                        .column("embedding")[0].as_py(), dtype=np.float32)
    assert not np.allclose(mine, theirs)
    query = f"SELECT embedding FROM satcle WHERE h3 = {cell}"
    # satcle.connect (and so `satcle-grid query`)
    rows = satcle.connect(bracket).execute(query).fetchall()
    assert len(rows) == 1 and np.allclose(rows[0][0], mine, atol=1e-3)
    result = runner.invoke(app, ["query", str(bracket), f"SELECT count(*) AS n FROM satcle WHERE h3 = {cell}"])
    assert result.exit_code == 0 and "1" in result.output
    # the statements `satcle-grid sql` gives the DuckDB shell
    with duckdb.connect() as con:
        for statement in shell_sql(bracket).split(";\n"):
            if statement.strip():
                con.execute(statement)
        (row,) = con.execute(query).fetchall()
        assert np.allclose(row[0], mine, atol=1e-3)
    # the grid's own satcle.duckdb, from anywhere with the search path set
    with duckdb.connect(str(bracket / "satcle.duckdb"), read_only=True) as con:
        con.execute(f"SET file_search_path = '{bracket}'")
        (row,) = con.execute(query).fetchall()
        assert np.allclose(row[0], mine, atol=1e-3)
    # satcle-grid similar: ranked within g[3] (the query cell's own similarity is 1)
    first = pq.read_table(bracket / read_manifest(bracket).partitions[0].file)
    lat, lon = first.column("lat")[0].as_py(), first.column("lon")[0].as_py()
    similar, _ = most_similar_cells(bracket, lat, lon, 3)
    assert similar.h3[0] == cell and similar.similarity[0] == pytest.approx(1.0, abs=1e-5)


FUZZ_CASES = 200


def fuzzed(built, target, rng):
    """A copy of the grid with one random byte of one index file or of the manifest
    changed, every checksum recomputed to match: (grid, what was changed)."""
    grid = linked_copy(built, target)
    manifest = read_manifest(built)
    files = [lookup_file(name) for name in INDEX_ARRAYS] + [MANIFEST_FILE]
    file = files[int(rng.integers(len(files)))]
    data = bytearray((built / file).read_bytes())
    at = int(rng.integers(len(data)))
    data[at] = (data[at] + int(rng.integers(1, 256))) % 256
    if file == MANIFEST_FILE:
        try:
            document = json.loads(data.decode())
        except (UnicodeDecodeError, ValueError):
            replace_file(grid / file, bytes(data))   # no longer JSON: refused as corrupt
        else:
            (grid / file).unlink()
            if isinstance(document, dict):
                write_document(grid, document)
            else:
                (grid / file).write_text(json.dumps(document))
    else:
        replace_file(grid / file, bytes(data))
        document = json.loads(manifest.to_json())
        document["checksums"][file] = file_checksum(grid / file)
        (grid / MANIFEST_FILE).unlink()
        write_document(grid, document)
    return grid, f"{file}[{at}]"


def test_fuzzed_index_files_and_manifests_never_crash_hang_or_serve_other_rows(built, tmp_path):
    """200 random single-byte changes to the index files and the manifest, checksums
    recomputed: opened and looked up (every method and stored resolution) in one
    subprocess: no crash, no hang; each refused with a GridFormatError, or every
    answer the blend of stored rows the kernel's triangle names (`CHECKER`)."""
    rng = np.random.default_rng(2026)
    cases = [fuzzed(built, tmp_path / f"case{i}", rng) for i in range(FUZZ_CASES)]
    lines = run_checker([grid for grid, _ in cases], timeout=600)
    refused = [line for line in lines if line.startswith("refused:")]
    served = [line for line in lines if line.startswith("served:")]
    assert len(refused) + len(served) == FUZZ_CASES
    for (grid, change), line in zip(cases, lines):
        if line.startswith("refused:"):
            assert str(grid) in line and ("rebuild" in line or "re-run" in line), (change, line)   # where, the fix
    assert refused and served   # both outcomes occur: the changes reach the checks and the kernels
    print(f"{len(refused)} refused, {len(served)} served")

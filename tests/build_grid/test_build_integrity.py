"""Builds that cannot launder, mix or half-finish a grid: resume keeps only files
with their recorded checksum, one build per directory, a full disk is one line and
leaves no grid that looks finished."""

import errno
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import satcle
from build_grid import engine, size
from build_grid.cli import app
from build_grid.engine import JOURNAL_DIR, BuildConfig, build_grid
from build_grid.size import format_size
from build_grid.lock import LOCK_FILE, build_lock
from build_grid.output import GridOutput
from satcle.core.errors import BuildLockedError, DiskFullError
from satcle.grid.format.store import DUCKDB_FILE, MANIFEST_FILE, read_manifest
from satcle.grid.format.verify import verify_grid

runner = CliRunner()


def config(out, **options):
    """A quick build: res 1, every cell, no error bound (122 partitions of 7 cells)."""
    return BuildConfig(**{"resolution": 1, "coverage": "global", "workers": 2, "out": str(out), "error_bound": False,
                          **options})


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    out = tmp_path_factory.mktemp("reference") / "grid"
    build_grid(config(out), progress=False)
    return out


def interrupted_build(out, step, monkeypatch):
    """Build into `out`, killed (KeyboardInterrupt) when the engine reaches its function `step`."""

    def die(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(engine, step, die)
    with pytest.raises(KeyboardInterrupt):
        build_grid(config(out), progress=False)
    monkeypatch.undo()


def set_float16(path, values):
    """Overwrite the last stored embedding values of a partition (its float16 page is uncompressed)."""
    import pyarrow.parquet as pq

    chunk = next(c for c in (pq.ParquetFile(path).metadata.row_group(0).column(i) for i in range(6))
                 if c.path_in_schema.startswith("embedding"))
    data = bytearray(path.read_bytes())
    end = chunk.data_page_offset + chunk.total_compressed_size
    data[end - 2 * len(values): end] = np.array(values, dtype=np.float16).tobytes()
    path.write_bytes(bytes(data))


def test_corruption_is_not_laundered_by_a_rerun(reference, tmp_path):
    """The issue's attack: two values made 60000 and NaN, then the same build re-run."""
    out = shutil.copytree(reference, tmp_path / "grid")
    part = read_manifest(out).partitions[5].file
    set_float16(out / part, [60000, np.nan])
    assert verify_grid(out)
    summary = build_grid(config(out), progress=False)
    assert (summary.partitions_built, summary.partitions_skipped) == (1, 121)
    assert verify_grid(out) == []
    assert (out / part).read_bytes() == (reference / part).read_bytes()
    grid = satcle.open_grid(out)
    assert np.isfinite(grid.table.values.astype(np.float32)).all() and np.abs(grid.table.values).max() < 100


def test_resume_keeps_only_files_matching_the_journal(reference, tmp_path, monkeypatch):
    """A build that died before its manifest: partitions damaged since are rebuilt,
    a partition whose journal entry was never written is rebuilt, the rest kept."""
    out = tmp_path / "grid"
    interrupted_build(out, "_finish", monkeypatch)
    assert not (out / MANIFEST_FILE).exists() and (out / JOURNAL_DIR).is_dir()
    files = sorted((out / "partitions").iterdir())
    set_float16(files[0], [np.nan])
    (out / JOURNAL_DIR / "partitions" / f"{files[1].name}.checksum").unlink()
    summary = build_grid(config(out), progress=False)
    assert (summary.partitions_built, summary.partitions_skipped) == (2, 120)
    assert verify_grid(out) == [] and not (out / JOURNAL_DIR).exists()
    assert all((out / p.file).read_bytes() == (reference / p.file).read_bytes()
               for p in read_manifest(out).partitions)


def test_resume_rewrites_the_lookup_files(reference, tmp_path, monkeypatch):
    """A build that died after its lookup files, before its manifest: the resumed build
    keeps every partition and rewrites the lookup files (one damaged, one missing),
    recording their checksums."""
    out = tmp_path / "grid"
    interrupted_build(out, "write_database", monkeypatch)
    assert not (out / MANIFEST_FILE).exists() and (out / "lookup" / "values.npy").is_file()
    values = out / "lookup" / "values.npy"
    data = bytearray(values.read_bytes())
    data[-1] ^= 0x01
    values.write_bytes(bytes(data))
    (out / "lookup" / "h3.npy").unlink()
    summary = build_grid(config(out), progress=False)
    assert (summary.partitions_built, summary.partitions_skipped) == (0, 122)
    assert verify_grid(out) == []
    manifest, expected = read_manifest(out), read_manifest(reference)
    for entry in expected.lookup.files:
        assert (out / entry.file).read_bytes() == (reference / entry.file).read_bytes()
        assert manifest.checksums[entry.file] == expected.checksums[entry.file]


def test_a_second_build_is_refused_naming_the_first(tmp_path):
    out = tmp_path / "grid"
    # The first build: another process holding the directory's lock.
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys; from build_grid.lock import build_lock\n"
                               f"with build_lock({str(out)!r}):\n print('locked', flush=True); sys.stdin.read()"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(BuildLockedError, match=f"pid {holder.pid} on host {os.uname().nodename}"):
            build_grid(config(out), progress=False)
        result = runner.invoke(app, ["build", "--res", "1", "--coverage", "global", "--workers", "1",
                                     "--no-error-bound", "--out", str(out)])
        assert result.exit_code == 2 and f"pid {holder.pid}" in result.output
        assert len(result.output.strip().splitlines()) == 1
        assert not (out / MANIFEST_FILE).exists() and not (out / "partitions").exists()
    finally:
        holder.kill()   # as a crash would: the kernel releases its lock
        holder.wait()
    build_grid(config(out), progress=False)
    assert verify_grid(out) == [] and not (out / LOCK_FILE).exists()


def test_lock_is_exclusive_within_a_process(tmp_path):
    with build_lock(tmp_path):
        with pytest.raises(BuildLockedError, match=f"pid {os.getpid()}"):
            with build_lock(tmp_path):
                pass
    with build_lock(tmp_path):   # released
        pass


def test_no_space_is_one_clear_error(tmp_path, monkeypatch):
    def full(path, data):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr("build_grid.output.write_atomic", full)
    with pytest.raises(DiskFullError, match=r"no space left on .* writing .*partitions/.*\.parquet; about .* more "
                                            r"needed, .* free"):
        build_grid(config(tmp_path / "grid", workers=1), progress=False)
    assert not (tmp_path / "grid" / MANIFEST_FILE).exists()


def test_sizes_are_printed_in_readable_units():
    assert [format_size(n) for n in (512, 4_600, 1_400_000, 2_270_000_000)] == [
        "512 B", "4.6 kB", "1.4 MB", "2.27 GB"]
    # Rows twice (partitions and lookup files), the GeoParquet point, the lookup files' cell index.
    assert size.estimated_bytes(1, "global", "float16", error_bound=False, pyramid=False) == (
        842 * (2 * (24 + 512) + 14 + size.INDEX_BYTES_PER_CELL) + 122 * size.PARTITION_OVERHEAD
        + size.DATABASE_BYTES)


def test_full_disk_is_one_line_and_no_grid(tmpfs):
    out = tmpfs("96k") / "grid"
    result = runner.invoke(app, ["build", "--res", "1", "--coverage", "global", "--workers", "1",
                                 "--no-error-bound", "--out", str(out)])
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.strip().splitlines() if line.strip() and not line.startswith("res 1:")]
    # The pre-flight warning (in readable units), then one error line.
    assert lines[0].startswith("warning: the grid needs about") and "0.0 GB" not in lines[0]
    assert len(lines) == 2 and lines[1].startswith("error: no space left on tmpfs")
    assert "writing" in lines[1] and "more needed" in lines[1]
    assert not (out / MANIFEST_FILE).exists()


def test_nearly_full_disk_leaves_the_previous_grid_whole(tmpfs, reference, monkeypatch):
    """Partitions and lookup files fit but satcle.duckdb does not: the build fails with
    one line and the previous finished grid (manifest, database) stays exactly as it was."""
    root = tmpfs("4m")
    out = root / "grid"
    build_grid(config(out), progress=False)
    manifest_bytes = (out / MANIFEST_FILE).read_bytes()
    filler = root / "filler"
    write_database = engine.write_database

    def fill_then_write(*args, **kwargs):
        free = shutil.disk_usage(root).free
        filler.write_bytes(b"\0" * (free - 64 * 1024))   # no room for a new database
        return write_database(*args, **kwargs)

    monkeypatch.setattr(engine, "write_database", fill_then_write)
    with pytest.raises(DiskFullError, match=r"no space left on .*satcle.duckdb"):
        build_grid(config(out), progress=False)
    monkeypatch.undo()
    assert (out / MANIFEST_FILE).read_bytes() == manifest_bytes
    assert verify_grid(out) == []
    assert not [p.name for p in out.iterdir() if p.name.startswith(f".{DUCKDB_FILE}")]   # no temporary left
    filler.unlink()
    build_grid(config(out), progress=False)
    assert verify_grid(out) == []


def test_no_room_to_rebuild_leaves_the_previous_grid_whole(tmpfs):
    """A rebuild on a full disk: partitions, lookup files and pyramid are kept (the same
    bytes: nothing to write), satcle.duckdb does not fit: one line naming it, and the
    previous finished grid stays as it was."""
    root = tmpfs("4m")
    out = root / "grid"
    build_grid(config(out), progress=False)
    manifest_bytes = (out / MANIFEST_FILE).read_bytes()
    filler = root / "filler"
    filler.write_bytes(b"\0" * (shutil.disk_usage(root).free - 64 * 1024))   # room for the journal only
    with pytest.raises(DiskFullError, match=r"no space left on .* writing .*satcle\.duckdb; about .* more needed"):
        build_grid(config(out), progress=False)
    assert (out / MANIFEST_FILE).read_bytes() == manifest_bytes
    assert verify_grid(out) == []
    assert not [p.name for p in (out / "lookup").iterdir() if p.name.startswith(".")]   # no temporary left

"""A build that ran out of space resumes where a fresh build fits, and the size
estimate printed before a build is within 10 % of what it writes."""

import shutil
import subprocess

import numpy as np
import pytest

from build_grid.engine import BuildConfig, build_grid
from build_grid.size import estimated_bytes
from build_grid.output import GridOutput, npy_size_and_checksum
from satcle.core.errors import DiskFullError
from satcle.grid.format.store import read_manifest
from satcle.grid.format.verify import verify_grid

CONFIG = {"resolution": 2, "coverage": "global", "error_bound": False, "workers": 2}


def tree_bytes(path):
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def test_identical_derived_files_are_kept_and_stale_ones_removed_before_the_write(tmp_path):
    """The room rule itself: a lookup file that already holds the bytes to write is kept
    (same inode: a reader mapping it is undisturbed, no second copy is made); any other
    is removed before its successor is written, so old and new never coexist."""
    output = GridOutput(tmp_path)
    array = np.arange(1000, dtype=np.int32)
    output.write_array("lookup/a.npy", array)
    inode = (tmp_path / "lookup/a.npy").stat().st_ino
    assert output.keep_or_make_room("lookup/a.npy", *npy_size_and_checksum(array))
    assert (tmp_path / "lookup/a.npy").stat().st_ino == inode
    assert not output.keep_or_make_room("lookup/a.npy", *npy_size_and_checksum(array + 1))
    assert not (tmp_path / "lookup/a.npy").exists()   # gone before the new one is written
    assert not output.keep_or_make_room("lookup/missing.npy", *npy_size_and_checksum(array))


def resize(disk, size):
    subprocess.run(["mount", "-o", f"remount,size={size}", str(disk)], check=True)


def test_resume_after_a_full_disk_fits_where_a_fresh_build_fits(tmpfs):
    """On a tmpfs (root only: `tmpfs` skips, saying so, elsewhere; the room rule is tested
    without it above)."""
    tmpfs = tmpfs("64m")
    out = tmpfs / "grid"
    build_grid(BuildConfig(out=str(out), **CONFIG), progress=False)
    final = shutil.disk_usage(tmpfs).used
    manifest = read_manifest(out)
    values = next(f.bytes for f in manifest.lookup.files if f.name == "values")
    pyramid = sum(level.bytes for level in manifest.pyramid)
    shutil.rmtree(out)
    # A disk with 1 MB more than the grid: room for the build's journal and temporary
    # files, not for a second copy of values.npy.
    slack = 1 << 20
    assert values > slack
    resize(tmpfs, final + slack)
    build_grid(BuildConfig(out=str(out), **CONFIG), progress=False)   # a fresh build fits
    shutil.rmtree(out)
    # Filled so that the build runs out of space in the pyramid, after its lookup files:
    # the resume then finds them all (values.npy included) already written.
    filler = tmpfs / "filler"
    with open(filler, "wb") as handle:
        handle.write(b"\0" * (shutil.disk_usage(tmpfs).free - (final - pyramid // 2)))
    with pytest.raises(DiskFullError, match="no space left"):
        build_grid(BuildConfig(out=str(out), **CONFIG), progress=False)
    assert (out / "lookup" / "values.npy").is_file()   # the failed run's lookup files stay
    filler.unlink()
    summary = build_grid(BuildConfig(out=str(out), **CONFIG), progress=False)
    assert summary.partitions_built == 0 and verify_grid(out) == []
    resumed = read_manifest(out).checksums   # the same bytes as the fresh build (the database records build times)
    assert {k: v for k, v in resumed.items() if k != "satcle.duckdb"} == {
        k: v for k, v in manifest.checksums.items() if k != "satcle.duckdb"}


@pytest.mark.parametrize("coverage", ["global", "land"])
def test_the_size_estimate_is_within_ten_percent_of_the_grid(tmp_path, coverage):
    out = tmp_path / coverage
    config = {**CONFIG, "coverage": coverage, "error_bound": True}
    build_grid(BuildConfig(out=str(out), **config), progress=False)
    real = tree_bytes(out)
    estimate = estimated_bytes(2, coverage, "float16", error_bound=True, pyramid=True)
    assert abs(estimate - real) / real < 0.10, (estimate, real)

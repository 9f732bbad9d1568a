"""The lookup files of a grid: its rows and its cell index as raw arrays to memory-map.

Beside the Parquet partitions (the interchange format, for SQL and other tools),
the builder writes under ``lookup/`` one ``.npy`` file per array (numpy's format:
a short header giving dtype and shape, then the array's raw little-endian
C-order bytes, starting 64-byte aligned), listed with their size in the
manifest's ``lookup`` (`LookupInfo`) and with their checksum in its
``checksums``, like every file of the grid (verified by `open_grid` by default:
`satcle.grid.format.verify.checksum_problems`). Opening a grid maps them: no row
is copied and nothing is rebuilt; beyond the checksum pass (which reads every
file once), opening costs the pages a lookup touches.

The arrays, one row per stored cell in H3 order (the partitions' rows, sorted):
``h3`` (M,) uint64, ``lat``/``lon`` (M,) float64 degrees, ``values`` (M, D) in
the stored dtype, ``scale`` (M,) float32 (int8 grids), ``interp_error`` (M,)
float32 (grids with error bounds); then the cell index's arrays (their layout
and bounds: `index_layout`; their meaning: `satcle.grid.lookup.cell_index.CellIndex`).
"""

from __future__ import annotations

import mmap
import os
from pathlib import Path

import numpy as np

from ...core.errors import GridFormatError
from .store import LookupFile, Manifest, rebuild_command

LOOKUP_DIR = "lookup"
# Layout of the lookup files (`LookupInfo.version`): the compact cell index (int32
# tables, shared float32 vertices). The only one this satcle reads or writes.
LOOKUP_VERSION = 2
# The table's arrays, one row per stored cell, and the dtype of each (None: the
# manifest's embedding dtype, rows of its dim).
TABLE_LAYOUT = {"h3": np.uint64, "lat": np.float64, "lon": np.float64, "values": None, "scale": np.float32,
                "interp_error": np.float32}
TABLE_ARRAYS = tuple(TABLE_LAYOUT)


def lookup_file(name: str) -> str:
    """Relative path of the lookup file holding array `name`."""
    return f"{LOOKUP_DIR}/{name}.npy"


def lookup_file_problem(grid_dir: Path, entry: LookupFile, manifest: Manifest) -> str | None:
    """What is wrong with one lookup file of the grid at `grid_dir`, or None.

    In order: missing; another size than the manifest's; an unreadable ``.npy``
    header; a table array with another row count than the grid's cells, or rows
    of another width or dtype. (Its checksum is checked with every other file's:
    `satcle.grid.format.verify.checksum_problems`.)
    """
    path = grid_dir / entry.file
    if not path.is_file():
        return f"{entry.file}: lookup file listed in the manifest is missing"
    size = path.stat().st_size
    if size != entry.bytes:
        return f"{entry.file} has {size} bytes, the manifest says {entry.bytes}"
    try:
        shape, dtype, _ = _npy_header(path)
    except (OSError, ValueError) as exc:
        return f"{entry.file} is unreadable: {exc}"
    if entry.name not in TABLE_LAYOUT:
        return None   # an index array: its layout and values are the cell index's to check
    wanted = np.dtype(TABLE_LAYOUT[entry.name] or manifest.dtype)
    tail = (manifest.dim,) if entry.name == "values" else ()
    if shape != (manifest.total_cells, *tail) or dtype != wanted:
        return (f"{entry.file} holds {dtype} of shape {shape}, expected {wanted} of shape "
                f"{(manifest.total_cells, *tail)} (one row per cell)")
    return None


def map_lookup_files(grid_dir: str | os.PathLike, manifest: Manifest) -> dict[str, mmap.mmap]:
    """Read-only mappings of the grid's lookup files whose size is the manifest's:
    {file as the manifest names it: mapping of the whole file}. Nothing is read or
    trusted here: the checksum pass hashes through them (`check_grid_files`), then
    `map_lookup_arrays` builds the arrays on the very pages it hashed."""
    grid_dir = Path(grid_dir)
    mapped = {}
    for entry in manifest.lookup.files if manifest.lookup is not None else ():
        path = grid_dir / entry.file
        try:
            if entry.bytes == 0 or path.stat().st_size != entry.bytes:
                continue   # missing, truncated or grown: the checks name it
            with open(path, "rb") as handle:
                mapped[entry.file] = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
        except OSError:
            continue
    return mapped


def map_lookup_arrays(grid_dir: str | os.PathLike, manifest: Manifest,
                      mapped: dict[str, mmap.mmap] | None = None) -> dict[str, np.ndarray]:
    """Every lookup file of the grid, memory-mapped
    read-only: {array name: array}; on the mappings `mapped` holds
    (`map_lookup_files`) where it holds the file.

    Raises GridFormatError naming the grid and the first file that is missing, of
    another size than the manifest says, or of another shape or dtype than the grid's,
    with the command that rebuilds it. (Checksums are checked before, with every
    file's: `open_grid`.)
    """
    grid_dir = Path(grid_dir)
    arrays = {}
    for entry in manifest.lookup.files:
        problem = lookup_file_problem(grid_dir, entry, manifest)
        if problem is not None:
            raise GridFormatError(f"{grid_dir}: {problem}; {rebuild_command(grid_dir, manifest.to_json())}")
        arrays[entry.name] = _mapped(grid_dir / entry.file, (mapped or {}).get(entry.file))
    return arrays


def _mapped(path: Path, pages: mmap.mmap | None = None) -> np.ndarray:
    """The array of a ``.npy`` file as a read-only view of the file's pages (those of
    `pages`, a mapping of the whole file, when given)."""
    try:
        if pages is None:
            with open(path, "rb") as handle:
                pages = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
        pages.seek(0)   # the header of the very bytes mapped (and hashed), not a second read of the path
        shape, dtype = read_npy_header(pages)
        offset = pages.tell()
    except (OSError, ValueError) as exc:
        raise GridFormatError(f"{path} is unreadable: {exc}") from None
    if dtype.byteorder == ">":
        raise GridFormatError(f"{path}: big-endian array; lookup files are little-endian")
    # Ask the kernel to read the file ahead, in the background: the first lookup
    # then finds its pages in memory instead of waiting for each from disk.
    pages.madvise(mmap.MADV_WILLNEED)
    count = int(np.prod(shape, dtype=np.int64))
    return np.frombuffer(pages, dtype=dtype, count=count, offset=offset).reshape(shape)


def read_npy_header(handle) -> tuple[tuple[int, ...], np.dtype]:
    """Shape and dtype of the ``.npy`` record starting at `handle`'s position, which is
    left at its first data byte. Raises ValueError for a version numpy does not write,
    Fortran order or object dtypes (never memory-mapped or read raw)."""
    version = np.lib.format.read_magic(handle)
    readers = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}
    if version not in readers:
        raise ValueError(f"unsupported .npy version {version}")
    try:
        shape, fortran_order, dtype = readers[version](handle)
    except Exception as exc:   # a damaged header can fail numpy's parser in many ways (tokenize, syntax, ...)
        raise ValueError(f"unreadable .npy header ({type(exc).__name__}: {exc})") from None
    if fortran_order or dtype.hasobject:
        raise ValueError("not a C-order array of numbers")
    return shape, dtype


def _npy_header(path: Path) -> tuple[tuple[int, ...], np.dtype, int]:
    """Shape, dtype and data offset (bytes) of a ``.npy`` file."""
    with open(path, "rb") as handle:
        shape, dtype = read_npy_header(handle)
        offset = handle.tell()
    if offset + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize != path.stat().st_size:
        raise ValueError("its size does not match its header")
    return shape, dtype, offset

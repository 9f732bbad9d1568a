"""`Grid`: an opened embedding grid and its compiled lookup.

A lookup runs in two compiled passes over the points, both parallel and free
of per-point Python: `locate` finds each point's containing cell and its
interpolation triangle, `gather_blend` reads and blends the stored rows with
dequantisation fused in. Points the grid cannot answer within the caller's
terms (outside coverage, error bound above `tolerance`, `exact=True`) are then
computed by the live encoder in one batch.
"""

from __future__ import annotations

import enum
import hashlib
import mmap
import numbers
import os
import threading
from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike

from ..._ext.grid_blend import gather_blend
from ..._ext.grid_locate import AMBIGUOUS, MISS, CellIndexView, locate
from ..._ext.grid_sort import spatial_sort
from ...core.coordinates import as_latlon
from ...core.errors import GridFormatError, InvalidArgumentError, OutsideCoverageError
from ...geo.h3_cells import latlng_to_cells
from ..format.lookup_files import LOOKUP_VERSION, map_lookup_arrays, map_lookup_files
from ..format.reader import GridTable, per_cell_problem, read_pyramid_level
from ..format.store import Manifest, read_manifest, rebuild_command
from ..format.verify import check_grid_files
from ...model import LocationEncoder
from ...core.threads import check_num_threads
from .cell_index import AMBIGUITY_FRACTION, EDGE_EPSILON, CellIndex, build_cell_index
from .grid_model import load_matching_encoder
from .result_memory import ResultMemory
from .shared_grids import shared_grid

METHODS = ("interp", "cell")
ON_MISS = ("live", "nan", "raise")
OUTPUT_DTYPES = (np.dtype(np.float32), np.dtype(np.float16))
# Larger calls are processed in spatial order (1-degree blocks): neighbouring
# points then share cache lines of the index and the rows, which more than pays
# for one 16-bit radix sort.
SPATIAL_ORDER_MIN_POINTS = 50_000


class Source(enum.IntEnum):
    """Which path produced a point's embedding (`return_source=True`)."""

    GRID = 0          # read from the grid (cell row or interpolation)
    LIVE = 1          # live encoder: exact=True, or the cell's error bound > tolerance
    MISS_LIVE = 2     # outside coverage, computed live (on_miss="live")
    MISS_NAN = 3      # outside coverage, NaN (on_miss="nan")

    @staticmethod
    def names(codes: np.ndarray) -> np.ndarray:
        """(N,) names ("GRID", "LIVE", "MISS_LIVE", "MISS_NAN") of (N,) uint8 codes from `return_source`."""
        return np.array([member.name for member in Source], dtype=object)[np.asarray(codes, dtype=np.intp)]


class Grid:
    """A grid's rows with their `CellIndex`, mapped from the grid's lookup files
    or held in memory; `lookup` is safe to call from several threads at once (it
    only reads shared state).

    Build one with `open_grid(path)`, or `Grid(table, ...)` for a table in
    memory (what the error-bound computation does for one partition). `encoder`:
    the live encoder, or a `SharedEncoder` (the levels of a pyramid share their
    grid's); None loads the manifest's model when first needed.
    """

    def __init__(self, table: GridTable, *, resolution: int, manifest: Manifest | None = None,
                 encoder: LocationEncoder | SharedEncoder | None = None, path: Path | None = None,
                 index: CellIndex | None = None):
        self.table = table
        self.resolution = resolution
        self.manifest = manifest
        self.path = path
        # A CellIndex is checked when made (`validate_index`), so the kernels read only checked arrays.
        self.index: CellIndex = index if index is not None else build_cell_index(table.h3, table.lat, table.lon)
        if self.index.num_cells != table.h3.shape[0]:
            raise GridFormatError(f"the cell index holds {self.index.num_cells} cells, the table "
                                  f"{table.h3.shape[0]} rows")
        self._kernel_index = CellIndexView(self.index, EDGE_EPSILON,
                                           AMBIGUITY_FRACTION * np.radians(self.index.radius_deg))
        self._encoder = encoder if isinstance(encoder, SharedEncoder) else SharedEncoder(manifest, encoder)
        # The pyramid's coarser levels this grid has served (`level`), each a Grid of its own.
        self._levels: dict[int, Grid] = {}
        self._levels_lock = threading.Lock()
        # Memory of dropped results, reused by the next ones (`lookup` without out=).
        self._result_memory = ResultMemory()
        # Whether `open_grid` checked the files' checksums before loading them.
        self.checksums_verified = False
        values = table.values
        self._values = values.view(np.uint16) if values.dtype == np.float16 else values
        self._scale = table.scale if table.scale is not None else np.empty(0, dtype=np.float32)
        self._half_table = (np.arange(65536, dtype=np.uint16).view(np.float16).astype(np.float32)
                            if values.dtype == np.float16 else np.empty(0, dtype=np.float32))

    def __repr__(self) -> str:
        manifest = self.manifest
        if manifest is None:
            return f"Grid(in memory, res={self.resolution}, cells={self.num_cells:,}, dim={self.dim})"
        levels = "" if len(self.stored_resolutions) < 2 else (
            f", pyramid=res {self.stored_resolutions[0]}..{self.stored_resolutions[-2]}")
        return (f"Grid({str(self.path)!r}, model={manifest.model_name!r}, res={self.resolution}, "
                f"coverage={manifest.coverage!r}, cells={self.num_cells:,}, dim={self.dim}, "
                f"dtype={manifest.dtype!r}{levels})")

    @property
    def dim(self) -> int:
        """Embedding size D."""
        return self.table.values.shape[1]

    @property
    def num_cells(self) -> int:
        return self.table.h3.shape[0]

    def lookup(self, lats: ArrayLike, lons: ArrayLike | None = None, *, method: str = "interp",
               tolerance: float | None = None, exact: bool = False, on_miss: str = "live",
               return_source: bool = False, num_threads: int = 0, out: np.ndarray | None = None,
               dtype=None, res: int | None = None):
        """Embeddings of points from the grid.

        Parameters
        ----------
        lats, lons : array-like, shape (N,)
            Degrees, validated like every coordinate input (NaN/inf, |lat| > 90,
            mismatched lengths raise CoordinateError); empty input gives (0, D).
            Or `lats` alone: an (N, 2) array of (lat, lon), a two-column
            DataFrame or a GeoSeries of points (`core.coordinates.as_latlon`).
        method : "interp" or "cell"
            "cell": the stored row of the H3 cell containing the point, exactly
            `h3.latlng_to_cell(lat, lon, resolution)`. "interp": spherical
            barycentric interpolation between the three cell centres of the
            triangle around the point (continuous across cell edges, the
            antimeridian and the poles).
        tolerance : float, optional
            With "interp": points whose cell's stored `interp_error` (an
            estimate of max ||interp - live|| / ||live|| inside the cell) exceeds
            it are computed by the live encoder. Needs a grid with the column.
        exact : bool
            Compute every point with the live encoder.
        on_miss : "live", "nan" or "raise"
            Points whose cell the grid does not store: computed live, NaN rows,
            or OutsideCoverageError.
        return_source : bool
            Also return (N,) uint8 `Source` codes (``Source.names(codes)``: their names).
        num_threads : int
            OpenMP threads for the kernels: 0 or -1 use all cores, else
            1..`satcle.core.threads.MAX_THREADS`.
        out : np.ndarray (N, D) float32 or float16, C-contiguous writeable, optional
            Written in place and returned. Rows are streamed past the cache
            when it starts 16-byte aligned, as every array numpy allocates does
            (a view starting mid-row may not be). Without it, a result of 16 MB
            or more reuses the memory of one the caller has dropped (the grid
            keeps up to two; `release_memory` lets go of them), so that a loop
            over batches does not fault fresh memory in for every batch.
        dtype : np.float32 or np.float16, optional
            Of the result: float16 halves the bytes written (values rounded to
            nearest from the float32 blend). Default: out's dtype, else float32.
        res : int, optional
            H3 resolution to serve: the grid's own (default), or a coarser one
            its pyramid stores (`stored_resolutions`; built by ``satcle-grid
            build``), where each cell's row is the mean of its stored children.
            Both methods work at every level; `tolerance` only at the grid's own
            resolution (levels store no error bound). Points outside a level's
            coverage follow `on_miss` (live: the point's own embedding).

        Returns
        -------
        np.ndarray (N, D) of `dtype`, or (embeddings, sources) with return_source.

        Every option is checked before any compiled code runs: a bad one raises
        InvalidArgumentError (a ValueError) naming it and what it accepts.
        """
        num_threads = check_lookup_options(method=method, tolerance=tolerance, on_miss=on_miss,
                                           num_threads=num_threads)
        dtype = check_output_dtype(dtype, out)
        if res is not None and res != self.resolution:
            if tolerance is not None:
                raise InvalidArgumentError(f"tolerance needs the error bounds stored at resolution "
                                           f"{self.resolution} only, not res={res}")
            return self.level(res).lookup(lats, lons, method=method, exact=exact, on_miss=on_miss,
                                          return_source=return_source, num_threads=num_threads, out=out,
                                          dtype=dtype)
        if tolerance is not None and self.table.interp_error is None:
            raise GridFormatError("this grid stores no interp_error column, which tolerance needs: rebuild it "
                                  "with `satcle-grid build --error-bound` (the default)")
        lat, lon = as_latlon(lats, lons)
        n = lat.size
        if out is None:
            out = self._result_memory.empty((n, self.dim), dtype)
        else:
            _check_out(out, n, self.dim, dtype)
        source = np.zeros(n, dtype=np.uint8)
        if exact:
            out[:] = self._live(lat, lon)
            source[:] = Source.LIVE
        elif n:
            cell_rows = self.locate_cells(lat, lon, method=method, num_threads=num_threads, out=out,
                                          exact_cell=tolerance is not None)
            missing = cell_rows < 0
            if missing.any():
                if on_miss == "raise":
                    i = int(np.argmax(missing))
                    raise OutsideCoverageError(
                        f"point {i} ({lat[i]}, {lon[i]}) lies in no cell of this grid "
                        f"({int(missing.sum())} of {n} points outside coverage)")
                source[missing] = Source.MISS_LIVE if on_miss == "live" else Source.MISS_NAN
            if tolerance is not None:
                bound = self.table.interp_error[np.where(missing, 0, cell_rows)]
                source[~missing & (bound > tolerance)] = Source.LIVE
            live = (source == Source.LIVE) | (source == Source.MISS_LIVE)
            if live.any():
                out[live] = self._live(lat[live], lon[live])
        return (out, source) if return_source else out

    def release_memory(self) -> None:
        """Let go of the memory this grid keeps from dropped results (and its levels').

        `lookup` without `out=` reuses the buffers of up to two large results
        (16 MB and more) that the caller has dropped, sparing the next results
        fresh memory's page faults; this returns them to the system."""
        self._result_memory.release()
        with self._levels_lock:
            for level in self._levels.values():
                level.release_memory()

    @property
    def stored_resolutions(self) -> tuple[int, ...]:
        """The H3 resolutions `lookup(res=...)` serves: the grid's own and its pyramid's, ascending."""
        levels = self.manifest.pyramid if self.manifest is not None else ()
        return tuple(sorted({self.resolution, *(level.resolution for level in levels)}))

    def level(self, resolution: int) -> Grid:
        """The grid of one stored resolution: this grid, or a level of its pyramid,
        read from its Parquet file and indexed on first use, then kept (threads
        asking at once wait for one load). Raises InvalidArgumentError for a
        resolution the grid does not store."""
        if isinstance(resolution, bool) or not isinstance(resolution, numbers.Integral) or (
                int(resolution) not in self.stored_resolutions):
            raise InvalidArgumentError(f"res must be one of this grid's stored resolutions "
                                       f"{list(self.stored_resolutions)}, got {resolution!r}"
                                       + ("" if self.manifest is None or self.manifest.pyramid else
                                          " (a grid without a pyramid: rebuild it with `satcle-grid build`)"))
        resolution = int(resolution)
        if resolution == self.resolution:
            return self
        with self._levels_lock:
            if resolution not in self._levels:
                entry = next(level for level in self.manifest.pyramid if level.resolution == resolution)
                # Checked against the manifest's checksum as it is read, whenever that is.
                table = read_pyramid_level(self.path, entry, self.manifest)
                try:
                    index = build_cell_index(table.h3, table.lat, table.lon)
                except (ValueError, RuntimeError) as exc:
                    raise GridFormatError(f"{self.path}: pyramid level {entry.file}: its cells cannot be indexed "
                                          f"({exc}); {rebuild_command(self.path, self.manifest.to_json())}") from None
                # Live fallbacks of a level are the model's: it shares this grid's encoder (loaded once).
                self._levels[resolution] = Grid(table, resolution=resolution, manifest=self.manifest,
                                                encoder=self._encoder, path=self.path, index=index)
            return self._levels[resolution]

    def locate(self, lat: np.ndarray, lon: np.ndarray, *, interp: bool = True, exact_cell: bool = True,
               num_threads: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The compiled search alone, for validated float64 degrees (N,).

        Returns cell_rows (N,) int32: the containing cell's row, MISS (-1) or
        AMBIGUOUS (-2, within rounding of an edge: not yet resolved), and with
        `interp` the triangle rows (N, 3) int32 and weights (N, 3) float32.
        With `exact_cell` false a covered point may get the row of a neighbour
        of its cell (skipping the edge test where coverage is certain).
        """
        num_threads = check_num_threads(num_threads)
        n = lat.size
        cell_rows = np.empty(n, dtype=np.int32)
        tri_rows = np.empty((n, 3), dtype=np.int32)
        tri_weights = np.empty((n, 3), dtype=np.float32)
        locate(self._kernel_index, lat, lon, cell_rows, tri_rows, tri_weights, interp, exact_cell, num_threads)
        return cell_rows, tri_rows, tri_weights

    def locate_cells(self, lat: np.ndarray, lon: np.ndarray, *, method: str, num_threads: int,
                     out: np.ndarray, exact_cell: bool = True) -> np.ndarray:
        """Fill `out` (N, D) from the grid for validated float64 degrees; NaN rows
        for points outside coverage. Returns the containing cells' rows (N,)
        int32 (see `locate` for `exact_cell`), -1 outside coverage."""
        num_threads = check_num_threads(num_threads)
        interp = method == "interp"
        order = None
        if lat.size >= SPATIAL_ORDER_MIN_POINTS:
            order, lat, lon = spatial_order(lat, lon, num_threads)
        cell_rows, tri_rows, tri_weights = self.locate(lat, lon, interp=interp, exact_cell=exact_cell or not interp,
                                                       num_threads=num_threads)
        ambiguous = np.flatnonzero(cell_rows == AMBIGUOUS)
        if ambiguous.size:
            # Rare (points within rounding of an edge): H3 itself decides.
            cell_rows[ambiguous] = self.rows_of(latlng_to_cells(lat[ambiguous], lon[ambiguous], self.resolution))
        if interp:
            tri_rows[cell_rows == MISS] = -1
            rows, weights = tri_rows, tri_weights
        else:
            rows, weights = cell_rows[:, None], np.ones((lat.size, 1), dtype=np.float32)
        destination = order if order is not None else np.empty(0, dtype=np.int64)
        target = out.view(np.uint16) if out.dtype == np.float16 else out   # the kernel writes float16 bits
        gather_blend(self._values, self._scale, self._half_table, rows, weights, target, destination, num_threads)
        if order is None:
            return cell_rows
        unordered = np.empty_like(cell_rows)
        unordered[order] = cell_rows
        return unordered

    def stored_rows(self, rows: np.ndarray | slice, *, num_threads: int = 1) -> np.ndarray:
        """Stored rows, dequantised: (n, D) float32 for `rows`, (n,) row numbers or a
        slice of the table, by the lookup's compiled gather (F16C for float16: an
        order of magnitude faster than numpy's cast). num_threads as in `lookup`."""
        num_threads = check_num_threads(num_threads)
        picked = np.arange(*rows.indices(self.num_cells)) if isinstance(rows, slice) else np.asarray(rows)
        if picked.size and not (0 <= picked.min() and picked.max() < self.num_cells):
            raise InvalidArgumentError(f"rows must lie in [0, {self.num_cells}), got {picked.min()}..{picked.max()}")
        out = np.empty((picked.size, self.dim), dtype=np.float32)
        gather_blend(self._values, self._scale, self._half_table, picked.astype(np.int32).reshape(-1, 1),
                     np.ones((picked.size, 1), dtype=np.float32), out, np.empty(0, dtype=np.int64), num_threads)
        return out

    def rows_of(self, cells) -> np.ndarray:
        """Rows (int32) of H3 cells given as ints; -1 for cells the grid does not store."""
        cells = np.asarray(cells, dtype=np.uint64)
        slot = np.minimum(np.searchsorted(self.table.h3, cells), self.num_cells - 1)
        return np.where(self.table.h3[slot] == cells, slot, MISS).astype(np.int32)

    @property
    def encoder(self) -> LocationEncoder:
        """The live encoder of the grid's model (loaded on first use, checked by sha256)."""
        return self._encoder.get()

    def _live(self, lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
        return self.encoder.encode(lat, lon)


class SharedEncoder:
    """The live encoder of a grid and of its pyramid's levels: the one given, else
    the manifest's model, loaded on first use (once, whichever thread asks first)."""

    def __init__(self, manifest: Manifest | None, encoder: LocationEncoder | None = None):
        self._manifest = manifest
        self._encoder = encoder
        self._lock = threading.Lock()

    def get(self) -> LocationEncoder:
        with self._lock:
            if self._encoder is None:
                self._encoder = load_matching_encoder(self._manifest)
            return self._encoder


def check_lookup_options(*, method: str = "interp", tolerance: float | None = None, on_miss: str = "live",
                         num_threads: int = 0) -> int:
    """Check the options of `Grid.lookup` that need no grid; returns the kernels'
    thread count (`check_num_threads`). Raises InvalidArgumentError naming the option."""
    if not isinstance(method, str) or method not in METHODS:
        raise InvalidArgumentError(f"method must be one of {METHODS}, got {method!r}")
    if not isinstance(on_miss, str) or on_miss not in ON_MISS:
        raise InvalidArgumentError(f"on_miss must be one of {ON_MISS}, got {on_miss!r}")
    if tolerance is not None:
        if method != "interp":
            raise InvalidArgumentError("tolerance bounds the interpolation error: use it with method='interp'")
        if (isinstance(tolerance, bool) or not isinstance(tolerance, numbers.Real)
                or not np.isfinite(tolerance) or tolerance < 0):
            raise InvalidArgumentError(f"tolerance must be a finite number >= 0, got {tolerance!r}")
    return check_num_threads(num_threads)


def check_output_dtype(dtype, out=None) -> np.dtype:
    """The dtype of a lookup's result: `dtype` (float32 or float16), else out's, else float32.
    Raises InvalidArgumentError for any other dtype."""
    if dtype is None:
        dtype = out.dtype if isinstance(out, np.ndarray) and out.dtype in OUTPUT_DTYPES else np.float32
    try:
        resolved = np.dtype(dtype)
    except TypeError:
        resolved = None
    if isinstance(dtype, bool) or resolved not in OUTPUT_DTYPES:
        raise InvalidArgumentError(f"dtype must be np.float32 or np.float16, got {dtype!r}")
    return resolved


def _check_out(out, n: int, dim: int, dtype: np.dtype) -> None:
    """Raise InvalidArgumentError unless `out` is what the kernels may write: (n, dim) of `dtype`, C-contiguous,
    writeable."""
    if (not isinstance(out, np.ndarray) or out.shape != (n, dim) or out.dtype != dtype
            or not out.flags.c_contiguous or not out.flags.writeable):
        got = (f"{out.dtype} array of shape {out.shape}" + ("" if out.flags.c_contiguous else ", not C-contiguous")
               + ("" if out.flags.writeable else ", read-only")) if isinstance(out, np.ndarray) else type(out).__name__
        raise InvalidArgumentError(f"out must be a writeable C-contiguous {dtype} array of shape ({n}, {dim}), "
                                   f"got {got}")


def spatial_order(lat: np.ndarray, lon: np.ndarray, num_threads: int = 0
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Points (float64 degrees, (N,)) grouped by 1 x 1 degree block, stably:
    (order (N,) int64, lat[order], lon[order]), by one compiled counting sort
    (`num_threads` as `check_num_threads` returns it; the same result for any)."""
    order = np.empty(lat.size, dtype=np.int64)
    sorted_lat, sorted_lon = np.empty_like(lat), np.empty_like(lon)
    spatial_sort(lat, lon, order, sorted_lat, sorted_lon, num_threads)
    return order, sorted_lat, sorted_lon


def open_grid(path: str | os.PathLike, *, encoder: LocationEncoder | None = None,
              verify_checksums: bool = True) -> Grid:
    """Open a grid directory: validate its manifest, verify its files, map its rows and cell index.

    A grid written by `satcle-grid build` holds its rows and its cell index as
    lookup files (`satcle.grid.format.lookup_files`): they are memory-mapped,
    nothing is copied or rebuilt. Whatever `verify_checksums` says, the manifest's
    own checksum is checked (`read_manifest`) and so is every value the compiled
    kernels index (`satcle.grid.lookup.cell_index.validate_index`: the index's rows,
    vertices and offsets in bounds, its coordinates finite; the table's shapes and
    per-cell values), so that no grid, from anywhere, can make a lookup read outside
    its arrays. Pyramid levels are checked against their checksums when first read.

    verify_checksums: check every file the manifest lists (partitions, lookup
    files, ``satcle.duckdb``) against its recorded ``xxh3_128`` checksum before
    anything is read (on by default; it costs about one more read of the files
    from the page cache, lookup files included: see docs/LOOKUP.md).
    encoder: the live encoder for fallbacks; by default the manifest's model is
    loaded when first needed (and must have the manifest's sha256).

    One copy per process: a grid already opened (same resolved directory, same
    manifest) by `open_grid`, `satcle.connect` or `satcle.lookup` and still held
    is returned again, not reloaded (with `encoder`, a `Grid` sharing its arrays);
    threads opening it at once wait for one load.

    Raises GridNotFoundError (no directory) or GridFormatError (no, edited or corrupt
    manifest, a grid of another format, missing, corrupt or inconsistent files,
    partitions of another grid), naming the grid, the file and the command that
    rebuilds it.
    """
    path = Path(path)
    manifest = read_manifest(path)
    if manifest.lookup is None or manifest.lookup.version != LOOKUP_VERSION:
        found = "no lookup files" if manifest.lookup is None else f"lookup files of layout {manifest.lookup.version}"
        raise GridFormatError(f"{path}: the manifest lists {found}, this satcle reads layout {LOOKUP_VERSION}; "
                              f"{rebuild_command(path, manifest.to_json())}")
    key = (str(path.resolve()), hashlib.sha256(manifest.to_json().encode()).hexdigest())
    grid = shared_grid(key, lambda: _load_grid(path, manifest, verify_checksums))
    if verify_checksums and not grid.checksums_verified:
        check_grid_files(path, manifest)   # loaded unverified by an earlier caller
        grid.checksums_verified = True
    if encoder is None:
        return grid
    shared = Grid(grid.table, resolution=grid.resolution, manifest=grid.manifest, encoder=encoder, path=grid.path,
                  index=grid.index)
    shared.checksums_verified = grid.checksums_verified
    return shared


def _load_grid(path: Path, manifest: Manifest, verify_checksums: bool) -> Grid:
    """The grid at `path`, its lookup files mapped (and, with `verify_checksums`,
    hashed through those mappings first: that maps their pages into the process,
    so the first lookup takes no page faults on them)."""
    mapped = map_lookup_files(path, manifest) if verify_checksums else {}
    if verify_checksums:
        check_grid_files(path, manifest, mapped)
    table, index = _mapped_table_and_index(path, manifest, mapped=mapped)
    grid = Grid(table, resolution=manifest.resolution, manifest=manifest, path=path, index=index)
    grid.checksums_verified = verify_checksums
    return grid


def _mapped_table_and_index(path: Path, manifest: Manifest, *,
                            mapped: dict[str, mmap.mmap] | None = None) -> tuple[GridTable, CellIndex]:
    """The table and index of the grid's lookup files, mapped (on the mappings `mapped`
    holds: `map_lookup_files`), each checked: the table's shapes and per-cell values,
    the index's every value the kernels read (`validate_index`, run by `CellIndex`)."""
    arrays = map_lookup_arrays(path, manifest, mapped=mapped)
    rebuild = rebuild_command(path, manifest.to_json())
    missing = [name for name in ("h3", "lat", "lon", "values") if name not in arrays]
    if missing or (manifest.dtype == "int8") != ("scale" in arrays) or (
            manifest.has_interp_error != ("interp_error" in arrays)):
        raise GridFormatError(f"{path}: the lookup files the manifest lists do not match its dtype and error bound "
                              f"(missing: {missing or 'none'}); {rebuild}")
    try:
        table = GridTable(h3=arrays["h3"], lat=arrays["lat"], lon=arrays["lon"], values=arrays["values"],
                          scale=arrays.get("scale"), interp_error=arrays.get("interp_error"))
        index = CellIndex.from_parts(arrays, manifest.lookup.index)
    except GridFormatError as exc:
        raise GridFormatError(f"{path}: {exc}; {rebuild}") from None
    problem = per_cell_problem(table)
    if problem is None and index.num_cells != table.h3.shape[0]:
        problem = f"the cell index holds {index.num_cells} cells, the grid {table.h3.shape[0]}"
    if problem is not None:
        raise GridFormatError(f"{path}: lookup files: {problem}; {rebuild}")
    return table, index


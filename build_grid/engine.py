"""The build: partitions of H3 cells evaluated as tasks on Dask distributed.

Cells are grouped by their ancestor at a coarse *partition resolution*; each
partition is one task that enumerates its cells, evaluates the encoder and
writes one Parquet file atomically, with each cell's interpolation error bound
(``interp_error``) unless the build is asked not to measure it, then records the
file's checksum in the build journal. A partition whose file is already there
and has the checksum recorded when it was written (in the journal, or in the
manifest of a finished build) is skipped, so re-running an interrupted build
finishes it with the same bytes, and a damaged file is rebuilt, never adopted.
One build at a time holds the directory (`lock.build_lock`). Then the lookup
files (the rows in H3 order and the cell index, memory-mapped by readers) are
written from the partitions, every time (a resumed build rewrites them: they
derive from the partitions, so the bytes are the same), checksummed as they are
written; ``satcle.duckdb`` is written and checkpointed, then ``manifest.json``
with every file's checksum, last.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import os
import time
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterator

import h3
import h3.api.basic_int
import h3ronpy
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from distributed import Client, LocalCluster, WorkerPlugin, as_completed, get_worker
from tqdm import tqdm

import satcle
from satcle.core.checksum import bytes_checksum, file_checksum
from satcle.core.errors import DiskFullError, GridBuildError, InvalidArgumentError
from satcle.geo.h3_cells import cell_centers, cell_children, cells_at_resolution, neighbor_disks
from satcle.geo.land import LandMask
from satcle.grid.format.duckdb_view import write_database
from satcle.grid.format.reader import table_from_partitions
from satcle.grid.format.verify import OTHER_GRID, footer_problem
from satcle.grid.format.store import (
    COVERAGES,
    DUCKDB_FILE,
    EMBEDDING_DTYPES,
    MANIFEST_FILE,
    PARTITIONS_DIR,
    PYRAMID_AGGREGATION,
    Manifest,
    PartitionInfo,
)
from satcle.model import LocationEncoder, available_models, load_encoder, resolve_model
from satcle.model.encoder_files import model_directory
from satcle.core.paths import DEFAULT_GRID, GridSpec, built_grid_dir

from .coverage import covered_cells_and_centres, stored_neighbors
from .lock import build_lock
from .size import DATABASE_BYTES, estimated_bytes, format_size, free_disk_bytes
from .lookup_writer import write_lookup_files
from .output import GridOutput
from .pyramid import write_pyramid
from .partition import BATCH_SIZE, evaluate_partition, partition_to_parquet

ENCODER_PLUGIN = "satcle-encoder"
MAX_RESOLUTION = 10
# The build journal: `<JOURNAL_DIR>/<partition file>` holds that file's checksum,
# written right after the file; read by a resumed build, removed once the manifest
# (which records the same checksums) is written.
JOURNAL_DIR = ".satcle-build-journal"



@dataclass(frozen=True)
class BuildConfig:
    """One grid build. `out` None means `satcle.core.paths.built_grid_dir(...)`; `workers` (threads of the
    in-process LocalCluster) None means one per core; `scheduler` (tcp://host:port) uses an existing cluster;
    `error_bound` stores the ``interp_error`` column that `lookup(tolerance=...)` needs; `pyramid` also stores
    every coarser resolution 0..resolution-1 (`build_grid.pyramid`)."""

    resolution: int = DEFAULT_GRID.resolution
    model: str = DEFAULT_GRID.model
    out: str | None = None
    coverage: str = DEFAULT_GRID.coverage
    dtype: str = DEFAULT_GRID.dtype
    workers: int | None = None
    scheduler: str | None = None
    partition_resolution: int | None = None
    batch_size: int = BATCH_SIZE
    error_bound: bool = True
    pyramid: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.resolution, int) or not 0 <= self.resolution <= MAX_RESOLUTION:
            raise InvalidArgumentError(f"resolution must be an integer in 0..{MAX_RESOLUTION}, got {self.resolution!r}")
        if self.coverage not in COVERAGES:
            raise InvalidArgumentError(f"coverage must be one of {COVERAGES}, got {self.coverage!r}")
        if self.dtype not in EMBEDDING_DTYPES:
            raise InvalidArgumentError(f"dtype must be one of {EMBEDDING_DTYPES}, got {self.dtype!r}")
        if self.workers is not None and self.workers < 1:
            raise InvalidArgumentError(f"workers must be >= 1, got {self.workers}")
        if self.partition_resolution is not None and not 0 <= self.partition_resolution <= self.resolution:
            raise InvalidArgumentError(f"partition_resolution must be in 0..{self.resolution}, got {self.partition_resolution}")

    @property
    def parent_resolution(self) -> int:
        """Resolution of the partition ancestors: at most 7**5 = 16,807 cells per partition."""
        if self.partition_resolution is not None:
            return self.partition_resolution
        return max(0, self.resolution - 5)


@dataclass(frozen=True)
class PartitionResult:
    """What one task did: `file` None for a partition with no covered cells."""

    parent: int
    file: str | None
    rows: int
    built: bool
    nbytes: int
    checksum: str | None = None


@dataclass(frozen=True)
class BuildSummary:
    out: str
    cells: int
    nbytes: int
    seconds: float
    partitions_built: int
    partitions_skipped: int
    # The coarser levels (`build_grid.pyramid`): their cells, file bytes and the seconds spent on them.
    pyramid_cells: int = 0
    pyramid_bytes: int = 0
    pyramid_seconds: float = 0.0


def journal_file(relative: str) -> str:
    """Relative path of the journal entry (the checksum) of grid file `relative`."""
    return f"{JOURNAL_DIR}/{relative}.checksum"


def partition_file(parent: int) -> str:
    """Relative path of the partition under H3 cell `parent`."""
    return f"{PARTITIONS_DIR}/{parent:x}.parquet"


class EncoderPlugin(WorkerPlugin):
    """Loads the encoder and the land mask once per Dask worker (in `setup`), for every task it runs."""

    name = ENCODER_PLUGIN

    def __init__(self, model: str, torch_threads: int | None = None):
        self.model = model
        self.torch_threads = torch_threads
        self.encoder = None
        self.land_mask = None

    def setup(self, worker) -> None:
        import torch

        if self.torch_threads:
            torch.set_num_threads(self.torch_threads)
        self.encoder = load_encoder(self.model)
        self.land_mask = LandMask()


def build_partition(parent: int, recorded: str | None, identity: Manifest, root: str,
                    batch_size: int) -> PartitionResult:
    """Dask task: build (or verify and skip) the partition under `parent` of the
    grid `identity` (its manifest in progress).

    An existing file is kept only if its checksum is the one recorded when it was
    written (its journal entry, else `recorded`: the finished manifest's) and its
    footer is of this grid (`kept_rows`). Any other file (damaged, or of an earlier
    format) is rebuilt."""
    output = GridOutput(root)
    relative = partition_file(parent)
    if output.exists(relative):
        data = output.read_bytes(relative)
        journal = journal_file(relative)
        if output.exists(journal):
            recorded = output.read_bytes(journal).decode(errors="replace").strip()
        checksum = bytes_checksum(data)
        rows = kept_rows(relative, data, identity) if checksum == recorded else None
        if rows is not None:
            return PartitionResult(parent, relative, rows, False, len(data), checksum)
    plugin = get_worker().plugins[ENCODER_PLUGIN]
    cells, lats, lons = covered_cells_and_centres(parent, identity.resolution, identity.coverage, plugin.land_mask)
    if cells.size == 0:
        return PartitionResult(parent, None, 0, False, 0)
    neighbors = stored_neighbors(cells, identity.coverage, plugin.land_mask) if identity.has_interp_error else None
    table = evaluate_partition(plugin.encoder, cells, identity.dtype, neighbors=neighbors,
                               metadata=identity.partition_metadata(parent),
                               batch_size=batch_size, centres=(lats, lons))
    return _write_partition(output, parent, table)


def _write_partition(output: GridOutput, parent: int, table: pa.Table) -> PartitionResult:
    data = partition_to_parquet(table)
    relative = partition_file(parent)
    checksum = bytes_checksum(data)
    output.write_bytes(relative, data)
    # After the file: a file without its entry (a crash in between) is rebuilt on resume.
    output.write_bytes(journal_file(relative), checksum.encode())
    return PartitionResult(parent, relative, table.num_rows, True, len(data), checksum)


def kept_rows(relative: str, data: bytes, identity: Manifest) -> int | None:
    """Rows of the partition file `relative` (its bytes `data`, whose checksum is the
    one recorded when it was written) if its footer is of the grid `identity`
    (`satcle.grid.format.verify.footer_problem`, the check every open runs), else None
    (rebuild it: unreadable, or of an earlier format). A file of another grid (other
    model, resolution, dtype...) raises GridBuildError rather than being silently
    overwritten."""
    try:
        metadata = pq.read_metadata(pa.BufferReader(data))
    except (pa.ArrowException, OSError):
        return None
    problem = footer_problem(relative, metadata, identity)
    if problem is not None and OTHER_GRID in problem:
        raise GridBuildError(f"{problem}: use another --out or delete it")
    if problem is not None or footer_problem(relative, metadata, identity, keys=("satcle_format_version",)):
        return None
    return metadata.num_rows


def build_grid(config: BuildConfig, *, progress: bool = True) -> BuildSummary:
    """Build (or finish) the grid described by `config`; returns its summary."""
    started = time.perf_counter()
    encoder = load_encoder(config.model)
    identity = grid_identity(encoder, config.resolution, config.coverage, config.dtype,
                             partition_resolution=config.parent_resolution, error_bound=config.error_bound,
                             model_name=encoder.metadata.get("name", str(config.model)))
    out = output_dir(config, identity.model_name)
    output = GridOutput(out)
    output.refuse_non_directory()
    # Workers load the model themselves: a shipped name is the shipped model there too
    # (`resolve_model`); a directory is passed absolute, to mean the same there.
    model_ref = config.model if config.model in available_models() else str(resolve_model(config.model).resolve())

    parents = _largest_first(cells_at_resolution(identity.partition_resolution), config)

    @contextmanager
    def partitions() -> Iterator[Iterator[PartitionResult]]:
        recorded = _recorded_checksums(output, identity)
        with _dask_client(config) as client:
            # Our own cluster is in this process and sets torch's threads itself
            # (`_dask_client`); on a shared one, torch keeps its own default on each machine.
            client.register_plugin(EncoderPlugin(model_ref))
            task = functools.partial(build_partition, identity=identity, root=out, batch_size=config.batch_size)
            futures = client.map(task, parents, [recorded.get(partition_file(p)) for p in parents], pure=False)
            yield (future.result() for future in as_completed(futures))

    manifest, results, pyramid_seconds = _run_build(
        output, identity, partitions, total=len(parents), desc=f"res {config.resolution}", progress=progress,
        pyramid=config.pyramid, space_needed=lambda done: _space_needed(config, identity, output, done))
    return BuildSummary(
        out=out,
        cells=manifest.total_cells,
        nbytes=sum(r.nbytes for r in results),
        seconds=time.perf_counter() - started,
        partitions_built=sum(r.built for r in results),
        partitions_skipped=sum(1 for r in results if r.file is not None and not r.built),
        pyramid_cells=sum(level.rows for level in manifest.pyramid),
        pyramid_bytes=sum(level.bytes for level in manifest.pyramid),
        pyramid_seconds=pyramid_seconds,
    )


def output_dir(config: BuildConfig, model_name: str | None = None) -> str:
    """Where the build of `config` writes: `config.out`, else
    `satcle.core.paths.built_grid_dir` of the model's name (read from the model
    when not given), resolution, coverage and dtype."""
    if config.out:
        return config.out
    if model_name is None:
        model_name = load_encoder(config.model).metadata.get("name", str(config.model))
    return str(built_grid_dir(GridSpec(model_name, config.resolution, config.coverage, config.dtype)))


def grid_identity(encoder: LocationEncoder, resolution: int, coverage: str, dtype: str, *, partition_resolution: int,
                  error_bound: bool, model_name: str) -> Manifest:
    """The manifest of a grid in progress (no partitions yet): what each
    partition records and a resumed build must match."""
    return Manifest(
        library_version=satcle.__version__,
        model_name=model_name,
        model_sha256=encoder.metadata.get("sha256", ""),
        model_config={"kind": encoder.KIND, **encoder.config.to_dict()},
        resolution=resolution,
        partition_resolution=partition_resolution,
        coverage=coverage,
        dtype=dtype,
        dim=encoder.output_dim,
        total_cells=0,
        partitions=(),
        build_started=_utc_now(),
        build_finished="",
        has_interp_error=error_bound,
        model_path=model_directory(encoder),
    )


def _space_needed(config: BuildConfig, identity: Manifest, output: GridOutput,
                  results: list[PartitionResult]) -> str:
    """'about N MB needed, M MB free': what the rest of a build that ran out of space needs."""
    total = estimated_bytes(config.resolution, config.coverage, config.dtype, identity.dim, config.error_bound,
                            config.pyramid)
    needed = max(total - sum(r.nbytes for r in results), max((r.nbytes for r in results), default=0),
                 DATABASE_BYTES)
    free = free_disk_bytes(output.root)
    return f"about {format_size(needed)} more needed" + (f", {format_size(free)} free" if free is not None else "")


def _finish(output: GridOutput, identity: Manifest, results: list[PartitionResult], *,
            pyramid: bool = False) -> tuple[Manifest, float]:
    """Write the lookup files of the built partitions, with `pyramid` the coarser
    levels (`build_grid.pyramid`: derived from the partitions, so rewritten every
    time, like the lookup files), ``satcle.duckdb`` (local
    grids) and then the manifest, with every file's checksum, last; then drop the
    build journal. Returns the manifest and the seconds spent on the pyramid."""
    results = sorted(results, key=lambda r: r.parent)
    partitions = tuple(PartitionInfo(r.file, r.rows) for r in results if r.file is not None)
    pyramid_seconds = 0.0
    checksums = {r.file: r.checksum for r in results if r.file is not None}
    manifest = dataclasses.replace(identity, total_cells=sum(p.rows for p in partitions), partitions=partitions)
    if partitions:
        # The rows, read back once for both products derived from them.
        table = table_from_partitions([output.path(p.file) for p in partitions], manifest,
                                      filesystem=None if output.is_local else output.fs, where=output.root)
        lookup, lookup_checksums = write_lookup_files(output, table)
        manifest = dataclasses.replace(manifest, lookup=lookup)
        checksums.update(lookup_checksums)
        if pyramid and manifest.resolution > 0:
            pyramid_started = time.perf_counter()
            levels, level_checksums = write_pyramid(output, manifest, table)
            manifest = dataclasses.replace(manifest, pyramid=levels, pyramid_aggregation=PYRAMID_AGGREGATION)
            checksums.update(level_checksums)
            pyramid_seconds = time.perf_counter() - pyramid_started
        del table
    # The database's view records the manifest it belongs to: every field but its own checksum is final here.
    manifest = dataclasses.replace(manifest, build_finished=_utc_now(), checksums=checksums)
    if output.is_local:
        # Written, checkpointed and read back before the manifest exists (`write_database`).
        database = write_database(output.root, manifest)
        if database is not None:
            manifest = dataclasses.replace(manifest, checksums={**checksums, DUCKDB_FILE: file_checksum(database)})
    output.write_bytes(MANIFEST_FILE, manifest.to_json().encode())
    output.remove_tree(JOURNAL_DIR)
    return manifest, pyramid_seconds


def write_cells(out: str | os.PathLike, encoder: LocationEncoder, cells: np.ndarray, *, dtype: str = "float16",
                partition_resolution: int = 0, error_bound: bool = True, coverage: str = "global",
                pyramid: bool = False) -> Path:
    """Build, in this process, a grid of exactly `cells` embedded by `encoder`.

    The small entry point of the builder, for tests and benchmarks: no Dask, no
    coverage rule (`coverage` is only recorded), no resume; partitions, error
    bounds, manifest and ``satcle.duckdb`` as `build_grid` writes them (the
    coarser levels only with `pyramid`, which `build_grid` writes by default). cells:
    (N,) uint64 of one resolution (any order, duplicates dropped); with
    `error_bound` each cell's bound reads only neighbours among `cells`.
    Returns the grid directory.
    """
    cells = np.unique(np.asarray(cells, dtype=np.uint64))
    if cells.size == 0:
        raise InvalidArgumentError("a grid needs at least one cell")
    identity = grid_identity(encoder, h3.api.basic_int.get_resolution(int(cells[0])), coverage, dtype,
                             partition_resolution=partition_resolution, error_bound=error_bound,
                             model_name=encoder.metadata.get("name", "default"))
    output = GridOutput(out)
    output.refuse_non_directory()
    parents = np.asarray(h3ronpy.change_resolution(cells, partition_resolution), dtype=np.uint64)

    def partition(parent: int) -> PartitionResult:
        part = cells[parents == parent]
        neighbors = None
        if error_bound:
            members, _ = neighbor_disks(part)
            around = np.setdiff1d(members, part)
            neighbors = around[np.isin(around, cells)]
        table = evaluate_partition(encoder, part, dtype, neighbors=neighbors, metadata=identity.partition_metadata(parent))
        return _write_partition(output, parent, table)

    unique = np.unique(parents).tolist()
    _run_build(output, identity, lambda: nullcontext(map(partition, unique)), total=len(unique), desc="cells",
               progress=False, pyramid=pyramid)
    return Path(out)


def _run_build(output: GridOutput, identity: Manifest, partitions: Callable, *, total: int, desc: str,
               progress: bool, pyramid: bool, space_needed: Callable[[list[PartitionResult]], str] | None = None
               ) -> tuple[Manifest, list[PartitionResult], float]:
    """The build loop of `build_grid` and `write_cells`: holding the directory's lock,
    collect each partition's result from `partitions()` (a context manager giving them
    in completion order) under a progress bar of partitions and cells/s, then
    `_finish` the grid. A full disk raises DiskFullError, with `space_needed(results)`
    appended. Returns (manifest, results, seconds spent on the pyramid)."""
    started = time.perf_counter()
    results: list[PartitionResult] = []
    # One build per directory; object stores have no lock (see `lock`).
    with build_lock(output.root) if output.is_local else nullcontext():
        try:
            with partitions() as completed, tqdm(total=total, unit="partition", disable=not progress,
                                                 desc=desc) as bar:
                built_cells = 0
                for result in completed:
                    results.append(result)
                    built_cells += result.rows if result.built else 0
                    bar.set_postfix(cells_per_s=f"{built_cells / max(time.perf_counter() - started, 1e-9):,.0f}")
                    bar.update(1)
            manifest, pyramid_seconds = _finish(output, identity, results, pyramid=pyramid)
        except DiskFullError as exc:
            if space_needed is None:
                raise
            raise DiskFullError(f"{exc}; {space_needed(results)}") from None
    return manifest, results, pyramid_seconds


def _largest_first(parents: np.ndarray, config: BuildConfig) -> list[int]:
    """Partitions in the order to submit them: for land coverage, the ones with the
    most land first (share of land among their descendants two resolutions down), so
    that the last tasks running, while other workers idle, are small ones."""
    if config.coverage != "land" or config.resolution <= config.parent_resolution:
        return parents.tolist()
    res = min(config.resolution, config.parent_resolution + 2)
    children = [cell_children(parents[i: i + 1], res) for i in range(parents.size)]
    owner = np.repeat(np.arange(parents.size), [c.size for c in children])
    land = LandMask().contains(*cell_centers(np.concatenate(children)))
    share = np.bincount(owner, weights=land, minlength=parents.size)
    return parents[np.argsort(-share, kind="stable")].tolist()


@contextmanager
def _dask_client(config: BuildConfig) -> Iterator[Client]:
    if config.scheduler is not None:
        with Client(config.scheduler) as client:
            yield client
        return
    workers = config.workers or os.cpu_count() or 1
    # Our own cluster runs in this process: `workers` threads of one Dask worker,
    # each task's torch calls single-threaded (cores / workers threads each).
    # Tasks spend their time in torch, numpy, h3ronpy and Parquet, which release
    # the GIL; against one worker process per core this saves starting the
    # processes (each importing torch: ~2 s of a ~10 s res-5 build) and pickling
    # every result, and lets one partition's Parquet write overlap another's encoding.
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // workers))
    # A failed task's exception reaches `build_grid`, which reports it in one line; the
    # worker's own "Compute Failed" log (a multi-line traceback) would only repeat it.
    worker_log = logging.getLogger("distributed.worker")
    worker_level = worker_log.level
    worker_log.setLevel(logging.CRITICAL)
    try:
        # In-process transport; the scheduler's HTTP server (it always starts one)
        # on a free loopback port, without the dashboard.
        with LocalCluster(n_workers=1, threads_per_worker=workers, processes=False,
                          dashboard_address=None,
                          scheduler_kwargs={"dashboard": False, "dashboard_address": "127.0.0.1:0"}) as cluster, \
                Client(cluster) as client:
            yield client
    finally:
        torch.set_num_threads(threads)
        worker_log.setLevel(worker_level)


def _recorded_checksums(output: GridOutput, identity: Manifest) -> dict[str, str]:
    """The checksums a finished build of this grid recorded in its manifest ({} for none);
    raises GridBuildError when `output` holds another grid."""
    if not output.exists(MANIFEST_FILE):
        return {}
    try:
        previous = Manifest.from_json(output.read_bytes(MANIFEST_FILE).decode())
    except (ValueError, TypeError, KeyError, UnicodeDecodeError):
        return {}  # a corrupt manifest is rewritten at the end
    if identity.identity() != previous.identity():
        bound = "with" if previous.has_interp_error else "without"
        raise GridBuildError(
            f"{output.root} already holds another grid (model {previous.model_name}, res {previous.resolution}, "
            f"{previous.coverage}, {previous.dtype}, {bound} error bounds); choose another --out"
        )
    return dict(previous.checksums)


def _utc_now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")

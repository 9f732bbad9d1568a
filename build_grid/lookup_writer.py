"""The lookup files of a built grid: its rows in H3 order and its cell index,
written once by the builder so that no reader rebuilds or caches anything
(layout: `satcle.grid.format.lookup_files`)."""

from __future__ import annotations

from satcle.grid.format.lookup_files import LOOKUP_VERSION, lookup_file
from satcle.grid.format.reader import GridTable
from satcle.grid.format.store import LookupFile, LookupInfo
from satcle.grid.lookup.cell_index import build_cell_index

from .output import GridOutput


def write_lookup_files(output: GridOutput, table: GridTable) -> tuple[LookupInfo, dict[str, str]]:
    """Index the grid's rows `table` (its partitions read back, `table_from_partitions`)
    and write every lookup array into `output`, each atomically and checksummed as it
    is written; returns the manifest's `lookup` and the files' checksums ({relative
    path: ``"xxh3_128:<hex>"``}, for the manifest's ``checksums``).

    Memory: the grid's rows and its index at once (what the lookup used to
    hold in every process that opened the grid).
    """
    index = build_cell_index(table.h3, table.lat, table.lon)
    arrays = {"h3": table.h3, "lat": table.lat, "lon": table.lon, "values": table.values}
    if table.scale is not None:
        arrays["scale"] = table.scale
    if table.interp_error is not None:
        arrays["interp_error"] = table.interp_error
    arrays.update(index.arrays())
    files, checksums = [], {}
    for name, array in arrays.items():
        size, checksums[lookup_file(name)] = output.write_array(lookup_file(name), array)
        files.append(LookupFile(name=name, file=lookup_file(name), bytes=size))
    return LookupInfo(version=LOOKUP_VERSION, files=tuple(files), index=index.constants()), checksums

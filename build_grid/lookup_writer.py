"""The lookup files of a built grid: its rows in H3 order and its cell index,
written once by the builder so that no reader rebuilds or caches anything
(layout: `satcle.grid.format.lookup_files`)."""

from __future__ import annotations

from satcle.grid.format.lookup_files import LOOKUP_VERSION, lookup_file
from satcle.grid.format.reader import GridTable
from satcle.grid.format.store import LookupFile, LookupInfo
from satcle.grid.lookup.cell_index import build_cell_index

from .output import GridOutput, npy_size_and_checksum


def write_lookup_files(output: GridOutput, table: GridTable) -> tuple[LookupInfo, dict[str, str]]:
    """Index the grid's rows `table` (its partitions read back, `table_from_partitions`)
    and write every lookup array into `output`, each atomically and checksummed as it
    is written; returns the manifest's `lookup` and the files' checksums ({relative
    path: ``"xxh3_128:<hex>"``}, for the manifest's ``checksums``).

    A file already holding exactly the bytes to write (a resumed build) is kept;
    any other is removed before its successor is written (`GridOutput.keep_or_make_room`):
    a resume needs no more room than a fresh build.

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
        relative = lookup_file(name)
        size, checksums[relative] = npy_size_and_checksum(array)
        if not output.keep_or_make_room(relative, size, checksums[relative]):
            output.write_array(relative, array)
        files.append(LookupFile(name=name, file=relative, bytes=size))
    return LookupInfo(version=LOOKUP_VERSION, files=tuple(files), index=index.constants()), checksums

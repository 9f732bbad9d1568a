"""The SQL views over a grid's Parquet files: ``satcle(h3, lat, lon, embedding FLOAT[D],
res UTINYINT)``, the grid's own resolution (its partitions), and ``satcle_pyramid``,
the same columns over every stored resolution (the partitions and the levels of its
pyramid, told apart by ``res``), so that no aggregate over ``satcle`` mixes parents
with cells by accident.

One definition, used by the builder (for ``satcle.duckdb``) and by `satcle.connect`.
Embeddings are dequantised in the view, so SQL always sees float32 vectors.
Paths reach DuckDB as data, never as patterns: DuckDB expands ``* ? [`` in the
paths its readers are given, so each is written with those characters escaped
(`_path_literal`), and a folder ``g[3]`` reads its own files, not ``g3``'s.

``satcle.duckdb`` is portable: written in DuckDB storage format `STORAGE_VERSION`
(readable by DuckDB 1.1 and later). While DuckDB's ``file_search_path`` setting is
unset, its views read the files where the grid was built (absolute paths), so
``duckdb /grids/r6/satcle.duckdb -c "..."`` works from any working directory. Once
the setting is set, they name the files relative to the grid directory
(``partitions/<parent>.parquet``), which DuckDB resolves against the working
directory first, then the setting's directories: a grid that moved works after
``SET file_search_path = '<grid dir>'`` (`search_path_sql`; ``'.'`` from the grid
directory itself). The choice is a constant ``CASE`` on ``current_setting``, folded
when the view is bound. Whatever directory they resolve in, each row
requires that the ``manifest.json`` DuckDB found is byte for byte the build's
(its sha256, less the manifest's checksum of ``satcle.duckdb`` itself and its own
``manifest_checksum``, which cannot be known before the file is written) and that the row's file lies in
``partitions/`` (``pyramid/``) next to that manifest, else the query raises: it
returns no row of another grid's files.

The file also stores the table macro ``satcle_similar(cell, k)`` (`similar_macro_sql`):
the k cells most similar (cosine) to a stored cell, plain SQL over the view, so
it runs in any DuckDB that opens the file. `satcle.connect` adds its
``(lat, lon, k)`` form, whose query vector is ``satcle_embedding(lat, lon)``.

`database_problem` checks a ``satcle.duckdb`` against the manifest: it must hold
exactly the views and the macro the builder writes for it and nothing else (a
``.duckdb`` file can hold any SQL, run by whoever queries it).
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
import tempfile
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

from ...core.errors import DiskFullError, GridBuildError
from .store import DUCKDB_FILE, MANIFEST_CHECKSUM_FIELD, MANIFEST_FILE, PARTITIONS_DIR, PYRAMID_DIR, Manifest

if TYPE_CHECKING:
    import duckdb

VIEW_NAME = "satcle"
#: Every stored resolution: the grid's cells and its pyramid's parents, told apart by ``res``.
PYRAMID_VIEW_NAME = "satcle_pyramid"
# An H3 id's resolution is its 4 bits from bit 52.
_RESOLUTION_SHIFT = 52
SIMILAR_MACRO = "satcle_similar"
# DuckDB's storage_compatibility_version for satcle.duckdb: the format of DuckDB 1.1
# (storage version 64), which every DuckDB from 1.1 to 2.x opens.
STORAGE_VERSION = "v1.1.0"
OTHER_GRID_MESSAGE = (
    f"{DUCKDB_FILE}: the {MANIFEST_FILE} or partitions/ files that DuckDB found (relative to the working directory, "
    "then to file_search_path) are not those of the grid this file was built with; query from the grid's directory "
    "or SET file_search_path to it (`satcle-grid info DIR` prints the command)"
)


# The manifest's values that depend on satcle.duckdb's bytes (its checksum, and the
# manifest's checksum of its own fields), blanked before hashing the manifest (in
# Python by `view_manifest_sha256`, in SQL by the view, with the same RE2/re pattern):
# the database is written before the manifest that records them.
_OWN_CHECKSUM_PATTERN = f'"({re.escape(DUCKDB_FILE)}|{MANIFEST_CHECKSUM_FIELD})": "[^"]*"'
_OWN_CHECKSUM_BLANK = '"\\1": ""'


def view_manifest_sha256(manifest: Manifest) -> str:
    """The sha256 that the view of ``satcle.duckdb`` requires of ``manifest.json``:
    that of `manifest`'s JSON with the checksum of ``satcle.duckdb`` and its own
    ``manifest_checksum`` blanked."""
    with_own = dataclasses.replace(manifest, checksums={**manifest.checksums, DUCKDB_FILE: ""})
    blanked = re.sub(_OWN_CHECKSUM_PATTERN, _OWN_CHECKSUM_BLANK, with_own.to_json())
    return hashlib.sha256(blanked.encode()).hexdigest()


def view_sql(files: list[str], dim: int, dtype: str, *, manifest_sha256: str | None = None,
             arrow_lambda: bool = False, levels: list[str] = (), root: str | None = None) -> str:
    """``CREATE OR REPLACE VIEW satcle ...`` over Parquet `files` (paths or URLs): the
    grid's own resolution; and, with the pyramid's `levels` (files of the coarser
    resolutions, same columns), ``CREATE OR REPLACE VIEW satcle_pyramid ...`` over
    `files` and `levels`, every stored resolution (its ``res`` column tells them
    apart): an aggregate over ``satcle`` never mixes parents with cells.

    manifest_sha256: make every row require that the ``manifest.json`` DuckDB
    finds has this sha256 (`view_manifest_sha256`: its own checksum blanked)
    and that the row's file lies in ``partitions/`` (``pyramid/`` for levels) of the
    directory that manifest was found in, else raise `OTHER_GRID_MESSAGE`; None:
    no check (absolute paths, for a connection of this process).
    arrow_lambda: write the lambda as ``v -> ...``, the only syntax DuckDB before
    1.3 parses (the view is stored parsed, so readers do not care).
    The views end with the column ``res`` UTINYINT, each row's H3 resolution (read
    from the id's bits).
    root: with manifest_sha256, the grid directory at build time (absolute): while
    DuckDB's ``file_search_path`` is unset, the checked view reads the files under
    `root` (so ``duckdb /grid/satcle.duckdb`` works from any working directory),
    and once it is set, relative to it (a grid that moved: ``SET
    file_search_path = '<new dir>'``). None: relative paths only.
    """
    lam = "v -> v * scale" if arrow_lambda else "lambda v: v * scale"
    if dtype == "int8":
        embedding = f"list_transform(embedding, {lam})::FLOAT[{dim}]"
    else:
        embedding = f"embedding::FLOAT[{dim}]"
    res = f", ((h3 >> {_RESOLUTION_SHIFT}) & 15)::UTINYINT AS res"
    columns = f"SELECT h3, lat, lon, {embedding} AS embedding{res}"
    statement = _view_sql(VIEW_NAME, [(list(files), PARTITIONS_DIR)], columns, dim, manifest_sha256, root)
    if not levels:
        return statement
    sources = [(list(files), PARTITIONS_DIR), (list(levels), PYRAMID_DIR)]
    return statement + ";\n" + _view_sql(PYRAMID_VIEW_NAME, sources, columns, dim, manifest_sha256, root)


def _view_sql(name: str, sources: list[tuple[list[str], str]], columns: str, dim: int,
              manifest_sha256: str | None, root: str | None) -> str:
    """``CREATE OR REPLACE VIEW name`` over the files of `sources` ((files, directory) pairs), `view_sql`'s rules."""
    select = f"CREATE OR REPLACE VIEW {name} AS "
    if not any(group for group, _ in sources):  # a grid may legitimately hold no cells (e.g. an ocean-only region)
        return (f"{select}{columns} FROM (SELECT NULL::UBIGINT AS h3, NULL::DOUBLE AS lat, NULL::DOUBLE AS lon, "
                f"NULL::FLOAT[{dim}] AS embedding, NULL::FLOAT AS scale WHERE false)")
    sources = [(group, directory) for group, directory in sources if group]
    if manifest_sha256 is None:
        return select + " UNION ALL ".join(f"{columns} FROM read_parquet({_file_list(group)})"
                                           for group, _ in sources)
    manifest_hash = (f"sha256(regexp_replace(content, {_literal(_OWN_CHECKSUM_PATTERN)}, "
                     f"{_literal(_OWN_CHECKSUM_BLANK)}, 'g'))")
    # The file of each row (`filename`) and the manifest as DuckDB resolved them; '/' separators on any system.
    part_dir = "replace(parse_dirpath(filename), '\\', '/')"

    def located(relative: list[str], as_list: bool) -> str:
        """The paths `relative`: under `root` while file_search_path is unset (constant-folded when bound)."""
        text = _file_list(relative) if as_list else _path_literal(relative[0])
        if root is None:
            return text
        absolute = [f"{root.rstrip('/')}/{path}" for path in relative]
        return (f"CASE WHEN current_setting('file_search_path') = '' THEN "
                f"{_file_list(absolute) if as_list else _path_literal(absolute[0])} ELSE {text} END")

    def checked(group: list[str], directory: str) -> str:
        return (
            f"{columns} FROM read_parquet({located(group, True)}, filename = true), "
            f"(SELECT {manifest_hash} AS manifest_sha256, "
            f"replace(parse_dirpath(filename), '\\', '/') AS grid_dir "
            f"FROM read_text({located([MANIFEST_FILE], False)})) AS manifest "
            f"WHERE CASE WHEN manifest.manifest_sha256 = {_literal(manifest_sha256)} AND {part_dir} = "
            f"CASE WHEN manifest.grid_dir = '' THEN '{directory}' ELSE manifest.grid_dir || '/{directory}' END "
            f"THEN true ELSE error({_literal(OTHER_GRID_MESSAGE)}) END"
        )

    return select + " UNION ALL ".join(checked(group, directory) for group, directory in sources)


def similar_macro_sql(*, point_resolution: int | None = None) -> str:
    """``CREATE OR REPLACE MACRO satcle_similar ... AS TABLE``: the k cells of the view
    most similar (cosine) to a query vector, as ``(h3 UBIGINT, lat DOUBLE, lon DOUBLE,
    similarity FLOAT)``, most similar first (ties by h3).

    ``satcle_similar(cell, k)``: the query vector is the stored embedding of `cell`
    (an H3 id, UBIGINT), ranked against the cells of its own resolution (read from
    the id's bits, so a view holding several resolutions ranks like with like);
    no row when the view does not hold `cell`. Needs only the view: the form
    stored in ``satcle.duckdb``.

    point_resolution: also define the overload ``satcle_similar(lat, lon, k)``
    (degrees; its parameters are named point_lat and point_lon, since a macro's
    parameter may not share a name with a column it returns), whose query vector is ``satcle_embedding(lat, lon)`` (the grid's
    lookup, registered by `satcle.connect`), ranked against the cells of this
    resolution; no row when it is NULL (outside coverage with ``on_miss="nan"``).
    Overloads are newer than DuckDB 1.1 (1.1.3 cannot parse them; 2.0.1 can) and
    than its storage format: `satcle.connect` only.
    """
    # Parameter names shadow column names inside a macro: every column is qualified.
    def ranked(query: str, resolution: str) -> str:
        return (f"SELECT c.h3, c.lat, c.lon, array_cosine_similarity(c.embedding, q.embedding) AS similarity "
                f"FROM {VIEW_NAME} AS c, ({query}) AS q "
                f"WHERE q.embedding IS NOT NULL AND (c.h3 >> 52) & 15 = {resolution} "
                f"ORDER BY similarity DESC, c.h3 LIMIT k")

    stored = f"SELECT s.embedding FROM {VIEW_NAME} AS s WHERE s.h3 = cell::UBIGINT"
    sql = f"CREATE OR REPLACE MACRO {SIMILAR_MACRO}(cell, k) AS TABLE {ranked(stored, '(cell::UBIGINT >> 52) & 15')}"
    if point_resolution is not None:
        point = "SELECT satcle_embedding(point_lat, point_lon) AS embedding"
        sql += f", (point_lat, point_lon, k) AS TABLE {ranked(point, str(int(point_resolution)))}"
    return sql


def _file_list(files: list[str]) -> str:
    return "[" + ", ".join(_path_literal(f) for f in files) + "]"


def _path_literal(path: str) -> str:
    """A file path as a SQL literal that DuckDB's readers take for that one file, not
    a pattern: each glob character (``* ? [``) inside a class of its own (``[*]``)."""
    return _literal(re.sub(r"([*?\[])", r"[\1]", path))


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def search_path_sql(grid_dir: str | os.PathLike) -> str:
    """``SET file_search_path = '<grid dir>'``: the statement that makes ``satcle.duckdb``
    of the grid at `grid_dir` work from any working directory."""
    return f"SET file_search_path = {_literal(str(Path(grid_dir).expanduser().resolve()))}"


def create_view(con: duckdb.DuckDBPyConnection, grid_dir: str | os.PathLike, manifest: Manifest) -> None:
    """Create the ``satcle`` view in `con` over the partitions of the grid at `grid_dir`
    (absolute paths: for a connection of this process, not for a file to share)."""
    con.execute(absolute_view_sql(grid_dir, manifest, arrow_lambda=_old_duckdb()))


def absolute_view_sql(grid_dir: str | os.PathLike, manifest: Manifest, *, arrow_lambda: bool) -> str:
    """``CREATE OR REPLACE VIEW satcle`` over the absolute paths of the files `manifest`
    lists in the grid at `grid_dir` (no manifest check in SQL: the caller has
    checked the files); arrow_lambda as in `view_sql`, for the DuckDB that runs it."""
    root = Path(grid_dir).expanduser().resolve()
    files = [str(root / p.file) for p in manifest.partitions]
    levels = [str(root / level.file) for level in manifest.pyramid]
    return view_sql(files, manifest.dim, manifest.dtype, arrow_lambda=arrow_lambda, levels=levels)


def write_database(grid_dir: str | os.PathLike, manifest: Manifest) -> Path | None:
    """Write ``satcle.duckdb`` into a local grid, atomically: the checked view over
    relative paths, in storage format `STORAGE_VERSION`.

    `manifest` is the one about to be written as ``manifest.json`` (the view
    checks that file's sha256, `view_manifest_sha256`); the partition files must
    be in place. The database is checkpointed before it is renamed into place, and
    read back: a checkpoint that failed (a full disk) would leave the view only in
    the write-ahead log, which is not part of the file. Returns the file, or None
    (with a warning) for a directory whose path contains ','. Raises
    DiskFullError when the disk is full, GridBuildError on other failures.
    """
    import duckdb  # here, not at module level: `import satcle` should not pay for it

    root = Path(grid_dir).expanduser().resolve()
    if "," in str(root):
        # file_search_path is a comma-separated list: it cannot name this directory.
        warnings.warn(f"{root}: no {DUCKDB_FILE} for a grid whose path contains ',' (DuckDB's file_search_path "
                      "cannot name it); satcle.connect reads the grid", stacklevel=2)
        return None
    target = root / DUCKDB_FILE
    tmp = root / f".{DUCKDB_FILE}.{os.getpid()}.tmp"
    wal = Path(f"{tmp}.wal")
    tmp.unlink(missing_ok=True)
    wal.unlink(missing_ok=True)
    try:
        with duckdb.connect(str(tmp), config={"storage_compatibility_version": STORAGE_VERSION}) as con:
            # DuckDB binds a view when creating it: the relative paths must resolve now.
            con.execute(search_path_sql(root))
            con.execute(expected_view_sql(manifest, str(root)))
            con.execute(similar_macro_sql())
            con.execute("CHECKPOINT")   # raises if the view cannot reach the file itself
        if wal.exists() and wal.stat().st_size:
            raise GridBuildError(f"{tmp}: DuckDB left the view in its write-ahead log (the checkpoint failed)")
        if _stored_view_sql(tmp) is None:
            raise GridBuildError(f"{tmp}: the written database holds no {VIEW_NAME} view")
        os.replace(tmp, target)
    except duckdb.Error as exc:
        if "No space left" in str(exc):
            raise DiskFullError(f"no space left on the device of {root} writing {target}") from None
        raise GridBuildError(f"cannot write {target}: {exc}") from None
    finally:
        tmp.unlink(missing_ok=True)
        wal.unlink(missing_ok=True)
    return target


def expected_view_sql(manifest: Manifest, root: str | None = None) -> str:
    """The ``CREATE VIEW`` statements that ``satcle.duckdb`` of `manifest`'s grid holds,
    written in the directory `root` (absolute; `view_sql`)."""
    return view_sql([p.file for p in manifest.partitions], manifest.dim, manifest.dtype,
                    manifest_sha256=view_manifest_sha256(manifest), arrow_lambda=_old_duckdb(),
                    levels=[level.file for level in manifest.pyramid], root=root)


def _build_root(stored: list[tuple[str, str, str | None]]) -> str | None:
    """The build-time grid directory that the stored ``satcle`` view names (its absolute
    manifest path), or None for a view of relative paths only."""
    views = [sql for kind, name, sql in stored if (kind, name) == ("view", VIEW_NAME) and sql]
    for match in re.finditer(r"'((?:[^']|'')+)/" + re.escape(MANIFEST_FILE) + "'", views[0] if views else ""):
        # Written by `_path_literal`: glob characters each in a class of their own.
        return re.sub(r"\[([*?\[])\]", r"\1", match.group(1).replace("''", "'"))
    return None


def database_problem(grid_dir: str | os.PathLike, manifest: Manifest) -> str | None:
    """What is wrong with ``satcle.duckdb`` of the grid at `grid_dir`, or None.

    The file is attached read-only and only its catalog is read (no view or macro
    of it runs): it must hold the view ``satcle``, whose definition is the builder's
    for `manifest` (`expected_view_sql`, as DuckDB renders both), and at most the
    builder's table macro ``satcle_similar`` (`similar_macro_sql`; grids written
    before it have none). Anything else - another view, macro or table, another
    definition - could run SQL of someone else's choosing when the file is queried.
    """
    import duckdb

    root = Path(grid_dir).expanduser().resolve()
    path = root / DUCKDB_FILE
    try:
        stored = _catalog(path)
    except duckdb.Error as exc:
        return f"{DUCKDB_FILE} is unreadable: {' '.join(str(exc).split())}"
    statement = expected_view_sql(manifest, _build_root(stored))
    with tempfile.TemporaryDirectory() as scratch:
        probe = Path(scratch) / "expected.duckdb"
        try:
            # Rendered as the builder's own file renders it: written in the same storage
            # format and read back (DuckDB writes lambdas for 1.1 storage as `v -> ...`).
            with duckdb.connect(str(probe), config={"storage_compatibility_version": STORAGE_VERSION}) as con:
                con.execute(search_path_sql(root))
                con.execute(statement)
                con.execute(similar_macro_sql())
            catalog = _catalog(probe)
        except duckdb.Error as exc:
            return (f"{DUCKDB_FILE}: cannot create the view of this manifest to compare: "
                    f"{' '.join(str(exc).split())}")
    expected = [sql for kind, name, sql in catalog if (kind, name) == ("view", VIEW_NAME)]
    expected_pyramid = [sql for kind, name, sql in catalog if (kind, name) == ("view", PYRAMID_VIEW_NAME)]
    expected_macro = next(sql for kind, name, sql in catalog if (kind, name) == ("table_macro", SIMILAR_MACRO))
    builder_objects = {("view", VIEW_NAME), ("view", PYRAMID_VIEW_NAME), ("table_macro", SIMILAR_MACRO)}
    others = [f"{kind} {name}" for kind, name, _ in stored if (kind, name) not in builder_objects]
    if others:
        return f"{DUCKDB_FILE} holds objects the builder never writes ({', '.join(others[:5])}): do not open it"
    views = [sql for kind, name, sql in stored if (kind, name) == ("view", VIEW_NAME)]
    if not views:
        return f"{DUCKDB_FILE} holds no {VIEW_NAME} view"
    if views[0] not in expected:
        return f"{DUCKDB_FILE}: its {VIEW_NAME} view is not the one the builder writes for this manifest: do not open it"
    pyramids = [sql for kind, name, sql in stored if (kind, name) == ("view", PYRAMID_VIEW_NAME)]
    if pyramids != expected_pyramid[:1] and not (not pyramids and not manifest.pyramid):
        return (f"{DUCKDB_FILE}: its {PYRAMID_VIEW_NAME} view is not the one the builder writes for this manifest: "
                "do not open it")
    macros = [sql for kind, name, sql in stored if (kind, name) == ("table_macro", SIMILAR_MACRO)]
    if macros and macros != [expected_macro]:
        return f"{DUCKDB_FILE}: its {SIMILAR_MACRO} macro is not the one the builder writes: do not open it"
    return None


def _catalog(path: Path) -> list[tuple[str, str, str | None]]:
    """(kind, name, sql) of every user object in the database file at `path`, attached read-only."""
    import duckdb

    with duckdb.connect() as con:
        con.execute(f"ATTACH {_literal(str(path))} AS grid_file (READ_ONLY)")
        con.execute("SET enable_external_access = false")   # nothing below reads files; nothing may
        where = "database_name = 'grid_file' AND NOT internal"
        return (
            con.execute(f"SELECT 'view', view_name, sql FROM duckdb_views() WHERE {where}").fetchall()
            + con.execute(f"SELECT 'table', table_name, sql FROM duckdb_tables() WHERE {where}").fetchall()
            + con.execute(f"SELECT function_type, function_name, macro_definition FROM duckdb_functions() "
                          f"WHERE {where}").fetchall()
            + con.execute("SELECT 'sequence', sequence_name, sql FROM duckdb_sequences() "
                          "WHERE database_name = 'grid_file'").fetchall()
            + con.execute(f"SELECT 'type', type_name, NULL FROM duckdb_types() WHERE {where}").fetchall()
            + con.execute(f"SELECT 'schema', schema_name, NULL FROM duckdb_schemas() WHERE {where} "
                          f"AND schema_name <> 'main'").fetchall()
        )


def _stored_view_sql(path: Path) -> str | None:
    """The definition of the ``satcle`` view in the database file at `path`, or None."""
    views = [sql for kind, name, sql in _catalog(path) if (kind, name) == ("view", VIEW_NAME)]
    return views[0] if views else None


def _old_duckdb() -> bool:
    """Whether the installed DuckDB predates the ``lambda v: ...`` syntax (1.3)."""
    import duckdb

    return tuple(int(x) for x in duckdb.__version__.split(".")[:2]) < (1, 3)

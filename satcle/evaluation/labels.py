"""A user's own labelled points as a benchmark task: "does satcle help my task?".

`load_labels(path, target)` reads a CSV or Parquet file with a latitude and a
longitude column (degrees; found among the usual names, or named) and a target
column, and returns a `TaskData` the benchmark probes like any other. A numeric
target is a regression unless the caller asks for classification; a
non-numeric one is always a classification. `covariates` are the user's own
columns, added to every encoder's features (numbers standardised, text one-hot),
so that the question becomes "what does satcle add to what I already have?".
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..core.coordinates import coordinate_columns, invalid_coordinates, wrap_longitude
from ..core.errors import EvaluationConfigError, InvalidArgumentError
from ..frames.point_files import duplicated_names
from .tasks import CLASSIFICATION, REGRESSION, TaskData

#: Fewer usable rows than this cannot fill a 7:1:2 split with a meaningful test set.
MIN_ROWS = 50
SUFFIXES = (".csv", ".parquet", ".pq")
#: Most distinct values of a text covariate (one column each).
MAX_CATEGORIES = 100


def load_labels(path: Path, target: str, kind: str | None = None, *, lat: str | None = None,
                lon: str | None = None, covariates: tuple[str, ...] = ()) -> TaskData:
    """The labelled points of `path` as a task named after `target`.

    kind: "regression", "classification" or None (numeric -> regression, else
    classification). lat, lon: the coordinate columns (default: found among
    lat/latitude/decimalLatitude and lon/lng/longitude/decimalLongitude, any
    case). covariates: columns added to every encoder's features
    (`TaskData.covariates`, (N, k) float32: numbers standardised, text one-hot).
    Rows whose coordinates, target or a covariate are missing or NaN are
    dropped and counted in `TaskData.dropped`. Raises EvaluationConfigError for
    a missing file or column (none or several candidate coordinate columns), an
    unsupported suffix, a latitude outside [-90, 90] (naming the row), a
    non-numeric regression target, or fewer than 50 usable rows.
    """
    path = Path(path)
    if path.suffix.lower() not in SUFFIXES:
        raise EvaluationConfigError(f"labels must be .csv or .parquet, got {path.name}")
    if not path.is_file():
        raise EvaluationConfigError(f"labels file {path} not found")
    if kind not in (None, REGRESSION, CLASSIFICATION):
        raise EvaluationConfigError(f"task kind must be {REGRESSION!r} or {CLASSIFICATION!r}, got {kind!r}")
    table = _read_table(path)
    repeated = duplicated_names(table.column_names)
    if repeated:
        raise EvaluationConfigError(f"{path.name}: column name(s) {repeated} appear more than once; rename them so "
                                    "that each column has its own name")
    try:
        lat, lon = coordinate_columns(table.column_names, lat=lat, lon=lon, where=path.name,
                                      fix="name them with --lat-column/--lon-column")
    except InvalidArgumentError as exc:
        raise EvaluationConfigError(str(exc)) from None
    missing = [c for c in (target, *covariates) if c not in table.column_names]
    if missing:
        raise EvaluationConfigError(f"{path.name} has no column(s) {missing}; it has {table.column_names}")
    lats = _numeric(table, lat, path)
    lons = _numeric(table, lon, path)
    column = table[target]
    numeric = _is_numeric(column.type)
    if kind is None:
        kind = REGRESSION if numeric else CLASSIFICATION
    if kind == REGRESSION and not numeric:
        raise EvaluationConfigError(f"target {target!r} is not numeric ({column.type}); use --task classification")
    values = column.to_numpy(zero_copy_only=False)
    if numeric:
        values = values.astype(np.float64)
        present = np.isfinite(values)
    else:
        present = np.asarray([v is not None and str(v) != "" for v in column.to_pylist()], dtype=bool)
    extra, extra_present = _covariates(table, covariates, path)
    located = np.isfinite(lats) & np.isfinite(lons)
    outside = np.flatnonzero(located & present & invalid_coordinates(lats, lons))
    if outside.size:
        row = int(outside[0])
        raise EvaluationConfigError(f"{path.name} row {row + 1}: latitude {lats[row]} is outside [-90, 90]")
    keep = located & present & extra_present
    if keep.sum() < MIN_ROWS:
        what = ", ".join(repr(c) for c in (lat, lon, target, *covariates))
        raise EvaluationConfigError(f"{path.name} has {int(keep.sum())} usable rows ({what} all present); "
                                    f"need >= {MIN_ROWS}")
    lats, lons = lats[keep], wrap_longitude(lons[keep])
    if kind == REGRESSION:
        y, classes = values[keep], ()
    else:
        labels = np.asarray([str(v) for v in np.asarray(values, dtype=object)[keep]], dtype=object)
        names, y = np.unique(labels.astype(str), return_inverse=True)
        classes = tuple(str(n) for n in names)
        if len(classes) < 2:
            raise EvaluationConfigError(f"target {target!r} has a single class {classes}: nothing to classify")
    description = f"column {target!r} of {path.name}" + (
        f", with covariates {', '.join(covariates)} added to every encoder's features" if covariates else "")
    return TaskData(
        target, kind, lats, lons, np.asarray(y, dtype=np.float64 if kind == REGRESSION else np.int64), classes,
        "user", description, dropped=int((~keep).sum()),
        covariates=_standardised(extra[keep]) if covariates else None,
    )


def _covariates(table, names: tuple[str, ...], path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(N, k) float64 features of the covariate columns (numbers as they are, text one-hot)
    and (N,) bool rows where all of them are present."""
    n = table.num_rows
    blocks, present = [], np.ones(n, dtype=bool)
    for name in names:
        column = table[name]
        if _is_numeric(column.type):
            values = np.asarray(column.to_numpy(zero_copy_only=False), dtype=np.float64)
            present &= np.isfinite(values)
            blocks.append(values[:, None])
            continue
        text = np.asarray([None if v is None or str(v) == "" else str(v) for v in column.to_pylist()], dtype=object)
        present &= text != None   # noqa: E711 (elementwise)
        categories = sorted({v for v in text if v is not None})
        if len(categories) > MAX_CATEGORIES:
            raise EvaluationConfigError(f"covariate {name!r} of {path.name} has {len(categories)} distinct "
                                        f"values; a text covariate may have at most {MAX_CATEGORIES}")
        blocks.append(np.stack([(text == c).astype(np.float64) for c in categories], axis=1)
                      if categories else np.zeros((n, 0)))
    return (np.concatenate(blocks, axis=1) if blocks else np.zeros((n, 0))), present


def _standardised(features: np.ndarray) -> np.ndarray:
    """Columns with zero mean and unit variance (constant columns: zero), float32."""
    std = features.std(axis=0)
    return ((features - features.mean(axis=0)) / np.where(std > 0, std, 1.0)).astype(np.float32)


def _read_table(path: Path):
    import pyarrow as pa

    try:
        if path.suffix.lower() == ".csv":
            import pyarrow.csv as pacsv

            return pacsv.read_csv(path)
        import pyarrow.parquet as pq

        return pq.read_table(path)
    except (OSError, pa.ArrowInvalid) as exc:
        raise EvaluationConfigError(f"cannot read {path}: {exc}") from None


def _is_numeric(arrow_type) -> bool:
    import pyarrow.types as pat

    return pat.is_integer(arrow_type) or pat.is_floating(arrow_type) or pat.is_decimal(arrow_type)


def _numeric(table, name: str, path: Path) -> np.ndarray:
    import pyarrow.types as pat

    column = table[name]
    if not _is_numeric(column.type) and not pat.is_null(column.type):
        raise EvaluationConfigError(f"column {name!r} of {path.name} must be numeric degrees, got {column.type}")
    return np.asarray(column.to_numpy(zero_copy_only=False), dtype=np.float64)

"""A user's own labelled points as a benchmark task: "does satcle help my task?".

`load_labels(path, target)` reads a CSV or Parquet file with columns ``lat`` and
``lon`` (degrees) and a target column, and returns a `TaskData` the benchmark
probes like any other. A numeric target is a regression unless the caller asks
for classification; a non-numeric one is always a classification.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..core.coordinates import wrap_longitude
from ..core.errors import EvaluationConfigError
from ..core.points import duplicated_names
from .tasks import CLASSIFICATION, REGRESSION, TaskData

#: Fewer usable rows than this cannot fill a 7:1:2 split with a meaningful test set.
MIN_ROWS = 50
SUFFIXES = (".csv", ".parquet", ".pq")


def load_labels(path: Path, target: str, kind: str | None = None) -> TaskData:
    """The labelled points of `path` as a task named after `target`.

    kind: "regression", "classification" or None (numeric -> regression, else
    classification). Rows whose lat, lon or target is missing or NaN are dropped
    and counted in `TaskData.dropped`. Raises EvaluationConfigError for a missing
    file or column, an unsupported suffix, a latitude outside [-90, 90] (naming
    the row), a non-numeric regression target, or fewer than 50 usable rows.
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
    missing = [c for c in ("lat", "lon", target) if c not in table.column_names]
    if missing:
        raise EvaluationConfigError(f"{path.name} has no column(s) {missing}; it has {table.column_names}")
    lats = _numeric(table, "lat", path)
    lons = _numeric(table, "lon", path)
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
    keep = np.isfinite(lats) & np.isfinite(lons) & present
    outside = np.flatnonzero(keep & (np.abs(lats) > 90.0))
    if outside.size:
        row = int(outside[0])
        raise EvaluationConfigError(f"{path.name} row {row + 1}: latitude {lats[row]} is outside [-90, 90]")
    if keep.sum() < MIN_ROWS:
        raise EvaluationConfigError(
            f"{path.name} has {int(keep.sum())} usable rows (lat, lon and {target!r} all present); need >= {MIN_ROWS}"
        )
    lats, lons = lats[keep], wrap_longitude(lons[keep])
    if kind == REGRESSION:
        y, classes = values[keep], ()
    else:
        labels = np.asarray([str(v) for v in np.asarray(values, dtype=object)[keep]], dtype=object)
        names, y = np.unique(labels.astype(str), return_inverse=True)
        classes = tuple(str(n) for n in names)
        if len(classes) < 2:
            raise EvaluationConfigError(f"target {target!r} has a single class {classes}: nothing to classify")
    return TaskData(
        target, kind, lats, lons, np.asarray(y, dtype=np.float64 if kind == REGRESSION else np.int64), classes,
        "user", f"column {target!r} of {path.name}", dropped=int((~keep).sum()),
    )


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
    column = table[name]
    if not _is_numeric(column.type) and not _is_null(column.type):
        raise EvaluationConfigError(f"column {name!r} of {path.name} must be numeric degrees, got {column.type}")
    return np.asarray(column.to_numpy(zero_copy_only=False), dtype=np.float64)


def _is_null(arrow_type) -> bool:
    import pyarrow.types as pat

    return pat.is_null(arrow_type)

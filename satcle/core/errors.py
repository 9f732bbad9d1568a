"""Every exception satcle raises, in one place.

Each derives from the built-in a caller would naturally catch (ValueError for bad
input, FileNotFoundError for absent things), so `except ValueError` keeps working,
and from `SatcleError`, so one clause can catch all of ours.
"""


class SatcleError(Exception):
    """Base class of all satcle errors."""


class InvalidArgumentError(SatcleError, ValueError):
    """An argument the function does not accept: an unknown option, a size or range outside its domain."""


class CoordinateError(SatcleError, ValueError):
    """Coordinates that cannot be encoded: NaN/inf, |lat| > 90, wrong shape or type."""


class ModelNotFoundError(SatcleError, FileNotFoundError):
    """No model by that name, and no model directory at that path."""


class ModelFormatError(SatcleError, ValueError):
    """A model directory whose files are missing, corrupt or inconsistent."""


class GridFormatError(SatcleError, ValueError):
    """A grid directory that is missing, incomplete, corrupt or of another version."""


class DataUnavailableError(SatcleError, FileNotFoundError):
    """An evaluation task whose source data is not installed or not reachable offline."""


class MissingPackageError(DataUnavailableError):
    """An optional package a feature needs is not installed (the message names the extra)."""


class EncoderUnavailableError(SatcleError, LookupError):
    """An evaluation encoder that cannot run here (package missing, no grid given)."""


class EvaluationConfigError(SatcleError, ValueError):
    """An evaluation request that cannot be run: unknown task or encoder name, bad sizes."""


class GridBuildError(SatcleError, RuntimeError):
    """A grid build that cannot go on: its output holds another build, or a worker failed."""


class BuildLockedError(GridBuildError):
    """Another build holds the grid directory (the message names its process and host)."""


class DiskFullError(GridBuildError):
    """No space left on the device a build writes to (the message names the device and the file)."""


class GridNotFoundError(SatcleError, FileNotFoundError):
    """No grid where one was looked for (an explicit path or the default location)."""


class OutsideCoverageError(SatcleError, LookupError):
    """A point whose H3 cell the grid does not store (e.g. ocean on a land grid)."""


class DataError(SatcleError, ValueError):
    """Training data that cannot be used: missing index columns, unreadable or truncated images."""


class TrainingConfigError(SatcleError, ValueError):
    """A training configuration that cannot work (bad sizes, a resume against another config)."""


class PointFileError(InvalidArgumentError):
    """A point file that cannot be read as asked: suffix, missing column, unreadable content."""


class BadRowError(InvalidArgumentError):
    """A row of a point file whose coordinates cannot be embedded (``satcle embed`` with ``--on-bad-row error``)."""

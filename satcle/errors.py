"""Every exception satcle raises, in one place.

Each derives from the built-in a caller would naturally catch (ValueError for bad
input, FileNotFoundError for absent things), so `except ValueError` keeps working,
and from `SatcleError`, so one clause can catch all of ours.
"""


class SatcleError(Exception):
    """Base class of all satcle errors."""


class CoordinateError(SatcleError, ValueError):
    """Coordinates that cannot be encoded: NaN/inf, |lat| > 90, wrong shape or type."""


class ModelNotFoundError(SatcleError, FileNotFoundError):
    """No model by that name, and no model directory at that path."""


class ModelFormatError(SatcleError, ValueError):
    """A model directory whose files are missing, corrupt or inconsistent."""


class DataError(SatcleError, ValueError):
    """Training data that cannot be used: missing index columns, unreadable or truncated images."""


class TrainingConfigError(SatcleError, ValueError):
    """A training configuration that cannot work (bad sizes, a resume against another config)."""

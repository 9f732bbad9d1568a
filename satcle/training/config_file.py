"""Research settings from a TOML file, applied over a preset.

`satcle train` takes only what people change run to run (out, data, device,
seed, epochs); every other setting of a `Preset` lives in a config file:

    tile_count = 20000                 # top-level keys: the preset's own fields
    sources = ["bluemarble", "relief"]

    [contrastive]                      # one table per nested config
    lr = 3e-4
    retention_weight = 30

    [refinement]
    spatial = false

    [encoder]
    legendre_degree = 40

Tables: `vision`, `dino`, `refinement`, `contrastive`, `encoder` (the fields of
`VisionConfig`, `DinoConfig`, `RefinementConfig`, `ContrastiveConfig`,
`EncoderConfig`; docs/TRAINING.md names them). Unknown keys, wrong types and
values the configs reject are errors naming the file and the key.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path
from typing import Any

from ..core.errors import TrainingConfigError
from .presets import Preset, get_preset

#: Top-level fields a file may set (the rest of a preset is its name, its data kind and its tables).
TOP_LEVEL = ("tile_count", "tile_size", "sources", "tile_spacing_km", "tile_km_per_px")
TABLES = ("vision", "dino", "refinement", "contrastive", "encoder")


def read_config(path: str | Path) -> dict[str, Any]:
    """The TOML file at `path` as a dict; TrainingConfigError naming the file when it is missing or invalid."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        import tomli as tomllib
    path = Path(path)
    try:
        with open(path, "rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise TrainingConfigError(f"config file {path} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise TrainingConfigError(f"config file {path} is not valid TOML: {exc}") from None


def apply_config(preset: Preset, settings: dict[str, Any], *, source: str = "config") -> Preset:
    """`preset` with the settings of a config file (see the module docstring) applied.

    source : how the settings are named in errors (the file's path).
    """
    changes: dict[str, Any] = {}
    for key, value in settings.items():
        if key in TABLES:
            if not isinstance(value, dict):
                raise TrainingConfigError(f"{source}: [{key}] must be a table")
            changes[key] = _replace(getattr(preset, key), value, f"{source}: [{key}]")
        elif key in TOP_LEVEL:
            default = getattr(preset, key)
            changes[key] = _typed(value, default, f"{source}: {key}")
        else:
            raise TrainingConfigError(
                f"{source}: unknown setting {key!r}; top-level keys are {', '.join(TOP_LEVEL)}, "
                f"tables are {', '.join(TABLES)}")
    try:
        return preset.replace(**changes)
    except (TypeError, ValueError) as exc:
        raise TrainingConfigError(f"{source}: {exc}") from None


def _replace(config, values: dict[str, Any], where: str):
    """A frozen dataclass `config` with `values` replaced, each checked against the field's current type."""
    fields = {f.name: f for f in dataclasses.fields(config)}
    typed = {}
    for key, value in values.items():
        if key not in fields:
            raise TrainingConfigError(f"{where}: unknown field {key!r}; fields are {', '.join(fields)}")
        typed[key] = _typed(value, getattr(config, key), f"{where} {key}")
    try:
        return dataclasses.replace(config, **typed)
    except (TypeError, ValueError) as exc:   # the configs' own checks (TrainingConfigError is a ValueError)
        raise TrainingConfigError(f"{where}: {exc}") from None


def _typed(value: Any, default: Any, where: str) -> Any:
    """`value` converted to the type of the field's `default` (ints become floats, lists tuples)."""
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise TrainingConfigError(f"{where} must be true or false, got {value!r}")
        return value
    if isinstance(default, float) or (default is None and isinstance(value, (int, float))):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TrainingConfigError(f"{where} must be a number, got {value!r}")
        return float(value)
    if isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, int):
            raise TrainingConfigError(f"{where} must be an integer, got {value!r}")
        return value
    if isinstance(default, tuple):
        if not isinstance(value, list):
            raise TrainingConfigError(f"{where} must be a list, got {value!r}")
        kind = type(default[0]) if default else None
        return tuple(float(v) if kind is float else v for v in value)
    if isinstance(default, str):
        if not isinstance(value, str):
            raise TrainingConfigError(f"{where} must be a string, got {value!r}")
        return value
    return value


def preset_for_run(name: str, config: str | Path | None = None, *, seed: int | None = None,
                   epochs: int | None = None) -> Preset:
    """The preset called `name`, with the config file at `config` applied, then the command
    line's `seed` (contrastive seed: tiles, split, order, jitter, init) and `epochs`
    (maximum contrastive epochs) where given."""
    preset = get_preset(name)
    if config is not None:
        preset = apply_config(preset, read_config(config), source=str(config))
    contrastive = preset.contrastive
    if seed is not None:
        contrastive = dataclasses.replace(contrastive, seed=seed)
    if epochs is not None:
        contrastive = dataclasses.replace(contrastive, max_epochs=epochs)
    return preset.replace(contrastive=contrastive)

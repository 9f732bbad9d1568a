"""The one model-directory format: safetensors weights beside a JSON document.

Both kinds of model satcle writes use it: location encoders (`checkpoint`:
``model.safetensors`` + ``config.json``) and training ViTs (`vision`:
``vision.safetensors`` + ``vision.json``). The document names its `format`,
holds the architecture config and metadata, and records ``weights_sha256``, so
that a flipped byte is reported as corruption. No pickle: loading cannot run code.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from ..core.atomic import atomic_path, write_text_atomic
from ..core.checksum import file_sha256
from ..core.errors import ModelFormatError


def config_from_dict(config_class: type, values: dict):
    """`config_class(**values)` for a frozen dataclass config read from a document; keys it does
    not have raise ModelFormatError naming them (its own checks raise InvalidArgumentError)."""
    known = {f.name for f in dataclasses.fields(config_class)}
    unknown = set(values) - known
    if unknown:
        raise ModelFormatError(f"unknown encoder config keys: {sorted(unknown)}")
    return config_class(**values)


def write_weights_directory(directory: str | Path, state: dict[str, torch.Tensor], document: dict, *,
                            weights_file: str, config_file: str) -> Path:
    """Write `state` (CPU-contiguous tensors) to ``directory/weights_file`` and `document`,
    with ``weights_sha256`` added, to ``directory/config_file``: each file atomically,
    the document last (a directory with a document has whole weights). Returns the directory."""
    directory = Path(directory)
    weights = directory / weights_file
    with atomic_path(weights) as tmp:
        save_file({k: v.detach().cpu().contiguous() for k, v in state.items()}, str(tmp))
    document = {**document, "weights_sha256": file_sha256(weights)}
    write_text_atomic(directory / config_file, json.dumps(document, indent=2, sort_keys=True) + "\n")
    return directory


def read_weights_directory(directory: str | Path, *, weights_file: str, config_file: str, format: str,
                           format_version: int | None = None) -> tuple[dict, dict[str, torch.Tensor], str]:
    """(document, state, sha256 of the weights) of a directory written by `write_weights_directory`.

    Raises ModelFormatError naming the problem: a file missing, a document that
    is not JSON, of another `format` or `format_version`, weights whose sha256
    differs from the recorded one (directories written before it was recorded
    are not checked), or weights that are not safetensors.
    """
    directory = Path(directory)
    config_path, weights_path = directory / config_file, directory / weights_file
    for path in (config_path, weights_path):
        if not path.is_file():
            raise ModelFormatError(f"{directory} is not a satcle model: {path.name} is missing")
    try:
        document = json.loads(config_path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelFormatError(f"{config_path} is not valid JSON: {exc}") from None
    if not isinstance(document, dict) or document.get("format") != format:
        raise ModelFormatError(f"{config_path} is not a {format} config")
    if format_version is not None and document.get("format_version") != format_version:
        raise ModelFormatError(
            f"{config_path} has format_version {document.get('format_version')!r}; "
            f"this satcle reads version {format_version}"
        )
    digest = file_sha256(weights_path)
    expected = document.get("weights_sha256")
    if expected is not None and expected != digest:
        raise ModelFormatError(f"{weights_path} is corrupt: sha256 {digest} does not match {expected} in {config_file}")
    try:
        state = load_file(str(weights_path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise ModelFormatError(f"{weights_path} is not a readable safetensors file: {exc}") from None
    return document, state, digest

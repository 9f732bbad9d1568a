"""Encoder files: safetensors weights plus a JSON config, never pickle.

A model is a directory holding

* ``model.safetensors`` - the tensors (a checkpoint cannot run code on load);
* ``config.json`` - format tag and version, the model ``kind`` (``siren-sh``:
  `LocationEncoder` with an `EncoderConfig`; ``geoclip-rff``: `GeoClipEncoder`
  with a `GeoClipConfig`; a config without ``kind`` is ``siren-sh``), its
  config, free-form metadata (trained or not, data, command, seed, source) and
  the sha256 of the weights file;
* optionally ``MODEL_CARD.md``.

Models shipped inside the package live in ``satcle/weights/<name>/`` and are
found by name; anything else is loaded by path (`resolve_model`: a shipped name
always means the shipped model; a folder of the same name is ``./name``).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from importlib import resources
from pathlib import Path

import torch

from ..core.atomic import current_umask
from ..core.errors import ModelFormatError, ModelNotFoundError
from .geoclip_encoder import GeoClipConfig, GeoClipEncoder
from .location_encoder import EncoderConfig, LocationEncoder
from .weights_directory import read_weights_directory, write_weights_directory

FORMAT = "satcle-location-encoder"
FORMAT_VERSION = 1
WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
#: Model kinds by the name config.json records: (config class, encoder class).
KINDS = {LocationEncoder.KIND: (EncoderConfig, LocationEncoder), GeoClipEncoder.KIND: (GeoClipConfig, GeoClipEncoder)}
# Directories written before kinds were recorded hold Siren(SH) encoders.
_UNRECORDED_KIND = LocationEncoder.KIND
Encoder = LocationEncoder | GeoClipEncoder


def shipped_models_dir() -> Path:
    """Directory of the models shipped inside the installed package."""
    return Path(str(resources.files("satcle") / "weights"))


def available_models() -> list[str]:
    """Names accepted by `load_encoder` besides paths (sorted)."""
    root = shipped_models_dir()
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if (p / CONFIG_FILE).is_file())


def load_encoder(name_or_path: str | os.PathLike = "default", device: str | torch.device = "cpu") -> Encoder:
    """Load a location encoder by shipped name or by path, in eval mode.

    The directory's ``kind`` picks the class: `LocationEncoder` (Siren(SH), the
    shipped models and imported SatCLIP checkpoints) or `GeoClipEncoder`. Both
    have ``encode(lats, lons) -> (N, output_dim)``, ``config``, ``metadata`` and
    ``summary()``.

    Parameters
    ----------
    name_or_path : str or path
        A shipped model name (see `available_models`, e.g. "default"), a model
        directory, or the ``model.safetensors`` file inside one.
    device : str or torch.device
        Where the weights go ("cpu", "cuda", ...).

    Raises
    ------
    ModelNotFoundError
        Neither a shipped name nor an existing path.
    ModelFormatError
        Files missing, unreadable, of another format or an unknown kind, or the
        weights' sha256 or tensor shapes do not match the config.
    """
    directory = resolve_model(name_or_path)
    document, state, digest = read_weights_directory(directory, weights_file=WEIGHTS_FILE, config_file=CONFIG_FILE,
                                                     format=FORMAT, format_version=FORMAT_VERSION)
    kind = document.get("kind", _UNRECORDED_KIND)
    if kind not in KINDS:
        raise ModelFormatError(f"{directory / CONFIG_FILE} holds a model of kind {kind!r}; this satcle runs "
                               f"{', '.join(KINDS)} (a newer satcle may run it)")
    config_class, encoder_class = KINDS[kind]
    try:
        config = config_class.from_dict(document["config"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelFormatError(f"{directory / CONFIG_FILE} has an invalid {kind} config: {exc}") from None
    # The weights' shapes against the config's, before the network is allocated.
    with torch.device("meta"):
        expected = {name: tuple(tensor.shape) for name, tensor in encoder_class(config).state_dict().items()}
    found = {name: tuple(tensor.shape) for name, tensor in state.items()}
    if found != expected:
        wrong = sorted(set(found) ^ set(expected)) or sorted(n for n in found if found[n] != expected[n])
        name = wrong[0]
        raise ModelFormatError(f"{directory / WEIGHTS_FILE} does not fit {CONFIG_FILE}: tensor {name} has shape "
                               f"{found.get(name, 'none')}, the config gives {expected.get(name, 'none')}")

    metadata = dict(document.get("metadata", {}))
    metadata.update(name=document.get("name", directory.name), sha256=digest, path=str(directory), kind=kind)
    encoder = encoder_class(config, metadata=metadata)
    try:
        encoder.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise ModelFormatError(f"{directory / WEIGHTS_FILE} does not fit its config: {exc}") from None
    return encoder.to(device).eval()


def save_encoder(
    encoder: Encoder,
    directory: str | os.PathLike,
    *,
    name: str | None = None,
    metadata: dict | None = None,
    model_card: str | None = None,
) -> Path:
    """Write `encoder` as a model directory, atomically (temp dir, then rename).

    Returns the directory. An existing model at that path is replaced only once
    the new one is complete.
    """
    directory = Path(directory)
    directory.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", dir=directory.parent))
    try:
        document = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "name": name or directory.name,
            "kind": encoder.KIND,
            "config": encoder.config.to_dict(),
            "metadata": dict(metadata if metadata is not None else encoder.metadata),
        }
        for volatile in ("sha256", "path", "name", "kind"):
            document["metadata"].pop(volatile, None)
        state = {k: v.detach().to("cpu", torch.float32) for k, v in encoder.state_dict().items()}
        write_weights_directory(tmp, state, document, weights_file=WEIGHTS_FILE, config_file=CONFIG_FILE)
        if model_card is not None:
            (tmp / "MODEL_CARD.md").write_text(model_card)
        # mkdtemp makes a private (0700) directory: give it what mkdir would (the umask's say).
        os.chmod(tmp, 0o777 & ~current_umask())
        for child in tmp.iterdir():
            os.chmod(child, 0o666 & ~current_umask())
        _replace_directory(tmp, directory)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return directory


def model_directory(encoder) -> str:
    """The absolute directory `encoder` was loaded from, or "" for a shipped model (found by
    name) or one never saved: what a grid records so that its live fallbacks find the model."""
    path = encoder.metadata.get("path")
    if not path or Path(path).resolve().parent == shipped_models_dir().resolve():
        return ""
    return str(Path(path).resolve())


def resolve_model(name_or_path: str | os.PathLike) -> Path:
    """The model directory `name_or_path` names, by one rule: a shipped model's name
    (`available_models`, given as a str) is always the shipped model, even with a
    folder of that name in the working directory; anything else is a path (a
    directory, or the ``model.safetensors`` inside one), so a folder named like a
    shipped model is reached as ``./default`` or by an absolute path. Raises
    ModelNotFoundError when it is neither."""
    if isinstance(name_or_path, str) and name_or_path in available_models():
        return shipped_models_dir() / name_or_path
    path = Path(name_or_path).expanduser()
    if path.is_file() and path.name == WEIGHTS_FILE:
        return path.parent
    if path.is_dir():
        return path
    raise ModelNotFoundError(
        f"no model named or at {str(name_or_path)!r}; shipped models: "
        f"{', '.join(available_models()) or '(none)'}; or pass a model directory"
    )


def _replace_directory(new: Path, target: Path) -> None:
    if not target.exists():
        os.replace(new, target)
        return
    old = target.with_name(f".{target.name}.old-{os.getpid()}")
    os.replace(target, old)
    os.replace(new, target)
    shutil.rmtree(old, ignore_errors=True)

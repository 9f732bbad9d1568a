"""GeoCLIP's released location encoder as a satcle model: `satcle import geoclip --out DIR`.

The weights come from the installed `geoclip` package
(``geoclip/model/weights/location_encoder_weights.pth``), found without importing
it (its import pulls in transformers), or from a file given explicitly; they are
read with ``torch.load(weights_only=True)``. The architecture is taken from the
tensors' shapes: branches ``LocEnc{i}``, each ``capsule.0.b`` (Fourier
frequencies, F x 2), ``capsule.{1,3,5,...}`` (Linear + ReLU) and ``head.0``
(Linear). satcle runs it natively (`GeoClipEncoder`); neither geoclip nor
transformers is needed afterwards.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import math
import re
from pathlib import Path

import torch

from ..core.checksum import file_sha256
from ..core.errors import ModelFormatError, ModelNotFoundError
from .encoder_files import save_encoder
from .geoclip_encoder import GeoClipConfig, GeoClipEncoder
from .torch_checkpoint import read_torch_checkpoint

WEIGHTS_IN_PACKAGE = Path("model") / "weights" / "location_encoder_weights.pth"
INSTALL_HINT = "pip install --no-deps geoclip==1.3.0 (docs/IMPORT.md)"
_BRANCH = re.compile(r"LocEnc(\d+)\.(capsule|head)\.(\d+)\.(b|weight|bias)")


def installed_geoclip_weights() -> Path:
    """The location-encoder weights of the installed `geoclip` package (not imported).

    Raises ModelNotFoundError when the package or its weights file is absent.
    """
    spec = importlib.util.find_spec("geoclip")
    if spec is None or not spec.submodule_search_locations:
        raise ModelNotFoundError(f"package 'geoclip' is not installed: {INSTALL_HINT}, or pass --weights FILE")
    path = Path(list(spec.submodule_search_locations)[0]) / WEIGHTS_IN_PACKAGE
    if not path.is_file():
        raise ModelNotFoundError(f"the installed geoclip has no {WEIGHTS_IN_PACKAGE} ({path})")
    return path


def geoclip_encoder(weights: str | Path | None = None) -> GeoClipEncoder:
    """GeoCLIP's location encoder from `weights` (default: the installed package's), in eval mode.

    Raises ModelFormatError when the file is not GeoCLIP's location-encoder state dict.
    """
    path = Path(weights) if weights is not None else installed_geoclip_weights()
    state = read_torch_checkpoint(path)
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ModelFormatError(f"{path} is not a GeoCLIP location-encoder state dict (name -> tensor)")
    config, mapped = _config_and_state(path, state)
    encoder = GeoClipEncoder(config)
    try:
        encoder.load_state_dict(mapped, strict=True)
    except RuntimeError as exc:
        raise ModelFormatError(f"{path}: the weights do not form GeoCLIP's location encoder: "
                               f"{str(exc).splitlines()[-1].strip()}") from None
    return encoder.eval()


def import_geoclip(out: str | Path, *, weights: str | Path | None = None, name: str | None = None) -> Path:
    """Write GeoCLIP's location encoder as a satcle model directory `out` (atomically); returns it.

    The metadata and MODEL_CARD.md record the weights file, its sha256 and the
    geoclip package version (when taken from the package).
    """
    path = Path(weights) if weights is not None else installed_geoclip_weights()
    encoder = geoclip_encoder(path)
    digest = file_sha256(path)
    version = None
    if weights is None:
        try:
            version = importlib.metadata.version("geoclip")
        except importlib.metadata.PackageNotFoundError:
            version = None
    source = {"kind": "geoclip-weights", "file": path.name, "sha256": digest, "bytes": path.stat().st_size,
              "geoclip_version": version}
    metadata = {"trained": True, "source": source,
                "description": "GeoCLIP location encoder (MP-16 Flickr photos), 512-d, imported from "
                               + (f"geoclip {version}" if version else path.name)}
    card = _model_card(name or Path(out).name, encoder, path, digest, version)
    return save_encoder(encoder, out, name=name, metadata=metadata, model_card=card)


def _config_and_state(path: Path, state: dict) -> tuple[GeoClipConfig, dict[str, torch.Tensor]]:
    """GeoClipConfig from the tensors' shapes, and the tensors under `GeoClipEncoder`'s names."""
    branches: dict[int, dict[tuple[str, int, str], torch.Tensor]] = {}
    for key, tensor in state.items():
        match = _BRANCH.fullmatch(key)
        if match is None:
            raise ModelFormatError(f"{path}: unexpected tensor {key!r} (not GeoCLIP's location encoder)")
        branch, part, index, field = match.groups()
        branches.setdefault(int(branch), {})[(part, int(index), field)] = tensor.detach().float()
    if not branches or sorted(branches) != list(range(len(branches))):
        raise ModelFormatError(f"{path}: no consecutive LocEnc0, LocEnc1, ... branches")
    mapped, shapes = {}, set()
    scales = []
    for i, parts in sorted(branches.items()):
        try:
            frequencies = parts[("capsule", 0, "b")]
            linear = sorted(index for part, index, field in parts if part == "capsule" and field == "weight")
            mapped[f"branches.{i}.frequencies"] = frequencies
            for j, index in enumerate(linear):
                mapped[f"branches.{i}.layers.{j}.weight"] = parts[("capsule", index, "weight")]
                mapped[f"branches.{i}.layers.{j}.bias"] = parts[("capsule", index, "bias")]
            mapped[f"branches.{i}.head.weight"] = parts[("head", 0, "weight")]
            mapped[f"branches.{i}.head.bias"] = parts[("head", 0, "bias")]
            head = parts[("head", 0, "weight")]
            shapes.add((frequencies.shape[0], len(linear), head.shape[1], head.shape[0]))
        except KeyError as exc:
            raise ModelFormatError(f"{path}: branch LocEnc{i} lacks {exc.args[0]}") from None
        scales.append(_scale_of(frequencies))
    if len(shapes) != 1:
        raise ModelFormatError(f"{path}: the branches differ in shape {sorted(shapes)}")
    features, layers, hidden, output = shapes.pop()
    return GeoClipConfig(scales=tuple(scales), fourier_features=features, hidden_dim=hidden,
                         hidden_layers=layers, output_dim=output), mapped


def _scale_of(frequencies: torch.Tensor) -> float:
    """sigma of a branch's frequencies: their standard deviation, as the power of 2 it is within 25 % of."""
    std = float(frequencies.double().std())
    if std > 0:
        power = 2.0 ** round(math.log2(std))
        if abs(std / power - 1.0) < 0.25:
            return power
    return round(std, 3)


def _model_card(name: str, encoder: GeoClipEncoder, path: Path, digest: str, version: str | None) -> str:
    origin = f"the `geoclip` package {version}" if version else f"`{path.name}`"
    return f"""# {name}

GeoCLIP's location encoder (Vivanco Cepeda, Nayak & Shah, "GeoCLIP: Clip-Inspired Alignment
between Locations and Images for Effective Worldwide Geo-localization", NeurIPS 2023), imported by
`satcle import geoclip` from {origin}.

* **Source**: `{path.name}`, sha256 `{digest}`.
* **Model**: {encoder.summary()} (satcle kind `geoclip-rff`), run natively by satcle: the
  `geoclip` and `transformers` packages are not used at run time.
* **Data**: trained by its authors on MP-16 (4.7 M geotagged Flickr photos); its embedding
  follows where photos are taken.
* **Precision**: the projection and the Fourier phases in float64, the MLPs in float32; equal
  to `geoclip.LocationEncoder` within float32 rounding (tests/model/test_geoclip_encoder.py).
* **Grid**: its finest branch (sigma 256) varies at kilometre scale, so a grid interpolates it
  far less well than a Siren(SH) model: see docs/LOOKUP.md for the H3 resolution it needs.
"""

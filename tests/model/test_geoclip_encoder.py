"""GeoCLIP as a satcle model kind: `satcle import geoclip`, `GeoClipEncoder`, and its equality
with the `geoclip` package's own `LocationEncoder`.

The comparison with the package needs `pip install --no-deps geoclip==1.3.0` plus
transformers (docs/EVALUATION.md); it is skipped where geoclip is absent, except where
SATCLE_REQUIRE_GEOCLIP is set (CI sets it in .ci/run): there a missing geoclip fails it.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from satcle import load_encoder, save_encoder
from satcle.cli.main import app
from satcle.core.errors import ModelFormatError, ModelNotFoundError
from satcle.model import GeoClipConfig, GeoClipEncoder
from satcle.model.geoclip_import import geoclip_encoder, import_geoclip

TINY = GeoClipConfig(scales=(1.0, 16.0), fourier_features=8, hidden_dim=16, hidden_layers=2, output_dim=512)


def require_geoclip():
    """Skip without geoclip, unless SATCLE_REQUIRE_GEOCLIP is set (CI): then fail."""
    if importlib.util.find_spec("geoclip") is None:
        if os.environ.get("SATCLE_REQUIRE_GEOCLIP"):
            pytest.fail("SATCLE_REQUIRE_GEOCLIP is set but geoclip is not installed "
                        "(pip install --no-deps geoclip==1.3.0 && pip install transformers geopy pandas)")
        pytest.skip("geoclip is not installed (docs/EVALUATION.md); CI installs it and sets SATCLE_REQUIRE_GEOCLIP")


def geoclip_layout(encoder: GeoClipEncoder) -> dict[str, torch.Tensor]:
    """`encoder`'s tensors under the names of GeoCLIP's location_encoder_weights.pth."""
    state = {}
    for i, branch in enumerate(encoder.branches):
        state[f"LocEnc{i}.capsule.0.b"] = branch.frequencies.clone()
        for j, layer in enumerate(branch.layers):
            state[f"LocEnc{i}.capsule.{2 * j + 1}.weight"] = layer.weight.detach().clone()
            state[f"LocEnc{i}.capsule.{2 * j + 1}.bias"] = layer.bias.detach().clone()
        state[f"LocEnc{i}.head.0.weight"] = branch.head.weight.detach().clone()
        state[f"LocEnc{i}.head.0.bias"] = branch.head.bias.detach().clone()
    return state


@pytest.fixture
def tiny():
    torch.manual_seed(7)
    return GeoClipEncoder(TINY).eval()


def test_encode_is_the_float64_forward(tiny, rng, sphere_points):
    lats, lons = sphere_points(rng, 3000)
    ours = tiny.encode(lats, lons, batch_size=1000)
    wrapped = (lons + 180.0) % 360.0 - 180.0
    reference = tiny.double()(torch.from_numpy(lats), torch.from_numpy(wrapped)).detach().numpy()
    assert ours.shape == (lats.size, 512) and ours.dtype == np.float32
    np.testing.assert_allclose(ours, reference, rtol=0, atol=2e-5 * np.abs(reference).max())
    assert tiny.encode([], []).shape == (0, 512)


def test_saved_directory_records_the_kind_and_loads_back(tiny, tmp_path):
    path = save_encoder(tiny, tmp_path / "gc", metadata={"trained": False})
    document = json.loads((path / "config.json").read_text())
    assert document["kind"] == "geoclip-rff" and document["config"]["scales"] == [1.0, 16.0]
    loaded = load_encoder(path)
    assert isinstance(loaded, GeoClipEncoder) and loaded.config == TINY
    assert loaded.metadata["kind"] == "geoclip-rff" and loaded.output_dim == 512
    np.testing.assert_array_equal(loaded.encode([10.0, -45.0], [20.0, 170.0]), tiny.encode([10.0, -45.0], [20.0, 170.0]))
    document["kind"] = "future-kind"
    (path / "config.json").write_text(json.dumps(document))
    with pytest.raises(ModelFormatError, match="kind 'future-kind'"):
        load_encoder(path)


def test_import_reads_the_architecture_from_the_weights(tiny, tmp_path):
    weights = tmp_path / "location_encoder_weights.pth"
    torch.save(geoclip_layout(tiny), weights)
    result = CliRunner().invoke(app, ["import", "geoclip", "--weights", str(weights), "--out", str(tmp_path / "m")])
    assert result.exit_code == 0, result.output
    model = load_encoder(tmp_path / "m")
    assert model.config == TINY       # scales recovered from the frequencies' spread
    np.testing.assert_array_equal(model.encode([1.0, 2.0], [3.0, 4.0]), tiny.encode([1.0, 2.0], [3.0, 4.0]))
    assert model.metadata["source"]["file"] == weights.name
    assert "geoclip-rff" in (tmp_path / "m" / "MODEL_CARD.md").read_text()


def test_foreign_weights_are_refused(tiny, tmp_path):
    weights = tmp_path / "w.pth"
    state = geoclip_layout(tiny)
    state["extra.weight"] = torch.zeros(2)
    torch.save(state, weights)
    with pytest.raises(ModelFormatError, match="unexpected tensor 'extra.weight'"):
        geoclip_encoder(weights)
    state = geoclip_layout(tiny)
    del state["LocEnc1.head.0.bias"]
    torch.save(state, weights)
    with pytest.raises(ModelFormatError, match="LocEnc1 lacks"):
        geoclip_encoder(weights)
    with pytest.raises(ModelNotFoundError):
        geoclip_encoder(tmp_path / "absent.pth")


def test_missing_package_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    result = CliRunner().invoke(app, ["import", "geoclip", "--out", str(tmp_path / "m")])
    assert result.exit_code == 2 and "geoclip" in result.output and "--weights" in result.output


def test_equals_the_geoclip_package(tmp_path, rng, sphere_points):
    require_geoclip()
    import geoclip

    out = import_geoclip(tmp_path / "geoclip")
    ours = load_encoder(out)
    lats, lons = sphere_points(rng, 2000)
    wrapped = (lons + 180.0) % 360.0 - 180.0        # satcle wraps; lon = 180 is GeoCLIP's seam
    theirs = geoclip.LocationEncoder().eval()
    with torch.no_grad():
        float32 = theirs(torch.from_numpy(np.stack([lats, wrapped], axis=1).astype(np.float32))).numpy()
        reference = theirs.double()(torch.from_numpy(np.stack([lats, wrapped], axis=1))).numpy()
    embedded = ours.encode(lats, lons)
    # Within float32 rounding: no farther from geoclip than geoclip's own float32 run is from
    # its float64 run (ours computes the Fourier phases in float64, so it is nearer the latter).
    rounding = np.abs(float32 - reference).max()
    assert np.abs(embedded - float32).max() <= 2 * rounding
    assert np.abs(embedded - reference).max() <= rounding
    cos = np.einsum("ij,ij->i", embedded, float32) / np.linalg.norm(embedded, axis=1) / np.linalg.norm(float32, axis=1)
    assert cos.min() > 0.99999


def test_running_a_geoclip_model_imports_neither_geoclip_nor_transformers(tiny, tmp_path):
    path = save_encoder(tiny, tmp_path / "gc")
    code = ("import sys, satcle; e = satcle.load_encoder(sys.argv[1]).encode([48.85], [2.35]); "
            "assert e.shape == (1, 512); print(sorted(m for m in ('geoclip', 'transformers') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"

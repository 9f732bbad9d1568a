import importlib.util
import sys

import numpy as np
import pytest

import satcle
from satcle.core.errors import EncoderUnavailableError, EvaluationConfigError
from satcle.evaluation.encoders import encoder_specs, load_encoder_fn
from satcle.grid.format.store import write_manifest

LATS, LONS = np.array([48.85, -33.9, 0.0]), np.array([2.35, 18.4, 190.0])


def test_identity_sh_and_shipped_models():
    identity = load_encoder_fn("identity")(LATS, LONS)
    assert identity.dtype == np.float32  # longitudes wrapped like every satcle input
    np.testing.assert_allclose(identity, [[48.85, 2.35], [-33.9, 18.4], [0.0, -170.0]], rtol=1e-6)
    sh = load_encoder_fn("sh")(LATS, LONS)
    assert sh.shape == (3, 100) and sh.dtype == np.float32
    np.testing.assert_allclose(sh, satcle.spherical_harmonics(LATS, LONS, 10), rtol=1e-6)
    np.testing.assert_array_equal(load_encoder_fn("default")(LATS, LONS), satcle.load_encoder("default").encode(LATS, LONS))
    assert set(satcle.available_models()) <= set(encoder_specs())


def test_unknown_encoder_and_grid_rows_without_grid_are_clear_errors():
    with pytest.raises(EvaluationConfigError, match="unknown encoder 'satclop'"):
        load_encoder_fn("satclop")
    with pytest.raises(EvaluationConfigError, match="--grid"):
        load_encoder_fn("default+grid-interp")


def test_geoclip_missing_is_reported_not_crashed(monkeypatch):
    monkeypatch.setitem(sys.modules, "geoclip", None)  # makes `import geoclip` fail
    with pytest.raises(EncoderUnavailableError, match="geoclip"):
        load_encoder_fn("geoclip")


def test_geoclip_runs_its_shipped_weights_natively():
    if importlib.util.find_spec("geoclip") is None:
        pytest.skip("geoclip is an eval-only install (docs/EVALUATION.md)")
    from satcle.model.geoclip_import import geoclip_encoder

    emb = load_encoder_fn("geoclip")(LATS, LONS)
    assert emb.shape == (3, 512) and np.isfinite(emb).all()
    assert not np.allclose(emb[0], emb[1])
    np.testing.assert_array_equal(emb, geoclip_encoder().encode(LATS, LONS))   # one implementation


def test_model_directories_of_any_kind_and_width_are_encoders(tmp_path):
    import torch

    from satcle.model import GeoClipConfig, GeoClipEncoder

    torch.manual_seed(0)
    model = GeoClipEncoder(GeoClipConfig(scales=(1.0,), fourier_features=4, hidden_dim=8, hidden_layers=1,
                                         output_dim=512))
    path = satcle.save_encoder(model, tmp_path / "imported")
    specs = encoder_specs(model_dirs=(str(path),))
    assert "live network" in specs[str(path)].description
    np.testing.assert_array_equal(load_encoder_fn(str(path))(LATS, LONS), model.encode(LATS, LONS))


def test_grid_rows_use_open_grid_lookup(tmp_path, monkeypatch, grid_manifest):
    write_manifest(tmp_path, grid_manifest)
    live = satcle.load_encoder("default")
    calls = []

    class FakeGrid:
        def lookup(self, lats, lons, method):
            calls.append(method)
            return live.encode(lats, lons)

    monkeypatch.setattr(satcle.grid.lookup, "open_grid", lambda path: FakeGrid())
    specs = encoder_specs(tmp_path)
    assert list(specs)[:3] == ["default", "default+grid-interp", "default+grid-cell"]
    np.testing.assert_array_equal(specs["default+grid-cell"].load()(LATS, LONS), live.encode(LATS, LONS))
    assert calls == ["cell"]


def test_grid_rows_skip_without_a_grid(tmp_path):
    with pytest.raises(EncoderUnavailableError, match="grid rows skipped: no grid"):
        encoder_specs(tmp_path / "missing")

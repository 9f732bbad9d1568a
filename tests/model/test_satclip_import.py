"""`satcle import satclip`: a checkpoint in SatCLIP's layout becomes a satcle model whose
`encode(lats, lons)` is SatCLIP's forward at (lon, lat).

The reference below is written for this test from SatCLIP's published definition
(microsoft/satclip: `SphericalHarmonics.forward`, the two harmonics conventions, `SirenNet`),
in float64 with scipy's associated Legendre functions; it shares no code with satcle.
"""

from __future__ import annotations

import hashlib
import json
import math

import numpy as np
import pytest
import torch
from scipy.special import lpmv
from typer.testing import CliRunner

from satcle import load_encoder
from satcle.cli.main import app
from satcle.core.errors import ModelFormatError
from satcle.model.satclip_import import import_satclip, satclip_encoder


# --- SatCLIP's forward, from its definition --------------------------------------------
def satclip_harmonics(lonlat: np.ndarray, degree: int, convention: str) -> np.ndarray:
    """SatCLIP's SphericalHarmonics(legendre_polys=degree) of (N, 2) (lon, lat): (N, degree**2) float64."""
    phi = np.radians(lonlat[:, 0] + 180.0)
    theta = np.radians(lonlat[:, 1] + 90.0)
    x = np.cos(theta)
    columns = []
    for l in range(degree):
        for m in range(-l, l + 1):
            a = abs(m)
            p = lpmv(a, l, x)  # with the Condon-Shortley phase, as sympy's assoc_legendre
            norm = math.sqrt((2 * l + 1) / (4 * math.pi) * math.factorial(l - a) / math.factorial(l + a))
            if convention == "closed-form":   # Green's recurrence, orthonormal, phase kept
                y = norm * p if m == 0 else math.sqrt(2.0) * norm * p * (np.cos(m * phi) if m > 0 else np.sin(a * phi))
            elif m == 0:                       # the generated "analytic" Ylm: sqrt((2l + 1) / 4 * pi) P_l
                y = math.sqrt((2 * l + 1) / 4 * math.pi) * p
            else:                              # (-1)^m sqrt(2) Pbar_l^|m| cos / sin
                y = (-1.0) ** m * math.sqrt(2.0) * norm * p * (np.cos(m * phi) if m > 0 else np.sin(a * phi))
            columns.append(y)
    return np.stack(columns, axis=1)


def satclip_forward(state: dict, hp: dict, lonlat: np.ndarray) -> np.ndarray:
    """SatCLIP's LocationEncoder (SirenNet over SphericalHarmonics) in float64."""
    h = satclip_harmonics(lonlat, hp["legendre_polys"], hp["harmonics_calculation"])
    prefix = "model.location.nnet."
    for i in range(hp["num_hidden_layers"]):
        w0 = 30.0 if i == 0 else 1.0
        h = np.sin(w0 * (h @ state[f"{prefix}layers.{i}.weight"].numpy().T + state[f"{prefix}layers.{i}.bias"].numpy()))
    return h @ state[f"{prefix}last_layer.weight"].numpy().T + state[f"{prefix}last_layer.bias"].numpy()


# --- a checkpoint in SatCLIP's layout ------------------------------------------------
def satclip_hyper_parameters(degree: int, convention: str = "analytic") -> dict:
    return {"embed_dim": 256, "image_resolution": 224, "vision_layers": "moco_resnet18", "vision_width": 768,
            "vision_patch_size": 32, "in_channels": 13, "le_type": "sphericalharmonics", "pe_type": "siren",
            "frequency_num": 16, "max_radius": 0.01, "min_radius": 1e-05, "legendre_polys": degree,
            "harmonics_calculation": convention, "sh_embedding_dims": 32, "learning_rate": 0.0001,
            "weight_decay": 0.01, "num_hidden_layers": 2, "capacity": 256}


def write_satclip_checkpoint(path, degree: int, convention: str = "analytic", seed: int = 0) -> tuple[dict, dict]:
    """A Lightning checkpoint as SatCLIP writes it: random float64 location encoder (both names it is
    stored under), a stand-in image encoder, logit scale, optimizer and loop state."""
    gen = torch.Generator().manual_seed(seed)
    hp = satclip_hyper_parameters(degree, convention)
    d_in, hidden, out = degree * degree, hp["capacity"], hp["embed_dim"]

    def uniform(shape, bound):
        return (torch.rand(shape, generator=gen, dtype=torch.float64) * 2 - 1) * bound

    net = {"layers.0.weight": uniform((hidden, d_in), 3.0 / d_in), "layers.0.bias": uniform((hidden,), 0.5),
           "layers.1.weight": uniform((hidden, hidden), math.sqrt(6 / hidden)),
           "layers.1.bias": uniform((hidden,), math.sqrt(6 / hidden)),
           "last_layer.weight": uniform((out, hidden), math.sqrt(6 / hidden)),
           "last_layer.bias": uniform((out,), math.sqrt(6 / hidden))}
    state = {"model.logit_scale": torch.tensor(2.6592), "model.visual.conv1.weight": uniform((8, 13, 3, 3), 0.1),
             "model.visual.fc.weight": uniform((out, 8), 0.1)}
    state.update({f"model.location.nnet.{k}": v for k, v in net.items()})
    state.update({f"model.nnet.{k}": v.clone() for k, v in net.items()})
    ckpt = {"epoch": 499, "global_step": 49000, "pytorch-lightning_version": "2.0.0", "state_dict": state,
            "loops": {"fit_loop": {"state_dict": {}, "epoch_progress": {"total": {"ready": 500}}}},
            "callbacks": {"ModelCheckpoint{'monitor': 'val_loss'}": {"best_model_score": torch.tensor(4.2),
                                                                      "best_model_path": "epoch=499.ckpt"}},
            "optimizer_states": [{"state": {}, "param_groups": [{"lr": 1e-4, "betas": (0.9, 0.999)}]}],
            "lr_schedulers": [], "hparams_name": "kwargs", "hyper_parameters": hp}
    torch.save(ckpt, path)
    return state, hp


def cosine(a, b):
    return np.einsum("ij,ij->i", a, b) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


@pytest.mark.parametrize("degree", [10, 40])
@pytest.mark.parametrize("convention", ["analytic", "closed-form"])
def test_imported_model_is_satclips_forward(tmp_path, rng, sphere_points, degree, convention):
    ckpt = tmp_path / f"satclip-l{degree}.ckpt"
    state, hp = write_satclip_checkpoint(ckpt, degree, convention)
    out = import_satclip(ckpt, tmp_path / "model")
    lats, lons = sphere_points(rng, 10_000 - 8)          # + poles and both sides of the antimeridian
    ours = load_encoder(out).encode(lats, lons)
    reference = satclip_forward(state, hp, np.stack([lons, lats], axis=1))
    cos = cosine(ours.astype(np.float64), reference)
    assert ours.shape == (10_000, 256) and cos.min() >= 0.99999, cos.min()
    # The mapping is what makes it equal: the same weights without it are another function.
    unmapped = satclip_forward(state, {**hp, "harmonics_calculation": "closed-form" if convention == "analytic"
                                       else "analytic"}, np.stack([lons, lats], axis=1))
    assert cosine(unmapped, reference).min() < 0.999


def test_model_card_and_metadata_record_the_source(tmp_path):
    ckpt = tmp_path / "satclip-resnet18-l10.ckpt"
    write_satclip_checkpoint(ckpt, 10)
    result = CliRunner().invoke(app, ["import", "satclip", str(ckpt), "--out", str(tmp_path / "m")])
    assert result.exit_code == 0, result.output
    digest = hashlib.sha256(ckpt.read_bytes()).hexdigest()
    meta = load_encoder(tmp_path / "m").metadata
    assert meta["source"]["sha256"] == digest and meta["kind"] == "siren-sh"
    assert meta["hyper_parameters"]["legendre_polys"] == 10 and meta["hyper_parameters"]["capacity"] == 256
    card = (tmp_path / "m" / "MODEL_CARD.md").read_text()
    assert digest in card and "| `harmonics_calculation` | `\"analytic\"` |" in card
    listed = CliRunner().invoke(app, ["models", str(tmp_path / "m")])
    assert listed.exit_code == 0 and "siren-sh" in listed.output.splitlines()[-1]
    assert "L = 10" in listed.output.splitlines()[-1]


class NotPlainData:
    """A class a pickle can only rebuild by running code."""


def test_a_checkpoint_needing_unpickling_is_refused_in_one_line(tmp_path):
    ckpt = tmp_path / "pickled.ckpt"
    write_satclip_checkpoint(ckpt, 10)
    data = torch.load(ckpt, weights_only=True)
    data["hyper_parameters"]["extra"] = NotPlainData()
    torch.save(data, ckpt)
    result = CliRunner().invoke(app, ["import", "satclip", str(ckpt), "--out", str(tmp_path / "m")])
    assert result.exit_code == 2
    message = result.output.strip()
    assert len(message.splitlines()) == 1 and "arbitrary unpickling" in message and "NotPlainData" in message
    assert "weights_only=True" in message and not (tmp_path / "m").exists()


@pytest.mark.parametrize("change, words", [
    (lambda c: c["hyper_parameters"].update(le_type="grid"), "Siren(SH) only"),
    (lambda c: c["hyper_parameters"].update(harmonics_calculation="discretized"), "discretized"),
    (lambda c: c["hyper_parameters"].pop("legendre_polys"), "legendre_polys"),
    (lambda c: c.pop("state_dict"), "not a SatCLIP checkpoint"),
    (lambda c: c["state_dict"].update({"model.location.nnet.layers.0.weight": torch.zeros(256, 99)}),
     "do not fit"),
])
def test_other_checkpoints_are_refused_with_the_reason(tmp_path, change, words):
    ckpt = tmp_path / "other.ckpt"
    write_satclip_checkpoint(ckpt, 10)
    data = torch.load(ckpt, weights_only=True)
    change(data)
    torch.save(data, ckpt)
    with pytest.raises(ModelFormatError, match=None) as error:
        satclip_encoder(ckpt)
    assert words in str(error.value) and str(ckpt) in str(error.value)


def test_not_a_torch_file(tmp_path):
    bogus = tmp_path / "bogus.ckpt"
    bogus.write_text("not a checkpoint")
    result = CliRunner().invoke(app, ["import", "satclip", str(bogus), "--out", str(tmp_path / "m")])
    assert result.exit_code == 2 and "not a readable torch checkpoint" in result.output
    result = CliRunner().invoke(app, ["import", "satclip", str(tmp_path / "absent.ckpt"), "--out", str(tmp_path / "m")])
    assert result.exit_code == 2 and "no such file" in result.output


def test_config_json_names_the_kind(tmp_path):
    ckpt = tmp_path / "s.ckpt"
    write_satclip_checkpoint(ckpt, 10)
    out = import_satclip(ckpt, tmp_path / "m")
    assert json.loads((out / "config.json").read_text())["kind"] == "siren-sh"

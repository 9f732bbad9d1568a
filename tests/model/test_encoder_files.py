import json

import numpy as np
import pytest
import torch

from satcle import EncoderConfig, LocationEncoder, load_encoder, save_encoder
from satcle.core.errors import ModelFormatError, ModelNotFoundError


@pytest.fixture
def saved(tmp_path):
    torch.manual_seed(3)
    enc = LocationEncoder(EncoderConfig(legendre_degree=4, hidden_dim=16, output_dim=8))
    path = save_encoder(enc, tmp_path / "tiny", metadata={"trained": False, "seed": 3})
    return enc, path


def test_round_trip(saved):
    enc, path = saved
    loaded = load_encoder(path)
    assert loaded.config == enc.config
    assert loaded.metadata["trained"] is False and loaded.metadata["seed"] == 3
    for (k, a), (_, b) in zip(enc.state_dict().items(), loaded.state_dict().items()):
        torch.testing.assert_close(a, b, msg=k)
    np.testing.assert_array_equal(load_encoder(path / "model.safetensors").encode([1.0], [2.0]),
                                  loaded.encode([1.0], [2.0]))


def test_no_pickle_anywhere(saved):
    _, path = saved
    assert sorted(p.name for p in path.iterdir()) == ["config.json", "model.safetensors"]
    assert not path.joinpath("model.safetensors").read_bytes().startswith(b"\x80")


def test_overwrite_is_atomic_and_leaves_no_temp(saved, tmp_path):
    enc, path = saved
    save_encoder(enc, path, metadata={"trained": True})
    assert load_encoder(path).metadata["trained"] is True
    assert [p.name for p in tmp_path.iterdir()] == ["tiny"]


def test_flipped_byte_is_detected(saved):
    _, path = saved
    weights = path / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-5] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(ModelFormatError, match="corrupt"):
        load_encoder(path)


def test_missing_and_foreign_files(saved, tmp_path):
    _, path = saved
    with pytest.raises(ModelNotFoundError, match="default"):
        load_encoder("no-such-model")
    with pytest.raises(ModelNotFoundError):
        load_encoder(tmp_path / "absent")
    config = json.loads((path / "config.json").read_text())
    (path / "config.json").write_text("{not json")
    with pytest.raises(ModelFormatError, match="JSON"):
        load_encoder(path)
    config["config"]["hidden_dim"] = 32
    (path / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelFormatError, match="does not fit"):
        load_encoder(path)
    (path / "model.safetensors").unlink()
    with pytest.raises(ModelFormatError, match="missing"):
        load_encoder(path)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ModelFormatError, match="missing"):
        load_encoder(empty)

"""One rule names a model: a shipped name is always the shipped model; a directory is
taken when given as a path. Configs are checked, and the weights' shapes against them,
before anything is allocated."""

import json

import pytest
import torch
from typer.testing import CliRunner

from satcle import EncoderConfig, LocationEncoder, load_encoder, save_encoder
from satcle.cli.main import app
from satcle.core.errors import InvalidArgumentError, ModelFormatError, ModelNotFoundError
from satcle.model import resolve_model
from satcle.model.encoder_files import shipped_models_dir


@pytest.fixture
def other_model_as_default(tmp_path, monkeypatch):
    """A working directory holding ./default: another model under the shipped name."""
    monkeypatch.chdir(tmp_path)
    torch.manual_seed(0)
    save_encoder(LocationEncoder(EncoderConfig(legendre_degree=3, hidden_dim=16, output_dim=8)), tmp_path / "default")
    return tmp_path / "default"


def test_a_shipped_name_is_the_shipped_model_whatever_the_working_directory_holds(other_model_as_default):
    assert resolve_model("default") == shipped_models_dir() / "default"
    assert load_encoder("default").config.output_dim == 256
    assert resolve_model("./default").resolve() == other_model_as_default
    assert load_encoder("./default").config.output_dim == 8
    assert load_encoder(str(other_model_as_default)).config.output_dim == 8   # absolute path


def test_an_empty_folder_named_default_does_not_break_embed(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "default").mkdir()
    result = CliRunner().invoke(app, ["embed", "48.85,2.35"])
    assert result.exit_code == 0 and "256 values" in result.output, result.output
    result = CliRunner().invoke(app, ["embed", "48.85,2.35", "--model", "./default"])
    assert result.exit_code == 2 and "is not a satcle model" in result.output


def test_a_directory_is_found_when_no_shipped_model_has_its_name(other_model_as_default):
    other_model_as_default.rename(other_model_as_default.parent / "mine")
    assert load_encoder("mine").config.output_dim == 8
    with pytest.raises(ModelNotFoundError, match="no model named or at 'nothing'"):
        resolve_model("nothing")


@pytest.mark.parametrize("field, value", [("hidden_dim", 10**9), ("legendre_degree", 10**5), ("w0", float("nan")),
                                          ("w0_initial", -1.0), ("num_layers", 0), ("dropout", float("nan"))])
def test_configs_out_of_range_are_refused(field, value):
    with pytest.raises(InvalidArgumentError, match=field):
        EncoderConfig(**{field: value})


def test_weights_that_do_not_fit_the_config_are_refused_before_allocating(other_model_as_default, monkeypatch):
    """hidden_dim 60,000 over 16-wide weights: refused from the shapes alone (the
    network of that config, 14 GB, is never made)."""
    config_file = other_model_as_default / "config.json"
    document = json.loads(config_file.read_text())
    document["config"]["hidden_dim"] = 16000
    config_file.write_text(json.dumps(document))
    made = []
    real_init = LocationEncoder.__init__

    def recorded(self, config, *args, **kwargs):
        made.append(torch.get_default_device())
        real_init(self, config, *args, **kwargs)

    monkeypatch.setattr(LocationEncoder, "__init__", recorded)
    with pytest.raises(ModelFormatError, match=r"does not fit config.json: tensor siren\.\S+ has shape \(8, 16\), "
                                               r"the config gives \(8, 16000\)"):
        load_encoder("./default")
    assert made and all(device.type == "meta" for device in made)   # only the shapes were made

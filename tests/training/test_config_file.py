"""Research settings from a TOML file over a preset (`satcle train --config`)."""

import pytest

from satcle.core.errors import TrainingConfigError
from satcle.training import BLUEMARBLE
from satcle.training.config_file import apply_config, preset_for_run, read_config


def test_a_file_sets_top_level_fields_and_every_table(tmp_path):
    path = tmp_path / "l40.toml"
    path.write_text(
        'sources = ["bluemarble", "relief"]\ntile_spacing_km = 80\n'
        '[contrastive]\nlr = 1e-4\nretention_weight = 30\nretention_model = "default"\n'
        '[refinement]\nspatial = false\ncausal = false\n[encoder]\nlegendre_degree = 40\n'
        '[dino]\nepochs = 3\nglobal_crop_scale = [0.5, 1]\n[vision]\ndim = 96\n')
    preset = preset_for_run("bluemarble", path, seed=4, epochs=7)
    assert preset.sources == ("bluemarble", "relief") and preset.tile_spacing_km == 80.0
    assert preset.contrastive.lr == 1e-4 and preset.contrastive.retention_weight == 30.0
    assert preset.contrastive.retention_model == "default"
    assert preset.contrastive.seed == 4 and preset.contrastive.max_epochs == 7   # the command line wins
    assert not preset.refinement.spatial and not preset.refinement.causal
    assert preset.encoder.legendre_degree == 40 and preset.dino.epochs == 3 and preset.vision.dim == 96
    assert preset.dino.global_crop_scale == (0.5, 1.0)
    # What the file leaves out stays as the preset has it.
    assert preset.contrastive.batch_size == BLUEMARBLE.contrastive.batch_size and preset.name == "bluemarble"
    assert preset_for_run("bluemarble") == BLUEMARBLE


@pytest.mark.parametrize("settings, message", [
    ({"learning_rate": 1.0}, "unknown setting 'learning_rate'"),
    ({"contrastive": {"lrr": 1.0}}, "unknown field 'lrr'"),
    ({"contrastive": {"lr": "fast"}}, "lr must be a number"),
    ({"encoder": {"legendre_degree": 2.5}}, "legendre_degree must be an integer"),
    ({"refinement": {"spatial": 0}}, "spatial must be true or false"),
    ({"contrastive": {"batch_size": 1}}, "batch_size must be >= 2"),
    ({"contrastive": 3}, "[contrastive] must be a table"),
])
def test_bad_settings_name_the_file_and_the_key(settings, message):
    with pytest.raises(TrainingConfigError, match="x.toml") as caught:
        apply_config(BLUEMARBLE, settings, source="x.toml")
    assert message in str(caught.value)


def test_unreadable_files_are_clear_errors(tmp_path):
    with pytest.raises(TrainingConfigError, match="does not exist"):
        read_config(tmp_path / "missing.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text("[contrastive\nlr = 1\n")
    with pytest.raises(TrainingConfigError, match="not valid TOML"):
        read_config(broken)


def test_the_shipped_recipes_config_files_apply():
    from pathlib import Path

    configs = sorted((Path(__file__).resolve().parents[2] / "docs" / "configs").glob("*.toml"))
    assert {c.stem for c in configs} >= {"satclip-baseline", "satcle-l40", "satclip-baseline-l40"}
    for config in configs:
        preset = preset_for_run("stack" if config.stem.startswith("stack") else "bluemarble", config)
        assert preset != BLUEMARBLE
    l40 = preset_for_run("bluemarble", configs[[c.stem for c in configs].index("satcle-l40")])
    assert l40.encoder.legendre_degree == 40 and l40.contrastive.retention_model == "default"

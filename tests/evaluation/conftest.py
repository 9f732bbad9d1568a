import pytest
import torch

from satcle.grid.format.store import Manifest


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Probes are tiny: one thread is faster than two fighting over shared cores (as `satcle eval` does)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """A private task cache, so tests never read or write the user's."""
    monkeypatch.setenv("SATCLE_CACHE", str(tmp_path))
    return tmp_path / "eval"


@pytest.fixture
def grid_manifest():
    """The manifest of an (empty) grid built from the shipped 'default' model."""
    return Manifest(
        library_version="0", model_name="default", model_sha256="0" * 64, model_config={}, resolution=2,
        partition_resolution=0, coverage="global", dtype="float16", dim=256, total_cells=0, partitions=(),
        build_started="", build_finished="",
    )

import pytest
import torch


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

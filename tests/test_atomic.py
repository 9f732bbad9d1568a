"""Atomic writes leave the permissions a plain write would: the umask's for a new
file, the existing file's mode for a replaced one."""

import os

import numpy as np
import pytest
from typer.testing import CliRunner

from satcle.cli.main import app
from satcle.core.atomic import current_umask, write_atomic, write_text_atomic


@pytest.fixture
def umask():
    """Set the process's umask for one test (restored after)."""
    previous = os.umask(0o022)
    os.umask(previous)
    yield lambda mask: os.umask(mask)
    os.umask(previous)


def mode(path):
    return path.stat().st_mode & 0o777


def test_new_files_follow_the_umask(tmp_path, umask):
    umask(0o077)
    assert current_umask() == 0o077
    assert mode(write_text_atomic(tmp_path / "private.txt", "x")) == 0o600
    umask(0o022)
    assert mode(write_atomic(tmp_path / "shared.bin", b"x")) == 0o644


def test_a_replaced_file_keeps_its_mode(tmp_path, umask):
    umask(0o022)
    path = tmp_path / "kept.txt"
    path.write_text("old")
    os.chmod(path, 0o600)
    write_text_atomic(path, "new")
    assert path.read_text() == "new" and mode(path) == 0o600


def test_embed_output_under_umask_077_is_private(tmp_path, umask):
    umask(0o077)
    out = tmp_path / "out.npy"
    result = CliRunner().invoke(app, ["embed", "48.85,2.35", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert mode(out) == 0o600 and np.load(out).shape == (1, 256)

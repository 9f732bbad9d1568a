"""Fixtures of the builder's tests."""

import os
import subprocess
import uuid

import pytest


@pytest.fixture
def tmpfs(tmp_path):
    """A mount point for a small tmpfs (root only), unmounted after the test."""
    point = tmp_path / f"tmpfs-{uuid.uuid4().hex[:8]}"
    point.mkdir()

    def mount(size):
        command = ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(point)]
        if os.geteuid() != 0 or subprocess.run(command, capture_output=True).returncode != 0:
            pytest.skip("mounting a tmpfs needs root (mount -t tmpfs): the full-disk tests did not run")
        return point

    yield mount
    subprocess.run(["umount", str(point)], capture_output=True)

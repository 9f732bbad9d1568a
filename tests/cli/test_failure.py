"""Every command fails one way: one ``error:`` line and exit 2 for what the user can
fix, a traceback and exit 1 for a bug, ``interrupted`` and exit 130 on Ctrl-C with
nothing half-written."""

import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from satcle.cli.failure import EXIT_BUG, EXIT_INTERRUPTED, EXIT_USER_ERROR, CommandApp, with_failure_path
from satcle.core.errors import GridFormatError

runner = CliRunner()


def app_raising(error):
    app = CommandApp()

    @app.command()
    def run(flag: bool = False) -> None:
        """A command that raises `error`."""
        raise error

    @app.command()
    def other() -> None:
        """A second command, so that `run` is a subcommand."""
    return app


@pytest.mark.parametrize("error, code, line", [
    (GridFormatError("g: lookup/h3.npy is corrupt\nsecond line"), EXIT_USER_ERROR,
     "error: g: lookup/h3.npy is corrupt second line"),
    (FileNotFoundError(2, "No such file or directory", "x.csv"), EXIT_USER_ERROR, "error: [Errno 2]"),
    (KeyboardInterrupt(), EXIT_INTERRUPTED, "interrupted"),
])
def test_errors_the_user_can_fix_and_ctrl_c_are_one_line(error, code, line):
    result = runner.invoke(app_raising(error), ["run"])
    assert result.exit_code == code and result.output.strip().startswith(line), result.output
    assert len(result.output.strip().splitlines()) == 1 and "Traceback" not in result.output


def test_a_bug_prints_its_traceback_and_exits_1():
    result = runner.invoke(app_raising(KeyError("boom")), ["run"])
    assert result.exit_code == EXIT_BUG
    assert "Traceback" in result.output and "this is a bug in satcle" in result.output.splitlines()[-1]


def test_click_usage_errors_keep_their_exit():
    result = runner.invoke(app_raising(KeyError("never")), ["run", "--no-such-option"])
    assert result.exit_code == 2 and "No such option" in result.output


def test_every_command_of_both_command_lines_uses_the_failure_path():
    from build_grid.cli import app as grid_app
    from satcle.cli.main import app as satcle_app
    from satcle.cli.plot import plot_app

    wrapper = with_failure_path(lambda: None).__code__
    for app in (grid_app, satcle_app, plot_app):
        assert isinstance(app, CommandApp) and app.registered_commands
        for command in app.registered_commands:
            assert command.callback.__code__ is wrapper, command.callback


@pytest.fixture(scope="module")
def points_csv(tmp_path_factory):
    """500,000 points: long enough to embed that Ctrl-C arrives while it runs."""
    path = tmp_path_factory.mktemp("points") / "points.csv"
    rng = np.random.default_rng(0)
    n = 500_000
    with open(path, "w") as handle:
        handle.write("id,lat,lon\n")
        np.savetxt(handle, np.c_[np.arange(n), rng.uniform(-80, 80, n), rng.uniform(-180, 180, n)],
                   fmt=["%d", "%.5f", "%.5f"], delimiter=",")
    return path


def interrupt_when(command, ready, timeout=300):
    """Run `command`, send SIGINT once `ready()` is true (a file it writes has appeared),
    return (exit code, stderr)."""
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + timeout
    while not ready():
        assert process.poll() is None, f"ended before the marker appeared: {process.communicate()}"
        assert time.monotonic() < deadline, "the marker never appeared"
        time.sleep(0.02)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=timeout)
    return process.returncode, err


@pytest.mark.parametrize("suffix", [".parquet", ".csv", ".npy"])
def test_ctrl_c_during_embed_exits_130_in_one_line_leaving_nothing(points_csv, tmp_path, suffix):
    """The encoder's worker threads are joined through the interrupt: the process used to
    abort ("terminate called without an active exception", exit 134) when they were
    left running inside torch at exit."""
    output = tmp_path / f"out{suffix}"
    satcle = str(Path(sys.executable).parent / "satcle")
    # --live: a default grid on the machine would embed the file before the interrupt arrives.
    code, err = interrupt_when([satcle, "embed", "-i", str(points_csv), "-o", str(output), "--no-progress", "--live"],
                               lambda: any(tmp_path.glob(f".out{suffix}.*")))   # the output's temporary file
    assert code == 130, err
    assert err.strip().splitlines()[-1] == "interrupted" and "terminate called" not in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []   # no output, no temporary file


def test_ctrl_c_during_build_exits_130_leaving_only_whole_files(tmp_path):
    out = tmp_path / "grid"
    grid = str(Path(sys.executable).parent / "satcle-grid")
    code, err = interrupt_when([grid, "build", "--res", "3", "--coverage", "global", "--no-error-bound",
                                "--workers", "2", "--out", str(out)],
                               lambda: any((out / "partitions").glob("*.parquet")))
    assert code == 130 and err.strip().splitlines()[-1].endswith("interrupted"), err
    assert "Traceback" not in err and "terminate called" not in err
    assert not [p for p in (out / "partitions").iterdir() if not p.name.endswith(".parquet")]   # no temporary file
    assert not (out / "manifest.json").exists()   # not a grid until a build finishes


def test_serve_fails_like_every_command(tmp_path):
    """`satcle-grid serve` on no grid: exit 2 and one line, as the docs say (it exited 1)."""
    from build_grid.cli import app as grid_app

    result = runner.invoke(grid_app, ["serve", str(tmp_path / "nothing")])
    assert result.exit_code == EXIT_USER_ERROR and result.output.strip().startswith("error: ")
    assert "Traceback" not in result.output

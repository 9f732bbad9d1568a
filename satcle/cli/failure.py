"""How both command lines (`satcle`, `satcle-grid`) fail: one path, used by every command.

Every command is registered through `CommandApp`, whose commands run inside
`failure_path`: whatever a command raises ends the same way, in one line.

Exit codes, as grep and diff use them:

* 0 - done;
* 1 (`EXIT_NEGATIVE`) - the command ran and its answer is "no": `satcle-grid verify`
  found bad files, `satcle-grid similar` found no cell beyond --exclude-km; also
  (`EXIT_BUG`) an error that is satcle's fault, printed with its traceback;
* 2 (`EXIT_USER_ERROR`) - the command could not run as asked: bad input or
  options, a missing or corrupt model, grid or file, bad SQL (also Click's own
  usage errors);
* 130 (`EXIT_INTERRUPTED`) - Ctrl-C: ``interrupted`` on stderr, nothing half-written
  (every output is written under a temporary name and renamed when complete).
"""

from __future__ import annotations

import functools
import sys
import traceback
from contextlib import contextmanager
from typing import Callable, Iterator, NoReturn

import click
import typer

from ..core.errors import SatcleError

EXIT_NEGATIVE = 1
EXIT_BUG = 1
EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130
# What a command's own code raises for input the user can fix: ours, files, bad values.
USER_ERRORS = (SatcleError, OSError, ValueError)


def one_line(message: str) -> str:
    """`message` on one line: its non-empty lines joined by spaces, lines of only
    ``^`` markers (DuckDB's pointer under a parse error) dropped."""
    lines = (line.strip() for line in str(message).splitlines())
    return " ".join(line for line in lines if line and set(line) != {"^"})


def fail(message: str, code: int = EXIT_USER_ERROR) -> NoReturn:
    """Print ``error: message`` (on one line) to stderr and exit with `code`."""
    typer.secho(f"error: {one_line(message)}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


@contextmanager
def failure_path() -> Iterator[None]:
    """Turn whatever the code inside raises into the command line's one way of failing:
    Click's own exits pass through; Ctrl-C exits 130 with ``interrupted``; `USER_ERRORS`
    and DuckDB's errors (bad SQL, an error in a function it calls) exit 2 with one
    ``error:`` line; anything else is a bug: its traceback, one line saying so, exit 1."""
    try:
        yield
    except (typer.Exit, typer.Abort, click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
        raise
    except KeyboardInterrupt:
        typer.secho("interrupted", fg=typer.colors.YELLOW, err=True)
        raise typer.Exit(EXIT_INTERRUPTED) from None
    except USER_ERRORS as exc:
        fail(str(exc))
    except Exception as exc:
        if _is_duckdb_error(exc):
            fail(str(exc))
        traceback.print_exc(file=sys.stderr)
        fail(f"{type(exc).__name__}: {exc} - this is a bug in satcle; please report it with the traceback above",
             EXIT_BUG)


def _is_duckdb_error(exc: BaseException) -> bool:
    duckdb = sys.modules.get("duckdb")   # never imported here: only a command that used DuckDB can raise its errors
    return duckdb is not None and isinstance(exc, duckdb.Error)


def with_failure_path(function: Callable) -> Callable:
    """`function` run inside `failure_path` (its signature kept, for Typer)."""
    @functools.wraps(function)
    def command(*args, **kwargs):
        with failure_path():
            return function(*args, **kwargs)
    return command


class CommandApp(typer.Typer):
    """A Typer app whose every command and callback fails through `failure_path`."""

    def command(self, *args, **kwargs):
        register = super().command(*args, **kwargs)
        return lambda function: register(with_failure_path(function)) and function

    def callback(self, *args, **kwargs):
        register = super().callback(*args, **kwargs)
        return lambda function: register(with_failure_path(function)) and function

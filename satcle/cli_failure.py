"""How both command lines (`satcle`, `satcle-grid`) fail: one message format, one exit code each.

Exit codes, as grep and diff use them:

* 0 - done;
* 1 (`EXIT_NEGATIVE`) - the command ran and its answer is "no": `satcle-grid verify`
  found bad partitions, `satcle-grid similar` got a point outside coverage;
* 2 (`EXIT_USER_ERROR`) - the command could not run as asked: bad input or
  options, a missing or corrupt model, grid or file (also Click's own usage errors).
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator, NoReturn

import typer

from .core.errors import SatcleError

EXIT_NEGATIVE = 1
EXIT_USER_ERROR = 2
# What a command's own code raises for input the user can fix: ours, files, bad values.
USER_ERRORS = (SatcleError, OSError, ValueError)


def one_line(message: str) -> str:
    """`message` on one line: its non-empty lines joined by spaces, lines of only
    ``^`` markers (DuckDB's pointer under a parse error) dropped."""
    lines = (line.strip() for line in str(message).splitlines())
    return " ".join(line for line in lines if line and set(line) != {"^"})


def fail(message: str, code: int = EXIT_USER_ERROR) -> NoReturn:
    """Print ``error: message`` to stderr and exit with `code`."""
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn `USER_ERRORS` raised inside into `fail(str(error))`."""
    try:
        yield
    except USER_ERRORS as exc:
        fail(str(exc))

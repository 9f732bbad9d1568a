"""Reading other projects' torch checkpoints (``.ckpt``, ``.pth``) without running their code.

Only `torch.load(weights_only=True)` is used: tensors, numbers, strings and plain
containers load; a file whose pickle names any other Python object (a class of
the training code, an optimizer wrapper, ...) is refused, because unpickling it
could run arbitrary code.
"""

from __future__ import annotations

import pickle
import re
import zipfile
from pathlib import Path

import torch

from ..core.errors import ModelFormatError, ModelNotFoundError

_GLOBAL = re.compile(r"GLOBAL ([\w.]+)")


def read_torch_checkpoint(path: str | Path) -> object:
    """The object stored in a torch file, loaded with ``weights_only=True`` onto the CPU.

    Raises ModelNotFoundError when the file does not exist, ModelFormatError (one
    line, naming the file) when it is not a torch file or needs arbitrary
    unpickling (the message names the Python object it asks for and how to
    re-save the file as plain tensors).
    """
    path = Path(path)
    if not path.is_file():
        raise ModelNotFoundError(f"{path}: no such file")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        found = _GLOBAL.search(str(exc))
        if found is None and not _looks_like_torch_file(path):
            raise ModelFormatError(f"{path} is not a readable torch checkpoint (neither a zip archive nor a pickle)") \
                from None
        what = f"the Python object {found.group(1)}" if found else "Python objects other than tensors and plain data"
        raise ModelFormatError(
            f"{path} needs arbitrary unpickling ({what}), which could run code; satcle reads checkpoints only "
            f"with torch.load(weights_only=True). If you trust the file, re-save its tensors and plain data: "
            f"torch.save({{'state_dict': ckpt['state_dict'], 'hyper_parameters': dict(ckpt['hyper_parameters'])}}, "
            f"'plain.ckpt')") from None
    except (RuntimeError, EOFError, OSError, ValueError, zipfile.BadZipFile) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelFormatError(f"{path} is not a readable torch checkpoint: {first}") from None


def _looks_like_torch_file(path: Path) -> bool:
    """Whether `path` is a zip archive (torch.save since 1.6) or starts a pickle (older torch.save)."""
    with open(path, "rb") as handle:
        head = handle.read(4)
    return head.startswith(b"PK") or head[:1] == b"\x80"

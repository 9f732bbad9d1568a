"""The page's files: shipped in ``satcle/serve/page`` (Leaflet vendored from npm, no
CDN), served by name from that folder and nowhere else."""

from __future__ import annotations

import mimetypes
from pathlib import Path
from urllib.parse import unquote

STATIC_DIR = Path(__file__).resolve().parent / "page"


def static_file(route: str) -> tuple[bytes, str] | None:
    """(body, Content-Type) of the file a request path names: ``/`` and ``/index.html``
    the page, ``/static/NAME`` a file of `STATIC_DIR`; None for anything else (a name
    that leaves the folder, a NUL byte, a folder, a missing file)."""
    name = "index.html" if route in ("/", "/index.html") else None
    if name is None and route.startswith("/static/"):
        name = unquote(route[len("/static/"):])
    if name is None:
        return None
    root = STATIC_DIR.resolve()
    try:
        target = (root / name).resolve()
    except (ValueError, OSError):  # a NUL byte, a name too long
        return None
    if not target.is_relative_to(root) or not target.is_file():
        return None
    kind = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
    if kind.startswith("text/") or kind == "application/javascript":
        kind += "; charset=utf-8"
    return target.read_bytes(), kind

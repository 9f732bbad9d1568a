"""Checksums of files: sha256 (manifests and model configs record it to detect
corruption) and the fast ``xxh3_128`` checksum that grids record for every file
and verify on every open.

A fast checksum is written as ``"<algorithm>:<hex digest>"`` so that a reader
knows which algorithm produced it; `CHECKSUM_ALGORITHM` is the only one written.
"""

from __future__ import annotations

import hashlib
import os

import xxhash

from .errors import InvalidArgumentError

# xxh3 (128-bit): ~20 GB/s per core, so checking a file costs about what reading it
# from the page cache does; 128 bits make an accidental match impossible in practice.
CHECKSUM_ALGORITHM = "xxh3_128"
_CHUNK = 1 << 22


def file_sha256(path: str | os.PathLike, chunk_size: int = 1 << 20) -> str:
    """Hex sha256 of a file's bytes, read `chunk_size` bytes at a time."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def bytes_checksum(data: bytes | memoryview) -> str:
    """``"xxh3_128:<32 hex digits>"`` of `data`."""
    return f"{CHECKSUM_ALGORITHM}:{xxhash.xxh3_128_hexdigest(data)}"


class StreamChecksum:
    """The checksum of bytes given piece by piece (e.g. as a writer writes them):
    `update` with each piece, then `text` gives ``"xxh3_128:<32 hex digits>"``."""

    def __init__(self) -> None:
        self._digest = xxhash.xxh3_128()

    def update(self, data: bytes | memoryview) -> None:
        self._digest.update(data)

    def text(self) -> str:
        return f"{CHECKSUM_ALGORITHM}:{self._digest.hexdigest()}"


def file_checksum(path: str | os.PathLike) -> str:
    """``"xxh3_128:<32 hex digits>"`` of a file's bytes, read in 4 MiB chunks into one reused buffer."""
    checksum = StreamChecksum()
    buffer = bytearray(_CHUNK)
    view = memoryview(buffer)
    with open(path, "rb", buffering=0) as handle:
        while size := handle.readinto(buffer):
            checksum.update(view[:size])
    return checksum.text()


def check_checksum_text(text: object) -> str:
    """`text` if it is a checksum this library can verify, else InvalidArgumentError."""
    if not isinstance(text, str) or not text.startswith(f"{CHECKSUM_ALGORITHM}:") or len(text) != 9 + 32:
        raise InvalidArgumentError(f"unsupported checksum {text!r}: expected '{CHECKSUM_ALGORITHM}:<32 hex digits>'")
    return text

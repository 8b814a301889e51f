"""Writes that survive a power cut, with the standard library only (the board agent uses it).

A new file is fsynced before a rename names it complete, and a directory is fsynced after a
rename or a new entry in it, so a crash leaves either the old state or the new one.
"""

from __future__ import annotations

import os
from pathlib import Path


def fsync(path: Path) -> None:
    """Flush a file's bytes, or a directory's entries (renames and new names), to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_durably(path: Path, data: bytes) -> None:
    """Write ``path`` and fsync it (the caller renames it, or fsyncs its directory)."""
    with open(path, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())

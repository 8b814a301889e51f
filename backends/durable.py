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


def fsync_all(paths: list[Path]) -> None:
    """Flush many new files and their directories: one ``syncfs`` of their file system where
    Linux has it (a capture's thousands of frames in one call, not two fsyncs each), else an
    fsync of each file and directory."""
    if not paths:
        return
    directories = sorted({p.parent for p in paths})
    if len({os.stat(d).st_dev for d in directories}) == 1 and _syncfs(directories[0]):
        return
    for path in [*paths, *directories]:
        fsync(path)


def _syncfs(path: Path) -> bool:
    """``syncfs(2)`` of the file system that holds ``path``; False where there is none."""
    try:
        import ctypes

        syncfs = ctypes.CDLL(None, use_errno=True).syncfs
    except (OSError, AttributeError):  # not Linux
        return False
    fd = os.open(path, os.O_RDONLY)
    try:
        return syncfs(fd) == 0
    finally:
        os.close(fd)


def write_durably(path: Path, data: bytes) -> None:
    """Write ``path`` and fsync it (the caller renames it, or fsyncs its directory)."""
    with open(path, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())

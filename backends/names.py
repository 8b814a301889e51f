"""The rules for names, hashes and relative paths that reach the engine from outside.

The command line, pipeline files, devices.toml and store indexes all name datasets, boards,
slots and files; every one of those names is checked here, with the same rules wherever it came
from, before it becomes part of a path or a command. ``where`` names the source (an option, a
file and field, a store key) so the error is one line a user can act on.
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath

from backends.errors import BadInput

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
SHA256 = re.compile(r"[0-9a-f]{64}")
DATASET_VERSION = re.compile(r"[0-9a-f]{16}")  # backends.datasets.shards.dataset_version
_COMPONENT = re.compile(r"[A-Za-z0-9._+-]{1,128}")
NAME_RULE = "letters, digits, '.', '_' or '-' (up to 64, starting with a letter or digit)"


def is_name(value: object) -> bool:
    return isinstance(value, str) and NAME.fullmatch(value) is not None


def check_name(value: object, where: str) -> str:
    """A dataset, board, slot or artifact-kind name: safe as one path component anywhere."""
    if not is_name(value):
        raise BadInput(f"{where} {value!r} is not allowed: use {NAME_RULE}")
    assert isinstance(value, str)
    return value


def check_sha256(value: object, where: str) -> str:
    if not isinstance(value, str) or SHA256.fullmatch(value) is None:
        raise BadInput(f"{where} {_short(value)} is not a sha256 (64 lowercase hex digits)")
    return value


def check_version(value: object, where: str) -> str:
    if not isinstance(value, str) or DATASET_VERSION.fullmatch(value) is None:
        raise BadInput(f"{where} {_short(value)} is not a dataset version (16 hex digits)")
    return value


def check_relative(value: object, where: str) -> str:
    """A file inside a directory: relative, no '.' or '..' part, plain characters only."""
    parts = PurePosixPath(value).parts if isinstance(value, str) else ()
    if (
        not isinstance(value, str)
        or not parts
        or value.startswith("/")
        or "//" in value
        or value.endswith("/")
        or any(p in (".", "..") or _COMPONENT.fullmatch(p) is None for p in parts)
    ):
        raise BadInput(
            f"{where} {_short(value)} is not a relative file name inside its directory "
            "(no absolute path, no '..', letters, digits and ._+- only)"
        )
    return value


def check_count(value: object, where: str, low: int = 0, high: int = 1 << 62) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise BadInput(f"{where} {_short(value)} must be a whole number from {low} to {high}")
    return value


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."

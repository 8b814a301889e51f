"""The user's key bindings: ``~/.config/mllib/keymap.toml``, a ``[keys]`` table of binding ids
to keys (``deploy = "D"``)."""

from __future__ import annotations

from pathlib import Path

from backends.config import read_toml
from backends.errors import BadInput, read_input

KEYMAP = Path("~/.config/mllib/keymap.toml")


def read_keymap(path: Path = KEYMAP) -> dict[str, str]:
    """The ``[keys]`` table ({} without a file); a bad file is a ``BadInput`` naming it."""
    path = path.expanduser()
    if not path.is_file():
        return {}
    keys = read_toml(read_input(path, "keymap"), str(path)).get("keys", {})
    if not isinstance(keys, dict) or not all(isinstance(v, str) for v in keys.values()):
        raise BadInput(f'{path}: [keys] maps binding ids to keys, e.g. deploy = "D"')
    return keys

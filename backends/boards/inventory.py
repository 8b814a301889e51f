"""``devices.toml``: the boards, validated with one clear line per problem.

```toml
[boards.jetson-nx]
host = "192.168.1.20"          # required
port = 22
user = "mllib"
identity = "~/.ssh/id_ed25519"
python = "python3"             # the board's interpreter (3.8+, with numpy and a runtime)
workdir = "mllib"              # relative to the login directory, or absolute
tags = ["jetson", "gpu"]
runtimes = ["tensorrt", "onnxruntime"]   # allowed runtimes; empty = whatever the probe finds
proxy_jump = "bastion"         # a board of this file if one has that name, else [user@]host[:port]

```

The workstation itself is the built-in board ``local``.
"""

from __future__ import annotations

import re
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from backends.errors import BadInput
from backends.formats import RUNTIMES

LOCAL = "local"
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
FIELDS = {
    "host",
    "port",
    "user",
    "identity",
    "python",
    "workdir",
    "tags",
    "runtimes",
    "proxy_jump",
    "connect_timeout",
}


@dataclass(frozen=True)
class Board:
    name: str
    host: str | None = None  # None: the workstation itself
    port: int = 22
    user: str | None = None
    identity: str | None = None
    python: str = "python3"
    workdir: str = "mllib"
    tags: tuple[str, ...] = ()
    runtimes: tuple[str, ...] = ()
    proxy_jump: str | None = None
    connect_timeout: float = 10.0

    @property
    def is_local(self) -> bool:
        return self.host is None

    @property
    def address(self) -> str:
        return "this workstation" if self.host is None else f"{self.host}:{self.port}"


@dataclass(frozen=True)
class Inventory:
    boards: dict[str, Board] = field(default_factory=dict)
    source: str = "built-in"

    def get(self, name: str) -> Board:
        if name not in self.boards:
            raise BadInput(
                f"board {name!r} is not in {self.source} (known: "
                f"{', '.join(self.boards)}); add a [boards.{name}] table"
            )
        return self.boards[name]

    def select(self, names: list[str], tag: str | None = None) -> list[Board]:
        chosen = [self.get(n) for n in names]
        if tag is not None:
            tagged = [b for b in self.boards.values() if tag in b.tags]
            if not tagged:
                raise BadInput(f"no board in {self.source} has tag {tag!r}")
            chosen += [b for b in tagged if b not in chosen]
        if not chosen:
            raise BadInput(
                "name at least one board (or --tag TAG); `mllib-tui boards list` shows them"
            )
        return chosen


def local_board(workspace_root: Path) -> Board:
    return Board(LOCAL, python=sys.executable, workdir=str(workspace_root / "boards" / LOCAL))


def load_inventory(path: Path | None, workspace_root: Path) -> Inventory:
    """The boards of ``path`` (default: ``devices.toml`` in the workspace, if any) plus local."""
    boards = {LOCAL: local_board(workspace_root)}
    path = path or (workspace_root / "devices.toml")
    if not path.exists():
        if path != workspace_root / "devices.toml":
            raise BadInput(f"{path}: devices file not found")
        return Inventory(boards, "the built-in inventory")
    src = str(path)
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise BadInput(f"{src}: not valid TOML: {exc}") from None
    unknown = set(data) - {"boards"}
    if unknown:
        raise BadInput(f"{src}: unknown top-level key {sorted(unknown)[0]!r} (only [boards.NAME])")
    tables = data.get("boards", {})
    if not isinstance(tables, dict):
        raise BadInput(f"{src}: 'boards' must be tables like [boards.NAME]")
    for name, table in tables.items():
        boards[name] = _board(name, table, src)
    for board in boards.values():
        if board.proxy_jump in (board.name, LOCAL):
            raise BadInput(
                f"{src}: board {board.name!r}: proxy_jump cannot be {board.proxy_jump!r}"
            )
    return Inventory(boards, src)


def _board(name: str, table: Any, src: str) -> Board:
    where = f"{src}: board {name!r}"
    if name == LOCAL:
        raise BadInput(f"{where}: 'local' is the built-in workstation board; pick another name")
    if not NAME.match(name):
        raise BadInput(f"{where}: names may use letters, digits, '.', '_' and '-' only")
    if not isinstance(table, dict):
        raise BadInput(f"{where} must be a table")
    unknown = sorted(set(table) - FIELDS)
    if unknown:
        close = [f for f in FIELDS if _similar(f, unknown[0])]
        hint = (
            f" (did you mean {close[0]!r}?)"
            if close
            else f" (allowed: {', '.join(sorted(FIELDS))})"
        )
        raise BadInput(f"{where}: unknown field {unknown[0]!r}{hint}")

    def get(key: str, kind: type | tuple[type, ...], default: Any) -> Any:
        value = table.get(key, default)
        if value is not default and (not isinstance(value, kind) or isinstance(value, bool)):
            raise BadInput(f"{where}: field {key!r} has the wrong type ({value!r})")
        return value

    host = get("host", str, None)
    if not host:
        raise BadInput(f"{where}: field 'host' is required")
    port = get("port", int, 22)
    if not 0 < port < 65536:
        raise BadInput(f"{where}: field 'port' must be 1-65535, got {port}")
    workdir = get("workdir", str, "mllib")
    if not workdir or "\n" in workdir or "\0" in workdir or ".." in PurePosixPath(workdir).parts:
        raise BadInput(f"{where}: field 'workdir' must be a plain path without '..' or newlines")
    tags = tuple(get("tags", list, []))
    runtimes = tuple(get("runtimes", list, []))
    for runtime in runtimes:
        if runtime not in RUNTIMES:
            raise BadInput(f"{where}: runtime {runtime!r} is unknown (use {', '.join(RUNTIMES)})")
    timeout = get("connect_timeout", (int, float), 10.0)
    return Board(
        name=name,
        host=host,
        port=port,
        user=get("user", str, None),
        identity=get("identity", str, None),
        python=get("python", str, "python3"),
        workdir=workdir,
        tags=tuple(str(t) for t in tags),
        runtimes=runtimes,
        proxy_jump=get("proxy_jump", str, None),
        connect_timeout=float(timeout),
    )


def _similar(a: str, b: str) -> bool:
    import difflib

    return difflib.SequenceMatcher(None, a, b).ratio() >= 0.75

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

import os
import re
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from backends.config import read_toml
from backends.errors import BadInput, read_input
from backends.formats import RUNTIMES
from backends.names import is_name

LOCAL = "local"
_UNSAFE = re.compile(r"[\x00-\x1f\x7f]")  # control characters: newlines, NUL, escapes
_USER = re.compile(r"[A-Za-z0-9._][A-Za-z0-9._-]{0,63}")
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
    "camera",
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
    camera: str = "0"  # what `acquire` opens when it names no camera (see its --camera)

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
    path = path or (workspace_root / "devices.toml")
    if not path.exists():
        if path != workspace_root / "devices.toml":
            raise BadInput(f"{path}: devices file not found")
        return Inventory({LOCAL: local_board(workspace_root)}, "the built-in inventory")
    return parse_inventory(read_input(path, "devices file"), str(path), workspace_root)


def parse_inventory(raw: bytes, src: str, workspace_root: Path) -> Inventory:
    """devices.toml's bytes (named ``src`` in messages) as an inventory, plus local."""
    data = read_toml(raw, src)
    unknown = set(data) - {"boards"}
    if unknown:
        raise BadInput(f"{src}: unknown top-level key {sorted(unknown)[0]!r} (only [boards.NAME])")
    tables = data.get("boards", {})
    if not isinstance(tables, dict):
        raise BadInput(f"{src}: 'boards' must be tables like [boards.NAME]")
    boards = {LOCAL: local_board(workspace_root)}
    for name, table in tables.items():
        boards[name] = _board(name, table, src)
    for board in boards.values():
        if board.proxy_jump in (board.name, LOCAL):
            raise BadInput(
                f"{src}: board {board.name!r}: proxy_jump cannot be {board.proxy_jump!r}"
            )
        if board.proxy_jump is not None and board.proxy_jump not in boards:
            jump_address(board.proxy_jump, f"{src}: board {board.name!r}: field 'proxy_jump'")
    return Inventory(boards, src)


def write_devices(path: Path, addition: str, workspace_root: Path) -> Inventory:
    """Append ``addition`` (TOML tables) to devices.toml: the whole new file is checked as an
    inventory first, then replaces the old one atomically, so a failure at any point leaves
    the old file as it was and never an unparsable one."""
    old = read_input(path, "devices file") if path.exists() else b""
    text = old + (b"" if not old or old.endswith(b"\n") else b"\n") + addition.encode()
    inventory = parse_inventory(text, f"{path} (as it would be)", workspace_root)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        if path.exists():
            shutil.copymode(path, tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return inventory


def jump_address(text: str, where: str) -> tuple[str | None, str, int]:
    """``[user@]host[:port]`` (``[v6-address]:port`` too) as (user, host, port)."""
    user, _, hostport = text.rpartition("@")
    if hostport.startswith("["):
        host, _, rest = hostport[1:].partition("]")
        port = rest.removeprefix(":") if rest.startswith(":") else rest
    else:
        host, _, port = hostport.partition(":")
    if (
        not host
        or "," in text
        or _UNSAFE.search(text)
        or (user and not _USER.fullmatch(user))
        or not (port == "" or (port.isdigit() and 0 < int(port) < 65536))
    ):
        raise BadInput(
            f"{where} {text!r} must be a board of this file or [user@]host[:port] with a port "
            "of 1-65535 (one jump host)"
        )
    return user or None, host, int(port or 22)


def _board(name: str, table: Any, src: str) -> Board:
    where = f"{src}: board {name!r}"
    if name == LOCAL:
        raise BadInput(f"{where}: 'local' is the built-in workstation board; pick another name")
    if not is_name(name):
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

    def text(key: str, default: str | None) -> str | None:
        value = get(key, str, default)
        if value is not None and (not value or _UNSAFE.search(value)):
            raise BadInput(f"{where}: field {key!r} must be non-empty, without control characters")
        return value

    def strings(key: str) -> tuple[str, ...]:
        values = get(key, list, [])
        if not all(isinstance(v, str) and v for v in values):
            raise BadInput(f"{where}: field {key!r} must be a list of strings")
        return tuple(values)

    host = text("host", None)
    if not host:
        raise BadInput(f"{where}: field 'host' is required")
    if host.startswith("-") or " " in host:
        raise BadInput(f"{where}: field 'host' {host!r} is not a host name or address")
    port = get("port", int, 22)
    if not 0 < port < 65536:
        raise BadInput(f"{where}: field 'port' must be 1-65535, got {port}")
    user = text("user", None)
    if user is not None and not _USER.fullmatch(user):
        raise BadInput(f"{where}: field 'user' {user!r} is not a user name")
    workdir = get("workdir", str, "mllib")
    if not workdir or _UNSAFE.search(workdir) or ".." in PurePosixPath(workdir).parts:
        raise BadInput(f"{where}: field 'workdir' must be a plain path without '..' or newlines")
    runtimes = strings("runtimes")
    for runtime in runtimes:
        if runtime not in RUNTIMES:
            raise BadInput(f"{where}: runtime {runtime!r} is unknown (use {', '.join(RUNTIMES)})")
    timeout = get("connect_timeout", (int, float), 10.0)
    if not 0 < timeout <= 600:
        raise BadInput(f"{where}: field 'connect_timeout' must be above 0 and at most 600 s")
    return Board(
        name=name,
        host=host,
        port=port,
        user=user,
        identity=text("identity", None),
        python=text("python", "python3") or "python3",
        workdir=workdir,
        tags=strings("tags"),
        runtimes=runtimes,
        proxy_jump=text("proxy_jump", None),
        connect_timeout=float(timeout),
        camera=text("camera", "0") or "0",
    )


def _similar(a: str, b: str) -> bool:
    import difflib

    return difflib.SequenceMatcher(None, a, b).ratio() >= 0.75

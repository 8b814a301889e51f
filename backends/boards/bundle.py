"""The board agent as a zipapp, named by the hash of its contents (uploaded once per version).

Only the modules a board needs go in (stdlib + numpy + a runtime): the agent's entry point, each
runtime adapter of the runtime table, and every ``backends`` module they import. A test checks
that the set is closed and runs on Python 3.8.
"""

from __future__ import annotations

import ast
import hashlib
import io
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]  # the backends package
ENTRY = "backends.agent.__main__"


def _modules() -> tuple[str, ...]:
    """Every ``backends`` module the agent can import, as files under ``ROOT``: the closure of
    the imports of its entry point and of each runtime's adapter (loaded by name, so seeded from
    the runtime table). Derived, so the bundle cannot drift from the code."""
    from backends.formats import RUNTIMES

    seen: set[str] = set()
    queue = [ENTRY, *(runtime.adapter for runtime in RUNTIMES.values())]
    while queue:
        name = queue.pop()
        path = _file(name)
        if path is None or path in seen:
            continue
        seen.add(path)
        parts = name.split(".")
        queue += [".".join(parts[:i]) for i in range(1, len(parts))]  # the packages above it
        for node in ast.walk(ast.parse((ROOT / path).read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                queue += [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
            elif isinstance(node, ast.Import):
                queue += [a.name for a in node.names]
    return tuple(sorted(seen))


def _file(module: str) -> str | None:
    """``backends.x.y`` -> ``x/y.py`` or ``x/y/__init__.py`` (None for anything else)."""
    if module != "backends" and not module.startswith("backends."):
        return None
    parts = module.split(".")[1:]
    if not parts:
        return "__init__.py"
    relative = Path(*parts)
    for candidate in (relative.with_suffix(".py"), relative / "__init__.py"):
        if (ROOT / candidate).is_file():
            return candidate.as_posix()
    return None


MODULES = _modules()
MAIN = b"from backends.agent.__main__ import main\nimport sys\nsys.exit(main())\n"


def build() -> tuple[str, bytes]:
    """(file name, zipapp bytes); byte-identical for identical sources."""
    buffer = io.BytesIO()
    buffer.write(b"#!/usr/bin/env python3\n")
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in MODULES:
            info = zipfile.ZipInfo(f"backends/{name}", date_time=(2020, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, (ROOT / name).read_bytes())
        info = zipfile.ZipInfo("__main__.py", date_time=(2020, 1, 1, 0, 0, 0))
        archive.writestr(info, MAIN)
    data = buffer.getvalue()
    return f"mllib-agent-{hashlib.sha256(data).hexdigest()[:16]}.pyz", data

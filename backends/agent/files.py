"""Blobs into a board's store, and the slot links that say which model is deployed.

Every step is durable: the bytes are hashed as they arrive and refused when they differ, the
file is fsynced before a rename names it complete, and each rename (into the store, each link
flip) is followed by an fsync of its directory, so a power cut leaves either the old model or
the new one. Standard library only.
"""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

from backends import events as ev
from backends.agent.request import Request, emit
from backends.durable import fsync
from backends.errors import BadInput, StageFailed


def receive(request: Request) -> int:
    """Take a blob into the store: follow an SFTP upload to ``path`` while it arrives (``size``)
    or download ``url`` (a presigned URL: the request is on stdin, never argv, which ``ps``
    shows to every user); refuse other bytes than ``sha256``; move it into ``store`` (beside
    other names of the same bytes, if any); with ``slot``, make it that slot's ``current``
    model (the old one becomes ``previous``)."""
    path, store = Path(request.text("path")), Path(request.text("store"))
    expected = request.text("sha256")
    url = request.text("url", None)
    if url is not None:
        digest, size = _download(url, path)
    else:
        digest, size = _follow(path, int(request.number("size")), request.number("stall", 30.0))
    if digest != expected:
        path.unlink()
        raise StageFailed(
            f"{path.name} arrived damaged (sha256 {digest[:12]}, expected {expected[:12]}); "
            "nothing was kept: deploy again"
        )
    fsync(path)
    _install(path, store)
    slot = request.text("slot", None)
    switched = _switch(Path(slot), store) if slot else False
    emit(
        ev.Result(
            stage="receive",
            name=path.name,
            data={
                "sha256": digest,
                "size": size,
                "path": str(store / path.name),
                "switched": switched,
            },
        )
    )
    return 0


def rollback(request: Request) -> int:
    """Swap a slot's ``current`` and ``previous`` links (each flip fsynced)."""
    slot = Path(request.text("slot"))
    current, previous = _link(slot / "current"), _link(slot / "previous")
    if current is None or previous is None:
        raise BadInput(f"slot {slot.name!r} has no previous version to roll back to")
    _point(slot, "current", previous)
    _point(slot, "previous", current)
    emit(ev.Result(stage="rollback", name=slot.name, data={"current": previous}))
    return 0


def _follow(path: Path, size: int, stall: float) -> tuple[str, int]:
    """sha256 and size of a file still being written, read until it has ``size`` bytes;
    gives up after ``stall`` seconds without growth."""
    digest, done = hashlib.sha256(), 0
    deadline = time.monotonic() + stall
    while not path.exists():
        if time.monotonic() > deadline:
            raise FileNotFoundError(f"{path} did not appear")
        time.sleep(0.005)
    with open(path, "rb") as handle:
        while done < size:
            chunk = handle.read(1 << 20)
            if chunk:
                digest.update(chunk)
                done += len(chunk)
                deadline = time.monotonic() + stall
            elif time.monotonic() > deadline:
                raise ValueError(f"{path} stopped growing at {done} of {size} bytes")
            else:
                time.sleep(0.005)
    return digest.hexdigest(), done


def _download(url: str, path: Path) -> tuple[str, int]:
    """Fetch a (presigned) URL with the board's own TLS trust, hashing as it comes. Messages
    name the host and path, never the query (it carries the signature)."""
    import urllib.error
    import urllib.parse
    import urllib.request

    parts = urllib.parse.urlsplit(url)
    where = f"{parts.scheme}://{parts.netloc}{parts.path}"
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"{where or 'stdin'}: not an http(s) URL")
    digest, done = hashlib.sha256(), 0
    try:
        with urllib.request.urlopen(url, timeout=30) as response, open(path, "wb") as out:
            while True:
                chunk = response.read(1 << 20)
                if not chunk:
                    break
                out.write(chunk)
                digest.update(chunk)
                done += len(chunk)
    except urllib.error.HTTPError as exc:
        raise ValueError(f"{where}: HTTP {exc.code} {exc.reason} (expired URL?)") from None
    except urllib.error.URLError as exc:
        raise ValueError(f"{where}: cannot fetch ({exc.reason})") from None
    return digest.hexdigest(), done


def _install(path: Path, store: Path) -> None:
    """Move the temporary directory holding ``path`` to ``store`` in one rename; when ``store``
    exists already (the same bytes under another name, or a concurrent upload that won), move
    the file into it instead, unless that name is there too."""
    if not store.exists():
        try:
            os.rename(path.parent, store)
        except OSError:
            if not store.is_dir():
                raise
        else:
            fsync(store.parent)
            return
    if not (store / path.name).exists():
        os.rename(path, store / path.name)
        fsync(store)


def _switch(slot: Path, store: Path) -> bool:
    """Point ``slot/current`` at ``store`` (the old target becomes ``previous``); False when
    it already pointed there."""
    slot.mkdir(parents=True, exist_ok=True)
    target = os.path.relpath(store, slot)
    current = _link(slot / "current")
    if current == target:
        return False
    if current is not None:
        _point(slot, "previous", current)
    _point(slot, "current", target)
    return True


def _point(slot: Path, name: str, target: str) -> None:
    """Atomically make ``slot/name`` a symlink to ``target`` (rename over the old), durably."""
    tmp = slot / f".{name}-{os.getpid()}-{time.monotonic_ns()}"
    os.symlink(target, tmp)
    os.rename(tmp, slot / name)
    fsync(slot)


def _link(path: Path) -> str | None:
    return os.readlink(path) if path.is_symlink() else None

"""The agent's ``receive`` and ``rollback``: what a board does with a blob, durably. Every rename
(into the store, each link flip) is preceded by an fsync of what it names and followed by an
fsync of its directory, so a power cut leaves the old model or the new one, never neither."""

from __future__ import annotations

import hashlib
import io
import json
import os
from contextlib import redirect_stdout
from pathlib import Path

import pytest

from backends.agent.__main__ import main


@pytest.fixture
def journal(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """(call, path) of every fsync and rename the agent makes, in order; the real calls run."""
    calls: list[tuple[str, str]] = []
    real_fsync, real_rename = os.fsync, os.rename

    def fsync(fd: int) -> None:
        calls.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
        real_fsync(fd)

    def rename(src: str, dst: str) -> None:
        calls.append(("rename", str(dst)))
        real_rename(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "rename", rename)
    return calls


def _receive(tmp: Path, data: bytes, name: str = "model.tflite", slot: str | None = "s") -> dict:
    sha = hashlib.sha256(data).hexdigest()
    incoming = tmp / "store" / f".tmp-{sha[:8]}"
    incoming.mkdir(parents=True, exist_ok=True)
    (incoming / name).write_bytes(data)
    request = {"command": "receive", "path": str(incoming / name), "sha256": sha}
    request |= {"store": str(tmp / "store" / sha), "size": len(data)}
    request |= {"slot": str(tmp / "deployed" / slot)} if slot else {}
    out = io.StringIO()
    with redirect_stdout(out):
        status = main(io.StringIO(json.dumps(request)))
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    return {"status": status, "events": lines}


def test_a_deploy_is_fsynced_at_every_step(tmp_path: Path, journal: list) -> None:
    result = _receive(tmp_path, b"new model")
    assert result["status"] == 0
    sha = hashlib.sha256(b"new model").hexdigest()
    store, slot = tmp_path / "store" / sha, tmp_path / "deployed" / "s"
    file_synced = journal.index(
        ("fsync", str(tmp_path / "store" / f".tmp-{sha[:8]}" / "model.tflite"))
    )
    moved = journal.index(("rename", str(store)))
    assert file_synced < moved  # the bytes are durable before a name says they are complete
    assert journal[moved + 1] == ("fsync", str(tmp_path / "store"))  # and so is the rename
    flipped = journal.index(("rename", str(slot / "current")))
    assert journal[flipped + 1] == ("fsync", str(slot))
    assert (slot / "current" / "model.tflite").read_bytes() == b"new model"


def test_a_second_deploy_keeps_the_first_as_previous_and_rollback_is_durable(
    tmp_path: Path, journal: list
) -> None:
    _receive(tmp_path, b"old model")
    _receive(tmp_path, b"new model")
    slot = tmp_path / "deployed" / "s"
    assert (slot / "current" / "model.tflite").read_bytes() == b"new model"
    assert (slot / "previous" / "model.tflite").read_bytes() == b"old model"
    journal.clear()
    with redirect_stdout(io.StringIO()):
        assert main(io.StringIO(json.dumps({"command": "rollback", "slot": str(slot)}))) == 0
    assert (slot / "current" / "model.tflite").read_bytes() == b"old model"
    assert journal == [
        ("rename", str(slot / "current")),
        ("fsync", str(slot)),
        ("rename", str(slot / "previous")),
        ("fsync", str(slot)),
    ]


def test_the_same_bytes_under_another_name_are_placed_beside_the_first(tmp_path: Path) -> None:
    """The store holds the blob as model.tflite; a deploy of the same bytes named other.tflite
    must still leave other.tflite there (it used to report success with the file missing)."""
    assert _receive(tmp_path, b"weights", "model.tflite", slot=None)["status"] == 0
    assert _receive(tmp_path, b"weights", "other.tflite")["status"] == 0
    current = tmp_path / "deployed" / "s" / "current"
    assert (current / "other.tflite").read_bytes() == b"weights"
    assert (current / "model.tflite").read_bytes() == b"weights"


def test_damaged_bytes_are_refused_and_not_kept(tmp_path: Path) -> None:
    sha = hashlib.sha256(b"expected").hexdigest()
    incoming = tmp_path / "store" / ".tmp-x"
    incoming.mkdir(parents=True)
    (incoming / "m.tflite").write_bytes(b"tampered")
    out = io.StringIO()
    with redirect_stdout(out):
        status = main(
            io.StringIO(
                json.dumps(
                    {"command": "receive", "path": str(incoming / "m.tflite"), "sha256": sha,
                     "store": str(tmp_path / "store" / sha), "size": 8,
                     "slot": str(tmp_path / "deployed" / "s")}
                )
            )
        )  # fmt: skip
    assert status == 3
    (error,) = [json.loads(line) for line in out.getvalue().splitlines()]
    assert "arrived damaged" in error["message"]
    assert not (tmp_path / "store" / sha).exists() and not (tmp_path / "deployed").exists()

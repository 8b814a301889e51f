"""Crash safety of the workspace: temporaries are owned by locks (not PIDs, which another PID
namespace cannot see), and shards, pulled files and checkpoints are fsynced before the catalog
or a rename points at them."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest

from backends.datasets.build import synth_dataset
from backends.storage import configure, sync
from backends.workspace import Workspace


def test_a_live_temporary_survives_a_start_in_another_pid_namespace(tmp_path: Path) -> None:
    """A container sharing the workspace sees none of the host's PIDs: it used to take this
    process's live work for a dead process's leftovers and delete it."""
    ws = Workspace.open(tmp_path / "ws")
    live = ws.temporary("in-progress")
    live.write_bytes(b"half an artifact")
    opened = subprocess.run(
        ["unshare", "--pid", "--fork", "--mount-proc", sys.executable, "-c",
         f"from backends.workspace import Workspace; Workspace.open({str(ws.root)!r})"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert opened.returncode == 0, opened.stderr
    assert live.read_bytes() == b"half an artifact"


def test_a_dead_owners_temporaries_are_removed(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    left = subprocess.run(
        [sys.executable, "-c",
         "import sys; from backends.workspace import Workspace\n"
         f"ws = Workspace.open({str(root)!r}); t = ws.temporary('x'); t.write_text('half')\n"
         "print(t); sys.stdout.flush(); import os; os._exit(9)"],
        capture_output=True, text=True,
    )  # fmt: skip
    leftover = Path(left.stdout.strip())
    assert leftover.exists()
    Workspace.open(root)
    assert not leftover.exists()
    assert sorted(p.name for p in (root / "locks").iterdir()) == [
        p.name for p in (root / "locks").glob("owner-*.lock")
    ]  # the dead owner's lock went with its work; only this process's remains


@pytest.fixture
def fsynced(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The path of every file or directory fsynced in this process (the real fsync runs)."""
    paths: list[str] = []
    real = os.fsync

    def record(fd: int) -> None:
        paths.append(os.readlink(f"/proc/self/fd/{fd}"))
        real(fd)

    monkeypatch.setattr(os, "fsync", record)
    return paths


def test_shards_and_manifest_are_durable_before_the_catalog_names_them(
    tmp_path: Path, fsynced: list[str]
) -> None:
    ws = Workspace.open(tmp_path / "ws")
    record = synth_dataset(ws, name="d", images=6, size=(32, 32), emit=lambda e: None)
    shards = [s["file"] for split in record.manifest["splits"].values() for s in split["shards"]]
    names = {Path(p).name for p in fsynced}
    assert {*shards, "manifest.json"} <= names
    assert str(ws.root / "datasets" / "d") in fsynced  # the rename into place, too


def test_pulled_files_are_durable_before_the_catalog_names_them(
    tmp_path: Path, fsynced: list[str]
) -> None:
    source = Workspace.open(tmp_path / "source")
    record = synth_dataset(source, name="d", images=6, size=(32, 32), emit=lambda e: None)
    store, targets, _ = configure(creds=None, entry=None, local=tmp_path / "store")
    asyncio.run(sync.push_dataset(source, store, targets["dataset"], record, lambda e: None))
    fsynced.clear()
    ws = Workspace.open(tmp_path / "ws")
    pulled = asyncio.run(sync.pull_dataset(ws, store, targets["dataset"], "d", lambda e: None))
    files = [s["file"] for split in pulled.manifest["splits"].values() for s in split["shards"]]
    for file in [*files, "manifest.json"]:  # synced under the temporary name it arrives as
        assert any(Path(p).name.endswith(f"-{file}") for p in fsynced), file
    assert str(ws.root / "datasets" / "d") in fsynced


@pytest.mark.slow
def test_checkpoints_are_durable_before_they_replace_the_last_one(
    tmp_path: Path, fsynced: list[str]
) -> None:
    from backends.train.loop import train
    from backends.train.stage import TrainConfig

    ws = Workspace.open(tmp_path / "ws")
    dataset = synth_dataset(ws, name="d", images=8, size=(32, 32), emit=lambda e: None)
    train(ws, dataset, TrainConfig(epochs=1, batch_size=4), lambda e: None)
    checkpoint = [p for p in fsynced if p.endswith("epoch-001.keras")]
    assert checkpoint and "/tmp/" in checkpoint[0]  # synced under its temporary name
    assert any(
        p.endswith(tuple(f"/checkpoints/{d.name}" for d in (ws.root / "checkpoints").iterdir()))
        for p in fsynced
    )

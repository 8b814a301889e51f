import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from backends.errors import BadInput
from backends.workspace import Workspace, hash_path


def test_artifact_is_hashed_and_moved_into_place(ws: Workspace) -> None:
    record = ws.write_artifact(kind="model", name="m.bin", write=lambda p: p.write_bytes(b"abc"))
    path = ws.path(record.path)
    assert path.read_bytes() == b"abc"
    assert record.sha256 == hash_path(path)[0] and record.size == 3
    assert list((ws.root / "tmp").iterdir()) == []
    assert ws.verify(record) == path


def test_directory_artifacts_hash_their_tree(ws: Workspace) -> None:
    def write(p: Path) -> None:
        (p / "sub").mkdir(parents=True)
        (p / "a").write_text("1")
        (p / "sub" / "b").write_text("2")

    record = ws.write_artifact(kind="savedmodel", name="d", write=write)
    assert record.size == 2
    (ws.path(record.path) / "sub" / "b").write_text("3")
    with pytest.raises(BadInput, match="does not match the catalog's sha256"):
        ws.verify(record)


def test_failed_writer_leaves_nothing(ws: Workspace) -> None:
    def write(p: Path) -> None:
        p.write_bytes(b"half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        ws.write_artifact(kind="model", name="m.bin", write=write)
    assert list((ws.root / "tmp").iterdir()) == []
    assert not (ws.root / "artifacts" / "model").exists()
    assert ws.catalog.artifacts() == []


def test_identical_content_is_stored_once_and_lineage_is_kept(ws: Workspace) -> None:
    parent = ws.write_artifact(kind="model", name="m", write=lambda p: p.write_bytes(b"x"))
    child = ws.write_artifact(
        kind="onnx", name="m.onnx", write=lambda p: p.write_bytes(b"y"), parent_id=parent.id
    )
    again = ws.write_artifact(kind="model", name="m", write=lambda p: p.write_bytes(b"x"))
    assert again.id == parent.id
    assert [a.id for a in ws.catalog.lineage(child.id)] == [child.id, parent.id]


def test_job_states(ws: Workspace) -> None:
    with ws.job("train", "k1", {"a": 1}) as ok:
        pass
    with pytest.raises(ValueError), ws.job("train", "k2", {}) as failed:
        raise ValueError("bad thing")
    with pytest.raises(KeyboardInterrupt), ws.job("train", "k3", {}) as stopped:
        raise KeyboardInterrupt
    states = {j.id: (j.state, j.error) for j in ws.catalog.jobs()}
    assert states[ok] == ("done", None)
    assert states[failed] == ("failed", "bad thing")
    assert states[stopped][0] == "interrupted"


def _child(script: str, root: Path) -> subprocess.Popen[str]:
    code = textwrap.dedent(script).format(root=str(root))
    return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)


def test_a_killed_process_leaves_its_job_interrupted_not_running(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    child = _child(
        """
        import time
        from backends.workspace import Workspace
        ws = Workspace.open({root!r})
        with ws.job("train", "key", {{}}):
            (ws.root / "tmp" / f"{{__import__('os').getpid()}}-x-partial").write_bytes(b"half")
            print("started", flush=True)
            time.sleep(60)
        """,
        root,
    )
    assert child.stdout.readline().strip() == "started"
    # While it runs, another process sees it running (its lock is held).
    assert [j.state for j in Workspace.open(root).catalog.jobs()] == ["running"]
    child.send_signal(signal.SIGKILL)
    child.wait()
    reopened = Workspace.open(root)
    (job,) = reopened.catalog.jobs()
    assert job.state == "interrupted" and job.finished is not None
    assert list((root / "tmp").iterdir()) == []  # the dead process's temporary is gone


def test_catalog_survives_a_kill_in_the_middle_of_writes(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    child = _child(
        """
        from backends.workspace import Workspace
        ws = Workspace.open({root!r})
        print("ready", flush=True)
        i = 0
        while True:
            ws.catalog.add_artifact(kind="k", path=f"p/{{i}}", sha256="0" * 64, size=i)
            i += 1
        """,
        root,
    )
    assert child.stdout.readline().strip() == "ready"
    time.sleep(0.5)
    child.send_signal(signal.SIGKILL)
    child.wait()
    db = sqlite3.connect(root / "catalog.sqlite")
    assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    count = db.execute("SELECT count(*) FROM artifacts").fetchone()[0]
    db.close()
    assert count > 0
    sizes = [a.size for a in Workspace.open(root).catalog.artifacts()]
    assert sizes == list(range(count))  # no gap, no half row


def test_unwritable_workspace_is_one_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(BadInput, match=r"workspace .* is not writable.*--workspace"):
        Workspace.open(blocker / "ws")


def test_corrupt_catalog_is_one_clear_error(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    root.mkdir()
    (root / "catalog.sqlite").write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(BadInput, match="not a readable SQLite database.*move it aside"):
        Workspace.open(root)


def test_workspace_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLLIB_WORKSPACE", str(tmp_path / "env-ws"))
    assert Workspace.open().root == tmp_path / "env-ws"
    assert os.path.exists(tmp_path / "env-ws" / "catalog.sqlite")

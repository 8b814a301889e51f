"""Store indexes are untrusted: a shared bucket may hold indexes written by anyone. Every hostile
index below is refused in one line naming the store key and the field, and nothing outside the
workspace is touched (the victim directory beside it survives), in the local store and in S3."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from backends.datasets.build import synth_dataset
from backends.storage import configure, sync
from backends.storage.creds import Target
from backends.workspace import Workspace
from tests.conftest import cli
from tests.s3server import S3Server


class Store:
    """A store of one kind, the CLI options that reach it, and a workspace that pushed to it."""

    def __init__(self, options: list[str], root: Path, **configured: Any) -> None:
        self.options = options
        self.store, self.targets, _ = configure(local=root / "store", **configured)
        self.source = Workspace.open(root / "source")
        self.dataset = synth_dataset(
            self.source, name="d", images=4, size=(32, 32), emit=lambda e: None
        )
        asyncio.run(
            sync.push_dataset(
                self.source, self.store, self.targets["dataset"], self.dataset, lambda e: None
            )
        )
        self.artifact = self.source.write_artifact(
            kind="tflite",
            name="model.tflite",
            write=lambda p: p.write_bytes(b"TFL3-not-really"),
            meta={"precision": "int8"},
        )
        asyncio.run(
            sync.push_artifact(
                self.source, self.store, self.targets["model"], self.artifact, lambda e: None
            )
        )

    def dataset_key(self) -> tuple[Target, str]:
        target = self.targets["dataset"]
        return target, target.key("datasets", "d", f"{self.dataset.version}.json")

    def artifact_key(self) -> tuple[Target, str]:
        target = self.targets["model"]
        return target, target.key("artifacts", f"{self.artifact.sha256}.json")

    def edit(self, which: str, change: Callable[[dict[str, Any]], None]) -> str:
        target, key = self.dataset_key() if which == "dataset" else self.artifact_key()
        index = asyncio.run(self.store.get_json(target, key))
        change(index)
        asyncio.run(self.store.put_json(target, key, index))
        return key

    def put_blob(self, which: str, data: bytes) -> str:
        """A new blob (a forged manifest, say) with its correct sha256."""
        target = self.targets[which]
        sha = hashlib.sha256(data).hexdigest()
        blob = self.source.root / "forged"
        blob.write_bytes(data)
        asyncio.run(self.store.put(target, target.key("blobs", sha), blob, sha))
        return sha


@pytest.fixture(
    params=["local", pytest.param("s3", marks=pytest.mark.slow)], ids=["local-store", "s3"]
)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    if request.param == "local":
        return Store(["--store", str(tmp_path / "store")], tmp_path, creds=None, entry=None)
    s3: S3Server = request.getfixturevalue("s3")
    creds = s3.creds_json(tmp_path / "creds.json")
    bucket = f"hostile-{tmp_path.name[-12:].lower().replace('_', '-')}"
    _use_bucket(creds, bucket)
    return Store(["--creds", str(creds)], tmp_path, creds=creds, entry=None, create_buckets=True)


def _use_bucket(creds: Path, bucket: str) -> None:
    data = json.loads(creds.read_text())
    for target in data["s3"][0]["sets"].values():
        target["bucket"] = bucket
    creds.write_text(json.dumps(data))


def _victim(tmp_path: Path) -> Path:
    """What a path escaping the workspace would hit: tmp_path/victim, beside the workspace."""
    victim = tmp_path / "victim"
    victim.mkdir(exist_ok=True)
    (victim / "keep.txt").write_text("mine")
    return victim


def _outside(tmp_path: Path) -> set[Path]:
    """Every file outside the pulling workspace, the store and the S3 server's data."""
    skip = {tmp_path / "ws", tmp_path / "store", tmp_path / "source"}
    return {p for p in tmp_path.rglob("*") if not any(p.is_relative_to(s) for s in skip)}


def _pull(store: Store, tmp_path: Path, *args: str) -> str:
    victim, before = _victim(tmp_path), _outside(tmp_path)
    out = cli("storage", "pull", *args, "-w", str(tmp_path / "ws"), *store.options)
    assert out.returncode == 2, out.stdout + out.stderr
    assert "Traceback" not in out.stderr
    (line,) = out.stderr.strip().splitlines()
    assert (victim / "keep.txt").read_text() == "mine"
    assert _outside(tmp_path) == before  # nothing written or removed beside the workspace
    ws = Workspace.open(tmp_path / "ws")
    assert not ws.catalog.datasets() and not ws.catalog.artifacts()
    assert list((ws.root / "tmp").iterdir()) == []
    return line


VICTIM = "../../../victim"  # from ws/datasets/d/: tmp_path/victim


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda i, v: i.update(version=VICTIM), "field 'version'"),
        (lambda i, v: i.update(version=str(v)), "field 'version'"),  # absolute
        (lambda i, v: i.update(version="0123456789abcdef"), "field 'name'/'version'"),
        (lambda i, v: i.update(name="../d"), "field 'name'"),
        (lambda i, v: i["files"].update({"../../victim/x.npz": "0" * 64}), "field 'files'"),
        (lambda i, v: i["files"].update({"manifest.json": "not-hex"}), "field 'files.manifest"),
        (lambda i, v: i.update(task="rm -rf"), "field 'task'"),
    ],
)
def test_hostile_dataset_indexes_are_refused(store: Store, tmp_path: Path, change, field) -> None:
    key = store.edit("dataset", lambda index: change(index, tmp_path / "victim"))
    line = _pull(store, tmp_path, "dataset", "d")
    assert key in line and field in line


def test_a_forged_manifest_naming_files_outside_is_refused(store: Store, tmp_path: Path) -> None:
    """The index is consistent, but the manifest it lists names shard files outside the
    dataset (which training and boards would open)."""
    manifest = json.loads((store.source.path(store.dataset.path) / "manifest.json").read_text())
    manifest["splits"]["train"]["shards"][0]["file"] = "../../../victim/keep.txt"
    sha = store.put_blob("dataset", json.dumps(manifest).encode())
    key = store.edit("dataset", lambda index: index["files"].update({"manifest.json": sha}))
    line = _pull(store, tmp_path, "dataset", "d")
    assert key in line and "splits.train.shards[0].file" in line


def test_a_manifest_that_lies_about_its_content_is_refused(store: Store, tmp_path: Path) -> None:
    manifest = json.loads((store.source.path(store.dataset.path) / "manifest.json").read_text())
    manifest["classes"] = ["void", "person", "vehicle", "cat"]  # not what the shards hash to
    sha = store.put_blob("dataset", json.dumps(manifest).encode())
    store.edit("dataset", lambda index: index["files"].update({"manifest.json": sha}))
    line = _pull(store, tmp_path, "dataset", "d")
    assert "does not hash to version" in line


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda i: i.update(kind="../../../../victim"), "field 'kind'"),
        (lambda i: i.update(kind="model/../../x"), "field 'kind'"),
        (lambda i: i["meta"].update(precision="../../../../etc"), "field 'meta.precision'"),
        (lambda i: i.update(name="../../victim/model.tflite"), "field 'name'"),
        (lambda i: i.update(files={"../model.tflite": i["sha256"]}), "field 'files'"),
        (lambda i: i.update(sha256="f" * 64), "field 'sha256'"),
        (lambda i: i.update(directory="yes"), "field 'directory'"),
        (lambda i: i["meta"].update(fidelity={"passed": "yes"}), "field 'meta.fidelity"),
        (lambda i: i["meta"].update(input_size=[-1, 64]), "field 'meta.input_size[0]'"),
    ],
)
def test_hostile_artifact_indexes_are_refused(store: Store, tmp_path: Path, change, field) -> None:
    key = store.edit("artifact", change)
    line = _pull(store, tmp_path, "artifact", store.artifact.sha256[:16])
    assert key in line and field in line


def test_an_index_that_is_not_json_is_one_line(tmp_path: Path) -> None:
    store = Store(["--store", str(tmp_path / "store")], tmp_path, creds=None, entry=None)
    target, key = store.artifact_key()
    (tmp_path / "store" / target.bucket / key).write_bytes(b"\xff{not json")
    line = _pull(store, tmp_path, "artifact", store.artifact.sha256)
    assert key in line and "not valid JSON" in line
    # the listing names it instead of failing on it, and check reports it
    listed = cli("storage", "ls", "--json", "-w", str(tmp_path / "ws"), *store.options)
    assert listed.returncode == 0, listed.stderr
    (bad,) = [a for a in json.loads(listed.stdout)["artifacts"] if "problem" in a]
    assert bad["key"] == key
    checked = cli("storage", "check", *store.options)
    assert checked.returncode == 3 and key in checked.stderr


def test_an_untouched_store_still_pulls(store: Store, tmp_path: Path) -> None:
    """The rules refuse hostile indexes, not mllib's own."""
    ws = ["-w", str(tmp_path / "ws"), *store.options]
    assert cli("storage", "pull", "dataset", "d", *ws).returncode == 0
    assert cli("storage", "pull", "artifact", store.artifact.sha256[:12], *ws).returncode == 0
    pulled = Workspace.open(tmp_path / "ws").catalog
    assert pulled.dataset("d").version == store.dataset.version
    (artifact,) = pulled.artifacts()
    assert artifact.sha256 == store.artifact.sha256 and artifact.meta["precision"] == "int8"

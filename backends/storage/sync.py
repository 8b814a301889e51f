"""Moving workspace things through a store: dataset versions, artifacts, benchmark runs.

Layout inside each set's bucket and prefix (sets as in the original's creds.json):
- ``dataset``: ``blobs/SHA256`` (shards and manifests) and ``datasets/NAME/VERSION.json``, an
  index of the version's files with their sha256;
- ``model``: ``blobs/SHA256`` and ``artifacts/SHA256.json`` (kind, file names, metadata);
- ``test``: ``results/RUN.json``, one object per benchmark run, written once: concurrent writers
  never touch each other's objects, and the listing is the index (the original appended to one
  JSON file with an unlocked read-modify-write and lost results).
A pull downloads into ``tmp/``, verifies every file's sha256, then renames into the workspace
and records it in the catalog, so an interrupted pull leaves nothing half-present.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import json
import shutil
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from backends.catalog import ArtifactRecord, DatasetRecord
from backends.errors import BadInput
from backends.events import Emit, ProgressReporter
from backends.storage import Store
from backends.storage.creds import Target
from backends.workspace import Workspace, hash_path

T = TypeVar("T")
STAGE = "storage"
PARALLEL = 4  # files moved at once


def connected(operation: Callable[..., Awaitable[T]]) -> Callable[..., Awaitable[T]]:
    """Run an operation's calls on one shared connection of its ``store`` argument."""
    signature = inspect.signature(operation)

    @functools.wraps(operation)
    async def wrapper(*args: Any, **kwargs: Any) -> T:
        store: Store = signature.bind(*args, **kwargs).arguments["store"]
        async with store.connected():
            return await operation(*args, **kwargs)

    return wrapper


@connected
async def push_dataset(
    ws: Workspace, store: Store, target: Target, record: DatasetRecord, emit: Emit
) -> int:
    """Upload a dataset version (blobs not already there); returns the number of files sent."""
    _admit(target, record.name)
    root = ws.path(record.path)
    files = {p.relative_to(root).as_posix(): p for p in sorted(root.rglob("*")) if p.is_file()}
    sent = await _push_files(store, target, files, emit, f"dataset {record.name}")
    await store.put_json(
        target,
        target.key("datasets", record.name, f"{record.version}.json"),
        {"name": record.name, "version": record.version, "task": record.task, "files": sent[1]},
    )
    return sent[0]


@connected
async def pull_dataset(
    ws: Workspace, store: Store, target: Target, ref: str, emit: Emit
) -> DatasetRecord:
    """Download ``NAME@VERSION`` (a version prefix is enough; NAME alone when it has one
    version in the store) into the workspace."""
    name, _, version = ref.partition("@")
    _admit(target, name)
    stored = [Path(k).stem for k in await store.keys(target, target.key("datasets", name, ""))]
    found = [v for v in stored if v.startswith(version)]
    if not found:
        raise BadInput(f"{store.label}: no dataset {ref} in {target.bucket}/{target.prefix}")
    if len(found) > 1:
        raise BadInput(
            f"{store.label}: dataset {ref} matches {len(found)} versions "
            f"({', '.join(v[:8] for v in found)}): pull one as {name}@VERSION"
        )
    (version,) = found
    index = await store.get_json(target, target.key("datasets", name, f"{version}.json"))
    if index is None:
        raise BadInput(f"{store.label}: no dataset {name}@{version}: see `mllib-tui storage ls`")
    existing = [d for d in ws.catalog.datasets(name) if d.version == index["version"]]
    if existing:
        return existing[0]
    tmp = ws.temporary(f"pull-{name}")
    try:
        await _pull_files(store, target, index["files"], tmp, emit, f"dataset {name}")
        manifest = json.loads((tmp / "manifest.json").read_text())
        final = ws.root / "datasets" / name / index["version"]
        final.parent.mkdir(parents=True, exist_ok=True)
        if final.exists():
            shutil.rmtree(final)  # not in the catalog: a leftover
        tmp.rename(final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return ws.catalog.add_dataset(
        name=name,
        version=index["version"],
        task=index.get("task", "segmentation"),
        path=ws.relative(final),
        manifest=manifest,
        job_id=None,
    )


@connected
async def push_artifact(
    ws: Workspace, store: Store, target: Target, artifact: ArtifactRecord, emit: Emit
) -> int:
    path = ws.verify(artifact)
    files = (
        {p.relative_to(path).as_posix(): p for p in sorted(path.rglob("*")) if p.is_file()}
        if path.is_dir()
        else {path.name: path}
    )
    sent, index = await _push_files(store, target, files, emit, f"artifact {artifact.id}")
    await store.put_json(
        target,
        target.key("artifacts", f"{artifact.sha256}.json"),
        {
            "sha256": artifact.sha256,
            "kind": artifact.kind,
            "name": Path(artifact.path).name,
            "directory": path.is_dir(),
            "meta": artifact.meta,
            "files": index,
        },
    )
    return sent


@connected
async def presigned_url(
    ws: Workspace, store: Store, target: Target, artifact: ArtifactRecord, emit: Emit, seconds: int
) -> str:
    """Put a single-file artifact into the store (unless there) and sign a GET URL for it, so a
    board without credentials can fetch it."""
    if ws.verify(artifact).is_dir():
        raise BadInput(f"artifact {artifact.id} is a directory: deploy a single-file model")
    await push_artifact(ws, store, target, artifact, emit)
    return await store.presign(target, target.key("blobs", artifact.sha256), seconds)


@connected
async def pull_artifact(
    ws: Workspace, store: Store, target: Target, sha256: str, emit: Emit
) -> ArtifactRecord:
    """Download an artifact by (a prefix of) its sha256 and record it; its hash is checked again
    as a whole when it is written into the workspace."""
    if len(sha256) < 64:
        matches = await store.keys(target, target.key("artifacts", sha256))
        if len(matches) != 1:
            raise BadInput(f"{store.label}: {len(matches)} artifacts start with {sha256!r}")
        sha256 = Path(matches[0]).stem
    index = await store.get_json(target, target.key("artifacts", f"{sha256}.json"))
    if index is None:
        raise BadInput(f"{store.label}: no artifact {sha256[:12]}: see `mllib-tui storage ls`")
    for artifact in ws.catalog.artifacts(index["kind"]):
        if artifact.sha256 == sha256:
            return artifact
    staging = ws.temporary(f"pull-{sha256[:12]}")
    try:
        await _pull_files(store, target, index["files"], staging, emit, f"artifact {sha256[:12]}")

        def place(path: Path) -> None:
            source = staging if index["directory"] else staging / index["name"]
            source.rename(path)

        record = ws.write_artifact(
            kind=index["kind"], name=index["name"], write=place, meta=index["meta"]
        )
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    if record.sha256 != sha256:
        raise BadInput(f"artifact {sha256[:12]} arrived as {record.sha256[:12]}: damaged")
    return record


@connected
async def push_results(
    store: Store, target: Target, run_id: str, rows: list[dict[str, Any]]
) -> str:
    key = target.key("results", f"{run_id}.json")
    await store.put_json(target, key, {"run_id": run_id, "rows": rows})
    return key


@connected
async def listing(ws: Workspace, store: Store, targets: dict[str, Target]) -> dict[str, Any]:
    """What the store holds, and which of it this workspace has."""
    local_versions = {(d.name, d.version) for d in ws.catalog.datasets()}
    local_shas = {a.sha256 for a in ws.catalog.artifacts()}
    out: dict[str, Any] = {}
    if "dataset" in targets:
        t = targets["dataset"]
        versions = [
            (Path(k).parent.name, Path(k).stem) for k in await store.keys(t, t.key("datasets", ""))
        ]
        out["datasets"] = [
            {"name": name, "version": version, "local": (name, version) in local_versions}
            for name, version in versions
        ]
    if "model" in targets:
        t = targets["model"]
        out["artifacts"] = []
        for key in await store.keys(t, t.key("artifacts", "")):
            index = await store.get_json(t, key) or {}
            out["artifacts"].append(
                {
                    "sha256": index.get("sha256"),
                    "kind": index.get("kind"),
                    "precision": (index.get("meta") or {}).get("precision", "fp32"),
                    "local": index.get("sha256") in local_shas,
                }
            )
    if "test" in targets:
        t = targets["test"]
        out["results"] = [Path(k).stem for k in await store.keys(t, t.key("results", ""))]
    return out


@connected
async def check(store: Store, targets: dict[str, Target]) -> list[str]:
    """Every blob an index names, present with the right sha256 metadata; the problems found."""
    problems = []
    for set_name, kind in (("dataset", "datasets"), ("model", "artifacts")):
        if set_name not in targets:
            continue
        t = targets[set_name]
        for key in await store.keys(t, t.key(kind, "")):
            for file, sha in ((await store.get_json(t, key)) or {}).get("files", {}).items():
                head = await store.head(t, t.key("blobs", sha))
                if head is None:
                    problems.append(f"{key}: {file} is missing (blob {sha[:12]})")
                elif head.get("sha256") != sha:
                    problems.append(f"{key}: {file} has sha256 metadata {head.get('sha256')}")
    return problems


async def _push_files(
    store: Store, target: Target, files: dict[str, Path], emit: Emit, what: str
) -> tuple[int, dict[str, str]]:
    """(files sent, {relative name: sha256}); blobs already in the store are skipped."""
    progress = ProgressReporter(emit, STAGE, sum(p.stat().st_size for p in files.values()), "bytes")
    index: dict[str, str] = {}
    gate = asyncio.Semaphore(PARALLEL)

    async def one(relative: str) -> bool:
        path = files[relative]
        async with gate:
            # hashed in a thread: one file's hashing overlaps the others' uploads
            sha = index[relative] = (await asyncio.to_thread(hash_path, path))[0]
            sent = await store.put(
                target, target.key("blobs", sha), path, sha, _advance(progress, what)
            )
        if not sent:
            progress.advance(path.stat().st_size, what)
        return sent

    sent = await asyncio.gather(*(one(r) for r in files))
    return sum(sent), {r: index[r] for r in files}


async def _pull_files(
    store: Store, target: Target, files: dict[str, str], into: Path, emit: Emit, what: str
) -> None:
    shas = sorted(set(files.values()))
    heads = dict(
        zip(
            shas,
            await asyncio.gather(*(store.head(target, target.key("blobs", s)) for s in shas)),
            strict=True,
        )
    )
    missing = [f for f, sha in files.items() if heads[sha] is None]
    if missing:
        raise BadInput(f"{store.label}: {what} is incomplete: {missing[0]} is missing")
    for relative in files:
        if not (into / relative).resolve().is_relative_to(into.resolve()):
            raise BadInput(f"{store.label}: {what} names a file outside it: {relative!r}")
    progress = ProgressReporter(emit, STAGE, sum(h["size"] for h in heads.values() if h), "bytes")
    gate = asyncio.Semaphore(PARALLEL)

    async def one(relative: str, sha: str) -> None:
        async with gate:
            await store.get(
                target, target.key("blobs", sha), into / relative, sha, _advance(progress, what)
            )

    await asyncio.gather(*(one(r, sha) for r, sha in files.items()))


def _advance(progress: ProgressReporter, what: str) -> Callable[[int], None]:
    return lambda n: progress.advance(n, what)


def _admit(target: Target, name: str) -> None:
    if not target.admits(name):
        raise BadInput(
            f"dataset {name!r} does not match this set's dataset_filter {target.dataset_filter!r}"
        )

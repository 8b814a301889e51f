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

from backends.bench.rows import BenchmarkRow
from backends.catalog import ArtifactRecord, DatasetRecord
from backends.datasets.manifest import check_manifest
from backends.datasets.shards import MANIFEST
from backends.durable import fsync
from backends.errors import BadInput
from backends.events import Emit, ProgressReporter
from backends.names import DATASET_VERSION, SHA256, check_name, check_sha256, is_name
from backends.storage import Store
from backends.storage.creds import Target
from backends.storage.index import ArtifactIndex, DatasetIndex
from backends.tasks import UNLABELLED
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
    if record.task == UNLABELLED:
        raise BadInput(
            f"dataset {record.name}@{record.version} is camera frames (a capture): object "
            "storage holds labelled datasets; label the frames first"
        )
    root = ws.path(record.path)
    files = {p.relative_to(root).as_posix(): p for p in sorted(root.rglob("*")) if p.is_file()}
    sent = await _push_files(store, target, files, emit, f"dataset {record.name}")
    await store.put_json(
        target,
        target.key("datasets", record.name, f"{record.version}.json"),
        DatasetIndex(record.name, record.version, record.task, sent[1]).to_json(),
    )
    return sent[0]


@connected
async def pull_dataset(
    ws: Workspace, store: Store, target: Target, ref: str, emit: Emit
) -> DatasetRecord:
    """Download ``NAME@VERSION`` (a version prefix is enough; NAME alone when it has one
    version in the store) into the workspace."""
    name, _, version = ref.partition("@")
    check_name(name, "dataset name")
    _admit(target, name)
    found = [v for v in await _versions(store, target, name) if v.startswith(version)]
    if not found:
        raise BadInput(f"{store.label}: no dataset {ref} in {target.bucket}/{target.prefix}")
    if len(found) > 1:
        raise BadInput(
            f"{store.label}: dataset {ref} matches {len(found)} versions "
            f"({', '.join(v[:8] for v in found)}): pull one as {name}@VERSION"
        )
    (version,) = found
    key = target.key("datasets", name, f"{version}.json")
    raw = await store.get_json(target, key)
    if raw is None:
        raise BadInput(f"{store.label}: no dataset {name}@{version}: see `mllib-tui storage ls`")
    index = DatasetIndex.parse(raw, _where(store, target, key), name, version)
    existing = [d for d in ws.catalog.datasets(name) if d.version == version]
    if existing:
        return existing[0]
    tmp = ws.temporary(f"pull-{name}")
    try:
        await _pull_files(store, target, index.files, tmp, emit, f"dataset {name}")
        where = f"{_where(store, target, key)}: {MANIFEST}"
        manifest = check_manifest(_read_json(tmp / MANIFEST), name, version, index.files, where)
        final = ws.root / "datasets" / name / version
        final.parent.mkdir(parents=True, exist_ok=True)
        if final.exists():
            shutil.rmtree(final)  # not in the catalog: a leftover
        tmp.rename(final)
        fsync(final.parent)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return ws.catalog.add_dataset(
        name=name,
        version=version,
        task=index.task,
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
        ArtifactIndex(
            artifact.sha256, artifact.kind, path.name, path.is_dir(), artifact.meta, index
        ).to_json(),
    )
    return sent


@connected
async def presigner(
    ws: Workspace, store: Store, target: Target, artifact: ArtifactRecord, emit: Emit, seconds: int
) -> Callable[[], Awaitable[str]]:
    """Put a single-file artifact into the store (unless there) and return what signs a GET
    URL for it, so a board without credentials can fetch it; each call signs a fresh URL, so
    every board's is made just before its download and none expires waiting its turn."""
    if ws.verify(artifact).is_dir():
        raise BadInput(f"artifact {artifact.id} is a directory: deploy a single-file model")
    await push_artifact(ws, store, target, artifact, emit)
    key = target.key("blobs", artifact.sha256)
    return lambda: store.presign(target, key, seconds)


@connected
async def pull_artifact(
    ws: Workspace, store: Store, target: Target, sha256: str, emit: Emit
) -> ArtifactRecord:
    """Download an artifact by (a prefix of) its sha256 and record it; its hash is checked again
    as a whole when it is written into the workspace."""
    if len(sha256) < 64:
        if not sha256 or any(c not in "0123456789abcdef" for c in sha256):
            raise BadInput(f"{sha256!r} is not a sha256 or a prefix of one (lowercase hex)")
        listed = [Path(k).stem for k in await store.keys(target, target.key("artifacts", sha256))]
        matches = [m for m in listed if SHA256.fullmatch(m)]
        if len(matches) != 1:
            raise BadInput(f"{store.label}: {len(matches)} artifacts start with {sha256!r}")
        sha256 = matches[0]
    check_sha256(sha256, "artifact")
    for artifact in ws.catalog.artifacts():
        if artifact.sha256 == sha256:
            return artifact
    return await receive_artifact(ws, store, target, sha256, emit)


@connected
async def receive_artifact(
    ws: Workspace,
    store: Store,
    target: Target,
    sha256: str,
    emit: Emit,
    *,
    parent_id: int | None = None,
    job_id: int | None = None,
    dataset_id: int | None = None,
) -> ArtifactRecord:
    """Download artifact ``sha256`` and record it with the lineage given (what a Ray worker
    made is recorded as a local job would record it); its hash is checked again as a whole
    when it is written into the workspace."""
    key = target.key("artifacts", f"{sha256}.json")
    raw = await store.get_json(target, key)
    if raw is None:
        raise BadInput(f"{store.label}: no artifact {sha256[:12]}: see `mllib-tui storage ls`")
    index = ArtifactIndex.parse(raw, _where(store, target, key), sha256)
    staging = ws.temporary(f"pull-{sha256[:12]}")
    try:
        await _pull_files(store, target, index.files, staging, emit, f"artifact {sha256[:12]}")

        def place(path: Path) -> None:
            source = staging if index.directory else staging / index.name
            source.rename(path)

        return ws.write_artifact(
            kind=index.kind,
            name=index.name,
            write=place,
            meta=index.meta,
            expect=sha256,
            parent_id=parent_id,
            job_id=job_id,
            dataset_id=dataset_id,
        )
    finally:
        shutil.rmtree(staging, ignore_errors=True)


@connected
async def push_results(store: Store, target: Target, run_id: str, rows: list[BenchmarkRow]) -> str:
    key = target.key("results", f"{run_id}.json")
    await store.put_json(target, key, {"run_id": run_id, "rows": [r.to_json() for r in rows]})
    return key


@connected
async def listing(ws: Workspace, store: Store, targets: dict[str, Target]) -> dict[str, Any]:
    """What the store holds, and which of it this workspace has; an index that does not read
    as one is listed with its problem instead of its fields."""
    local_versions = {(d.name, d.version) for d in ws.catalog.datasets()}
    local_shas = {a.sha256 for a in ws.catalog.artifacts()}
    out: dict[str, Any] = {}
    if "dataset" in targets:
        t = targets["dataset"]
        out["datasets"] = [
            {"name": name, "version": version, "local": (name, version) in local_versions}
            for name, version in _dataset_keys(await store.keys(t, t.key("datasets", "")), t)
        ]
    if "model" in targets:
        t = targets["model"]
        out["artifacts"] = []
        for key, index in await _artifact_indexes(store, t):
            if isinstance(index, BadInput):
                out["artifacts"].append({"key": key, "problem": str(index)})
                continue
            out["artifacts"].append(
                {
                    "sha256": index.sha256,
                    "kind": index.kind,
                    "precision": index.meta.get("precision", "fp32"),
                    "local": index.sha256 in local_shas,
                }
            )
    if "test" in targets:
        t = targets["test"]
        found = [Path(k).stem for k in await store.keys(t, t.key("results", ""))]
        out["results"] = [run for run in found if is_name(run)]
    return out


@connected
async def check(store: Store, targets: dict[str, Target]) -> list[str]:
    """Every index readable, and every blob it names present with the right sha256 metadata;
    the problems found."""
    problems: list[str] = []
    indexes: list[tuple[Target, str, DatasetIndex | ArtifactIndex | BadInput]] = []
    if "dataset" in targets:
        t = targets["dataset"]
        for name, version in _dataset_keys(await store.keys(t, t.key("datasets", "")), t):
            key = t.key("datasets", name, f"{version}.json")
            try:
                raw = await store.get_json(t, key)
                index: Any = DatasetIndex.parse(raw, _where(store, t, key), name, version)
            except BadInput as exc:
                index = exc
            indexes.append((t, key, index))
    if "model" in targets:
        t = targets["model"]
        indexes += [(t, key, index) for key, index in await _artifact_indexes(store, t)]
    for t, key, index in indexes:
        if isinstance(index, BadInput):
            problems.append(str(index))
            continue
        for file, sha in index.files.items():
            head = await store.head(t, t.key("blobs", sha))
            if head is None:
                problems.append(f"{key}: {file} is missing (blob {sha[:12]})")
            elif head.get("sha256") != sha:
                problems.append(f"{key}: {file} has sha256 metadata {head.get('sha256')}")
    return problems


async def _versions(store: Store, target: Target, name: str) -> list[str]:
    """The versions of dataset ``name`` the listing holds (keys that are not an index of that
    name, such as ``datasets/NAME/../x.json`` or a nested key, are not versions)."""
    keys = await store.keys(target, target.key("datasets", name, ""))
    return [v for n, v in _dataset_keys(keys, target) if n == name]


def _dataset_keys(keys: list[str], target: Target) -> list[tuple[str, str]]:
    """(name, version) of every key shaped ``datasets/NAME/VERSION.json``."""
    found = []
    for key in keys:
        parts = key.removeprefix(target.prefix).split("/")
        if len(parts) == 3 and parts[0] == "datasets" and parts[2].endswith(".json"):
            name, version = parts[1], parts[2].removesuffix(".json")
            if is_name(name) and DATASET_VERSION.fullmatch(version):
                found.append((name, version))
    return found


async def _artifact_indexes(
    store: Store, target: Target
) -> list[tuple[str, ArtifactIndex | BadInput]]:
    out: list[tuple[str, ArtifactIndex | BadInput]] = []
    for key in await store.keys(target, target.key("artifacts", "")):
        sha = key.removeprefix(target.key("artifacts", "")).removesuffix(".json")
        try:
            check_sha256(sha, f"{_where(store, target, key)}: the key's name")
            raw = await store.get_json(target, key)
            out.append((key, ArtifactIndex.parse(raw, _where(store, target, key), sha)))
        except BadInput as exc:
            out.append((key, exc))
    return out


def _where(store: Store, target: Target, key: str) -> str:
    return f"{store.label}: {target.bucket}/{key}"


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_bytes())
    except (ValueError, UnicodeDecodeError):
        return None  # check_manifest names the file


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

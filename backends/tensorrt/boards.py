"""TensorRT engines for a board: found in the catalog by fingerprint, else built on the board.

A build pushes the ONNX model (and, for int8, a calibration shard drawn stratified from the
training split, plus a calibration cache when the catalog has one for that TensorRT release),
runs the agent's ``engine`` command, and brings the engine (and a new calibration cache) back
into the workspace, hash-checked, as artifacts whose metadata carry the fingerprint. The next
request with the same fingerprint is a cache hit: nothing is built or uploaded.
"""

from __future__ import annotations

import asyncio
import os
import posixpath
import secrets
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from backends import events as ev
from backends.boards.inventory import Board, Inventory
from backends.boards.session import BoardSession
from backends.catalog import ArtifactRecord, DatasetRecord
from backends.errors import BadInput, StageFailed
from backends.formats import CALIBRATION_CACHE, CALIBRATION_SHARD, Precision
from backends.tensorrt.fingerprint import Fingerprint, board_identity, check
from backends.workspace import Workspace, hash_path

if TYPE_CHECKING:
    from backends.tensorrt.stage import EngineStep

ENGINE, CACHE, SHARD = "tensorrt", CALIBRATION_CACHE, CALIBRATION_SHARD


async def engine_for(
    ws: Workspace,
    session: BoardSession,
    onnx: ArtifactRecord,
    precision: Precision,
    dataset: DatasetRecord | None,
    step: EngineStep,
    emit: ev.Emit,
) -> tuple[ArtifactRecord, bool]:
    """(the engine artifact, whether it was built now rather than found in the catalog)."""
    board = session.board.name
    if onnx.kind != "onnx":
        raise BadInput(
            f"artifact {onnx.id} is {onnx.kind}: TensorRT engines are built from an ONNX "
            "artifact (`mllib-tui artifacts` lists them)"
        )
    probe = await session.probe()
    identity = board_identity(probe, board)
    shard = cache = None
    if precision is Precision.INT8:
        if dataset is None:
            raise BadInput(f"artifact {onnx.id} has no dataset to calibrate int8 with")
        shard = await asyncio.to_thread(calibration_shard, ws, dataset, step)  # reads shards
        cache = cached_calibration(ws, onnx, shard, identity["tensorrt"])
        if cache is None and not probe["tensorrt"]["python"]:
            raise BadInput(
                f"board {board} has trtexec but not TensorRT's Python module, and no calibration "
                f"cache for TensorRT {identity['tensorrt']} is in the catalog: install "
                "python3-libnvinfer there, or build int8 once on a board that has it"
            )
    wanted = Fingerprint(
        **identity,
        precision=precision.value,
        onnx_sha256=onnx.sha256,
        calibration_sha256=cache.sha256 if cache else None,
    )
    found = find_engine(ws, onnx, wanted, step.max_batch)
    if found is not None:
        emit(ev.Log(stage="engine", level="info", message=f"{board}: engine cache hit"))
        return found, False
    return await _build(ws, session, onnx, precision, identity, shard, cache, step, emit), True


def find_engine(
    ws: Workspace, onnx: ArtifactRecord, wanted: Fingerprint, max_batch: int
) -> ArtifactRecord | None:
    """An engine with this fingerprint whose optimisation profile takes ``max_batch``."""
    for engine in ws.catalog.children(onnx.id, ENGINE):
        if (
            engine.meta.get("fingerprint_key") == wanted.key
            and engine.meta.get("max_batch") == max_batch
            and ws.path(engine.path).exists()
        ):
            return engine
    return None


def fingerprint_of(engine: ArtifactRecord) -> Fingerprint:
    return Fingerprint.from_dict(engine.meta["fingerprint"])


async def check_engine(session: BoardSession, artifact: ArtifactRecord) -> None:
    """Refuse, before anything is uploaded, a TensorRT engine that was built for another board
    (any other format passes)."""
    if artifact.kind != "tensorrt":
        return
    identity = board_identity(await session.probe(), session.board.name)
    check(fingerprint_of(artifact), identity, f"board {session.board.name}")


def calibration_shard(ws: Workspace, dataset: DatasetRecord, step: EngineStep) -> ArtifactRecord:
    """The int8 calibration images (stratified from the training split), one artifact per
    dataset and size, so repeated builds upload and calibrate with the same bytes."""
    from backends.convert.representative import stratified
    from backends.datasets.shards import split

    for shard in ws.catalog.artifacts(SHARD):
        if shard.dataset_id == dataset.id and shard.meta.get("images") == step.calibration_images:
            return shard
    classes = dataset.manifest["classes"]
    images = stratified(
        split(ws.path(dataset.path), "train"), step.calibration_images, len(classes)
    )

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as out:
            np.save(out, images, allow_pickle=False)

    return ws.write_artifact(
        kind=SHARD,
        name="calibration.npy",
        write=write,
        dataset_id=dataset.id,
        meta={"images": step.calibration_images, "drawn": len(images)},
    )


def cached_calibration(
    ws: Workspace, onnx: ArtifactRecord, shard: ArtifactRecord, tensorrt: str | None
) -> ArtifactRecord | None:
    """A calibration cache made from this model and shard by this TensorRT release (caches
    are portable between GPUs, not between TensorRT releases)."""
    for cache in ws.catalog.children(onnx.id, CACHE):
        if (
            cache.meta.get("shard_sha256") == shard.sha256
            and cache.meta.get("tensorrt") == tensorrt
        ):
            return cache
    return None


async def _build(
    ws: Workspace,
    session: BoardSession,
    onnx: ArtifactRecord,
    precision: Precision,
    identity: dict[str, str | None],
    shard: ArtifactRecord | None,
    cache: ArtifactRecord | None,
    step: EngineStep,
    emit: ev.Emit,
) -> ArtifactRecord:
    board = session.board.name
    remote_onnx = await session.upload(ws.verify(onnx), onnx.sha256)
    work = session.path("engines", f".build-{secrets.token_hex(6)}")
    await session.transport.makedirs(work)
    remote_cache = posixpath.join(work, "calibration.cache")
    request = {
        "command": "engine",
        "onnx": remote_onnx,
        "out": posixpath.join(work, "model.engine"),
        "precision": precision.value,
        "workspace_mb": step.workspace_mb,
        "max_batch": step.max_batch,
        "calibration": (
            await session.upload(ws.verify(shard), shard.sha256) if shard is not None else None
        ),
        "calibration_cache": remote_cache if shard is not None else None,
    }
    if cache is not None:
        await session.transport.put(ws.verify(cache), remote_cache)
    engine = ws.temporary("model.engine")
    new_cache = ws.temporary("calibration.cache") if shard is not None and cache is None else None
    try:
        try:
            data = await session.result(request, emit)
            await _fetch(session, data["sha256"], posixpath.join(work, "model.engine"), engine)
            if new_cache is not None:
                await _fetch(session, data["calibration_sha256"], remote_cache, new_cache)
        finally:
            await session.transport.remove(work)
        if cache is not None and data.get("calibration_sha256") != cache.sha256:
            raise StageFailed(f"board {board}: the calibration cache arrived damaged; build again")
        calibration = cache or (
            _register_cache(ws, new_cache, onnx, shard, data) if new_cache is not None else None
        )
        return _register_engine(
            ws, engine, onnx, precision, identity, calibration, data, step, board
        )
    finally:  # fetched files not moved into the workspace (a failure on the way)
        engine.unlink(missing_ok=True)
        if new_cache is not None:
            new_cache.unlink(missing_ok=True)


def _register_engine(
    ws: Workspace,
    engine: Path,
    onnx: ArtifactRecord,
    precision: Precision,
    identity: dict[str, str | None],
    calibration: ArtifactRecord | None,
    data: dict[str, Any],
    step: EngineStep,
    board: str,
) -> ArtifactRecord:
    built = Fingerprint(
        gpu=data["gpu"],
        compute_capability=data["compute_capability"],
        tensorrt=data["tensorrt"],
        l4t=data["l4t"],
        precision=precision.value,
        onnx_sha256=onnx.sha256,
        calibration_sha256=calibration.sha256 if calibration else None,
    )
    check(built, identity, f"board {board}")  # the board changed under us mid-build
    meta = {
        "precision": precision.value,
        "fingerprint": built.as_dict(),
        "fingerprint_key": built.key,
        "built_on": board,
        "builder": data["builder"],
        "build_seconds": round(data["seconds"], 1) if data.get("seconds") else None,
        "calibrated_batches": data.get("calibrated_batches"),
        "max_batch": step.max_batch,
    }
    if data.get("trtexec"):
        meta["trtexec"] = data["trtexec"]
    return _adopt(ws, engine, ENGINE, "model.engine", onnx, meta)


async def _fetch(session: BoardSession, sha256: str, remote: str, local: Path) -> None:
    """``remote`` to ``local`` over SFTP, checked against the hash the board computed."""
    local.parent.mkdir(parents=True, exist_ok=True)
    await session.transport.get(remote, local)
    if hash_path(local)[0] != sha256:
        raise StageFailed(
            f"board {session.board.name}: {posixpath.basename(remote)} arrived damaged; build again"
        )


def _register_cache(
    ws: Workspace, local: Path, onnx: ArtifactRecord, shard: Any, result: dict[str, Any]
) -> ArtifactRecord:
    meta = {"shard_sha256": shard.sha256, "tensorrt": result["tensorrt"]}
    return _adopt(ws, local, CACHE, "calibration.cache", onnx, meta)


def _adopt(
    ws: Workspace, local: Path, kind: str, name: str, onnx: ArtifactRecord, meta: dict[str, Any]
) -> ArtifactRecord:
    """A file fetched from the board, moved into the workspace as a child of ``onnx``."""
    return ws.write_artifact(
        kind=kind,
        name=name,
        write=lambda tmp: os.replace(local, tmp),
        parent_id=onnx.id,
        dataset_id=onnx.dataset_id,
        meta=meta,
    )


async def build_on_boards(
    ws: Workspace,
    inventory: Inventory,
    onnx: ArtifactRecord,
    boards: list[Board],
    precision: Precision,
    step: EngineStep,
    emit: ev.Emit,
    limit: int = 4,
) -> dict[str, dict[str, Any] | BaseException]:
    """An engine per board (one per distinct fingerprint: twin boards share the cached one)."""
    from backends.boards.fleet import each_board

    dataset = ws.catalog.dataset_by_id(onnx.dataset_id) if onnx.dataset_id else None

    async def work(session: BoardSession) -> dict[str, Any]:
        engine, built = await engine_for(ws, session, onnx, precision, dataset, step, emit)
        outcome = {"artifact": engine.id, "built": built, **engine.meta}
        board = session.board.name
        emit(ev.Result(stage="engine", name=board, data=outcome, board=board))
        return outcome

    return await each_board(boards, inventory, work, limit)

"""Many boards at once, with a concurrency limit; each board's failure is its own.

Probe, deploy and benchmark are async (the app awaits them); the CLI runs them with
``asyncio.run``. A benchmark run is a catalog job: rows that finished are kept when a board drops,
and ``retry`` reruns only the rows that are missing.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from backends import events as ev
from backends.bench.local import check_sizes, row_header
from backends.boards.inventory import Board, Inventory
from backends.boards.session import BoardSession, Signer
from backends.boards.transport import BoardLost, open_transport
from backends.catalog import ArtifactRecord, DatasetRecord
from backends.config import BenchStep, out_of_range
from backends.errors import BadInput, Interrupted
from backends.formats import Format
from backends.tensorrt.boards import check_engine
from backends.workspace import Workspace

T = TypeVar("T")
Outcome = dict[str, Any]


async def each_board(
    boards: list[Board],
    inventory: Inventory,
    work: Callable[[BoardSession], Awaitable[T]],
    limit: int = 8,
) -> dict[str, T | BaseException]:
    """``work`` on every board, at most ``limit`` at a time; exceptions are returned per board."""
    problem = out_of_range("boards.concurrency", limit)
    if problem is not None:  # a limit of 0 would wait forever
        raise BadInput(problem)
    asyncio.get_running_loop().set_exception_handler(_quiet_lost_links)
    gate = asyncio.Semaphore(limit)

    async def one(board: Board) -> T:
        async with gate:
            transport = await open_transport(board, inventory)
            try:
                return await work(BoardSession(transport))
            finally:
                with contextlib.suppress(Exception):  # a dead link must not hide the real error
                    await transport.close()

    results = await asyncio.gather(*(one(b) for b in boards), return_exceptions=True)
    for result in results:
        if isinstance(result, (KeyboardInterrupt, asyncio.CancelledError)):
            raise result
    return {board.name: result for board, result in zip(boards, results, strict=True)}


def _quiet_lost_links(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """When a board drops, asyncssh's own helper tasks (an SFTP transfer's block copies) can end
    with the lost connection after the operation that owns them failed and was reported as one
    line; asyncio would print their tracebacks as 'never retrieved'. Anything else is shown."""
    error = context.get("exception")
    if isinstance(error, OSError) or type(error).__module__.startswith("asyncssh"):
        return
    loop.default_exception_handler(context)


async def probe(
    ws: Workspace, inventory: Inventory, boards: list[Board], emit: ev.Emit, limit: int = 8
) -> dict[str, Outcome | BaseException]:
    results = await each_board(boards, inventory, lambda session: session.probe(), limit)
    for name, facts in results.items():
        if not isinstance(facts, BaseException):
            ws.catalog.add_probe(name, facts)
            emit(ev.Result(stage="probe", name=name, data=facts))
    return results


def default_slot(artifact: ArtifactRecord) -> str:
    return f"{artifact.kind}-{artifact.meta.get('precision', 'fp32')}"


async def deploy(
    ws: Workspace,
    inventory: Inventory,
    artifact: ArtifactRecord,
    boards: list[Board],
    emit: ev.Emit,
    *,
    slot: str | None = None,
    rollback: bool = False,
    limit: int = 4,
    sign: Signer | None = None,
) -> dict[str, Outcome | BaseException]:
    """Deploy (or roll back) one artifact to many boards; per board: what happened. With
    ``sign`` (it makes a presigned URL of object storage) each board downloads the artifact
    itself, through a URL signed just before that board's download."""
    slot = slot or default_slot(artifact)
    local = None if rollback else ws.verify(artifact)

    async def work(session: BoardSession) -> Outcome:
        start = time.monotonic()
        if rollback:
            now = await session.rollback(slot)
            return {"action": "rolled back", "sha256": now, "seconds": time.monotonic() - start}
        assert local is not None
        progress = ev.ProgressReporter(emit, f"deploy {session.board.name}", artifact.size, "bytes")
        changed = await session.deploy(
            local,
            artifact.sha256,
            slot,
            lambda done, _total: progress.advance(done - progress.done),
            sign=sign,
        )
        return {
            "action": "deployed" if changed else "already current",
            "sha256": artifact.sha256,
            "seconds": time.monotonic() - start,
            "bytes": artifact.size if changed else 0,
        }

    results = await each_board(boards, inventory, work, limit)
    for name, outcome in results.items():
        if not isinstance(outcome, BaseException):
            emit(
                ev.Result(
                    stage="deploy",
                    name=name,
                    data={**outcome, "slot": slot, "artifact": artifact.id},
                )
            )
    return results


async def bench(
    ws: Workspace,
    inventory: Inventory,
    artifact: ArtifactRecord,
    boards: list[Board],
    runtimes: list[str] | None,
    dataset: DatasetRecord,
    step: BenchStep,
    emit: ev.Emit,
    *,
    run_id: str,
    kept: list[dict[str, Any]],
    limit: int = 8,
) -> list[dict[str, Any]]:
    """One row per board x runtime; ``kept`` rows (from an interrupted run) are not rerun."""
    check_sizes(artifact, dataset)
    fmt = Format.of(artifact)
    names = runtimes or list(fmt.runtimes)
    local = ws.verify(artifact)
    root = ws.path(dataset.path)
    split = {**dataset.manifest, "shards": dataset.manifest["splits"]["val"]["shards"]}
    done = {(r["board"], r["runtime"]) for r in kept if r["status"] == "ok"}

    fingerprint = artifact.meta.get("fingerprint") if artifact.kind == "tensorrt" else None
    finished: dict[str, list[dict[str, Any]]] = {board.name: [] for board in boards}

    async def work(session: BoardSession) -> None:
        rows = finished[session.board.name]  # kept whatever happens to the board later
        for runtime in names:
            if (session.board.name, runtime) in done:
                continue
            try:
                if fingerprint is not None:
                    await check_engine(session, artifact)
                data = await session.bench(
                    local, artifact.sha256, runtime, root, split, step, emit, fingerprint
                )
                row = row_header(artifact, runtime, data["machine"], session.board.name)
                row.update(data)
            except BoardLost as exc:
                rows += [
                    _failed(artifact, r, session.board.name, "interrupted", str(exc))
                    for r in names[names.index(runtime) :]
                    if (session.board.name, r) not in done
                ]
                break
            except Exception as exc:  # this runtime failed there: a row, and the board goes on
                row = _failed(artifact, runtime, session.board.name, "failed", str(exc))
            emit(ev.Result(stage="bench", name=row["name"], data=row))
            rows.append(row)

    results = await each_board(boards, inventory, work, limit)
    rows = [r for r in kept if r["status"] == "ok"]
    for board in boards:
        rows += finished[board.name]
        outcome = results[board.name]
        if isinstance(outcome, BaseException):  # it never started, or dropped outside a row
            status = "interrupted" if isinstance(outcome, Interrupted) else "failed"
            measured = {r["runtime"] for r in finished[board.name]}
            rows += [
                _failed(artifact, r, board.name, status, str(outcome))
                for r in names
                if (board.name, r) not in done and r not in measured
            ]
    return rows


def _failed(
    artifact: ArtifactRecord, runtime: str, board: str, status: str, error: str
) -> dict[str, Any]:
    row = row_header(artifact, runtime, {"arch": "?", "cpu": "?", "cores": "?"}, board)
    row.update(status=status, error=error.splitlines()[0][:300], hardware=board)
    return row


async def bench_run(
    ws: Workspace,
    inventory: Inventory,
    artifact: ArtifactRecord,
    names: list[str],
    tag: str | None,
    runtimes: list[str] | None,
    dataset: DatasetRecord,
    step: BenchStep,
    emit: ev.Emit,
    *,
    run_id: str,
    retry: bool = False,
    limit: int = 8,
) -> list[dict[str, Any]]:
    """A benchmark run on boards as a catalog job. Rows cut short by a dropped board are
    returned with status ``interrupted`` and the job is marked interrupted; ``retry`` keeps a
    run's finished rows and runs the rest on the same boards."""
    kept = ws.catalog.results(run_id) if retry else []
    if retry and not kept:
        raise BadInput(f"no results for run {run_id!r} to retry: `mllib-tui results` lists runs")
    if retry and not names and tag is None:
        names = sorted({r["board"] for r in kept if "board" in r})
    boards = inventory.select(names, tag)
    rows: list[dict[str, Any]] = []
    params = {"artifact": artifact.id, "boards": [b.name for b in boards], "retry": retry}
    with contextlib.suppress(Interrupted), ws.job("bench", run_id, params):
        rows = await bench(
            ws,
            inventory,
            artifact,
            boards,
            runtimes,
            dataset,
            step,
            emit,
            run_id=run_id,
            kept=kept,
            limit=limit,
        )
        cut = [r for r in rows if r["status"] == "interrupted"]
        if cut:
            raise Interrupted(cut[0]["error"])  # marks the job; the rows are kept and reported
    return rows

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
from backends.boards.inventory import Board, Inventory
from backends.boards.session import BoardSession, Signer
from backends.boards.transport import open_transport
from backends.catalog import ArtifactRecord
from backends.errors import BadInput
from backends.tensorrt.boards import check_engine
from backends.workspace import Workspace

T = TypeVar("T")
CONCURRENCY = (1, 256)  # boards worked on at the same time
Outcome = dict[str, Any]


async def each_board(
    boards: list[Board],
    inventory: Inventory,
    work: Callable[[BoardSession], Awaitable[T]],
    limit: int = 8,
) -> dict[str, T | BaseException]:
    """``work`` on every board, at most ``limit`` at a time; exceptions are returned per board."""
    if not CONCURRENCY[0] <= limit <= CONCURRENCY[1]:  # a limit of 0 would wait forever
        raise BadInput(f"concurrency must be between {CONCURRENCY[0]} and {CONCURRENCY[1]}")
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
            emit(ev.Result(stage="probe", name=name, data=facts, board=name))
    return results


async def monitor(
    inventory: Inventory,
    board: Board,
    emit: ev.Emit,
    *,
    seconds: float | None,
    interval: float,
    until: asyncio.Event | None = None,
) -> None:
    """Stream a board's temperature, memory and load (``Metric`` events) until ``seconds``
    pass, ``until`` is set, or the caller is cancelled; nothing stays running on the board."""
    request = {"command": "monitor", "interval": interval, "seconds": seconds}
    held = until or asyncio.Event()  # stdin stays open: closing it is how the agent is stopped
    outcome = await each_board(
        [board], inventory, lambda session: session.run_agent(request, emit, held), limit=1
    )
    if isinstance(outcome[board.name], BaseException):
        raise outcome[board.name]


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
        await check_engine(session, artifact)  # an engine another board cannot load: not sent
        progress = ev.ProgressReporter(
            emit, "deploy", artifact.size, "bytes", board=session.board.name
        )
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
                    board=name,
                )
            )
    return results

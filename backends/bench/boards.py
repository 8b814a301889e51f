"""Rows measured on boards over SSH: one per board x runtime, the same protocol and shards as a
local row. A run on boards is a catalog job: rows that finished are kept when a board drops or
fails, and a retry reruns only the rows that are missing."""

from __future__ import annotations

import contextlib
import dataclasses
from typing import Any

from backends import events as ev
from backends.bench.local import check_sizes, row_header, runtime_options
from backends.bench.rows import BenchmarkRow
from backends.bench.stage import BenchStep
from backends.boards.fleet import each_board
from backends.boards.inventory import Board, Inventory
from backends.boards.session import BoardSession
from backends.boards.transport import BoardLost
from backends.catalog import ArtifactRecord, DatasetRecord
from backends.errors import BadInput, Cancelled, Interrupted
from backends.formats import RUNTIMES, Format
from backends.tensorrt.boards import check_engine
from backends.workspace import Workspace


async def bench_on_boards(
    ws: Workspace,
    inventory: Inventory,
    artifact: ArtifactRecord,
    boards: list[Board],
    runtimes: list[str] | None,
    dataset: DatasetRecord,
    step: BenchStep,
    emit: ev.Emit,
    *,
    kept: list[BenchmarkRow],
    limit: int = 8,
) -> list[BenchmarkRow]:
    """One row per board x runtime; ``kept`` rows (from an interrupted run) are not rerun."""
    check_sizes(artifact, dataset)
    names = runtimes or list(Format.of(artifact).runtimes)
    local = ws.verify(artifact)
    root = ws.path(dataset.path)
    split = {**dataset.manifest, "shards": dataset.manifest["splits"]["val"]["shards"]}
    done = {(r.board, r.runtime) for r in kept if r.ok}
    finished: dict[str, list[BenchmarkRow]] = {board.name: [] for board in boards}

    async def work(session: BoardSession) -> None:
        rows = finished[session.board.name]  # kept whatever happens to the board later
        mine = names
        if runtimes is None and any(RUNTIMES[r].optional for r in names):
            there = set((await session.probe())["runtimes"])  # OpenVINO: only where it is
            mine = [r for r in names if not RUNTIMES[r].optional or r in there]
        for runtime in mine:
            if (session.board.name, runtime) in done:
                continue
            try:
                await check_engine(session, artifact)
                options = runtime_options(runtime, step, artifact)
                data = await session.bench(
                    local, artifact.sha256, runtime, root, split, step, emit, options
                )
                row = row_header(artifact, runtime, data["machine"], session.board.name)
                row = row.measured(data)
            except BoardLost as exc:
                rows += [
                    _failed(artifact, r, session.board.name, "interrupted", str(exc))
                    for r in mine[mine.index(runtime) :]
                    if (session.board.name, r) not in done
                ]
                break
            except Cancelled:  # the user stopped the run: not this runtime's failure
                raise
            except Exception as exc:  # this runtime failed there: a row, and the board goes on
                row = _failed(artifact, runtime, session.board.name, "failed", str(exc))
            emit(ev.Result(stage="bench", name=row.name, data=row.to_json(), board=row.board))
            rows.append(row)

    results = await each_board(boards, inventory, work, limit)
    rows = [r for r in kept if r.ok]
    for board in boards:
        rows += finished[board.name]
        outcome = results[board.name]
        if isinstance(outcome, BaseException):  # it never started, or dropped outside a row
            stopped = isinstance(outcome, Interrupted | Cancelled)  # a drop, or the user
            status = "interrupted" if stopped else "failed"
            measured = {r.runtime for r in finished[board.name]}
            rows += [
                _failed(artifact, r, board.name, status, str(outcome))
                for r in names
                if (board.name, r) not in done
                and r not in measured
                and (runtimes is not None or not RUNTIMES[r].optional)  # it may have none
            ]
    return rows


def _failed(
    artifact: ArtifactRecord, runtime: str, board: str, status: str, error: str
) -> BenchmarkRow:
    row = row_header(artifact, runtime, {"arch": "?", "cpu": "?", "cores": "?"}, board)
    return dataclasses.replace(row.failed(status, error), hardware=board)


async def board_run(
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
) -> list[BenchmarkRow]:
    """A benchmark run on boards as a catalog job. Rows cut short by a dropped board are
    returned with status ``interrupted`` and the job is marked interrupted; ``retry`` keeps a
    run's finished rows and runs the rest on the same boards."""
    kept = ws.catalog.results(run_id) if retry else []
    if retry and not kept:
        raise BadInput(f"no results for run {run_id!r} to retry: `mllib-tui results` lists runs")
    if retry and not names and tag is None:
        names = sorted({r.board for r in kept if r.board})
    boards = inventory.select(names, tag)
    rows: list[BenchmarkRow] = []
    params: dict[str, Any] = {
        "artifact": artifact.id,
        "boards": [b.name for b in boards],
        "retry": retry,
    }
    with contextlib.suppress(Interrupted), ws.job("bench", run_id, params):
        rows = await bench_on_boards(
            ws, inventory, artifact, boards, runtimes, dataset, step, emit, kept=kept, limit=limit
        )
        cut = [r for r in rows if r.status == "interrupted"]
        if cut:
            raise Interrupted(cut[0].error or "")  # marks the job; the rows are kept, reported
    return rows

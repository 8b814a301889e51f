"""The catalog's result tables: benchmark rows (with the fields of the original mllib's
tests.json; ``accuracy`` is top-1 and ``class_similarity`` per-class recall for
classification) and board probes. Rows are SQL rows, so concurrent writers lose nothing (the
original appended to one JSON file with an unlocked read-modify-write)."""

from __future__ import annotations

import contextlib
import json
import sqlite3
import time
from collections.abc import Callable
from typing import Any

from backends.bench.compare import StoredRow, row_key
from backends.bench.rows import BenchmarkRow
from backends.errors import BadInput
from backends.tasks import TASKS

RESULTS_SCHEMA = """
CREATE TABLE IF NOT EXISTS results (
    id INTEGER PRIMARY KEY,
    run_id TEXT NOT NULL,
    date REAL NOT NULL,
    name TEXT NOT NULL,
    description TEXT NOT NULL,
    model INTEGER REFERENCES artifacts(id),
    platform TEXT NOT NULL,
    status TEXT NOT NULL,
    images INTEGER,
    batch_size INTEGER,
    accuracy REAL,
    similarity REAL,
    miou REAL,
    class_similarity TEXT,
    confusion TEXT,
    image_time REAL,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS results_run ON results(run_id);
CREATE TABLE IF NOT EXISTS probes (
    id INTEGER PRIMARY KEY,
    board TEXT NOT NULL,
    date REAL NOT NULL,
    data TEXT NOT NULL
);
"""


class ResultTables:
    """Mixed into ``Catalog``, which provides the connection and the artifacts."""

    _connect: Callable[[], contextlib.AbstractContextManager[sqlite3.Connection]]
    artifact: Callable[[int], Any]
    lineage: Callable[[int], list[Any]]
    dataset_by_id: Callable[[int], Any]

    def add_results(self, run_id: str, description: str, rows: list[BenchmarkRow]) -> None:
        """Store a run's rows; a run stored again (a retry) replaces its earlier rows."""
        with self._connect() as db:
            db.execute("DELETE FROM results WHERE run_id = ?", (run_id,))
            db.executemany(
                "INSERT INTO results (run_id, date, name, description, model, platform, status, "
                "images, batch_size, accuracy, similarity, miou, class_similarity, confusion, "
                "image_time, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        run_id,
                        row.date,
                        row.software,
                        description,
                        row.artifact,
                        row.hardware,
                        row.status,
                        row.images,
                        row.batch_size,
                        row.metric(task.accuracy),
                        row.metric("similarity"),
                        row.metric("miou"),
                        json.dumps(row.metric(task.per_class[0])),
                        json.dumps(row.confusion),
                        row.end_to_end.mean_ms if row.end_to_end else None,
                        json.dumps(row.to_json()),
                    )
                    for row in rows
                    for task in [TASKS[row.task]]
                ],
            )

    def runs(self) -> list[tuple[str, float, int]]:
        """(run id, date, rows) per benchmark run, oldest first."""
        with self._connect() as db:
            query = (
                "SELECT run_id, min(date), count(*) FROM results GROUP BY run_id ORDER BY min(id)"
            )
            return [tuple(r) for r in db.execute(query)]

    def results(self, run_id: str) -> list[BenchmarkRow]:
        with self._connect() as db:
            rows = db.execute("SELECT data FROM results WHERE run_id = ? ORDER BY id", (run_id,))
            return [BenchmarkRow.from_json(json.loads(r["data"])) for r in rows]

    def stored_rows(self) -> list[StoredRow]:
        """Every stored row with its run, oldest first: what comparisons and history read."""
        with self._connect() as db:
            rows = db.execute("SELECT run_id, data FROM results ORDER BY id")
            return [
                StoredRow(r["run_id"], BenchmarkRow.from_json(json.loads(r["data"]))) for r in rows
            ]

    def model_results(self, model: int) -> tuple[list[BenchmarkRow], list[StoredRow]]:
        """What compares ``model``: the newest row of each board and software among its rows
        and its conversions' (across runs); and the rows of its family (models of the same
        network trained on the same dataset name), oldest first: its history."""
        self.artifact(model)  # "no artifact with id N"
        family = _Family(self, model)
        newest: dict[tuple[str, str], BenchmarkRow] = {}
        history = []
        for stored in self.stored_rows():
            mine = family.descends(stored.row.artifact, model)
            if mine:
                newest[row_key(stored.row)] = stored.row
            if mine or family(stored.row.artifact) is not None:
                history.append(stored)
        return list(newest.values()), history

    def in_family(self, model: int) -> Callable[[int], bool]:
        """Whether an artifact is ``model``, comes from it, or comes from a model of its family:
        what a baseline row must be to compare with ``model``'s rows."""
        family = _Family(self, model)
        return lambda artifact: family.descends(artifact, model) or family(artifact) is not None

    def latest_p50(self) -> dict[str, float]:
        """Board -> p50 (ms) of its newest successful row (``local`` for workstation rows)."""
        with self._connect() as db:
            rows = db.execute(
                "SELECT coalesce(json_extract(data, '$.board'), 'local') AS board, "
                "json_extract(data, '$.latency.p50_ms') AS p50 FROM results "
                "WHERE status = 'ok' AND p50 IS NOT NULL ORDER BY id"
            )
            return {r["board"]: r["p50"] for r in rows}

    def latest_rows(self) -> dict[str, list[BenchmarkRow]]:
        """Board -> the rows of the newest run that measured it (``local`` for workstation
        rows): what its screen shows before anything runs in the app."""
        board = "coalesce(json_extract(data, '$.board'), 'local')"
        with self._connect() as db:
            newest = db.execute(f"SELECT {board} AS board, run_id, max(id) FROM results GROUP BY 1")
            return {
                r["board"]: [
                    BenchmarkRow.from_json(json.loads(found["data"]))
                    for found in db.execute(
                        f"SELECT data FROM results WHERE run_id = ? AND {board} = ? ORDER BY id",
                        (r["run_id"], r["board"]),
                    )
                ]
                for r in newest.fetchall()
            }

    def add_probe(self, board: str, data: dict[str, Any]) -> None:
        with self._connect() as db:
            db.execute(
                "INSERT INTO probes (board, date, data) VALUES (?, ?, ?)",
                (board, time.time(), json.dumps(data)),
            )

    def last_probes(self) -> dict[str, tuple[float, dict[str, Any]]]:
        """board -> (date, facts) of its newest probe."""
        with self._connect() as db:
            rows = db.execute("SELECT board, date, data FROM probes ORDER BY id")
            return {r["board"]: (r["date"], json.loads(r["data"])) for r in rows}


class _Family:
    """Whether an artifact descends from a model of the same family as ``model`` (its network
    and dataset name), with each artifact's lineage looked up once."""

    def __init__(self, catalog: ResultTables, model: int) -> None:
        self._catalog = catalog
        self._seen: dict[int, tuple[set[int], tuple[str, str] | None]] = {}
        self._identity = self._of(model)[1]

    def __call__(self, artifact: int) -> tuple[str, str] | None:
        """The family of ``artifact`` when it is ``model``'s, else None."""
        found = self._of(artifact)[1]
        return found if found is not None and found == self._identity else None

    def descends(self, artifact: int, model: int) -> bool:
        return model in self._of(artifact)[0]

    def _of(self, artifact: int) -> tuple[set[int], tuple[str, str] | None]:
        """The ids of ``artifact``'s lineage and its root model's family."""
        if artifact not in self._seen:
            try:
                chain = self._catalog.lineage(artifact)
            except BadInput:  # a row of an artifact this catalog does not hold
                chain = []
            root = chain[-1] if chain else None
            family = None
            if root is not None and root.dataset_id is not None and root.meta.get("network"):
                name = self._catalog.dataset_by_id(root.dataset_id).name
                family = (str(root.meta.get("network")), name)
            self._seen[artifact] = ({a.id for a in chain}, family)
        return self._seen[artifact]

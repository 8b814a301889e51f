"""The workspace catalog: SQLite in WAL mode.

Tables: datasets (versions by content hash), artifacts (sha256, size, parent, producing job,
dataset lineage), models, jobs. A running job holds an exclusive ``flock`` on its lock file; the
kernel drops the lock when the process dies however it dies, so at the next start any ``running``
job whose lock can be taken is marked ``interrupted`` (no PID-reuse guessing).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from backends.catalog_results import RESULTS_SCHEMA, ResultTables
from backends.errors import BadInput
from backends.tasks import UNLABELLED

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    key TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('queued','running','done','failed','interrupted')),
    params TEXT NOT NULL DEFAULT '{}',
    created REAL NOT NULL,
    started REAL,
    finished REAL,
    error TEXT
);
CREATE INDEX IF NOT EXISTS jobs_key ON jobs(kind, key, state);
CREATE TABLE IF NOT EXISTS datasets (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    version TEXT NOT NULL,
    task TEXT NOT NULL,
    path TEXT NOT NULL,
    manifest TEXT NOT NULL,
    job_id INTEGER REFERENCES jobs(id),
    created REAL NOT NULL,
    UNIQUE (name, version)
);
CREATE TABLE IF NOT EXISTS artifacts (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    path TEXT NOT NULL UNIQUE,
    sha256 TEXT NOT NULL,
    size INTEGER NOT NULL,
    parent_id INTEGER REFERENCES artifacts(id),
    job_id INTEGER REFERENCES jobs(id),
    dataset_id INTEGER REFERENCES datasets(id),
    meta TEXT NOT NULL DEFAULT '{}',
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS models (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    network TEXT NOT NULL,
    dataset_id INTEGER NOT NULL REFERENCES datasets(id),
    artifact_id INTEGER NOT NULL REFERENCES artifacts(id),
    config TEXT NOT NULL,
    created REAL NOT NULL
);
"""


@dataclass(frozen=True)
class DatasetRecord:
    id: int
    name: str
    version: str
    task: str
    path: str
    manifest: dict[str, Any]
    created: float

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"

    @property
    def labelled(self) -> bool:
        """False for a capture: camera frames that no task can measure until labelled."""
        return self.task != UNLABELLED

    @property
    def images(self) -> dict[str, int]:
        """Images per split; a capture has one count, ``frames``."""
        if not self.labelled:
            return {"frames": self.manifest["images"]}
        return {split: v["images"] for split, v in self.manifest["splits"].items()}


@dataclass(frozen=True)
class ArtifactRecord:
    id: int
    kind: str
    path: str
    sha256: str
    size: int
    parent_id: int | None
    job_id: int | None
    dataset_id: int | None
    meta: dict[str, Any]
    created: float


@dataclass(frozen=True)
class JobRecord:
    id: int
    kind: str
    key: str
    state: str
    params: dict[str, Any]
    created: float
    started: float | None
    finished: float | None
    error: str | None


class Catalog(ResultTables):
    def __init__(self, path: Path, locks: Path) -> None:
        self.path = path
        self._locks = locks
        self._held: dict[int, int] = {}  # job id -> fd of its lock file
        try:
            db = sqlite3.connect(path, timeout=10)
            try:
                db.execute("PRAGMA journal_mode=WAL")
                db.executescript(SCHEMA + RESULTS_SCHEMA)
            finally:
                db.close()
        except sqlite3.DatabaseError as exc:
            raise BadInput(
                f"{path}: the catalog is not a readable SQLite database ({exc}); move it aside "
                "and run again to start a new catalog (artifacts on disk are kept)"
            ) from None
        self._recover_interrupted()

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        # One short-lived connection per operation: safe from worker threads, cheap in WAL mode.
        db = sqlite3.connect(self.path, timeout=10, isolation_level=None)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            db.execute("PRAGMA foreign_keys=ON")
            db.row_factory = sqlite3.Row
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
        finally:
            db.close()

    # -- jobs -------------------------------------------------------------------------------

    def start_job(self, kind: str, key: str, params: dict[str, Any]) -> int:
        now = time.time()
        fd = -1
        try:
            with self._connect() as db:
                job_id = db.execute(
                    "INSERT INTO jobs (kind, key, state, params, created, started) "
                    "VALUES (?, ?, 'running', ?, ?, ?)",
                    (kind, key, json.dumps(params, sort_keys=True), now, now),
                ).lastrowid
                assert job_id is not None
                # Locked before the row is committed: a recovery in another process sees the
                # running row only once its lock is held, so it never takes a live job's lock.
                fd = os.open(self._lock_path(job_id), os.O_RDWR | os.O_CREAT, 0o644)
                fcntl.flock(fd, fcntl.LOCK_EX)
        except BaseException:
            if fd >= 0:
                os.close(fd)
            raise
        self._held[job_id] = fd
        return job_id

    def finish_job(self, job_id: int, state: str, error: str | None = None) -> None:
        with self._connect() as db:
            db.execute(
                "UPDATE jobs SET state = ?, finished = ?, error = ? WHERE id = ?",
                (state, time.time(), error, job_id),
            )
        fd = self._held.pop(job_id, None)
        if fd is not None:
            os.close(fd)
            self._lock_path(job_id).unlink(missing_ok=True)

    def jobs(self, kind: str | None = None, key: str | None = None) -> list[JobRecord]:
        query, args = "SELECT * FROM jobs WHERE 1=1", []
        if kind is not None:
            query, args = query + " AND kind = ?", [*args, kind]
        if key is not None:
            query, args = query + " AND key = ?", [*args, key]
        with self._connect() as db:
            return [_job(row) for row in db.execute(query + " ORDER BY id", args)]

    def _lock_path(self, job_id: int) -> Path:
        return self._locks / f"job-{job_id}.lock"

    def _recover_interrupted(self) -> None:
        with self._connect() as db:
            running = [row["id"] for row in db.execute("SELECT id FROM jobs WHERE state='running'")]
        for job_id in running:
            fd = os.open(self._lock_path(job_id), os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # another live process is running it
            else:
                with self._connect() as db:
                    db.execute(
                        "UPDATE jobs SET state='interrupted', finished=?, "
                        "error='the process stopped before the job finished' "
                        "WHERE id=? AND state='running'",
                        (time.time(), job_id),
                    )
                self._lock_path(job_id).unlink(missing_ok=True)
            finally:
                os.close(fd)

    # -- artifacts --------------------------------------------------------------------------

    def add_artifact(
        self,
        *,
        kind: str,
        path: str,
        sha256: str,
        size: int,
        parent_id: int | None = None,
        job_id: int | None = None,
        dataset_id: int | None = None,
        meta: dict[str, Any] | None = None,
    ) -> ArtifactRecord:
        with self._connect() as db:
            db.execute(
                "INSERT INTO artifacts (kind, path, sha256, size, parent_id, job_id, dataset_id, "
                "meta, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
                # Same path = same bytes. The newest job that produced them wins the metadata:
                # the figures are identical, only a verdict under other gates can differ.
                "ON CONFLICT(path) DO UPDATE SET job_id=excluded.job_id, meta=excluded.meta",
                (
                    kind,
                    path,
                    sha256,
                    size,
                    parent_id,
                    job_id,
                    dataset_id,
                    json.dumps(meta or {}, sort_keys=True),
                    time.time(),
                ),
            )
            row = db.execute("SELECT * FROM artifacts WHERE path = ?", (path,)).fetchone()
        return _artifact(row)

    def update_meta(self, artifact_id: int, meta: dict[str, Any]) -> ArtifactRecord:
        """Add ``meta`` to an artifact's metadata (what was learnt about it later: a
        TensorRT engine's fidelity measured on its board); its bytes are unchanged."""
        with self._connect() as db:
            row = db.execute("SELECT meta FROM artifacts WHERE id = ?", (artifact_id,)).fetchone()
            if row is None:
                raise BadInput(f"no artifact with id {artifact_id} in {self.path}")
            merged = {**json.loads(row["meta"]), **meta}
            db.execute(
                "UPDATE artifacts SET meta = ? WHERE id = ?",
                (json.dumps(merged, sort_keys=True), artifact_id),
            )
        return self.artifact(artifact_id)

    def artifact(self, artifact_id: int) -> ArtifactRecord:
        with self._connect() as db:
            row = db.execute("SELECT * FROM artifacts WHERE id = ?", (artifact_id,)).fetchone()
        if row is None:
            raise BadInput(f"no artifact with id {artifact_id} in {self.path}")
        return _artifact(row)

    def artifacts(self, kind: str | None = None, job_id: int | None = None) -> list[ArtifactRecord]:
        query, args = "SELECT * FROM artifacts WHERE 1=1", []
        if kind is not None:
            query, args = query + " AND kind = ?", [*args, kind]
        if job_id is not None:
            query, args = query + " AND job_id = ?", [*args, job_id]
        with self._connect() as db:
            return [_artifact(row) for row in db.execute(query + " ORDER BY id", args)]

    def children(self, parent_id: int, kind: str) -> list[ArtifactRecord]:
        with self._connect() as db:
            rows = db.execute(
                "SELECT * FROM artifacts WHERE parent_id = ? AND kind = ? ORDER BY id",
                (parent_id, kind),
            )
            return [_artifact(row) for row in rows]

    def lineage(self, artifact_id: int) -> list[ArtifactRecord]:
        """The artifact, its parent, its parent's parent... (oldest last)."""
        chain = [self.artifact(artifact_id)]
        while chain[-1].parent_id is not None:
            chain.append(self.artifact(chain[-1].parent_id))
        return chain

    # -- datasets and models ----------------------------------------------------------------

    def add_dataset(
        self,
        *,
        name: str,
        version: str,
        task: str,
        path: str,
        manifest: dict[str, Any],
        job_id: int | None,
    ) -> DatasetRecord:
        with self._connect() as db:
            db.execute(
                "INSERT INTO datasets (name, version, task, path, manifest, job_id, created) "
                "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(name, version) DO NOTHING",
                (name, version, task, path, json.dumps(manifest), job_id, time.time()),
            )
            row = db.execute(
                "SELECT * FROM datasets WHERE name = ? AND version = ?", (name, version)
            ).fetchone()
        return _dataset(row)

    def datasets(self, name: str | None = None) -> list[DatasetRecord]:
        query, args = "SELECT * FROM datasets", []
        if name is not None:
            query, args = query + " WHERE name = ?", [name]
        with self._connect() as db:
            return [_dataset(row) for row in db.execute(query + " ORDER BY id", args)]

    def dataset(self, ref: str) -> DatasetRecord:
        """``NAME`` (newest version) or ``NAME@VERSION`` (a version prefix is enough)."""
        name, _, version = ref.partition("@")
        matches = [d for d in self.datasets(name) if d.version.startswith(version)]
        if not matches:
            known = sorted({d.name for d in self.datasets()}) or ["none yet"]
            raise BadInput(
                f"dataset {ref!r} is not in this workspace (known: {', '.join(known)}); "
                "create one with `mllib-tui datasets synth` or `mllib-tui datasets import coco`"
            )
        return matches[-1]

    def dataset_by_id(self, dataset_id: int) -> DatasetRecord:
        with self._connect() as db:
            row = db.execute("SELECT * FROM datasets WHERE id = ?", (dataset_id,)).fetchone()
        if row is None:
            raise BadInput(f"no dataset with id {dataset_id} in {self.path}")
        return _dataset(row)

    def add_model(
        self, *, name: str, network: str, dataset_id: int, artifact_id: int, config: dict[str, Any]
    ) -> int:
        with self._connect() as db:
            model_id = db.execute(
                "INSERT INTO models (name, network, dataset_id, artifact_id, config, created) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (
                    name,
                    network,
                    dataset_id,
                    artifact_id,
                    json.dumps(config, sort_keys=True),
                    time.time(),
                ),
            ).lastrowid
        assert model_id is not None
        return model_id


def _job(row: sqlite3.Row) -> JobRecord:
    return JobRecord(**{**dict(row), "params": json.loads(row["params"])})


def _artifact(row: sqlite3.Row) -> ArtifactRecord:
    return ArtifactRecord(**{**dict(row), "meta": json.loads(row["meta"])})


def _dataset(row: sqlite3.Row) -> DatasetRecord:
    data = dict(row)
    data.pop("job_id")
    return DatasetRecord(**{**data, "manifest": json.loads(row["manifest"])})

"""How a Ray task's inputs reach its worker and its outputs come back: content-addressed blobs in
a store that both sides reach — a directory every node mounts, or the S3 store of a creds.json
entry — with the layout and the checks of ``backends/storage/sync.py`` (every blob verified by
sha256 as it is read, every index read as untrusted input).

A worker is told *where* the exchange is (``Where``: a directory, or the name of a creds.json
entry) and never a key: on a worker the entry is read from the worker's own ``$MLLIB_CREDS``.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from backends.catalog import ArtifactRecord, DatasetRecord
from backends.errors import BadInput
from backends.events import Emit
from backends.executor.config import CREDS_ENV, ExecutorConfig
from backends.storage import Store, configure, target_of
from backends.storage.creds import Target
from backends.workspace import Workspace


@dataclass(frozen=True)
class Where:
    """What a task is told of the exchange: no credential, ever."""

    directory: str | None = None  # a directory every node mounts
    creds_entry: str | None = None  # s3: the entry of each side's $MLLIB_CREDS file


class Exchange:
    def __init__(self, store: Store, targets: dict[str, Target], where: Where) -> None:
        self.store, self.where = store, where
        self.datasets, self.models = target_of(targets, "dataset"), target_of(targets, "model")

    @classmethod
    def for_workstation(cls, config: ExecutorConfig, ws: Workspace) -> Exchange:
        if config.exchange == "s3":
            return cls.open(Where(creds_entry=config.creds_entry or ""), "this workstation")
        directory = Path(config.exchange) if config.exchange else ws.root / "exchange"
        directory.mkdir(parents=True, exist_ok=True)
        return cls.open(Where(directory=str(directory.absolute())), "this workstation")

    @classmethod
    def open(cls, where: Where, side: str) -> Exchange:
        """The exchange ``where`` names, as ``side`` (this workstation, or a worker) reaches it."""
        if where.directory is not None:
            directory = Path(where.directory)
            if not directory.is_dir():
                raise BadInput(
                    f"the exchange directory {directory} is not on {side}: name one every node "
                    'mounts in [executor] exchange, or use exchange = "s3"'
                )
            store, targets, _ = configure(creds=None, entry=None, local=directory)
            return cls(store, targets, where)
        creds = os.environ.get(CREDS_ENV)
        if not creds:
            raise BadInput(
                f'{side} has no {CREDS_ENV}: exchange = "s3" reads the store\'s creds.json from '
                f"the path in {CREDS_ENV} on the workstation and on every worker (on Kubernetes, "
                "a Secret mounted as a file: deploy/kuberay/)"
            )
        store, targets, _ = configure(
            creds=Path(creds), entry=where.creds_entry or None, local=Path("."), create_buckets=True
        )
        return cls(store, targets, where)

    def send(
        self,
        ws: Workspace,
        dataset: DatasetRecord,
        artifacts: Sequence[ArtifactRecord],
        emit: Emit,
    ) -> None:
        """Put a dataset version and artifacts where workers read them (blobs already there
        are not sent again)."""
        from backends.storage import sync

        async def both() -> None:
            async with self.store.connected():
                await sync.push_dataset(ws, self.store, self.datasets, dataset, emit)
                for artifact in artifacts:
                    await sync.push_artifact(ws, self.store, self.models, artifact, emit)

        asyncio.run(both())

    def fetch_dataset(self, ws: Workspace, ref: str, emit: Emit) -> DatasetRecord:
        from backends.storage import sync

        return asyncio.run(sync.pull_dataset(ws, self.store, self.datasets, ref, emit))

    def fetch(
        self,
        ws: Workspace,
        sha256: str,
        emit: Emit,
        *,
        parent_id: int | None = None,
        job_id: int | None = None,
        dataset_id: int | None = None,
    ) -> ArtifactRecord:
        """The artifact ``sha256`` from the exchange, verified and recorded with this lineage."""
        from backends.storage import sync

        return asyncio.run(
            sync.receive_artifact(
                ws, self.store, self.models, sha256, emit,
                parent_id=parent_id, job_id=job_id, dataset_id=dataset_id,
            )
        )  # fmt: skip

    def put(self, ws: Workspace, artifacts: Sequence[ArtifactRecord], emit: Emit) -> None:
        """A worker's outputs into the exchange."""
        from backends.storage import sync

        async def each() -> None:
            async with self.store.connected():
                for artifact in artifacts:
                    await sync.push_artifact(ws, self.store, self.models, artifact, emit)

        asyncio.run(each())

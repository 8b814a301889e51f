"""``mllib.Workspace``: the catalog of datasets, models and results, and the work that fills it,
from Python. Each method is the engine call the CLI and the app make, with the same checks,
the same catalog jobs and the same errors (``MllibError``, one line that says what to do)."""

from __future__ import annotations

import asyncio
import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from backends.acquire.run import Acquire
from backends.bench.rows import BenchmarkRow, BenchmarkRun
from backends.bench.stage import BenchStep, Gates
from backends.boards.inventory import Board, Inventory, load_inventory
from backends.catalog import ArtifactRecord, DatasetRecord
from backends.convert.stage import ConvertStep
from backends.datasets.sources import Source
from backends.errors import BadInput
from backends.events import Emit
from backends.failures import DifferingImage, FailureImage
from backends.overlays import LabelledImage
from backends.pipeline import Pipeline, load_pipeline
from backends.serve.run import Serve
from backends.storage import target_of
from backends.train.stage import TrainConfig
from backends.workspace import Workspace as _Workspace
from mllib._progress import MllibWarning, call

ArtifactRef = ArtifactRecord | int | str  # a record, an id, or (for benchmark) a model file
PathLike = str | os.PathLike[str]


class Workspace:
    """A workspace directory: its catalog, artifacts and reports.

    ``devices`` is the boards file (default: ``devices.toml`` in the workspace);
    ``progress=False`` turns off the progress bar long calls draw in Jupyter (there is none
    elsewhere). Long calls can be stopped with Ctrl-C or the kernel's interrupt: the job is
    marked interrupted and what it finished is kept, as with the CLI.
    """

    def __init__(
        self,
        root: PathLike | None = None,
        *,
        devices: PathLike | None = None,
        progress: bool | None = None,
    ) -> None:
        self._ws = _Workspace.open(root)
        self.devices = Path(devices) if devices is not None else None
        self.progress = progress

    @property
    def root(self) -> Path:
        return self._ws.root

    def __repr__(self) -> str:
        return f"mllib.Workspace({str(self.root)!r})"

    # -- what the catalog holds ------------------------------------------------------------

    def datasets(self) -> list[DatasetRecord]:
        """Every dataset version, oldest first."""
        return self._ws.catalog.datasets()

    def dataset(self, ref: str | DatasetRecord) -> DatasetRecord:
        """A dataset version by ``NAME`` (its newest version) or ``NAME@VERSION``."""
        return ref if isinstance(ref, DatasetRecord) else self._ws.catalog.dataset(ref)

    def artifacts(self, kind: str | None = None) -> list[ArtifactRecord]:
        """Every artifact (``kind``: only ``model``, ``onnx``, ``tflite``...), oldest first."""
        return self._ws.catalog.artifacts(kind)

    def artifact(self, ref: ArtifactRecord | int) -> ArtifactRecord:
        """An artifact by id."""
        return ref if isinstance(ref, ArtifactRecord) else self._ws.catalog.artifact(int(ref))

    def runs(self) -> list[str]:
        """The benchmark runs' ids, oldest first."""
        return [run_id for run_id, _, _ in self._ws.catalog.runs()]

    def results(self, run: str = "latest") -> list[BenchmarkRow]:
        """The rows of benchmark run ``run`` (``latest``: the newest)."""
        runs = self.runs()
        run_id = runs[-1] if run == "latest" and runs else run
        rows = self._ws.catalog.results(run_id)
        if not rows:
            raise BadInput(f"no results for run {run!r}: the runs are {', '.join(runs) or 'none'}")
        return rows

    def boards(self) -> list[Board]:
        """The boards of the devices file, and ``local`` (this machine)."""
        return list(self._inventory().boards.values())

    # -- work -------------------------------------------------------------------------------

    def make_dataset(self, source: Source) -> DatasetRecord:
        """A dataset version from ``source`` (``mllib.Synth(...)``, ``mllib.Coco(...)``,
        ``mllib.FashionMnist(...)``, ``mllib.Folder(...)``); the same data gives the same
        version, already in the catalog."""
        return self._call(lambda emit: source.build(self._ws, emit))

    def acquire(self, settings: Acquire) -> DatasetRecord:
        """Frames from a board's camera (``mllib.Acquire(board=..., camera=..., frames=...)``)
        as an unlabelled dataset version; an interrupt keeps the frames that arrived, as a
        version marked partial, then raises."""
        from backends.acquire.run import acquire

        inventory = self._inventory()
        return self._call(lambda emit: asyncio.run(acquire(self._ws, inventory, settings, emit)))

    def serve(self, settings: Serve) -> dict[str, Any]:
        """A model live on a board's camera (``mllib.Serve(artifact=..., board=...,
        seconds=...)``) until ``seconds`` pass or the kernel is interrupted; the run's figures
        (frames/s, p50/p99 latencies, lost results)."""
        from backends.serve.run import serve

        inventory = self._inventory()
        return self._call(lambda emit: asyncio.run(serve(self._ws, inventory, settings, emit)))

    def train(
        self,
        dataset: str | DatasetRecord,
        config: TrainConfig | None = None,
        *,
        force: bool = False,
    ) -> ArtifactRecord:
        """A Keras model trained on ``dataset`` (``TrainConfig``: network, epochs, batch size,
        ...); the same dataset and settings give the model already trained unless ``force``."""
        from backends.train.loop import train

        data = self.dataset(dataset)
        trained = self._call(
            lambda emit: train(self._ws, data, config or TrainConfig(), emit, force=force)
        )
        return trained.keras

    def convert(
        self,
        model: ArtifactRecord | int,
        config: ConvertStep | None = None,
        *,
        bench: BenchStep | None = None,
        force: bool = False,
    ) -> list[ArtifactRecord]:
        """The model converted to each of ``config.targets`` (``"tflite:int8"``...), each
        checked against the Keras model by the fidelity gates: a conversion that misses its
        gate is returned too, marked (``meta["fidelity"]["passed"]``) and warned about
        (``MllibWarning``); an int8 that misses it is followed by its fp16 fallback (unless
        ``fallback = False``). ``bench`` is the protocol a precision ladder times its rungs
        with."""
        from backends.convert.stage import convert_all

        source = self.artifact(model)
        converted = self._call(
            lambda emit: convert_all(
                self._ws, source, config or ConvertStep(), bench or BenchStep(), emit, force=force
            )
        )
        return list(converted.artifacts)

    def benchmark(
        self,
        artifact: ArtifactRef,
        *,
        dataset: str | DatasetRecord | None = None,
        runtimes: Sequence[str] | None = None,
        boards: Sequence[str] | None = None,
        tag: str | None = None,
        config: BenchStep | None = None,
        gates: Gates | None = None,
        precision: str = "fp32",
    ) -> BenchmarkRun:
        """The benchmark protocol on ``artifact`` (a record, an id, or a ``.keras``/``.onnx``/
        ``.tflite`` file with ``dataset``): on this machine, or on ``boards`` / every board with
        ``tag``. The run is recorded and reported as the CLI's; its rows hold failures and gate
        misses rather than raising (``run.raise_for_outcome()`` raises them)."""
        from backends.bench.run import benchmark_run, measured_on

        ref = artifact.id if isinstance(artifact, ArtifactRecord) else artifact
        named = (
            dataset.name + "@" + dataset.version if isinstance(dataset, DatasetRecord) else dataset
        )
        record, data = measured_on(self._ws, str(ref), named, precision)
        inventory = self._inventory() if boards or tag else None
        return self._call(
            lambda emit: benchmark_run(
                self._ws,
                record,
                data,
                config or BenchStep(),
                gates or Gates(),
                emit,
                description=f"bench artifact {record.id} (Python)",
                runtimes=list(runtimes) if runtimes else None,
                boards=list(boards or []),
                tag=tag,
                inventory=inventory,
            )
        )

    def deploy(
        self,
        artifact: ArtifactRecord | int,
        boards: Sequence[str],
        *,
        slot: str | None = None,
        rollback: bool = False,
    ) -> dict[str, dict[str, Any]]:
        """Put ``artifact`` on each board (atomically: the previous model is kept as
        ``previous``), or ``rollback`` to the previous one; per board, what happened. A board
        that failed raises its error after the others have finished."""
        from backends.boards import fleet

        record = self.artifact(artifact)
        inventory = self._inventory()
        chosen = [inventory.get(name) for name in boards]

        def work(emit: Emit) -> dict[str, Any]:
            return asyncio.run(
                fleet.deploy(
                    self._ws, inventory, record, chosen, emit, slot=slot, rollback=rollback
                )
            )

        outcomes = self._call(work)
        for outcome in outcomes.values():
            if isinstance(outcome, BaseException):
                raise outcome
        return outcomes

    def run(
        self, pipeline: Pipeline | PathLike | None = None, *, force: bool = False
    ) -> BenchmarkRun | None:
        """A pipeline (``mllib.Pipeline(...)`` or a pipeline file; default: the demo loop
        dataset -> train -> convert -> bench) and its bench stage's run (None without one)."""
        from backends.pipeline import run

        chosen = (
            pipeline
            if isinstance(pipeline, Pipeline)
            else (load_pipeline(Path(pipeline)) if pipeline is not None else Pipeline())
        )
        return self._call(
            lambda emit: run(self._ws, chosen, emit, force=force, devices=self.devices)
        )

    def images(
        self, dataset: str | DatasetRecord, *, split: str = "val", count: int = 4
    ) -> list[LabelledImage]:
        """The first ``count`` images of a segmentation dataset's ``split`` with their masks,
        each shown inline in a notebook as image | mask (``.shares()``: each class's pixels)."""
        from backends.overlays import samples

        return samples(self._ws, self.dataset(dataset), split, count)

    def failures(
        self,
        artifact: ArtifactRecord | int,
        *,
        dataset: str | DatasetRecord | None = None,
        runtime: str | None = None,
        count: int = 4,
    ) -> list[FailureImage]:
        """The ``count`` validation images where a segmentation model scores the lowest IoU,
        worst first, each shown inline in a notebook as image | truth | prediction."""
        from backends.failures import lowest_iou

        record = self.artifact(artifact)
        data = self._dataset_of(record, dataset)
        return self._call(
            lambda emit: lowest_iou(self._ws, record, data, emit, runtime=runtime, count=count)
        )

    def differences(
        self,
        first: ArtifactRecord | int,
        second: ArtifactRecord | int,
        *,
        dataset: str | DatasetRecord | None = None,
        count: int = 4,
    ) -> list[DifferingImage]:
        """The ``count`` validation images where two models (say the fp32 and the int8
        conversion) disagree on the most pixels, most first, each shown as first's prediction
        | second's | the image with the differing pixels in white."""
        from backends.failures import most_different

        a, b = self.artifact(first), self.artifact(second)
        data = self._dataset_of(a, dataset)
        return self._call(
            lambda emit: most_different(self._ws, (a, None), (b, None), data, emit, count=count)
        )

    def _dataset_of(
        self, record: ArtifactRecord, dataset: str | DatasetRecord | None
    ) -> DatasetRecord:
        if dataset is not None:
            return self.dataset(dataset)
        if record.dataset_id is not None:
            return self._ws.catalog.dataset_by_id(record.dataset_id)
        raise BadInput(f"artifact {record.id} has no dataset: pass dataset=NAME")

    # -- object storage ---------------------------------------------------------------------

    def push(
        self,
        what: str | DatasetRecord | ArtifactRecord,
        *,
        creds: PathLike | None = None,
        entry: str | None = None,
        store: PathLike = "mllib-store",
        create_bucket: bool = False,
    ) -> int:
        """Upload a dataset version (``NAME[@VERSION]`` or its record) or an artifact to the
        store: the ``entry`` of the original mllib's ``creds.json``, else the local directory
        ``store``; ``create_bucket`` creates a missing bucket. Returns the files sent (what is
        there already is skipped)."""
        from backends.storage import sync

        chosen, targets = self._store(creds, entry, store, create_bucket)
        if isinstance(what, ArtifactRecord):
            model = target_of(targets, "model")
            return self._call(
                lambda emit: asyncio.run(sync.push_artifact(self._ws, chosen, model, what, emit))
            )
        record, target = self.dataset(what), target_of(targets, "dataset")
        return self._call(
            lambda emit: asyncio.run(sync.push_dataset(self._ws, chosen, target, record, emit))
        )

    def pull(
        self,
        ref: str,
        *,
        creds: PathLike | None = None,
        entry: str | None = None,
        store: PathLike = "mllib-store",
    ) -> DatasetRecord:
        """Download dataset version ``NAME[@VERSION]`` from the store (every file checked
        against its sha256) and record it in the catalog."""
        from backends.storage import sync

        chosen, targets = self._store(creds, entry, store)
        target = target_of(targets, "dataset")
        return self._call(
            lambda emit: asyncio.run(sync.pull_dataset(self._ws, chosen, target, ref, emit))
        )

    # -- plumbing ---------------------------------------------------------------------------

    def _call(self, work: Any) -> Any:
        return call(work, progress=self.progress)

    def _inventory(self) -> Inventory:
        return load_inventory(self.devices, self.root)

    def _store(
        self, creds: PathLike | None, entry: str | None, store: PathLike, create: bool = False
    ) -> Any:
        """The store and its sets; its warnings (an unverified TLS endpoint, a creds file
        others can read) are Python warnings, shown on every call as the CLI shows them."""
        from backends.storage import configure

        chosen, targets, said = configure(
            creds=Path(creds) if creds is not None else None,
            entry=entry,
            local=Path(store),
            create_buckets=create,
        )
        for warning in said:
            warnings.warn(warning, MllibWarning, stacklevel=3)
        return chosen, targets

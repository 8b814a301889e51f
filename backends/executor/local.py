"""The executor interface the stages call, and the default: the work in this process, one unit
after another, exactly as the engine's functions do it (no Ray anywhere)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

from backends.catalog import ArtifactRecord, DatasetRecord
from backends.events import Emit
from backends.formats import Format, Precision
from backends.workspace import Workspace

if TYPE_CHECKING:
    from backends.bench.rows import BenchmarkRow
    from backends.bench.stage import BenchStep
    from backends.convert.job import Conversion
    from backends.convert.stage import ConvertStep
    from backends.train.jobs import TrainedModel
    from backends.train.stage import TrainConfig

Climbed = tuple[ArtifactRecord | None, list[dict[str, Any]]]  # the kept rung, every rung's summary


class Executor(Protocol):
    """Where the units of a pipeline run. Each method takes units that do not depend on one
    another (an executor may run them at once) and returns their results in their order."""

    def train(
        self,
        ws: Workspace,
        dataset: DatasetRecord,
        configs: Sequence[TrainConfig],
        emit: Emit,
        *,
        force: bool = False,
    ) -> list[TrainedModel]: ...

    def convert(
        self,
        ws: Workspace,
        model: ArtifactRecord,
        targets: Sequence[tuple[Format, Precision]],
        step: ConvertStep,
        emit: Emit,
        *,
        force: bool = False,
    ) -> list[Conversion]: ...

    def climb(
        self,
        ws: Workspace,
        model: ArtifactRecord,
        formats: Sequence[Format],
        step: ConvertStep,
        bench: BenchStep,
        emit: Emit,
        *,
        force: bool = False,
    ) -> list[Climbed]: ...

    def bench(
        self,
        ws: Workspace,
        artifacts: Sequence[ArtifactRecord],
        dataset: DatasetRecord,
        step: BenchStep,
        emit: Emit,
    ) -> list[BenchmarkRow]: ...

    def close(self) -> None: ...


class LocalExecutor:
    """Each unit in this process, in order."""

    def __init__(self) -> None:
        self._references: dict[int, Any] = {}  # model artifact id -> its TensorFlow model

    def _reference(self, ws: Workspace, model: ArtifactRecord) -> Any:
        """The Keras model conversions are checked against, loaded once for all of them."""
        from backends.runtimes import load

        if model.id not in self._references:
            self._references[model.id] = load("tensorflow", ws.verify(model))
        return self._references[model.id]

    def train(
        self,
        ws: Workspace,
        dataset: DatasetRecord,
        configs: Sequence[TrainConfig],
        emit: Emit,
        *,
        force: bool = False,
    ) -> list[TrainedModel]:
        from backends.train.loop import train

        return [train(ws, dataset, config, emit, force=force) for config in configs]

    def convert(
        self,
        ws: Workspace,
        model: ArtifactRecord,
        targets: Sequence[tuple[Format, Precision]],
        step: ConvertStep,
        emit: Emit,
        *,
        force: bool = False,
    ) -> list[Conversion]:
        from backends.convert.job import convert

        reference = self._reference(ws, model)
        return [
            convert(ws, model, fmt, precision, step, emit, reference=reference, force=force)
            for fmt, precision in targets
        ]

    def climb(
        self,
        ws: Workspace,
        model: ArtifactRecord,
        formats: Sequence[Format],
        step: ConvertStep,
        bench: BenchStep,
        emit: Emit,
        *,
        force: bool = False,
    ) -> list[Climbed]:
        from backends.convert.ladder import climb

        reference = self._reference(ws, model)
        return [
            climb(ws, model, fmt, step, bench, emit, reference=reference, force=force)
            for fmt in formats
        ]

    def bench(
        self,
        ws: Workspace,
        artifacts: Sequence[ArtifactRecord],
        dataset: DatasetRecord,
        step: BenchStep,
        emit: Emit,
    ) -> list[BenchmarkRow]:
        from backends.bench.run import benchmark

        return [row for a in artifacts for row in benchmark(ws, a, dataset, step, emit)]

    def close(self) -> None:
        self._references.clear()

"""Pipelines: the stages a pipeline file names, run in dependency order.

The stages are a registry (``STAGE_MODULES``: one module each, each declaring its section,
what it consumes and produces, and how it runs); the pipeline file's parser is built from it.
A file that names no stage of its own (or no file) runs the default loop, dataset -> train ->
convert -> bench; a stage off the default loop (``[engines]``) runs when its section is there;
``stages = [...]`` at the top level runs exactly those. ``[executor]`` says where the work runs
(here, or as tasks on Ray) and ``[sweep]`` trains a grid of ``[train]`` variants.

Stages are resumable: a dataset with the same content is not rebuilt, a finished training or
conversion with the same key is reused (``force`` redoes them), and an interrupted training
resumes from its last checkpoint.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import MISSING, asdict
from pathlib import Path
from typing import Any

from backends.bench.rows import BenchmarkRun
from backends.bench.stage import Gates
from backends.config import parse, read_toml
from backends.errors import BadInput, Cancelled, MllibError, StageFailed, read_input
from backends.events import Emit, Error, StageFinished, StageStarted
from backends.executor import open_executor
from backends.executor.config import ExecutorConfig
from backends.stage import Context, Stage
from backends.sweep import Sweep, parse_sweep
from backends.workspace import Workspace

STAGE_MODULES = (  # the loop, in its order
    "backends.acquire.stage",
    "backends.datasets.stage",
    "backends.train.stage",
    "backends.convert.stage",
    "backends.tensorrt.stage",
    "backends.bench.stage",
)
STAGES: dict[str, Stage] = {
    stage.name: stage
    for stage in (importlib.import_module(module).STAGE for module in STAGE_MODULES)
}


class Pipeline:
    """Which stages run, in order, each with its config; the gates of the run; where its work
    runs (``executor``); and the training settings it sweeps, if any."""

    def __init__(
        self,
        *,
        stages: Sequence[str] | None = None,
        gates: Gates | None = None,
        executor: ExecutorConfig | None = None,
        sweep: Sweep | None = None,
        **configs: Any,
    ) -> None:
        unknown = sorted(set(configs) - set(STAGES))
        if unknown:
            raise BadInput(f"no stage {unknown[0]!r} (stages: {', '.join(STAGES)})")
        if stages is None:
            stages = [n for n, s in STAGES.items() if s.default or n in configs]
        self.stages = _ordered(stages)
        self.configs = configs
        self.gates = gates or Gates()
        self.executor = executor or ExecutorConfig()
        self.sweep = sweep

    def variants(self) -> list[tuple[str | None, Any]]:
        """(label, train config) of each model the run trains: one, unlabelled, without a
        sweep; one per point of the sweep's grid with one."""
        base = self.config("train")
        return [(None, base)] if self.sweep is None else list(self.sweep.variants(base))

    def config(self, name: str) -> Any:
        """A stage's config: the pipeline's, else the stage's defaults."""
        return self.configs.get(name) or STAGES[name].config()

    def __getattr__(self, name: str) -> Any:
        if name in STAGES:  # pipeline.train, pipeline.bench...
            return self.config(name)
        raise AttributeError(name)

    def to_json(self) -> dict[str, Any]:
        return {
            "stages": list(self.stages),
            **{name: asdict(self.config(name)) for name in self.stages},
            "gates": asdict(self.gates),
            "executor": asdict(self.executor),
            **({"sweep": self.sweep.to_json()} if self.sweep else {}),
        }


def _ordered(names: Sequence[str]) -> tuple[str, ...]:
    """The stages in the registry's order, each after what it consumes."""
    for name in names:
        if name not in STAGES:
            raise BadInput(f"stages: no stage {name!r} (stages: {', '.join(STAGES)})")
    chosen = [n for n in STAGES if n in names]
    made: set[str] = set()
    for name in chosen:
        missing = [c for c in STAGES[name].consumes if c not in made]
        if missing:
            makers = [n for n, s in STAGES.items() if missing[0] in s.produces]
            raise BadInput(
                f"stage {name!r} needs {missing[0]!r}, which no stage before it makes: add "
                f"{' or '.join(map(repr, makers))} to stages"
            )
        made |= set(STAGES[name].produces)
    return tuple(chosen)


def load_pipeline(path: Path) -> Pipeline:
    return parse_pipeline(read_input(path, "pipeline file"), str(path))


def parse_pipeline(raw: bytes, source: str) -> Pipeline:
    """A pipeline file's bytes (named ``source`` in messages): one section per stage, built by
    the stage's own config, plus ``[gates]`` and an optional top-level ``stages`` list."""
    data = read_toml(raw, source)
    allowed = [*STAGES, "gates", "executor", "sweep", "stages"]
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        raise BadInput(
            f"{source}: unknown key '{unknown[0]}' (allowed in the top level: {', '.join(allowed)})"
        )
    stages = data.get("stages")
    if stages is not None and (
        not isinstance(stages, list) or not all(isinstance(s, str) for s in stages)
    ):
        raise BadInput(f"{source}: stages must be a list of stage names, got {stages!r}")
    configs = {name: _section(STAGES[name], data[name], source) for name in STAGES if name in data}
    gates = parse(Gates, data["gates"], source, "gates.") if "gates" in data else None
    executor = (
        parse(ExecutorConfig, data["executor"], source, "executor.") if "executor" in data else None
    )
    sweep = parse_sweep(data["sweep"], source) if "sweep" in data else None
    try:
        return Pipeline(stages=stages, gates=gates, executor=executor, sweep=sweep, **configs)
    except BadInput as exc:
        raise BadInput(f"{source}: {exc}") from None


def _section(stage: Stage, data: Any, source: str) -> Any:
    if stage.choices is None:
        return parse(stage.config, data, source, f"{stage.name}.")
    if not isinstance(data, dict):
        raise BadInput(f"{source}: {stage.name} must be a table")
    default = stage.config.__dataclass_fields__["source"].default
    choice = data.get("source", default)
    if not isinstance(choice, str) or choice not in stage.choices:
        raise BadInput(
            f"{source}: {stage.name}.source must be one of "
            f"{', '.join(map(repr, stage.choices))}, got {choice!r}"
        )
    chosen = stage.choices[choice]
    own = set(chosen.__dataclass_fields__)
    for key in sorted(set(data) - own):  # another source's setting: say so, after its checks
        owners = [name for name, cls in stage.choices.items() if key in cls.__dataclass_fields__]
        if owners:
            owner = stage.choices[owners[0]]
            parse(owner, {key: data[key], "source": owners[0], **_required(owner)}, source,
                  f"{stage.name}.")  # fmt: skip
            raise BadInput(
                f"{source}: {stage.name}.{key} is a setting of source "
                f"{' or '.join(map(repr, owners))}, not {choice!r}"
            )
    return parse(chosen, data, source, f"{stage.name}.")


def _required(cls: type) -> dict[str, Any]:
    """Placeholders for a config's required fields (to check one other field alone)."""
    return {
        name: ""
        for name, spec in cls.__dataclass_fields__.items()
        if spec.default is MISSING and spec.default_factory is MISSING
    }


def run(
    ws: Workspace,
    pipeline: Pipeline,
    emit: Emit,
    *,
    force: bool = False,
    junit: Path | None = None,
    devices: Path | None = None,
) -> BenchmarkRun | None:
    """Run the pipeline's stages; the bench stage's run is returned (None without one). Gate
    misses and failed rows are in it (``raise_for_outcome``), so a caller can show the table
    before failing."""
    from backends.bench.run import baseline_run, new_run_id

    run_id = new_run_id()
    baseline = baseline_run(ws, pipeline.gates.baseline, run_id)  # a wrong name costs no work
    executor = open_executor(pipeline.executor, ws, emit)
    ctx = Context(
        ws, emit, pipeline, run_id, force=force, junit=junit, devices=devices, baseline=baseline,
        executor=executor,
    )  # fmt: skip
    try:
        for name in pipeline.stages:
            stage = STAGES[name]
            with _stage(emit, name, stage.title) as done:
                produced, detail = stage.run(ctx, pipeline.config(name))
                ctx.outputs.update(produced)
                done(detail)
    finally:
        executor.close()
    return ctx.outputs.get("run")


@contextmanager
def _stage(emit: Emit, stage: str, title: str) -> Iterator[Callable[[str], None]]:
    """StageStarted/StageFinished around a block; unexpected errors become ``StageFailed``."""
    start = time.monotonic()
    detail = [""]
    emit(StageStarted(stage=stage, title=title))
    try:
        yield lambda text: detail.__setitem__(0, text)
    except (KeyboardInterrupt, Cancelled):
        emit(StageFinished(stage=stage, status="interrupted", seconds=time.monotonic() - start))
        raise
    except MllibError as exc:
        emit(Error(stage=stage, message=str(exc), error_type=type(exc).__name__))
        emit(StageFinished(stage=stage, status="failed", seconds=time.monotonic() - start))
        raise
    except Exception as exc:
        message = f"{title} failed: {type(exc).__name__}: {exc}"
        emit(Error(stage=stage, message=message, error_type=type(exc).__name__))
        emit(StageFinished(stage=stage, status="failed", seconds=time.monotonic() - start))
        raise StageFailed(message) from exc
    emit(
        StageFinished(
            stage=stage, status="done", seconds=time.monotonic() - start, detail=detail[0]
        )
    )

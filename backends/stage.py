"""What a stage is: one module declares its pipeline-file section (a typed, validated config),
what it consumes from the stages before it and produces for the ones after, and how it runs.
``backends/pipeline.py`` lists the stage modules and runs the ones a pipeline names, in
dependency order; a new stage is a module with a ``STAGE`` and a line in that list."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from backends.events import Emit
from backends.executor.local import Executor, LocalExecutor
from backends.workspace import Workspace


@dataclass
class Context:
    """What a running stage sees: the workspace, the event stream, the run's settings, and the
    outputs of the stages before it (``dataset``, ``model``, ``conversions``...)."""

    ws: Workspace
    emit: Emit
    pipeline: Any  # backends.pipeline.Pipeline
    run_id: str
    force: bool = False
    junit: Path | None = None
    devices: Path | None = None
    baseline: Any = None  # backends.bench.run.Baseline: the stored run the gates compare with
    executor: Executor = field(default_factory=LocalExecutor)  # where trainings, conversions
    # and workstation benchmark rows run
    outputs: dict[str, Any] = field(default_factory=dict)


Run = Callable[[Context, Any], tuple[Mapping[str, Any], str]]  # -> (outputs, one-line detail)


@dataclass(frozen=True)
class Stage:
    name: str  # also its section in a pipeline file
    title: str
    config: type  # the section's config, a frozen dataclass; its defaults are the default
    run: Run
    consumes: tuple[str, ...] = ()  # outputs it needs from earlier stages
    uses: tuple[str, ...] = ()  # outputs it takes when an earlier stage produced them
    produces: tuple[str, ...] = ()
    default: bool = True  # part of the loop a pipeline runs when it names no stages
    choices: Mapping[str, type] | None = None  # one config per value of its ``source`` key

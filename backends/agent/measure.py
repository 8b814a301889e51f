"""What the agent measures: the benchmark protocol on shards (``bench``), and the board itself
over time (``monitor``, a long command that streams until it is stopped)."""

from __future__ import annotations

import json
import time
from pathlib import Path

from backends import events as ev
from backends.agent.request import Request, emit


def bench(request: Request) -> int:
    """One runtime on one split with the protocol the request carries (the workstation's
    ``Protocol`` fields), exactly as a local row is measured."""
    from backends.bench.protocol import Protocol, measure
    from backends.datasets.shards import Split
    from backends.machine import manifest as machine
    from backends.runtimes import load

    start = time.monotonic()
    runtime_name, split_path = request.text("runtime"), Path(request.text("split"))
    manifest = json.loads(split_path.read_text())
    split = Split(split_path.parent, tuple(manifest["shards"]))
    emit(ev.StageStarted(stage="bench", title=f"{runtime_name} on {split.size} images"))
    runtime = load(
        runtime_name,
        Path(request.text("model")),
        threads=int(request.number("threads", 0)),
        **request.table("options", {}),
    )
    protocol = Protocol(**request.table("protocol"))
    progress = ev.ProgressReporter(emit, "bench", split.size, "images")
    row = {
        "runtime_version": runtime.version,
        "threads": runtime.threads,
        "options": runtime.options,
        "machine": machine(),
        **measure(
            runtime,
            split,
            protocol,
            classes=manifest["classes"],
            ignore=manifest["ignore"],
            task=manifest.get("task") or "segmentation",
            on_images=progress.advance,
        ),
        "agent_cpu_seconds": time.process_time(),  # the board's CPU spent, imports included
    }
    emit(ev.Result(stage="bench", name=runtime_name, data=row))
    emit(ev.StageFinished(stage="bench", status="done", seconds=time.monotonic() - start))
    return 0


def monitor(request: Request) -> int:
    """Temperature, memory and load every ``interval`` seconds until stopped (stdin closed, the
    connection dropped, a signal) or ``seconds`` passed: a board's state under a long run."""
    from backends.agent.probe import load_average, memory_state, temperature

    interval = max(0.05, float(request.number("interval", 1.0)))
    stop = request.stop()
    start = time.monotonic()
    emit(ev.StageStarted(stage="monitor", title=f"every {interval:g} s"))
    samples = 0
    while True:
        values = {"temperature_c": temperature(), "load_1m": load_average(), **memory_state()}
        for name, value in values.items():
            if value is not None:
                emit(ev.Metric(stage="monitor", name=name, value=float(value), step=samples))
        samples += 1
        if stop.wait(interval):
            break
    emit(
        ev.StageFinished(
            stage="monitor",
            status="done",
            seconds=time.monotonic() - start,
            detail=f"{samples} samples; {stop.reason}",
        )
    )
    return 0

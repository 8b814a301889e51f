"""The Ray executor: each training, each conversion (or precision ladder) and each workstation
benchmark row is a Ray task with its resources; the units a stage hands over together run at
once, as far as the cluster's CPUs and GPUs allow.

A task's inputs go into the exchange first; its outputs come back as blobs that this
workstation verifies by sha256 and records with their lineage and jobs, as a local run records
them (the worker never writes this catalog). A training or conversion is a catalog job here
from the moment it is handed to Ray: ``running`` while Ray runs it (and reruns it, up to
``retries`` times, when its worker dies), then ``done``, ``failed`` with its reason, or
``interrupted`` when this run stops — never left running. Work whose job is finished here
already (same key) is reused, not sent.

Progress streams back while tasks run: workers send their events to a relay actor in batches,
and this side forwards them with the catalog job and the worker (``host:pid``) they belong to.
"""

from __future__ import annotations

import dataclasses
import faulthandler
import logging
import os
import socket
import sys
import tempfile
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from backends import errors
from backends.bench.local import row_header
from backends.bench.rows import BenchmarkRow
from backends.bench.run import runtimes_here
from backends.bench.stage import BenchStep
from backends.catalog import ArtifactRecord, DatasetRecord
from backends.convert.job import Conversion, cached, conversion_key, conversion_params
from backends.convert.stage import ConvertStep
from backends.errors import BadInput, MllibError
from backends.events import ArtifactWritten, Emit, Log, Result, decode
from backends.executor.config import ExecutorConfig
from backends.executor.exchange import Exchange
from backends.executor.local import Climbed
from backends.executor.units import Unit, run_unit
from backends.formats import Format, Precision
from backends.names import check_sha256
from backends.train import jobs
from backends.train.jobs import TrainedModel
from backends.train.stage import TrainConfig
from backends.workspace import Workspace

POLL = 0.1  # seconds between looks at the tasks and the relay
CONNECT = 5.0  # seconds to reach the cluster before saying it cannot be reached


class Relay:
    """An actor holding the event batches workers send until the workstation takes them."""

    def __init__(self) -> None:
        self._batches: list[tuple[int, str, list[str]]] = []

    def put(self, unit: int, worker: str, lines: list[str]) -> None:
        self._batches.append((unit, worker, lines))

    def drain(self) -> list[tuple[int, str, list[str]]]:
        batches, self._batches = self._batches, []
        return batches


@dataclass
class _Task:
    unit: Unit
    inputs: list[ArtifactRecord]  # what it needs here, parents first
    options: dict[str, float]  # Ray resources: num_cpus, num_gpus
    job: tuple[str, str, dict[str, Any]] | None = None  # kind, key, params of its job here
    job_id: int | None = None
    workers: list[str] = field(default_factory=list)  # one per attempt Ray made
    done: bool = False


@dataclass(frozen=True)
class _Made:
    """What a task made, recorded here: its value, and the artifacts by the worker's ids."""

    value: dict[str, Any]
    artifacts: dict[int, ArtifactRecord]
    error: MllibError | None = None


class RayExecutor:
    def __init__(self, config: ExecutorConfig, ws: Workspace, emit: Emit) -> None:
        try:
            import ray
        except ImportError:
            raise BadInput(
                'executor kind "ray" needs Ray on this workstation: pip install "mllib[ray]" '
                "(scripts/install --ray)"
            ) from None
        self._ray, self.config = ray, config
        self.exchange = Exchange.for_workstation(config, ws)
        _check_reachable(config.address)  # ray.init waits many minutes on a dead address
        if not faulthandler.is_enabled() and sys.__stderr__ is not None:
            # ray.init enables it on sys.stderr, which the app (Textual) has replaced with a
            # capture that has no file: on the process's own stderr instead, Ray leaves it be
            faulthandler.enable(file=sys.__stderr__, all_threads=False)
        try:
            ray.init(
                address=config.address, logging_level=logging.ERROR, log_to_driver=False,
                configure_logging=True,
            )  # fmt: skip
        except Exception as exc:  # ConnectionError, RuntimeError, an authentication error...
            reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
            raise BadInput(
                f"cannot reach the Ray cluster at {config.address} ({reason}): start one with "
                "`ray start --head`, or name yours in [executor] address or --ray-address"
            ) from None
        self._said: deque[str] = deque()  # what Ray's driver would have printed
        self._restore = _route_ray_prints(self._said)
        resources = ray.cluster_resources()
        emit(
            Log(
                stage="executor",
                level="info",
                message=f"ray cluster at {config.address}: {len(ray.nodes())} nodes, "
                f"{resources.get('CPU', 0):g} CPUs, {resources.get('GPU', 0):g} GPUs; "
                f"exchange {self.exchange.store.label}",
            )
        )
        self._relay = ray.remote(num_cpus=0)(Relay).remote()
        self._run_unit = ray.remote(run_unit)
        self._tasks: dict[int, _Task] = {}  # by unit number, for the relay's batches

    # -- the executor interface -------------------------------------------------------------

    def train(
        self,
        ws: Workspace,
        dataset: DatasetRecord,
        configs: Sequence[TrainConfig],
        emit: Emit,
        *,
        force: bool = False,
    ) -> list[TrainedModel]:
        found: dict[int, TrainedModel] = {}
        tasks: dict[int, _Task] = {}
        for i, config in enumerate(configs):
            key = jobs.train_key(dataset, config)
            if not force and (reused := jobs.cached(ws, key)) is not None:
                found[i] = reused
                continue
            label = f"train {_settings(config, configs)}".strip()
            tasks[i] = self._task(
                "train", label, dataset, [], {"config": config},
                {"num_cpus": self.config.cpus, "num_gpus": self.config.gpus},
                job=("train", key, jobs.train_params(dataset, config)),
            )  # fmt: skip
        for i, made in zip(tasks, self._run(ws, dataset, list(tasks.values()), emit), strict=True):
            keras = made.artifacts[made.value["keras"]]
            model_id = ws.catalog.add_model(
                name=f"{keras.meta['network']}-{dataset.name}",
                network=keras.meta["network"],
                dataset_id=dataset.id,
                artifact_id=keras.id,
                config=dataclasses.asdict(configs[i]),
            )
            found[i] = TrainedModel(
                model_id, keras, made.artifacts[made.value["savedmodel"]], 0, cached=False
            )
        return [found[i] for i in range(len(configs))]

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
        dataset = _dataset_of(ws, model)
        found: dict[int, Conversion] = {}
        tasks: dict[int, _Task] = {}
        for i, (fmt, precision) in enumerate(targets):
            source, key = conversion_key(ws, model, fmt, precision, step)
            if not force and (reused := cached(ws, key)) is not None:
                found[i] = reused
                continue
            tasks[i] = self._task(
                "convert", f"{fmt.name} {precision}", dataset,
                list(reversed(ws.catalog.lineage(source.id))),
                {"target": f"{fmt.name}:{precision}", "step": step},
                {"num_cpus": self.config.cpus},
                job=("convert", key, conversion_params(model, fmt, precision, step)),
            )  # fmt: skip
        for i, made in zip(tasks, self._run(ws, dataset, list(tasks.values()), emit), strict=True):
            artifact = made.artifacts[made.value["artifact"]]
            found[i] = Conversion(artifact, artifact.meta["fidelity"], cached=False)
        return [found[i] for i in range(len(targets))]

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
        """Each ladder in one task: its rungs are timed against each other on one machine."""
        dataset = _dataset_of(ws, model)
        inputs = [model, *ws.catalog.children(model.id, "savedmodel")[:1]]
        tasks = [
            self._task(
                "climb",
                f"ladder {fmt.name}",
                dataset,
                inputs,
                {"format": fmt.name, "step": step, "bench": bench},
                {"num_cpus": max(self.config.cpus, bench.threads)},
            )
            for fmt in formats
        ]
        out: list[Climbed] = []
        for made in self._run(ws, dataset, tasks, emit):
            kept = made.value["kept"]
            rungs = [
                {**rung, "artifact": made.artifacts[rung["artifact"]].id}
                for rung in made.value["rungs"]
            ]
            out.append((made.artifacts[kept] if kept is not None else None, rungs))
        return out

    def bench(
        self,
        ws: Workspace,
        artifacts: Sequence[ArtifactRecord],
        dataset: DatasetRecord,
        step: BenchStep,
        emit: Emit,
    ) -> list[BenchmarkRow]:
        """One task per row, each with the CPUs its runtime's threads use (rows timed side by
        side on one machine would slow each other)."""
        planned = [(a, r) for a in artifacts for r in runtimes_here(Format.of(a), emit)]
        tasks = [
            self._task(
                "bench",
                f"{runtime} {a.meta.get('precision', 'fp32')}",
                dataset,
                [a],
                {"runtime": runtime, "step": step},
                {"num_cpus": max(self.config.cpus, step.threads)},
            )
            for a, runtime in planned
        ]
        rows = []
        for (artifact, runtime), made in zip(
            planned, self._run(ws, dataset, tasks, emit, fail=False), strict=True
        ):
            if made.error is not None:
                row = row_header(artifact, runtime, {}).failed("failed", str(made.error))
            else:
                measured = BenchmarkRow.from_json(made.value["row"])
                row = dataclasses.replace(measured, artifact=artifact.id)
            emit(Result(stage="bench", name=row.name, data=row.to_json()))
            rows.append(row)
        return rows

    def close(self) -> None:
        self._ray.shutdown()
        self._restore()

    # -- tasks ------------------------------------------------------------------------------

    def _task(
        self,
        kind: Any,
        label: str,
        dataset: DatasetRecord,
        inputs: list[ArtifactRecord],
        settings: dict[str, Any],
        options: dict[str, float],
        job: tuple[str, str, dict[str, Any]] | None = None,
    ) -> _Task:
        parents = {a.id: a.sha256 for a in inputs}
        unit = Unit(
            kind=kind,
            label=label,
            where=self.exchange.where,
            dataset=f"{dataset.name}@{dataset.version}",
            inputs=tuple((a.sha256, parents.get(a.parent_id or -1)) for a in inputs),
            settings=settings,
        )
        return _Task(unit, inputs, options, job)

    def _run(
        self,
        ws: Workspace,
        dataset: DatasetRecord,
        tasks: list[_Task],
        emit: Emit,
        *,
        fail: bool = True,
    ) -> list[_Made]:
        """Run ``tasks`` at once; what each made, in their order. With ``fail``, the first
        error is raised once every task has ended (the others' work is recorded first)."""
        if not tasks:
            return []
        ray = self._ray
        inputs = {a.sha256: a for t in tasks for a in t.inputs}
        self.exchange.send(ws, dataset, list(inputs.values()), emit)
        refs: dict[Any, int] = {}
        try:
            for task in tasks:
                number = len(self._tasks)
                self._tasks[number] = task
                if task.job is not None:
                    task.job_id = ws.catalog.start_job(*task.job)
                ref = self._run_unit.options(
                    **task.options, max_retries=self.config.retries, retry_exceptions=False,
                    name=task.unit.label,
                ).remote(task.unit, self._relay, number)  # fmt: skip
                refs[ref] = number
            made: dict[int, _Made] = {}
            pending = list(refs)
            while pending:
                ready, pending = ray.wait(pending, num_returns=len(pending), timeout=POLL)
                self._forward(emit)
                for ref in ready:
                    made[refs[ref]] = self._finish(ws, dataset, self._tasks[refs[ref]], ref, emit)
        except BaseException as exc:  # Ctrl-C, the app's cancel, an error recording a result
            for ref in refs:
                ray.cancel(ref, force=True)
            for task in tasks:
                if task.job_id is not None and not task.done:
                    state = "failed" if isinstance(exc, Exception) else "interrupted"
                    ws.catalog.finish_job(task.job_id, state, str(exc) or type(exc).__name__)
            raise
        results = [made[refs_number] for refs_number in sorted(made)]
        errors_seen = [m.error for m in results if m.error is not None]
        if fail and errors_seen:
            raise errors_seen[0]
        return results

    def _forward(self, emit: Emit) -> None:
        """The events the relay holds, with the job and the worker they belong to; a task
        heard from a second worker was rerun by Ray after its first worker died: said so.
        What Ray itself reported (a worker that died) comes as a warning."""
        while self._said:
            said = " ".join(self._said.popleft().split())[:300]
            emit(Log(stage="executor", level="warning", message=f"ray: {said}"))
        for number, worker, lines in self._ray.get(self._relay.drain.remote()):
            task = self._tasks.get(number)
            if task is None:
                continue
            if worker not in task.workers:
                if task.workers:
                    emit(
                        Log(
                            stage=task.unit.kind,
                            level="warning",
                            message=f"{task.unit.label}: its worker {task.workers[-1]} stopped; "
                            f"Ray runs it again on {worker}",
                            job_id=task.job_id,
                            worker=worker,
                        )
                    )
                task.workers.append(worker)
            for line in lines:
                try:
                    event = decode(line)
                    emit(dataclasses.replace(event, job_id=task.job_id, worker=worker))
                except (ValueError, TypeError):
                    continue  # not an event of ours: dropped, never a crash

    def _finish(
        self, ws: Workspace, dataset: DatasetRecord, task: _Task, ref: Any, emit: Emit
    ) -> _Made:
        """Record a task that ended (its outputs, or its failure) and finish its job."""
        try:
            outcome = self._ray.get(ref)
        except self._ray.exceptions.RayError as exc:  # its worker died more than Ray retries
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
            outcome = {
                "error": f"{task.unit.label}: Ray gave up after {len(task.workers) or 1} "
                f"attempt(s) ({type(exc).__name__}: {first})",
                "error_type": "StageFailed",
            }
        try:
            if "error" in outcome:
                error_type = getattr(errors, str(outcome.get("error_type")), errors.StageFailed)
                if not (isinstance(error_type, type) and issubclass(error_type, MllibError)):
                    error_type = errors.StageFailed
                raise error_type(str(outcome["error"]))
            made = self._record(ws, dataset, task, outcome, emit)
        except MllibError as exc:
            made = _Made({}, {}, exc)
        task.done = True
        if task.job_id is not None:
            state, reason = ("done", None) if made.error is None else ("failed", str(made.error))
            ws.catalog.finish_job(task.job_id, state, reason)
        return made

    def _record(
        self, ws: Workspace, dataset: DatasetRecord, task: _Task, outcome: Any, emit: Emit
    ) -> _Made:
        """What the worker made, fetched from the exchange (each blob verified) and recorded
        here with its lineage: the worker's ids mapped to this catalog's."""
        try:
            by_sha = {a.sha256: a for a in task.inputs}
            ids = {int(k): by_sha[v] for k, v in outcome["inputs"].items()}
            job_ids: dict[int, int | None] = {}
            for job in outcome["jobs"]:
                if task.job is not None and (job["kind"], job["key"]) == task.job[:2]:
                    job_ids[job["id"]] = task.job_id
                    continue
                params = dict(job["params"])
                if params.get("model") in ids:  # a ladder's conversions name their model
                    params["model"] = ids[params["model"]].id
                job_id = ws.catalog.start_job(str(job["kind"]), str(job["key"]), params)
                ws.catalog.finish_job(job_id, str(job["state"]), job["error"])
                job_ids[job["id"]] = job_id
            for made in outcome["artifacts"]:
                sha = check_sha256(made["sha256"], f"{task.unit.label}: an artifact's sha256")
                parent = ids.get(made["parent"])
                record = self.exchange.fetch(
                    ws, sha, emit, parent_id=parent.id if parent else None,
                    job_id=job_ids.get(made["job"]), dataset_id=dataset.id,
                )  # fmt: skip
                ids[int(made["id"])] = record
                emit(
                    ArtifactWritten(
                        stage=task.unit.kind, artifact_id=record.id, kind=record.kind,
                        path=record.path, sha256=record.sha256, size=record.size,
                        parent_id=record.parent_id, job_id=record.job_id,
                        worker=outcome["worker"],
                    )
                )  # fmt: skip
            return _Made(dict(outcome["value"]), ids)
        except (KeyError, TypeError, ValueError) as exc:
            raise BadInput(
                f"{task.unit.label}: the worker's answer is not what mllib's workers send "
                f"({type(exc).__name__}: {exc}); is every node running this mllib version?"
            ) from None


def _check_reachable(address: str) -> None:
    """A TCP connection to the cluster's GCS (or Ray Client) port within a few seconds, else
    one line. ``auto`` is what Ray resolves it to: $RAY_ADDRESS, else the cluster ``ray start``
    recorded on this machine (with neither, ``ray.init`` says so at once)."""
    if address == "auto":
        recorded = Path(tempfile.gettempdir()) / "ray" / "ray_current_cluster"
        address = os.environ.get("RAY_ADDRESS") or (
            recorded.read_text().strip() if recorded.is_file() else ""
        )
        if not address:
            return
    host, _, port = address.removeprefix("ray://").rpartition(":")
    try:
        with socket.create_connection((host or "127.0.0.1", int(port)), timeout=CONNECT):
            pass
    except (OSError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise BadInput(
            f"cannot reach the Ray cluster at {address} ({reason}): start one with "
            "`ray start --head`, or name yours in [executor] address or --ray-address "
            "(HOST:PORT of its GCS, or ray://HOST:10001)"
        ) from None


def _route_ray_prints(into: deque[str]) -> Callable[[], None]:
    """Ray's driver prints what the raylet reports ("A worker died...") on stdout, which is
    the JSON-lines stream of ``run --json``: it goes into ``into`` instead, for the event
    stream. ``ray._private`` is not Ray's public API: where it differs, Ray prints as before.
    Returns what puts Ray's printer back."""
    try:
        from ray._private import worker
    except ImportError:
        return lambda: None
    original = getattr(worker, "print_to_stdstream", None)
    if original is None:
        return lambda: None

    def keep(data: dict[str, Any], ignore_prefix: bool = False) -> None:
        into.extend(str(line) for line in data.get("lines", []))

    worker.print_to_stdstream = keep
    return lambda: setattr(worker, "print_to_stdstream", original)


def _settings(config: TrainConfig, configs: Sequence[TrainConfig]) -> str:
    """The settings that tell ``config`` from the others (a sweep's), as ``width=0.25``."""
    differ = [
        f.name
        for f in dataclasses.fields(TrainConfig)
        if len({getattr(c, f.name) for c in configs}) > 1
    ]
    return " ".join(f"{name}={getattr(config, name)}" for name in differ)


def _dataset_of(ws: Workspace, model: ArtifactRecord) -> DatasetRecord:
    if model.dataset_id is None:
        raise BadInput(f"model artifact {model.id} has no dataset to check fidelity against")
    return ws.catalog.dataset_by_id(model.dataset_id)

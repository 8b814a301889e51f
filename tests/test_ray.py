"""The Ray executor on a real local Ray cluster (``ray start --head``, 2 CPUs, token auth):
the same metrics as the local executor, a sweep of four, a worker killed mid-task, and store
credentials that never reach Ray."""

from __future__ import annotations

import json
import os
import pickle
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from backends import events as ev
from backends.executor.config import ExecutorConfig
from backends.executor.exchange import Exchange
from backends.executor.units import Unit
from backends.train.stage import TrainConfig
from backends.workspace import Workspace
from tests.conftest import TINY, TINY_SOFTWARE, cli
from tests.raycluster import RayCluster
from tests.s3server import ACCESS_KEY, SECRET_KEY, S3Server

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def creds(s3: S3Server, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return s3.creds_json(tmp_path_factory.mktemp("creds") / "creds.json")


@pytest.fixture(scope="module")
def cluster(creds: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RayCluster]:
    """The workers' $MLLIB_CREDS is in the cluster's environment, as KubeRay mounts a Secret:
    nothing the workstation sends carries a key."""
    ray = RayCluster(tmp_path_factory.mktemp("ray"), env={"MLLIB_CREDS": str(creds)})
    ray.start()
    yield ray
    ray.stop()


def _pipeline(path: Path, body: str, cluster: RayCluster, **executor: object) -> Path:
    settings = {"kind": "ray", "address": cluster.address, **executor}
    lines = "\n".join(f"{k} = {json.dumps(v)}" for k, v in settings.items())
    path.write_text(f"{body}\n[executor]\n{lines}\n")
    return path


TINY_TRAINING = TINY.read_text().split("[convert]")[0]  # [dataset] and [train] of tiny.toml


def _events(out: subprocess.CompletedProcess[str]) -> list[ev.Event]:
    return [ev.decode(line) for line in out.stdout.splitlines()]


def _latest_rows(ws: Path) -> dict[str, dict]:
    catalog = Workspace.open(ws).catalog
    run = catalog.runs()[-1][0]
    return {row.label: row.to_json() for row in catalog.results(run)}


def test_the_tiny_pipeline_on_ray_gives_the_local_metrics(
    cluster: RayCluster, trained_ws: Path, tmp_path: Path
) -> None:
    """Training is deterministic on one machine, so every row's figures equal the local run's;
    the catalog holds the same jobs and lineage a local run records; a second run reuses."""
    ws = tmp_path / "ws"
    out = cli("run", "--headless", "--json", "-w", str(ws), str(TINY),
              "--ray-address", cluster.address, env=cluster.env)  # fmt: skip
    assert out.returncode == 0, out.stderr
    events = _events(out)
    workers = {e.worker for e in events if isinstance(e, ev.Metric) and e.stage == "train"}
    assert len(workers) == 1 and None not in workers  # epochs streamed from the worker
    assert any(isinstance(e, ev.Log) and e.stage == "convert" and e.worker for e in events)
    local, remote = _latest_rows(trained_ws), _latest_rows(ws)
    assert set(remote) == set(local) == set(TINY_SOFTWARE)
    for label, row in remote.items():
        for key in ("miou", "pixel_accuracy", "similarity", "iou", "confusion"):
            assert row[key] == local[label][key], (label, key)
    catalog = Workspace.open(ws).catalog
    assert [(j.kind, j.state) for j in catalog.jobs()] == [
        ("dataset", "done"), ("train", "done"), *[("convert", "done")] * 4,
    ]  # fmt: skip
    keras, saved, onnx, *tflites = catalog.artifacts()
    assert (keras.kind, saved.parent_id, onnx.parent_id) == ("model", keras.id, keras.id)
    assert all(t.kind == "tflite" and t.parent_id == saved.id for t in tflites)
    assert all(a.dataset_id is not None and a.job_id is not None for a in catalog.artifacts())
    assert {a.job_id for a in tflites} == {j.id for j in catalog.jobs("convert")} - {onnx.job_id}
    for artifact in catalog.artifacts():
        Workspace.open(ws).verify(artifact)  # every file hashes as recorded
    again = cli("run", "--headless", "--json", "-w", str(ws), str(TINY),
                "--ray-address", cluster.address, env=cluster.env)  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert (len(catalog.jobs("train")), len(catalog.jobs("convert"))) == (1, 4)  # reused


SWEEP = """
[sweep]
width = [0.35, 0.5]
learning_rate = [0.001, 0.003]

[convert]
targets = ["tflite:fp32"]
fidelity_images = 5

[bench]
warmup_runs = 1
warmup_seconds = 0
min_runs = 3
min_seconds = 0
eval_batch_size = 4
"""


def test_a_sweep_of_four_trains_at_once_and_ranks_on_a_pareto_front(
    cluster: RayCluster, tmp_path: Path
) -> None:
    body = TINY_TRAINING.replace("epochs = 2", "epochs = 1") + SWEEP
    pipeline = _pipeline(tmp_path / "sweep.toml", body, cluster)
    ws = tmp_path / "ws"
    out = cli("run", "--headless", "--json", "-w", str(ws), str(pipeline), env=cluster.env)
    assert out.returncode == 0, out.stderr
    catalog = Workspace.open(ws).catalog
    trainings = catalog.jobs("train")
    assert len(trainings) == 4 and {j.state for j in trainings} == {"done"}
    assert {(j.params["width"], j.params["learning_rate"]) for j in trainings} == {
        (0.35, 0.001), (0.35, 0.003), (0.5, 0.001), (0.5, 0.003),
    }  # fmt: skip
    started = [j.started for j in trainings]
    finished = [j.finished for j in trainings]
    assert min(finished) > sorted(started)[1]  # two trainings ran at once on the 2 CPUs
    report = sorted((ws / "reports").iterdir())[-1]
    results = json.loads((report / "results.json").read_text())
    rows = results["rows"]
    assert len(rows) == 8 and len({r["name"] for r in rows}) == 8  # TF and LiteRT fp32 each
    assert {r["variant"] for r in rows} == {
        "width=0.35 learning_rate=0.001", "width=0.35 learning_rate=0.003",
        "width=0.5 learning_rate=0.001", "width=0.5 learning_rate=0.003",
    }  # fmt: skip
    assert all(r["delta"] == 0 for r in rows if r["software"] == "TensorFlow fp32")
    ranked = results["sweep"]
    assert len(ranked) == len(rows) and ranked[0]["pareto_front"]
    front = [r for r in ranked if r["pareto_front"]]
    for r in ranked:  # no row beats a front row on both p50 and mIoU
        for f in front:
            assert not (r["p50_ms"] < f["p50_ms"] and r["headline"] > f["headline"])
    assert [r["p50_ms"] for r in front] == sorted(r["p50_ms"] for r in front)
    markdown = (report / "results.md").read_text()
    assert "## Sweep" in markdown and "(width=0.5 learning_rate=0.003)" in markdown
    assert (report / "sweep.png").read_bytes().startswith(b"\x89PNG")


def _run_and_kill(pipeline: Path, ws: Path, cluster: RayCluster) -> tuple[int, list[ev.Event]]:
    """Run ``pipeline``; SIGKILL the worker of the training at its first progress."""
    exe = Path(sys.executable).with_name("mllib-tui")
    process = subprocess.Popen(
        [str(exe), "run", "--headless", "--json", "-w", str(ws), str(pipeline)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, **cluster.env},
    )  # fmt: skip
    assert process.stdout is not None
    events, killed = [], False
    for line in process.stdout:
        event = ev.decode(line)
        events.append(event)
        if not killed and isinstance(event, ev.Progress) and event.stage == "train":
            assert event.worker is not None
            os.kill(int(event.worker.rsplit(":", 1)[1]), signal.SIGKILL)
            killed = True
    assert killed
    return process.wait(300), events


def test_a_worker_killed_mid_training_is_retried_or_its_job_fails(
    cluster: RayCluster, tmp_path: Path
) -> None:
    body = 'stages = ["dataset", "train"]\n' + TINY_TRAINING.replace("epochs = 2", "epochs = 3")
    ws = tmp_path / "ws"
    code, events = _run_and_kill(_pipeline(tmp_path / "a.toml", body, cluster, retries=1), ws,
                                 cluster)  # fmt: skip
    assert code == 0
    warnings = [e.message for e in events if isinstance(e, ev.Log) and e.level == "warning"]
    assert any("stopped; Ray runs it again on" in w for w in warnings), warnings
    catalog = Workspace.open(ws).catalog
    (job,) = catalog.jobs("train")
    assert job.state == "done" and {a.kind for a in catalog.artifacts(job_id=job.id)} == {
        "model",
        "savedmodel",
    }
    # no retries: the job fails, with the reason, and nothing of it is recorded
    body = body.replace("[train]", "[train]\nseed = 7")
    code, events = _run_and_kill(_pipeline(tmp_path / "b.toml", body, cluster, retries=0), ws,
                                 cluster)  # fmt: skip
    assert code == 3
    failed = [j for j in catalog.jobs("train") if j.params["seed"] == 7]
    assert [j.state for j in failed] == ["failed"] and "Ray gave up" in (failed[0].error or "")
    assert catalog.artifacts(job_id=failed[0].id) == []
    errors = [e.message for e in events if isinstance(e, ev.Error)]
    assert any("Ray gave up after 1 attempt" in m for m in errors), errors


def test_store_credentials_never_reach_ray(
    cluster: RayCluster, creds: Path, s3: S3Server, tmp_path: Path
) -> None:
    """Through the S3 store: the workstation and the workers each read the keys from their own
    $MLLIB_CREDS; the keys appear nowhere in Ray's files (its logs, every worker's, anything it
    spilled), in the events or in the catalog."""
    body = 'stages = ["dataset", "train"]\n' + TINY_TRAINING.replace("epochs = 2", "epochs = 1")
    pipeline = _pipeline(tmp_path / "s3.toml", body, cluster, exchange="s3", creds_entry="seaweed")
    ws = tmp_path / "ws"
    out = cli("run", "--headless", "--json", "-w", str(ws), str(pipeline),
              env={**cluster.env, "MLLIB_CREDS": str(creds)})  # fmt: skip
    assert out.returncode == 0, out.stderr
    model = [a for a in Workspace.open(ws).catalog.artifacts() if a.kind == "model"]
    assert len(model) == 1
    secrets = [SECRET_KEY.encode(), ACCESS_KEY.encode()]
    files = cluster.session_files()
    assert any("worker" in p.name for p in files)  # the workers' logs are among them
    for path in files:
        data = path.read_bytes()
        assert not any(s in data for s in secrets), path
    for text in (out.stdout, out.stderr, (ws / "catalog.sqlite").read_bytes().decode("latin-1")):
        assert SECRET_KEY not in text and ACCESS_KEY not in text
    # what a task is given: the exchange's Where names the entry, and nothing else of it
    os.environ["MLLIB_CREDS"] = str(creds)
    try:
        config = ExecutorConfig(kind="ray", exchange="s3", creds_entry="seaweed")
        where = Exchange.for_workstation(config, Workspace.open(ws)).where
    finally:
        del os.environ["MLLIB_CREDS"]
    unit = Unit("train", "train", where, "tiny@0", (), {"config": TrainConfig()})
    assert not any(s in pickle.dumps(unit) for s in secrets)
    missing = cli("run", "--headless", "-w", str(ws), str(pipeline), env=cluster.env)
    assert missing.returncode == 2
    assert 'this workstation has no MLLIB_CREDS: exchange = "s3"' in missing.stderr


def test_the_app_runs_a_pipeline_on_ray_in_a_real_terminal(
    cluster: RayCluster, tmp_path: Path
) -> None:
    """`r` with a Ray pipeline file: the training runs on a worker and the screen stays the
    app's (ray.init once failed here: Textual's stderr has no file for Ray's fault handler)."""
    from tests import test_tmux

    body = 'stages = ["dataset", "train"]\n' + TINY_TRAINING.replace("epochs = 2", "epochs = 1")
    pipeline = _pipeline(tmp_path / "app.toml", body, cluster)
    exe = Path(sys.executable).with_name("mllib-tui")
    token = " ".join(f"{k}={v}" for k, v in cluster.env.items())
    session = test_tmux.SESSION
    test_tmux.tmux(
        "new-session", "-d", "-s", session, "-x", "120", "-y", "36",
        f"env -u COLUMNS -u LINES TERM=xterm-256color {token} {exe} -w {tmp_path / 'ws'} "
        f"--pipeline {pipeline}",
    )  # fmt: skip
    try:
        test_tmux.wait_for("Empty workspace: press r")  # loaded: the key is taken now
        test_tmux.tmux("send-keys", "-t", session, "r")
        shown = test_tmux.wait_for("Training done", 240)
        assert "cannot reach" not in shown and "Traceback" not in shown
        assert "keras" in test_tmux.wait_for("1 model(s)", 60)
    finally:
        test_tmux.tmux("kill-session", "-t", session)
    (job,) = Workspace.open(tmp_path / "ws").catalog.jobs("train")
    assert job.state == "done"

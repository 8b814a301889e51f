"""The executor and sweep settings, the sweep's ranking and report on rows made here, a sweep on
the local executor, and a Ray cluster that cannot be reached (the runs on a real Ray cluster are
in test_ray.py)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from backends.bench.rows import BenchmarkRun
from backends.datasets.sources import Synth
from backends.errors import BadInput
from backends.executor.config import ExecutorConfig
from backends.pipeline import Pipeline, parse_pipeline, run
from backends.report import write_report
from backends.sweep import Sweep, parse_sweep, rank
from backends.train.stage import TrainConfig
from backends.workspace import Workspace
from tests.conftest import TINY, cli
from tests.test_compare import _row


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ('[executor]\nkind = "rya"', "executor.kind must be one of 'local', 'ray', got 'rya'"),
        ('[executor]\nkind = "ray"\naddress = "http://head:8265"', "that is a Ray Jobs endpoint"),
        ('[executor]\ncreds_entry = "x"', 'creds_entry names the store of exchange = "s3" only'),
        ("[executor]\ncpus = 0", "executor.cpus must be between 0.1 and 1024, got 0"),
        ("[sweep]\nwidht = [0.5]", "unknown key 'sweep.widht' (a sweep varies [train] settings"),
        ("[sweep]\nwidth = 0.5", "sweep.width must be a non-empty list, got 0.5"),
        ("[sweep]\nwidth = []", "sweep.width must be a non-empty list"),
        ("[sweep]\nepochs = [1, 0]", "sweep.epochs must be between 1 and 100000, got 0"),
        ("[sweep]\nepochs = [1, 1]", "sweep.epochs lists a value twice"),
        ('[sweep]\nlearning_rate = ["fast"]', "sweep.learning_rate must be a number"),
        ("[sweep]\nseed = [1,2,3,4,5,6,7,8]\nepochs = [1,2,3,4,5,6,7,8,9]", "72 variants"),
    ],
)
def test_bad_executor_and_sweep_settings_are_one_line(text: str, said: str) -> None:
    with pytest.raises(BadInput) as caught:
        parse_pipeline(text.encode(), "p.toml")
    assert said in str(caught.value) and "\n" not in str(caught.value)


def test_a_sweep_is_every_combination_labelled_by_what_varies() -> None:
    pipeline = parse_pipeline(
        b"[train]\nepochs = 3\n[sweep]\nwidth = [0.35, 0.5]\naugment = [true, false]", "p.toml"
    )
    variants = pipeline.variants()
    assert [label for label, _ in variants] == [
        "width=0.35 augment=true", "width=0.35 augment=false",
        "width=0.5 augment=true", "width=0.5 augment=false",
    ]  # fmt: skip
    assert {(c.width, c.augment, c.epochs) for _, c in variants} == {
        (0.35, True, 3), (0.35, False, 3), (0.5, True, 3), (0.5, False, 3),
    }  # fmt: skip
    assert Pipeline().variants() == [(None, TrainConfig())]
    assert Sweep.of(width=[0.35, 0.5]) == parse_sweep({"width": [0.35, 0.5]}, "x")
    assert pipeline.to_json()["sweep"] == {"width": [0.35, 0.5], "augment": [True, False]}


def _variant(row, label: str):
    return dataclasses.replace(row, name=f"{label}-{row.name}", extra={"variant": label})


def test_the_ranking_puts_the_pareto_front_first_fastest_first() -> None:
    rows = [
        _variant(_row("TensorFlow fp32", None, 10.0, 0.80), "a"),  # front (best mIoU)
        _variant(_row("LiteRT int8", None, 3.0, 0.70), "a"),  # front (fastest)
        _variant(_row("LiteRT fp32", None, 5.0, 0.79), "b"),  # front
        _variant(_row("LiteRT fp16", None, 6.0, 0.75), "b"),  # beaten by LiteRT fp32
        _variant(_row("ONNX Runtime fp32", None, 10.0, 0.80), "b"),  # ties the front: on it
        dataclasses.replace(_row("LiteRT int8", None, 1.0, 0.9), status="failed", error="x"),
    ]
    ranked = rank(rows)
    assert [(r.row.software, r.row.variant, r.front) for r in ranked] == [
        ("LiteRT int8", "a", True),
        ("LiteRT fp32", "b", True),
        ("TensorFlow fp32", "a", True),
        ("ONNX Runtime fp32", "b", True),
        ("LiteRT fp16", "b", False),
    ]


def test_a_sweep_report_ranks_the_rows_and_draws_the_front(tmp_path: Path) -> None:
    rows = (
        _variant(_row("TensorFlow fp32", None, 10.0, 0.80), "width=0.35"),
        _variant(_row("TensorFlow fp32", None, 14.0, 0.84), "width=0.5"),
        _variant(_row("LiteRT fp32", None, 12.0, 0.70), "width=0.5"),
    )
    run_ = BenchmarkRun("r1", "d@v", 1, ("void", "person"), rows)
    write_report(tmp_path, run_)
    markdown = (tmp_path / "results.md").read_text()
    assert "| TensorFlow fp32 (width=0.5) |" in markdown  # the Software column names it
    assert "## Sweep" in markdown and "![mIoU against p50 latency" in markdown
    ranked = json.loads((tmp_path / "results.json").read_text())["sweep"]
    assert [(r["variant"], r["pareto_front"]) for r in ranked] == [
        ("width=0.35", True), ("width=0.5", True), ("width=0.5", False),
    ]  # fmt: skip
    assert (tmp_path / "sweep.png").read_bytes().startswith(b"\x89PNG")


@pytest.mark.slow
def test_a_sweep_on_the_local_executor_trains_each_variant_once(tmp_path: Path) -> None:
    ws = Workspace.open(tmp_path / "ws")
    pipeline = Pipeline(
        stages=["dataset", "train"],
        dataset=Synth(name="tiny", images=24, size=(64, 64)),
        train=TrainConfig(epochs=1, batch_size=4),
        sweep=Sweep.of(learning_rate=[1e-3, 3e-3]),
    )
    events: list = []
    run(ws, pipeline, events.append)
    trainings = ws.catalog.jobs("train")
    assert sorted(j.params["learning_rate"] for j in trainings) == [1e-3, 3e-3]
    assert len([a for a in ws.catalog.artifacts() if a.kind == "model"]) == 2
    run(ws, pipeline, events.append)
    assert len(ws.catalog.jobs("train")) == 2  # both reused


def test_a_ray_cluster_that_cannot_be_reached_is_one_line(tmp_path: Path) -> None:
    out = cli("run", "--headless", "-w", str(tmp_path), str(TINY), "--ray-address",
              "127.0.0.1:9", timeout=60)  # fmt: skip
    assert out.returncode == 2
    (line,) = out.stderr.strip().splitlines()
    assert line.startswith("error: cannot reach the Ray cluster at 127.0.0.1:9 (")
    assert ExecutorConfig(kind="ray").address == "auto"
    bad = cli("run", "--headless", "-w", str(tmp_path), str(TINY), "--executor", "rya")
    assert bad.returncode == 2 and "--executor must be local or ray, got 'rya'" in bad.stderr

"""The Python API (``import mllib``): each public call on tiny data, against the real engine,
the catalog and files it writes; errors are one line; an interrupt leaves the job interrupted."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import mllib
from backends.workspace import Workspace as EngineWorkspace
from tests.test_classification_data import _folder, needs_fashion

PROTOCOL = mllib.BenchStep(warmup_runs=1, warmup_seconds=0, min_runs=3, min_seconds=0,
                           eval_batch_size=4)  # fmt: skip
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def loop(tmp_path_factory: pytest.TempPathFactory):
    """A workspace filled from Python: dataset, model, one conversion, one benchmark run."""
    ws = mllib.Workspace(tmp_path_factory.mktemp("api") / "ws")
    data = ws.make_dataset(mllib.Synth(name="tiny", images=24, size=(64, 64)))
    model = ws.train(data, mllib.TrainConfig(epochs=1, batch_size=4))
    (tflite,) = ws.convert(model, mllib.ConvertStep(targets=("tflite:fp32",), fidelity_images=4))
    run = ws.benchmark(tflite, config=PROTOCOL)
    return ws, data, model, tflite, run


def test_the_loop_lands_in_the_catalog(loop) -> None:
    ws, data, model, tflite, _ = loop
    assert [d for d in ws.datasets() if d.name == "tiny"] == [data]
    assert ws.dataset("tiny") == data == ws.dataset(f"tiny@{data.version}")
    again = ws.make_dataset(mllib.Synth(name="tiny", images=24, size=(64, 64)))
    assert again == data  # the same data is the same version, not a second one
    engine = EngineWorkspace.open(ws.root)
    assert model.kind == "model" and tflite.kind == "tflite"
    assert model.id in [a.id for a in engine.catalog.lineage(tflite.id)]
    assert ws.artifact(tflite.id) == tflite and tflite in ws.artifacts("tflite")
    assert ws.train(data, mllib.TrainConfig(epochs=1, batch_size=4)) == model  # cached
    assert engine.verify(tflite).is_file()  # hash-checked on disk


def test_benchmark_rows_table_dataframe_and_confusion(loop) -> None:
    ws, _, _, tflite, run = loop
    assert isinstance(run, mllib.BenchmarkRun)
    (row,) = run.rows
    assert row.ok and row.artifact == tflite.id and row.software == "LiteRT fp32"
    assert row.latency is not None and row.latency.runs >= 3 and 0 <= row.headline <= 1
    assert run.report_dir.joinpath("results.md").is_file()
    assert ws.runs()[-1] == run.run_id and ws.results() == list(run.rows)
    (record,) = mllib.table(run)
    assert record["software"] == "LiteRT fp32" and record["miou"] == row.metric("miou")
    assert record["p50_ms"] == row.latency.p50_ms
    frame = mllib.dataframe(run)
    assert list(frame.columns) == list(record) and frame.loc[0, "miou"] == row.metric("miou")
    figure = mllib.confusion(row)
    (axes, _colourbar) = figure.axes
    assert [t.get_text() for t in axes.get_xticklabels()] == list(row.classes)
    assert axes.get_title() == "LiteRT fp32 on " + row.hardware


def test_failure_images_are_the_lowest_iou_worst_first(loop) -> None:
    ws, data, model, _, _ = loop
    worst = ws.failures(model, count=3)
    assert len(worst) == 3
    scores = [image.miou for image in worst]
    assert scores == sorted(scores)
    everyone = ws.failures(model, count=100)  # more than the split: every val image, ranked
    assert len(everyone) == data.manifest["splits"]["val"]["images"]
    assert [i.index for i in everyone[:3]] == [i.index for i in worst]
    first = worst[0]
    assert first.panel().shape == (64, 3 * 64, 3)
    assert first._repr_png_().startswith(PNG)
    assert 0 <= first.miou <= 1 and first.prediction.shape == first.truth.shape


def test_where_the_int8_conversion_differs_most_from_the_model(loop) -> None:
    ws, data, model, _, _ = loop
    alike = ws.differences(model, model, count=3)
    assert alike == []  # a model agrees with itself everywhere: nothing to show
    step = mllib.ConvertStep(
        targets=("tflite:int8",), representative_images=8, fidelity_images=4,
        max_drop_int8=1, fallback=False,
    )  # fmt: skip
    (int8,) = ws.convert(model, step)
    differing = ws.differences(model, int8, count=100)
    shares = [image.differing for image in differing]
    assert shares == sorted(shares, reverse=True) and all(0 < s <= 1 for s in shares)
    assert len(differing) <= data.manifest["splits"]["val"]["images"]
    worst = differing[0]
    assert abs(worst.differing - np.mean(worst.first != worst.second)) < 1e-9
    panel = worst.panel()
    assert panel.shape == (64, 3 * 64, 3)
    marked = panel[:, 128:]  # the differing pixels are white, the rest the image itself
    assert (marked[worst.first != worst.second] == 255).all()
    same = worst.first == worst.second
    assert (marked[same] == worst.rgb[same]).all()


def test_images_of_a_dataset_with_their_masks(loop) -> None:
    ws, data, _, _, _ = loop
    shown = ws.images(data, split="train", count=2)
    assert [image.index for image in shown] == [0, 1]
    shares = shown[0].shares()
    assert list(shares) == list(data.manifest["classes"]) and abs(sum(shares.values()) - 1) < 1e-9
    panel = shown[0].panel()
    assert panel.shape == (64, 128, 3) and (panel[:, :64] == shown[0].image).all()
    painted = shown[0].truth != 0
    assert (panel[:, 64:][painted] != shown[0].image[painted]).any()  # the mask is drawn
    assert shown[0]._repr_png_().startswith(PNG)


def test_nothing_is_printed_outside_jupyter(tmp_path: Path, capfd: pytest.CaptureFixture) -> None:
    ws = mllib.Workspace(tmp_path / "ws")
    ws.make_dataset(mllib.Synth(name="quiet", images=8, size=(32, 32)))
    out, err = capfd.readouterr()
    assert out == "" and err == ""


def test_a_pipeline_runs_from_python(loop) -> None:
    """The loop's own settings as a pipeline: its dataset, model and conversion are found in
    the catalog (not redone), and the bench stage measures them. (A pipeline file from
    scratch runs in the quickstart notebook's test.)"""
    ws, data, model, tflite, _ = loop
    pipeline = mllib.Pipeline(
        dataset=mllib.Synth(name="tiny", images=24, size=(64, 64)),
        train=mllib.TrainConfig(epochs=1, batch_size=4),
        convert=mllib.ConvertStep(targets=("tflite:fp32",), fidelity_images=4),
        bench=PROTOCOL,
    )
    run = ws.run(pipeline)
    assert run is not None and all(r.ok for r in run.rows)
    assert {(r.software, r.artifact) for r in run.rows} == {
        ("TensorFlow fp32", model.id),
        ("LiteRT fp32", tflite.id),
    }
    assert [d for d in ws.datasets() if d.name == "tiny"] == [data]  # found, not made again
    only = mllib.Pipeline(
        stages=["dataset"], dataset=mllib.Synth(name="only", images=8, size=(32, 32))
    )
    assert ws.run(only) is None and ws.dataset("only").manifest["image_size"] == [32, 32]


def test_push_and_pull_through_a_store(loop, tmp_path: Path) -> None:
    ws, data, _, _, _ = loop
    store = tmp_path / "store"
    assert ws.push(data, store=store) > 0
    assert ws.push("tiny", store=store) == 0  # content-addressed: nothing sent twice
    fresh = mllib.Workspace(tmp_path / "fresh")
    pulled = fresh.pull(f"tiny@{data.version}", store=store)
    assert (pulled.name, pulled.version) == (data.name, data.version)
    assert (
        fresh.images(pulled, count=1)[0].truth.tolist()
        == ws.images(data, count=1)[0].truth.tolist()
    )


def test_deploy_to_the_local_board_and_back(loop) -> None:
    ws, _, _, tflite, _ = loop
    assert [b.name for b in ws.boards()] == ["local"]
    (outcome,) = ws.deploy(tflite, ["local"]).values()
    assert outcome["action"] in ("deployed", "already current")
    assert outcome["sha256"] == tflite.sha256
    assert ws.deploy(tflite, ["local"])["local"]["action"] == "already current"


@pytest.mark.parametrize(
    ("call", "said"),
    [
        (lambda ws: ws.dataset("nope"), "nope"),
        (lambda ws: ws.artifact(999), "999"),
        (lambda ws: ws.results("no-such-run"), "no results for run 'no-such-run'"),
        (lambda ws: ws.benchmark("model.onnx"), "needs a dataset"),
        (lambda ws: ws.deploy(1, ["no-such-board"]), "no-such-board"),
        (lambda ws: mllib.Synth(images=0), "dataset.images must be between"),
        (lambda ws: mllib.Pipeline(stages=["bench"]), "add 'dataset' to stages"),
    ],
)
def test_bad_input_is_one_line(loop, call, said: str) -> None:
    ws = loop[0]
    with pytest.raises(mllib.MllibError) as caught:
        call(ws)
    message = str(caught.value)
    assert said in message and "\n" not in message


def test_the_public_names_are_documented() -> None:
    for name in mllib.__all__:
        thing = getattr(mllib, name)
        assert thing.__doc__, f"mllib.{name} has no docstring"
    for name, method in vars(mllib.Workspace).items():
        if callable(method) and not name.startswith("_"):
            assert method.__doc__, f"Workspace.{name} has no docstring"


INTERRUPTED = """
import sys
import mllib

ws = mllib.Workspace(sys.argv[1])
data = ws.make_dataset(mllib.Synth(name="long", images=24, size=(64, 64)))
print("training", flush=True)
ws.train(data, mllib.TrainConfig(epochs=1000, batch_size=4))
"""


def test_an_interrupt_stops_the_work_and_marks_its_job_interrupted(tmp_path: Path) -> None:
    """What the kernel's interrupt does: SIGINT in the caller's thread."""
    root = tmp_path / "ws"
    process = subprocess.Popen(
        [sys.executable, "-c", INTERRUPTED, str(root)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None and process.stdout.readline() == "training\n"
    engine = EngineWorkspace.open(root)
    deadline = time.monotonic() + 120
    while not any(j.state == "running" for j in engine.catalog.jobs("train")):
        assert time.monotonic() < deadline and process.poll() is None
        time.sleep(0.2)
    time.sleep(3)  # into the epochs
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode != 0 and "KeyboardInterrupt" in stderr
    (job,) = engine.catalog.jobs("train")
    assert job.state == "interrupted" and job.finished is not None, stderr
    assert not engine.catalog.artifacts("model")  # nothing half-recorded


@needs_fashion
def test_classification_sources_and_what_they_cannot_draw(tmp_path: Path) -> None:
    ws = mllib.Workspace(tmp_path / "ws")
    fashion = ws.make_dataset(mllib.FashionMnist(name="fm", train_images=40, val_images=20))
    assert fashion.manifest["task"] == "classification" and len(fashion.manifest["classes"]) == 10
    assert fashion.manifest["splits"]["val"]["images"] == 20
    folder = _folder(tmp_path / "shapes", {"a": 4, "b": 3})
    shapes = ws.make_dataset(mllib.Folder(name="shapes", path=str(folder), size=(16, 16)))
    assert shapes.manifest["classes"] == ["a", "b"]
    with pytest.raises(mllib.BadInput, match="is for classification: it has no masks"):
        ws.images(shapes)
    model = ws.train(fashion, mllib.TrainConfig(epochs=1, batch_size=8))
    with pytest.raises(mllib.BadInput, match="failure images are for segmentation"):
        ws.failures(model)


def test_a_missed_gate_is_warned_about_and_marked(loop) -> None:
    ws, _, model, _, _ = loop
    never = mllib.ConvertStep(targets=("tflite:int8",), max_drop_int8=-1, fallback=False,
                              representative_images=8, fidelity_images=4)  # fmt: skip
    with pytest.warns(mllib.MllibWarning, match="int8"):
        (int8,) = ws.convert(model, never)
    assert int8.meta["fidelity"]["passed"] is False


def test_progress_asked_for_outside_jupyter_prints_nothing(tmp_path: Path, capfd) -> None:
    ws = mllib.Workspace(tmp_path / "ws", progress=True)
    assert ws.make_dataset(mllib.Synth(name="p", images=8, size=(32, 32))).name == "p"
    assert capfd.readouterr() == ("", "")


def test_a_failure_on_the_callers_side_stops_the_work() -> None:
    from backends.events import Log
    from mllib._progress import call

    steps: list[int] = []

    def work(emit) -> None:
        for step in range(1000):
            steps.append(step)
            emit(Log(stage="w", level="info", message=str(step)))
            time.sleep(0.01)

    def broken(event) -> None:
        raise ValueError("the caller's handler broke")

    with pytest.raises(ValueError, match="handler broke"):
        call(work, progress=False, on_event=broken)
    stopped_at = len(steps)
    time.sleep(0.2)
    assert len(steps) == stopped_at < 1000  # the work stopped with the call, not later


def test_a_failure_while_the_work_stops_is_shown_with_the_interrupt() -> None:
    """A work that fails as it stops (its job could not be marked, say) is not hidden by the
    interrupt: the failure is a note on it."""
    from backends.errors import Cancelled
    from backends.events import Log
    from mllib._progress import call

    def work(emit) -> None:
        try:
            while True:
                emit(Log(stage="w", level="info", message="step"))
                time.sleep(0.01)
        except Cancelled:
            raise OSError("the catalog is read-only") from None

    def interrupt(event) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt) as raised:
        call(work, progress=False, on_event=interrupt)
    assert raised.value.__notes__ == [
        "while stopping, the work failed: OSError: the catalog is read-only"
    ]


def test_an_interrupted_board_run_keeps_its_rows_and_can_be_retried(loop) -> None:
    """The kernel's interrupt in the middle of a benchmark on a board (here: this machine as
    the board ``local``): the rows it cut are interrupted, not failed, and the job too."""
    from backends.bench.run import benchmark_run
    from backends.boards.inventory import load_inventory
    from backends.errors import Cancelled
    from backends.events import Progress

    ws, data, _, tflite, _ = loop
    engine = EngineWorkspace.open(ws.root)

    def emit(event) -> None:
        if isinstance(event, Progress) and event.board == "local" and event.done:
            raise Cancelled("interrupted from Python")

    run = benchmark_run(
        engine, tflite, data, PROTOCOL, mllib.Gates(), emit, description="interrupted",
        boards=["local"], inventory=load_inventory(None, ws.root),
    )  # fmt: skip
    assert [r.status for r in run.rows] == ["interrupted"]
    (job,) = [j for j in engine.catalog.jobs("bench") if j.key == run.run_id]
    assert job.state == "interrupted"
    with pytest.raises(mllib.MllibError, match="interrupted"):
        run.raise_for_outcome()

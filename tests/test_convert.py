"""Conversions of the trained tiny model to every format, with real runtimes on real files."""

import json
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from backends.bench.stage import BenchStep
from backends.convert.stage import ConvertStep
from backends.formats import Precision
from backends.runtimes import load
from backends.workspace import Workspace
from tests.conftest import TINY, TINY_SOFTWARE, cli, result_rows

pytestmark = pytest.mark.slow


def _by_target(ws: Workspace) -> dict[str, object]:
    """The pipeline's conversions: the first of each target (other tests add more)."""
    found: dict[str, object] = {}
    for a in ws.catalog.artifacts():
        if "fidelity" in a.meta and a.meta.get("int8_io", "int8") == "int8":
            found.setdefault(f"{a.kind}:{a.meta['precision']}", a)
    return found


def test_every_format_is_built_within_its_gates_with_lineage(trained_ws: Path) -> None:
    ws = Workspace.open(trained_ws)
    (model,) = ws.catalog.artifacts("model")
    built = _by_target(ws)
    assert {"onnx:fp32", "tflite:fp32", "tflite:fp16", "tflite:int8"} <= built.keys()
    for target, artifact in built.items():
        fidelity = artifact.meta["fidelity"]
        assert fidelity["passed"], target
        assert fidelity["images"] == 5
        if target.endswith("fp32"):
            assert fidelity["max_abs_diff"] < 1e-4 and fidelity["argmax_agreement"] > 0.999
        chain = [a.kind for a in ws.catalog.lineage(artifact.id)]
        assert chain[-1] == "model" and chain[0] == artifact.kind
        assert artifact.dataset_id == model.dataset_id
    assert [a.kind for a in ws.catalog.lineage(built["tflite:int8"].id)] == [
        "tflite",
        "savedmodel",
        "model",
    ]
    # names are read from the model, never assumed
    assert built["onnx:fp32"].meta["inputs"] == ["image"]
    assert built["onnx:fp32"].meta["outputs"] == ["probs"]


def test_int8_model_has_quantised_io_that_keeps_pixels_exact(trained_ws: Path) -> None:
    ws = Workspace.open(trained_ws)
    int8 = _by_target(ws)["tflite:int8"]
    runtime = load("litert", ws.verify(int8), threads=1)
    assert runtime.io_dtype == "int8"
    pixels = np.tile(np.arange(256, dtype=np.uint8).reshape(1, 16, 16, 1), (1, 4, 4, 3))
    prepared = runtime.prepare(pixels)
    scale, zero_point = runtime._in["quantization"]
    assert prepared.dtype == np.int8
    assert np.array_equal(np.round((prepared.astype(np.float32) - zero_point) * scale), pixels)
    probs = runtime.probabilities(runtime.run(prepared))
    assert probs.dtype == np.float32 and probs.shape == (1, 64, 64, 4)
    assert np.allclose(probs.sum(-1), 1, atol=0.05)


def test_convert_cli_uint8_io_then_reuse(trained_ws: Path) -> None:
    ws = Workspace.open(trained_ws)
    (model,) = ws.catalog.artifacts("model")
    args = [
        "convert",
        str(model.id),
        "--to",
        "tflite",
        "--precision",
        "int8",
        "--int8-io",
        "uint8",
        "--representative-images",
        "8",
        "--fidelity-images",
        "5",
        "-w",
        str(trained_ws),
        "--json",
    ]
    first = cli(*args)
    assert first.returncode == 0, first.stderr
    made = json.loads(first.stdout.splitlines()[-1])
    assert not made["cached"] and made["fidelity"]["passed"]
    artifact = ws.catalog.artifact(made["artifact"])
    assert load("litert", ws.verify(artifact)).io_dtype == "uint8"
    again = json.loads(cli(*args).stdout.splitlines()[-1])
    assert again["cached"] and again["artifact"] == made["artifact"]


def test_fallback_from_int8_to_fp16_when_the_gate_is_missed(
    trained_ws: Path, tmp_path: Path
) -> None:
    from backends.convert.stage import convert_all

    shutil.copytree(trained_ws, tmp_path / "ws")  # this test marks the int8 model as failed
    ws = Workspace.open(tmp_path / "ws")
    (model,) = ws.catalog.artifacts("model")
    events: list = []
    impossible = ConvertStep(
        targets=("tflite:int8",), representative_images=8, fidelity_images=5, max_drop_int8=-1.0
    )  # int8 must gain 1.0 mIoU
    built = convert_all(ws, model, impossible, BenchStep(), events.append).artifacts
    assert [(a.kind, a.meta["precision"]) for a in built] == [
        ("tflite", "int8"),
        ("tflite", "fp16"),
    ]
    assert not built[0].meta["fidelity"]["passed"] and built[1].meta["fidelity"]["passed"]
    warnings = [e.message for e in events if getattr(e, "level", "") == "warning"]
    assert any("missed its fidelity gate" in w for w in warnings)
    assert any("falling back to tflite fp16" in w for w in warnings)


FAST = BenchStep(warmup_runs=1, warmup_seconds=0, min_runs=5, min_seconds=0)


def test_the_ladder_keeps_the_fastest_precision_that_passes(
    trained_ws: Path, tmp_path: Path
) -> None:
    """int8 -> fp16 -> fp32 with real LiteRT models: every rung converted and checked, the
    passing ones timed, the fastest kept; an int8 that misses its gate is never kept."""
    from backends.convert.stage import convert_all

    shutil.copytree(trained_ws, tmp_path / "ws")
    ws = Workspace.open(tmp_path / "ws")
    (model,) = ws.catalog.artifacts("model")
    for max_drop, int8_passes in ((1.0, True), (-1.0, False)):  # -1: int8 must gain 1.0 mIoU
        step = ConvertStep(
            targets=(), ladder=("tflite",), representative_images=8, fidelity_images=5,
            max_drop_int8=max_drop,
        )  # fmt: skip
        events: list = []
        converted = convert_all(ws, model, step, FAST, events.append)
        rungs = converted.ladder
        assert [r["precision"] for r in rungs] == ["int8", "fp16", "fp32"]
        assert rungs[0]["passed"] is int8_passes
        assert all((r["p50_ms"] is not None) == r["passed"] for r in rungs)
        (kept,) = [r for r in rungs if r["chosen"]]
        assert kept["p50_ms"] == min(r["p50_ms"] for r in rungs if r["passed"])
        assert [a.id for a in converted.artifacts] == [kept["artifact"]]
        assert set(kept["delta_per_class"]) == {"void", "person", "vehicle", "animal"}
        assert sum("ladder tflite" in getattr(e, "message", "") for e in events) == 3


def test_a_pipeline_with_a_ladder_benchmarks_and_reports_the_kept_rung(
    trained_ws: Path, tmp_path: Path
) -> None:
    shutil.copytree(trained_ws, tmp_path / "ws")  # the model is reused: same data and config
    pipeline = tmp_path / "ladder.toml"
    pipeline.write_text(
        re.sub(
            r"^targets = .*$",
            'targets = ["onnx:fp32"]\nladder = ["tflite"]',
            TINY.read_text(),
            flags=re.M,
        )
    )
    out = cli("run", "--headless", "-w", str(tmp_path / "ws"), str(pipeline))
    assert out.returncode == 0, out.stderr
    report = max((tmp_path / "ws" / "reports").glob("*/results.json"))
    result = json.loads(report.read_text())
    kept = [r for r in result["ladder"] if r["chosen"]]
    assert len(result["ladder"]) == 3 and len(kept) == 1
    software = [r["software"] for r in result["rows"]]
    assert software == [
        *TINY_SOFTWARE[: TINY_SOFTWARE.index("LiteRT fp32")],  # TF, ONNX Runtime, OpenVINO
        f"LiteRT {kept[0]['precision']}",
    ]
    markdown = (report.parent / "results.md").read_text()
    assert "## Precision ladder" in markdown and "**kept**" in markdown


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--to", "onnx", "--precision", "fp16"], "format onnx does not support precision 'fp16'"),
        (
            ["--to", "tflite", "--precision", "int8", "--representative-images", "0"],
            "int8 conversion needs a representative dataset and got no images",
        ),
        (["--to", "tensorrt"], "tensorrt cannot be converted on this workstation"),
        (["--to", "onnx", "--opset", "21"], "ONNX opset 21 is not supported: use 13-18"),
    ],
)
def test_bad_conversion_requests(trained_ws: Path, args: list[str], message: str) -> None:
    (model,) = Workspace.open(trained_ws).catalog.artifacts("model")
    out = cli("convert", str(model.id), *args, "-w", str(trained_ws))
    assert out.returncode == 2, out.stderr
    assert message in out.stderr and len(out.stderr.strip().splitlines()) == 1


def test_convert_refuses_what_is_not_a_keras_model(trained_ws: Path) -> None:
    onnx = _by_target(Workspace.open(trained_ws))["onnx:fp32"]
    out = cli("convert", str(onnx.id), "--to", "tflite", "-w", str(trained_ws))
    assert out.returncode == 2 and "is a onnx, not a Keras model" in out.stderr
    out = cli("convert", "99999", "--to", "onnx", "-w", str(trained_ws))
    assert out.returncode == 2 and "no artifact with id 99999" in out.stderr


def test_edgetpu_without_the_compiler_says_where_to_get_it(trained_ws: Path) -> None:
    (model,) = Workspace.open(trained_ws).catalog.artifacts("model")
    out = cli(
        "convert", str(model.id), "--to", "edgetpu", "--precision", "int8", "-w", str(trained_ws)
    )
    assert out.returncode == 2
    assert "edgetpu_compiler is not installed on this workstation" in out.stderr
    assert "Traceback" not in out.stderr


def test_edgetpu_compiles_the_int8_model_and_keeps_the_tpu_cpu_split(
    trained_ws: Path, tmp_path: Path
) -> None:
    """Coral's compiler cannot be installed here: a stand-in on the PATH prints a log a real
    compiler printed (78 of 84 ops on the TPU). What is checked is ours: the int8 TFLite is
    the source, the log is read, the split is kept and shown, fidelity says where it was
    measured."""
    bin_dir = tmp_path / "bin"
    shutil.copytree(Path(__file__).parent / "standins" / "bin", bin_dir)
    shutil.copy(
        Path(__file__).parent / "data" / "tool-output" / "edgetpu-partial.log",
        bin_dir / "edgetpu-compiler.log",
    )
    ws = Workspace.open(trained_ws)
    (model,) = ws.catalog.artifacts("model")
    int8s = [a for a in ws.catalog.artifacts("tflite") if a.meta["precision"] == "int8"]
    int8 = int8s[-1]  # the newest int8 TFLite of the model (other tests convert more)
    env = {"PATH": f"{bin_dir}:{os.environ['PATH']}"}
    out = cli(
        "convert",
        str(model.id),
        "--to",
        "edgetpu",
        "--precision",
        "int8",
        "-w",
        str(trained_ws),
        env=env,
    )
    assert out.returncode == 0, out.stderr
    assert "Edge TPU: 78 of 84 operations on the Edge TPU, 6 on the CPU" in out.stdout
    (artifact,) = Workspace.open(trained_ws).catalog.artifacts("edgetpu")
    assert artifact.parent_id == int8.id and artifact.meta["edgetpu"]["cpu_ops"] == 6
    assert artifact.meta["converter"] == "edgetpu_compiler 15.0.340273435"
    assert artifact.meta["fidelity"]["value"] == int8.meta["fidelity"]["value"]
    assert f"measured on the int8 TFLite, artifact {int8.id}" in artifact.meta["fidelity"]["gate"]
    assert artifact.sha256 == int8.sha256  # the stand-in copies its input


def test_onnx_int8_is_gated_and_runs_on_onnx_runtime_and_openvino(
    trained_ws: Path, tmp_path: Path
) -> None:
    """The QDQ model: calibrated like TFLite int8, checked against Keras, measured by ONNX
    Runtime and by OpenVINO (installed by the test command); OpenVINO's fp32 figures are ONNX
    Runtime's on the same file."""
    ws = tmp_path / "ws"
    shutil.copytree(trained_ws, ws)
    (model,) = Workspace.open(ws).catalog.artifacts("model")
    out = cli("convert", str(model.id), "--to", "onnx", "--precision", "int8", "-w", str(ws))
    assert out.returncode == 0, out.stderr
    (int8,) = [a for a in Workspace.open(ws).catalog.artifacts("onnx")
               if a.meta["precision"] == "int8"]  # fmt: skip
    assert int8.meta["fidelity"]["passed"] and "QDQ" in int8.meta["quantizer"]
    fast = ["--warmup-runs", "1", "--warmup-seconds", "0", "--runs", "3", "--seconds", "0"]
    runs = {}
    for artifact in (int8, next(a for a in Workspace.open(ws).catalog.artifacts("onnx")
                                if a.meta["precision"] == "fp32")):  # fmt: skip
        out = cli("bench", str(artifact.id), *fast, "--json", "-w", str(ws))
        assert out.returncode == 0, out.stderr
        runs |= {r["software"]: r for r in result_rows(out)}
    assert runs.keys() == {"ONNX Runtime int8", "OpenVINO int8", "ONNX Runtime fp32",
                           "OpenVINO fp32"}  # fmt: skip
    assert all(r["status"] == "ok" for r in runs.values())
    tf = next(r for r in json.loads(min((ws / "reports").glob("*/results.json")).read_text())[
        "rows"] if r["software"] == "TensorFlow fp32")  # fmt: skip
    for software in ("ONNX Runtime int8", "OpenVINO int8"):
        assert runs[software]["miou"] >= tf["miou"] - 0.01  # the int8 gate's drop, on all images
    assert abs(runs["OpenVINO fp32"]["miou"] - runs["ONNX Runtime fp32"]["miou"]) < 1e-3
    assert runs["OpenVINO fp32"]["options"]["precision"] == "f32"  # not bf16 behind our back


def test_an_optional_runtime_that_is_not_installed_is_skipped_and_said(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from backends.bench.run import runtimes_here
    from backends.events import Log
    from backends.formats import FORMATS, RUNTIMES, Runtime

    ghost = Runtime("ghost", "Ghost", ("onnx",), (Precision.FP32,), "backends.runtimes.ghost",
                    "ghost-runtime", probe=("no_such_module_here",), optional=True)  # fmt: skip
    monkeypatch.setitem(RUNTIMES, "ghost", ghost)
    said: list = []
    chosen = runtimes_here(FORMATS["onnx"], said.append)
    assert "ghost" not in chosen and "onnxruntime" in chosen
    assert [e.message for e in said if isinstance(e, Log)] == [
        "Ghost is not installed here: no Ghost rows (ghost-runtime)"
    ]

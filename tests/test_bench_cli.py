"""``mllib-tui bench``, ``results`` and ``artifacts`` on the trained tiny workspace."""

import json
import os
import shutil
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

from backends.runtimes import installed
from backends.workspace import Workspace
from tests.conftest import TINY_SOFTWARE, cli

pytestmark = pytest.mark.slow
FAST = ["--warmup-runs", "1", "--warmup-seconds", "0", "--runs", "3", "--seconds", "0"]


def _artifact(ws_root: Path, kind: str, precision: str = "fp32"):
    return next(
        a
        for a in Workspace.open(ws_root).catalog.artifacts(kind)
        if a.meta.get("precision", "fp32") == precision
    )


def test_bench_one_artifact_matches_the_pipeline_figures(trained_ws: Path) -> None:
    onnx = _artifact(trained_ws, "onnx")
    out = cli("bench", str(onnx.id), *FAST, "-w", str(trained_ws), "--json")
    assert out.returncode == 0, out.stderr
    results = [json.loads(line) for line in out.stdout.splitlines()]
    rows = {r["data"]["software"]: r["data"] for r in results if r["type"] == "result"}
    assert rows.keys() == {"ONNX Runtime fp32", *(["OpenVINO fp32"] * installed("openvino"))}
    row = rows["ONNX Runtime fp32"]
    assert row["threads"] == 2 and all(r["status"] == "ok" for r in rows.values())
    assert row["latency"]["runs"] >= 3 and row["latency"]["p50_ms"] > 0
    assert row["end_to_end"]["p99_ms"] >= row["end_to_end"]["p50_ms"]
    pipeline_report = json.loads(min((trained_ws / "reports").glob("*/results.json")).read_text())
    same = next(r for r in pipeline_report["rows"] if r["software"] == "ONNX Runtime fp32")
    assert row["confusion"] == same["confusion"]  # same model, runtime and shard: same metrics


def test_bench_gate_and_junit(trained_ws: Path, tmp_path: Path) -> None:
    tflite = _artifact(trained_ws, "tflite", "int8")
    junit = tmp_path / "junit.xml"
    out = cli(
        "bench",
        str(tflite.id),
        *FAST,
        "--min-miou",
        "0.999",
        "--junit",
        str(junit),
        "-w",
        str(trained_ws),
    )
    assert out.returncode == 1
    assert "gate failed: LiteRT int8 on" in out.stderr
    suite = ET.parse(junit).getroot()
    assert suite.get("tests") == "1" and suite.get("failures") == "1"
    assert "miou" in suite.find("testcase/failure").get("message")


def test_damaged_and_wrong_model_files_are_exit_2(trained_ws: Path, tmp_path: Path) -> None:
    good = Workspace.open(trained_ws).path(_artifact(trained_ws, "tflite", "int8").path)
    truncated = tmp_path / "truncated.tflite"
    truncated.write_bytes(good.read_bytes()[:2000])
    onnx_path = Workspace.open(trained_ws).path(_artifact(trained_ws, "onnx").path)
    disguised = tmp_path / "disguised.tflite"
    shutil.copyfile(onnx_path, disguised)
    for path in (truncated, disguised):
        out = cli("bench", str(path), "--dataset", "tiny", *FAST, "-w", str(trained_ws))
        assert out.returncode == 2, out.stderr
        (line,) = out.stderr.strip().splitlines()
        assert "cannot be loaded by LiteRT" in line and "Traceback" not in out.stderr
    out = cli("bench", str(tmp_path / "model.pt"), "--dataset", "tiny", "-w", str(trained_ws))
    assert out.returncode == 2 and "unknown model file type" in out.stderr


@pytest.mark.parametrize("kind", ["onnx", "tflite", "model"])
def test_garbage_empty_and_truncated_files_never_reach_the_catalog(
    trained_ws: Path, tmp_path: Path, kind: str
) -> None:
    """bench FILE and convert FILE check the file is a whole model of its suffix first."""
    good = Workspace.open(trained_ws).path(_artifact(trained_ws, kind).path)
    copy = tmp_path / "ws"
    shutil.copytree(trained_ws, copy)
    before = len(Workspace.open(copy).catalog.artifacts())
    suffix = good.suffix
    label = {"model": "keras", "onnx": "onnx", "tflite": "tflite"}[kind]
    files = {
        "empty": b"",
        "garbage": os.urandom(4096),
        "truncated": good.read_bytes()[: good.stat().st_size // 2],
        "text": b"this is not a model\n",
    }
    for damage, data in files.items():
        path = tmp_path / f"{damage}{suffix}"
        path.write_bytes(data)
        commands = [["bench", str(path), "--dataset", "tiny", *FAST]]
        if kind == "model":
            commands.append(["convert", str(path), "--to", "onnx", "--dataset", "tiny"])
        for command in commands:
            out = cli(*command, "-w", str(copy))
            assert out.returncode == 2, (damage, out.stdout, out.stderr)
            assert "Traceback" not in out.stderr
            (line,) = out.stderr.strip().splitlines()
            assert str(path) in line and f"not a {label} model" in line, line
    assert len(Workspace.open(copy).catalog.artifacts()) == before


def test_a_keras_file_converts_with_its_fidelity_checked(trained_ws: Path, tmp_path: Path) -> None:
    copy = tmp_path / "ws"
    shutil.copytree(trained_ws, copy)
    import keras

    model = tmp_path / "colleague.keras"  # the same network, saved again: other bytes
    keras.models.load_model(Workspace.open(copy).path(_artifact(copy, "model").path)).save(model)
    out = cli("convert", str(model), "--to", "tflite", "--precision", "fp16", "--dataset",
              "tiny", "--fidelity-images", "4", "--json", "-w", str(copy))  # fmt: skip
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.splitlines()[-1])
    assert result["fidelity"]["passed"] and result["fidelity"]["images"] == 4
    catalog = Workspace.open(copy).catalog
    assert catalog.artifact(result["artifact"]).kind == "tflite"
    (imported,) = [a for a in catalog.artifacts("model") if "imported_from" in a.meta]
    assert imported.meta["imported_from"] == str(model) and imported.dataset_id is not None


def test_tampered_artifact_is_refused_by_hash(trained_ws: Path, tmp_path: Path) -> None:
    copy = tmp_path / "ws"
    shutil.copytree(trained_ws, copy)
    onnx = _artifact(copy, "onnx")
    path = Workspace.open(copy).path(onnx.path)
    path.write_bytes(path.read_bytes()[:-10])
    out = cli("bench", str(onnx.id), *FAST, "-w", str(copy))
    assert out.returncode == 2 and "does not match the catalog's sha256" in out.stderr


def test_model_and_shard_sizes_must_agree(trained_ws: Path) -> None:
    made = cli(
        "datasets",
        "synth",
        "--name",
        "small",
        "--images",
        "4",
        "--size",
        "32x32",
        "-w",
        str(trained_ws),
    )
    assert made.returncode == 0, made.stderr
    onnx = _artifact(trained_ws, "onnx")
    out = cli("bench", str(onnx.id), "--dataset", "small", *FAST, "-w", str(trained_ws))
    assert out.returncode == 2
    assert "takes 64x64 images but dataset small@" in out.stderr and "holds 32x32" in out.stderr


def test_results_and_artifacts_listings(trained_ws: Path) -> None:
    runs = json.loads(cli("results", "-w", str(trained_ws), "--json").stdout)
    assert runs and all(r["rows"] >= 1 for r in runs)
    rows = json.loads(cli("results", runs[0]["run_id"], "-w", str(trained_ws), "--json").stdout)
    assert rows[0]["software"] == "TensorFlow fp32"
    latest = cli("results", "latest", "-w", str(trained_ws))
    assert latest.returncode == 0 and "Results" in latest.stdout
    missing = cli("results", "nope", "-w", str(trained_ws))
    assert missing.returncode == 2 and "no results for run 'nope'" in missing.stderr
    listed = json.loads(cli("artifacts", "-w", str(trained_ws), "--json").stdout)
    kinds = {a["kind"] for a in listed}
    assert {"model", "savedmodel", "onnx", "tflite"} <= kinds
    table = cli("artifacts", "--kind", "tflite", "-w", str(trained_ws)).stdout
    assert "passed" in table


def test_results_sorted_against_a_chosen_row_with_histograms(trained_ws: Path) -> None:
    first = json.loads(cli("results", "-w", str(trained_ws), "--json").stdout)[0]["run_id"]
    how = ["--sort", "p50", "--delta-from", "LiteRT fp32", "--histograms"]
    out = cli("results", first, *how, "-w", str(trained_ws))
    assert out.returncode == 0, out.stderr
    lines = [line.strip("│ ").split("│") for line in out.stdout.splitlines() if "│" in line]
    headers = [h.strip() for h in out.stdout.splitlines()[2].strip("┃ ").split("┃")]
    rows = [dict(zip(headers, (c.strip() for c in line), strict=True)) for line in lines]
    p50 = [float(r["p50 ms"]) for r in rows]
    assert p50 == sorted(p50) and len(rows) == len(TINY_SOFTWARE)
    assert next(r for r in rows if r["Software"] == "LiteRT fp32")["p50 x"] == "1.00x"
    assert "against LiteRT fp32@local" in out.stdout
    assert out.stdout.count(" 5 p50 ") == len(rows)  # a histogram per row, p50 marked

    (model,) = Workspace.open(trained_ws).catalog.artifacts("model")
    across = cli("results", "--model", str(model.id), "--json", "-w", str(trained_ws))
    softwares = {r["software"] for r in json.loads(across.stdout)}
    assert {"TensorFlow fp32", "LiteRT int8", "ONNX Runtime fp32"} <= softwares
    bad = cli("results", first, "--delta-from", "Caffe fp32", "-w", str(trained_ws))
    assert bad.returncode == 2 and "--delta-from Caffe fp32: no such measured row" in bad.stderr

"""The trtexec and edgetpu_compiler parsers, on real output those tools printed for other people
(tests/data/tool-output, sources in its README); neither tool can run here."""

from __future__ import annotations

from pathlib import Path

import pytest

from backends.tensorrt.trtexec import command, parse, version_from_tag

SAMPLES = Path(__file__).parent / "data" / "tool-output"


# -- trtexec --------------------------------------------------------------------------------


def test_trtexec_summary_of_tensorrt_10_is_read() -> None:
    report = parse((SAMPLES / "trtexec-10-summary.log").read_text())
    assert report.throughput_qps == 130.298
    assert report.latency_ms == {
        "min": 5.38672,
        "max": 13.3664,
        "mean": 7.60628,
        "median": 7.16092,
        "p90": 10.2996,
        "p95": 10.8698,
        "p99": 12.9675,
    }
    assert report.gpu_compute_ms["median"] == 7.14139
    assert report.enqueue_ms["p99"] == 14.1848
    assert report.error is None


def test_trtexec_summary_pasted_from_a_jetson_with_missing_equals_signs() -> None:
    report = parse((SAMPLES / "trtexec-8-jetson-summary.log").read_text())
    assert report.latency_ms == {
        "min": 5.38959,
        "max": 6.19507,
        "mean": 5.93288,
        "median": 6.02185,
        "p99": 6.17407,
    }
    assert report.gpu_compute_ms["p99"] == 3.87793
    assert report.throughput_qps == 169.352


@pytest.mark.parametrize(
    ("sample", "version", "device", "capability"),
    [
        ("trtexec-8.6-device.log", "8.6.3", "NVIDIA GeForce RTX 2080", "7.5"),
        ("trtexec-10.16-orin-device.log", "10.16.2", "Orin", "8.7"),
        ("trtexec-10.13-banner.log", "10.13.3", None, None),
    ],
)
def test_trtexec_names_its_tensorrt_and_device(sample, version, device, capability) -> None:
    report = parse((SAMPLES / sample).read_text())
    assert (report.tensorrt, report.device, report.compute_capability) == (
        version,
        device,
        capability,
    )


def test_a_failed_trtexec_run_reports_its_specific_error() -> None:
    report = parse((SAMPLES / "trtexec-8.6-failed.log").read_text())
    assert report.error == (
        "[TRT] ModelImporter.cpp:732: ERROR: builtin_op_importers.cpp:5428 In function "
        'importFallbackPluginImporter: [8] Assertion failed: creator && "Plugin not found, are '
        'the plugin name, version, and namespace correct?"'
    )
    assert len(report.errors) == 6  # every [E] line is kept; the specific one is reported


def test_trtexec_version_tags() -> None:
    assert version_from_tag("8601") == "8.6.1"
    assert version_from_tag("8502") == "8.5.2"
    assert version_from_tag("100200") == "10.2.0"
    assert version_from_tag("101303") == "10.13.3"


def test_trtexec_arguments_are_a_list_and_int8_needs_a_cache(tmp_path: Path) -> None:
    onnx = tmp_path / "my model; rm -rf ~.onnx"  # never reaches a shell
    argv = command("trtexec", onnx, tmp_path / "out.engine", "fp16", 512, shape=(1, 64, 64, 3))
    assert argv[1] == f"--onnx={onnx}" and "--fp16" in argv
    assert "--memPoolSize=workspace:512M" in argv
    assert "--optShapes=image:1x64x64x3" in argv
    with pytest.raises(ValueError, match="trtexec cannot calibrate from images"):
        command("trtexec", onnx, tmp_path / "out.engine", "int8", 512)
    int8 = command("trtexec", onnx, "e", "int8", 512, calibration_cache=tmp_path / "c.cache")
    assert "--int8" in int8 and f"--calib={tmp_path / 'c.cache'}" in int8


# -- edgetpu_compiler -----------------------------------------------------------------------


def test_edgetpu_compiler_logs_give_the_tpu_cpu_split() -> None:
    from backends.convert.edgetpu import parse as parse_compiler

    partial = parse_compiler((SAMPLES / "edgetpu-partial.log").read_text())
    assert (partial.version, partial.total_ops, partial.tpu_ops, partial.cpu_ops) == (
        "15.0.340273435",
        84,
        78,
        6,
    )
    assert (partial.on_chip_mib, partial.off_chip_mib, partial.subgraphs) == (6.15, 7.03, 1)
    assert partial.operators[0] == {
        "operator": "CONV_2D",
        "count": 1,
        "status": "More than one subgraph is not supported",
    }
    assert partial.summary() == (
        "78 of 84 operations on the Edge TPU, 6 on the CPU "
        "(CONV_2D x1: More than one subgraph is not supported)"
    )
    mapped = parse_compiler((SAMPLES / "edgetpu-all-mapped.log").read_text())
    assert (mapped.tpu_ops, mapped.cpu_ops, mapped.off_chip_mib) == (246, 0, 0.041)
    assert all(o["status"] == "Mapped to Edge TPU" for o in mapped.operators)
    failed = parse_compiler((SAMPLES / "edgetpu-failed.log").read_text())
    assert not failed.compiled
    assert failed.error == "Compilation failed due to large activation tensors in model."

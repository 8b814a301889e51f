"""The comparison table, the latency histogram and history, on rows made here (exact data)."""

import dataclasses

import pytest

from backends.bench import compare
from backends.bench.protocol import Latency
from backends.bench.rows import BenchmarkRow


def _row(software: str, board: str | None, p50: float, miou: float, **kw) -> BenchmarkRow:
    samples = [p50 / 1000] * 40 + [p50 * 2 / 1000] * 9 + [p50 * 4 / 1000]
    return BenchmarkRow(
        name=software.lower().replace(" ", "-"),
        task="segmentation",
        software=software,
        runtime=software.split()[0].lower(),
        precision=software.rsplit(" ", 1)[-1],
        format="model" if software.startswith("TensorFlow") else "tflite",
        artifact=1,
        size_bytes=2_000_000,
        hardware=board or "x86_64",
        machine={},
        board=board,
        images=8,
        classes=("void", "person"),
        latency=Latency.from_seconds(samples, 1),
        figures={"miou": miou, "iou": {"void": 0.9, "person": miou * 2 - 0.9}},
        **kw,
    )


ROWS = [
    _row("LiteRT int8", "rpi4", 30.0, 0.70),
    _row("TensorFlow fp32", None, 10.0, 0.80),
    _row("LiteRT fp32", None, 5.0, 0.79),
    _row("LiteRT fp32", "rpi4", 60.0, 0.79),
    dataclasses.replace(_row("ONNX Runtime fp32", "rpi4", 1, 0), status="failed", error="boom"),
]


def test_hardware_as_rows_this_machine_first_failed_rows_say_why() -> None:
    table = compare.results_table(ROWS)
    assert table.headers[:2] == ["Hardware", "Software"]
    assert [(c[0], c[1]) for c in table.body] == [
        ("x86_64", "TensorFlow fp32"),
        ("x86_64", "LiteRT fp32"),
        ("rpi4", "LiteRT int8"),
        ("rpi4", "LiteRT fp32"),
        ("rpi4", "ONNX Runtime fp32"),
    ]
    assert table.body[-1][2] == "failed: boom"
    assert table.baseline is ROWS[1]  # TensorFlow fp32 here: the run's reference


def test_sorting_best_first_and_deltas_against_a_chosen_row() -> None:
    baseline = compare.find_row(ROWS, "LiteRT fp32@rpi4")
    assert baseline is ROWS[3] and compare.find_row(ROWS, "LiteRT fp32") is ROWS[2]
    table = compare.results_table(ROWS, sort="p50", baseline=baseline)
    column = table.headers.index
    assert [c[column("Software")] for c in table.body][:2] == ["LiteRT fp32", "TensorFlow fp32"]
    assert table.rows[-1].status == "failed"  # no p50: last
    cells = dict(zip(table.headers, table.body[2], strict=True))  # LiteRT int8 on rpi4
    assert cells["p50 x"] == "0.50x" and cells["ΔmIoU"] == "-0.0900"
    by_miou = compare.sort_rows(ROWS, "miou")
    assert [r.metric("miou") for r in by_miou[:2]] == [0.80, 0.79]
    with pytest.raises(KeyError, match="no column 'speed'"):
        compare.sort_rows(ROWS, "speed")
    assert compare.per_class(ROWS[0], baseline)[1] == ("person", "0.5000", "-0.1800")


def test_the_histogram_marks_p50_p90_p99_under_their_bins() -> None:
    bars, marks, legend = compare.histogram(ROWS[1].latency)
    assert bars[0] == "█" and bars[24:26] == "  " and max(map(len, (bars, marks, legend))) <= 50
    assert marks == "5" + " " * 7 + "9" + " " * 7 + "P"
    assert legend == "5 p50 10.00  9 p90 20.00  P p99 30.20 ms"
    assert "10.00-40.00 ms, 50 calls" in bars
    old = dataclasses.replace(ROWS[1].latency, histogram=())
    assert compare.histogram(old) == ["p50 10.00 p90 20.00 p99 30.20 ms"]


def test_history_and_sparklines() -> None:
    stored = [compare.StoredRow(f"run-{i}", r) for i, r in enumerate([*ROWS, ROWS[3], ROWS[3]])]
    runs = compare.history(stored, ROWS[3])
    assert [s.run_id for s in runs] == ["run-3", "run-5", "run-6"]
    assert compare.sparkline([1.0, None, 2.0, 1.5]) == "▁·█▅"
    assert compare.sparkline([3.0, 3.0]) == "▁▁" and compare.sparkline([]) == ""


def test_a_histogram_from_odd_board_figures_still_draws() -> None:
    latency = ROWS[1].latency
    below = dataclasses.replace(latency, p50_ms=latency.min_ms / 2)  # p50 under the first bin
    assert compare.histogram(below)[1].startswith("5")
    for odd in (
        dataclasses.replace(latency, p99_ms=float("nan")),
        dataclasses.replace(latency, histogram=(0,) * 24),
    ):
        assert compare.histogram(odd)[0].startswith("p50 10.00 p90")  # the values only
    data = ROWS[1].to_json()
    data["latency"]["histogram"] = [1] * 10**5  # a board's JSON: not the protocol's 24 bins
    assert BenchmarkRow.from_json(data).latency.histogram == ()


def test_the_baseline_gates_name_the_row_and_a_baseline_of_nothing_comparable() -> None:
    from backends.bench.run import check_gates
    from backends.bench.stage import Gates
    from backends.errors import BadInput

    gates = Gates(max_slowdown=0.5, max_drop=0.05, baseline="old")
    faster = [dataclasses.replace(r, latency=_row("x", None, 2.0, 0).latency) for r in ROWS]
    lines = check_gates(gates, ROWS, ("old", faster))
    assert any(
        line.startswith("LiteRT fp32 on x86_64: p50 5.00 ms is 150.0% slower than run old's")
        for line in lines
    )
    better = [dataclasses.replace(ROWS[0], figures={**ROWS[0].figures, "miou": 0.8})]
    (line,) = check_gates(Gates(max_drop=0.05, baseline="old"), ROWS, ("old", better))
    assert line.startswith("LiteRT int8 on rpi4: mIoU 0.7000 is 0.1000 below run old's 0.8000")
    other = [dataclasses.replace(r, software="Caffe fp32") for r in ROWS]
    (line,) = check_gates(gates, ROWS, ("old", other))
    assert line.startswith("--baseline old: none of its rows is of this model's family")
    with pytest.raises(BadInput, match="max_slowdown compares with a stored run"):
        Gates(max_slowdown=0.2)

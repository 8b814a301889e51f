import json

import numpy as np
import pytest

from backends import events as ev

SAMPLES = [
    ev.StageStarted(stage="train", title="Train UNet", job_id=3),
    ev.StageFinished(stage="train", status="done", seconds=1.5, detail="artifact 2"),
    ev.Progress(stage="dataset", done=3, total=10, unit="images", rate=2.5, message="train"),
    ev.Progress(stage="dataset", done=3, total=None, unit="bytes"),
    ev.Metric(stage="train", name="val_miou", value=0.5, epoch=2),
    ev.ArtifactWritten(
        stage="train",
        artifact_id=1,
        kind="model",
        path="a/b.keras",
        sha256="ab" * 32,
        size=10,
        parent_id=None,
    ),
    ev.Log(stage="train", level="warning", message="resuming"),
    ev.Error(stage="evaluate", message="boom", error_type="StageFailed"),
    ev.Result(stage="evaluate", name="tensorflow-fp32", data={"miou": 0.5, "iou": {"a": None}}),
    ev.Frame(
        stage="acquire",
        index=3,
        sha256="a" * 64,
        size=40_000,
        width=640,
        height=480,
        captured=1.5,
        score=0.25,
        path="frames/aa/" + "a" * 64 + ".jpg",
        board="rpi4",
    ),
    ev.Prediction(
        stage="serve",
        index=7,
        mask_width=160,
        mask_height=120,
        jpeg_size=0,
        size=19200,
        inference_ms=3.5,
        e2e_ms=9.25,
        shares=[0.5, 0.25, 0.25],
        captured=2.0,
    ),
]


@pytest.mark.parametrize("event", SAMPLES, ids=lambda e: type(e).__name__)
def test_round_trip(event: ev.Event) -> None:
    line = ev.encode(event)
    assert "\n" not in line
    payload = json.loads(line)
    assert payload["schema"] == ev.SCHEMA_VERSION
    assert ev.decode(line) == event


def test_every_event_type_has_a_sample() -> None:
    assert {type(e) for e in SAMPLES} == set(ev.EVENT_TYPES.values())


def test_numpy_values_encode_as_plain_json() -> None:
    event = ev.Result(stage="s", name="n", data={"m": np.arange(3), "x": np.float32(0.5)})
    assert json.loads(ev.encode(event))["data"] == {"m": [0, 1, 2], "x": 0.5}


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("not json", "not a JSON event line"),
        ("[1]", "expected an object"),
        ('{"schema": 99, "type": "log"}', "schema 99"),
        ('{"schema": 1, "type": "nope", "stage": "x"}', "unknown event type"),
        (
            '{"schema": 1, "type": "log", "stage": "x", "level": "info", "message": "m", "z": 1}',
            "unknown fields",
        ),
    ],
)
def test_decode_rejects_bad_lines(line: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ev.decode(line)


def test_progress_reporter_throttles_but_always_reports_first_and_last() -> None:
    seen: list[ev.Event] = []
    reporter = ev.ProgressReporter(seen.append, "s", total=10_000, unit="items", interval=60)
    for _ in range(10_000):
        reporter.advance()
    assert [e.done for e in seen] == [1, 10_000]
    assert all(isinstance(e, ev.Progress) and e.rate and e.rate > 0 for e in seen)

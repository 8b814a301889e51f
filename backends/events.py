"""Typed progress and result events, and their JSON-lines codec.

Every stage reports only through an ``Emit`` callable that receives these events. The headless
runner renders them as Rich progress or JSON lines, the app turns them into messages, and the
board agent writes them as JSON lines on stdout: one schema everywhere.
"""

from __future__ import annotations

import json
import time
import typing
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal

SCHEMA_VERSION = 1

StageStatus = Literal["done", "failed", "skipped", "interrupted", "cancelled"]


@dataclass(frozen=True)
class Event:
    """Base of every event. Each subclass declares ``stage`` first and then ``board`` (the
    board it is about; None for this workstation), ``job_id`` (its catalog job, if any) and
    ``ts`` (seconds since the epoch) last, so the module runs on the Python 3.8 of a board (no
    ``kw_only``); events of work on a Ray cluster also name its ``worker``. Front ends route
    events by these fields, never by parsing stage names."""

    stage: str


def _now() -> float:
    return time.time()


@dataclass(frozen=True)
class StageStarted(Event):
    stage: str
    title: str
    board: str | None = None
    job_id: int | None = None
    worker: str | None = None  # the Ray worker (host:pid) that did it; None: here
    ts: float = field(default_factory=_now)


@dataclass(frozen=True)
class StageFinished(Event):
    stage: str
    status: StageStatus
    seconds: float
    detail: str = ""
    board: str | None = None  # the board it is about (None: this workstation)
    job_id: int | None = None  # the catalog job it belongs to
    worker: str | None = None  # the Ray worker (host:pid) that did it; None: here
    ts: float = field(default_factory=_now)


@dataclass(frozen=True)
class Progress(Event):
    """``done`` of ``total`` ``unit`` (total None when unknown); ``rate`` in units per second."""

    stage: str
    done: float
    total: float | None
    unit: str
    rate: float | None = None
    message: str = ""
    board: str | None = None  # the board it is about (None: this workstation)
    job_id: int | None = None  # the catalog job it belongs to
    worker: str | None = None  # the Ray worker (host:pid) that did it; None: here
    ts: float = field(default_factory=_now)


@dataclass(frozen=True)
class Metric(Event):
    """A named scalar, e.g. ``loss`` at ``step`` or ``val_miou`` at ``epoch``."""

    stage: str
    name: str
    value: float
    epoch: int | None = None
    step: int | None = None
    board: str | None = None  # the board it is about (None: this workstation)
    job_id: int | None = None  # the catalog job it belongs to
    worker: str | None = None  # the Ray worker (host:pid) that did it; None: here
    ts: float = field(default_factory=_now)


@dataclass(frozen=True)
class ArtifactWritten(Event):
    stage: str
    artifact_id: int
    kind: str
    path: str
    sha256: str
    size: int
    parent_id: int | None = None
    board: str | None = None  # the board it is about (None: this workstation)
    job_id: int | None = None  # the catalog job it belongs to
    worker: str | None = None  # the Ray worker (host:pid) that did it; None: here
    ts: float = field(default_factory=_now)


@dataclass(frozen=True)
class Log(Event):
    stage: str
    level: Literal["debug", "info", "warning"]
    message: str
    board: str | None = None  # the board it is about (None: this workstation)
    job_id: int | None = None  # the catalog job it belongs to
    worker: str | None = None  # the Ray worker (host:pid) that did it; None: here
    ts: float = field(default_factory=_now)


@dataclass(frozen=True)
class Error(Event):
    stage: str
    message: str
    error_type: str
    board: str | None = None  # the board it is about (None: this workstation)
    job_id: int | None = None  # the catalog job it belongs to
    worker: str | None = None  # the Ray worker (host:pid) that did it; None: here
    ts: float = field(default_factory=_now)


@dataclass(frozen=True)
class Result(Event):
    """A finished result row (an evaluation, a benchmark); ``data`` is JSON-ready."""

    stage: str
    name: str
    data: Mapping[str, Any]
    board: str | None = None  # the board it is about (None: this workstation)
    job_id: int | None = None  # the catalog job it belongs to
    worker: str | None = None  # the Ray worker (host:pid) that did it; None: here
    ts: float = field(default_factory=_now)


@dataclass(frozen=True)
class Frame(Event):
    """One camera frame: a JPEG of ``size`` bytes. From the board agent, the JPEG's bytes follow
    the event's line on stdout (binary, not base64); the workstation stores them and passes the
    event on with ``path``, the stored file in the workspace. ``score`` is the model's mean pixel
    entropy when frames are chosen by uncertainty."""

    stage: str
    index: int  # the frame's number in the capture (0 first), before any were dropped
    sha256: str
    size: int  # bytes of the JPEG
    width: int
    height: int
    captured: float  # seconds since the epoch, on the board's clock
    score: float | None = None
    path: str = ""
    board: str | None = None  # the board it is about (None: this workstation)
    job_id: int | None = None  # the catalog job it belongs to
    ts: float = field(default_factory=_now)


@dataclass(frozen=True)
class Prediction(Event):
    """One served frame: the model's class mask at ``mask_width`` x ``mask_height`` (uint8, one
    byte a pixel, row-major) and, every k-th frame, the frame's JPEG (``jpeg_size`` bytes; 0:
    none) follow the event's line on stdout, ``size`` bytes in all. Latencies in milliseconds:
    ``inference_ms`` the runtime's call alone, ``e2e_ms`` capture to mask."""

    stage: str
    index: int
    mask_width: int
    mask_height: int
    jpeg_size: int
    size: int
    inference_ms: float
    e2e_ms: float
    shares: list[float]  # each class's share of the frame
    captured: float  # seconds since the epoch, on the board's clock
    board: str | None = None  # the board it is about (None: this workstation)
    job_id: int | None = None  # the catalog job it belongs to
    ts: float = field(default_factory=_now)


PAYLOADS = (Frame, Prediction)  # events whose line is followed by ``size`` bytes of payload

Emit = typing.Callable[[Event], None]  # typing's, not collections.abc's: boards run Python 3.8


EVENT_TYPES: dict[str, type[Event]] = {
    "stage_started": StageStarted,
    "stage_finished": StageFinished,
    "progress": Progress,
    "metric": Metric,
    "artifact_written": ArtifactWritten,
    "log": Log,
    "error": Error,
    "result": Result,
    "frame": Frame,
    "prediction": Prediction,
}
_TYPE_NAMES = {cls: name for name, cls in EVENT_TYPES.items()}


def encode(event: Event) -> str:
    """One JSON line (no newline) carrying the schema version and the event type."""
    payload = {"schema": SCHEMA_VERSION, "type": _TYPE_NAMES[type(event)], **asdict(event)}
    return json.dumps(payload, separators=(",", ":"), allow_nan=False, default=_json_default)


def decode(line: str) -> Event:
    """Parse a line written by :func:`encode`; raises ``ValueError`` naming what is wrong."""
    try:
        payload = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not a JSON event line: {exc}") from None
    if not isinstance(payload, dict):
        raise ValueError("not a JSON event line: expected an object")
    schema = payload.pop("schema", None)
    if schema != SCHEMA_VERSION:
        raise ValueError(f"event schema {schema!r} is not supported (expected {SCHEMA_VERSION})")
    cls = EVENT_TYPES.get(payload.pop("type", None))
    if cls is None:
        raise ValueError("unknown event type")
    names = {f.name for f in fields(cls)}
    unknown = set(payload) - names
    if unknown:
        raise ValueError(f"unknown fields for {cls.__name__}: {sorted(unknown)}")
    return cls(**payload)


def _json_default(value: Any) -> Any:
    # numpy scalars and arrays reach events through metrics; keep numpy out of this module.
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


class ProgressReporter:
    """Emits ``Progress`` for a counted loop: a smoothed rate, at most every ``interval`` seconds
    (plus the first and last update), so a fast loop cannot flood the renderers."""

    def __init__(
        self,
        emit: Emit,
        stage: str,
        total: float | None,
        unit: str,
        interval: float = 0.1,
        board: str | None = None,
    ) -> None:
        self._emit, self._stage, self._total, self._unit = emit, stage, total, unit
        self._board = board
        self._interval = interval
        self._start = self._last_emit = time.monotonic()
        self.done = 0.0

    def advance(self, amount: float = 1, message: str = "") -> None:
        self.done += amount
        now = time.monotonic()
        finished = self._total is not None and self.done >= self._total
        if finished or now - self._last_emit >= self._interval or self.done == amount:
            self._last_emit = now
            elapsed = now - self._start
            self._emit(
                Progress(
                    stage=self._stage,
                    board=self._board,
                    done=self.done,
                    total=self._total,
                    unit=self._unit,
                    rate=self.done / elapsed if elapsed > 0 else None,
                    message=message,
                )
            )

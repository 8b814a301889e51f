"""Live inference on a board: ``serve()``, for the CLI (a preview or a headless soak), the app's
board screen and Python alike.

The artifact is deployed to its slot on the board (nothing sent when it is current) and the
board's agent runs capture -> preprocess -> inference -> postprocess with it
(``backends/agent/serve.py``), streaming a downsampled class mask and the latencies of every
frame, and every k-th frame's JPEG. Here each result is checked, counted (frames/s over the last
two seconds, p50/p99 latencies, frames lost), handed to the viewer, and with ``record`` the
frames that came with a JPEG are kept, with the model's masks as pre-labels, as an unlabelled
dataset version. Stopping (``until``, Ctrl-C, the connection dropping) ends the board's process.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar

import numpy as np

from backends import events as ev
from backends.acquire.frames import CaptureWriter
from backends.boards.fleet import default_slot, each_board
from backends.boards.inventory import Inventory
from backends.boards.session import BoardSession
from backends.config import Bounded, bounded
from backends.errors import BadInput, GateFailed, StageFailed
from backends.formats import Format
from backends.tensorrt.boards import check_engine
from backends.workspace import Workspace

STAGE = "serve"
FIGURES_EVERY = 0.1  # seconds between the viewer's figures


@dataclass(frozen=True)
class Serve(Bounded):
    """A deployed model on a board's camera, live."""

    artifact: int = 0  # the model (an artifact id): TFLite, ONNX, an engine...
    board: str = "local"  # a board of devices.toml (local: this workstation)
    camera: str | None = None  # opened on the board (acquire --camera); None: devices.toml's
    runtime: str | None = None  # default: the first its format has
    threads: int = bounded(0, 0, 256)  # the runtime's threads (0: its default)
    seconds: float | None = bounded(None, 0.1, 604_800)  # stop after (None: until stopped)
    every: int = bounded(5, 1, 100_000)  # a frame's JPEG comes with every k-th result
    mask_width: int | None = bounded(None, 0, 16384)  # sent mask width (0: the frame's;
    # default 160, or the frame's with record)
    size: tuple[int, int] | None = bounded(None, 16, 16384)  # [width, height] of the frames
    http: int | None = bounded(None, 1, 65535)  # MJPEG with the overlay on this board port
    local_port: int = bounded(0, 0, 65535)  # where http is forwarded here (0: any free port)
    record: str | None = None  # keep the JPEG frames, masks as pre-labels, as this dataset
    min_fps: float | None = bounded(None, 0, 100_000)  # gate: exit 1 when slower

    SECTION: ClassVar[str] = "serve"

    @property
    def sent_mask_width(self) -> int:
        return self.mask_width if self.mask_width is not None else (0 if self.record else 160)


@dataclass
class Live:
    """What a viewer draws: the newest frame (RGB, as the board last sent one), the newest mask,
    and the running figures."""

    index: int
    mask: np.ndarray = field(repr=False)
    frame: np.ndarray | None = field(repr=False)
    shares: list[float]
    figures: dict[str, Any]


class ServeStats:
    """Frames/s over a sliding window, latency percentiles over the run, frames lost."""

    WINDOW = 2.0  # seconds

    def __init__(self) -> None:
        self.arrivals: deque[float] = deque()
        self.inference: list[float] = []
        self.e2e: list[float] = []
        self.frames = 0
        self.lost = 0
        self.first: float | None = None
        self._next = 0

    def add(self, event: ev.Prediction, now: float) -> None:
        self.first = self.first if self.first is not None else now
        self.lost += max(0, event.index - self._next)
        self._next = event.index + 1
        self.frames += 1
        self.inference.append(event.inference_ms)
        self.e2e.append(event.e2e_ms)
        self.arrivals.append(now)
        while self.arrivals and now - self.arrivals[0] > self.WINDOW:
            self.arrivals.popleft()

    @property
    def fps(self) -> float:
        if len(self.arrivals) < 2:
            return 0.0
        return (len(self.arrivals) - 1) / max(1e-9, self.arrivals[-1] - self.arrivals[0])

    def summary(self, now: float) -> dict[str, Any]:
        def pct(values: list[float], q: float) -> float | None:
            return float(np.percentile(values, q)) if values else None

        seconds = now - self.first if self.first is not None else 0.0
        return {
            "frames": self.frames,
            "seconds": seconds,
            "fps": (self.frames - 1) / seconds if self.frames > 1 and seconds > 0 else 0.0,
            "inference_p50_ms": pct(self.inference, 50),
            "inference_p99_ms": pct(self.inference, 99),
            "e2e_p50_ms": pct(self.e2e, 50),
            "e2e_p99_ms": pct(self.e2e, 99),
            "lost": self.lost,
        }


async def serve(
    ws: Workspace,
    inventory: Inventory,
    settings: Serve,
    emit: ev.Emit,
    on_live: Callable[[Live], None] | None = None,
    until: asyncio.Event | None = None,
) -> dict[str, Any]:
    """Serve ``settings.artifact`` on ``settings.board`` until ``seconds`` pass or ``until``
    is set; returns the run's figures (and raises ``GateFailed`` below ``min_fps``)."""
    board = inventory.get(settings.board)
    artifact = ws.catalog.artifact(settings.artifact)
    fmt = Format.of(artifact)
    runtime = settings.runtime or (fmt.runtimes[0] if fmt.runtimes else None)
    if runtime is None or runtime not in fmt.runtimes:
        raise BadInput(f"artifact {artifact.id} ({artifact.kind}) is not run by {runtime!r}")
    classes = _classes(ws, artifact)
    local = ws.verify(artifact)
    camera = settings.camera or board.camera
    stats = ServeStats()
    stopping = until or asyncio.Event()
    summary: dict[str, Any] = {}
    frame: list[np.ndarray | None] = [None]
    figures: list[Any] = [{}, -FIGURES_EVERY]  # the viewer's figures, and when they were made
    facts = {"board": board.name, "camera": camera, "model": artifact.id, "runtime": runtime}
    writer = None
    if settings.record:
        writer = CaptureWriter(ws, settings.record, facts | {"started": time.time()})

    def on_event(event: ev.Event) -> None:
        if isinstance(event, ev.Result) and event.name == "serve":
            if not isinstance(event.data, dict):
                raise StageFailed(f"board {board.name}: the serve summary is not an object")
            summary.update(event.data)
        else:
            emit(event)

    def on_prediction(event: Any, data: bytes) -> None:
        if not isinstance(event, ev.Prediction):
            raise StageFailed(f"board {board.name}: sent a frame where a prediction belongs")
        mask, jpeg = _split(board.name, event, data)
        stats.add(event, time.monotonic())
        if jpeg:
            from backends.uncertainty import decode_jpeg

            frame[0] = decode_jpeg(jpeg)
            if writer is not None:
                _record(writer, event, jpeg, mask, frame[0].shape[:2])
        if on_live is not None:
            now = time.monotonic()
            if now - figures[1] >= FIGURES_EVERY:  # percentiles over the run: not per frame
                figures[:] = [{**stats.summary(now), "fps_now": stats.fps}, now]
            on_live(Live(event.index, mask, frame[0], list(event.shares), figures[0]))

    async def work(session: BoardSession) -> None:
        slot = default_slot(artifact)
        await check_engine(session, artifact)  # before the slot's model is replaced
        await session.deploy(local, artifact.sha256, slot)
        request: dict[str, Any] = {
            "command": "serve",
            "camera": camera,
            "model": session.path("deployed", slot, "current", local.name),
            "runtime": runtime,
            "threads": settings.threads,
            "options": _options(runtime, artifact.meta),
            "every": settings.every,
            "mask_width": settings.sent_mask_width,
            "size": list(settings.size) if settings.size else None,
            "seconds": settings.seconds,
            "classes": classes,
            "http": settings.http,
        }
        if settings.http:
            port = await session.transport.forward(settings.local_port, settings.http)
            emit(
                ev.Log(
                    stage=STAGE,
                    level="info",
                    message=f"watch it in a browser: http://127.0.0.1:{port}/",
                    board=board.name,
                )
            )
        await session.run_agent(request, on_event, stopping, on_payload=on_prediction)

    job_params = {**asdict(settings), "camera": camera, "runtime": runtime}
    with ws.job(STAGE, uuid.uuid4().hex, job_params) as job_id:
        try:
            outcome = (await each_board([board], inventory, work, limit=1))[board.name]
            if isinstance(outcome, BaseException):
                raise outcome
        finally:
            if writer is not None and writer.frames:
                reason = str(summary.get("reason") or "stopped")
                record = writer.finish(partial=False, reason=reason, job_id=job_id)
                emit(
                    ev.Log(
                        stage=STAGE,
                        level="info",
                        message=f"kept {record.manifest['images']} served frames with their "
                        f"masks as {record.name}@{record.version}",
                    )
                )
    figures = {
        **stats.summary(time.monotonic()),
        "board": board.name,
        "artifact": artifact.id,
        "runtime": runtime,
        "camera": camera,
        "reason": summary.get("reason"),
        "runtime_version": summary.get("runtime_version"),
        "temperature_start_c": summary.get("temperature_start_c"),
        "temperature_end_c": summary.get("temperature_end_c"),
    }
    emit(ev.Result(stage=STAGE, name=board.name, data=figures, board=board.name))
    if settings.min_fps is not None and figures["fps"] < settings.min_fps:
        raise GateFailed(
            f"serve on {board.name}: {figures['fps']:.1f} frames/s is below --min-fps "
            f"{settings.min_fps:g}"
        )
    return figures


def _split(board: str, event: ev.Prediction, data: bytes) -> tuple[np.ndarray, bytes]:
    """The mask and the JPEG of one prediction's payload, their sizes checked."""
    for name in ("mask_width", "mask_height", "jpeg_size", "index"):
        value = getattr(event, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise StageFailed(f"board {board}: prediction field {name!r} is {value!r}")
    pixels = event.mask_width * event.mask_height
    if pixels + event.jpeg_size != len(data) or not pixels:
        raise StageFailed(f"board {board}: prediction {event.index} is not the size it says")
    if not isinstance(event.shares, list):
        raise StageFailed(f"board {board}: prediction field 'shares' is not a list")
    mask = np.frombuffer(data, np.uint8, pixels).reshape(event.mask_height, event.mask_width)
    return mask, data[pixels:]


def _record(
    writer: CaptureWriter,
    event: ev.Prediction,
    jpeg: bytes,
    mask: np.ndarray,
    shape: tuple[int, int],
) -> None:
    """One served frame into the recording, the model's mask as its pre-label."""
    frame = ev.Frame(
        stage=STAGE,
        index=event.index,
        sha256=hashlib.sha256(jpeg).hexdigest(),
        size=len(jpeg),
        width=shape[1],
        height=shape[0],
        captured=event.captured,
        board=event.board,
    )
    writer.add(frame, jpeg)
    writer.add_prelabel(mask)


def _classes(ws: Workspace, artifact: Any) -> int:
    if artifact.dataset_id is None:
        return 0
    return len(ws.catalog.dataset_by_id(artifact.dataset_id).manifest.get("classes", []))


def _options(runtime: str, meta: dict[str, Any]) -> dict[str, Any]:
    """What the runtime takes from the artifact (a TensorRT engine's fingerprint)."""
    from backends.formats import RUNTIMES

    return {k: meta[k] for k in RUNTIMES[runtime].artifact_options if k in meta}

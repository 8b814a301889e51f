"""Capture frames on a board and keep them here: ``acquire()``, for the CLI, the app, the
pipeline stage and the Python API alike.

The board's agent opens the camera, encodes JPEG and streams the frames over the SSH connection
it was started on (``backends/agent/capture.py``); here each frame is checked and stored as it
arrives, and at the end they become an unlabelled dataset version. A capture stopped early (the
caller's ``until``, Ctrl-C, a board that drops) keeps the frames that arrived, as a version marked
partial, and then reports why it stopped.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import asdict, dataclass
from typing import ClassVar, Literal

from backends import events as ev
from backends.acquire.frames import CaptureWriter
from backends.boards.fleet import each_board
from backends.boards.inventory import Inventory
from backends.boards.session import BoardSession
from backends.catalog import DatasetRecord
from backends.config import Bounded, bounded
from backends.errors import BadInput, MllibError, StageFailed
from backends.formats import Format
from backends.workspace import Workspace

STAGE = "acquire"


@dataclass(frozen=True)
class Acquire(Bounded):
    """Frames from a board's camera into an unlabelled dataset version."""

    board: str = "local"  # a board of devices.toml (local: this workstation)
    camera: str | None = None  # opened on the board (acquire --camera); None: devices.toml's
    frames: int = bounded(100, 1, 100_000)  # frames to keep
    interval: float = bounded(1.0, 0.0, 3600.0)  # seconds between frames (0: as fast as it can)
    size: tuple[int, int] | None = bounded(None, 16, 16384)  # [width, height]; None: the camera's
    quality: int = bounded(90, 1, 100)  # JPEG quality, when the board encodes
    dataset: str = "capture"  # the dataset name the frames are kept under
    keep: Literal["all", "uncertain"] = "all"  # uncertain: the frames the model is least sure of
    model: int | None = None  # artifact id of the model that scores frames (keep = "uncertain")
    runtime: str | None = None  # runtime for the model (default: the first its format has)
    candidates: int | None = bounded(None, 1, 1_000_000)  # frames examined (default 10 x frames)
    threads: int = bounded(0, 0, 256)  # the runtime's threads (0: its default)

    SECTION: ClassVar[str] = "acquire"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.keep == "uncertain" and self.model is None:
            raise BadInput("acquire: keep = 'uncertain' needs a model (an artifact id) to score")


async def acquire(
    ws: Workspace,
    inventory: Inventory,
    settings: Acquire,
    emit: ev.Emit,
    until: asyncio.Event | None = None,
) -> DatasetRecord:
    """Capture on ``settings.board`` until its frames are taken or ``until`` is set; the
    frames that arrived become version ``settings.dataset@VERSION`` (partial when it stopped
    early). A board that fails midway raises after its frames are kept."""
    board = inventory.get(settings.board)
    camera = settings.camera or board.camera
    artifact = ws.catalog.artifact(settings.model) if settings.keep == "uncertain" else None
    runtime = settings.runtime
    if artifact is not None and runtime is None:
        runtime = Format.of(artifact).runtimes[0]
    examine = settings.candidates or (10 * settings.frames if artifact else settings.frames)
    writer = CaptureWriter(
        ws,
        settings.dataset,
        {
            "board": board.name,
            **{k: v for k, v in asdict(settings).items() if k not in ("board", "dataset")},
            "camera": camera,
            "runtime": runtime,
            "candidates": examine,
            "started": time.time(),
        },
    )
    stopping = until or asyncio.Event()
    summary: dict[str, object] = {}

    def on_event(event: ev.Event) -> None:
        if isinstance(event, ev.Result) and event.name == "capture":
            if not isinstance(event.data, dict):
                raise StageFailed(f"board {board.name}: the capture's summary is not an object")
            summary.update(event.data)
            writer.capture |= {k: event.data.get(k) for k in ("backend", "examined")}
        else:
            emit(event)

    def on_frame(event: ev.Frame, data: bytes) -> None:
        if len(writer.frames) >= settings.frames:  # a board that keeps sending is refused
            raise StageFailed(f"board {board.name}: sent more than the {settings.frames} frames")
        emit(writer.add(event, data))

    async def work(session: BoardSession) -> None:
        request: dict[str, object] = {
            "command": "capture",
            "camera": camera,
            "frames": settings.frames,
            "interval": settings.interval,
            "size": list(settings.size) if settings.size else None,
            "quality": settings.quality,
            "keep": settings.keep,
            "candidates": examine,
        }
        if artifact is not None:
            model = await session.upload(ws.verify(artifact), artifact.sha256)
            request |= {"model": model, "runtime": runtime, "threads": settings.threads}
        await session.run_agent(request, on_event, stopping, on_payload=on_frame)

    with ws.job(STAGE, uuid.uuid4().hex, asdict(settings)) as job_id:
        try:
            outcome = (await each_board([board], inventory, work, limit=1))[board.name]
            if isinstance(outcome, BaseException):
                raise outcome
        except (KeyboardInterrupt, asyncio.CancelledError, MllibError, OSError) as exc:
            if writer.frames:
                reason = str(exc) or type(exc).__name__
                emit(_kept(writer.finish(partial=True, reason=reason, job_id=job_id)))
            raise
        complete = bool(summary.get("complete")) and len(writer.frames) >= min(
            settings.frames, examine
        )
        if not writer.frames:
            raise BadInput(
                f"board {board.name}: camera {camera!r} gave no frames "
                f"({summary.get('reason', 'no reason given')})"
            )
        record = writer.finish(
            partial=not complete, reason=str(summary.get("reason", "")), job_id=job_id
        )
    emit(_kept(record))
    return record


def _kept(record: DatasetRecord) -> ev.Log:
    """What the catalog now holds (a version captured before with the same frames included)."""
    manifest = record.manifest
    how = f"partial: {manifest['capture']['reason']}" if manifest["partial"] else "complete"
    return ev.Log(
        stage=STAGE,
        level="warning" if manifest["partial"] else "info",
        message=f"kept {manifest['images']} frames as {record.name}@{record.version} ({how})",
    )

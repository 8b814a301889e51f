"""Frames from the board's camera (``capture``): captured and JPEG-encoded here, on the board,
and streamed to the workstation as they are taken, each a ``Frame`` event line followed by the
JPEG's bytes.

    {"command": "capture", "camera": "0", "frames": N, "interval": S, "size": [W, H] | null,
     "quality": Q, "keep": "all" | "uncertain", "candidates": M,
     "model": PATH, "runtime": NAME, "threads": T}

``keep: uncertain`` runs the model on each of ``candidates`` frames as it arrives and sends only
the ``frames`` it is least sure of (highest mean pixel entropy), with their scores, at the end:
labelling time goes where it helps, and the link carries only what is kept. A capture stopped
early (stdin closed, a signal) still sends what it holds.
"""

from __future__ import annotations

import hashlib
import heapq
import time
from pathlib import Path

from backends import events as ev
from backends.agent.camera import Shot, open_camera
from backends.agent.request import Request, emit, emit_payload
from backends.errors import BadInput

STAGE = "acquire"


def capture(request: Request) -> int:
    wanted = int(request.number("frames"))
    interval = float(request.number("interval", 0.0))
    quality = int(request.number("quality", 90))
    keep = request.text("keep", "all")
    if keep not in ("all", "uncertain"):
        raise BadInput(f"keep {keep!r}: use 'all' or 'uncertain'")
    if wanted < 1 or interval < 0 or not 1 <= quality <= 100:
        raise BadInput("frames must be at least 1, interval at least 0, quality 1 to 100")
    runtime = None
    if keep == "uncertain":
        from backends.runtimes import load

        runtime = load(
            request.text("runtime"),
            Path(request.text("model")),
            threads=int(request.number("threads", 0)),
        )
    examine = int(request.number("candidates", wanted)) if runtime else wanted
    stop = request.stop()
    camera = open_camera(request.text("camera", "0"), request.size("size"), quality)
    start = time.monotonic()
    emit(ev.StageStarted(stage=STAGE, title=f"{examine} frames from {camera.name}"))
    emit(
        ev.Log(
            stage=STAGE,
            level="info",
            message=f"camera {camera.name} opened with {camera.backend}",
        )
    )
    progress = ev.ProgressReporter(emit, STAGE, examine, "frames")
    held: list[tuple[float, int, Shot]] = []  # (score, index, shot): the least sure so far
    index, sent, reason = 0, 0, f"{examine} frames taken"
    try:
        while index < examine:
            due = time.monotonic() + interval
            shot = camera.read()
            if shot is None:
                reason = f"the camera gave no more frames after {index}"
                break
            if runtime is None:
                _send(index, shot, None)
                sent += 1
            else:
                from backends.uncertainty import score_jpeg

                entry = (score_jpeg(runtime, shot.jpeg), -index, shot)
                (heapq.heappush if len(held) < wanted else heapq.heappushpop)(held, entry)
            index += 1
            progress.advance()
            if index < examine and stop.wait(max(0.0, due - time.monotonic())):
                reason = stop.reason
                break
    finally:
        camera.close()
        for score, negative, shot in sorted(held, key=lambda e: (-e[0], -e[1])):
            _send(-negative, shot, score)
            sent += 1
    emit(
        ev.Result(
            stage=STAGE,
            name="capture",
            data={
                "camera": camera.name,
                "backend": camera.backend,
                "examined": index,
                "sent": sent,
                "complete": index >= examine,
                "reason": reason,
            },
        )
    )
    emit(
        ev.StageFinished(
            stage=STAGE,
            status="done",
            seconds=time.monotonic() - start,
            detail=f"{sent} frames sent of {index} taken; {reason}",
        )
    )
    return 0


def _send(index: int, shot: Shot, score: float | None) -> None:
    emit_payload(
        ev.Frame(
            stage=STAGE,
            index=index,
            sha256=hashlib.sha256(shot.jpeg).hexdigest(),
            size=len(shot.jpeg),
            width=shot.width,
            height=shot.height,
            captured=shot.captured,
            score=score,
        ),
        shot.jpeg,
    )

"""Live inference on the board's camera (``serve``): capture, preprocess, inference and
postprocess here, on the board, with the deployed model; per frame a ``Prediction`` event (the
class mask, downsampled, its class shares and latencies) followed by the mask's bytes and, every
``every``-th frame, the frame's JPEG; until the workstation stops it (stdin closed, the
connection dropped) or ``seconds`` pass.

    {"command": "serve", "camera": ..., "model": PATH, "runtime": NAME, "threads": T,
     "options": {...}, "every": K, "mask_width": W (0: the frame's), "size": [W, H] | null,
     "quality": Q, "seconds": S | null, "http": PORT | null}

``http`` also serves the frames with their masks drawn over them as MJPEG on the board's
loopback (``http://127.0.0.1:PORT/``), for a browser through an SSH forward, as the original's
Flask demo did; it ends with the command.
"""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from backends import events as ev
from backends.agent.camera import encode_jpeg, open_camera
from backends.agent.probe import temperature
from backends.agent.request import Request, emit, emit_payload

STAGE = "serve"
BOUNDARY = "mllib-frame"


def serve(request: Request) -> int:
    import numpy as np

    from backends.live import predict, resample, shares
    from backends.runtimes import load

    runtime = load(
        request.text("runtime"),
        Path(request.text("model")),
        threads=int(request.number("threads", 0)),
        **request.table("options", {}),
    )
    every = max(1, int(request.number("every", 5)))
    mask_width = int(request.number("mask_width", 160))
    quality = int(request.number("quality", 80))
    classes = int(request.number("classes", 0))  # the model's class count (0: as seen)
    stop = request.stop()
    camera = open_camera(request.text("camera", "0"), request.size("size"), quality, pixels=True)
    port = request.number("http", None)
    stream = Mjpeg(int(port)) if port else None
    started, heat = time.monotonic(), temperature()
    emit(ev.StageStarted(stage=STAGE, title=f"{runtime.name} on {camera.name}"))
    index, reason = 0, "stopped"
    try:
        while not stop.reached():
            begin = time.perf_counter()
            got = camera.grab()
            if got is None:
                reason = f"the camera gave no more frames after {index}"
                break
            bgr, captured = got
            mask, inference = predict(runtime, bgr)
            small = np.ascontiguousarray(resample(mask, mask_width, bgr.shape[:2]))
            figures = shares(mask, classes or int(mask.max()) + 1)
            e2e = time.perf_counter() - begin
            jpeg = encode_jpeg(bgr, quality) if index % every == 0 else b""
            body = small.tobytes() + jpeg
            emit_payload(
                ev.Prediction(
                    stage=STAGE,
                    index=index,
                    mask_width=int(small.shape[1]),
                    mask_height=int(small.shape[0]),
                    jpeg_size=len(jpeg),
                    size=len(body),
                    inference_ms=inference * 1000,
                    e2e_ms=e2e * 1000,
                    shares=figures,
                    captured=captured,
                ),
                body,
            )
            if stream is not None:
                stream.publish(bgr, resample(mask, 0, bgr.shape[:2]), quality)
            index += 1
        else:
            reason = stop.reason
    finally:
        camera.close()
        if stream is not None:
            stream.close()
    seconds = time.monotonic() - started
    emit(
        ev.Result(
            stage=STAGE,
            name="serve",
            data={
                "frames": index,
                "seconds": seconds,
                "reason": reason,
                "runtime_version": runtime.version,
                "temperature_start_c": heat,
                "temperature_end_c": temperature(),
            },
        )
    )
    emit(ev.StageFinished(stage=STAGE, status="done", seconds=seconds, detail=reason))
    return 0


class Mjpeg:
    """The newest frame with its mask over it, as ``multipart/x-mixed-replace`` JPEG parts to
    every client of ``http://127.0.0.1:PORT/`` (the board's loopback only)."""

    def __init__(self, port: int) -> None:
        self._changed = threading.Condition()
        self._jpeg = b""
        self._open = True
        stream = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY}")
                self.end_headers()
                sent = b""
                while True:
                    jpeg = stream.wait(sent)
                    if jpeg is None:
                        return
                    part = (
                        f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\n"
                        f"Content-Length: {len(jpeg)}\r\n\r\n"
                    ).encode()
                    try:
                        self.wfile.write(part + jpeg + b"\r\n")
                    except OSError:  # the viewer went away
                        return
                    sent = jpeg

            def log_message(self, *args: Any) -> None:
                pass  # stdout carries events only

        self._server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def publish(self, bgr: Any, mask: Any, quality: int) -> None:
        from backends.palette import overlay

        drawn = overlay(bgr[..., ::-1], mask)[..., ::-1]
        jpeg = encode_jpeg(drawn, quality)
        with self._changed:
            self._jpeg = jpeg
            self._changed.notify_all()

    def wait(self, sent: bytes) -> bytes | None:
        """The next frame after ``sent`` (None once closed)."""
        with self._changed:
            self._changed.wait_for(lambda: not self._open or self._jpeg is not sent, timeout=5)
            return self._jpeg if self._open else None

    def close(self) -> None:
        with self._changed:
            self._open = False
            self._changed.notify_all()
        self._server.shutdown()
        self._server.server_close()

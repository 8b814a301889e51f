"""Live inference on the board's camera (``serve``): capture, preprocess, inference and
postprocess here, on the board, with the deployed model; per frame a ``Prediction`` event (the
class mask, downsampled, its class shares and latencies) followed by the mask's bytes and, every
``every``-th frame, the frame's JPEG; until the workstation stops it (stdin closed, the
connection dropped) or ``seconds`` pass.

Three threads overlap the work, as a camera's frames arrive while the model runs: one grabs
(from a live camera only its newest frame waits, the ones it displaces are counted as lost: the
``index`` of a prediction is the camera's frame number), one runs the model, one resamples,
counts, encodes and sends. OpenCV, the runtimes and the pipe write release the GIL.

    {"command": "serve", "camera": ..., "model": PATH, "runtime": NAME, "threads": T,
     "options": {...}, "every": K, "mask_width": W (0: the frame's), "size": [W, H] | null,
     "quality": Q, "seconds": S | null, "http": PORT | null}

``http`` also serves the frames with their masks drawn over them as MJPEG on the board's
loopback (``http://127.0.0.1:PORT/``), for a browser through an SSH forward, as the original's
Flask demo did; it ends with the command.
"""

from __future__ import annotations

import queue
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable

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

    def send(shot: Shot, mask: Any, inference: float) -> None:
        bgr = shot.bgr
        small = np.ascontiguousarray(resample(mask, mask_width, bgr.shape[:2]))
        figures = shares(mask, classes or int(mask.max()) + 1)
        jpeg = encode_jpeg(bgr, quality) if shot.index % every == 0 else b""
        body = small.tobytes() + jpeg
        emit_payload(
            ev.Prediction(
                stage=STAGE,
                index=shot.index,
                mask_width=int(small.shape[1]),
                mask_height=int(small.shape[0]),
                jpeg_size=len(jpeg),
                size=len(body),
                inference_ms=inference * 1000,
                e2e_ms=(time.perf_counter() - shot.grabbed) * 1000,
                shares=figures,
                captured=shot.captured,
            ),
            body,
        )
        if stream is not None:
            stream.publish(bgr, resample(mask, 0, bgr.shape[:2]), quality)

    started, heat = time.monotonic(), temperature()
    emit(ev.StageStarted(stage=STAGE, title=f"{runtime.name} on {camera.name}"))
    grabber, sender = Grabber(camera), Worker(send)
    served, reason = 0, "stopped"
    try:
        while not stop.reached() and sender.error is None:
            shot = grabber.next(timeout=0.5)
            if shot is None:
                continue
            if shot is Grabber.END:
                reason = f"the camera gave no more frames after {served}"
                break
            mask, inference = predict(runtime, shot.bgr)
            sender.put(shot, mask, inference)
            served += 1
        else:
            reason = stop.reason
    finally:
        grabber.close()
        sender.close()
        camera.close()
        if stream is not None:
            stream.close()
    if sender.error is not None:
        raise sender.error
    seconds = time.monotonic() - started
    emit(
        ev.Result(
            stage=STAGE,
            name="serve",
            data={
                "frames": served,
                "lost": grabber.lost,
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


class Shot:
    __slots__ = ("bgr", "captured", "grabbed", "index")

    def __init__(self, index: int, bgr: Any, captured: float) -> None:
        self.index, self.bgr, self.captured = index, bgr, captured
        self.grabbed = time.perf_counter()


class Grabber:
    """Frames from ``camera`` on a thread of their own: a recorded video's in order (the reader
    waits for the model), a live camera's newest only (a frame not taken in time gives way to the
    next and counts in ``lost``). A camera's error reaches the caller of ``next``."""

    END = Shot(-1, None, 0.0)

    def __init__(self, camera: Any) -> None:
        self._camera, self._live = camera, bool(getattr(camera, "live", True))
        self._shots: queue.Queue = queue.Queue(maxsize=1 if self._live else 2)
        self._done = threading.Event()
        self.lost = 0
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def next(self, timeout: float) -> Shot | None:
        """The next frame, ``END`` after the last, None when none came within ``timeout``."""
        try:
            item = self._shots.get(timeout=timeout)
        except queue.Empty:
            return None
        if isinstance(item, BaseException):
            raise item
        return item

    def _run(self) -> None:
        index = 0
        try:
            while not self._done.is_set():
                got = self._camera.grab()
                shot = self.END if got is None else Shot(index, *got)
                self._put(shot)
                if got is None:
                    return
                index += 1
        except BaseException as error:  # handed to the model's thread, which raises it
            self._put(error)

    def _put(self, item: Any) -> None:
        if self._live and isinstance(item, Shot) and item is not self.END:
            try:  # the newest frame wins: a waiting one is dropped (only this thread puts)
                self._shots.get_nowait()
                self.lost += 1
            except queue.Empty:
                pass
        _offer(self._shots, item, lambda: not self._done.is_set())

    def close(self) -> None:
        self._done.set()
        self._thread.join(timeout=5)


class Worker:
    """``work(*args)`` for each ``put``, in order, on a thread of its own, at most two waiting
    (the model's thread waits beyond that); the first error stops it and is kept in ``error``."""

    def __init__(self, work: Any) -> None:
        self._work = work
        self._jobs: queue.Queue = queue.Queue(maxsize=2)
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def put(self, *args: Any) -> None:
        _offer(self._jobs, args, lambda: self.error is None)

    def _run(self) -> None:
        while True:
            args = self._jobs.get()
            if args is None:
                return
            if self.error is None:
                try:
                    self._work(*args)
                except BaseException as error:
                    self.error = error

    def close(self) -> None:
        """Finish what was put (so every served frame is sent), then end the thread."""
        _offer(self._jobs, None, self._thread.is_alive)
        self._thread.join()


def _offer(jobs: queue.Queue, item: Any, wanted: Callable[[], bool]) -> None:
    """Put ``item`` into ``jobs``, waiting for room as long as ``wanted()`` holds."""
    while wanted():
        try:
            jobs.put(item, timeout=0.2)
            return
        except queue.Full:
            continue


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

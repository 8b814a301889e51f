"""A board's camera, opened by what the board has: OpenCV's ``VideoCapture`` for a device index,
``/dev/videoN``, a video file, an RTSP URL or a GStreamer pipeline; Picamera2 (Raspberry Pi) or
jetson-utils (Jetson) for a CSI camera (``csi`` or ``csi://N``).

Every source yields JPEG bytes and their size. When the camera already delivers JPEG (an MJPEG
webcam or file) and nothing needs its pixels, the camera's own bytes are passed on untouched: no
decode and re-encode on a small board's CPU.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol, Tuple

from backends.errors import BadInput

Size = Tuple[int, int]  # (width, height)
JPEG_MAGIC = b"\xff\xd8"
OPENCV_MISSING = (
    "OpenCV is not installed for this Python: install it (apt install python3-opencv, or pip "
    "install opencv-python-headless); it encodes every camera's frames"
)


@dataclass(frozen=True)
class Shot:
    jpeg: bytes
    width: int
    height: int
    captured: float  # seconds since the epoch


class Camera(Protocol):
    """Frames as JPEG, one ``read`` at a time; None once the source has no more."""

    name: str  # what was opened, for the capture's metadata
    backend: str  # opencv-ffmpeg, opencv-v4l2, picamera2, jetson-utils...
    live: bool  # a camera or stream (paced by itself), not a recorded file

    def read(self) -> Shot | None: ...

    def grab(self) -> tuple[Any, float] | None:
        """The next frame's pixels (BGR, at ``size`` when given) and when it was taken."""

    def close(self) -> None: ...


def open_camera(spec: str, size: Size | None, quality: int, *, pixels: bool = False) -> Camera:
    """The camera ``spec`` names, giving frames of ``size`` (None: the camera's own) encoded at
    JPEG ``quality``; ``pixels`` when the caller takes pixels (``grab``), so the camera's own
    JPEG is decoded, not passed through."""
    csi = re.fullmatch(r"csi(?://(\d+))?", spec)
    if csi:
        return _csi(int(csi.group(1) or 0), size, quality)
    return OpenCvCamera(spec, size, quality, pixels)


class OpenCvCamera:
    def __init__(self, spec: str, size: Size | None, quality: int, pixels: bool) -> None:
        try:
            import cv2
        except ModuleNotFoundError:
            raise BadInput(OPENCV_MISSING) from None
        self._cv2, self._size, self._quality = cv2, size, quality
        self.name = spec
        self.live = not _is_file(spec)
        if spec.isdigit():
            capture = cv2.VideoCapture(int(spec))
        elif " ! " in spec:
            capture = cv2.VideoCapture(spec, cv2.CAP_GSTREAMER)
        else:
            capture = cv2.VideoCapture(spec)
        if not capture.isOpened():
            raise BadInput(
                f"camera {spec!r} cannot be opened: no such device or file, no permission (is "
                "the board's user in the 'video' group?), or OpenCV lacks the backend for it"
            )
        self._capture = capture
        self.backend = f"opencv-{capture.getBackendName().lower()}"
        if self.live:
            capture.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # the newest frame, not one queued earlier
            if size is not None:
                capture.set(cv2.CAP_PROP_FRAME_WIDTH, size[0])
                capture.set(cv2.CAP_PROP_FRAME_HEIGHT, size[1])
        self._raw = not pixels and self._passthrough()

    def _passthrough(self) -> bool:
        """Ask for the camera's own JPEG bytes when it sends MJPEG and no resize is needed."""
        cv2, capture = self._cv2, self._capture
        fourcc = int(capture.get(cv2.CAP_PROP_FOURCC))
        if fourcc != cv2.VideoWriter_fourcc(*"MJPG") or not self._native_size():
            return False
        if self.backend == "opencv-v4l2":
            return bool(capture.set(cv2.CAP_PROP_CONVERT_RGB, 0))
        return bool(capture.set(cv2.CAP_PROP_FORMAT, -1))

    def _native_size(self) -> bool:
        if self._size is None:
            return True
        cv2 = self._cv2
        width = int(self._capture.get(cv2.CAP_PROP_FRAME_WIDTH))
        height = int(self._capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
        return (width, height) == self._size

    def read(self) -> Shot | None:
        ok, frame = self._capture.read()
        captured = time.time()
        if not ok or frame is None:
            return None
        if self._raw:
            data = frame.tobytes()
            if data[:2] == JPEG_MAGIC:
                width = int(self._capture.get(self._cv2.CAP_PROP_FRAME_WIDTH))
                height = int(self._capture.get(self._cv2.CAP_PROP_FRAME_HEIGHT))
                return Shot(data, width, height, captured)
            frame = self._cv2.imdecode(frame, self._cv2.IMREAD_COLOR)  # not JPEG after all
            if frame is None:
                return None
        return encode_shot(frame, self._size, self._quality, captured)

    def grab(self) -> tuple[Any, float] | None:
        ok, frame = self._capture.read()
        if not ok or frame is None:
            return None
        return resized(frame, self._size), time.time()

    def close(self) -> None:
        self._capture.release()


def resized(bgr: Any, size: Size | None) -> Any:
    """``bgr`` at ``size`` (width, height): area when shrinking, linear when growing."""
    import cv2

    if size is None or (bgr.shape[1], bgr.shape[0]) == tuple(size):
        return bgr
    shrink = size[0] * size[1] < bgr.shape[0] * bgr.shape[1]
    return cv2.resize(bgr, size, interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)


def encode_jpeg(bgr: Any, quality: int) -> bytes:
    import cv2

    ok, data = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise BadInput("the frame could not be encoded as JPEG")
    return data.tobytes()


def encode_shot(bgr: Any, size: Size | None, quality: int, captured: float) -> Shot:
    """A BGR frame resized to ``size`` (when given) and encoded as JPEG on this machine."""
    bgr = resized(bgr, size)
    return Shot(encode_jpeg(bgr, quality), int(bgr.shape[1]), int(bgr.shape[0]), captured)


def _is_file(spec: str) -> bool:
    """A recorded video (read as fast as it decodes) rather than a live camera or stream."""
    return not (spec.isdigit() or " ! " in spec or "://" in spec or spec.startswith("/dev/"))


class _Frames:
    """A camera library's frames (BGR arrays) encoded here."""

    def __init__(
        self,
        name: str,
        backend: str,
        frames: Iterator[Any],
        close: Any,
        size: Size | None,
        quality: int,
    ) -> None:
        self.name, self.backend = name, backend
        self._frames, self._close, self._size, self._quality = frames, close, size, quality
        self.live = True

    def read(self) -> Shot | None:
        bgr = next(self._frames, None)
        if bgr is None:
            return None
        return encode_shot(bgr, self._size, self._quality, time.time())

    def grab(self) -> tuple[Any, float] | None:
        bgr = next(self._frames, None)
        return None if bgr is None else (resized(bgr, self._size), time.time())

    def close(self) -> None:
        self._close()


def _csi(number: int, size: Size | None, quality: int) -> Camera:
    """A CSI camera: Picamera2 on a Raspberry Pi, jetson-utils on a Jetson."""
    width, height = size or (1280, 720)
    try:
        from picamera2 import Picamera2  # type: ignore[import-not-found]
    except ImportError:
        pass
    else:
        camera = Picamera2(number)
        # libcamera's RGB888 is B, G, R in memory: what OpenCV encodes.
        camera.configure(
            camera.create_video_configuration(main={"size": (width, height), "format": "RGB888"})
        )
        camera.start()

        def picamera_frames() -> Iterator[Any]:
            while True:
                yield camera.capture_array()

        return _Frames(
            f"csi://{number}", "picamera2", picamera_frames(), camera.close, size, quality
        )
    try:
        import jetson_utils  # type: ignore[import-not-found]
    except ImportError:
        raise BadInput(
            f"camera csi://{number} needs picamera2 (Raspberry Pi: apt install python3-picamera2) "
            "or jetson-utils (Jetson: build jetson-inference); a USB camera works with OpenCV "
            "(--camera 0)"
        ) from None
    source = jetson_utils.videoSource(
        f"csi://{number}", argv=[f"--input-width={width}", f"--input-height={height}"]
    )

    def jetson_frames() -> Iterator[Any]:
        import numpy as np

        while source.IsStreaming():
            image = source.Capture(format="rgb8", timeout=2000)
            if image is None:  # a timeout: the camera is slow, not gone
                continue
            jetson_utils.cudaDeviceSynchronize()
            yield np.ascontiguousarray(jetson_utils.cudaToNumpy(image)[..., ::-1])

    return _Frames(f"csi://{number}", "jetson-utils", jetson_frames(), source.Close, size, quality)

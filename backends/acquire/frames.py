"""Camera frames on the workstation: a content-addressed store, and capture versions.

    <root>/frames/AB/SHA256.jpg             every frame once, named by its hash
    <root>/datasets/NAME/VERSION/manifest.json
                                            an unlabelled dataset version: its frames, in the
                                            order the board sent them (capture order; least
                                            sure first when chosen by uncertainty), and how
                                            they were captured

A frame is checked (its bytes against its sha256, a JPEG, sane sizes) before it is written; a
frame's file appears under its final name only whole, and every frame is on disk before the
version's manifest names it. A capture that ends early is still a version, marked partial.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from backends import events as ev
from backends.catalog import DatasetRecord
from backends.datasets.shards import MANIFEST
from backends.durable import fsync_all, write_durably
from backends.errors import StageFailed
from backends.names import check_name
from backends.tasks import UNLABELLED
from backends.workspace import Workspace

JPEG_MAGIC = b"\xff\xd8"
MAX_SIDE = 16384


def frame_relative(sha256: str) -> str:
    """A frame's file, relative to the workspace root."""
    return f"frames/{sha256[:2]}/{sha256}.jpg"


def frame_path(root: Path, sha256: str) -> Path:
    return root / frame_relative(sha256)


class CaptureWriter:
    """Frames as they arrive from one board; ``finish`` makes them a dataset version."""

    def __init__(self, ws: Workspace, name: str, capture: dict[str, Any]) -> None:
        self.ws, self.name = ws, check_name(name, "dataset name")
        self.capture = capture  # board, camera, settings: the manifest's ``capture``
        self.frames: list[dict[str, Any]] = []
        self._written: list[Path] = []  # new files, flushed before the manifest names them

    def add(self, event: ev.Frame, data: bytes) -> ev.Frame:
        """Check and store one frame; the event comes back with its stored ``path``."""
        where = f"board {event.board}: frame {event.index!r}"
        if hashlib.sha256(data).hexdigest() != event.sha256 or len(data) != event.size:
            raise StageFailed(f"{where}: its bytes do not match its sha256 (damaged on the way)")
        if data[:2] != JPEG_MAGIC:
            raise StageFailed(f"{where}: not a JPEG")
        for field, value, low, high in (
            ("index", event.index, 0, 1 << 40),
            ("width", event.width, 1, MAX_SIDE),
            ("height", event.height, 1, MAX_SIDE),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise StageFailed(f"{where}: field {field!r} is {value!r}")
        for field, value in (("captured", event.captured), ("score", event.score)):
            if value is not None and (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not math.isfinite(value)
            ):
                raise StageFailed(f"{where}: field {field!r} is {value!r}")
        relative = frame_relative(event.sha256)  # the hash was checked above: a safe name
        self._store(self.ws.root / relative, event.sha256, data)
        self.frames.append(
            {
                "index": event.index,
                "sha256": event.sha256,
                "size": event.size,
                "width": event.width,
                "height": event.height,
                "captured": event.captured,
                "score": event.score,
            }
        )
        return dataclasses.replace(event, path=relative)

    def add_prelabel(self, mask: np.ndarray) -> None:
        """The model's class mask for the frame added last (a PNG, content-addressed beside
        the frames): a starting point for the person who labels it."""
        import cv2

        ok, png = cv2.imencode(".png", np.ascontiguousarray(mask))
        if not ok:
            raise StageFailed(f"a mask of shape {mask.shape} cannot be encoded as PNG")
        data = png.tobytes()
        sha = hashlib.sha256(data).hexdigest()
        self._store(self.ws.root / "frames" / sha[:2] / f"{sha}.png", sha, data)
        height, width = mask.shape
        self.frames[-1]["prelabel"] = {"sha256": sha, "width": width, "height": height}

    def _store(self, path: Path, sha256: str, data: bytes) -> None:
        """``data`` at its content-addressed ``path``, whole or not at all; kept when already
        there intact (a torn or damaged file is written again); flushed by ``finish``."""
        if not holds(path, sha256):
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.ws.temporary(f"frame-{sha256[:16]}")
            try:
                tmp.write_bytes(data)
                os.replace(tmp, path)
            finally:
                tmp.unlink(missing_ok=True)
        self._written.append(path)

    def finish(self, *, partial: bool, reason: str, job_id: int | None) -> DatasetRecord:
        """The frames so far as version ``name@VERSION`` (the hash of their hashes, in order)."""
        fsync_all(self._written)  # every frame on disk before a manifest names it
        self._written.clear()
        digest = hashlib.sha256(UNLABELLED.encode())
        for frame in self.frames:  # the frames, and how the model ranked them when it did
            digest.update(f"{frame['sha256']} {frame['score']!r}".encode())
        version = digest.hexdigest()[:16]
        first = self.frames[0] if self.frames else {"height": 0, "width": 0}
        manifest = {
            "schema": 1,
            "name": self.name,
            "version": version,
            "task": UNLABELLED,
            "image_size": [first["height"], first["width"]],
            "images": len(self.frames),
            "partial": partial,
            "capture": {**self.capture, "reason": reason},
            "frames": self.frames,
        }
        final = self.ws.root / "datasets" / self.name / version
        if not (final / MANIFEST).is_file():
            tmp = self.ws.temporary(f"capture-{self.name}")
            tmp.mkdir()
            try:
                write_durably(tmp / MANIFEST, json.dumps(manifest, indent=1).encode())
                self.ws.place(tmp, final)
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                raise
        return self.ws.catalog.add_dataset(
            name=self.name,
            version=version,
            task=UNLABELLED,
            path=self.ws.relative(final),
            manifest=manifest,
            job_id=job_id,
        )


def holds(path: Path, sha256: str) -> bool:
    """``path`` exists with exactly the bytes of ``sha256`` (a frame kept by an earlier capture;
    one a crash left torn is not)."""
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest() == sha256
    except FileNotFoundError:
        return False

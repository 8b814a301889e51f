"""Dataset shards: ``.npz`` files of uint8 images (NxHxWxC) and their targets, plus a manifest.

The targets are per-pixel class masks (NxHxW, member ``masks``) for segmentation and one class
per image (N, member ``labels``) for classification.

This module needs numpy alone, so evaluation shards can be read on a board. The dataset version
is a hash of the shards' array contents and the class names (not of the zip bytes, which carry
timestamps), so the same data gives the same version on every machine.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

MANIFEST = "manifest.json"
MANIFEST_SCHEMA = 1


def write_shard(path: Path, images: np.ndarray, targets: np.ndarray) -> dict[str, Any]:
    """Write one shard; return its manifest entry (file, count, file and content hashes)."""
    member = "masks" if targets.ndim == 3 else "labels"
    with open(path, "wb") as handle:
        np.savez_compressed(handle, images=images, **{member: targets})
        handle.flush()
        os.fsync(handle.fileno())  # durable before any manifest or catalog row names it
    return {
        "file": path.name,
        "images": len(images),
        "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
        "content": content_hash(images, targets),
    }


def content_hash(*arrays: np.ndarray) -> str:
    digest = hashlib.sha256()
    for array in arrays:
        digest.update(f"{array.dtype.str}{array.shape}".encode())
        digest.update(np.ascontiguousarray(array).data)
    return digest.hexdigest()


def read_shard(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(images, targets): masks or labels, whichever the shard holds."""
    with np.load(path) as data:
        return data["images"], _targets(data)


def _targets(data: Any) -> np.ndarray:
    return data["masks"] if "masks" in data.files else data["labels"]


@dataclass(frozen=True)
class Split:
    """The shards of one split (``train``, ``val``) of a dataset directory."""

    root: Path
    shards: tuple[dict[str, Any], ...]

    @property
    def size(self) -> int:
        return sum(s["images"] for s in self.shards)

    def read(self, index: int, *, verify: bool = False) -> tuple[np.ndarray, np.ndarray]:
        entry = self.shards[index]
        path = self.root / entry["file"]
        if verify and hashlib.sha256(path.read_bytes()).hexdigest() != entry["sha256"]:
            raise ValueError(f"{path}: shard does not match the manifest's sha256")
        return read_shard(path)

    def read_targets(self, index: int) -> np.ndarray:
        """Only the masks or labels of one shard (npz members load separately)."""
        with np.load(self.root / self.shards[index]["file"]) as data:
            return _targets(data)

    def batches(
        self, batch_size: int, limit: int | None = None
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Batches in manifest order (deterministic), full-sized across shard boundaries (the
        last may be short), at most ``limit`` images. The next shard is read (decompressed) on
        a thread while this one's batches are used: two shards are in memory at most."""
        remaining = self.size if limit is None else min(limit, self.size)
        needed, covered = 0, 0  # the shards that hold the first ``remaining`` images
        while covered < remaining:
            covered += self.shards[needed]["images"]
            needed += 1
        carry: tuple[np.ndarray, np.ndarray] | None = None
        with ThreadPoolExecutor(1, thread_name_prefix="shard-reader") as reader:
            ahead = reader.submit(self.read, 0) if needed else None
            for index in range(needed):
                assert ahead is not None
                images, masks = ahead.result()
                ahead = reader.submit(self.read, index + 1) if index + 1 < needed else None
                images, masks = images[:remaining], masks[:remaining]
                remaining -= len(images)
                if carry is not None and len(carry[0]):
                    images, masks = (
                        np.concatenate([carry[0], images]),
                        np.concatenate([carry[1], masks]),
                    )
                full = len(images) - len(images) % batch_size
                for start in range(0, full, batch_size):
                    yield images[start : start + batch_size], masks[start : start + batch_size]
                carry = (images[full:], masks[full:])
        if carry is not None and len(carry[0]):
            yield carry


def read_manifest(root: Path) -> dict[str, Any]:
    return json.loads((root / MANIFEST).read_text())


def split(root: Path, name: str) -> Split:
    manifest = read_manifest(root)
    return Split(root, tuple(manifest["splits"][name]["shards"]))


def dataset_version(class_names: Sequence[str], splits: dict[str, list[dict[str, Any]]]) -> str:
    """Content hash of a dataset: class names and each split's shard contents, in order."""
    digest = hashlib.sha256(json.dumps(list(class_names)).encode())
    for name in sorted(splits):
        digest.update(name.encode())
        for shard in splits[name]:
            digest.update(shard["content"].encode())
    return digest.hexdigest()[:16]

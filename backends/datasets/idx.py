"""IDX files (MNIST, Fashion-MNIST): images and labels, gzipped or not, checked byte for byte.

Format: two zero bytes, a type code (0x08 = unsigned byte), the number of dimensions, each
dimension as a big-endian int32, then the data. Images are N x rows x cols, labels are N.
"""

from __future__ import annotations

import gzip
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from backends.errors import BadInput, read_input

UBYTE = 0x08

FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")  # Debian's dataset-fashion-mnist
FASHION_MNIST_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
FASHION_MNIST_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "val": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


@dataclass(frozen=True)
class IdxSplit:
    images: np.ndarray  # uint8 N x H x W x 1
    labels: np.ndarray  # uint8 N


def read(path: Path, dims: int) -> np.ndarray:
    """An unsigned-byte IDX array of ``dims`` dimensions; every defect is one ``BadInput``."""
    raw = _bytes(path)
    if len(raw) < 4 or raw[:2] != b"\0\0":
        raise BadInput(f"{path}: not an IDX file (it must start with two zero bytes)")
    if raw[2] != UBYTE:
        raise BadInput(f"{path}: IDX type 0x{raw[2]:02x} is not supported (unsigned bytes only)")
    if raw[3] != dims:
        raise BadInput(f"{path}: has {raw[3]} dimensions, expected {dims}")
    header = 4 + 4 * dims
    if len(raw) < header:
        raise BadInput(f"{path}: truncated in its header ({len(raw)} bytes)")
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(dims))
    expected = header + int(np.prod(shape))
    if len(raw) != expected:
        what = "truncated" if len(raw) < expected else "longer than its header says"
        raise BadInput(
            f"{path}: {what}: shape {'x'.join(map(str, shape))} needs {expected} bytes, "
            f"the file has {len(raw)}; download it again"
        )
    return np.frombuffer(raw, np.uint8, offset=header).reshape(shape)


def read_split(images_path: Path, labels_path: Path, num_classes: int) -> IdxSplit:
    images, labels = read(images_path, 3), read(labels_path, 1)
    if len(images) != len(labels):
        raise BadInput(
            f"{images_path} holds {len(images)} images but {labels_path} holds {len(labels)} "
            "labels: they must be the same set"
        )
    if len(labels) and labels.max() >= num_classes:
        raise BadInput(f"{labels_path}: label {labels.max()} is not below {num_classes} classes")
    return IdxSplit(images[..., None], labels)


def find(directory: Path, stem: str) -> Path:
    """``stem`` or ``stem.gz`` in ``directory``."""
    for name in (stem, f"{stem}.gz"):
        if (directory / name).is_file():
            return directory / name
    hint = " (apt-get install dataset-fashion-mnist)" if directory == FASHION_MNIST_DIR else ""
    raise BadInput(f"{directory}: no {stem} or {stem}.gz here{hint}")


def _bytes(path: Path) -> bytes:
    data = read_input(path)
    if data[:2] != b"\x1f\x8b":
        return data
    try:
        return gzip.decompress(data)
    except (EOFError, OSError, zlib.error) as exc:
        raise BadInput(f"{path}: damaged or truncated gzip ({exc}); download it again") from None

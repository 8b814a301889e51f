"""A folder of class folders: ``ROOT/CLASS/*.png`` (split by a seeded draw per class) or
``ROOT/train/CLASS/...`` plus ``ROOT/val/CLASS/...``. Classes are the folder names, sorted.

Everything is listed and checked before any image is decoded: an empty class folder or a val
class missing from train is one clear line. Images are decoded one at a time while shards are
written, so memory does not grow with the dataset.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from backends.errors import BadInput

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".pgm", ".ppm"}


@dataclass(frozen=True)
class FolderSplit:
    files: tuple[tuple[Path, int], ...]  # (image, class id)

    def images(self, channels: int) -> Iterator[tuple[np.ndarray, int]]:
        """Decoded images (H x W x channels, RGB or grey) with their class ids."""
        for path, label in self.files:
            yield decode(path, channels), label


def scan(
    root: Path, *, val_fraction: float = 0.2, seed: int = 0
) -> tuple[tuple[str, ...], dict[str, FolderSplit]]:
    """(class names, {"train": ..., "val": ...}) of a folder dataset."""
    root = Path(root)
    if not root.is_dir():
        raise BadInput(f"{root}: not a directory of class folders")
    if (root / "train").is_dir() and (root / "val").is_dir():
        classes = _classes(root / "train")
        val_classes = _classes(root / "val")
        if val_classes != classes:
            extra = sorted(set(val_classes) ^ set(classes))
            raise BadInput(
                f"{root}: train and val must hold the same class folders ({extra[0]!r} is in "
                "only one of them)"
            )
        return classes, {
            s: FolderSplit(tuple(_labelled(root / s, classes))) for s in ("train", "val")
        }
    classes = _classes(root)
    train: list[tuple[Path, int]] = []
    val: list[tuple[Path, int]] = []
    rng = np.random.default_rng(seed)
    for label, name in enumerate(classes):
        files = _images(root / name)
        order = rng.permutation(len(files))
        held = max(1, round(len(files) * val_fraction)) if len(files) > 1 else 0
        val += [(files[i], label) for i in order[:held]]
        train += [(files[i], label) for i in order[held:]]
    return classes, {"train": FolderSplit(tuple(train)), "val": FolderSplit(tuple(val))}


def decode(path: Path, channels: int) -> np.ndarray:
    import cv2

    flag = cv2.IMREAD_GRAYSCALE if channels == 1 else cv2.IMREAD_COLOR
    image = cv2.imread(str(path), flag)
    if image is None:
        raise BadInput(f"{path}: cannot be read as an image (damaged, or not an image file)")
    return image[..., None] if channels == 1 else cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def _classes(root: Path) -> tuple[str, ...]:
    names = tuple(sorted(p.name for p in root.iterdir() if p.is_dir() and not _hidden(p)))
    if len(names) < 2:
        raise BadInput(f"{root}: needs at least two class folders, found {len(names)}")
    return names


def _labelled(root: Path, classes: tuple[str, ...]) -> Iterator[tuple[Path, int]]:
    for label, name in enumerate(classes):
        yield from ((path, label) for path in _images(root / name))


def _images(folder: Path) -> list[Path]:
    files = sorted(
        p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and not _hidden(p)
    )
    if not files:
        raise BadInput(
            f"{folder}: class folder has no images ({', '.join(sorted(IMAGE_SUFFIXES))}): "
            "add some or remove the folder"
        )
    return files


def _hidden(path: Path) -> bool:
    return path.name.startswith(".")

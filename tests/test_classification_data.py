"""Classification datasets: Fashion-MNIST's real IDX files and folders of class folders, with the
defects users hit (truncated downloads, mismatched files, empty or unreadable classes)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from backends.datasets import build, idx
from backends.datasets.shards import split
from backends.errors import BadInput
from backends.workspace import Workspace
from tests.conftest import cli

FASHION = idx.FASHION_MNIST_DIR
needs_fashion = pytest.mark.skipif(
    not (FASHION / "train-labels-idx1-ubyte.gz").is_file(),
    reason="Debian package dataset-fashion-mnist is not installed (scripts/install --test does)",
)


def _copy_fashion(to: Path, *, images: int = 60) -> Path:
    """The first ``images`` of each real Fashion-MNIST split, rewritten as (uncompressed) IDX."""
    to.mkdir(parents=True, exist_ok=True)
    for images_stem, labels_stem in idx.FASHION_MNIST_FILES.values():
        pixels = idx.read(idx.find(FASHION, images_stem), 3)[:images]
        labels = idx.read(idx.find(FASHION, labels_stem), 1)[:images]
        _write_idx(to / images_stem, pixels)
        _write_idx(to / labels_stem, labels)
    return to


def _write_idx(path: Path, array: np.ndarray) -> None:
    header = bytes([0, 0, idx.UBYTE, array.ndim]) + b"".join(
        n.to_bytes(4, "big") for n in array.shape
    )
    path.write_bytes(header + array.astype(np.uint8).tobytes())


@needs_fashion
def test_fashion_mnist_import_is_the_real_data(ws: Workspace) -> None:
    record = build.import_idx(
        ws, name="fm", directory=FASHION, limits={"train": 1000, "val": 200}, emit=lambda e: None
    )
    manifest = record.manifest
    assert manifest["task"] == "classification" and manifest["ignore"] is None
    assert manifest["classes"][0] == "T-shirt/top" and len(manifest["classes"]) == 10
    assert manifest["channels"] == 1 and manifest["image_size"] == [28, 28]
    train = manifest["splits"]["train"]
    assert train["images"] == 1000 and sum(train["counts"]) == 1000
    assert min(train["counts"]) > 50  # the real set is shuffled and balanced
    images, labels = split(ws.path(record.path), "val").read(0, verify=True)
    assert images.shape == (200, 28, 28, 1) and images.dtype == np.uint8
    assert labels.shape == (200,) and set(labels.tolist()) == set(range(10))
    # The first test image of Fashion-MNIST is an ankle boot (label 9).
    assert labels[0] == 9 and images[0].mean() > 10


@needs_fashion
def test_gzip_and_plain_idx_give_the_same_dataset(ws: Workspace, tmp_path: Path) -> None:
    plain = _copy_fashion(tmp_path / "plain")
    packed = tmp_path / "packed"
    packed.mkdir()
    for file in plain.iterdir():
        (packed / f"{file.name}.gz").write_bytes(gzip.compress(file.read_bytes()))
    a = build.import_idx(ws, name="a", directory=plain, emit=lambda e: None)
    b = build.import_idx(ws, name="a", directory=packed, emit=lambda e: None)
    assert a.version == b.version and a.manifest["splits"]["val"]["images"] == 60


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda d: _cut(d / "train-images-idx3-ubyte", 100), "truncated: shape 60x28x28 needs"),
        (lambda d: _cut(d / "t10k-labels-idx1-ubyte", 6), "truncated in its header"),
        (lambda d: _write_idx(d / "train-labels-idx1-ubyte", np.zeros(59)), "holds 60 images but"),
        (lambda d: (d / "t10k-images-idx3-ubyte").write_bytes(b"P5 28 28"), "not an IDX file"),
        (lambda d: _write_idx(d / "t10k-labels-idx1-ubyte", np.full(60, 12)), "label 12 is not"),
        (lambda d: (d / "train-images-idx3-ubyte").unlink(), "no train-images-idx3-ubyte"),
    ],
)
@needs_fashion
def test_bad_idx_files_are_one_line_and_exit_2(tmp_path: Path, damage, message: str) -> None:
    directory = _copy_fashion(tmp_path / "fm")
    damage(directory)
    result = cli(
        "datasets", "import", "fashion-mnist", "--dir", str(directory), "-w", str(tmp_path)
    )
    assert result.returncode == 2, result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert message in line and "Traceback" not in result.stderr


def test_truncated_gzip_is_named(tmp_path: Path) -> None:
    path = tmp_path / "t10k-labels-idx1-ubyte.gz"
    path.write_bytes(gzip.compress(bytes([0, 0, 8, 1, 0, 0, 0, 4, 1, 2, 3, 4]))[:-9])
    with pytest.raises(BadInput, match="damaged or truncated gzip"):
        idx.read(path, 1)


def _cut(path: Path, keep: int) -> None:
    path.write_bytes(path.read_bytes()[:keep])


def _folder(root: Path, classes: dict[str, int], size: tuple[int, int] = (40, 30)) -> Path:
    """Class folders of PNGs whose colour says the class: the Nth class's images are high in
    RGB channel N % 3 (written BGR, as OpenCV files are)."""
    rng = np.random.default_rng(0)
    for index, (name, count) in enumerate(classes.items()):
        (root / name).mkdir(parents=True)
        for i in range(count):
            image = rng.integers(0, 40, (*size, 3), dtype=np.uint8)
            image[..., index % 3] += 200
            cv2.imwrite(str(root / name / f"{i:03d}.png"), image[..., ::-1])

    return root


def test_folder_of_class_folders_is_split_per_class(ws: Workspace, tmp_path: Path) -> None:
    root = _folder(tmp_path / "shapes", {"red": 10, "green": 5, "blue": 3})
    (root / "red" / "notes.txt").write_text("not an image: ignored")
    record = build.import_folder(ws, name="shapes", root=root, size=(32, 32), emit=lambda e: None)
    manifest = record.manifest
    assert manifest["classes"] == ["blue", "green", "red"]  # sorted folder names
    assert manifest["splits"]["val"]["counts"] == [1, 1, 2]  # 20% of each class, at least one
    assert manifest["splits"]["train"]["counts"] == [2, 4, 8]
    images, labels = split(ws.path(record.path), "train").read(0)
    assert images.shape == (14, 32, 32, 3)
    # letterboxed: 40x30 scaled to 32x24, centred, padded with black columns
    assert images[:, :, :4].max() == 0 and images[:, :, 4:28].mean() > 50
    red = images[labels == 2]
    assert red[:, 8:24, 8:24, 0].mean() > 200  # RGB order, not OpenCV's BGR
    again = build.import_folder(ws, name="shapes", root=root, size=(32, 32), emit=lambda e: None)
    assert again.version == record.version


def test_folder_with_train_and_val_and_grey(ws: Workspace, tmp_path: Path) -> None:
    _folder(tmp_path / "d" / "train", {"a": 3, "b": 2})
    _folder(tmp_path / "d" / "val", {"a": 1, "b": 1})
    record = build.import_folder(
        ws, name="d", root=tmp_path / "d", size=(16, 16), channels=1, emit=lambda e: None
    )
    assert record.manifest["splits"]["train"]["counts"] == [3, 2]
    assert record.manifest["channels"] == 1
    images, _ = split(ws.path(record.path), "val").read(0)
    assert images.shape == (2, 16, 16, 1)


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda r: (r / "empty").mkdir(), "empty: class folder has no images"),
        (lambda r: (r / "red" / "broken.png").write_bytes(b"\x89PNG\r\n"), "broken.png: cannot be"),
        (lambda r: (r / "blue" / "000.png").unlink() or None, None),
    ],
)
def test_bad_folders_are_one_line_and_exit_2(tmp_path: Path, damage, message: str | None) -> None:
    root = _folder(tmp_path / "shapes", {"red": 3, "blue": 1})
    damage(root)
    result = cli("datasets", "import", "folder", "s", str(root), "-w", str(tmp_path / "ws"))
    if message is None:  # blue lost its only image: an empty class folder
        message = "blue: class folder has no images"
    assert result.returncode == 2, result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert message in line and "Traceback" not in result.stderr


def test_val_classes_must_match_train(tmp_path: Path) -> None:
    _folder(tmp_path / "d" / "train", {"a": 1, "b": 1})
    _folder(tmp_path / "d" / "val", {"a": 1, "c": 1})
    result = cli("datasets", "import", "folder", "d", str(tmp_path / "d"), "-w", str(tmp_path))
    assert result.returncode == 2 and "'b' is in only one of them" in result.stderr


def test_show_prints_images_per_class(tmp_path: Path) -> None:
    root = _folder(tmp_path / "shapes", {"red": 4, "blue": 4})
    assert cli("datasets", "import", "folder", "s", str(root), "-w", str(tmp_path)).returncode == 0
    shown = cli("datasets", "show", "s", "-w", str(tmp_path))
    assert "Images per class" in shown.stdout and "classification" in shown.stdout
    assert "50.0%" in shown.stdout
    listed = json.loads(cli("datasets", "list", "--json", "-w", str(tmp_path)).stdout)
    assert listed[0]["task"] == "classification"

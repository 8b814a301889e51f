"""Where a dataset comes from: one small config type per ``[dataset] source``, each with what
it needs and nothing else, and how it builds (or finds) the dataset version."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Literal

from backends.catalog import DatasetRecord
from backends.config import Bounded, bounded
from backends.events import Emit
from backends.workspace import Workspace

SIZE = (8, 8192)  # pixels, each side
IMAGES = (1, 10_000_000)
SEED = (0, 2**32 - 1)
FRACTION = (0.0001, 0.9999)


@dataclass(frozen=True)
class Synth(Bounded):
    """Generated COCO-format data: people, vehicles, animals and chairs on textures."""

    source: Literal["synth"] = "synth"
    name: str = "demo"  # the dataset name in the catalog
    size: tuple[int, int] = bounded((128, 128), *SIZE)  # [height, width] of the images
    images: int = bounded(320, 2, IMAGES[1])  # generated images, train + val
    seed: int = bounded(0, *SEED)  # same seed, same images
    val_fraction: float = bounded(0.2, *FRACTION)  # share kept for validation

    SECTION: ClassVar[str] = "dataset"

    def build(self, ws: Workspace, emit: Emit) -> DatasetRecord:
        from backends.datasets.build import synth_dataset

        return synth_dataset(
            ws,
            name=self.name,
            images=self.images,
            size=self.size,
            seed=self.seed,
            val_fraction=self.val_fraction,
            emit=emit,
        )


@dataclass(frozen=True)
class Coco(Bounded):
    """COCO instance annotations (a COCO export, CVAT's, ...) made semantic masks by a class map."""

    train_annotations: str  # COCO instances JSON of the train split
    val_annotations: str  # the same for the val split
    images_dir: str  # the directory the train file_names are relative to
    source: Literal["coco"] = "coco"
    name: str = "demo"  # the dataset name in the catalog
    size: tuple[int, int] = bounded((128, 128), *SIZE)  # [height, width] of the images
    val_images_dir: str | None = None  # default: images_dir
    class_map: str = "coco-4"  # built-in map or a JSON file

    SECTION: ClassVar[str] = "dataset"

    def build(self, ws: Workspace, emit: Emit) -> DatasetRecord:
        from backends.datasets.build import import_coco
        from backends.datasets.classmap import ClassMap

        images = Path(self.images_dir)
        splits = {
            "train": (Path(self.train_annotations), images),
            "val": (Path(self.val_annotations), Path(self.val_images_dir or images)),
        }
        return import_coco(
            ws,
            name=self.name,
            splits=splits,
            class_map=ClassMap.load(self.class_map),
            size=self.size,
            emit=emit,
        )


@dataclass(frozen=True)
class FromWorkspace(Bounded):
    """A dataset already in the workspace (``NAME`` or ``NAME@VERSION``)."""

    name: str  # NAME or NAME@VERSION
    source: Literal["workspace"] = "workspace"

    SECTION: ClassVar[str] = "dataset"

    def build(self, ws: Workspace, emit: Emit) -> DatasetRecord:
        return ws.catalog.dataset(self.name)


@dataclass(frozen=True)
class FashionMnist(Bounded):
    """Fashion-MNIST's IDX files (Debian's dataset-fashion-mnist, or ``path``)."""

    source: Literal["fashion-mnist"] = "fashion-mnist"
    name: str = "demo"  # the dataset name in the catalog
    size: tuple[int, int] = bounded((28, 28), *SIZE)  # [height, width] of the images
    path: str | None = None  # the IDX directory
    train_images: int | None = bounded(None, *IMAGES)  # the first N of each split
    val_images: int | None = bounded(None, *IMAGES)  # the first N of the test split

    SECTION: ClassVar[str] = "dataset"

    def build(self, ws: Workspace, emit: Emit) -> DatasetRecord:
        from backends.datasets.build import import_idx
        from backends.datasets.idx import FASHION_MNIST_DIR

        return import_idx(
            ws,
            name=self.name,
            directory=Path(self.path) if self.path else FASHION_MNIST_DIR,
            size=self.size,
            limits={"train": self.train_images, "val": self.val_images},
            emit=emit,
        )


@dataclass(frozen=True)
class Folder(Bounded):
    """A folder of class folders (``path/CLASS/*.png``, or ``path/train/…`` and ``path/val/…``)."""

    path: str  # ROOT/CLASS/*.png, or ROOT/train/CLASS/... and ROOT/val/CLASS/...
    source: Literal["folder"] = "folder"
    name: str = "demo"  # the dataset name in the catalog
    size: tuple[int, int] = bounded((128, 128), *SIZE)  # [height, width] of the images
    channels: Literal[1, 3] = 3  # 1 grey, 3 RGB
    val_fraction: float = bounded(0.2, *FRACTION)  # share kept for validation
    seed: int = bounded(0, *SEED)  # the train/val draw

    SECTION: ClassVar[str] = "dataset"

    def build(self, ws: Workspace, emit: Emit) -> DatasetRecord:
        from backends.datasets.build import import_folder

        return import_folder(
            ws,
            name=self.name,
            root=Path(self.path),
            size=self.size,
            channels=self.channels,
            val_fraction=self.val_fraction,
            seed=self.seed,
            emit=emit,
        )


Source = Synth | Coco | FromWorkspace | FashionMnist | Folder
SOURCES: dict[str, type[Source]] = {
    cls.__dataclass_fields__["source"].default: cls
    for cls in (Synth, Coco, FromWorkspace, FashionMnist, Folder)
}

"""``mllib-tui datasets``: create, import and inspect dataset versions."""

from __future__ import annotations

import datetime
import json
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from backends.catalog import DatasetRecord
from backends.datasets.sources import FashionMnist, Folder, Synth
from backends.events import Emit
from backends.workspace import Workspace
from mllib_tui.commands.annotate import SeedOption, ValFractionOption, export, pull_app
from mllib_tui.console import new_console
from mllib_tui.headless.diagnostics import diagnosed
from mllib_tui.headless.output import RichProgress
from mllib_tui.options import JsonOption, WorkspaceOption, bounds, parse_size

app = typer.Typer(
    help="Create, import and inspect datasets (versions are content hashes).", no_args_is_help=True
)
import_app = typer.Typer(
    help="Import a dataset: COCO annotations (segmentation), Fashion-MNIST IDX files or a folder "
    "of class folders (classification).",
    no_args_is_help=True,
)
app.add_typer(import_app, name="import")
app.command()(export)
app.add_typer(pull_app, name="pull-labels")
stdout = new_console()

SizeOption = Annotated[
    str,
    typer.Option(
        "--size",
        help="Stored image size, HEIGHTxWIDTH; "
        "images are letterboxed (scaled to fit, then padded).",
    ),
]


@app.command()
def synth(
    workspace: WorkspaceOption = None,
    name: Annotated[str, typer.Option(help="Dataset name.")] = "demo",
    images: Annotated[
        int, typer.Option(help="Images to generate (train + val).", **bounds(Synth, "images"))
    ] = 320,
    size: SizeOption = "128x128",
    seed: Annotated[
        int, typer.Option(help="Generator seed: same seed, same dataset.", **bounds(Synth, "seed"))
    ] = 0,
    val_fraction: Annotated[
        float,
        typer.Option(help="Share of images kept for validation.", **bounds(Synth, "val_fraction")),
    ] = 0.2,
) -> None:
    """Generate the synthetic COCO-format dataset (people, vehicles, animals, chairs) and import
    it with the 4-class map (void, person, vehicle, animal)."""
    from backends.datasets.build import synth_dataset

    _import(
        workspace,
        lambda ws, emit: synth_dataset(
            ws,
            name=name,
            images=images,
            size=parse_size(size),
            seed=seed,
            val_fraction=val_fraction,
            emit=emit,
        ),
    )


@import_app.command("coco")
def import_coco(
    name: Annotated[str, typer.Argument(help="Dataset name.")],
    annotations: Annotated[
        Path | None,
        typer.Option(
            help="One COCO file, as a labelling tool exports it (CVAT, datumaro, Label "
            "Studio): split as exported, else by --val-fraction. Instead of --train/--val.",
        ),
    ] = None,
    train: Annotated[
        Path | None, typer.Option(help="COCO instances JSON of the training split.")
    ] = None,
    val: Annotated[
        Path | None, typer.Option(help="COCO instances JSON of the validation split.")
    ] = None,
    images: Annotated[
        Path | None,
        typer.Option(
            help="Directory the file_names are relative to (with --annotations, default: the "
            "export's images/ or the file's directory)."
        ),
    ] = None,
    val_images: Annotated[
        Path | None, typer.Option(help="Directory for the val file_names (default: --images).")
    ] = None,
    class_map: Annotated[
        str | None,
        typer.Option(
            help="Built-in map name or a JSON file (see backends/datasets/classmaps); default "
            "coco-4, or the classes of the export the images came from."
        ),
    ] = None,
    size: Annotated[
        str | None,
        typer.Option(
            help="Stored image size, HEIGHTxWIDTH; images are letterboxed (default 480x512, or "
            "the exported dataset's)."
        ),
    ] = None,
    val_fraction: ValFractionOption = 0.2,
    seed: SeedOption = 0,
    workspace: WorkspaceOption = None,
) -> None:
    """Import COCO instance annotations as semantic masks (polygons, RLE and crowd regions).

    Labels back from a labelling tool (one file): the images are matched to the export they
    came from, whose classes, splits and size they keep, and the version records its lineage.

    Examples: mllib-tui datasets import coco coco2017 --train annotations/instances_train2017.json
    --val annotations/instances_val2017.json --images train2017 --val-images val2017

    mllib-tui datasets import coco bench-labelled --annotations
    cvat/annotations/instances_default.json
    """
    from backends.datasets.build import import_coco as run_import
    from backends.datasets.classmap import ClassMap

    if annotations is not None:
        from backends.annotate.labels import import_labels

        if train or val or val_images:
            _usage("--annotations imports one file: leave out --train, --val and --val-images")
        _import(
            workspace,
            lambda ws, emit: import_labels(
                ws, name=name, annotations=annotations, emit=emit, images_dir=images,
                class_map=class_map, size=parse_size(size) if size else None,
                val_fraction=val_fraction, seed=seed,
            ),
        )  # fmt: skip
        return
    if train is None or val is None or images is None:
        _usage("give --train, --val and --images (or one labelling tool's file: --annotations)")
    _import(
        workspace,
        lambda ws, emit: run_import(
            ws,
            name=name,
            splits={"train": (train, images), "val": (val, val_images or images)},
            class_map=ClassMap.load(class_map or "coco-4"),
            size=parse_size(size or "480x512"),
            emit=emit,
        ),
    )


def _usage(message: str) -> None:
    from mllib_tui.headless.diagnostics import error_line

    error_line(message)
    raise typer.Exit(2)


@import_app.command("fashion-mnist")
def import_fashion_mnist(
    name: Annotated[str, typer.Argument(help="Dataset name.")] = "fashion-mnist",
    directory: Annotated[
        Path | None,
        typer.Option(
            "--dir",
            help="Directory with the four IDX files, gzipped or not (default: Debian's "
            "dataset-fashion-mnist, /usr/share/datasets/fashion-mnist).",
        ),
    ] = None,
    train_images: Annotated[
        int | None,
        typer.Option(
            help="Keep the first N training images (a subset).",
            **bounds(FashionMnist, "train_images"),
        ),
    ] = None,
    val_images: Annotated[
        int | None,
        typer.Option(
            help="Keep the first N test images (a subset).", **bounds(FashionMnist, "val_images")
        ),
    ] = None,
    size: SizeOption = "28x28",
    workspace: WorkspaceOption = None,
) -> None:
    """Import Fashion-MNIST (60,000 train and 10,000 test images, 28x28 grey, 10 classes);
    the test set becomes the val split. Any MNIST-layout IDX set works with --dir.

    Example: apt-get install dataset-fashion-mnist && mllib-tui datasets import fashion-mnist
    """
    from backends.datasets.build import import_idx
    from backends.datasets.idx import FASHION_MNIST_DIR

    _import(
        workspace,
        lambda ws, emit: import_idx(
            ws,
            name=name,
            directory=directory or FASHION_MNIST_DIR,
            size=parse_size(size),
            limits={"train": train_images, "val": val_images},
            emit=emit,
        ),
    )


@import_app.command("folder")
def import_folder(
    name: Annotated[str, typer.Argument(help="Dataset name.")],
    root: Annotated[
        Path, typer.Argument(help="ROOT/CLASS/*.png, or ROOT/train/CLASS/… and ROOT/val/CLASS/…")
    ],
    size: SizeOption = "96x96",
    channels: Annotated[int, typer.Option(min=1, max=3, help="1 (grey) or 3 (RGB).")] = 3,
    val_fraction: Annotated[
        float,
        typer.Option(
            help="Share of each class kept for val (without train/ and val/).",
            **bounds(Folder, "val_fraction"),
        ),
    ] = 0.2,
    seed: Annotated[
        int, typer.Option(help="Seed of the train/val draw.", **bounds(Folder, "seed"))
    ] = 0,
    workspace: WorkspaceOption = None,
) -> None:
    """Import a folder of class folders for classification: the folder names are the classes
    (sorted); PNG, JPEG, BMP, TIFF, WebP and PNM images.

    Example: mllib-tui datasets import folder flowers ~/data/flowers --size 96x96
    """
    from backends.datasets.build import import_folder as run_import

    _import(
        workspace,
        lambda ws, emit: run_import(
            ws,
            name=name,
            root=root,
            size=parse_size(size),
            channels=channels,
            val_fraction=val_fraction,
            seed=seed,
            emit=emit,
        ),
    )


def _import(workspace: Path | None, make: Callable[[Workspace, Emit], DatasetRecord]) -> None:
    """Run one import with progress on stderr and print NAME@VERSION and where it lives; bad
    input (raised by ``make`` too) is one line, exit 2."""
    with diagnosed():
        ws = Workspace.open(workspace)
        with RichProgress() as render:
            record = make(ws, render)
        stdout.print(f"{record.name}@{record.version}  {ws.path(record.path)}")


@app.command("list")
def list_datasets(workspace: WorkspaceOption = None, as_json: JsonOption = False) -> None:
    """Every dataset version in the workspace."""
    with diagnosed():
        records = Workspace.open(workspace).catalog.datasets()
    if as_json:
        print(
            json.dumps(
                [
                    {
                        "name": r.name,
                        "version": r.version,
                        "task": r.task,
                        "images": r.images,
                        "classes": r.manifest.get("classes", []),
                        "partial": bool(r.manifest.get("partial")),
                    }
                    for r in records
                ]
            )
        )
        return
    table = Table("Name", "Version", "Task", "Size", "Train", "Val", "Classes")
    for r in records:
        images = r.images
        partial = " (partial)" if r.manifest.get("partial") else ""
        table.add_row(
            r.name,
            r.version,
            r.task + partial,
            "x".join(map(str, r.manifest["image_size"])),
            str(images.get("train", images.get("frames"))),
            str(images.get("val", "-")),
            ", ".join(r.manifest.get("classes", [])) or "(frames to label)",
        )
    stdout.print(table if records else "no datasets yet: try `mllib-tui datasets synth`")


@app.command()
def show(
    ref: Annotated[str, typer.Argument(help="NAME or NAME@VERSION (a version prefix is enough).")],
    workspace: WorkspaceOption = None,
    as_json: JsonOption = False,
) -> None:
    """Counts per split and the class histogram (pixels for segmentation, images for
    classification) of one dataset version, and its lineage: captured -> exported for labelling
    -> labelled -> the models trained on it."""
    from backends.annotate.lineage import chain

    with diagnosed():
        ws = Workspace.open(workspace)
        record = ws.catalog.dataset(ref)
        steps = chain(ws, record)
    manifest = record.manifest
    if as_json:
        print(json.dumps(manifest))
        return
    if not record.labelled:
        _show_capture(record)
    else:
        _show_labelled(record)
    if len(steps) > 1:
        stdout.print("[bold]Lineage[/]")
        for step, what in steps:
            stdout.print(f"  {step:<9} {escape(what)}", soft_wrap=True)


def _show_labelled(record: DatasetRecord) -> None:
    manifest = record.manifest
    segmentation = manifest["ignore"] is not None
    channels = manifest.get("channels", 3)
    stdout.print(
        f"[bold]{record.name}@{record.version}[/]  {manifest['task']}  "
        f"{'x'.join(map(str, manifest['image_size']))}x{channels}"
        + (f"  ignore={manifest['ignore']}" if segmentation else "")
    )
    table = Table(
        "Split",
        "Images",
        "Shards",
        *manifest["classes"],
        *(["ignored"] if segmentation else []),
        title="Pixels per class" if segmentation else "Images per class",
        title_justify="left",
    )
    for split_name, split in manifest["splits"].items():
        counts = [*split["pixels"], split["ignored"]] if segmentation else split["counts"]
        total = sum(counts) or 1
        table.add_row(
            split_name,
            str(split["images"]),
            str(len(split["shards"])),
            *(f"{c / total:6.1%}" for c in counts),
        )
    stdout.print(table)


def _show_capture(record: DatasetRecord) -> None:
    """A capture: where its frames came from, and its frames (the least sure first when the
    model scored them)."""
    manifest, capture = record.manifest, record.manifest["capture"]
    partial = "  [yellow]partial[/]" if manifest["partial"] else ""
    stdout.print(
        f"[bold]{record.name}@{record.version}[/]  unlabelled camera frames{partial}\n"
        f"  {manifest['images']} frames from board {capture['board']}, camera "
        f"{capture['camera']}, {capture.get('reason') or ''}"
    )
    frames = manifest["frames"]
    scored = any(f["score"] is not None for f in frames)
    if scored:
        frames = sorted(frames, key=lambda f: -f["score"])
    table = Table("Frame", "Captured", "Size", "Bytes", *(["Entropy"] if scored else []), "SHA256")
    for frame in frames[:20]:
        table.add_row(
            str(frame["index"]),
            datetime.datetime.fromtimestamp(frame["captured"]).strftime("%H:%M:%S.%f")[:-3],
            f"{frame['width']}x{frame['height']}",
            str(frame["size"]),
            *([f"{frame['score']:.4f}"] if scored else []),
            frame["sha256"][:16],
        )
    stdout.print(table)
    if len(frames) > 20:
        stdout.print(f"  [dim]... and {len(frames) - 20} more (--json lists them all)[/]")

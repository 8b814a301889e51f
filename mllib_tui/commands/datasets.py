"""``mllib-tui datasets``: create, import and inspect dataset versions."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from backends.workspace import Workspace
from mllib_tui.headless.diagnostics import diagnosed
from mllib_tui.headless.output import RichProgress
from mllib_tui.options import JsonOption, WorkspaceOption, parse_size

app = typer.Typer(
    help="Create, import and inspect datasets (versions are content hashes).", no_args_is_help=True
)
import_app = typer.Typer(help="Import a dataset from an annotation format.", no_args_is_help=True)
app.add_typer(import_app, name="import")
stdout = Console(highlight=False)

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
    images: Annotated[int, typer.Option(help="Images to generate (train + val).")] = 320,
    size: SizeOption = "128x128",
    seed: Annotated[int, typer.Option(help="Generator seed: same seed, same dataset.")] = 0,
    val_fraction: Annotated[float, typer.Option(help="Share of images kept for validation.")] = 0.2,
) -> None:
    """Generate the synthetic COCO-format dataset (people, vehicles, animals, chairs) and import
    it with the 4-class map (void, person, vehicle, animal)."""
    from backends.datasets.build import synth_dataset

    with diagnosed():
        ws = Workspace.open(workspace)
        with RichProgress() as render:
            record = synth_dataset(
                ws,
                name=name,
                images=images,
                size=parse_size(size),
                seed=seed,
                val_fraction=val_fraction,
                emit=render,
            )
        stdout.print(f"{record.name}@{record.version}  {ws.path(record.path)}")


@import_app.command("coco")
def import_coco(
    name: Annotated[str, typer.Argument(help="Dataset name.")],
    train: Annotated[Path, typer.Option(help="COCO instances JSON of the training split.")],
    val: Annotated[Path, typer.Option(help="COCO instances JSON of the validation split.")],
    images: Annotated[Path, typer.Option(help="Directory the train file_names are relative to.")],
    val_images: Annotated[
        Path | None, typer.Option(help="Directory for the val file_names (default: --images).")
    ] = None,
    class_map: Annotated[
        str,
        typer.Option(help="Built-in map name or a JSON file (see backends/datasets/classmaps)."),
    ] = "coco-4",
    size: SizeOption = "480x512",
    workspace: WorkspaceOption = None,
) -> None:
    """Import COCO instance annotations as semantic masks (polygons, RLE and crowd regions).

    Example: mllib-tui datasets import coco coco2017 --train annotations/instances_train2017.json
    --val annotations/instances_val2017.json --images train2017 --val-images val2017
    """
    from backends.datasets.build import import_coco as run_import
    from backends.datasets.classmap import ClassMap

    with diagnosed():
        ws = Workspace.open(workspace)
        splits = {"train": (train, images), "val": (val, val_images or images)}
        with RichProgress() as render:
            record = run_import(
                ws,
                name=name,
                splits=splits,
                class_map=ClassMap.load(class_map),
                size=parse_size(size),
                emit=render,
            )
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
                        "images": {s: v["images"] for s, v in r.manifest["splits"].items()},
                        "classes": r.manifest["classes"],
                    }
                    for r in records
                ]
            )
        )
        return
    table = Table("Name", "Version", "Task", "Size", "Train", "Val", "Classes")
    for r in records:
        splits = r.manifest["splits"]
        table.add_row(
            r.name,
            r.version,
            r.task,
            "x".join(map(str, r.manifest["image_size"])),
            str(splits["train"]["images"]),
            str(splits["val"]["images"]),
            ", ".join(r.manifest["classes"]),
        )
    stdout.print(table if records else "no datasets yet: try `mllib-tui datasets synth`")


@app.command()
def show(
    ref: Annotated[str, typer.Argument(help="NAME or NAME@VERSION (a version prefix is enough).")],
    workspace: WorkspaceOption = None,
    as_json: JsonOption = False,
) -> None:
    """Counts per split and the class pixel histogram of one dataset version."""
    with diagnosed():
        record = Workspace.open(workspace).catalog.dataset(ref)
    manifest = record.manifest
    if as_json:
        print(json.dumps(manifest))
        return
    stdout.print(
        f"[bold]{record.name}@{record.version}[/]  {manifest['task']}  "
        f"{'x'.join(map(str, manifest['image_size']))}  ignore={manifest['ignore']}"
    )
    table = Table(
        "Split",
        "Images",
        "Shards",
        *manifest["classes"],
        "ignored",
        title="Pixels per class",
        title_justify="left",
    )
    for split_name, split in manifest["splits"].items():
        total = sum(split["pixels"]) + split["ignored"]
        table.add_row(
            split_name,
            str(split["images"]),
            str(len(split["shards"])),
            *(f"{p / total:6.1%}" for p in [*split["pixels"], split["ignored"]]),
        )
    stdout.print(table)

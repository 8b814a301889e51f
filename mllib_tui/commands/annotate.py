"""``mllib-tui datasets export`` and ``datasets pull-labels``: a version out to a labelling tool
with the model's pre-labels, and the labels back as a new version with its lineage."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from backends.annotate import EXPORT_FORMATS, LOCAL_FILES
from backends.workspace import Workspace
from mllib_tui.console import new_console
from mllib_tui.headless.diagnostics import diagnosed
from mllib_tui.headless.output import RichProgress
from mllib_tui.options import WorkspaceOption, parse_size

pull_app = typer.Typer(
    help="Take labels back from a labelling tool's server as a new dataset version.",
    no_args_is_help=True,
)
stdout = new_console()

ValFractionOption = Annotated[
    float,
    typer.Option(
        min=0.0001,
        max=0.9999,
        help="Share of images drawn for val, where the export did not fix an image's split "
        "(a capture's frames).",
    ),
]
SeedOption = Annotated[int, typer.Option(min=0, help="Seed of that train/val draw.")]
SizeOption = Annotated[
    str | None,
    typer.Option(
        help="Stored image size, HEIGHTxWIDTH (default: the size of the dataset the classes "
        "came from)."
    ),
]


def export(
    ref: Annotated[
        str, typer.Argument(help="NAME or NAME@VERSION: a capture or a labelled version.")
    ],
    output: Annotated[Path, typer.Option(help="A new (or empty) directory to write.")],
    fmt: Annotated[
        str,
        typer.Option(
            "--format",
            help=f"{' | '.join(EXPORT_FORMATS)}: COCO as CVAT imports it, CVAT for images 1.1 "
            "XML, or Label Studio tasks with a labelling config.",
        ),
    ] = "coco",
    prelabel: Annotated[
        int | None,
        typer.Option(
            help="Artifact id of a model whose predictions become pre-labels (Label Studio: "
            "predictions; COCO and CVAT: the masks of a capture). Default for a recording: the "
            "masks the served model drew.",
        ),
    ] = None,
    image_url: Annotated[
        str,
        typer.Option(
            help="label-studio: the URL prefix of images/ in the tasks (default: Label Studio's "
            "local file serving of the export directory).",
        ),
    ] = LOCAL_FILES,
    workspace: WorkspaceOption = None,
) -> None:
    """Send a dataset version out for labelling, with a model's predictions as pre-labels.

    The export is recorded, so the labels that come back (`datasets import coco --annotations`
    or `datasets pull-labels`) find the version they label and keep its classes and splits.

    Example: mllib-tui datasets export bench-cam --format cvat --output ~/label/bench-cam
    --prelabel 12
    """
    from backends.annotate.export import export as run_export

    with diagnosed():
        ws = Workspace.open(workspace)
        with RichProgress() as render:
            record = run_export(
                ws, ref, fmt, output, render, prelabel=prelabel, image_url=image_url
            )
    stdout.print(f"export {record.id}  {record.meta['images']} images  {record.meta['output']}")


@pull_app.command("label-studio")
def pull_label_studio(
    url: Annotated[str, typer.Option(help="The Label Studio server, http(s)://HOST[:PORT].")],
    project: Annotated[int, typer.Option(min=1, help="The project's id (in its URL).")],
    name: Annotated[str, typer.Option(help="Name of the new dataset version.")],
    val_fraction: ValFractionOption = 0.2,
    seed: SeedOption = 0,
    size: SizeOption = None,
    workspace: WorkspaceOption = None,
) -> None:
    """Pull a Label Studio project's finished annotations (polygons, brush masks, rectangles)
    into a new dataset version, through its API. The token is read from LABEL_STUDIO_API_KEY
    (never from the command line, never stored).

    Example: LABEL_STUDIO_API_KEY=... mllib-tui datasets pull-labels label-studio --url
    http://localhost:8080 --project 3 --name bench-cam-labelled
    """
    from backends.annotate.labelstudio import pull

    with diagnosed():
        ws = Workspace.open(workspace)
        with RichProgress() as render:
            record = pull(
                ws,
                url=url,
                project=project,
                name=name,
                emit=render,
                val_fraction=val_fraction,
                seed=seed,
                size=parse_size(size) if size else None,
            )
        stdout.print(f"{record.ref}  {ws.path(record.path)}")

"""Options shared by every command (one definition, same help everywhere)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from backends import config
from backends.bench.stage import BenchStep
from backends.boards.fleet import CONCURRENCY
from backends.errors import BadInput


def bounds(cls: type, name: str) -> dict[str, float]:
    """``min``/``max`` of a numeric option: the bounds its config field declares, which a
    pipeline file's value meets too."""
    low, high = config.bounds(cls, name)
    return {"min": low, "max": high}


WorkspaceOption = Annotated[
    Path | None,
    typer.Option(
        "--workspace",
        "-w",
        envvar="MLLIB_WORKSPACE",
        show_default="./mllib-workspace",
        help="Workspace directory (artifacts, datasets, reports and the catalog).",
    ),
]
JsonOption = Annotated[
    bool, typer.Option("--json", help="Machine-readable output: JSON (lines) on stdout.")
]


def parse_size(text: str, *, camera: bool = False) -> tuple[int, int]:
    """``HEIGHTxWIDTH`` such as ``480x512`` (an image, as datasets and models name it); with
    ``camera``, ``WIDTHxHEIGHT`` such as ``640x480`` (as cameras do). In the order written."""
    first, sep, second = text.lower().partition("x")
    if not sep or not first.isdigit() or not second.isdigit() or not int(first) or not int(second):
        form = "WIDTHxHEIGHT, e.g. 640x480" if camera else "HEIGHTxWIDTH, e.g. 128x128 or 480x512"
        raise BadInput(f"--size {text!r} must be {form} (pixels)")
    return int(first), int(second)


JunitOption = Annotated[
    Path | None, typer.Option("--junit", help="Also write the results as JUnit XML to this file.")
]
ThreadsOption = Annotated[
    int,
    typer.Option(
        help="Threads for the runtime (0 = its default); recorded with the figures.",
        **bounds(BenchStep, "threads"),
    ),
]


def artifact_id(ref: str) -> int:
    if not ref.isdigit():
        raise BadInput(f"{ref!r} is not an artifact id: list them with `mllib-tui artifacts`")
    return int(ref)


DevicesOption = Annotated[
    Path | None,
    typer.Option(
        "--devices",
        envvar="MLLIB_DEVICES",
        show_default="<workspace>/devices.toml",
        help="The boards inventory (devices.toml).",
    ),
]
ConcurrencyOption = Annotated[
    int,
    typer.Option(help="Boards worked on at the same time.", min=CONCURRENCY[0], max=CONCURRENCY[1]),
]

CredsOption = Annotated[
    Path | None,
    typer.Option(
        "--creds",
        envvar="MLLIB_CREDS",
        help="creds.json as the original mllib wrote it (list 's3' of endpoints with sets).",
    ),
]
StorageEntryOption = Annotated[
    str | None, typer.Option("--storage", help="Which creds.json entry (by name).")
]

"""``mllib-tui engines``: TensorRT engines, built on the boards that will run them."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated

import typer

from backends.tensorrt.stage import EngineStep
from backends.workspace import Workspace
from mllib_tui.console import new_console
from mllib_tui.headless.diagnostics import diagnosed, exit_for_boards
from mllib_tui.headless.output import JsonLines, RichProgress
from mllib_tui.options import (
    ConcurrencyOption,
    DevicesOption,
    JsonOption,
    WorkspaceOption,
    artifact_id,
    bounds,
)

DEFAULTS = EngineStep()
app = typer.Typer(
    help="TensorRT engines: built on the board (they are bound to its GPU and TensorRT "
    "release), cached in the catalog by fingerprint, refused on any other board.",
    no_args_is_help=True,
)


@app.command("build")
def build(
    artifact: Annotated[str, typer.Argument(help="An ONNX artifact id (`mllib-tui artifacts`).")],
    boards: Annotated[list[str] | None, typer.Argument(help="Board names.")] = None,
    tag: Annotated[str | None, typer.Option(help="Also every board with this tag.")] = None,
    precision: Annotated[
        str, typer.Option(help="fp32, fp16 or int8 (int8 calibrates on the training split).")
    ] = "fp16",
    workspace_mb: Annotated[
        int,
        typer.Option(
            help="Builder workspace in MB; lower it on 4-8 GB Jetsons.",
            **bounds(EngineStep, "workspace_mb"),
        ),
    ] = DEFAULTS.workspace_mb,
    max_batch: Annotated[
        int,
        typer.Option(help="Largest batch the engine accepts.", **bounds(EngineStep, "max_batch")),
    ] = DEFAULTS.max_batch,
    calibration_images: Annotated[
        int,
        typer.Option(
            help="int8: images drawn stratified from the training split.",
            **bounds(EngineStep, "calibration_images"),
        ),
    ] = DEFAULTS.calibration_images,
    concurrency: ConcurrencyOption = 4,
    devices: DevicesOption = None,
    workspace: WorkspaceOption = None,
    as_json: JsonOption = False,
) -> None:
    """Build (or find in the catalog) a TensorRT engine for each board: the ONNX model, and
    for int8 a calibration shard and any cached calibration cache, go to the board; its
    TensorRT (Python module, else trtexec) builds the engine after a memory preflight; the
    engine comes back as an artifact carrying its fingerprint (GPU, compute capability,
    TensorRT, L4T, precision, ONNX and calibration hashes). Benchmark it with
    `mllib-tui bench ENGINE_ID --board NAME`."""
    from backends.boards.inventory import load_inventory
    from backends.formats import FORMATS, check_precision
    from backends.tensorrt.boards import build_on_boards

    stdout = new_console()
    with diagnosed():
        ws = Workspace.open(workspace)
        inventory = load_inventory(devices, ws.root)
        onnx = ws.catalog.artifact(artifact_id(artifact))
        chosen = inventory.select(boards or [], tag)
        step = EngineStep(
            workspace_mb=workspace_mb, max_batch=max_batch, calibration_images=calibration_images
        )
        wanted = check_precision(FORMATS["tensorrt"], precision)
        with JsonLines() if as_json else RichProgress() as render:
            results = asyncio.run(
                build_on_boards(ws, inventory, onnx, chosen, wanted, step, render, concurrency)
            )
    for name, outcome in results.items():
        if isinstance(outcome, BaseException) or as_json:
            continue
        how = (
            f"built with {outcome['builder']} in {outcome['build_seconds']} s"
            if outcome["built"]
            else "found in the catalog"
        )
        fp = outcome["fingerprint"]
        stdout.print(
            f"{name}: artifact {outcome['artifact']} ({precision}, {how}) for {fp['gpu']} "
            f"(sm {fp['compute_capability']}), TensorRT {fp['tensorrt']}"
        )
    if as_json:
        print(
            json.dumps(
                {n: (str(o) if isinstance(o, BaseException) else o) for n, o in results.items()}
            )
        )
    exit_for_boards(results)

"""``mllib-tui acquire``: frames from a board's camera into an unlabelled dataset version."""

from __future__ import annotations

import asyncio
import signal
from typing import Annotated

import typer

from backends import events as ev
from backends.acquire.run import Acquire
from backends.catalog import DatasetRecord
from backends.errors import BadInput
from backends.workspace import Workspace
from mllib_tui.console import new_console
from mllib_tui.headless.diagnostics import diagnosed
from mllib_tui.headless.output import JsonLines, RichProgress
from mllib_tui.options import DevicesOption, JsonOption, WorkspaceOption, bounds, parse_size

DEFAULTS = Acquire()


def acquire(
    board: Annotated[str, typer.Argument(help="Board name from devices.toml (or local).")],
    camera: Annotated[
        str | None,
        typer.Option(
            help="A device index (0), /dev/videoN, a video file, an RTSP URL, a GStreamer "
            "pipeline ending in appsink, or csi / csi://N (Picamera2 on a Pi, jetson-utils on "
            "a Jetson). Opened on the board.",
            show_default="the board's camera in devices.toml, else 0",
        ),
    ] = None,
    frames: Annotated[
        int, typer.Option(help="Frames to keep.", **bounds(Acquire, "frames"))
    ] = DEFAULTS.frames,
    interval: Annotated[
        float,
        typer.Option(
            help="Seconds between frames (0: as fast as the camera gives them).",
            **bounds(Acquire, "interval"),
        ),
    ] = DEFAULTS.interval,
    size: Annotated[
        str | None,
        typer.Option(
            help="Frame size WIDTHxHEIGHT, as cameras name it (640x480); default: the "
            "camera's own. The board asks the camera for it and resizes what differs."
        ),
    ] = None,
    quality: Annotated[
        int, typer.Option(help="JPEG quality when the board encodes.", **bounds(Acquire, "quality"))
    ] = DEFAULTS.quality,
    dataset: Annotated[str, typer.Option(help="Dataset name to keep them under.")] = (
        DEFAULTS.dataset
    ),
    keep: Annotated[
        str,
        typer.Option(
            help="all: every frame; uncertain: the model (--model) runs on the board on each "
            "of --candidates frames and the --frames it is least sure of are kept, with "
            "their scores (mean pixel entropy): label those first."
        ),
    ] = DEFAULTS.keep,
    model: Annotated[
        int | None, typer.Option(help="Artifact id of the model that scores frames.")
    ] = None,
    runtime: Annotated[
        str | None, typer.Option(help="Runtime for --model (default: the first for its format).")
    ] = None,
    candidates: Annotated[
        int | None,
        typer.Option(
            help="Frames examined with --keep uncertain (default: 10 x --frames).",
            **bounds(Acquire, "candidates"),
        ),
    ] = None,
    devices: DevicesOption = None,
    workspace: WorkspaceOption = None,
    as_json: JsonOption = False,
) -> None:
    """Capture frames on a board's camera, over SSH only, into an unlabelled dataset version:
    the board encodes JPEG and streams the frames back; they are stored content-addressed with
    their capture metadata. Ctrl-C stops the capture and keeps what arrived (a version marked
    partial); a board without a capture library gets one line saying what to install."""
    from backends.acquire.run import acquire as run_acquire
    from backends.boards.inventory import load_inventory

    stdout = new_console()
    with diagnosed():
        if keep not in ("all", "uncertain"):
            raise BadInput(f"--keep {keep!r}: use all or uncertain")
        settings = Acquire(
            board=board,
            camera=camera,
            frames=frames,
            interval=interval,
            size=parse_size(size, camera=True) if size else None,
            quality=quality,
            dataset=dataset,
            keep=keep,  # type: ignore[arg-type]  # checked above
            model=model,
            runtime=runtime,
            candidates=candidates,
        )
        ws = Workspace.open(workspace)
        inventory = load_inventory(devices, ws.root)
        with JsonLines() if as_json else RichProgress() as render:

            async def capture() -> DatasetRecord:
                stopping = asyncio.Event()
                task = asyncio.current_task()
                loop = asyncio.get_running_loop()

                def on_interrupt() -> None:
                    if stopping.is_set() and task is not None:
                        task.cancel()  # a second Ctrl-C: stop waiting for the board
                        return
                    stopping.set()
                    render(
                        ev.Log(
                            stage="acquire",
                            level="info",
                            message="stopping: the frames so far are kept (Ctrl-C again to "
                            "stop waiting for the board)",
                        )
                    )

                loop.add_signal_handler(signal.SIGINT, on_interrupt)
                try:
                    return await run_acquire(ws, inventory, settings, render, stopping)
                finally:
                    loop.remove_signal_handler(signal.SIGINT)

            try:
                record = asyncio.run(capture())
            except asyncio.CancelledError:
                raise KeyboardInterrupt from None
        manifest = record.manifest
        if as_json:
            summary = {k: v for k, v in manifest.items() if k != "frames"}
            print(ev.encode(ev.Result(stage="acquire", name=record.name, data=summary)))
        else:
            mark = " (partial)" if manifest["partial"] else ""
            stdout.print(
                f"{record.name}@{record.version}{mark}: {manifest['images']} frames from "
                f"{board} {manifest['capture']['camera']}"
            )

"""``mllib-tui serve``: a deployed model live on a board's camera."""

from __future__ import annotations

import asyncio
import signal
import sys
from typing import Annotated, Any

import typer

from backends import events as ev
from backends.serve.run import Serve
from backends.workspace import Workspace
from mllib_tui.console import new_console
from mllib_tui.headless.diagnostics import diagnosed
from mllib_tui.headless.output import JsonLines, RichProgress
from mllib_tui.options import DevicesOption, JsonOption, WorkspaceOption, bounds, parse_size

DEFAULTS = Serve()


def serve(
    artifact: Annotated[
        int, typer.Argument(help="Artifact id of the model (`mllib-tui artifacts`).")
    ],
    board: Annotated[str, typer.Argument(help="Board name from devices.toml (or local).")],
    camera: Annotated[
        str | None,
        typer.Option(
            help="What the board opens (as `acquire --camera`).",
            show_default="the board's camera in devices.toml, else 0",
        ),
    ] = None,
    runtime: Annotated[
        str | None, typer.Option(help="Runtime (default: the first for the format).")
    ] = None,
    seconds: Annotated[
        float | None,
        typer.Option(
            help="Stop after this long (default: until stopped).", **bounds(Serve, "seconds")
        ),
    ] = None,
    every: Annotated[
        int,
        typer.Option(help="A frame's JPEG comes with every k-th result.", **bounds(Serve, "every")),
    ] = DEFAULTS.every,
    mask_width: Annotated[
        int | None,
        typer.Option(
            help="Width of the mask the board sends (0: the frame's).",
            show_default="160, or the frame's with --record",
            **bounds(Serve, "mask_width"),
        ),
    ] = None,
    size: Annotated[
        str | None, typer.Option(help="Frame size WIDTHxHEIGHT (default: the camera's).")
    ] = None,
    http: Annotated[
        int | None,
        typer.Option(
            help="Also serve MJPEG with the overlay on this port of the board's loopback, "
            "forwarded here through the SSH connection (the URL is printed).",
            **bounds(Serve, "http"),
        ),
    ] = None,
    local_port: Annotated[
        int,
        typer.Option(
            help="The local end of --http (0: any free port).", **bounds(Serve, "local_port")
        ),
    ] = 0,
    record: Annotated[
        str | None,
        typer.Option(
            help="Keep the frames that came with a JPEG, the model's masks as pre-labels, as "
            "this unlabelled dataset."
        ),
    ] = None,
    headless: Annotated[
        bool, typer.Option(help="No preview: progress and the run's figures (a soak, for CI).")
    ] = False,
    min_fps: Annotated[
        float | None,
        typer.Option(help="Gate: exit 1 when the run is slower.", **bounds(Serve, "min_fps")),
    ] = None,
    devices: DevicesOption = None,
    workspace: WorkspaceOption = None,
    as_json: JsonOption = False,
) -> None:
    """Run a model on a board's camera, live: the board captures, infers and draws nothing; it
    streams each frame's class mask and latencies (and every k-th frame) over SSH. In a
    terminal a preview shows the frame with its mask, frames/s, p50/p99 latency and the class
    shares (q stops); with --headless (or output not a terminal) it prints the run's figures,
    and --min-fps gates the exit status. The board's process ends when this does."""
    from backends.serve.run import serve as run_serve

    stdout = new_console()
    with diagnosed():
        settings = Serve(
            artifact=artifact,
            board=board,
            camera=camera,
            runtime=runtime,
            seconds=seconds,
            every=every,
            mask_width=mask_width,
            size=parse_size(size, camera=True) if size else None,
            http=http,
            local_port=local_port,
            record=record,
            min_fps=min_fps,
        )
        ws = Workspace.open(workspace)
        if not headless and not as_json and sys.stdout.isatty():
            _preview(ws, devices, settings)
            return
        from backends.boards.inventory import load_inventory

        inventory = load_inventory(devices, ws.root)
        with JsonLines() if as_json else RichProgress() as render:

            async def soak() -> dict[str, Any]:
                stopping = asyncio.Event()
                loop = asyncio.get_running_loop()
                loop.add_signal_handler(signal.SIGINT, stopping.set)  # Ctrl-C ends the soak
                try:
                    return await run_serve(ws, inventory, settings, render, until=stopping)
                finally:
                    loop.remove_signal_handler(signal.SIGINT)

            figures = asyncio.run(soak())
        if as_json:
            print(ev.encode(ev.Result(stage="serve", name=board, data=figures)))
        else:
            stdout.print(_summary(figures))


def _summary(f: dict[str, Any]) -> str:
    def ms(value: float | None) -> str:
        return "-" if value is None else f"{value:.1f}"

    temps = ""
    if f.get("temperature_start_c") is not None:
        temps = f", {f['temperature_start_c']:.0f} -> {f['temperature_end_c']:.0f} °C"
    return (
        f"{f['board']}: {f['frames']} frames in {f['seconds']:.1f} s, {f['fps']:.1f} frames/s; "
        f"inference p50 {ms(f['inference_p50_ms'])} ms p99 {ms(f['inference_p99_ms'])} ms; "
        f"end to end p50 {ms(f['e2e_p50_ms'])} ms p99 {ms(f['e2e_p99_ms'])} ms; "
        f"{f['lost']} lost{temps}"
    )


def _preview(ws: Workspace, devices: Any, settings: Serve) -> None:
    from textual.app import App

    from mllib_tui.screens.serve import ServeScreen

    artifact = ws.catalog.artifact(settings.artifact)
    classes: list[str] = []
    if artifact.dataset_id is not None:
        classes = list(ws.catalog.dataset_by_id(artifact.dataset_id).manifest.get("classes", []))
    screen = ServeScreen(ws, devices, settings, classes)

    class Preview(App[None]):
        def on_mount(self) -> None:
            self.push_screen(screen)

    Preview().run()
    if isinstance(screen.outcome, str):
        from backends.errors import StageFailed

        raise StageFailed(screen.outcome)
    if isinstance(screen.outcome, dict):
        new_console().print(_summary(screen.outcome))

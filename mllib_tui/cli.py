"""The ``mllib-tui`` command: the app without arguments; one module per noun otherwise."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Annotated, Any

import typer
import typer.main
from rich.markup import escape

from mllib_tui.commands import boards, datasets, engines, storage
from mllib_tui.commands.acquire import acquire
from mllib_tui.commands.bench import bench
from mllib_tui.commands.convert import convert
from mllib_tui.commands.deploy import deploy
from mllib_tui.commands.results import artifacts, results
from mllib_tui.commands.run import run
from mllib_tui.commands.serve import serve
from mllib_tui.options import DevicesOption, WorkspaceOption

app = typer.Typer(
    name="mllib-tui",
    help="Take an embedded computer-vision model through dataset -> train -> convert -> "
    "deploy -> benchmark on boards. Without a command, opens the app; "
    "`mllib-tui run --headless` runs the demo for CI.",
    invoke_without_command=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(datasets.app, name="datasets")
app.add_typer(boards.app, name="boards")
app.add_typer(storage.app, name="storage")
app.add_typer(engines.app, name="engines")
app.command("run")(run)
app.command("acquire")(acquire)
app.command("serve")(serve)
app.command("convert")(convert)
app.command("bench")(bench)
app.command("deploy")(deploy)
app.command("results")(results)
app.command("artifacts")(artifacts)


@app.callback()
def main_callback(
    ctx: typer.Context,
    workspace: WorkspaceOption = None,
    devices: DevicesOption = None,
    pipeline: Annotated[
        Path | None,
        typer.Option(help="Pipeline file the app's demo key (r) runs; default: the built-in demo."),
    ] = None,
) -> None:
    """Without a command: the keyboard-driven app (datasets, training, conversions, boards)."""
    import os

    # `mllib-tui -w WS datasets list` means the same as `mllib-tui datasets list -w WS`.
    for variable, value in (("MLLIB_WORKSPACE", workspace), ("MLLIB_DEVICES", devices)):
        if value is not None:
            os.environ[variable] = str(value)
    if ctx.invoked_subcommand is None:
        from mllib_tui.app import MllibApp

        MllibApp(workspace, devices, pipeline).run()


def command() -> Any:
    """The click command tree of ``app``, its help written as prose for Rich: each paragraph's
    line breaks joined (Typer keeps them after the first paragraph, which breaks lines
    mid-sentence at any width) and brackets escaped (Rich would take ``[gates]`` or
    ``NAME[@VERSION]`` for markup and print nothing)."""
    root = typer.main.get_command(app)
    stack = [root]
    while stack:  # click commands (Typer's own copy of click): groups have commands
        node = stack.pop()
        node.help = _prose(node.help)
        for param in node.params:
            if getattr(param, "help", None):
                param.help = _prose(param.help)
        stack += getattr(node, "commands", {}).values()
    return root


def _prose(text: str | None) -> str | None:
    if not text:
        return text
    paragraphs = inspect.cleandoc(text).split("\n\n")
    return "\n\n".join(escape(" ".join(p.split())) for p in paragraphs)


def main() -> None:
    command()(prog_name="mllib-tui")

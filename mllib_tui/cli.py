"""The ``mllib-tui`` command: one module per noun, composed here."""

from __future__ import annotations

import typer

from mllib_tui.commands import boards, datasets
from mllib_tui.commands.bench import bench
from mllib_tui.commands.convert import convert
from mllib_tui.commands.deploy import deploy
from mllib_tui.commands.results import artifacts, results
from mllib_tui.commands.run import run

app = typer.Typer(
    name="mllib-tui",
    help="Take an embedded computer-vision model through dataset -> train -> convert -> "
    "benchmark, "
    "from the terminal. Start with `mllib-tui run --headless` (the demo on this machine).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(datasets.app, name="datasets")
app.add_typer(boards.app, name="boards")
app.command("deploy")(deploy)

app.command("run")(run)
app.command("convert")(convert)
app.command("bench")(bench)
app.command("results")(results)
app.command("artifacts")(artifacts)


def main() -> None:
    app()

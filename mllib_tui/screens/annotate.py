"""The dataset screen's labelling forms: export a version for labelling (format, directory,
the model that pre-labels it) and pull a Label Studio project's labels back."""

from __future__ import annotations

import os
from pathlib import Path

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select

from backends.annotate import EXPORT_FORMATS, TOKEN_ENV
from mllib_tui.screens.modals import MODAL_CSS

Export = tuple[str, Path, int | None]  # format, output directory, pre-labelling artifact
Pull = tuple[str, int, str]  # url, project, dataset name


class ExportForm(ModalScreen[Export | None]):
    DEFAULT_CSS = MODAL_CSS
    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel", id="modal-cancel")]

    def __init__(self, ref: str, output: Path, models: list[tuple[str, int]]) -> None:
        super().__init__()
        self.ref, self.output, self.models = ref, output, models

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(f"Export {self.ref} for labelling")
            yield Select([(f, f) for f in EXPORT_FORMATS], value="cvat", allow_blank=False,
                         id="format")  # fmt: skip
            yield Input(str(self.output), placeholder="a new directory", id="output")
            yield Select(self.models, prompt="pre-labels: none", id="prelabel")
            with Horizontal():
                yield Button("Export", variant="primary", id="export")
                yield Button("Cancel (esc)", id="cancel")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id != "export":
            self.dismiss(None)
            return
        output = self.query_one("#output", Input).value.strip()
        if not output:
            self.notify("name a directory to export into", severity="error")
            return
        prelabel = self.query_one("#prelabel", Select).value
        fmt = str(self.query_one("#format", Select).value)
        self.dismiss(
            (fmt, Path(output).expanduser(), prelabel if isinstance(prelabel, int) else None)
        )


class PullForm(ModalScreen[Pull | None]):
    DEFAULT_CSS = MODAL_CSS
    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel", id="modal-cancel")]

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name_ = name

    def compose(self) -> ComposeResult:
        token = "set" if os.environ.get(TOKEN_ENV) else "NOT SET: the pull will fail"
        with Vertical():
            yield Label(f"Pull labels from Label Studio ({TOKEN_ENV} {token})")
            yield Input("http://localhost:8080", placeholder="server URL", id="url")
            yield Input(placeholder="project id", type="integer", id="project")
            yield Input(self.name_, placeholder="new dataset name", id="name")
            with Horizontal():
                yield Button("Pull", variant="primary", id="pull")
                yield Button("Cancel (esc)", id="cancel")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id != "pull":
            self.dismiss(None)
            return
        url, project, name = (self.query_one(f"#{i}", Input).value.strip()
                              for i in ("url", "project", "name"))  # fmt: skip
        if not (url and project.isdigit() and int(project) > 0 and name):
            self.notify("give the server's URL, a project id and a dataset name", severity="error")
            return
        self.dismiss((url, int(project), name))

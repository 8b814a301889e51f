"""Small forms and confirmations, each a ``ModalScreen`` returning its answer."""

from __future__ import annotations

from typing import Any

from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen, Screen
from textual.widgets import Button, Input, Label, Select, SelectionList

from backends.formats import FORMATS

MODAL_CSS = """
ModalScreen { align: center middle; }
ModalScreen > Vertical { width: 64; max-width: 100%; height: auto; border: thick $accent;
                         background: $surface; padding: 1 2; }
ModalScreen Horizontal { height: auto; margin-top: 1; }
ModalScreen Button { margin-right: 2; }
"""


class Confirm(ModalScreen[bool]):
    DEFAULT_CSS = MODAL_CSS
    BINDINGS = [
        Binding("escape", "dismiss(False)", "Cancel", id="modal-cancel"),
        Binding("y", "dismiss(True)", "Yes", id="modal-yes"),
    ]

    def __init__(self, question: str) -> None:
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self.question)
            with Horizontal():
                yield Button("Yes (y)", variant="primary", id="yes")
                yield Button("No (esc)", id="no")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")


class DeployForm(ModalScreen[list[str] | None]):
    """Pick boards for an artifact; space toggles, enter deploys."""

    DEFAULT_CSS = MODAL_CSS + "DeployForm SelectionList { height: auto; max-height: 12; }"
    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel", id="modal-cancel")]

    def __init__(self, artifact: str, boards: list[str]) -> None:
        super().__init__()
        self.artifact, self.boards = artifact, boards

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(f"Deploy {self.artifact} to (space selects, enter confirms):")
            yield SelectionList[str](
                *((b, b, i == 0) for i, b in enumerate(self.boards)), id="boards"
            )
            with Horizontal():
                yield Button("Deploy", variant="primary", id="deploy")
                yield Button("Cancel (esc)", id="cancel")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self._answer(event.button.id == "deploy")

    def key_enter(self) -> None:
        self._answer(True)

    def _answer(self, deploy: bool) -> None:
        chosen = list(self.query_one(SelectionList).selected)
        self.dismiss(chosen if deploy and chosen else None)


class TrainForm(ModalScreen[tuple[str, int] | None]):
    """Dataset and epochs for a training run (the input size is the dataset's)."""

    DEFAULT_CSS = MODAL_CSS
    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel", id="modal-cancel")]

    def __init__(self, datasets: list[str]) -> None:
        super().__init__()
        self.datasets = datasets

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("Train a UNet")
            yield Select(
                [(d, d) for d in self.datasets],
                value=self.datasets[-1],
                allow_blank=False,
                id="dataset",
            )
            yield Input("15", placeholder="epochs", type="integer", id="epochs")
            with Horizontal():
                yield Button("Train", variant="primary", id="train")
                yield Button("Cancel (esc)", id="cancel")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self._answer(event.button.id == "train")

    def on_input_submitted(self) -> None:
        self._answer(True)

    def _answer(self, ok: bool) -> None:
        epochs = self.query_one("#epochs", Input).value
        if ok and epochs.isdigit() and int(epochs) > 0:
            self.dismiss((str(self.query_one("#dataset", Select).value), int(epochs)))
        elif ok:
            self.notify("epochs must be a whole number above 0", severity="error")
        else:
            self.dismiss(None)


class ConvertForm(ModalScreen[str | None]):
    DEFAULT_CSS = MODAL_CSS
    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel", id="modal-cancel")]
    TARGETS = [f"{f.name}:{p}" for f in FORMATS.values() if f.converter for p in f.precisions]

    def __init__(self, model: str) -> None:
        super().__init__()
        self.model = model

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(f"Convert {self.model} to:")
            yield Select(
                [(t, t) for t in self.TARGETS], value="tflite:int8", allow_blank=False, id="target"
            )
            with Horizontal():
                yield Button("Queue", variant="primary", id="queue")
                yield Button("Cancel (esc)", id="cancel")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(str(self.query_one(Select).value) if event.button.id == "queue" else None)


class Help(ModalScreen[None]):
    DEFAULT_CSS = MODAL_CSS + "Help > Vertical { width: 72; }"
    BINDINGS = [Binding("escape,question_mark,q", "dismiss", "Close", id="help-close")]

    def __init__(self, lines: list[tuple[str, str]]) -> None:
        super().__init__()
        self.lines = lines

    @classmethod
    def of(cls, app: App[Any], screen: Screen[Any], extra: list[tuple[str, str]]) -> Help:
        """The keys ``screen`` answers now (the keymap's, shown as the footer shows them),
        then ``extra``."""
        keys: dict[str, list[str]] = {}
        for active in screen.active_bindings.values():
            binding = active.binding
            if binding.description and binding.action != "command_palette":
                shown = keys.setdefault(binding.description, [])
                if (key := app.get_key_display(binding)) not in shown:
                    shown.append(key)
        return cls([*((" ".join(k), description) for description, k in keys.items()), *extra])

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("[b]mllib keys[/b] (remap them in ~/.config/mllib/keymap.toml)")
            for key, description in self.lines:
                yield Label(f"  [b]{key:>8}[/b]  {description}")
            yield Label("\nctrl+p opens the command palette; esc closes this.")

"""A model live on a board's camera: the newest frame with the model's mask over it, frames/s,
p50/p99 latency and the class shares of the frame. The serve loop runs in a thread worker; the
screen redraws on a timer from the newest result (at most 15 times a second however fast frames
arrive), so the event loop's work per frame is constant; the image's cells are built in the
worker thread, so the loop only swaps them in. Escape or q stops it; the board's
process ends with the connection's command."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Footer, Header, Static

from backends.errors import MllibError
from backends.workspace import Workspace
from mllib_tui.widgets.image import ImageView

REDRAW = 1 / 25  # seconds between redraws at most


class ServeScreen(Screen[None]):
    DEFAULT_CSS = """
    ServeScreen #side { width: 34; padding: 0 1; }
    ServeScreen #figures { height: 6; }
    ServeScreen #legend { height: 1fr; }
    """
    BINDINGS = [
        Binding("escape,q", "stop", "Stop", id="serve-stop"),
        Binding("o", "toggle_overlay", "Overlay", id="serve-overlay"),
    ]

    def __init__(self, ws: Workspace, devices: Any, settings: Any, classes: list[str]) -> None:
        super().__init__()
        self.ws, self.devices, self.settings = ws, devices, settings
        self.class_names = classes
        self.latest: Any = None  # (the newest Live, its cells), set from the worker thread
        self.shown = -1
        self.drawn = 0  # frames drawn (for the preview benchmark)
        self.overlay = True
        self.outcome: dict[str, Any] | str | None = None  # the run's figures, or its error
        self.closing = False  # stop asked for: close once the board's loop has ended
        self.gone = False  # unmounted: nothing left to update
        self._stop: tuple[asyncio.AbstractEventLoop, asyncio.Event] | None = None
        self._built = 0.0  # when the image's cells were last built
        self._cells: Any = None  # the frame, mask, rows and size shown

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal():
            yield ImageView(id="live")
            with Vertical(id="side"):
                yield Static("connecting…", id="figures")
                yield Static("", id="legend")
        yield Footer()

    def on_mount(self) -> None:
        self.title = f"serve artifact {self.settings.artifact} on {self.settings.board}"
        self.image = self.query_one(ImageView)
        self.set_interval(REDRAW, self.redraw)
        self.run_serve()

    @work(thread=True, exit_on_error=False, group="serve")
    def run_serve(self) -> None:
        from backends.boards.inventory import load_inventory
        from backends.serve.run import serve

        async def main() -> dict[str, Any]:
            self._stop = (asyncio.get_running_loop(), asyncio.Event())
            if self.closing:  # stopped before it connected
                self._stop[1].set()
            inventory = load_inventory(self.devices, self.ws.root)
            return await serve(
                self.ws, inventory, self.settings, lambda _e: None, self._live, self._stop[1]
            )

        try:
            outcome: dict[str, Any] | str = asyncio.run(main())
        except MllibError as exc:
            outcome = str(exc)
        try:
            self.app.call_from_thread(self.finished, outcome)
        except RuntimeError:  # the app has exited already
            self.outcome = outcome

    def _live(self, live: Any) -> None:
        """In the worker thread: the frame's cells built here, at most once per redraw (a
        board sends more frames than the terminal shows), then one assignment the timer picks
        up (a newer result replaces one not drawn yet)."""
        now = time.monotonic()
        if live.frame is None or now - self._built < REDRAW:
            self.latest = live, self.latest[1] if self.latest else None  # the image waits
            return
        view = self.image  # found on mount: no DOM query from this thread
        size = (view.size.width, view.size.height)
        mask = live.mask if self.overlay else None
        self._built = now
        self.latest = live, (live.frame, mask, view.draw(live.frame, mask, 255, *size), size)

    def redraw(self) -> None:
        if self.latest is None or self.latest[0].index == self.shown:
            return
        live, cells = self.latest
        self.shown = live.index
        self.drawn += 1
        if cells is not None and cells is not self._cells:
            self._cells = cells
            self.image.show_drawn(*cells)
        figures = live.figures
        self.query_one("#figures", Static).update(
            Text(
                f"frame {live.index}\n{figures['fps_now']:.1f} frames/s\n"
                f"inference p50 {_ms(figures['inference_p50_ms'])}  "
                f"p99 {_ms(figures['inference_p99_ms'])}\n"
                f"end to end p50 {_ms(figures['e2e_p50_ms'])}  p99 {_ms(figures['e2e_p99_ms'])}\n"
                f"lost {figures['lost']}"
            ),
            layout=False,  # fixed sizes: a new frame's text needs no layout pass
        )
        names = self.class_names or [str(i) for i in range(len(live.shares))]
        legend = Text("\nClass        share\n", style="bold")
        for name, share in zip(names, live.shares, strict=False):  # the board names the count
            legend.append(f"{name[:11]:<11} {share:6.1%}\n")
        self.query_one("#legend", Static).update(legend, layout=False)

    def finished(self, outcome: dict[str, Any] | str) -> None:
        self.outcome = outcome
        if self.gone:
            return
        if self.closing:
            self.dismiss_or_exit()
            return
        if isinstance(outcome, str):
            self.query_one("#figures", Static).update(Text(outcome, style="red"))
            self.notify(outcome, severity="error", markup=False, timeout=15)
            return
        self.query_one("#figures", Static).update(
            Text(
                f"stopped: {outcome['frames']} frames in {outcome['seconds']:.1f} s, "
                f"{outcome['fps']:.1f} frames/s\n{outcome.get('reason') or ''}"
            )
        )

    def action_toggle_overlay(self) -> None:
        self.overlay = not self.overlay
        self.shown = -1

    def on_unmount(self) -> None:
        """The screen closed or the app quit some other way: the board's loop stops too."""
        self.gone = True
        if self._stop is not None and self.outcome is None:
            loop, event = self._stop
            loop.call_soon_threadsafe(event.set)

    def action_stop(self) -> None:
        """Stop serving; the screen closes once the board's process has ended."""
        self.closing = True
        if self.outcome is not None:
            self.dismiss_or_exit()
        elif self._stop is not None:
            loop, event = self._stop
            loop.call_soon_threadsafe(event.set)

    def dismiss_or_exit(self) -> None:
        if len(self.app.screen_stack) > 2:
            self.app.pop_screen()
        else:
            self.app.exit()


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} ms"

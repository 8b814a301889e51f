"""A confusion matrix as coloured cells with class labels; raw counts or row-normalised."""

from __future__ import annotations

from rich.style import Style
from rich.table import Table
from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

# white -> deep blue, like the report's PNGs (and readable without colour: values are printed)
COMPACT = 6
_STOPS = [(255, 255, 255), (158, 202, 225), (49, 130, 189), (8, 48, 107)]


def shade(value: float) -> Style:
    value = min(max(value, 0.0), 1.0) * (len(_STOPS) - 1)
    i = min(int(value), len(_STOPS) - 2)
    t = value - i
    r, g, b = (round(a + (b_ - a) * t) for a, b_ in zip(_STOPS[i], _STOPS[i + 1], strict=True))
    return Style(bgcolor=f"rgb({r},{g},{b})", color="white" if value > 1.2 else "black")


class ConfusionHeatmap(Widget):
    DEFAULT_CSS = """
    ConfusionHeatmap { height: auto; min-height: 6; padding: 0 1; }
    """
    normalised: reactive[bool] = reactive(True)

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.matrix: list[list[int]] | None = None
        self.class_names: list[str] = []  # not `classes`: that is Textual's CSS class set
        self.title = ""

    def show(self, matrix: list[list[int]] | None, classes: list[str], title: str) -> None:
        self.matrix, self.class_names, self.title = matrix, classes, title
        self.refresh(layout=True)

    def render(self) -> Table | Text:
        if not self.matrix:
            return Text("No confusion matrix yet: run a benchmark (b).", style="dim")
        size = len(self.matrix)
        names = self.class_names if len(self.class_names) == size else list(map(str, range(size)))
        # Up to COMPACT classes, where they fit: names on both axes and 0.00 shares. More
        # (Fashion-MNIST's 10) or a narrow panel: numbered columns and shares in percent, so
        # 10x10 fits a side panel of 50 columns and 4x4 one of 30.
        compact = size > COMPACT or self.size.width < 12 + 8 * size
        mode = "row-normalised" + (" %" if compact else "") if self.normalised else "counts"
        table = Table(
            title=f"{self.title} — {mode} (n toggles)",
            title_justify="left",
            show_edge=False,
            pad_edge=False,
            box=None,
            padding=(0, 0 if compact else 1),
        )
        table.add_column("true↓ pred→", style="bold")
        for i, name in enumerate(names):
            table.add_column(str(i) if compact else name[:9], justify="right")
        for i, (name, row) in enumerate(zip(names, self.matrix, strict=True)):
            total = sum(row) or 1
            cells = []
            for count in row:
                share = count / total
                if not self.normalised:
                    text = f" {count} "
                elif compact:
                    text = f"{round(share * 100):>3} "
                else:
                    text = f" {share:.2f} "
                cells.append(Text(text, style=shade(share)))
            table.add_row(f"{i} {name[:10]}" if compact else name, *cells)
        return table

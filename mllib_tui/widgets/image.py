"""Images in the terminal: half-block cells in 24-bit colour, in any terminal, over SSH and in
tmux. Each cell is two pixels: '▀' in the upper pixel's colour over the lower pixel's
background, so a W x H region shows a W x 2H image (about square pixels). A class mask, when
given, is blended over the image in the report's palette.

Rows are built once per image and size and cached; runs of equal cells share one segment, so a
frame costs one resize and a few thousand style lookups (``benchmarks/image_widget.py``).
Terminal graphics protocols (kitty, sixel) are not used: Textual composes cells, and a protocol
image would not survive its redraws.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.color import Color
from rich.segment import Segment
from rich.style import Style
from textual.filter import ANSIToTruecolor, LineFilter
from textual.strip import Strip
from textual.widget import Widget

if TYPE_CHECKING:  # numpy loads with the first image, not before the app's first frame
    import numpy as np

UPPER_HALF = "\u2580"


class ImageView(Widget):
    DEFAULT_CSS = """
    ImageView { width: 1fr; height: 1fr; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._image: np.ndarray | None = None
        self._mask: np.ndarray | None = None
        self._ignore = 255
        self._lines: list[Strip] = []
        self._built_for: tuple[int, int] | None = None
        self._styles: dict[tuple[int, ...], Style] = {}

    def show(self, image: np.ndarray | None, mask: np.ndarray | None = None, ignore: int = 255):
        """Draw ``image`` (H x W x 3 uint8 RGB; None clears) with ``mask`` (H x W class
        indices) blended over it when given."""
        self._image, self._mask, self._ignore = image, mask, ignore
        self._built_for = None
        self.refresh()

    def render_line(self, y: int) -> Strip:
        width, height = self.size
        if self._built_for != (width, height):
            self._lines = self.rows(width, height)
            self._built_for = (width, height)
        return self._lines[y] if y < len(self._lines) else Strip.blank(width)

    def get_line_filters(self) -> list[LineFilter]:
        """The app's filters but the ANSI-to-truecolor one: every cell is a 24-bit colour
        already, and that filter's per-style cache (1,024) is smaller than a frame's colours, so
        it would cost the event loop about 7 ms a frame for nothing."""
        return [f for f in super().get_line_filters() if not isinstance(f, ANSIToTruecolor)]

    def show_drawn(
        self, image: np.ndarray, mask: np.ndarray | None, lines: list[Strip], size: tuple[int, int]
    ) -> None:
        """``image`` as ``draw`` made it for ``size`` in a worker thread: the event loop only
        swaps the rows in (a live feed's frames cost it nothing to build)."""
        self._image, self._mask = image, mask
        self._lines, self._built_for = lines, size
        self.refresh()

    def rows(self, width: int, height: int) -> list[Strip]:
        """The image fitted into ``width`` x ``height`` cells, centred, one strip per row."""
        return self.draw(self._image, self._mask, self._ignore, width, height)

    def draw(
        self,
        image: np.ndarray | None,
        mask: np.ndarray | None,
        ignore: int,
        width: int,
        height: int,
    ) -> list[Strip]:
        """The rows of ``image`` (and ``mask``) in ``width`` x ``height`` cells; any thread."""
        import numpy as np

        if image is None or width < 1 or height < 1:
            return []
        pixels = fit(image, mask, ignore, width, height * 2)
        h, w = pixels.shape[:2]
        left = (width - w) // 2
        top = (height - h // 2) // 2
        pad = [Segment(" " * left)] if left else []
        lines = [Strip.blank(width)] * top
        for row in range(0, h - 1, 2):
            upper, lower = pixels[row], pixels[row + 1]
            cells = np.concatenate([upper, lower], axis=1)  # (w, 6): one key per cell
            change = np.flatnonzero(np.any(cells[1:] != cells[:-1], axis=1)) + 1
            starts = [0, *change.tolist()]
            ends = [*change.tolist(), w]
            segments = [
                Segment(UPPER_HALF * (end - start), self._style(cells[start]))
                for start, end in zip(starts, ends, strict=True)
            ]
            lines.append(Strip([*pad, *segments], left + w).extend_cell_length(width))
        return lines

    def _style(self, cell: Any) -> Style:
        key = tuple(cell.tolist())
        style = self._styles.get(key)
        if style is None:
            if len(self._styles) > 65536:
                self._styles.clear()
            style = Style.from_color(Color.from_rgb(*key[:3]), Color.from_rgb(*key[3:]))
            self._styles[key] = style
        return style


def fit(
    image: np.ndarray, mask: np.ndarray | None, ignore: int, width: int, height: int
) -> np.ndarray:
    """``image`` (with ``mask`` blended over) scaled to fit ``width`` x ``height`` pixels,
    keeping its aspect; an even number of rows (two per cell)."""
    import cv2
    import numpy as np

    from backends.palette import overlay

    h, w = image.shape[:2]
    scale = min(width / w, height / h)
    size = (max(1, round(w * scale)), max(2, round(h * scale) // 2 * 2))
    rgb = image if image.shape[-1] == 3 else np.repeat(image, 3, axis=-1)
    small = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
    if mask is not None:
        classes = cv2.resize(mask.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST)
        small = overlay(small, classes, ignore)
    return small

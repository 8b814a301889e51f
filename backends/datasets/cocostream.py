"""A COCO annotation file streamed: its images and categories read whole, its annotations one
at a time (ijson's C parser), so that memory follows the images and not the file's size.

The COCO loader validates what this yields exactly as it validates a document read whole; a
file this parser refuses is read whole instead (``coco.read``), which says where it is wrong.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any


class Unstreamable(Exception):
    """The streaming parser refused the file: ``coco.read`` then reads it whole, or says where
    it is wrong."""


def streamed(annotations_file: Path) -> tuple[list[Any], list[Any], Iterator[Any]]:
    """The file's images and categories, and an iterator over its annotations, parsed as they
    are reached (the file is read again for each: its parts can come in any order)."""
    import ijson

    def parsed(prefix: str) -> Iterator[Any]:
        try:
            with open(annotations_file, "rb") as handle:
                yield from ijson.items(handle, prefix, use_float=True)
        except (OSError, ValueError, ijson.JSONError):  # ValueError: UTF-8, numbers
            raise Unstreamable from None

    images, categories = (next(parsed(key), None) for key in ("images", "categories"))
    if not isinstance(images, list) or not isinstance(categories, list):
        raise Unstreamable
    try:
        with open(annotations_file, "rb") as handle:
            for prefix, event, _ in ijson.parse(handle, use_float=True):
                if prefix == "annotations":
                    if event != "start_array":
                        raise Unstreamable
                    break
            else:
                raise Unstreamable
    except (OSError, ValueError, ijson.JSONError):
        raise Unstreamable from None
    return images, categories, parsed("annotations.item")

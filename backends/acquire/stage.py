"""The acquire stage (``[acquire]``): frames from a board's camera into an unlabelled dataset
version. Not part of the default loop: a pipeline runs it when it names it (``stages``, or an
``[acquire]`` section)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from backends.acquire.run import Acquire
from backends.stage import Context, Stage


def run(ctx: Context, config: Acquire) -> tuple[Mapping[str, Any], str]:
    from backends.acquire.run import acquire
    from backends.boards.inventory import load_inventory

    inventory = load_inventory(ctx.devices, ctx.ws.root)
    capture = asyncio.run(acquire(ctx.ws, inventory, config, ctx.emit))
    partial = " (partial)" if capture.manifest["partial"] else ""
    frames = capture.manifest["images"]
    return {"capture": capture}, f"{frames} frames as {capture.name}@{capture.version}{partial}"


STAGE = Stage(
    name="acquire",
    title="Acquire",
    config=Acquire,
    run=run,
    produces=("capture",),
    default=False,
)

"""The dataset stage (``[dataset]``): a dataset version from the source the section names."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from backends.datasets.sources import SOURCES, Source, Synth
from backends.stage import Context, Stage


def run(ctx: Context, config: Source) -> tuple[Mapping[str, Any], str]:
    dataset = config.build(ctx.ws, ctx.emit)
    return {"dataset": dataset}, f"{dataset.name}@{dataset.version}"


STAGE = Stage(
    name="dataset",
    title="Dataset",
    config=Synth,
    choices=SOURCES,
    run=run,
    produces=("dataset",),
)

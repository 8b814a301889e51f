"""The train stage (``[train]``): a Keras model fitted on the dataset, reused when a finished
run with the same data and settings exists, resumed from its last checkpoint when cut short."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from backends.config import Bounded, bounded
from backends.stage import Context, Stage


@dataclass(frozen=True)
class TrainConfig(Bounded):
    network: Literal["auto", "unet", "cnn", "mobilenetv2"] = "auto"  # auto: by task and size
    epochs: int = bounded(10, 1, 100_000)  # passes over the train split
    batch_size: int = bounded(8, 1, 4096)  # images per step
    width: float = bounded(0.35, 0.05, 4.0)  # channel multiplier of the network
    learning_rate: float = bounded(1e-3, 1e-9, 10)  # Adam's
    seed: int = bounded(0, 0, 2**32 - 1)  # weights and augmentation
    augment: bool = True  # flips and colour jitter while training
    weights: str | None = None  # "imagenet" only when the weights are already cached locally

    SECTION: ClassVar[str] = "train"


def run(ctx: Context, config: TrainConfig) -> tuple[Mapping[str, Any], str]:
    """The model of ``[train]``, or one per variant of a ``[sweep]`` (trained at once on Ray)."""
    variants = ctx.pipeline.variants()  # [(None, config)] without a sweep
    trained = ctx.executor.train(
        ctx.ws, ctx.outputs["dataset"], [c for _, c in variants], ctx.emit, force=ctx.force
    )
    models = [t.keras for t in trained]
    reused = sum(t.cached for t in trained)
    if len(trained) == 1:
        detail = (
            "reused a finished run with the same data and config"
            if reused
            else f"artifact {models[0].id}"
        )
    else:
        detail = f"{len(trained)} variants ({reused} reused): artifacts " + ", ".join(
            str(m.id) for m in models
        )
    return {
        "model": models[0],
        "models": models,
        "variants": {m.id: label for m, (label, _) in zip(models, variants, strict=True)},
    }, detail


STAGE = Stage(
    name="train",
    title="Train",
    config=TrainConfig,
    run=run,
    consumes=("dataset",),
    produces=("model", "models", "variants"),
)

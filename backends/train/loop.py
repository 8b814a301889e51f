"""Keras training that reports through events, checkpoints every epoch and resumes after a crash.

The dataset's task picks the network (``backends/networks``), the batches (images with masks and
pixel weights, or images with labels) and the validation figures reported each epoch.

Heavy module (imports Keras): import it inside the stage that trains, never at start-up.

A training job is keyed by the dataset version and the training config. Checkpoints live under
``checkpoints/KEY/epoch-NNN.keras`` (written to a temporary name, then renamed), so a later job
with the same key resumes from the last completed epoch instead of starting over.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from backends.catalog import DatasetRecord
from backends.datasets.preprocess import augment, augment_batch
from backends.datasets.shards import Split, split
from backends.durable import fsync, write_durably
from backends.evaluation import evaluate
from backends.events import Emit, Log, Metric, ProgressReporter
from backends.formats import KERAS_KIND
from backends.runtimes.tensorflow import TensorFlowRuntime, import_tensorflow
from backends.tasks import SEGMENTATION, Task, task_of
from backends.train.jobs import TrainedModel, cached, train_key, train_params
from backends.train.stage import TrainConfig
from backends.workspace import Workspace

import_tensorflow()
import keras  # noqa: E402

HISTORY = "history.json"  # the epochs' figures, beside the checkpoints
EAGER_STEPS = 10  # a training of at most this many steps runs eagerly (see _eager)


def train(
    ws: Workspace,
    dataset: DatasetRecord,
    config: TrainConfig,
    emit: Emit,
    *,
    stage: str = "train",
    force: bool = False,
) -> TrainedModel:
    key = train_key(dataset, config)
    if not force and (found := cached(ws, key)) is not None:
        return found
    from backends.networks import build, choose, loss_for

    root = ws.path(dataset.path)
    manifest = dataset.manifest
    task = task_of(manifest)
    classes, ignore = manifest["classes"], manifest["ignore"]
    size = tuple(manifest["image_size"])
    network = choose(config.network, task.name, size)
    train_split, val_split = split(root, "train"), split(root, "val")
    checkpoints = ws.root / "checkpoints" / key[:16]
    checkpoints.mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(config.seed)

    with ws.job("train", key, train_params(dataset, config)) as job_id:
        model, done_epochs = _resume(checkpoints)
        if model is None:
            model = build(
                network,
                size,
                manifest.get("channels", 3),
                len(classes),
                width=config.width,
                weights=config.weights,
            )
            model.compile(
                optimizer=keras.optimizers.Adam(config.learning_rate),
                loss=loss_for(model),
            )
        else:
            emit(
                Log(
                    stage=stage,
                    level="info",
                    message=f"resuming from epoch {done_epochs} ({checkpoints})",
                )
            )
        if not model.optimizer.built:
            # its variables made here, not in the first step's trace: a trace that makes
            # variables is done twice, so this halves the start (19.8 -> 9.0 s at 128x128)
            model.optimizer.build(model.trainable_variables)
        model.run_eagerly = _eager(train_split, config)  # a resumed model too
        steps = math.ceil(train_split.size / config.batch_size)
        history = _history(checkpoints, done_epochs)
        if done_epochs < config.epochs:
            batches = (
                _batches(train_split, config, size, ignore, start_epoch=done_epochs)
                if task is SEGMENTATION
                else _labelled_batches(train_split, config, size, start_epoch=done_epochs)
            )
            model.fit(
                batches,
                steps_per_epoch=steps,
                epochs=config.epochs,
                initial_epoch=done_epochs,
                verbose=0,
                shuffle=False,  # the generator shuffles shards and images itself
                callbacks=[
                    _Reporter(
                        emit,
                        stage,
                        steps,
                        config.epochs,
                        done_epochs,
                        val_split,
                        task,
                        classes,
                        ignore,
                        checkpoints,
                        ws,
                        history,
                    )
                ],
            )
        keras_artifact = ws.write_artifact(
            kind=KERAS_KIND,
            name=f"{network}.keras",
            write=model.save,
            job_id=job_id,
            dataset_id=dataset.id,
            meta={
                "network": network,
                "task": task.name,
                "input_size": list(size),
                "classes": manifest["classes"],
                "train_key": key,
                "history": history,  # per epoch: loss and the validation figures
            },
        )
        savedmodel = ws.write_artifact(
            kind="savedmodel",
            name=f"{network}.savedmodel",
            write=lambda path: model.export(str(path), verbose=False),
            parent_id=keras_artifact.id,
            job_id=job_id,
            dataset_id=dataset.id,
            meta=keras_artifact.meta,
        )
        model_id = ws.catalog.add_model(
            name=f"{network}-{dataset.name}",
            network=network,
            dataset_id=dataset.id,
            artifact_id=keras_artifact.id,
            config=asdict(config),
        )
    return TrainedModel(model_id, keras_artifact, savedmodel, done_epochs, cached=False)


def _eager(data: Split, config: TrainConfig) -> bool:
    """Whether to run the steps eagerly: when the whole training is so short that tracing the
    step (about 8.5 s for a UNet at 64x64 on 2 cores) costs more than running it traced saves
    (eagerly a step takes about 1 s there, at batch 4 or 8: the break-even is some 10 steps).
    Decided on the whole planned training, so a resumed one runs the way a straight one does."""
    return config.epochs * math.ceil(data.size / config.batch_size) <= EAGER_STEPS


def _history(checkpoints: Path, epochs: int) -> dict[str, list[float | None]]:
    """The figures of the first ``epochs`` epochs, as the checkpoints' history file has them
    (empty when it is missing or unreadable: a history is worth showing, not trusting)."""
    try:
        found = json.loads((checkpoints / HISTORY).read_text())
        return {str(k): list(v)[:epochs] for k, v in found.items() if isinstance(v, list)}
    except (OSError, ValueError, AttributeError):
        return {}


def _resume(checkpoints: Path) -> tuple[Any, int]:
    found = sorted(checkpoints.glob("epoch-*.keras"))
    for path in reversed(found):
        try:
            return keras.models.load_model(path), int(re.findall(r"\d+", path.stem)[0])
        except Exception:  # a damaged checkpoint: fall back to the one before
            continue
    return None, 0


def _batches(
    data: Split, config: TrainConfig, size: tuple[int, int], ignore: int, start_epoch: int
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(images, labels, pixel weights) forever, epoch after epoch, from ``start_epoch``.

    Shards are visited in a random order and shuffled within, so one shard is in memory at a
    time. The ignore label gets weight 0 (and a harmless label 0) so it adds nothing to the loss.
    """
    epoch = start_epoch
    while True:
        rng = np.random.default_rng([config.seed, epoch])
        pending: list[tuple[np.ndarray, np.ndarray]] = []
        for shard in rng.permutation(len(data.shards)):
            images, masks = data.read(int(shard))
            for i in rng.permutation(len(images)):
                image, mask = images[i], masks[i]
                if config.augment:
                    image, mask = augment(image, mask, size, ignore, rng)
                pending.append((image, mask))
                if len(pending) == config.batch_size:
                    yield _stack(pending, ignore)
                    pending = []
        if pending:
            yield _stack(pending, ignore)
        epoch += 1


def _labelled_batches(
    data: Split, config: TrainConfig, size: tuple[int, int], start_epoch: int
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Classification: (images, labels) forever, shards and images shuffled as in
    :func:`_batches`; augmentation flips and shifts by up to a twelfth of the side."""
    epoch = start_epoch
    shift = max(1, min(size) // 12)
    while True:
        rng = np.random.default_rng([config.seed, epoch])
        for shard in rng.permutation(len(data.shards)):
            images, labels = data.read(int(shard))
            order = rng.permutation(len(images))
            for start in range(0, len(order), config.batch_size):
                pick = order[start : start + config.batch_size]
                batch = augment_batch(images[pick], rng, shift) if config.augment else images[pick]
                yield batch.astype(np.float32), labels[pick].astype(np.int32)
        epoch += 1


def _stack(pairs: list[tuple[np.ndarray, np.ndarray]], ignore: int) -> tuple[np.ndarray, ...]:
    images = np.stack([p[0] for p in pairs]).astype(np.float32)
    masks = np.stack([p[1] for p in pairs])
    valid = masks != ignore
    return images, np.where(valid, masks, 0).astype(np.int32), valid.astype(np.float32)


class _Reporter(keras.callbacks.Callback):
    """Keras callbacks -> engine events; validation with the same code as the evaluate stage;
    an atomic checkpoint at the end of every epoch."""

    def __init__(
        self,
        emit: Emit,
        stage: str,
        steps: int,
        epochs: int,
        done_epochs: int,
        val_split: Split,
        task: Task,
        classes: list[str],
        ignore: int | None,
        checkpoints: Path,
        ws: Workspace,
        history: dict[str, list[float | None]],
    ) -> None:
        super().__init__()
        self._history = history
        self._emit, self._stage, self._steps, self._epochs = emit, stage, steps, epochs
        self._val, self._task, self._classes, self._ignore = val_split, task, classes, ignore
        self._checkpoints, self._ws = checkpoints, ws
        self._progress = ProgressReporter(emit, stage, steps * (epochs - done_epochs), "steps")
        self._epoch = done_epochs
        self._runtime: TensorFlowRuntime | None = None  # traced once, reused every epoch

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._epoch = epoch

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        loss = (logs or {}).get("loss", float("nan"))
        self._progress.advance(
            message=f"epoch {self._epoch + 1}/{self._epochs} step {batch + 1}/{self._steps} "
            f"loss {float(loss):.4f}"
        )

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        done = epoch + 1
        self._runtime = self._runtime or TensorFlowRuntime(self.model)
        confusion = evaluate(
            self._runtime,
            self._val,
            num_classes=len(self._classes),
            ignore=self._ignore,
            batch_size=8 if self._task is SEGMENTATION else 64,  # 28x28 images are cheap
        )
        figures = confusion.summary(self._classes, self._task.name)
        loss = float((logs or {})["loss"])
        self._history.setdefault("loss", []).append(loss)
        for key, _ in self._task.metrics:
            self._history.setdefault(f"val_{key}", []).append(figures[key])
        # the history, then the checkpoint, then the metrics: an epoch's metrics imply both are
        # on disk, and a resumed training's history (cut to its checkpoint) has every epoch
        tmp = self._ws.temporary(HISTORY)
        write_durably(tmp, json.dumps(self._history).encode())
        os.replace(tmp, self._checkpoints / HISTORY)
        self._save_checkpoint(done)
        self._emit(Metric(stage=self._stage, name="loss", value=loss, epoch=done))
        # the task's headline figure last: it closes the epoch for whoever listens
        for key, _ in sorted(self._task.metrics, key=lambda m: m[0] == self._task.primary):
            value = figures[key]
            self._emit(
                Metric(
                    stage=self._stage,
                    name=f"val_{key}",
                    value=float("nan") if value is None else value,
                    epoch=done,
                )
            )

    def _save_checkpoint(self, epoch: int) -> None:
        final = self._checkpoints / f"epoch-{epoch:03d}.keras"
        tmp = self._ws.temporary(final.name)
        self.model.save(tmp)
        fsync(tmp)  # durable before the rename makes it the checkpoint
        os.replace(tmp, final)
        fsync(self._checkpoints)
        for older in self._checkpoints.glob("epoch-*.keras"):
            if older.name < final.name:
                older.unlink(missing_ok=True)  # keep only the newest: checkpoints are large

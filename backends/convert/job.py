"""A conversion job: source artifact -> converted artifact, checked for fidelity, with lineage.

The converted file is built under ``tmp/``, checked against the reference Keras model on
validation images, then moved into place with the fidelity figures in its metadata: an artifact
that missed its gate is kept, marked ``passed: false``, so the table can show why. A job with
the same source hash, format, precision and options is reused instead of rebuilt.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from backends.catalog import ArtifactRecord
from backends.convert.fidelity import Fidelity, FidelityGates, check
from backends.convert.representative import stratified
from backends.datasets.shards import split
from backends.errors import BadInput
from backends.events import ArtifactWritten, Emit, Log
from backends.formats import FORMATS, KERAS_KIND, Format, Precision, check_precision, format_of
from backends.runtimes import LoadedModel, load
from backends.tasks import task_of
from backends.workspace import Workspace

if TYPE_CHECKING:
    from backends.convert.stage import ConvertStep


@dataclass(frozen=True)
class Conversion:
    artifact: ArtifactRecord
    fidelity: dict[str, Any]
    cached: bool

    @property
    def passed(self) -> bool:
        return bool(self.fidelity["passed"])


def parse_target(target: str) -> tuple[Format, Precision]:
    """``tflite:int8`` -> (format, precision); the precision defaults to fp32."""
    name, _, precision = target.partition(":")
    fmt = format_of(name)
    if fmt.built_on == "target":  # TensorRT: built on the board that runs it
        raise BadInput(
            f"format {name} cannot be converted on this workstation: it is built on the target "
            "board (`mllib-tui engines build ONNX_ARTIFACT BOARD`)"
        )
    if fmt.converter is None:
        raise BadInput(f"format {name} is written by training (`mllib-tui run`), not converted")
    return fmt, check_precision(fmt, precision or "fp32")


def gates_of(step: ConvertStep) -> FidelityGates:
    return FidelityGates(step.max_delta_fp32, step.max_delta_fp16, step.max_drop_int8)


def convert(
    ws: Workspace,
    model: ArtifactRecord,
    fmt: Format,
    precision: Precision,
    step: ConvertStep,
    emit: Emit,
    *,
    reference: LoadedModel | None = None,
    stage: str = "convert",
    force: bool = False,
) -> Conversion:
    """Convert Keras model artifact ``model`` to ``fmt`` at ``precision``."""
    source, key = conversion_key(ws, model, fmt, precision, step)
    if not force and (found := cached(ws, key)) is not None:
        return found
    if model.dataset_id is None:
        raise BadInput(f"model artifact {model.id} has no dataset to check fidelity against")
    dataset = ws.catalog.dataset_by_id(model.dataset_id)
    root, classes = ws.path(dataset.path), dataset.manifest["classes"]
    with ws.job("convert", key, conversion_params(model, fmt, precision, step)) as job_id:
        representative = (
            stratified(split(root, "train"), step.representative_images, len(classes))
            if precision is Precision.INT8
            else None
        )
        tmp = ws.temporary(fmt.file_name)
        try:
            converter = importlib.import_module(f"backends.convert.{fmt.converter}")
            meta = converter.convert(ws.verify(source), tmp, precision, step, representative)
            emit(
                Log(
                    stage=stage,
                    level="info",
                    message=f"{fmt.name} {precision}: checking "
                    f"fidelity on {step.fidelity_images} validation images",
                )
            )
            fidelity = (
                _inherited(source)
                if fmt.name == "edgetpu"
                else _fidelity(ws, model, tmp, fmt, precision, step, dataset, reference)
            )
            artifact = ws.write_artifact(
                kind=fmt.name,
                name=fmt.file_name,
                write=lambda path: os.replace(tmp, path),
                parent_id=source.id,
                job_id=job_id,
                dataset_id=dataset.id,
                meta={
                    **model.meta,
                    **meta,
                    "format": fmt.name,
                    "precision": precision.value,
                    "fidelity": fidelity.to_json(),
                },
            )
        finally:
            tmp.unlink(missing_ok=True)
    emit(
        ArtifactWritten(
            stage=stage,
            artifact_id=artifact.id,
            kind=artifact.kind,
            path=artifact.path,
            sha256=artifact.sha256,
            size=artifact.size,
            parent_id=artifact.parent_id,
        )
    )
    return Conversion(artifact, artifact.meta["fidelity"], cached=False)


def conversion_key(
    ws: Workspace, model: ArtifactRecord, fmt: Format, precision: Precision, step: ConvertStep
) -> tuple[ArtifactRecord, str]:
    """(the artifact ``fmt`` converts from, the job's key: its hash, the format, the precision
    and the options): a finished job with this key is the same conversion."""
    if model.kind != KERAS_KIND:
        raise BadInput(f"artifact {model.id} is a {model.kind}, not a Keras model to convert")
    source = _source(ws, model, fmt, precision)
    payload = [source.sha256, fmt.name, precision.value, _options(step)]
    return source, hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def conversion_params(
    model: ArtifactRecord, fmt: Format, precision: Precision, step: ConvertStep
) -> dict[str, Any]:
    """What the job records of the conversion."""
    return {"model": model.id, "format": fmt.name, "precision": precision.value, **_options(step)}


def _options(step: ConvertStep) -> dict[str, Any]:
    return {k: v for k, v in asdict(step).items() if k not in ("targets", "fallback")}


def _source(
    ws: Workspace, model: ArtifactRecord, fmt: Format, precision: Precision
) -> ArtifactRecord:
    """The artifact ``fmt`` converts from: the Keras model itself, its SavedModel, or (Edge
    TPU) its TFLite model of the same precision."""
    if fmt.source == "keras":
        return model
    if fmt.source == "savedmodel" and not ws.catalog.children(model.id, "savedmodel"):
        return _export_savedmodel(ws, model)  # an imported .keras file: training made none
    source = FORMATS[fmt.source or ""]
    found = [
        a
        for a in _descendants(ws, model, source.name)
        if len(source.precisions) == 1 or a.meta.get("precision") == precision.value
    ]
    if not found:
        raise BadInput(
            f"model artifact {model.id} has no {source.name} {precision} to build {fmt.name} "
            f"from: convert {source.name}:{precision} first"
        )
    return found[-1]


def _export_savedmodel(ws: Workspace, model: ArtifactRecord) -> ArtifactRecord:
    from backends.runtimes.tensorflow import import_tensorflow

    keras = import_tensorflow().keras
    loaded = keras.models.load_model(ws.verify(model), compile=False)
    return ws.write_artifact(
        kind="savedmodel",
        name=f"{model.path.rsplit('/', 1)[-1].removesuffix('.keras')}.savedmodel",
        write=lambda path: loaded.export(str(path), verbose=False),
        parent_id=model.id,
        dataset_id=model.dataset_id,
        meta=model.meta,
    )


def _descendants(ws: Workspace, model: ArtifactRecord, kind: str) -> list[ArtifactRecord]:
    """Artifacts of ``kind`` made from ``model``, directly or through its SavedModel."""
    direct = ws.catalog.children(model.id, kind)
    via = [
        c
        for s in ws.catalog.children(model.id, "savedmodel")
        for c in ws.catalog.children(s.id, kind)
    ]
    return sorted({a.id: a for a in direct + via}.values(), key=lambda a: a.id)


def _fidelity(
    ws: Workspace,
    model: ArtifactRecord,
    candidate_path: Any,
    fmt: Format,
    precision: Precision,
    step: ConvertStep,
    dataset: Any,
    reference: LoadedModel | None,
) -> Fidelity:
    reference = reference or load("tensorflow", ws.verify(model))
    expected = tuple(dataset.manifest["image_size"])
    if reference.input_size != expected:  # an imported model file says nothing of its size
        raise BadInput(
            f"model artifact {model.id} takes {reference.input_size} images but dataset "
            f"{dataset.name} holds {expected}: pick a dataset of that size"
        )
    candidate = load(fmt.runtimes[0], candidate_path)
    return check(
        reference,
        candidate,
        split(ws.path(dataset.path), "val"),
        images=step.fidelity_images,
        precision=precision,
        task=task_of(dataset.manifest),
        classes=dataset.manifest["classes"],
        ignore=dataset.manifest["ignore"],
        gates=gates_of(step),
    )


def _inherited(source: ArtifactRecord) -> Fidelity:
    """An Edge TPU model cannot run without a TPU, so its fidelity is its int8 TFLite source's:
    the compiler keeps the int8 arithmetic. The figures say where they were measured."""
    figures = dict(source.meta["fidelity"])
    figures["gate"] = f"{figures['gate']} (measured on the int8 TFLite, artifact {source.id})"
    return Fidelity(**figures)


def cached(ws: Workspace, key: str) -> Conversion | None:
    """The newest finished conversion with ``key`` whose file is intact."""
    for job in reversed(ws.catalog.jobs("convert", key)):
        if job.state != "done":
            continue
        for artifact in ws.catalog.artifacts(job_id=job.id):
            if artifact.kind in FORMATS and "fidelity" in artifact.meta:
                try:
                    ws.verify(artifact)
                except BadInput:
                    continue
                return Conversion(artifact, artifact.meta["fidelity"], cached=True)
    return None

"""Model formats, runtimes and precisions as ONE table.

Converters, the benchmark, the CLI and the app read these rows instead of spreading ``if``
ladders over files. A format lists the precisions it can hold, the runtimes that load it, the
format it is converted from, and where it must be built: on the workstation, or on the target
for TensorRT engines (they are specific to one GPU and TensorRT version).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Literal

from backends.errors import BadInput


class Precision(str, Enum):  # not StrEnum (3.11): boards run Python 3.8+
    FP32 = "fp32"
    FP16 = "fp16"
    INT8 = "int8"

    def __str__(self) -> str:
        return self.value

    __format__ = str.__format__


@dataclass(frozen=True)
class Runtime:
    name: str
    label: str  # the Software column of the results table
    module: str  # adapter module under backends.runtimes
    package: str  # what to install where it is missing


@dataclass(frozen=True)
class Format:
    name: str
    file_name: str  # the artifact's file (or directory) name
    source: str | None  # the format it is converted from
    precisions: tuple[Precision, ...]
    runtimes: tuple[str, ...]
    built_on: Literal["workstation", "target"]
    converter: str | None  # module under backends.convert; None when not buildable here


RUNTIMES = {
    r.name: r
    for r in (
        Runtime("tensorflow", "TensorFlow", "tensorflow", "tensorflow-cpu (or tensorflow)"),
        Runtime("onnxruntime", "ONNX Runtime", "onnxruntime", "onnxruntime"),
        Runtime("litert", "LiteRT", "litert", "ai-edge-litert (or tflite-runtime on boards)"),
        Runtime("tensorrt", "TensorRT", "tensorrt", "JetPack's python3-libnvinfer"),
        Runtime("edgetpu", "Edge TPU", "edgetpu", "Coral's libedgetpu1-std and PyCoral"),
    )
}

FORMATS = {
    f.name: f
    for f in (
        Format(
            "keras", "unet.keras", None, (Precision.FP32,), ("tensorflow",), "workstation", None
        ),
        Format(
            "savedmodel", "unet.savedmodel", "keras", (Precision.FP32,), (), "workstation", None
        ),
        Format(
            "onnx",
            "model.onnx",
            "keras",
            (Precision.FP32,),
            ("onnxruntime",),
            "workstation",
            "onnx",
        ),
        Format(
            "tflite",
            "model.tflite",
            "savedmodel",
            (Precision.FP32, Precision.FP16, Precision.INT8),
            ("litert",),
            "workstation",
            "tflite",
        ),
        Format(
            "tensorrt",
            "model.engine",
            "onnx",
            (Precision.FP32, Precision.FP16, Precision.INT8),
            ("tensorrt",),
            "target",
            None,
        ),
        Format(
            "edgetpu",
            "model_edgetpu.tflite",
            "tflite",
            (Precision.INT8,),
            ("edgetpu",),
            "workstation",
            "edgetpu",
        ),
    )
}


PRECISIONS = tuple(p.value for p in Precision)
KERAS_KIND = "model"  # the kind of a Keras model artifact (the ``keras`` format)
CALIBRATION_CACHE, CALIBRATION_SHARD = "calibration-cache", "calibration-shard"  # TensorRT int8
# Every kind of artifact a workspace holds, and so the only names ``artifacts/KIND/`` may take.
ARTIFACT_KINDS = frozenset(
    {KERAS_KIND, CALIBRATION_CACHE, CALIBRATION_SHARD} | (set(FORMATS) - {"keras"})
)


def format_of(name: str) -> Format:
    if name not in FORMATS:
        raise BadInput(f"unknown format {name!r}: use one of {', '.join(FORMATS)}")
    return FORMATS[name]


def check_precision(fmt: Format, precision: str) -> Precision:
    if precision not in {p.value for p in fmt.precisions}:
        raise BadInput(
            f"format {fmt.name} does not support precision {precision!r} "
            f"(it supports {', '.join(p.value for p in fmt.precisions)})"
        )
    return Precision(precision)


def software_label(runtime: str, precision: str) -> str:
    """``TensorFlow fp32``, ``LiteRT int8``: the original table's Software column."""
    return f"{RUNTIMES[runtime].label} {precision}"


def runnable(runtimes: list[str]) -> list[str]:
    """What mllib can run with these runtimes: ``tflite fp32/fp16/int8``, ``onnx fp32``."""
    usable = set(runtimes) & set(RUNTIMES)
    return [
        f"{f.name} {'/'.join(p.value for p in f.precisions)}"
        for f in FORMATS.values()
        if usable & set(f.runtimes)
    ]

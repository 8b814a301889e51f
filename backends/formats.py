"""Model formats and inference runtimes, each as ONE table.

Converters, the benchmark, the CLI, the app, the board probe and the agent bundle read these
rows instead of spreading ``if`` ladders over files. A runtime row says which formats and
precisions it runs, how a board is probed for it, which settings it takes and where its adapter
is; a format row says the precisions it can hold, the format it is converted from, and where it
must be built: on the workstation, or on the target for TensorRT engines (specific to one GPU
and TensorRT release). Adding a runtime is one row here and one adapter module.

Python 3.8 (boards read this table).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any, Literal

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
    """One inference runtime: what it loads, how a board is probed for it, what it takes.

    Everything else is derived from these rows: which runtimes load a format, the board
    probe's module list, the agent bundle's adapters, the options a benchmark passes."""

    name: str
    label: str  # the Software column of the results table
    formats: tuple[str, ...]  # the formats it loads
    precisions: tuple[Precision, ...]
    adapter: str  # the module whose load(path, threads=, **options) gives a LoadedModel
    package: str  # what to install where it is missing
    probe: tuple[str, ...] = ()  # modules whose import means the runtime is there
    library: str | None = None  # or a shared library, used through one of ``through``
    through: tuple[str, ...] = ()  # the runtimes the library works through (Edge TPU: LiteRT)
    metadata_only: bool = False  # probe by package metadata: importing it costs seconds
    options: tuple[str, ...] = ()  # benchmark settings it takes (fields of BenchStep)
    artifact_options: tuple[str, ...] = ()  # artifact metadata it takes (an engine fingerprint)
    optional: bool = False  # not in every install: this machine's rows skip it where missing


@dataclass(frozen=True)
class Format:
    name: str
    kind: str  # the kind of its artifacts in the catalog ("model" for a Keras model)
    file_name: str  # the artifact's file (or directory) name
    source: str | None  # the format it is converted from
    precisions: tuple[Precision, ...]
    built_on: Literal["workstation", "target"]
    converter: str | None  # module under backends.convert; None when not buildable here

    @property
    def runtimes(self) -> tuple[str, ...]:
        """The runtimes that load this format, in the runtime table's order."""
        return tuple(r.name for r in RUNTIMES.values() if self.name in r.formats)

    @classmethod
    def of(cls, artifact: Any) -> Format:
        """The format of an artifact (anything with a ``kind``)."""
        for fmt in FORMATS.values():
            if fmt.kind == artifact.kind:
                return fmt
        raise BadInput(f"artifact {artifact.id} is a {artifact.kind}, which is not a model format")


ALL = (Precision.FP32, Precision.FP16, Precision.INT8)
RUNTIMES = {
    r.name: r
    for r in (
        Runtime(
            "tensorflow", "TensorFlow", ("keras",), (Precision.FP32,),
            "backends.runtimes.tensorflow", "tensorflow-cpu (or tensorflow)",
            probe=("tensorflow",), metadata_only=True,
        ),
        Runtime(
            "onnxruntime", "ONNX Runtime", ("onnx",), (Precision.FP32, Precision.INT8),
            "backends.runtimes.onnxruntime", "onnxruntime", probe=("onnxruntime",),
        ),
        Runtime(
            "openvino", "OpenVINO", ("onnx",), (Precision.FP32, Precision.INT8),
            "backends.runtimes.openvino", "openvino (pip install openvino)", probe=("openvino",),
            optional=True,
        ),
        Runtime(
            "litert", "LiteRT", ("tflite",), ALL, "backends.runtimes.litert",
            "ai-edge-litert (or tflite-runtime on boards)",
            probe=("ai_edge_litert", "tflite_runtime"), options=("disable_default_delegates",),
        ),
        Runtime(
            "tensorrt", "TensorRT", ("tensorrt",), ALL, "backends.tensorrt.runtime",
            "JetPack's python3-libnvinfer", probe=("tensorrt",),
            artifact_options=("fingerprint",),
        ),
        Runtime(
            "edgetpu", "Edge TPU", ("edgetpu",), (Precision.INT8,), "backends.runtimes.edgetpu",
            "Coral's libedgetpu1-std and PyCoral",
            # Google's PyCoral; PyPI's "pycoral" is an unrelated package with this import name
            probe=("pycoral.utils.edgetpu",), library="edgetpu", through=("litert",),
        ),
    )
}  # fmt: skip

FORMATS = {
    f.name: f
    for f in (
        Format("keras", "model", "unet.keras", None, (Precision.FP32,), "workstation", None),
        Format(
            "savedmodel", "savedmodel", "unet.savedmodel", "keras", (Precision.FP32,),
            "workstation", None,
        ),
        Format(
            "onnx", "onnx", "model.onnx", "keras", (Precision.FP32, Precision.INT8),
            "workstation", "onnx",
        ),
        Format("tflite", "tflite", "model.tflite", "savedmodel", ALL, "workstation", "tflite"),
        Format("tensorrt", "tensorrt", "model.engine", "onnx", ALL, "target", None),
        Format(
            "edgetpu", "edgetpu", "model_edgetpu.tflite", "tflite", (Precision.INT8,),
            "workstation", "edgetpu",
        ),
    )
}  # fmt: skip

PRECISIONS = tuple(p.value for p in Precision)
KERAS_KIND = FORMATS["keras"].kind
CALIBRATION_CACHE, CALIBRATION_SHARD = "calibration-cache", "calibration-shard"  # TensorRT int8
EXPORT = "export"  # the record of a dataset version sent out for labelling (backends/annotate)
# Every kind of artifact a workspace holds, and so the only names ``artifacts/KIND/`` may take.
ARTIFACT_KINDS = frozenset(
    {f.kind for f in FORMATS.values()} | {CALIBRATION_CACHE, CALIBRATION_SHARD, EXPORT}
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

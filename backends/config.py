"""Pipeline files (TOML) -> frozen, validated step configs.

Every problem is one ``BadInput`` line naming the file and the field: an unknown key (with the
keys that are allowed), a wrong type, a value out of range.
"""

from __future__ import annotations

import math
import tomllib
import types
import typing
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar, Literal

from backends.bench.protocol import Protocol
from backends.errors import BadInput, read_input

RANGES: dict[str, tuple[float, float]] = {
    # Every number a pipeline file or a command line sets, by "section.field"; the CLI's
    # options take their min/max from here too (mllib_tui/options.py).
    "dataset.size": (8, 8192),
    "dataset.images": (2, 10_000_000),
    "dataset.seed": (0, 2**32 - 1),
    "dataset.val_fraction": (0.0001, 0.9999),
    "dataset.train_images": (1, 10_000_000),
    "dataset.val_images": (1, 10_000_000),
    "train.epochs": (1, 100_000),
    "train.batch_size": (1, 4096),
    "train.width": (0.05, 4.0),
    "train.learning_rate": (1e-9, 10),
    "train.seed": (0, 2**32 - 1),
    "convert.representative_images": (0, 100_000),  # 0: the int8 converter says what is wrong
    "convert.fidelity_images": (1, 10_000_000),
    "convert.max_delta_fp32": (0, 1),
    "convert.max_delta_fp16": (0, 1),
    "convert.max_drop_int8": (-1, 1),  # below 0: int8 must gain (a gate no model passes)
    "bench.warmup_runs": (0, 1_000_000),
    "bench.warmup_seconds": (0, 3600),
    "bench.min_runs": (1, 10_000_000),
    "bench.min_seconds": (0, 86_400),
    "bench.batch_size": (1, 4096),
    "bench.eval_batch_size": (1, 4096),
    "bench.threads": (0, 1024),
    "engines.workspace_mb": (16, 1 << 20),
    "engines.max_batch": (1, 4096),
    "engines.calibration_images": (1, 100_000),
    "gates.min_miou": (0, 1),
    "gates.min_pixel_accuracy": (0, 1),
    "gates.min_accuracy": (0, 1),
    "gates.max_drop": (0, 1),
    "boards.concurrency": (1, 256),
}


def out_of_range(key: str, value: Any) -> str | None:
    """What is wrong with ``value`` for ``key`` (a number, or a tuple of numbers), or None."""
    if key not in RANGES or value is None or isinstance(value, bool | str):
        return None
    low, high = RANGES[key]
    for item in value if isinstance(value, tuple) else (value,):
        if isinstance(item, int | float) and not low <= item <= high:
            return f"{key} must be between {_number(low)} and {_number(high)}, got {value!r}"
    return None


def _number(bound: float) -> str:
    return f"{bound:g}" if isinstance(bound, float) else str(bound)


class Bounded:
    """Step configs check their numbers against ``RANGES`` however they are made (a pipeline
    file, the command line, the app), so no stage ever runs with ``min_runs = 0``."""

    SECTION: ClassVar[str]

    def __post_init__(self) -> None:
        for f in fields(self):  # type: ignore[arg-type]
            problem = out_of_range(f"{self.SECTION}.{f.name}", getattr(self, f.name))
            if problem is not None:
                raise BadInput(problem)


@dataclass(frozen=True)
class DatasetStep(Bounded):
    """Where the data comes from: generated (``synth``), COCO files, a workspace dataset, or for
    classification Fashion-MNIST's IDX files or a folder of class folders."""

    source: Literal["synth", "coco", "workspace", "fashion-mnist", "folder"] = "synth"
    name: str = "demo"
    size: tuple[int, int] | None = None  # default: 128x128, 28x28 for fashion-mnist
    # synth
    images: int = 320
    seed: int = 0  # synth; folder: the train/val draw
    val_fraction: float = 0.2  # synth, folder
    # fashion-mnist (path: the IDX directory) and folder (path: the class folders)
    path: str | None = None
    channels: Literal[1, 3] = 3  # folder: grey or RGB
    train_images: int | None = None  # fashion-mnist: the first N of each split (a subset)
    val_images: int | None = None
    # coco
    train_annotations: str | None = None
    val_annotations: str | None = None
    images_dir: str | None = None
    val_images_dir: str | None = None
    class_map: str = "coco-4"

    SECTION: ClassVar[str] = "dataset"


@dataclass(frozen=True)
class TrainConfig(Bounded):
    network: Literal["auto", "unet", "cnn", "mobilenetv2"] = "auto"  # auto: by task and size
    epochs: int = 15
    batch_size: int = 8
    width: float = 0.35
    learning_rate: float = 1e-3
    seed: int = 0
    augment: bool = True
    weights: str | None = None  # "imagenet" only when the weights are already cached locally

    SECTION: ClassVar[str] = "train"


@dataclass(frozen=True)
class ConvertStep(Bounded):
    """Which formats to build (``FORMAT:PRECISION``) and the fidelity gates they must pass."""

    targets: tuple[str, ...] = ("onnx:fp32", "tflite:fp32", "tflite:fp16", "tflite:int8")
    opset: int = 15
    int8_io: Literal["int8", "uint8", "float"] = "int8"
    representative_images: int = 100
    fidelity_images: int = 64
    fallback: bool = True  # int8 failing its gate -> build fp16 instead
    # formats whose precision is chosen: int8 -> fp16 -> fp32, the fastest that passes its gate
    ladder: tuple[str, ...] = ()
    max_delta_fp32: float = 0.001
    max_delta_fp16: float = 0.002
    max_drop_int8: float = 0.01

    SECTION: ClassVar[str] = "convert"


@dataclass(frozen=True)
class BenchStep(Protocol, Bounded):
    """The benchmark protocol (backends/bench.py) plus the runtime settings."""

    threads: int = 2
    disable_default_delegates: bool = False  # LiteRT: turn XNNPACK off

    SECTION: ClassVar[str] = "bench"


@dataclass(frozen=True)
class EngineStep(Bounded):
    """TensorRT engine builds on a board (``mllib-tui engines build`` options)."""

    workspace_mb: int = 1024  # the builder's scratch memory; lower it on 4-8 GB Jetsons
    max_batch: int = 8  # the optimisation profile's largest batch (the benchmark's eval batch)
    calibration_images: int = 256  # int8: drawn stratified from the training split

    SECTION: ClassVar[str] = "engines"


@dataclass(frozen=True)
class Gates(Bounded):
    """Quality gates: a miss makes the run exit with status 1, naming the row."""

    min_miou: float | None = None  # segmentation
    min_pixel_accuracy: float | None = None  # segmentation
    min_accuracy: float | None = None  # classification: top-1
    max_drop: float | None = None  # drop of the headline metric (mIoU, top-1) against TF fp32

    SECTION: ClassVar[str] = "gates"


@dataclass(frozen=True)
class Pipeline:
    dataset: DatasetStep = field(default_factory=DatasetStep)
    train: TrainConfig = field(default_factory=TrainConfig)
    convert: ConvertStep = field(default_factory=ConvertStep)
    bench: BenchStep = field(default_factory=BenchStep)
    gates: Gates = field(default_factory=Gates)


def load_pipeline(path: Path) -> Pipeline:
    return parse_pipeline(read_input(path, "pipeline file"), str(path))


def parse_pipeline(raw: bytes, source: str) -> Pipeline:
    """A pipeline file's bytes (named ``source`` in messages)."""
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise BadInput(f"{source}: not UTF-8 text (byte {exc.start})") from None
    except tomllib.TOMLDecodeError as exc:
        raise BadInput(f"{source}: not valid TOML: {exc}") from None
    return parse(Pipeline, data, source, "")


def parse(cls: type, data: Any, source: str, prefix: str) -> Any:
    """Build dataclass ``cls`` from a TOML table, checking keys, types and ranges."""
    where = prefix.rstrip(".") or "the top level"
    if not isinstance(data, dict):
        raise BadInput(f"{source}: {where} must be a table")
    known = {f.name: f for f in fields(cls)}
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise BadInput(
            f"{source}: unknown key '{prefix}{unknown[0]}' (allowed in {where}: {', '.join(known)})"
        )
    hints = typing.get_type_hints(cls)
    values = {}
    for name, value in data.items():
        key = f"{prefix}{name}"
        hint = hints[name]
        if isinstance(hint, type) and hasattr(hint, "__dataclass_fields__"):
            values[name] = parse(hint, value, source, f"{key}.")
        else:
            values[name] = _coerce(value, hint, source, key)
    for name, f in known.items():
        if name not in values and f.default is MISSING and f.default_factory is MISSING:
            raise BadInput(f"{source}: missing key '{prefix}{name}'")
    return cls(**values)


def _coerce(value: Any, hint: Any, source: str, key: str) -> Any:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (types.UnionType, typing.Union):
        if value is None and type(None) in args:
            return None
        (hint,) = [a for a in args if a is not type(None)]
        return _coerce(value, hint, source, key)
    if origin is Literal:
        if value not in args:
            raise BadInput(
                f"{source}: {key} must be one of {', '.join(map(repr, args))}, got {value!r}"
            )
        return value
    if origin is tuple and args[-1] is Ellipsis:
        if not isinstance(value, list):
            raise BadInput(f"{source}: {key} must be a list, got {value!r}")
        return tuple(_coerce(v, args[0], source, key) for v in value)
    if origin is tuple:
        if not isinstance(value, list) or len(value) != len(args):
            raise BadInput(f"{source}: {key} must be a list of {len(args)} numbers, got {value!r}")
        return tuple(_coerce(v, a, source, key) for v, a in zip(value, args, strict=True))
    ok = (isinstance(value, hint) and not (hint is not bool and isinstance(value, bool))) or (
        hint is float and isinstance(value, int) and not isinstance(value, bool)
    )
    if not ok:
        raise BadInput(f"{source}: {key} must be {_describe(hint)}, got {value!r}")
    if isinstance(value, float) and not math.isfinite(value):
        raise BadInput(f"{source}: {key} must be a finite number, got {value!r}")
    problem = out_of_range(key, value)
    if problem is not None:
        raise BadInput(f"{source}: {problem}")
    return float(value) if hint is float else value


def _describe(hint: Any) -> str:
    return {int: "an integer", float: "a number", str: "a string", bool: "true or false"}.get(
        hint, str(hint)
    )

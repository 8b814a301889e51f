"""Pipeline files (TOML) -> frozen, validated step configs.

Every problem is one ``BadInput`` line naming the file and the field: an unknown key (with the
keys that are allowed), a wrong type, a value out of range.
"""

from __future__ import annotations

import tomllib
import types
import typing
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

from backends.bench import Protocol
from backends.errors import BadInput


@dataclass(frozen=True)
class DatasetStep:
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


@dataclass(frozen=True)
class TrainConfig:
    network: Literal["auto", "unet", "cnn", "mobilenetv2"] = "auto"  # auto: by task and size
    epochs: int = 15
    batch_size: int = 8
    width: float = 0.35
    learning_rate: float = 1e-3
    seed: int = 0
    augment: bool = True
    weights: str | None = None  # "imagenet" only when the weights are already cached locally


@dataclass(frozen=True)
class ConvertStep:
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


@dataclass(frozen=True)
class BenchStep(Protocol):
    """The benchmark protocol (backends/bench.py) plus the runtime settings."""

    threads: int = 2
    disable_default_delegates: bool = False  # LiteRT: turn XNNPACK off


@dataclass(frozen=True)
class EngineStep:
    """TensorRT engine builds on a board (``mllib-tui engines build`` options)."""

    workspace_mb: int = 1024  # the builder's scratch memory; lower it on 4-8 GB Jetsons
    max_batch: int = 8  # the optimisation profile's largest batch (the benchmark's eval batch)
    calibration_images: int = 256  # int8: drawn stratified from the training split


@dataclass(frozen=True)
class Gates:
    """Quality gates: a miss makes the run exit with status 1, naming the row."""

    min_miou: float | None = None  # segmentation
    min_pixel_accuracy: float | None = None  # segmentation
    min_accuracy: float | None = None  # classification: top-1
    max_drop: float | None = None  # drop of the headline metric (mIoU, top-1) against TF fp32


@dataclass(frozen=True)
class Pipeline:
    dataset: DatasetStep = field(default_factory=DatasetStep)
    train: TrainConfig = field(default_factory=TrainConfig)
    convert: ConvertStep = field(default_factory=ConvertStep)
    bench: BenchStep = field(default_factory=BenchStep)
    gates: Gates = field(default_factory=Gates)


_RANGES: dict[str, tuple[float, float]] = {
    "dataset.images": (2, 10_000_000),
    "dataset.val_fraction": (0.0001, 0.9999),
    "dataset.train_images": (1, 10_000_000),
    "dataset.val_images": (1, 10_000_000),
    "train.epochs": (1, 100_000),
    "train.batch_size": (1, 4096),
    "train.learning_rate": (1e-9, 10),
    "evaluate.batch_size": (1, 4096),
    "evaluate.threads": (0, 1024),
    "gates.min_miou": (0, 1),
    "gates.min_pixel_accuracy": (0, 1),
    "gates.min_accuracy": (0, 1),
    "gates.max_drop": (0, 1),
}


def load_pipeline(path: Path) -> Pipeline:
    try:
        data = tomllib.loads(Path(path).read_text())
    except FileNotFoundError:
        raise BadInput(f"{path}: pipeline file not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise BadInput(f"{path}: not valid TOML: {exc}") from None
    return parse(Pipeline, data, str(path), "")


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
    if key in _RANGES and not _RANGES[key][0] <= value <= _RANGES[key][1]:
        low, high = _RANGES[key]
        raise BadInput(f"{source}: {key} must be between {low:g} and {high:g}, got {value!r}")
    return float(value) if hint is float else value


def _describe(hint: Any) -> str:
    return {int: "an integer", float: "a number", str: "a string", bool: "true or false"}.get(
        hint, str(hint)
    )

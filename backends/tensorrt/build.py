"""Build a TensorRT engine from ONNX with the TensorRT Python API found on the board.

One code path for TensorRT 8.x (JetPack 5) and 10.x (JetPack 6); where they differ it asks the
API what it has rather than comparing version numbers:

- 8.x networks need the EXPLICIT_BATCH flag (10.x networks are always explicit batch);
- the workspace is ``set_memory_pool_limit`` (8.4 and newer) or ``max_workspace_size``;
- the input's batch dimension is dynamic: an optimisation profile gives it 1..max_batch (and,
  for INT8, the calibration profile too).

The engine is written to a temporary file and renamed: a build that dies leaves no engine.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from backends.errors import BadInput


def build_engine(
    onnx_path: Path,
    engine_path: Path,
    precision: str,
    *,
    workspace_mb: int = 1024,
    max_batch: int = 8,
    calibration: Path | None = None,
    calibration_cache: Path | None = None,
    trt: Any = None,
    device: Any = None,
) -> dict[str, Any]:
    """Returns ``{"tensorrt", "seconds", "calibrated_batches", "calibration_cache"}``."""
    if precision not in ("fp32", "fp16", "int8"):
        raise BadInput(f"unknown precision {precision!r}: use fp32, fp16 or int8")
    if trt is None:
        import tensorrt as trt
    start = time.monotonic()
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(_network_flags(trt))
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(Path(onnx_path).read_bytes()):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise BadInput(f"{onnx_path}: TensorRT cannot parse this ONNX model ({errors})")
    config = builder.create_builder_config()
    if hasattr(config, "set_memory_pool_limit"):
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, workspace_mb << 20)
    else:
        config.max_workspace_size = workspace_mb << 20
    profile = _profile(builder, network, max_batch)
    config.add_optimization_profile(profile)
    calibrator = None
    if precision in ("fp16", "int8"):
        config.set_flag(trt.BuilderFlag.FP16)  # int8 layers TensorRT cannot quantise run fp16
    if precision == "int8":
        calibrator = _calibrator(trt, calibration, calibration_cache, max_batch, device)
        config.set_flag(trt.BuilderFlag.INT8)
        config.int8_calibrator = calibrator
        config.set_calibration_profile(profile)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise RuntimeError(
            "TensorRT could not build the engine (its log above says why; out of memory: "
            "lower --workspace-mb or add swap)"
        )
    tmp = engine_path.with_name(engine_path.name + ".tmp")
    with open(tmp, "wb") as out:
        out.write(bytes(serialized))
    os.replace(tmp, engine_path)
    return {
        "tensorrt": str(trt.__version__),
        "seconds": time.monotonic() - start,
        "calibrated_batches": calibrator.served if calibrator is not None else None,
        "calibration_cache": str(calibration_cache) if calibrator is not None else None,
    }


def _network_flags(trt: Any) -> int:
    flag = getattr(trt.NetworkDefinitionCreationFlag, "EXPLICIT_BATCH", None)
    if flag is None or int(trt.__version__.split(".")[0]) >= 10:  # 10.x: always explicit
        return 0
    return 1 << int(flag)


def _profile(builder: Any, network: Any, max_batch: int) -> Any:
    profile = builder.create_optimization_profile()
    for index in range(network.num_inputs):
        tensor = network.get_input(index)
        rest = tuple(int(d) for d in tuple(tensor.shape)[1:])
        if any(d < 0 for d in rest):
            raise BadInput(f"input {tensor.name!r} has dynamic dimensions besides the batch")
        profile.set_shape(tensor.name, (1, *rest), (1, *rest), (max_batch, *rest))
    return profile


def _calibrator(
    trt: Any, images: Path | None, cache: Path | None, max_batch: int, device: Any
) -> Any:
    from backends.tensorrt.calibration import entropy_calibrator, load_images

    if cache is None:
        raise BadInput("int8 needs a calibration cache path (it is written on the first build)")
    if images is None and not cache.exists():
        raise BadInput("int8 needs calibration images (a .npy shard) or an existing cache")
    if device is None:
        from backends.tensorrt.cuda import open_device

        device = open_device()
    data = load_images(images) if images is not None else _placeholder()
    return entropy_calibrator(trt, data, max_batch, cache, device)


def _placeholder() -> Any:
    """With a cache and no images, TensorRT reads the cache and never asks for a batch."""
    import numpy as np

    return np.zeros((1, 1, 1, 3), np.uint8)

"""The benchmark protocol: warm-up, timed runs, percentiles, and accuracy on the whole split.

- warm-up: at least ``warmup_runs`` calls and at least ``warmup_seconds`` (either may be 0);
  the end-to-end timing follows on the warm model, so it takes the warm-up runs only;
- timed: at least ``min_runs`` calls and at least ``min_seconds``;
- inference-only latency times ``runtime.run`` on a prepared input; end-to-end latency times
  input conversion (uint8 -> float or quantised) + inference + dequantisation + argmax;
- accuracy: the confusion matrix over every image of the split.
numpy only: the board agent runs this same code.
"""

from __future__ import annotations

import time
import typing
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # numpy and the runtimes load when a measurement runs, not with a row type
    import numpy as np

    from backends.datasets.shards import Split
    from backends.runtimes import LoadedModel


def _bounded(default: Any, low: float, high: float) -> Any:
    # backends.config.bounded, which boards lack: the bounds the workstation checks
    return field(default=default, metadata={"range": (low, high)})


@dataclass(frozen=True)
class Protocol:
    warmup_runs: int = _bounded(10, 0, 1_000_000)  # untimed calls first (at least)
    warmup_seconds: float = _bounded(1.0, 0, 3600)  # and at least this long
    min_runs: int = _bounded(50, 1, 10_000_000)  # timed calls (at least)
    min_seconds: float = _bounded(2.0, 0, 86_400)  # and at least this long
    batch_size: int = _bounded(1, 1, 4096)  # images per timed call
    eval_batch_size: int = _bounded(8, 1, 4096)  # images per call of the accuracy pass


HISTOGRAM_BINS = 24


@dataclass(frozen=True)
class Latency:
    """Per-call latency in milliseconds and throughput in images per second."""

    runs: int
    mean_ms: float
    std_ms: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    min_ms: float
    max_ms: float
    throughput: float
    # calls per bin, HISTOGRAM_BINS equal bins from min_ms to max_ms (absent in older rows)
    histogram: tuple[int, ...] = ()

    @classmethod
    def from_seconds(cls, samples: list[float], batch_size: int) -> Latency:
        import numpy as np

        ms = np.asarray(samples) * 1000
        p50, p90, p99 = np.percentile(ms, [50, 90, 99])
        return cls(
            runs=len(ms),
            mean_ms=float(ms.mean()),
            std_ms=float(ms.std()),
            p50_ms=float(p50),
            p90_ms=float(p90),
            p99_ms=float(p99),
            min_ms=float(ms.min()),
            max_ms=float(ms.max()),
            throughput=float(batch_size * 1000 / ms.mean()),
            histogram=tuple(int(n) for n in np.histogram(ms, bins=HISTOGRAM_BINS)[0]),
        )


Clock = typing.Callable[[], float]  # typing's, not collections.abc's: boards run Python 3.8


def time_calls(
    call: Callable[[], object], protocol: Protocol, clock: Clock = time.perf_counter
) -> list[float]:
    """Warm up, then time ``call`` until both the run count and the duration are reached."""
    start, runs = clock(), 0
    while runs < protocol.warmup_runs or clock() - start < protocol.warmup_seconds:
        call()
        runs += 1
    samples: list[float] = []
    start = clock()
    while len(samples) < protocol.min_runs or clock() - start < protocol.min_seconds:
        before = clock()
        call()
        samples.append(clock() - before)
    return samples


def inference_latency(runtime: LoadedModel, sample: np.ndarray, protocol: Protocol) -> Latency:
    """The runtime's own call on a prepared input, timed with the protocol."""
    prepared = runtime.prepare(sample)
    return Latency.from_seconds(time_calls(lambda: runtime.run(prepared), protocol), len(sample))


def measure(
    runtime: LoadedModel,
    split: Split,
    protocol: Protocol,
    *,
    classes: list[str],
    ignore: int | None,
    task: str = "segmentation",
    on_images: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Latency (inference-only and end-to-end) and accuracy of one runtime on one split."""
    from backends.evaluation import evaluate

    sample, _ = next(split.batches(protocol.batch_size))

    def end_to_end() -> np.ndarray:
        return runtime.probabilities(runtime.run(runtime.prepare(sample))).argmax(-1)

    inference = inference_latency(runtime, sample, protocol)
    warm = replace(protocol, warmup_seconds=0)  # warm already: only its own parts to warm up
    e2e = Latency.from_seconds(time_calls(end_to_end, warm), len(sample))
    confusion = evaluate(
        runtime,
        split,
        num_classes=len(classes),
        ignore=ignore,
        batch_size=protocol.eval_batch_size,
        on_batch=on_images,
    )
    return {
        "latency": asdict(inference),
        "end_to_end": asdict(e2e),
        "images": split.size,
        "batch_size": len(sample),
        "classes": list(classes),
        **confusion.summary(classes, task),
    }

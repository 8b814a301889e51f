"""The benchmark protocol: percentiles, warm-up and stopping rules, quantisation."""

import itertools

import numpy as np
import pytest

from backends.bench.protocol import Latency, Protocol, time_calls
from backends.runtimes import dequantise, quantise


def test_percentiles_on_known_timings() -> None:
    samples = [ms / 1000 for ms in range(1, 101)]  # 1..100 ms
    latency = Latency.from_seconds(samples, batch_size=2)
    assert latency.runs == 100
    assert latency.p50_ms == pytest.approx(50.5)
    assert latency.p90_ms == pytest.approx(90.1)
    assert latency.p99_ms == pytest.approx(99.01)
    assert latency.mean_ms == pytest.approx(50.5)
    assert latency.std_ms == pytest.approx(np.std(np.arange(1, 101)))
    assert (latency.min_ms, latency.max_ms) == (pytest.approx(1), pytest.approx(100))
    assert latency.throughput == pytest.approx(2 * 1000 / 50.5)


STEP = 1 / 64


class FakeClock:
    """Advances 1/64 s per call of the measured function (exact in binary floating point)."""

    def __init__(self) -> None:
        self.now = 0.0
        self.calls = 0

    def __call__(self) -> float:
        return self.now

    def work(self) -> None:
        self.calls += 1
        self.now += STEP


@pytest.mark.parametrize(
    ("protocol", "warmup", "timed"),
    [
        (Protocol(warmup_runs=3, warmup_seconds=0, min_runs=5, min_seconds=0), 3, 5),
        # the duration decides
        (
            Protocol(warmup_runs=0, warmup_seconds=10 * STEP, min_runs=1, min_seconds=20 * STEP),
            10,
            20,
        ),
        # the count decides
        (Protocol(warmup_runs=7, warmup_seconds=STEP, min_runs=30, min_seconds=5 * STEP), 7, 30),
    ],
)
def test_warmup_and_timed_runs_follow_both_limits(protocol, warmup, timed) -> None:
    clock = FakeClock()
    samples = time_calls(clock.work, protocol, clock=clock)
    assert len(samples) == timed
    assert clock.calls == warmup + timed
    assert all(s == STEP for s in samples)


@pytest.mark.parametrize("dtype", [np.int8, np.uint8])
def test_quantisation_round_trip(dtype) -> None:
    pixels = np.arange(256, dtype=np.uint8).reshape(1, 16, 16, 1)
    zero_point = -128 if dtype is np.int8 else 0
    q = quantise(pixels, 1.0, zero_point, dtype)
    assert q.dtype == dtype
    assert (dequantise(q, 1.0, zero_point) == pixels).all()  # raw pixels survive exactly
    probs = np.linspace(0, 1, 11, dtype=np.float32)
    back = dequantise(quantise(probs, 1 / 256, zero_point, dtype), 1 / 256, zero_point)
    error = np.abs(back - probs)
    assert error[:-1].max() <= 1 / 512 + 1e-7  # half a step inside the range
    assert error[-1] == pytest.approx(1 / 256)  # 1.0 clips to the top code, 255/256
    assert quantise(np.array([1e9, -1e9]), 1.0, 0, dtype).tolist() == [
        np.iinfo(dtype).max,
        np.iinfo(dtype).min,
    ]  # clipped, never wrapped


def test_protocol_runs_at_least_once() -> None:
    counter = itertools.count()
    samples = time_calls(lambda: next(counter), Protocol(0, 0, 1, 0))
    assert len(samples) == 1

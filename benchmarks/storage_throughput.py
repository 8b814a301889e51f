"""Push and pull of a 200 MB dataset through a real S3 server (SeaweedFS on loopback), against
boto3's own ``upload_file``/``download_file`` (what ``aws s3 cp`` does) on the same files and the
same server in the same run.

    .venv/bin/python -m benchmarks.storage_throughput [--megabytes 200] [--repeats 3]

mllib's figures include what the baseline skips: hashing every file, sha256 metadata, verifying
each download before keeping it, the index object and the catalog entry.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from backends.datasets.build import import_classification
from backends.storage import configure, sync
from backends.storage.creds import Target
from backends.workspace import Workspace
from tests.s3server import ACCESS_KEY, SECRET_KEY, S3Server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--megabytes", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp())
    server = S3Server(root / "s3")
    server.start()
    try:
        run(root, server, args.megabytes, args.repeats)
    finally:
        server.stop()


def run(root: Path, server: S3Server, megabytes: int, repeats: int) -> None:
    ws = Workspace.open(root / "ws")
    images = megabytes * 10**6 // (128 * 128 * 3)
    rng = np.random.default_rng(0)  # noise: nothing compresses, the bytes are what is moved
    samples = ((rng.integers(0, 256, (128, 128, 3), np.uint8), i % 10) for i in range(images))
    record = import_classification(
        ws,
        name="noise",
        classes=tuple(map(str, range(10))),
        splits={"train": (images - 10, samples), "val": (10, samples)},
        size=(128, 128),
        channels=3,
        source={"benchmark": megabytes},
        emit=lambda e: None,
    )
    files = sorted(p for p in ws.path(record.path).iterdir() if p.is_file())
    total = sum(p.stat().st_size for p in files)
    print(f"dataset: {len(files)} files, {total / 1e6:.0f} MB; server {server.url}")

    creds = server.creds_json(root / "creds.json")
    store, _, _ = configure(creds=creds, entry=None, local=root, create_buckets=True)
    import boto3

    client = boto3.client(
        "s3",
        endpoint_url=server.url,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        region_name="us-east-1",
    )
    times: dict[str, list[float]] = {"push": [], "pull": [], "base push": [], "base pull": []}
    for i in range(repeats):  # a fresh prefix each time: content addressing would skip it all
        target = Target("mllib-bench", f"run{i}/")
        times["push"].append(_timed(sync.push_dataset(ws, store, target, record, _quiet)))
        other = Workspace.open(root / f"other{i}")
        pulled = sync.pull_dataset(other, store, target, f"noise@{record.version}", _quiet)
        times["pull"].append(_timed(pulled))
        start = time.perf_counter()
        for path in files:
            client.upload_file(str(path), target.bucket, f"base{i}/{path.name}")
        times["base push"].append(time.perf_counter() - start)
        start = time.perf_counter()
        for path in files:
            client.download_file(target.bucket, f"base{i}/{path.name}", str(root / path.name))
        times["base pull"].append(time.perf_counter() - start)

    for name in ("push", "pull"):
        ours, theirs = np.median(times[name]), np.median(times[f"base {name}"])
        print(
            f"{name} (median of {repeats}): mllib {ours:.2f} s ({total / ours / 1e6:.0f} MB/s), "
            f"boto3 {theirs:.2f} s ({total / theirs / 1e6:.0f} MB/s): "
            f"mllib/boto3 throughput {theirs / ours:.2f}"
        )


def _timed(operation: Any) -> float:
    start = time.perf_counter()
    asyncio.run(operation)
    return time.perf_counter() - start


def _quiet(event: Any) -> None:
    pass


if __name__ == "__main__":
    main()

"""At the original's scale: a synthetic COCO set at 480x512 (5,000 validation images by
default, as the original's table), imported and evaluated by mllib, each against a baseline in
the same run, and peak memory at 1,000 vs 5,000 images (each step in a fresh process):

1. import: mllib's COCO reading (decode, masks, letterbox; both cores) in images/s vs the loop
   most scripts run over the same images: read each, ``annToMask`` per annotation, letterbox;
   and the whole import (the same plus compressed, hashed, fsynced shards) in images/s;
2. evaluation: the benchmark protocol's accuracy pass over every image (LiteRT int8 of a UNet
   at width 0.35: data, inference, metrics) vs a bare loop of the same runtime over the same
   arrays read from the same shards (target <= 1.10);
3. memory: the peak resident set of the import and of the evaluation at 1,000 and at 5,000
   images (target <= 1.1: streaming, not loading).

    .venv/bin/python -m benchmarks.scale_5000 [--images 5000] [--small 1000]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

SIZE = (480, 512)


def generate(root: Path, images: int) -> Path:
    """The synthetic COCO source (PNG images, instances_*.json), val holding all but 2."""
    from backends.datasets import synth

    source = root / f"coco-{images}"
    if not (source / "annotations" / "instances_val.json").exists():
        synth.generate(source, images=images + 2, size=SIZE, seed=0,
                       val_fraction=images / (images + 2), emit=lambda e: None)  # fmt: skip
    return source


def child_import(source: Path, ws_root: Path) -> dict[str, float]:
    from backends.datasets.build import import_coco
    from backends.datasets.classmap import ClassMap
    from backends.workspace import Workspace

    splits = {s: (source / "annotations" / f"instances_{s}.json", source / "images")
              for s in ("train", "val")}  # fmt: skip
    start = time.perf_counter()
    coco4 = ClassMap.load("coco-4")
    record = import_coco(Workspace.open(ws_root), name="scale", splits=splits, class_map=coco4,
                         size=SIZE, emit=lambda e: None)  # fmt: skip
    return {"seconds": time.perf_counter() - start, "images": sum(record.images.values())}


def child_read(source: Path, limit: int) -> dict[str, float]:
    """mllib's reading of the first ``limit`` val images, without shards: what the naive loop
    does, done as the import does it."""
    from backends.datasets import coco
    from backends.datasets.classmap import ClassMap
    from backends.datasets.preprocess import letterbox

    class_map = ClassMap.load("coco-4")
    start = time.perf_counter()
    source_ = coco.load(source / "annotations" / "instances_val.json", source / "images",
                        class_map)  # fmt: skip
    head = dataclasses.replace(source_, images=source_.images[:limit])
    ignore = class_map.ignore
    kept = sum(1 for _ in coco.samples(head, lambda i, m: letterbox(i, m, SIZE, ignore)))
    return {"seconds": time.perf_counter() - start, "images": kept}


def child_naive_import(source: Path, limit: int) -> dict[str, float]:
    """The loop most scripts run, over the first ``limit`` val images."""
    import cv2
    from pycocotools.coco import COCO

    from backends.datasets.classmap import ClassMap
    from backends.datasets.preprocess import letterbox

    class_map = ClassMap.load("coco-4")
    api = COCO(str(source / "annotations" / "instances_val.json"))
    classes = class_map.lookup(api.dataset["categories"], "instances_val.json")
    start, kept = time.perf_counter(), []
    for image_id in api.getImgIds()[:limit]:
        info = api.loadImgs(image_id)[0]
        image = cv2.cvtColor(cv2.imread(str(source / "images" / info["file_name"])),
                             cv2.COLOR_BGR2RGB)  # fmt: skip
        mask = np.zeros((info["height"], info["width"]), np.uint8)
        for ann in api.loadAnns(api.getAnnIds(imgIds=image_id)):
            mask[api.annToMask(ann) > 0] = classes[ann["category_id"]]
        kept.append(letterbox(image, mask, SIZE, class_map.ignore))
    return {"seconds": time.perf_counter() - start, "images": len(kept)}


def child_evaluate(ws_root: Path, model: Path, bare: bool) -> dict[str, float]:
    from backends.bench.protocol import Protocol, measure
    from backends.datasets.shards import split
    from backends.runtimes import load
    from backends.tasks import task_of
    from backends.workspace import Workspace

    (dataset,) = Workspace.open(ws_root).catalog.datasets("scale")
    val = split(Workspace.open(ws_root).path(dataset.path), "val")
    runtime = load("litert", model, threads=2)
    start = time.perf_counter()
    if bare:  # the same arrays through the same runtime, nothing else
        for images, _ in val.batches(1):
            runtime.run(runtime.prepare(images))
    else:
        protocol = Protocol(warmup_runs=0, warmup_seconds=0, min_runs=1, min_seconds=0,
                            eval_batch_size=1)  # fmt: skip
        manifest = dataset.manifest
        measure(runtime, val, protocol, classes=manifest["classes"], ignore=manifest["ignore"],
                task=task_of(manifest).name)  # fmt: skip
    return {"seconds": time.perf_counter() - start, "images": val.size}


def peak_mb() -> float:
    """This process's peak resident set (VmHWM: unlike ru_maxrss, not inherited from the
    parent across fork and exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise SystemExit("no VmHWM in /proc/self/status: this benchmark needs Linux")


def in_child(*args: str) -> dict[str, float]:
    """Run this module's ``--child`` step in a fresh process: its figures and peak RSS (MB)."""
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.scale_5000", "--child", *args],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if out.returncode != 0:
        raise SystemExit(f"step {args[0]} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def model_file(root: Path) -> Path:
    """A UNet (width 0.35) at 480x512 as LiteRT int8: latency and memory do not need training."""
    from backends.convert import tflite
    from backends.convert.stage import ConvertStep
    from backends.formats import Precision
    from backends.networks.unet import build_unet
    from backends.runtimes.tensorflow import import_tensorflow

    import_tensorflow()
    path = root / "unet-int8.tflite"
    if not path.exists():
        saved = root / "unet.savedmodel"
        build_unet(SIZE, 4, width=0.35).export(str(saved), verbose=False)
        representative = np.random.default_rng(0).integers(0, 256, (8, *SIZE, 3), np.uint8)
        tflite.convert(saved, path, Precision.INT8, ConvertStep(), representative)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=5000)
    parser.add_argument("--small", type=int, default=1000)
    parser.add_argument("--naive", type=int, default=200, help="images the naive import reads")
    parser.add_argument("--root", type=Path, default=None, help="keep sources here between runs")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        step, *rest = args.child
        figures = {
            "import": lambda: child_import(Path(rest[0]), Path(rest[1])),
            "naive": lambda: child_naive_import(Path(rest[0]), int(rest[1])),
            "read": lambda: child_read(Path(rest[0]), int(rest[1])),
            "evaluate": lambda: child_evaluate(Path(rest[0]), Path(rest[1]), rest[2] == "bare"),
        }[step]()
        print(json.dumps({**figures, "peak_mb": peak_mb()}))
        return
    root = args.root or Path(tempfile.mkdtemp(prefix="mllib-scale-"))
    root.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    sources = {n: generate(root, n) for n in (args.small, args.images)}
    model = model_file(root)
    print(f"sources and model ready in {time.perf_counter() - started:.0f} s (not counted)")
    results: dict[int, dict[str, dict[str, float]]] = {}
    for n, source in sources.items():
        ws = root / f"ws-{n}"
        results[n] = {
            "import": in_child("import", str(source), str(ws)),
            "evaluate": in_child("evaluate", str(ws), str(model), "protocol"),
            "bare": in_child("evaluate", str(ws), str(model), "bare"),
        }
    naive = in_child("naive", str(sources[args.images]), str(args.naive))
    read = in_child("read", str(sources[args.images]), str(args.naive))
    big, small = results[args.images], results[args.small]
    rate = big["import"]["images"] / big["import"]["seconds"]
    naive_rate = naive["images"] / naive["seconds"]
    read_rate = read["images"] / read["seconds"]
    print(f"| step | {args.images} images | baseline | ratio | target |")
    print("|---|---|---|---|---|")
    print(f"| reading COCO (images/s, first {args.naive}) | {read_rate:.1f} | naive loop "
          f"{naive_rate:.1f} | {read_rate / naive_rate:.2f}x | |")  # fmt: skip
    print(f"| whole import with shards (images/s) | {rate:.1f} | | | |")
    ratio = big["evaluate"]["seconds"] / big["bare"]["seconds"]
    print(f"| evaluation (s) | {big['evaluate']['seconds']:.1f} | bare loop "
          f"{big['bare']['seconds']:.1f} | {ratio:.3f} | <= 1.10 |")  # fmt: skip
    for step in ("import", "evaluate"):
        peak, low = big[step]["peak_mb"], small[step]["peak_mb"]
        print(f"| peak memory, {step} (MB) | {peak:.0f} | {args.small} images: {low:.0f} | "
              f"{peak / low:.3f} | <= 1.1 |")  # fmt: skip


if __name__ == "__main__":
    main()

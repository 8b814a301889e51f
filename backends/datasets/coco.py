"""COCO instance annotations -> semantic masks (pycocotools).

Painting order is deterministic: crowd regions first, then instances from the largest area to the
smallest (ties by annotation id), so a small object in front of a large one keeps its pixels.

pycocotools turns polygons into RLE; we then never decode an instance to a full-image mask (the
common approach: ``annToMask`` plus one full-image boolean assignment per annotation). Each RLE's
runs are read with numpy and painted as slices of one column-major label array, so the cost
follows the objects' outlines, not image area times instance count
(``benchmarks/coco_masks.py`` measures both).
"""

from __future__ import annotations

import json
import math
import os
from collections import defaultdict, deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, TypeVar

import numpy as np

from backends.datasets.classmap import ClassMap
from backends.datasets.cocostream import Unstreamable, streamed
from backends.errors import BadInput, read_input


@dataclass(frozen=True, slots=True)
class Instance:
    """One annotation as the masks need it: its mask as COCO's compressed RLE string, a few
    hundred bytes where the parsed polygon took kilobytes (what keeps an import's memory flat)."""

    id: int
    category_id: int
    crowd: bool
    box: bool  # a rectangle without a mask: painted with the ignore label
    counts: bytes | str


@dataclass(frozen=True)
class CocoImage:
    id: int
    file: Path
    height: int
    width: int
    annotations: tuple[Instance, ...]


@dataclass(frozen=True)
class CocoSource:
    """One validated annotation file with its image directory."""

    annotations_file: Path
    images: tuple[CocoImage, ...]
    lookup: dict[int, int]  # COCO category id -> class id
    ignore: int  # the label of pixels training leaves out
    boxes: int = 0  # annotations that are boxes without a mask (painted ignore)


_T = TypeVar("_T")

MAX_SIDE = 16384  # pixels: a larger declared image is a mistake, not a photo


def read(annotations_file: Path) -> dict[str, Any]:
    """The annotation file as a JSON object holding the three lists COCO needs."""
    src = str(annotations_file)
    raw = read_input(annotations_file, "annotation file")
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
        where = f" (line {exc.lineno})" if isinstance(exc, json.JSONDecodeError) else ""
        raise BadInput(f"{src}: not valid COCO JSON{where}: {exc}") from None
    if not isinstance(data, dict):
        raise BadInput(f"{src}: expected a JSON object with images, annotations and categories")
    for key in ("images", "annotations", "categories"):
        if not isinstance(data.get(key), list):
            raise BadInput(f"{src}: field '{key}' must be a list")
    return data


def file_names(data: dict[str, Any], src: str) -> list[str]:
    """Each image's ``file_name``, checked to stay inside the images directory."""
    names = []
    for i, info in enumerate(data["images"]):
        where = f"{src}: images[{i}]"
        _require(info, {"file_name": str}, where)
        names.append(_inside(info["file_name"], f"{where}.file_name"))
    return names


def load(
    annotations_file: Path,
    images_dir: Path,
    class_map: ClassMap,
    data: dict[str, Any] | None = None,
) -> CocoSource:
    """Parse (unless ``data`` is the file's content, already read) and validate; every problem
    is a ``BadInput`` naming the file and the field.

    The file is streamed: its images and categories are read whole (small), its annotations one
    at a time, each kept as an ``Instance``, so memory follows the images, not the file's size.
    A file the streaming parser refuses is read whole by ``read``, whose error names the line
    (and which reads what the stricter parser does not, such as a ``NaN``, for the checks to
    name).

    Everything a COCO export holds is checked here, before any image is read: an image's
    ``file_name`` must stay inside ``images_dir`` (subfolders, as CVAT writes them, are fine;
    absolute paths and ``..`` are refused), polygons must be lists of finite numbers in x,y
    pairs, and RLE must cover exactly its image (``size`` equal to the image's height and
    width, counts non-negative and summing to height x width). An annotation with an empty
    segmentation and a box (a rectangle, as Label Studio exports them) has no mask: its box is
    painted with the ignore label, and ``boxes`` counts them."""
    if data is None:
        try:
            return _load(annotations_file, images_dir, class_map, *streamed(annotations_file))
        except Unstreamable:
            data = read(annotations_file)
    return _load(
        annotations_file,
        images_dir,
        class_map,
        data["images"],
        data["categories"],
        iter(data["annotations"]),
    )


def _load(
    annotations_file: Path,
    images_dir: Path,
    class_map: ClassMap,
    image_entries: list[Any],
    categories: list[Any],
    annotations: Iterator[Any],
) -> CocoSource:
    src = str(annotations_file)
    if not image_entries:
        raise BadInput(f"{src}: 'images' is empty: the dataset has nothing to learn from")
    for i, category in enumerate(categories):
        _require(category, {"id": int, "name": str}, f"{src}: categories[{i}]")
    lookup = class_map.lookup(categories, src)

    declared: dict[int, tuple[int, dict[str, Any]]] = {}  # image id -> (index, image entry)
    for i, info in enumerate(image_entries):
        where = f"{src}: images[{i}]"
        _require(info, {"id": int, "file_name": str, "height": int, "width": int}, where)
        for side in ("height", "width"):
            if not 1 <= info[side] <= MAX_SIDE:
                raise BadInput(f"{where}.{side} {info[side]} must be from 1 to {MAX_SIDE}")
        if info["id"] in declared:
            raise BadInput(f"{where}.id {info['id']} is declared twice")
        _inside(info["file_name"], f"{where}.file_name")
        declared[info["id"]] = (i, info)

    by_image: dict[int, list[Instance]] = defaultdict(list)
    boxes = 0
    for i, ann in enumerate(annotations):
        where = f"{src}: annotations[{i}]"
        _require(ann, {"id": int, "image_id": int, "category_id": int}, where)
        if ann["category_id"] not in lookup:
            raise BadInput(
                f"{where}.category_id {ann['category_id']} is not declared in 'categories'"
            )
        if ann["image_id"] not in declared:
            raise BadInput(f"{where} refers to image_id {ann['image_id']}, which 'images' lacks")
        info = declared[ann["image_id"]][1]
        if ann.get("segmentation") == [] and "bbox" in ann:
            ann = {**ann, "segmentation": [_box(ann["bbox"], f"{where}.bbox")], "box": True}
            boxes += 1
        _segmentation(ann.get("segmentation"), info["height"], info["width"], where)
        by_image[ann["image_id"]].append(instance(ann, info["height"], info["width"], where))

    images = []
    for i, info in declared.values():
        file = Path(images_dir) / info["file_name"]
        if not file.is_file():
            where = f"{src}: images[{i}].file_name"
            raise BadInput(f"{where}: image {file} not found; check --images")
        anns = tuple(sorted(by_image.get(info["id"], []), key=lambda a: a.id))
        images.append(CocoImage(info["id"], file, info["height"], info["width"], anns))
    return CocoSource(Path(annotations_file), tuple(images), lookup, class_map.ignore, boxes)


def _require(obj: Any, fields: dict[str, type], where: str) -> None:
    if not isinstance(obj, dict):
        raise BadInput(f"{where} must be an object")
    for name, kind in fields.items():
        if not isinstance(obj.get(name), kind) or isinstance(obj.get(name), bool):
            raise BadInput(f"{where}.{name} is missing or not of type {kind.__name__}")


def _inside(file_name: str, where: str) -> str:
    """A file name that stays inside the images directory, whatever the directory is."""
    path = PurePosixPath(file_name)
    if not file_name or "\0" in file_name or path.is_absolute() or ".." in path.parts:
        raise BadInput(
            f"{where} {file_name!r} leaves the images directory: file names must be relative "
            "to it (subfolders are fine; '..' and absolute paths are not)"
        )
    return file_name


def _box(bbox: Any, where: str) -> list[float]:
    """A COCO ``[x, y, width, height]`` box as a polygon."""
    if not (
        isinstance(bbox, list)
        and len(bbox) == 4
        and all(isinstance(v, int | float) and not isinstance(v, bool) for v in bbox)
        and all(math.isfinite(v) for v in bbox)
    ):
        raise BadInput(f"{where} must be [x, y, width, height] (finite numbers)")
    x, y, w, h = bbox
    return [x, y, x + w, y, x + w, y + h, x, y + h]


def _segmentation(segmentation: Any, height: int, width: int, where: str) -> None:
    """Polygons: lists of finite x,y numbers. RLE: ``size`` = [height, width] of its image and
    counts (a list, or COCO's compressed string) non-negative and summing to height x width."""
    where = f"{where}.segmentation"
    if isinstance(segmentation, list):
        for j, polygon in enumerate(segmentation):
            if not isinstance(polygon, list) or len(polygon) % 2:
                raise BadInput(f"{where}[{j}] must be a list of x,y pairs (an even count)")
            if not all(
                isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
                for v in polygon
            ):
                raise BadInput(f"{where}[{j}] holds something that is not a finite number")
        return
    if not isinstance(segmentation, dict):
        raise BadInput(f"{where} must be a polygon list or an RLE object")
    if segmentation.get("size") != [height, width]:
        raise BadInput(
            f"{where}.size {segmentation.get('size')!r} is not the image's [{height}, {width}]"
        )
    counts = segmentation.get("counts")
    if isinstance(counts, list):
        if not all(isinstance(c, int) and not isinstance(c, bool) and c >= 0 for c in counts):
            raise BadInput(f"{where}.counts must be non-negative whole numbers")
        runs = np.asarray(counts, dtype=object)
    elif isinstance(counts, str) and counts.isascii():
        try:
            runs = rle_counts({"counts": counts})
        except (ValueError, IndexError):
            raise BadInput(f"{where}.counts is not a compressed COCO RLE string") from None
        if (runs < 0).any():
            raise BadInput(f"{where}.counts decodes to a negative run: not a valid RLE")
    else:
        raise BadInput(f"{where}.counts must be a list of run lengths or a compressed string")
    if int(runs.sum()) != height * width:
        raise BadInput(
            f"{where}.counts sum to {int(runs.sum())} pixels, not the image's {height}x{width}"
        )


def instance(ann: dict[str, Any], height: int, width: int, where: str = "") -> Instance:
    """A validated annotation as an ``Instance`` (its segmentation as one compressed RLE)."""
    try:
        rle = instance_rle(ann["segmentation"], height, width)
    except Exception as exc:  # validated already; pycocotools must still never escape
        raise BadInput(f"{where}.segmentation cannot be decoded ({exc})") from None
    return Instance(
        ann["id"], ann["category_id"], bool(ann.get("iscrowd", 0)), bool(ann.get("box")),
        rle["counts"],
    )  # fmt: skip


def instance_rle(segmentation: Any, height: int, width: int) -> dict[str, Any]:
    """One RLE for an instance: polygons merged, uncompressed (crowd) RLE compressed."""
    from pycocotools import mask as mask_utils

    if isinstance(segmentation, list):
        polygons = [p for p in segmentation if len(p) >= 6]  # fewer than 3 points has no area
        if not polygons:
            return mask_utils.encode(np.zeros((height, width), np.uint8, order="F"))
        return mask_utils.merge(mask_utils.frPyObjects(polygons, height, width))
    if isinstance(segmentation.get("counts"), list):
        return mask_utils.frPyObjects(segmentation, height, width)
    return segmentation


def rle_counts(rle: dict[str, Any]) -> np.ndarray:
    """Run lengths of an RLE (alternating 0/1 runs down the columns, starting with 0s).

    Decodes COCO's compressed string form (the format of ``maskApi.c``'s ``rleFrString``: 5-bit
    chunks offset by 48, 0x20 = more chunks follow, 0x10 in the last chunk = negative, and each
    count after the second stored as a difference from the count two places before) with numpy.
    """
    counts = rle["counts"]
    if isinstance(counts, list):
        return np.asarray(counts, np.int64)
    raw = counts.encode() if isinstance(counts, str) else counts
    chunks = np.frombuffer(raw, np.uint8).astype(np.int64) - 48
    ends = np.flatnonzero((chunks & 0x20) == 0)  # the last chunk of every value
    starts = np.concatenate([[0], ends[:-1] + 1])
    position = np.arange(chunks.size) - np.repeat(starts, ends - starts + 1)
    values = np.add.reduceat((chunks & 0x1F) << (5 * position), starts)
    negative = (chunks[ends] & 0x10) != 0
    values[negative] -= np.int64(1) << (5 * (ends - starts + 1)[negative])
    values[1::2] = np.cumsum(values[1::2])  # undo the delta coding, one parity chain at a time
    values[2::2] = np.cumsum(values[2::2])
    return values


def semantic_mask(image: CocoImage, lookup: dict[int, int], ignore: int = 255) -> np.ndarray:
    """The class-id mask (uint8, HxW) of one image; unannotated pixels are class 0, boxes
    without a mask ``ignore``."""
    h, w = image.height, image.width
    runs = [rle_counts({"counts": a.counts}) for a in image.annotations]
    areas = [int(r[1::2].sum()) for r in runs]
    order = sorted(
        range(len(runs)),
        key=lambda i: (not image.annotations[i].crowd, -areas[i], image.annotations[i].id),
    )
    flat = np.zeros(h * w, np.uint8)  # column-major, like the RLE runs
    for i in order:
        ann = image.annotations[i]
        label = ignore if ann.box else lookup[ann.category_id]
        bounds = np.cumsum(runs[i]).tolist()
        for start, stop in zip(bounds[0::2], bounds[1::2], strict=False):
            flat[start:stop] = label
    return flat.reshape(w, h).T.copy()


def read_image(image: CocoImage, src: str = "") -> np.ndarray:
    """RGB uint8 HxWx3, checked against the size the annotation file declares."""
    import cv2

    pixels = cv2.imread(str(image.file), cv2.IMREAD_COLOR)
    if pixels is None:
        raise BadInput(f"{image.file}: unreadable image (referenced by {src})")
    if pixels.shape[:2] != (image.height, image.width):
        raise BadInput(
            f"{image.file}: image is {pixels.shape[1]}x{pixels.shape[0]} but {src} declares "
            f"{image.width}x{image.height}"
        )
    return cv2.cvtColor(pixels, cv2.COLOR_BGR2RGB)


def samples(
    source: CocoSource,
    prepare: Callable[[np.ndarray, np.ndarray], _T],
    workers: int | None = None,
) -> Iterator[_T]:
    """``prepare(image, mask)`` of every image, in the annotation file's image order.

    Images are decoded, painted and prepared on ``workers`` threads (default: one per core):
    OpenCV's decode and resize and numpy's copies release the GIL, so the cores share the work
    while the caller writes shards. At most two images per worker are in flight: memory stays
    flat however many images the file lists."""
    src = str(source.annotations_file)

    def one(image: CocoImage) -> _T:
        mask = semantic_mask(image, source.lookup, source.ignore)
        return prepare(read_image(image, src), mask)

    workers = workers or os.cpu_count() or 1
    with ThreadPoolExecutor(workers, thread_name_prefix="coco") as pool:
        pending: deque[Future[_T]] = deque()
        try:
            for image in source.images:
                pending.append(pool.submit(one, image))
                if len(pending) > 2 * workers:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            for future in pending:  # the caller stopped early (an error): drop what is queued
                future.cancel()

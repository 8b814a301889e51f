"""The COCO loader against pycocotools' own ``annToMask`` on real annotations."""

import json
from pathlib import Path

import numpy as np
import pytest
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO

from backends.datasets import coco
from backends.datasets.classmap import ClassMap
from backends.errors import BadInput
from tests.voc import voc_coco, write_coco


@pytest.fixture
def voc(tmp_path: Path) -> tuple[Path, dict]:
    return voc_coco(tmp_path)


def _reference(doc: dict, lookup: dict[int, int], image_id: int = 1) -> np.ndarray:
    """pycocotools' COCO.annToMask per annotation, painted in the documented order."""
    api = COCO()
    api.dataset = doc
    api.createIndex()
    info = api.imgs[image_id]
    anns = api.loadAnns(api.getAnnIds(imgIds=[image_id]))
    masks = [api.annToMask(a) for a in anns]
    order = sorted(
        range(len(anns)),
        key=lambda i: (not anns[i].get("iscrowd", 0), -int(masks[i].sum()), anns[i]["id"]),
    )
    out = np.zeros((info["height"], info["width"]), np.uint8)
    for i in order:
        out[masks[i] > 0] = lookup[anns[i]["category_id"]]
    return out


def test_real_voc_annotations_match_ann_to_mask(voc: tuple[Path, dict]) -> None:
    path, doc = voc
    source = coco.load(path, path.parent / "img", ClassMap.load("coco-4"))
    (image,) = source.images
    assert len(image.annotations) == 19
    ours = coco.semantic_mask(image, source.lookup)
    assert (ours == _reference(doc, source.lookup)).all()
    assert set(np.unique(ours)) == {0, 1}  # VOC's people -> person, the rest -> void
    assert (ours == 1).sum() > 1000
    pixels = coco.read_image(image)
    assert pixels.shape == (image.height, image.width, 3)


def test_the_streamed_file_reads_as_the_whole_document_in_any_key_order(
    voc: tuple[Path, dict],
) -> None:
    """COCO's own files put ``categories`` after ``annotations``; the streamed parse reads each
    part wherever it is, and gives what parsing the whole document gives."""
    path, doc = voc
    classes = ClassMap.load("coco-4")
    whole = coco.load(path, path.parent / "img", classes, data=doc)
    for order in (["annotations", "categories", "images"], ["categories", "images", "annotations"]):
        path.write_text(json.dumps({"info": {"year": 2012}, **{k: doc[k] for k in order}}))
        streamed = coco.load(path, path.parent / "img", classes)
        assert streamed == whole
    (image,) = whole.images
    assert {a.category_id for a in image.annotations} == {
        a["category_id"] for a in doc["annotations"]
    }


def _doc(anns: list[dict], categories: list[dict] | None = None) -> dict:
    return {
        "images": [{"id": 7, "file_name": "a.png", "height": 40, "width": 50}],
        "annotations": anns,
        "categories": categories
        or [{"id": 1, "name": "person"}, {"id": 3, "name": "car"}, {"id": 62, "name": "chair"}],
    }


def _square(x0: float, y0: float, x1: float, y1: float) -> list[float]:
    return [x0, y0, x1, y0, x1, y1, x0, y1]


def test_polygons_crowd_and_overlaps_follow_the_documented_order(tmp_path: Path) -> None:
    crowd = np.zeros((40, 50), np.uint8)
    crowd[5:35, 5:45] = 1
    crowd_rle = mask_utils.encode(np.asfortranarray(crowd))
    # uncompressed RLE, as COCO stores crowds
    flat = crowd.reshape(-1, order="F")
    bounds = np.concatenate([[0], np.flatnonzero(np.diff(flat)) + 1, [flat.size]])
    counts = np.diff(bounds).tolist()
    assert mask_utils.decode(
        mask_utils.frPyObjects({"counts": counts, "size": [40, 50]}, 40, 50)
    ).sum() == mask_utils.area(crowd_rle)
    anns = [
        # a big car, then a small person on top, a two-polygon chair, and a crowd of people
        {"id": 1, "image_id": 7, "category_id": 3, "segmentation": [_square(0, 0, 40, 30)]},
        {"id": 2, "image_id": 7, "category_id": 1, "segmentation": [_square(10, 10, 20, 20)]},
        {
            "id": 3,
            "image_id": 7,
            "category_id": 62,
            "segmentation": [_square(42, 2, 48, 8), _square(42, 30, 48, 38)],
        },
        {
            "id": 4,
            "image_id": 7,
            "category_id": 1,
            "iscrowd": 1,
            "segmentation": {"counts": counts, "size": [40, 50]},
        },
    ]
    doc = _doc(anns)
    path = write_coco(tmp_path, doc, {"a.png": np.zeros((40, 50, 3), np.uint8)})
    source = coco.load(path, tmp_path / "img", ClassMap.load("coco-4"))
    ours = coco.semantic_mask(source.images[0], source.lookup)
    assert (ours == _reference(doc, source.lookup, image_id=7)).all()
    assert ours[15, 15] == 1  # the small person stays on top of the big car
    assert ours[25, 30] == 2  # the car covers the crowd where it overlaps
    assert ours[33, 20] == 1  # crowd pixels outside the car are people
    assert ours[5, 45] == 0  # chair -> void in coco-4


def test_images_without_annotations_are_all_void(tmp_path: Path) -> None:
    path = write_coco(tmp_path, _doc([]), {"a.png": np.zeros((40, 50, 3), np.uint8)})
    source = coco.load(path, tmp_path / "img", ClassMap.load("coco-4"))
    assert not coco.semantic_mask(source.images[0], source.lookup).any()


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: "{not json", r"instances.json: not valid COCO JSON \(line 1\)"),
        (lambda d: {**d, "images": []}, "'images' is empty"),
        (lambda d: {**d, "annotations": {}}, "field 'annotations' must be a list"),
        (
            lambda d: {
                **d,
                "images": [{"id": 7, "file_name": "missing.png", "height": 1, "width": 1}],
            },
            r"images\[0\].file_name: image .*missing.png",
        ),
        (
            lambda d: {
                **d,
                "images": [{"id": "7", "file_name": "a.png", "height": 40, "width": 50}],
            },
            r"images\[0\].id is missing or not of type int",
        ),
        (
            lambda d: {
                **d,
                "annotations": [{"id": 1, "image_id": 7, "category_id": 99, "segmentation": []}],
            },
            r"annotations\[0\].category_id 99 is not declared",
        ),
        (
            lambda d: {
                **d,
                "annotations": [{"id": 1, "image_id": 8, "category_id": 1, "segmentation": []}],
            },
            "image_id 8, which 'images' lacks",
        ),
        (
            lambda d: {**d, "annotations": [{"id": 1, "image_id": 7, "category_id": 1}]},
            r"annotations\[0\].segmentation must be",
        ),
    ],
)
def test_bad_annotation_files_name_the_file_and_field(tmp_path: Path, mutate, message) -> None:
    doc = mutate(_doc([]))
    path = write_coco(tmp_path, _doc([]), {"a.png": np.zeros((40, 50, 3), np.uint8)})
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    with pytest.raises(BadInput, match=message):
        coco.load(path, tmp_path / "img", ClassMap.load("coco-4"))


def test_missing_annotation_file(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match="annotation file not found"):
        coco.load(tmp_path / "nope.json", tmp_path, ClassMap.load("coco-4"))


def test_image_size_must_match_the_annotation_file(tmp_path: Path) -> None:
    path = write_coco(tmp_path, _doc([]), {"a.png": np.zeros((10, 10, 3), np.uint8)})
    source = coco.load(path, tmp_path / "img", ClassMap.load("coco-4"))
    with pytest.raises(BadInput, match="a.png: image is 10x10 but .* declares 50x40"):
        coco.read_image(source.images[0], str(path))


def test_strict_class_map_rejects_unknown_categories(tmp_path: Path) -> None:
    strict = ClassMap.parse(
        {
            "name": "strict",
            "other": None,
            "classes": [
                {"id": 0, "name": "bg"},
                {"id": 1, "name": "person", "categories": ["person"]},
            ],
        },
        "m.json",
    )
    path = write_coco(tmp_path, _doc([]), {"a.png": np.zeros((40, 50, 3), np.uint8)})
    with pytest.raises(BadInput, match="category 'car' \\(id 3\\) is not in class map 'strict'"):
        coco.load(path, tmp_path / "img", strict)


@pytest.mark.parametrize("seed", range(5))
def test_rle_counts_decode_like_pycocotools(seed: int) -> None:
    rng = np.random.default_rng(seed)
    h, w = int(rng.integers(1, 300)), int(rng.integers(1, 300))
    # blobs of very different sizes: long runs need several chunks, deltas go negative
    mask = np.zeros((h, w), np.uint8)
    for _ in range(int(rng.integers(0, 6))):
        y, x = rng.integers(0, h), rng.integers(0, w)
        mask[y : y + int(rng.integers(1, h + 1)), x : x + int(rng.integers(1, w + 1))] = 1
    mask[rng.random((h, w)) < 0.02] ^= 1
    rle = mask_utils.encode(np.asfortranarray(mask))
    counts = coco.rle_counts(rle)
    assert counts.sum() == h * w
    rebuilt = np.repeat(np.arange(counts.size) % 2, counts).reshape(w, h).T
    assert (rebuilt == mask_utils.decode(rle)).all()

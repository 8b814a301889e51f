"""Property-based fuzzing of every reader of outside input: whatever a COCO export, a pipeline
file, devices.toml, creds.json or a store index holds, reading it ends in success or in the
project's one-line ``BadInput``, never in another exception. Example counts are bounded by the
``ci`` profile (tests/conftest.py)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backends.boards.inventory import parse_inventory
from backends.datasets import coco
from backends.datasets.classmap import ClassMap
from backends.datasets.manifest import check_manifest
from backends.errors import BadInput
from backends.pipeline import parse_pipeline
from backends.storage.creds import load_creds
from backends.storage.index import ArtifactIndex, DatasetIndex

H, W = 12, 16
fixture_ok = settings(suppress_health_check=[HealthCheck.function_scoped_fixture])

scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12)
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


def _maybe(strategy: st.SearchStrategy, junk: st.SearchStrategy = json_values):
    """Mostly a plausible value, sometimes anything at all."""
    return st.one_of(strategy, strategy, strategy, junk)


def _accepts_or_refuses(read: Any, *args: Any) -> Any:
    try:
        return read(*args)
    except BadInput as exc:
        assert "\n" not in str(exc).strip()  # one line
        return None


# -- COCO ----------------------------------------------------------------------------------

file_names = st.sampled_from(["a.png", "sub/b.png", "../a.png", "/etc/passwd", "", "c.png"])
polygons = st.lists(st.lists(_maybe(st.floats(-5, 40, allow_nan=False)), max_size=10), max_size=3)
rle_lists = st.lists(st.integers(-3, H * W + 3), max_size=6)
rle_strings = st.text(alphabet=st.characters(min_codepoint=48, max_codepoint=111), max_size=12)
segmentations = _maybe(
    st.one_of(
        polygons,
        st.fixed_dictionaries(
            {
                "counts": st.one_of(rle_lists, rle_strings, st.just([0, H * W])),
                "size": _maybe(st.just([H, W])),
            }
        ),
    )
)
images = st.fixed_dictionaries(
    {
        "id": _maybe(st.integers(0, 3)),
        "file_name": _maybe(file_names),
        "height": _maybe(st.sampled_from([H, 0, -1, 10**7])),
        "width": _maybe(st.just(W)),
    }
)
annotations = st.fixed_dictionaries(
    {
        "id": _maybe(st.integers(0, 5)),
        "image_id": _maybe(st.integers(0, 3)),
        "category_id": _maybe(st.sampled_from([1, 3, 99])),
        "segmentation": segmentations,
        "iscrowd": _maybe(st.sampled_from([0, 1])),
    }
)
coco_docs = st.fixed_dictionaries(
    {
        "images": _maybe(st.lists(images, max_size=3)),
        "annotations": _maybe(st.lists(annotations, max_size=4)),
        "categories": _maybe(
            st.just([{"id": 1, "name": "person"}, {"id": 3, "name": "car"}]),
            st.lists(json_values, max_size=3),
        ),
    }
)


@pytest.fixture(scope="module")
def images_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("coco") / "images"
    (root / "sub").mkdir(parents=True)
    for name in ("a.png", "sub/b.png"):
        cv2.imwrite(str(root / name), np.zeros((H, W, 3), np.uint8))
    return root


@fixture_ok
@given(doc=_maybe(coco_docs))
def test_the_coco_loader_accepts_or_refuses_in_one_line(images_dir: Path, doc: Any) -> None:
    path = images_dir.parent / "instances.json"
    path.write_text(json.dumps(doc, allow_nan=True))
    source = _accepts_or_refuses(coco.load, path, images_dir, ClassMap.load("coco-4"))
    if source is not None:
        for image in source.images:
            mask = coco.semantic_mask(image, source.lookup)
            assert mask.shape == (image.height, image.width)


@fixture_ok
@given(raw=st.binary(max_size=200))
def test_the_coco_loader_reads_any_bytes_safely(images_dir: Path, raw: bytes) -> None:
    path = images_dir.parent / "raw.json"
    path.write_bytes(raw)
    _accepts_or_refuses(coco.load, path, images_dir, ClassMap.load("coco-4"))


# -- TOML files: pipelines and devices.toml ------------------------------------------------


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return (
            "nan"
            if math.isnan(value)
            else ("inf" if value > 0 else "-inf")
            if math.isinf(value)
            else repr(value)
        )
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return "{ " + ", ".join(f"{json.dumps(k)} = {_toml_value(v)}" for k, v in value.items()) + " }"


def _toml(tables: dict[str, dict[str, Any]]) -> bytes:
    lines = []
    for table, fields in tables.items():
        lines.append(f"[{table}]")
        lines += [f"{json.dumps(k)} = {_toml_value(v)}" for k, v in fields.items() if v is not None]
    return "\n".join(lines).encode()


toml_values = st.recursive(
    st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats() | st.text(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)
PIPELINE_KEYS = {
    "dataset": ["source", "name", "size", "images", "seed", "val_fraction", "channels", "path"],
    "train": ["network", "epochs", "batch_size", "width", "learning_rate", "augment"],
    "convert": ["targets", "opset", "int8_io", "fidelity_images", "max_drop_int8", "ladder"],
    "bench": ["warmup_runs", "min_runs", "min_seconds", "threads", "batch_size"],
    "gates": ["min_miou", "max_drop"],
    "nonsense": ["x"],
}
pipelines = st.dictionaries(
    st.sampled_from(sorted(PIPELINE_KEYS)),
    st.dictionaries(
        st.sampled_from(sorted({k for keys in PIPELINE_KEYS.values() for k in keys})),
        toml_values,
        max_size=4,
    ),
    max_size=4,
)


@given(tables=pipelines)
def test_the_pipeline_parser_accepts_or_refuses_in_one_line(tables: dict) -> None:
    _accepts_or_refuses(parse_pipeline, _toml(tables), "fuzz.toml")


@given(raw=st.binary(max_size=200))
def test_the_pipeline_parser_reads_any_bytes_safely(raw: bytes) -> None:
    _accepts_or_refuses(parse_pipeline, raw, "fuzz.toml")


BOARD_FIELDS = ["host", "port", "user", "identity", "python", "workdir", "tags", "runtimes",
                "proxy_jump", "connect_timeout", "color"]  # fmt: skip
boards = st.dictionaries(
    st.sampled_from(["pi", "nx", "local", "a.b", "x y", "-"]).map(
        lambda n: f"boards.{json.dumps(n)}"
    ),
    st.dictionaries(st.sampled_from(BOARD_FIELDS), toml_values, max_size=5),
    max_size=3,
)


@given(tables=boards)
def test_devices_toml_accepts_or_refuses_in_one_line(tables: dict) -> None:
    _accepts_or_refuses(parse_inventory, _toml(tables), "devices.toml", Path("/nonexistent"))


@given(raw=st.binary(max_size=200))
def test_devices_toml_reads_any_bytes_safely(raw: bytes) -> None:
    _accepts_or_refuses(parse_inventory, raw, "devices.toml", Path("/nonexistent"))


# -- creds.json ----------------------------------------------------------------------------

CREDS_FIELDS = {
    "name": st.text(max_size=6),
    "type": st.sampled_from(["trainer", "minio", ""]),
    "address": st.sampled_from(["127.0.0.1:9000", "https://s3.lab", "<s3 url>", ""]),
    "access key": st.text(max_size=6),
    "secret key": st.text(max_size=6),
    "tls": st.booleans(),
    "cert_verify": st.booleans(),
    "cert verify": st.booleans(),
    "cert_path": st.sampled_from([None, "/etc/hostname", "/nonexistent"]),
    "sets": st.dictionaries(
        st.sampled_from(["dataset", "model", "test", "trainingset", "models"]),
        _maybe(
            st.fixed_dictionaries(
                {
                    "bucket": _maybe(st.text(max_size=6)),
                    "prefix": _maybe(st.text(max_size=4)),
                    "dataset_filter": _maybe(st.text(max_size=4)),
                }
            )
        ),
        max_size=4,
    ),
}
creds_entries = st.fixed_dictionaries({}, optional={k: _maybe(v) for k, v in CREDS_FIELDS.items()})


@fixture_ok
@given(
    doc=_maybe(st.fixed_dictionaries({"s3": _maybe(st.lists(creds_entries, max_size=2))})),
    name=st.sampled_from([None, "mllib-s3", ""]),
)
def test_creds_json_accepts_or_refuses_in_one_line(tmp_path: Path, doc: Any, name) -> None:
    path = tmp_path / "creds.json"
    path.write_text(json.dumps(doc, allow_nan=True))
    path.chmod(0o600)
    _accepts_or_refuses(load_creds, path, name)


# -- store indexes and the manifests they list ---------------------------------------------

SHA = "ab" * 32
VERSION = "0123456789abcdef"
file_maps = st.dictionaries(
    _maybe(
        st.sampled_from(["manifest.json", "train-00000.npz", "a/b", "../x", "/x", "a//b", "a"]),
        st.text(max_size=8),
    ),
    _maybe(st.sampled_from([SHA, "zz", "AB" * 32])),
    max_size=3,
)
dataset_indexes = st.fixed_dictionaries(
    {},
    optional={
        "name": _maybe(st.sampled_from(["d", "../d", "d\n"])),
        "version": _maybe(st.sampled_from([VERSION, "../..", "/tmp/x", "0" * 16])),
        "task": _maybe(st.sampled_from(["segmentation", "classification", "x"])),
        "files": _maybe(file_maps),
    },
)
metas = st.dictionaries(
    st.sampled_from(["precision", "input_size", "task", "fidelity", "fingerprint", "other"]),
    _maybe(st.sampled_from(["int8", "fp32", "../x"]), json_values),
    max_size=4,
)
artifact_indexes = st.fixed_dictionaries(
    {},
    optional={
        "sha256": _maybe(st.just(SHA)),
        "kind": _maybe(st.sampled_from(["tflite", "model", "../x", "keras"])),
        "name": _maybe(st.sampled_from(["model.tflite", "../m", "a/b"])),
        "directory": _maybe(st.booleans()),
        "meta": _maybe(metas),
        "files": _maybe(file_maps),
    },
)


@given(data=_maybe(dataset_indexes))
def test_dataset_indexes_are_read_or_refused_in_one_line(data: Any) -> None:
    _accepts_or_refuses(DatasetIndex.parse, data, "store: datasets/d/x.json", "d", VERSION)


@given(data=_maybe(artifact_indexes))
def test_artifact_indexes_are_read_or_refused_in_one_line(data: Any) -> None:
    _accepts_or_refuses(ArtifactIndex.parse, data, "store: artifacts/x.json", SHA)


shards = st.fixed_dictionaries(
    {},
    optional={
        "file": _maybe(st.sampled_from(["train-00000.npz", "../x.npz"])),
        "sha256": _maybe(st.just(SHA)),
        "content": _maybe(st.just(SHA)),
        "images": _maybe(st.integers(-1, 3)),
    },
)
manifests = st.fixed_dictionaries(
    {},
    optional={
        "name": _maybe(st.just("d")),
        "version": _maybe(st.just(VERSION)),
        "task": _maybe(st.just("segmentation")),
        "classes": _maybe(st.lists(st.text(max_size=4), max_size=3)),
        "ignore": _maybe(st.integers(-1, 300)),
        "image_size": _maybe(st.lists(st.integers(-1, 64), max_size=3)),
        "channels": _maybe(st.sampled_from([1, 3, 2])),
        "splits": _maybe(
            st.dictionaries(
                st.sampled_from(["train", "val", "x"]),
                _maybe(
                    st.fixed_dictionaries(
                        {"images": st.integers(0, 3), "shards": st.lists(shards, max_size=2)}
                    )
                ),
                max_size=3,
            )
        ),
    },
)


@given(manifest=_maybe(manifests))
def test_pulled_manifests_are_read_or_refused_in_one_line(manifest: Any) -> None:
    files = {"manifest.json": SHA, "train-00000.npz": SHA}
    _accepts_or_refuses(check_manifest, manifest, "d", VERSION, files, "store: manifest.json")

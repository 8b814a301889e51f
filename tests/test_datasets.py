"""Synthetic generation and import into the workspace: shards, manifest, versions, failures."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from backends.datasets import build
from backends.datasets.classmap import ClassMap
from backends.datasets.shards import split
from backends.errors import BadInput
from backends.workspace import Workspace


def _synth(ws: Workspace, **kw: object):
    events: list = []
    params = {"name": "d", "images": 12, "size": (64, 64), "seed": 3, "val_fraction": 0.25}
    return build.synth_dataset(ws, **{**params, **kw}, emit=events.append), events


def _source_splits(ws: Workspace) -> tuple[Path, dict[str, tuple[Path, Path]]]:
    """The generated COCO files of the (only) synthetic source, as import splits."""
    source = next((ws.root / "sources").iterdir())
    return source, {
        s: (source / "annotations" / f"instances_{s}.json", source / "images")
        for s in ("train", "val")
    }


def test_synth_dataset_shards_and_manifest(ws: Workspace) -> None:
    record, events = _synth(ws)
    root = ws.path(record.path)
    manifest = json.loads((root / "manifest.json").read_text())
    assert manifest["classes"] == ["void", "person", "vehicle", "animal"]
    assert manifest["splits"]["train"]["images"] == 9 and manifest["splits"]["val"]["images"] == 3
    train = split(root, "train")
    images, masks = train.read(0, verify=True)
    assert images.shape == (9, 64, 64, 3) and images.dtype == np.uint8
    assert masks.shape == (9, 64, 64) and masks.dtype == np.uint8
    pixels = manifest["splits"]["train"]["pixels"]
    assert sum(pixels) + manifest["splits"]["train"]["ignored"] == masks.size
    assert all(p > 0 for p in pixels)  # every class occurs
    assert events and events[-1].done == events[-1].total
    assert ws.catalog.dataset("d").version == record.version == manifest["version"]


def test_same_content_same_version_and_nothing_rebuilt(ws: Workspace, tmp_path: Path) -> None:
    first, _ = _synth(ws)
    again, _ = _synth(ws)
    assert again.version == first.version and again.id == first.id
    other = Workspace.open(tmp_path / "other")
    assert _synth(other)[0].version == first.version  # same data, same hash, any machine
    assert _synth(ws, seed=4)[0].version != first.version
    assert len(ws.catalog.datasets("d")) == 2


def test_training_shards_are_small_enough_to_stream(ws: Workspace, tmp_path: Path) -> None:
    _synth(ws)
    _, splits = _source_splits(ws)
    record = build.import_coco(
        ws,
        name="sharded",
        splits=splits,
        class_map=ClassMap.load(),
        size=(32, 32),
        emit=lambda e: None,
        shard_size=4,
    )
    train = split(ws.path(record.path), "train")
    assert [s["images"] for s in train.shards] == [4, 4, 1]
    assert sum(len(b[0]) for b in train.batches(3)) == 9
    assert sum(len(b[0]) for b in train.batches(3, limit=5)) == 5
    assert list(train.batches(3, limit=0)) == []
    # the next shard is read ahead on a thread: the batches are still the shards, in order
    whole = np.concatenate([train.read(i)[1] for i in range(3)])
    assert (np.concatenate([b[1] for b in train.batches(3)]) == whole).all()
    assert (np.concatenate([b[1] for b in train.batches(2, limit=7)]) == whole[:7]).all()


def test_a_failed_import_leaves_nothing_half_written(ws: Workspace) -> None:
    _synth(ws)
    source, splits = _source_splits(ws)
    victim = sorted((source / "images").iterdir())[5]
    victim.write_bytes(b"not a png")  # passes validation (the file exists), fails mid-import

    with pytest.raises(BadInput, match=f"{victim.name}: unreadable image"):
        build.import_coco(
            ws,
            name="broken",
            splits=splits,
            class_map=ClassMap.load(),
            size=(64, 64),
            emit=lambda e: None,
        )
    assert not (ws.root / "datasets" / "broken").exists()
    assert list((ws.root / "tmp").iterdir()) == []
    assert [j.state for j in ws.catalog.jobs("dataset")][-1] == "failed"


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"name": "../evil"}, "dataset name '../evil' is not allowed"),
        ({"images": 1}, "--images must be at least 2"),
        ({"val_fraction": 1.5}, "val fraction must be between 0 and 1"),
    ],
)
def test_bad_synth_parameters(ws: Workspace, kw: dict, message: str) -> None:
    with pytest.raises(BadInput, match=message):
        _synth(ws, **kw)


def test_unknown_dataset_reference_says_how_to_make_one(ws: Workspace) -> None:
    with pytest.raises(BadInput, match="dataset 'nope' is not in this workspace.*datasets synth"):
        ws.catalog.dataset("nope")


def test_evaluation_shards_are_readable_with_numpy_alone(ws: Workspace) -> None:
    record, _ = _synth(ws)
    code = (
        "import sys; from pathlib import Path\n"
        "from backends.datasets.shards import split\n"
        f"s = split(Path({str(ws.path(record.path))!r}), 'val')\n"
        "images, masks = s.read(0, verify=True)\n"
        "heavy = {'cv2', 'tensorflow', 'pycocotools', 'keras', 'onnxruntime'} & set(sys.modules)\n"
        "print(images.shape, masks.shape, sorted(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "(3, 64, 64, 3) (3, 64, 64) []"

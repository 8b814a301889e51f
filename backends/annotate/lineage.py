"""Which export a set of labelled images came back from, and a version's chain of custody.

Labelling tools rename files (Label Studio prefixes a hash, CVAT may add folders), so an image
is matched by its content first (the export recorded every image's sha256) and by its exported
name second. The chain runs captured -> exported -> labelled -> trained model.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from backends.annotate.writers import Vocabulary
from backends.catalog import ArtifactRecord, DatasetRecord
from backends.errors import BadInput
from backends.formats import EXPORT, KERAS_KIND
from backends.names import check_count, check_name, check_sha256, check_version
from backends.workspace import Workspace

TOOL_PREFIX = re.compile(r"^[0-9a-f]{8}-")  # Label Studio's upload prefix


@dataclass(frozen=True)
class Export:
    record: ArtifactRecord
    index: dict[str, Any]

    @property
    def vocabulary(self) -> Vocabulary:
        return Vocabulary(tuple(self.index["classes"]), int(self.index["ignore"]))

    @property
    def size(self) -> tuple[int, int]:
        height, width = self.index["size"]
        return int(height), int(width)


def exports(ws: Workspace) -> list[Export]:
    """Every export recorded in the workspace, each index checked against its hash and its
    fields checked (a record pulled from a store is outside input)."""
    found = []
    for record in ws.catalog.artifacts(EXPORT):
        try:
            index = json.loads(ws.verify(record).read_text())
            found.append(Export(record, _checked(index, f"export {record.id}")))
        except (BadInput, OSError, ValueError):
            continue  # a damaged record cannot vouch for anything
    return found


def _checked(index: Any, where: str) -> dict[str, Any]:
    """The index's fields that imports use: classes, ignore, size, each image's name (a plain
    file name: it is joined to directories), sha256 and split."""
    if not isinstance(index, dict) or not isinstance(index.get("images"), list):
        raise BadInput(f"{where}: not an export index")
    classes = index.get("classes")
    if not isinstance(classes, list) or not all(isinstance(c, str) and c for c in classes):
        raise BadInput(f"{where}: classes must be names")
    check_count(index.get("ignore"), f"{where}: ignore", len(classes), 255)
    if not isinstance(index.get("size"), list) or len(index["size"]) != 2:
        raise BadInput(f"{where}: size must be [height, width]")
    for side in index["size"]:
        check_count(side, f"{where}: size", 1, 1 << 14)
    for i, image in enumerate(index["images"]):
        at = f"{where}: images[{i}]"
        if not isinstance(image, dict) or image.get("split") not in (None, "train", "val"):
            raise BadInput(f"{at} must be an object with a split of train, val or null")
        check_name(image.get("file"), f"{at}.file")
        check_sha256(image.get("sha256"), f"{at}.sha256")
    dataset = index.get("dataset")
    if not isinstance(dataset, dict):
        raise BadInput(f"{where}: dataset must be an object")
    check_name(dataset.get("name"), f"{where}: dataset.name")
    check_version(dataset.get("version"), f"{where}: dataset.version")
    return index


@dataclass(frozen=True)
class Origin:
    """The export that ``files`` came back from; ``entries`` maps each matched file to its
    image in the export (its exported name, sha256 and split)."""

    export: Export
    entries: dict[Path, dict[str, Any]]

    def lineage(self, files: list[Path]) -> dict[str, Any]:
        """What a version made of ``files`` records of where its labels came from."""
        dataset = self.export.index["dataset"]
        return {
            "export": self.export.record.id,
            "of": f"{dataset['name']}@{dataset['version']}",
            "format": self.export.record.meta["format"],
            "matched": sum(file in self.entries for file in files),
            "images": len(files),
            "exported": self.export.record.meta["images"],
        }


def origin(ws: Workspace, files: Iterable[Path], near: Path | None = None) -> Origin | None:
    """The export most of ``files`` came from, or None when no export holds any of them.
    Exports of the same images tie; the one whose directory holds ``near`` (the labels file)
    wins, else the newest."""
    known = exports(ws)
    by_sha: dict[str, list[tuple[Export, dict[str, Any]]]] = defaultdict(list)
    by_name: dict[str, list[tuple[Export, dict[str, Any]]]] = defaultdict(list)
    for export in known:
        for image in export.index["images"]:
            by_sha[image["sha256"]].append((export, image))
            by_name[image["file"]].append((export, image))
    matched: dict[Path, list[tuple[Export, dict[str, Any]]]] = {}
    for file in files if known else ():
        try:
            sha = hashlib.sha256(file.read_bytes()).hexdigest()
        except OSError:
            continue  # a missing image is reported by the import, with its file and field
        name = TOOL_PREFIX.sub("", file.name)
        hits = by_sha.get(sha, [])  # the same image twice: its exported name tells them apart
        hits = [h for h in hits if h[1]["file"] == name] or hits or by_name.get(name, [])
        if hits:
            matched[file] = hits
    if not matched:
        return None
    votes = Counter(e.record.id for hits in matched.values() for e, _ in hits)
    inside = {e.record.id for e in known if near and _holds(e.record.meta["output"], near)}
    best = max(votes, key=lambda i: (votes[i], i in inside, i))
    chosen = next(e for e in known if e.record.id == best)
    entries = {f: image for f, hits in matched.items() for e, image in hits if e is chosen}
    return Origin(chosen, entries)


def _holds(directory: str, path: Path) -> bool:
    return Path(directory) in Path(path).absolute().parents


def chain(ws: Workspace, dataset: DatasetRecord) -> list[tuple[str, str]]:
    """(step, what) from the oldest ancestor of ``dataset`` to the exports of it and the models
    trained on it: captured -> exported -> labelled -> trained."""
    steps: list[tuple[str, str]] = []
    current, seen = dataset, set()
    while current.id not in seen:
        seen.add(current.id)
        labels = current.manifest.get("source", {}).get("labels") if current.labelled else None
        if not labels:
            steps.insert(0, ("imported" if current.labelled else "captured", _what(current)))
            break
        steps.insert(0, ("labelled", _what(current, labels)))
        steps.insert(0, ("exported", _export(ws, labels["export"])))
        try:
            current = ws.catalog.dataset(labels["of"])
        except BadInput:
            steps.insert(0, ("labelled", f"{labels['of']} (no longer in this workspace)"))
            break
    steps += [
        ("exported", _export(ws, record.id))
        for record in ws.catalog.artifacts(EXPORT)
        if record.dataset_id == dataset.id
    ]
    steps += [
        ("trained", f"{model.meta.get('network', 'model')} (artifact {model.id})")
        for model in ws.catalog.artifacts(KERAS_KIND)
        if model.dataset_id == dataset.id
    ]
    return steps


def _export(ws: Workspace, artifact_id: int) -> str:
    try:
        meta = ws.catalog.artifact(artifact_id).meta
    except BadInput:
        return f"export {artifact_id} (no longer recorded)"
    pre = f", pre-labelled by artifact {meta['prelabel']}" if meta.get("prelabel") else ""
    what = f"{meta['images']} images as {meta['format']}{pre}"
    return f"export {artifact_id}: {what} to {meta['output']}"


def _what(dataset: DatasetRecord, labels: dict[str, Any] | None = None) -> str:
    if not dataset.labelled:
        capture = dataset.manifest["capture"]
        return (
            f"{dataset.ref}: {dataset.manifest['images']} frames from board "
            f"{capture.get('board')}, camera {capture.get('camera')}"
        )
    images = sum(dataset.images.values())
    if labels:
        return (
            f"{dataset.ref}: {images} images, {labels['matched']} of the "
            f"{labels['exported']} exported"
        )
    return f"{dataset.ref}: {images} images"

"""A dataset manifest that arrived from outside (a store), checked before the catalog holds it.

The manifest names the shard files that training, evaluation and boards open, and its version is
the content hash the catalog keys the dataset by; so its fields are checked here and the version
is recomputed from the shards' content hashes: a manifest that lies about its content is refused.
"""

from __future__ import annotations

from typing import Any

from backends.datasets.shards import MANIFEST, dataset_version
from backends.errors import BadInput
from backends.names import check_count, check_relative, check_sha256
from backends.tasks import TASKS


def check_manifest(
    manifest: Any, name: str, version: str, files: dict[str, str], where: str
) -> dict[str, Any]:
    """``manifest`` of dataset ``name@version`` whose files (relative name -> sha256) are
    ``files``; returns it when every field holds, else one ``BadInput`` naming the field."""
    if not isinstance(manifest, dict):
        raise BadInput(f"{where}: not a JSON object")
    for key, expected in (("name", name), ("version", version)):
        if manifest.get(key) != expected:
            raise BadInput(f"{where}: field '{key}' is {manifest.get(key)!r}, not {expected!r}")
    task = manifest.get("task", "segmentation")
    if not isinstance(task, str) or task not in TASKS:
        raise BadInput(f"{where}: field 'task' {manifest.get('task')!r} is not a known task")
    classes = manifest.get("classes")
    if (
        not isinstance(classes, list)
        or not 1 <= len(classes) <= 255
        or not all(isinstance(c, str) and c for c in classes)
    ):
        raise BadInput(f"{where}: field 'classes' must be a list of 1 to 255 class names")
    ignore = manifest.get("ignore")
    if ignore is not None:
        check_count(ignore, f"{where}: field 'ignore'", len(classes), 255)
    size = manifest.get("image_size")
    if not isinstance(size, list) or len(size) != 2:
        raise BadInput(f"{where}: field 'image_size' must be [height, width]")
    for i, n in enumerate(size):
        check_count(n, f"{where}: field 'image_size[{i}]'", 1, 1 << 14)
    channels = manifest.get("channels", 3)
    if isinstance(channels, bool) or channels not in (1, 3):
        raise BadInput(f"{where}: field 'channels' must be 1 or 3")
    splits = manifest.get("splits")
    if not isinstance(splits, dict) or not {"train", "val"} <= set(splits):
        raise BadInput(f"{where}: field 'splits' must hold 'train' and 'val'")
    listed = {MANIFEST}
    shards_of = {}
    for split, entry in splits.items():
        at = f"{where}: splits.{split}"
        if not isinstance(entry, dict) or not isinstance(entry.get("shards"), list):
            raise BadInput(f"{at}.shards must be a list")
        for i, shard in enumerate(entry["shards"]):
            _shard(shard, files, f"{at}.shards[{i}]")
            listed.add(shard["file"])
        total = sum(s["images"] for s in entry["shards"])
        if entry.get("images") != total:
            raise BadInput(f"{at}.images is {entry.get('images')!r}; its shards hold {total}")
        shards_of[split] = entry["shards"]
    unlisted = sorted(set(files) - listed)
    if unlisted:
        raise BadInput(f"{where}: the index holds {unlisted[0]!r}, which no split lists")
    if dataset_version(classes, shards_of) != version:
        raise BadInput(
            f"{where}: the shards' content does not hash to version {version}: the dataset "
            "is not what its index says"
        )
    return manifest


def _shard(shard: Any, files: dict[str, str], where: str) -> None:
    if not isinstance(shard, dict):
        raise BadInput(f"{where} must be an object")
    file = check_relative(shard.get("file"), f"{where}.file")
    sha = check_sha256(shard.get("sha256"), f"{where}.sha256")
    check_sha256(shard.get("content"), f"{where}.content")
    check_count(shard.get("images"), f"{where}.images", 1, 1 << 20)
    if files.get(file) != sha:
        raise BadInput(f"{where}.file {file!r} is not in the index with sha256 {sha[:12]}…")

"""Index objects of a store, read as untrusted input.

A store may be a shared bucket that anyone with write access can fill, so every field of an index
is checked here, with the rules the command line uses, before any of it becomes a path, a slot or
a catalog row: names and versions (``backends.names``), kinds (the artifact kinds mllib writes),
precisions, file names (relative, inside their directory), sha256s and the metadata fields the
engine reads. A bad index is one ``BadInput`` naming the store key and the field; nothing has been
written or deleted by then.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from backends.errors import BadInput
from backends.formats import ARTIFACT_KINDS, PRECISIONS
from backends.names import (
    check_count,
    check_name,
    check_relative,
    check_sha256,
    check_version,
)
from backends.tasks import TASKS


@dataclass(frozen=True)
class DatasetIndex:
    """``datasets/NAME/VERSION.json``: a dataset version's files and their sha256."""

    name: str
    version: str
    task: str
    files: dict[str, str]  # relative file name -> sha256

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "task": self.task, "files": self.files}

    @classmethod
    def parse(cls, data: Any, where: str, name: str, version: str) -> DatasetIndex:
        """``name`` and ``version`` are those the key says; the index must agree with them."""
        fields = _object(data, where)
        index = cls(
            name=check_name(fields.get("name"), f"{where}: field 'name'"),
            version=check_version(fields.get("version"), f"{where}: field 'version'"),
            task=_choice(fields.get("task", "segmentation"), TASKS, f"{where}: field 'task'"),
            files=_files(fields.get("files"), where),
        )
        if (index.name, index.version) != (name, version):
            raise BadInput(
                f"{where}: field 'name'/'version' say {index.name}@{index.version} but the key "
                f"says {name}@{version}: the index is not trusted"
            )
        if "manifest.json" not in index.files:
            raise BadInput(f"{where}: field 'files' lacks manifest.json")
        return index


@dataclass(frozen=True)
class ArtifactIndex:
    """``artifacts/SHA256.json``: one artifact's kind, file name, metadata and files."""

    sha256: str
    kind: str
    name: str
    directory: bool
    meta: dict[str, Any]
    files: dict[str, str]

    def to_json(self) -> dict[str, Any]:
        return {
            "sha256": self.sha256,
            "kind": self.kind,
            "name": self.name,
            "directory": self.directory,
            "meta": self.meta,
            "files": self.files,
        }

    @classmethod
    def parse(cls, data: Any, where: str, sha256: str) -> ArtifactIndex:
        fields = _object(data, where)
        directory = fields.get("directory", False)
        if not isinstance(directory, bool):
            raise BadInput(f"{where}: field 'directory' must be true or false")
        index = cls(
            sha256=check_sha256(fields.get("sha256"), f"{where}: field 'sha256'"),
            kind=_choice(fields.get("kind"), ARTIFACT_KINDS, f"{where}: field 'kind'"),
            name=check_name(fields.get("name"), f"{where}: field 'name'"),
            directory=directory,
            meta=check_meta(fields.get("meta", {}), where),
            files=_files(fields.get("files"), where),
        )
        if index.sha256 != sha256:
            raise BadInput(
                f"{where}: field 'sha256' is {index.sha256[:12]}… but the key names "
                f"{sha256[:12]}…: the index is not trusted"
            )
        if not directory and list(index.files) != [index.name]:
            raise BadInput(f"{where}: field 'files' must hold exactly the file {index.name!r}")
        return index


def check_meta(meta: Any, where: str, field: str = "meta") -> dict[str, Any]:
    """Artifact metadata: JSON values, and the fields the engine reads have their types (the
    precision becomes a board slot, the input size a shape, the fidelity a table row)."""

    def at(name: str) -> str:
        return f"{where}: field '{field}.{name}'" if name else f"{where}: field '{field}'"

    if not isinstance(meta, dict) or not all(isinstance(k, str) for k in meta):
        raise BadInput(f"{at('')} must be an object")
    _json_value(meta, at(""))
    if "precision" in meta:
        _choice(meta["precision"], PRECISIONS, at("precision"))
    if "input_size" in meta:
        size = meta["input_size"]
        if not isinstance(size, list) or len(size) != 2:
            raise BadInput(f"{at('input_size')} must be [height, width]")
        for i, n in enumerate(size):
            check_count(n, at(f"input_size[{i}]"), 1, 1 << 16)
    if "task" in meta:
        _choice(meta["task"], TASKS, at("task"))
    if "fidelity" in meta:
        _fidelity(meta["fidelity"], at("fidelity"))
    if "fingerprint" in meta and not isinstance(meta["fingerprint"], dict):
        raise BadInput(f"{at('fingerprint')} must be an object")
    return meta


_FIDELITY: dict[str, type | tuple[type, ...]] = {
    "images": int,
    "max_abs_diff": (int, float, type(None)),  # None: measured on a board
    "argmax_agreement": (int, float),
    "metric": str,
    "reference": (int, float),
    "value": (int, float),
    "delta": (int, float),
    "delta_per_class": dict,
    "passed": bool,
    "gate": str,
}


def _fidelity(value: Any, where: str) -> None:
    if not isinstance(value, dict):
        raise BadInput(f"{where} must be an object")
    for key, kind in _FIDELITY.items():
        if key not in value:
            raise BadInput(f"{where} lacks '{key}' or it has the wrong type")
        field = value.get(key)
        wrong_bool = isinstance(field, bool) and kind is not bool
        if not isinstance(field, kind) or wrong_bool:
            raise BadInput(f"{where} lacks '{key}' or it has the wrong type")
    for cls, change in value["delta_per_class"].items():
        if change is not None and (not isinstance(change, int | float) or isinstance(change, bool)):
            raise BadInput(f"{where} has a per-class change for {cls!r} that is not a number")


def _object(data: Any, where: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise BadInput(f"{where}: the index is not a JSON object")
    return data


def _choice(value: Any, allowed: Any, where: str) -> str:
    if not isinstance(value, str) or value not in allowed:
        raise BadInput(f"{where} {value!r} is not one of {', '.join(sorted(allowed))}")
    return value


def _files(value: Any, where: str) -> dict[str, str]:
    if not isinstance(value, dict) or not value:
        raise BadInput(f"{where}: field 'files' must be an object of file name -> sha256")
    files = {
        check_relative(name, f"{where}: field 'files'"): check_sha256(
            sha, f"{where}: field 'files.{name}'"
        )
        for name, sha in value.items()
    }
    folders = {
        "/".join(name.split("/")[:i]) for name in files for i in range(1, name.count("/") + 1)
    }
    clash = sorted(folders & set(files))
    if clash:
        raise BadInput(f"{where}: field 'files' names {clash[0]!r} both as a file and a folder")
    return files


def _json_value(value: Any, where: str, depth: int = 0) -> None:
    """Plain JSON (no NaN or infinities, bounded nesting): safe to store and show."""
    if depth > 16:
        raise BadInput(f"{where} is nested too deeply")
    if isinstance(value, dict):
        for key, item in value.items():
            _json_value(item, f"{where}.{key}", depth + 1)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _json_value(item, f"{where}[{i}]", depth + 1)
    elif isinstance(value, float) and not math.isfinite(value):
        raise BadInput(f"{where} is not a finite number")
    elif value is not None and not isinstance(value, str | int | float | bool):
        raise BadInput(f"{where} is not a JSON value")

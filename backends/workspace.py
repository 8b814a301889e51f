"""The workspace: a directory of artifacts plus the SQLite catalog that describes them.

Layout::

    <root>/catalog.sqlite     the catalog (WAL)
    <root>/artifacts/KIND/SHA12/NAME   artifacts, content-addressed, never modified
    <root>/datasets/NAME/VERSION/      dataset shards and manifest
    <root>/sources/           generated source data (synthetic COCO)
    <root>/checkpoints/JOB/   per-epoch training checkpoints
    <root>/reports/RUN/       results.json, results.md, ...
    <root>/tmp/               work in progress; renamed into place when complete

Every artifact is produced under ``tmp/``, hashed, fsynced and then renamed into place, so a
process killed at any point leaves no half artifact where a reader would look.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from backends.catalog import ArtifactRecord, Catalog
from backends.errors import BadInput, Cancelled, Interrupted

DEFAULT_WORKSPACE = "mllib-workspace"
WORKSPACE_ENV = "MLLIB_WORKSPACE"
_SUBDIRS = ("artifacts", "datasets", "sources", "checkpoints", "reports", "tmp", "locks")


def default_root(explicit: str | os.PathLike[str] | None = None) -> Path:
    """``--workspace`` if given, else ``$MLLIB_WORKSPACE``, else ``./mllib-workspace``."""
    return Path(explicit or os.environ.get(WORKSPACE_ENV) or DEFAULT_WORKSPACE)


@dataclass
class Workspace:
    root: Path
    catalog: Catalog

    @classmethod
    def open(cls, root: str | os.PathLike[str] | None = None) -> Workspace:
        path = default_root(root).absolute()
        try:
            for sub in _SUBDIRS:
                (path / sub).mkdir(parents=True, exist_ok=True)
            probe = path / "tmp" / f".probe-{os.getpid()}"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as exc:
            raise BadInput(
                f"workspace {path} is not writable ({exc.strerror or exc}); pick another "
                f"with --workspace or {WORKSPACE_ENV}"
            ) from None
        workspace = cls(path, Catalog(path / "catalog.sqlite", path / "locks"))
        workspace._remove_stale_temporaries()
        return workspace

    def path(self, relative: str) -> Path:
        return self.root / relative

    def relative(self, path: Path) -> str:
        return path.absolute().relative_to(self.root).as_posix()

    def temporary(self, name: str) -> Path:
        """A fresh path under ``tmp/``, tagged with our PID so a later start can clean it up."""
        return self.root / "tmp" / f"{os.getpid()}-{uuid.uuid4().hex[:8]}-{name}"

    def write_artifact(
        self,
        *,
        kind: str,
        name: str,
        write: Callable[[Path], None],
        parent_id: int | None = None,
        job_id: int | None = None,
        dataset_id: int | None = None,
        meta: dict[str, Any] | None = None,
    ) -> ArtifactRecord:
        """Run ``write(tmp_path)`` (a file or a directory), hash it, and move it into place."""
        tmp = self.temporary(name)
        try:
            write(tmp)
            if not tmp.exists():
                raise FileNotFoundError(f"the writer for {name} produced nothing")
            digest, size = hash_path(tmp, fsync=True)
            final = self.root / "artifacts" / kind / digest[:12] / name
            if final.exists() and hash_path(final)[0] == digest:
                _remove(tmp)  # identical content is already in place
            else:
                final.parent.mkdir(parents=True, exist_ok=True)
                if final.exists():
                    _remove(final)  # a damaged copy: replace it
                os.replace(tmp, final)
                _fsync_dir(final.parent)
        except BaseException:
            _remove(tmp)
            raise
        return self.catalog.add_artifact(
            kind=kind,
            path=self.relative(final),
            sha256=digest,
            size=size,
            parent_id=parent_id,
            job_id=job_id,
            dataset_id=dataset_id,
            meta=meta,
        )

    def import_file(self, path: Path, kind: str, meta: dict[str, Any]) -> ArtifactRecord:
        """Bring a model file from outside into the workspace (hashed copy, no parent)."""
        if not path.is_file():
            raise BadInput(f"{path}: no such model file")
        return self.write_artifact(
            kind=kind,
            name=path.name,
            write=lambda tmp: shutil.copyfile(path, tmp),
            meta={**meta, "imported_from": str(path.absolute())},
        )

    def verify(self, artifact: ArtifactRecord) -> Path:
        """The artifact's path after checking its hash; a mismatch is an error naming the file."""
        path = self.path(artifact.path)
        if not path.exists():
            raise BadInput(f"{path}: artifact {artifact.id} is missing from the workspace")
        digest, _ = hash_path(path)
        if digest != artifact.sha256:
            raise BadInput(
                f"{path}: content does not match the catalog's sha256 (artifact {artifact.id}); "
                "it was modified or damaged: delete it and rebuild"
            )
        return path

    @contextlib.contextmanager
    def job(self, kind: str, key: str, params: dict[str, Any]) -> Iterator[int]:
        """A catalog job around a block: done, failed (with the error) or interrupted."""
        job_id = self.catalog.start_job(kind, key, params)
        try:
            yield job_id
        except (KeyboardInterrupt, Cancelled, Interrupted) as exc:
            self.catalog.finish_job(job_id, "interrupted", str(exc) or type(exc).__name__)
            raise
        except BaseException as exc:
            self.catalog.finish_job(job_id, "failed", str(exc) or type(exc).__name__)
            raise
        self.catalog.finish_job(job_id, "done")

    def _remove_stale_temporaries(self) -> None:
        for entry in (self.root / "tmp").iterdir():
            pid = entry.name.split("-", 1)[0]
            if pid.isdigit() and not _alive(int(pid)):
                _remove(entry)


def hash_path(path: Path, *, fsync: bool = False) -> tuple[str, int]:
    """sha256 and size of a file, or of a directory tree (relative names and contents)."""
    if path.is_file():
        return _hash_file(path, fsync)
    tree = hashlib.sha256()
    total = 0
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        digest, size = _hash_file(file, fsync)
        tree.update(f"{file.relative_to(path).as_posix()}\0{digest}\n".encode())
        total += size
    return tree.hexdigest(), total


def _hash_file(path: Path, fsync: bool) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
        if fsync:
            os.fsync(handle.fileno())
    return digest.hexdigest(), size


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True

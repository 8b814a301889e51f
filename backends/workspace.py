"""The workspace: a directory of artifacts plus the SQLite catalog that describes them.

Layout::

    <root>/catalog.sqlite     the catalog (WAL)
    <root>/artifacts/KIND/SHA12/NAME   artifacts, content-addressed, never modified
    <root>/datasets/NAME/VERSION/      dataset shards and manifest (a capture: its manifest)
    <root>/frames/AB/SHA256.jpg        camera frames, content-addressed (backends/acquire)
    <root>/sources/           generated source data (synthetic COCO)
    <root>/checkpoints/JOB/   per-epoch training checkpoints
    <root>/reports/RUN/       results.json, results.md, ...
    <root>/tmp/               work in progress; renamed into place when complete

Every artifact is produced under ``tmp/``, hashed, fsynced and then renamed into place, so a
process killed at any point leaves no half artifact where a reader would look.

Temporaries are named after their process's *owner lock* (``locks/owner-TOKEN.lock``, held with
``flock`` while the process lives), not its PID: a later start removes a temporary only when it
can take that lock, so a process in another PID namespace (a container sharing the workspace)
never has its live work deleted, and a reused PID never protects a dead one's leftovers.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import secrets
import shutil
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from backends.catalog import ArtifactRecord, Catalog
from backends.durable import fsync
from backends.errors import BadInput, Cancelled, Interrupted
from backends.formats import ARTIFACT_KINDS
from backends.names import check_name

DEFAULT_WORKSPACE = "mllib-workspace"
WORKSPACE_ENV = "MLLIB_WORKSPACE"
_SUBDIRS = ("artifacts", "datasets", "sources", "checkpoints", "reports", "tmp", "locks")
_OWNERS: dict[Path, str] = {}  # workspace locks/ -> this process's owner token (lock held)


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
        """A fresh path under ``tmp/``, tagged with this process's owner lock so a later start
        can tell live work from a dead process's leftovers."""
        token = _owner(self.root / "locks")
        return self.root / "tmp" / f"{token}-{uuid.uuid4().hex[:8]}-{name}"

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
        expect: str | None = None,
    ) -> ArtifactRecord:
        """Run ``write(tmp_path)`` (a file or a directory), hash it, and move it into place;
        with ``expect``, bytes of another sha256 are refused before anything is recorded."""
        if kind not in ARTIFACT_KINDS:
            raise BadInput(f"artifact kind {kind!r} is not one of {', '.join(ARTIFACT_KINDS)}")
        check_name(name, "artifact file name")
        tmp = self.temporary(name)
        try:
            write(tmp)
            if not tmp.exists():
                raise FileNotFoundError(f"the writer for {name} produced nothing")
            digest, size = hash_path(tmp, durable=True)
            if expect is not None and digest != expect:
                raise BadInput(
                    f"artifact {name} arrived as sha256 {digest[:12]}…, expected {expect[:12]}…: "
                    "damaged; nothing was kept"
                )
            final = self.root / "artifacts" / kind / digest[:12] / name
            if final.exists() and hash_path(final)[0] == digest:
                _remove(tmp)  # identical content is already in place
            else:
                final.parent.mkdir(parents=True, exist_ok=True)
                if final.exists():
                    _remove(final)  # a damaged copy: replace it
                os.replace(tmp, final)
                fsync(final.parent)
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

    def import_file(
        self, path: Path, kind: str, meta: dict[str, Any], dataset_id: int | None = None
    ) -> ArtifactRecord:
        """Bring a model file from outside into the workspace (hashed copy, no parent); its
        content is checked by ``backends.model_files``, which calls this."""
        if not path.is_file():
            raise BadInput(f"{path}: no such model file")
        digest, _ = hash_path(path)
        for known in self.catalog.artifacts(kind):
            if known.sha256 == digest:
                return known  # these bytes are an artifact already: keep its lineage and meta
        return self.write_artifact(
            kind=kind,
            name=path.name,
            write=lambda tmp: shutil.copyfile(path, tmp),
            dataset_id=dataset_id,
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

    def place(self, tmp: Path, final: Path) -> None:
        """Move a finished directory from ``tmp/`` into place in one rename, durably; one that
        is there already (a run written again) is moved aside first, then removed."""
        final.parent.mkdir(parents=True, exist_ok=True)
        fsync(tmp)
        if final.exists():
            old = self.temporary(f"old-{final.name}")
            os.replace(final, old)
            os.replace(tmp, final)
            _remove(old)
        else:
            os.replace(tmp, final)
        fsync(final.parent)

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
        """Remove what dead processes left in ``tmp/``: the entries of every owner whose lock
        can be taken (its process is gone), and entries of no owner at all."""
        locks = self.root / "locks"
        mine = _owner(locks)
        live = {mine}
        for lock in locks.glob("owner-*.lock"):
            token = lock.name.removeprefix("owner-").removesuffix(".lock")
            if token == mine or not _take(lock):
                live.add(token)
        for entry in (self.root / "tmp").iterdir():
            if entry.name.split("-", 1)[0] not in live:
                _remove(entry)  # its owner is dead, or it has none
        for lock in locks.glob("owner-*.lock"):
            if lock.name.removeprefix("owner-").removesuffix(".lock") not in live:
                lock.unlink(missing_ok=True)
        for fresh in locks.glob("new-owner-*"):  # a process killed while it took its lock
            if _take(fresh):
                fresh.unlink(missing_ok=True)


def hash_path(path: Path, *, durable: bool = False) -> tuple[str, int]:
    """sha256 and size of a file, or of a directory tree (relative names and contents); with
    ``durable``, each file is fsynced as it is read."""
    if path.is_file():
        return _hash_file(path, durable)
    tree = hashlib.sha256()
    total = 0
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        digest, size = _hash_file(file, durable)
        tree.update(f"{file.relative_to(path).as_posix()}\0{digest}\n".encode())
        total += size
    return tree.hexdigest(), total


def _hash_file(path: Path, durable: bool) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
        if durable:
            os.fsync(handle.fileno())
    return digest.hexdigest(), size


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _owner(locks: Path) -> str:
    """This process's owner token in ``locks``; its lock file is created and held on first use
    and stays held until the process exits (the kernel drops it however the process ends)."""
    locks = locks.absolute()
    token = _OWNERS.get(locks)
    while token is None or not (locks / f"owner-{token}.lock").exists():  # new, or remade
        token = secrets.token_hex(6)
        # Locked under a name no cleaner reads as an owner, then renamed, so an owner lock is
        # never seen unlocked; a cleaner that took the fresh file in the instant before the
        # lock (a process killed there leaves one) removes it, and we draw another token.
        fresh = locks / f"new-owner-{token}"
        fd = os.open(fresh, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
        fcntl.flock(fd, fcntl.LOCK_EX)  # never closed: held for the life of the process
        try:
            os.rename(fresh, locks / f"owner-{token}.lock")
        except FileNotFoundError:
            os.close(fd)
            token = None
            continue
        _OWNERS[locks] = token
    return token


def _take(lock: Path) -> bool:
    """True when ``lock`` is held by nobody (its owner is dead); the lock is not kept."""
    try:
        fd = os.open(lock, os.O_RDWR)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(fd)
    return True

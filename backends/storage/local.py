"""The embedded default: a directory laid out like a bucket (``ROOT/BUCKET/KEY``), with each
object's sha256 in a sidecar ``ROOT/BUCKET/.meta/KEY.json``. Writes are atomic renames."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from backends.errors import BadInput
from backends.storage import Progress, parse_json
from backends.storage.creds import Target
from backends.storage.transfer import CHUNK, VerifiedFile


class LocalStore:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.label = str(self.root)

    @contextlib.asynccontextmanager
    async def connected(self) -> AsyncIterator[None]:
        yield  # nothing to connect

    async def put(
        self, target: Target, key: str, path: Path, sha256: str, progress: Progress | None = None
    ) -> bool:
        if (await self.head(target, key) or {}).get("sha256") == sha256:
            return False
        with (
            open(path, "rb") as source,
            VerifiedFile(self._path(target, key), sha256, str(path)) as out,
        ):
            while chunk := source.read(CHUNK):
                out.write(chunk, progress)
        self._write(self._meta(target, key), json.dumps({"sha256": sha256}).encode())
        return True

    async def get(
        self, target: Target, key: str, dest: Path, sha256: str, progress: Progress | None = None
    ) -> None:
        path = self._path(target, key)
        if not path.is_file():
            raise BadInput(f"{self.label}: no object {target.bucket}/{key}")
        where = f"{self.label}/{target.bucket}/{key}"
        with open(path, "rb") as source, VerifiedFile(dest, sha256, where) as out:
            while chunk := source.read(CHUNK):
                out.write(chunk, progress)

    async def head(self, target: Target, key: str) -> dict[str, Any] | None:
        path, meta = self._path(target, key), self._meta(target, key)
        if not path.is_file() or not meta.is_file():
            return None
        sidecar = parse_json(meta.read_bytes(), f"{self.label}/{target.bucket}/.meta/{key}.json")
        sha = sidecar.get("sha256") if isinstance(sidecar, dict) else None
        return {"sha256": sha if isinstance(sha, str) else None, "size": path.stat().st_size}

    async def put_json(self, target: Target, key: str, data: Any) -> None:
        self._write(self._path(target, key), json.dumps(data, indent=1).encode())

    async def get_json(self, target: Target, key: str) -> Any | None:
        path = self._path(target, key)
        if not path.is_file():
            return None
        return parse_json(path.read_bytes(), f"{self.label}/{target.bucket}/{key}")

    async def keys(self, target: Target, prefix: str) -> list[str]:
        bucket = self.root / target.bucket
        if not bucket.is_dir():
            return []
        found = (
            p.relative_to(bucket).as_posix()
            for p in bucket.rglob("*")
            if p.is_file() and ".meta" not in p.relative_to(bucket).parts
        )
        return sorted(k for k in found if k.startswith(prefix) and ".tmp-" not in k)

    async def presign(self, target: Target, key: str, seconds: int) -> str:
        raise BadInput(
            f"{self.label} is a local store: boards cannot fetch from it by URL; deploy over "
            "SFTP (without --via-storage) or configure S3 (--creds)"
        )

    def _path(self, target: Target, key: str) -> Path:
        path = (self.root / target.bucket / key).resolve()
        if not path.is_relative_to(self.root.resolve()):
            raise BadInput(f"object key {key!r} leaves the store")
        return path

    def _meta(self, target: Target, key: str) -> Path:
        return self._path(target, f".meta/{key}.json")

    @staticmethod
    def _write(path: Path, data: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".tmp-{os.getpid()}-{path.name}")
        tmp.write_bytes(data)
        os.replace(tmp, path)

"""Object storage for datasets, models and results: a local directory (the default) or S3.

Both stores speak the same small interface (:class:`Store`); what goes where is decided by
``backends/storage/sync.py``. Blobs are content-addressed (``PREFIX/blobs/SHA256``) with the
sha256 also stored as object metadata and checked on every download; a download is written to a
temporary name and kept only when its hash matches.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from backends.errors import BadInput
from backends.storage.creds import Target

Progress = Callable[[int], None]  # bytes moved since the last call


class Store(Protocol):
    label: str  # for messages: the directory or the endpoint URL, never a credential

    def connected(self) -> contextlib.AbstractAsyncContextManager[None]:
        """Share one connection for every operation inside the block."""

    async def put(
        self, target: Target, key: str, path: Path, sha256: str, progress: Progress | None = None
    ) -> bool:
        """Upload ``path`` as ``key`` unless an object with that sha256 is there; True if sent."""

    async def get(
        self, target: Target, key: str, dest: Path, sha256: str, progress: Progress | None = None
    ) -> None:
        """Download ``key`` to ``dest`` (atomically), refusing bytes whose sha256 differs."""

    async def head(self, target: Target, key: str) -> dict[str, Any] | None:
        """``{"sha256", "size"}`` of an object, None when absent."""

    async def put_json(self, target: Target, key: str, data: Any) -> None: ...

    async def get_json(self, target: Target, key: str) -> Any | None: ...

    async def keys(self, target: Target, prefix: str) -> list[str]:
        """Keys under ``prefix``, sorted."""

    async def presign(self, target: Target, key: str, seconds: int) -> str:
        """A URL that lets a board without credentials GET ``key`` for ``seconds``."""


LOCAL_BUCKET = "mllib"


def parse_json(raw: bytes, where: str) -> Any:
    """An object's bytes as JSON; anything else is one ``BadInput`` naming the object."""
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise BadInput(f"{where}: not valid JSON: the object is damaged or not mllib's") from None


def target_of(targets: dict[str, Target], name: str) -> Target:
    """The store's set ``name`` (``dataset``, ``model``, ``test``)."""
    if name not in targets:
        raise BadInput(f"the storage has no {name!r} set: add sets.{name} to its creds.json entry")
    return targets[name]


def configure(
    *,
    creds: Path | None,
    entry: str | None,
    local: Path,
    profile: str | None = None,
    endpoint: str | None = None,
    bucket: str | None = None,
    create_buckets: bool = False,
) -> tuple[Store, dict[str, Target], tuple[str, ...]]:
    """(store, set -> target, warnings to show on every run) from the command line's choice:
    a creds.json entry; else the AWS settings (a profile, an endpoint, a bucket); else the local
    directory ``local``."""
    from backends.storage.creds import SETS, from_environment, load_creds

    if creds is not None:
        chosen = load_creds(creds, entry)
    elif profile or endpoint or bucket:
        if bucket is None:
            raise BadInput("--bucket is needed with --profile or --endpoint (no creds.json)")
        sets = {s: Target(bucket, f"{s}/") for s in SETS}
        chosen = from_environment(profile, endpoint, sets)
    else:
        from backends.storage.local import LocalStore

        return LocalStore(local), {s: Target(LOCAL_BUCKET, f"{s}/") for s in SETS}, ()
    from backends.storage.s3 import S3Store

    return S3Store(chosen, create_buckets=create_buckets), chosen.sets, chosen.warnings

"""Writing downloaded bytes safely: hashed as they arrive, kept only when the hash matches."""

from __future__ import annotations

import hashlib
import os
import secrets
from pathlib import Path
from types import TracebackType

from backends.durable import fsync
from backends.errors import BadInput
from backends.storage import Progress

CHUNK = 1 << 20


class VerifiedFile:
    """``with VerifiedFile(dest, sha256, where) as out: out.write(chunk)``: the bytes go to a
    temporary name beside ``dest`` and are renamed into place only if their sha256 is the
    expected one; otherwise (or on any error) the temporary file is removed."""

    def __init__(self, dest: Path, sha256: str, where: str) -> None:
        self.dest, self.sha256, self.where = Path(dest), sha256, where
        self.dest.parent.mkdir(parents=True, exist_ok=True)
        self.tmp = self.dest.with_name(f".tmp-{secrets.token_hex(4)}-{self.dest.name}")
        self._digest = hashlib.sha256()
        self._handle = open(self.tmp, "wb")  # noqa: SIM115 (closed in __exit__)

    def __enter__(self) -> VerifiedFile:
        return self

    def write(self, chunk: bytes, progress: Progress | None = None) -> None:
        self._handle.write(chunk)
        self._digest.update(chunk)
        if progress is not None:
            progress(len(chunk))

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if kind is None:
                self._handle.flush()
                os.fsync(self._handle.fileno())  # durable before its name says it is complete
        finally:
            self._handle.close()
        if kind is not None:
            self.tmp.unlink(missing_ok=True)
            return
        actual = self._digest.hexdigest()
        if actual != self.sha256:
            self.tmp.unlink(missing_ok=True)
            raise BadInput(
                f"{self.where}: the bytes have sha256 {actual[:12]}…, expected "
                f"{self.sha256[:12]}…: the object is damaged; nothing was kept"
            )
        os.replace(self.tmp, self.dest)
        fsync(self.dest.parent)

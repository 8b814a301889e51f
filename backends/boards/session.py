"""Work on one board through its transport: the agent, uploads, deploys, probes, benchmarks.

Board layout (under the board's workdir)::

    agent/mllib-agent-HASH.pyz     the agent, one file per version
    store/SHA256/NAME              content-addressed blobs: models, shards, split manifests
    deployed/SLOT/current          -> ../../store/SHA256 (a symlink, flipped atomically)
    deployed/SLOT/previous         the version before, for --rollback

An upload goes to a temporary directory; the board's agent hashes it as it arrives, fsyncs it,
renames it into the store and (for a deploy) flips ``current``, fsyncing each rename, so an
interrupted deploy, or a power cut, leaves the previous model in place and working.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import posixpath
import secrets
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from backends import events as ev
from backends.bench.protocol import Protocol
from backends.bench.stage import BenchStep
from backends.boards.bundle import build
from backends.boards.inventory import Board
from backends.boards.transport import ByteProgress, Transport
from backends.errors import BadInput, StageFailed
from backends.names import check_name, check_relative

Signer = Callable[[], Awaitable[str]]  # makes a fresh presigned URL
PayloadHandler = Callable[[Any, bytes], None]  # (a Frame or Prediction event, its payload)
MAX_FRAME = 64 << 20  # bytes: a larger JPEG from a board is refused, not allocated


class BoardSession:
    def __init__(self, transport: Transport) -> None:
        self.transport = transport
        self.board: Board = transport.board
        self._agent: str | None = None

    def path(self, *parts: str) -> str:
        """A path inside the board's workdir; every part is checked, so nothing built from a
        name (a slot, a file name, a hash) can leave it."""
        for part in parts:
            check_relative(part, f"board {self.board.name}: path part")
        return posixpath.join(self.board.workdir, *parts)

    # -- the agent --------------------------------------------------------------------------

    async def agent(self) -> str:
        """The agent's path on the board, uploaded once per version."""
        if self._agent is None:
            name, data = build()
            path = self.path("agent", name)
            if not await self.transport.exists(path):
                with tempfile.TemporaryDirectory() as tmp:
                    local = Path(tmp) / name
                    local.write_bytes(data)
                    tmp_path = self.path("agent", f".{name}.{secrets.token_hex(4)}")
                    await self.transport.makedirs(self.path("agent"))
                    await self.transport.put(local, tmp_path)
                    await self.transport.rename(tmp_path, path)
            self._agent = path
        return self._agent

    async def run_agent(
        self,
        request: dict[str, Any],
        on_event: Callable[[ev.Event], None],
        until: asyncio.Event | None = None,
        on_payload: PayloadHandler | None = None,
    ) -> None:
        """Send the agent one request (JSON on its stdin: never a command line to rebuild, and
        nothing in it shows in ``ps``); its events go to ``on_event``, and those followed by a
        binary payload (camera frames, served predictions) to ``on_payload`` with their bytes;
        failures are one line. A long
        command runs ``until`` the event is set (then stdin closes and it stops)."""
        agent = await self.agent()
        errors: list[str] = []
        pending: list[Any] = []  # the event whose payload comes next

        def on_line(line: str) -> int | None:
            try:
                event = ev.decode(line)
            except (ValueError, TypeError):
                return None  # a stray print from a runtime library
            event = dataclasses.replace(event, board=self.board.name)
            if isinstance(event, ev.PAYLOADS):
                if not isinstance(event.size, int) or not 0 < event.size <= MAX_FRAME:
                    raise StageFailed(
                        f"board {self.board.name}: a frame of {event.size!r} bytes is not a "
                        f"camera frame (at most {MAX_FRAME >> 20} MiB)"
                    )
                pending[:] = [event]
                return event.size
            if isinstance(event, ev.Error):
                errors.append(event.message)
            on_event(event)
            return None

        def payload(data: bytes) -> None:
            if on_payload is not None:
                on_payload(pending.pop(), data)

        status, stderr = await self.transport.run(
            [self.board.python, agent],
            on_line,
            stdin=json.dumps(request) + "\n",
            until=until,
            on_payload=payload,
        )
        if status == 0:
            return
        where = f"board {self.board.name}"
        if status in (126, 127) and not errors:
            raise BadInput(
                f"{where}: python {self.board.python!r} was not found or cannot be run "
                f"({stderr.strip()[-120:]}); set 'python' in devices.toml to the board's "
                "Python 3.8+ interpreter"
            )

        reason = errors[-1] if errors else (stderr.strip().splitlines() or ["no output"])[-1]
        if status == 2:
            raise BadInput(f"{where}: {reason}")
        raise StageFailed(f"{where}: agent exited with {status}: {reason}")

    async def result(
        self, request: dict[str, Any], emit: Callable[[ev.Event], None] | None = None
    ) -> Any:
        """The data of the request's ``Result`` event; its other events go to ``emit``."""
        found: list[Any] = []

        def on_event(event: ev.Event) -> None:
            if isinstance(event, ev.Result):
                found.append(event.data)
            elif emit is not None:
                emit(event)

        await self.run_agent(request, on_event)
        if not found:
            raise StageFailed(f"board {self.board.name}: the agent returned no result")
        return found[-1]

    # -- files ------------------------------------------------------------------------------

    async def upload(
        self,
        local: Path,
        sha256: str,
        progress: ByteProgress | None = None,
        name: str | None = None,
        sign: Signer | None = None,
    ) -> str:
        """Put ``local`` into the board's store (skipped when already there), hash-checked by
        the board; with ``sign`` (it makes a presigned URL, just before it is used) the board
        fetches the bytes itself instead of SFTP. Returns the file's path on the board."""
        name = name or local.name
        final = self.path("store", sha256, name)
        if not await self.transport.exists(final):
            await self._receive(local, sha256, name, progress, sign, slot=None)
        return final

    async def _receive(
        self,
        local: Path,
        sha256: str,
        name: str,
        progress: ByteProgress | None,
        sign: Signer | None,
        slot: str | None,
    ) -> bool:
        """The agent takes the bytes into the store (and, with ``slot``, makes them that slot's
        current model) in one durable step; True when the slot switched."""
        check_name(name, f"board {self.board.name}: file name")
        tmp_dir = self.path("store", f".tmp-{sha256[:16]}-{secrets.token_hex(4)}")
        tmp = posixpath.join(tmp_dir, name)
        request: dict[str, Any] = {
            "command": "receive",
            "path": tmp,
            "sha256": sha256,
            "store": self.path("store", sha256),
            "slot": self.path("deployed", slot) if slot is not None else None,
        }
        await self.transport.makedirs(tmp_dir)
        await self.agent()
        try:
            if sign is not None:
                result = await self.result({**request, "url": await sign()})
            else:
                result = await self._put_received(local, tmp, request, progress)
        finally:
            if await self.transport.exists(tmp_dir):
                await self.transport.remove(tmp_dir)
        if result.get("sha256") != sha256:
            raise StageFailed(f"board {self.board.name}: {name} was not received intact")
        return bool(result.get("switched"))

    async def _put_received(
        self, local: Path, tmp: str, request: dict[str, Any], progress: ByteProgress | None
    ) -> dict[str, Any]:
        """SFTP ``local`` to ``tmp`` while the board's agent follows the file as it arrives
        (hashing in one pass, not two) and then installs it."""
        receiving = asyncio.ensure_future(self.result({**request, "size": local.stat().st_size}))
        try:
            await self.transport.put(local, tmp, progress)
        except BaseException:
            receiving.cancel()
            with contextlib.suppress(BaseException):
                await receiving
            raise
        return await receiving

    async def deploy(
        self,
        local: Path,
        sha256: str,
        slot: str,
        progress: ByteProgress | None = None,
        sign: Signer | None = None,
    ) -> bool:
        """Make ``local`` the slot's current model; False when it already was (nothing done)."""
        check_name(slot, f"board {self.board.name}: slot")
        slot_dir = self.path("deployed", slot)
        target = posixpath.join("..", "..", "store", sha256)
        current = await self.transport.readlink(posixpath.join(slot_dir, "current"))
        if current == target and await self.transport.exists(
            self.path("store", sha256, local.name)
        ):
            return False
        return await self._receive(local, sha256, local.name, progress, sign, slot)

    async def rollback(self, slot: str) -> str:
        """Swap current and previous; returns the sha256 now current."""
        check_name(slot, f"board {self.board.name}: slot")
        result = await self.result({"command": "rollback", "slot": self.path("deployed", slot)})
        return posixpath.basename(str(result["current"]))

    # -- probe and bench --------------------------------------------------------------------

    async def probe(self) -> dict[str, Any]:
        await self.transport.makedirs(self.board.workdir)
        return await self.result({"command": "probe", "workdir": self.board.workdir})

    async def bench(
        self,
        model: Path,
        model_sha: str,
        runtime: str,
        split_root: Path,
        split: dict[str, Any],
        step: BenchStep,
        emit: Callable[[ev.Event], None],
        options: dict[str, Any],
    ) -> dict[str, Any]:
        """The benchmark protocol on the board, on the same shards as a local run, with the
        runtime's ``options`` (a TensorRT engine's fingerprint, checked before loading)."""
        if self.board.runtimes and runtime not in self.board.runtimes:
            raise BadInput(
                f"board {self.board.name} does not allow runtime {runtime!r} "
                f"(devices.toml runtimes: {', '.join(self.board.runtimes)})"
            )
        remote_model = await self.upload(model, model_sha)
        shards = []
        for shard in split["shards"]:
            await self.upload(split_root / shard["file"], shard["sha256"])
            shards.append({**shard, "file": f"../{shard['sha256']}/{shard['file']}"})
        manifest = json.dumps(
            {k: split.get(k) for k in ("classes", "ignore", "image_size", "task")}
            | {"shards": shards},
            sort_keys=True,
        ).encode()
        import hashlib

        manifest_sha = hashlib.sha256(manifest).hexdigest()
        with tempfile.TemporaryDirectory() as tmp:
            local = Path(tmp) / "split.json"
            local.write_bytes(manifest)
            remote_split = await self.upload(local, manifest_sha)
        request = {
            "command": "bench",
            "model": remote_model,
            "runtime": runtime,
            "split": remote_split,
            "threads": step.threads,
            "protocol": {f.name: getattr(step, f.name) for f in dataclasses.fields(Protocol)},
            "options": options,
        }
        started = time.monotonic()
        data = await self.result(request, emit)
        return {**data, "board": self.board.name, "board_seconds": time.monotonic() - started}

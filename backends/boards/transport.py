"""How mllib reaches a board: the workstation itself, or SSH (asyncssh). Same interface, so a
local board and a remote one differ only here.

Commands are argument lists, joined with ``shlex.join`` for SSH: no name or path is ever pasted
into a shell command unquoted. Files move over SFTP; renames are atomic (posix-rename).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shlex
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from backends.boards import trust
from backends.boards.inventory import Board, Inventory, jump_address
from backends.errors import BadInput, Interrupted, StageFailed

LineHandler = Callable[[str], "int | None"]  # returns the size of a payload after the line
PayloadHandler = Callable[[bytes], None]
ByteProgress = Callable[[int, int], None]
LINE_LIMIT = 1 << 24  # the longest event line read from a command (a large result row)
SFTP_BLOCK = 261120  # larger blocks break against OpenSSH (SFTPConnectionLost)


class BoardLost(Interrupted):
    """The connection to a board dropped in the middle of work."""


class Transport(Protocol):
    board: Board

    async def run(
        self,
        argv: list[str],
        on_line: LineHandler | None = None,
        stdin: str | None = None,
        until: asyncio.Event | None = None,
        on_payload: PayloadHandler | None = None,
    ) -> tuple[int, str]:
        """Run a command with ``stdin`` as its input, then end-of-file (at once, or when
        ``until`` is set: how a long command is told to stop); stdout lines go to
        ``on_line``; when it returns N, the next N bytes of stdout are a binary payload (a
        camera frame) for ``on_payload``. Returns (exit status, stderr)."""
        ...

    async def put(self, local: Path, remote: str, progress: ByteProgress | None = None) -> None: ...
    async def get(self, remote: str, local: Path) -> None: ...
    async def exists(self, remote: str) -> bool: ...
    async def makedirs(self, remote: str) -> None: ...
    async def rename(self, src: str, dst: str) -> None: ...
    async def symlink(self, target: str, link: str) -> None: ...
    async def readlink(self, link: str) -> str | None: ...
    async def remove(self, remote: str) -> None: ...
    async def forward(self, local_port: int, remote_port: int) -> int:
        """The board's loopback ``remote_port`` on ours at ``local_port`` (0: any; returned)."""
        ...

    async def close(self) -> None: ...


class LocalTransport:
    """The workstation as a board: subprocesses and the local file system."""

    def __init__(self, board: Board) -> None:
        self.board = board

    async def run(
        self,
        argv: list[str],
        on_line: LineHandler | None = None,
        stdin: str | None = None,
        until: asyncio.Event | None = None,
        on_payload: PayloadHandler | None = None,
    ) -> tuple[int, str]:
        process = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            limit=LINE_LIMIT,
        )
        assert process.stdin is not None and process.stdout is not None
        process.stdin.write((stdin or "").encode())
        closing = asyncio.ensure_future(_close_when(until, process.stdin.close))
        stderr_task = asyncio.ensure_future(process.stderr.read())
        try:
            await _read_output(process.stdout, on_line, on_payload)
            return await process.wait(), (await stderr_task).decode()
        finally:
            closing.cancel()
            if process.returncode is None:  # cancelled: stop it, as a dropped link would
                process.stdin.close()
                with contextlib.suppress(ProcessLookupError):
                    process.terminate()
                await process.wait()

    async def put(self, local: Path, remote: str, progress: ByteProgress | None = None) -> None:
        total = local.stat().st_size
        done = 0
        with open(local, "rb") as src, open(remote, "wb") as dst:
            while chunk := src.read(1 << 20):
                dst.write(chunk)
                done += len(chunk)
                if progress is not None:
                    progress(done, total)
            dst.flush()
            os.fsync(dst.fileno())

    async def get(self, remote: str, local: Path) -> None:
        shutil.copyfile(remote, local)

    async def exists(self, remote: str) -> bool:
        return os.path.lexists(remote)

    async def makedirs(self, remote: str) -> None:
        os.makedirs(remote, exist_ok=True)

    async def rename(self, src: str, dst: str) -> None:
        os.replace(src, dst)

    async def symlink(self, target: str, link: str) -> None:
        os.symlink(target, link)

    async def readlink(self, link: str) -> str | None:
        return os.readlink(link) if os.path.islink(link) else None

    async def remove(self, remote: str) -> None:
        if os.path.isdir(remote) and not os.path.islink(remote):
            shutil.rmtree(remote)
        elif os.path.lexists(remote):
            os.unlink(remote)

    async def forward(self, local_port: int, remote_port: int) -> int:
        return remote_port  # the board is this machine: its loopback is ours

    async def close(self) -> None:
        return None


class SshTransport:
    """A board over SSH: host keys verified, key-only authentication, one connection reused."""

    def __init__(self, board: Board, conns: list[Any], sftp: Any) -> None:
        """``conns``: the board's connection last, after the jump hosts it goes through."""
        self.board, self._conns, self._sftp = board, conns, sftp
        self._conn = conns[-1]

    @classmethod
    async def connect(cls, board: Board, inventory: Inventory) -> SshTransport:
        import asyncssh

        conns: list[Any] = []
        try:
            await _connect(board, inventory, conns)
            try:
                sftp = await conns[-1].start_sftp_client()
            except (asyncssh.Error, OSError) as exc:
                raise BadInput(
                    f"board {board.name} ({board.address}): SFTP could not start ({exc}); "
                    "enable it in the board's sshd_config (Subsystem sftp internal-sftp)"
                ) from None
        except BaseException:
            await _close(conns)
            raise
        return cls(board, conns, sftp)

    async def run(
        self,
        argv: list[str],
        on_line: LineHandler | None = None,
        stdin: str | None = None,
        until: asyncio.Event | None = None,
        on_payload: PayloadHandler | None = None,
    ) -> tuple[int, str]:
        import asyncssh

        stderr_task: asyncio.Future[bytes] | None = None
        closing: asyncio.Future[None] | None = None
        process = None
        try:
            process = await self._conn.create_process(shlex.join(argv), encoding=None)
            process.stdin.write((stdin or "").encode())
            closing = asyncio.ensure_future(_close_when(until, process.stdin.write_eof))
            stderr_task = asyncio.ensure_future(process.stderr.read())
            await _read_output(process.stdout, on_line, on_payload)
            result = await process.wait()
            return (
                result.exit_status if result.exit_status is not None else 255,
                (await stderr_task).decode(errors="replace"),
            )
        except (asyncssh.Error, OSError) as exc:
            raise BoardLost(f"board {self.board.name}: connection lost ({exc})") from None
        finally:
            if closing is not None:
                closing.cancel()
            if process is not None and process.exit_status is None and not process.is_closing():
                process.close()  # cancelled: the channel closes, sshd ends the agent
            if stderr_task is not None and not stderr_task.done():
                stderr_task.cancel()
            if stderr_task is not None:
                with contextlib.suppress(BaseException):
                    await stderr_task  # retrieved: no "exception was never retrieved" later

    async def put(self, local: Path, remote: str, progress: ByteProgress | None = None) -> None:
        def handler(_src: bytes, _dst: bytes, done: int, total: int) -> None:
            if progress is not None:
                progress(done, total)

        await self._sftp_call(
            self._sftp.put, str(local), remote, block_size=SFTP_BLOCK, progress_handler=handler
        )

    async def get(self, remote: str, local: Path) -> None:
        await self._sftp_call(self._sftp.get, remote, str(local), block_size=SFTP_BLOCK)

    async def exists(self, remote: str) -> bool:
        return await self._sftp_call(self._sftp.lexists, remote)

    async def makedirs(self, remote: str) -> None:
        await self._sftp_call(self._sftp.makedirs, remote, exist_ok=True)

    async def rename(self, src: str, dst: str) -> None:
        await self._sftp_call(self._sftp.posix_rename, src, dst)

    async def symlink(self, target: str, link: str) -> None:
        await self._sftp_call(self._sftp.symlink, target, link)

    async def readlink(self, link: str) -> str | None:
        if not await self._sftp_call(self._sftp.islink, link):
            return None
        return await self._sftp_call(self._sftp.readlink, link)

    async def remove(self, remote: str) -> None:
        if await self._sftp_call(self._sftp.isdir, remote) and not await self._sftp_call(
            self._sftp.islink, remote
        ):
            await self._sftp_call(self._sftp.rmtree, remote)
        elif await self._sftp_call(self._sftp.lexists, remote):
            await self._sftp_call(self._sftp.remove, remote)

    async def forward(self, local_port: int, remote_port: int) -> int:
        """A local listener tunnelled through the SSH connection (``ssh -L``), on loopback."""
        try:
            listener = await self._conn.forward_local_port(
                "127.0.0.1", local_port, "127.0.0.1", remote_port
            )
        except OSError as exc:
            raise BadInput(f"port {local_port} on this machine cannot be opened ({exc})") from None
        return listener.get_port()

    async def close(self) -> None:
        self._sftp.exit()
        await _close(self._conns)

    async def _sftp_call(self, method: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        import asyncssh

        try:
            return await method(*args, **kwargs)
        except asyncssh.SFTPError as exc:
            raise StageFailed(f"board {self.board.name}: {exc.reason} ({args[0]})") from None
        except (asyncssh.Error, OSError) as exc:
            raise BoardLost(f"board {self.board.name}: connection lost ({exc})") from None


async def _read_output(
    stdout: Any, on_line: LineHandler | None, on_payload: PayloadHandler | None
) -> None:
    """Lines of ``stdout`` to ``on_line`` until its end; a payload a line announces is read
    whole and passed on, or (cut short: the command died midway) dropped."""
    while line := await stdout.readline():
        size = on_line(line.decode(errors="replace").rstrip("\n")) if on_line else None
        if size:
            try:
                data = await stdout.readexactly(size)
            except asyncio.IncompleteReadError:
                return
            if on_payload is not None:
                on_payload(data)


async def _close_when(until: asyncio.Event | None, close: Callable[[], object]) -> None:
    """End a command's input now, or once ``until`` is set (a long command's stop)."""
    if until is not None:
        await until.wait()
    close()


async def open_transport(board: Board, inventory: Inventory) -> Transport:
    if board.is_local:
        return LocalTransport(board)
    return await SshTransport.connect(board, inventory)


async def _close(conns: list[Any]) -> None:
    """Close connections, the board's first and then the jump hosts it went through."""
    for conn in reversed(conns):
        conn.close()
        with contextlib.suppress(Exception):
            await conn.wait_closed()


async def _connect(board: Board, inventory: Inventory, opened: list[Any], *, hops: int = 0) -> Any:
    """An asyncssh connection with verified host keys, through its jump hosts; every
    connection made is appended to ``opened`` (the caller closes them); errors are one
    actionable line."""
    import asyncssh

    assert board.host is not None
    if hops > 5:
        raise BadInput(f"board {board.name}: proxy_jump chain is too long (a loop?)")
    tunnel = None
    if board.proxy_jump:
        tunnel = await _connect(_jump_board(board, inventory), inventory, opened, hops=hops + 1)
    identity = os.path.expanduser(board.identity) if board.identity else None
    if identity and not os.path.isfile(identity):
        raise BadInput(f"board {board.name}: identity file {identity} not found")
    known = trust.load_known_hosts()
    try:
        conn = await asyncssh.connect(
            board.host,
            port=board.port,
            username=board.user or (),  # () is asyncssh's "not given": the local user
            tunnel=tunnel,
            known_hosts=known,
            client_keys=[identity] if identity else (),
            passphrase=os.environ.get("MLLIB_SSH_PASSPHRASE"),
            connect_timeout=board.connect_timeout,
            password=None,
            kbdint_auth=False,
            preferred_auth=("publickey",),
        )
        opened.append(conn)
        return conn
    except asyncssh.HostKeyNotVerifiable:
        raise await _host_key_error(board, known, tunnel) from None
    except asyncssh.KeyImportError as exc:
        raise BadInput(
            f"board {board.name}: identity file {identity} cannot be used ({exc}); for a key "
            "with a passphrase set MLLIB_SSH_PASSPHRASE or load it into ssh-agent"
        ) from None
    except asyncssh.PermissionDenied:
        raise BadInput(
            f"board {board.name} ({board.address}) refused the key "
            f"{identity or '(none configured)'} for user {board.user or '(default)'}: check "
            "'user' and 'identity' in devices.toml and the board's authorized_keys"
        ) from None
    except TimeoutError:
        raise BadInput(
            f"board {board.name} ({board.address}) did not answer within "
            f"{board.connect_timeout:g} s: is it powered and reachable? (connect_timeout)"
        ) from None
    except OSError as exc:
        raise BadInput(
            f"board {board.name} ({board.address}) is unreachable: {exc.strerror or exc}; is "
            "sshd running there?"
        ) from None
    except asyncssh.Error as exc:
        raise BadInput(f"board {board.name} ({board.address}): SSH failed: {exc}") from None


def _jump_board(board: Board, inventory: Inventory) -> Board:
    jump = board.proxy_jump or ""
    if jump in inventory.boards:
        return inventory.boards[jump]
    user, host, port = jump_address(jump, f"board {board.name}: proxy_jump")
    return Board(
        name=f"{board.name}-jump",
        host=host,
        port=port,
        user=user,
        identity=board.identity,
        connect_timeout=board.connect_timeout,
    )


async def _host_key_error(board: Board, known: Any, tunnel: Any) -> BadInput:
    import asyncssh

    assert board.host is not None
    key = await asyncssh.get_server_host_key(board.host, board.port, tunnel=tunnel)
    state = trust.classify(known, board.host, board.port, key)
    if state == "changed":
        return BadInput(
            f"board {board.name} ({board.address}): HOST KEY CHANGED — the board now offers "
            f"{trust.fingerprint(key)}, which differs from the trusted key. Someone may be "
            "intercepting the connection, or the board was reinstalled. Check with the board's "
            "owner, remove the old line from the known-hosts file, then run `mllib-tui boards "
            f"trust {board.name}`"
        )
    return BadInput(
        f"board {board.name} ({board.address}) offers an unknown host key "
        f"{trust.fingerprint(key)}; if that is the board's key, run `mllib-tui boards trust "
        f"{board.name}`"
    )

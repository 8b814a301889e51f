"""Real OpenSSH boards on loopback for tests: one sshd process per board, each with its own host
key, config, Unix user (when running as root) and key-only authentication.

Board users cannot enter /root or pytest's private temp dirs, so everything lives in a
world-readable directory under /tmp; boards run Python from a board venv (Debian's python3 with
numpy and the same runtime versions as the workstation) cached per machine.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

SSHD = "/usr/sbin/sshd"
BOARD_PACKAGES = ["numpy==2.4.6", "ai-edge-litert==2.3.0", "onnxruntime==1.32.0"]
CAMERA_PACKAGES = [*BOARD_PACKAGES, "opencv-python-headless==5.0.0.93"]  # a board with a camera
AS_ROOT = os.geteuid() == 0


def board_python(packages: list[str] = BOARD_PACKAGES) -> str:
    """A venv with only numpy and the runtimes (and what else ``packages`` names), readable by
    every board user (built once per machine)."""
    tag = hashlib.sha256(" ".join(packages).encode()).hexdigest()[:10]
    root = Path(tempfile.gettempdir()) / f"mllib-board-venv-{tag}"
    python = root / "bin" / "python"
    if not (root / ".complete").exists():
        shutil.rmtree(root, ignore_errors=True)
        base = shutil.which("python3", path="/usr/bin:/usr/local/bin") or sys.executable
        subprocess.run([base, "-m", "venv", str(root)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", *packages], check=True)
        os.chmod(root, 0o755)
        (root / ".complete").write_text("")
    return str(python)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class SshBoard:
    name: str
    port: int
    user: str
    home: Path
    dir: Path  # sshd's files
    process: subprocess.Popen | None = None
    extra: dict = field(default_factory=dict)

    @property
    def host_key_line(self) -> str:
        key = (self.dir / "host_ed25519.pub").read_text().split()[:2]
        return f"[127.0.0.1]:{self.port} {' '.join(key)}"

    def start(self) -> None:
        with open(self.dir / "sshd.log", "ab") as log:  # the child keeps its own descriptor
            self.process = subprocess.Popen(
                [SSHD, "-D", "-e", "-f", str(self.dir / "sshd_config")],
                stdout=subprocess.DEVNULL,
                stderr=log,
            )

        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.02)
        raise RuntimeError(
            f"sshd for {self.name} did not start: {(self.dir / 'sshd.log').read_text()}"
        )

    def kill(self) -> None:
        """Kill sshd and its per-connection processes: every session drops at once, as when a
        board loses power or network (the board's own programs get SIGHUP)."""
        if self.process is not None:
            for pid in _descendants(self.process.pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()
            self.process = None

    def new_host_key(self) -> None:
        (self.dir / "host_ed25519").unlink()
        (self.dir / "host_ed25519.pub").unlink()
        _keygen(self.dir / "host_ed25519")


class Fleet:
    """N boards, a client key, a known-hosts file and a devices.toml writer."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="mllib-boards-"))
        os.chmod(self.root, 0o755)
        self.client_key = self.root / "client_ed25519"
        _keygen(self.client_key)
        self.known_hosts = self.root / "known_hosts"
        self.python = board_python()
        self.boards: dict[str, SshBoard] = {}

    def add(self, name: str, index: int, *, chroot: Path | None = None) -> SshBoard:
        """Board ``name``; with ``chroot`` (a root file system, root only) sshd confines the
        board user's sessions to it, so commands run that system's programs (another
        architecture's, under qemu-user) while SFTP is served by the host's sshd."""
        user = f"mllib-b{index}" if AS_ROOT else pwd.getpwuid(os.getuid()).pw_name
        board_dir = self.root / name
        board_dir.mkdir()
        home = (chroot / "home" / user) if chroot else board_dir / "home"
        shutil.rmtree(home, ignore_errors=True)  # a chroot is reused between runs
        home.mkdir(parents=True)
        os.chmod(board_dir, 0o755)
        _keygen(board_dir / "host_ed25519")
        shutil.copy(self.client_key.with_suffix(".pub"), board_dir / "authorized_keys")
        if AS_ROOT:
            login_home = f"/home/{user}" if chroot else str(home)
            shell = "/bin/sh" if chroot else "/bin/bash"
            if subprocess.run(["id", user], capture_output=True).returncode != 0:
                subprocess.run(["useradd", "-M", "-d", login_home, "-s", shell, user], check=True)
            subprocess.run(["usermod", "-d", login_home, "-s", shell, "-p", "*", user], check=True)
            shutil.chown(home, user)
            if chroot:
                _add_user_to(chroot, user, login_home, shell)
        port = free_port()
        (board_dir / "sshd_config").write_text(f"""
Port {port}
ListenAddress 127.0.0.1
HostKey {board_dir}/host_ed25519
PidFile {board_dir}/sshd.pid
AuthorizedKeysFile {board_dir}/authorized_keys
AllowUsers {user}
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
AllowTcpForwarding yes
Subsystem sftp internal-sftp
LogLevel ERROR
{f"ChrootDirectory {chroot}" if chroot else ""}
""")
        board = SshBoard(name, port, user, home, board_dir)
        board.start()
        self.boards[name] = board
        return board

    def trust_all(self) -> None:
        self.known_hosts.write_text("".join(b.host_key_line + "\n" for b in self.boards.values()))

    def devices_toml(self, path: Path, **overrides: dict) -> Path:
        lines = []
        for board in self.boards.values():
            fields = {
                "host": "127.0.0.1",
                "port": board.port,
                "user": board.user,
                "identity": str(self.client_key),
                "python": self.python,
                "workdir": "mllib",
                "tags": ["test"],
                "connect_timeout": 5,
                **overrides.get(board.name, {}),
            }
            lines.append(f"[boards.{board.name}]")
            lines += [f"{k} = {_toml(v)}" for k, v in fields.items() if v is not None]
            lines.append("")
        path.write_text("\n".join(lines))
        return path

    def python_with(self, name: str, env: str, python: str | None = None) -> str:
        """A board interpreter: ``python`` (default: the fleet's) started after the shell line
        ``env`` (an ``export``: what a board's environment would add)."""
        path = self.root / f"python-{name}"
        path.write_text(f'#!/bin/sh\n{env}\nexec {python or self.python} "$@"\n')
        path.chmod(0o755)
        return str(path)

    def stop(self) -> None:
        for board in self.boards.values():
            board.kill()
        shutil.rmtree(self.root, ignore_errors=True)


def _descendants(root: int) -> list[int]:
    """Every process below ``root`` (sshd's sessions run in grandchildren)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, queue = [], [root]
    while queue:
        for child in children.get(queue.pop(), []):
            found.append(child)
            queue.append(child)
    return found


def _add_user_to(root: Path, user: str, home: str, shell: str) -> None:
    """The host user's passwd and group lines inside a chroot, so its programs know the user."""
    entry = pwd.getpwnam(user)
    for name, line in (
        ("passwd", f"{user}:x:{entry.pw_uid}:{entry.pw_gid}::{home}:{shell}\n"),
        ("group", f"{user}:x:{entry.pw_gid}:\n"),
    ):
        path = root / "etc" / name
        kept = [x for x in path.read_text().splitlines(True) if not x.startswith(f"{user}:")]
        path.write_text("".join(kept) + line)


def _keygen(path: Path, passphrase: str = "") -> None:
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", passphrase, "-f", str(path)], check=True
    )
    os.chmod(path, 0o600)


def _toml(value: object) -> str:
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return str(value)

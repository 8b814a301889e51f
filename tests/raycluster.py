"""A real Ray cluster for tests: ``ray start --head --block`` with 2 CPUs, token authentication
set explicitly (a token made for the run, in a 0600 file), no dashboard, its own temp dir;
stopped by ending the process group (``ray stop`` would stop every cluster on the machine).

Ray's GCS listens on every interface whatever ``--node-ip-address`` says; the token is what
keeps others out, which is why the tests never start one without it."""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RayCluster:
    def __init__(self, root: Path, cpus: int = 2, env: dict[str, str] | None = None) -> None:
        self.root, self.cpus = root, cpus
        # Ray keeps unix sockets under its temp dir: the path must stay short (107 bytes)
        self.temp = Path("/tmp") / f"mllib-ray-{secrets.token_hex(3)}"
        token = root / "ray-token"
        token.write_text(secrets.token_hex(32))
        token.chmod(0o600)
        self.env = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(token)}
        self.port = _free_port()
        self.address = f"127.0.0.1:{self.port}"
        self._extra = env or {}
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        ray = Path(sys.executable).with_name("ray")
        argv = [
            str(ray), "start", "--head", "--block", f"--num-cpus={self.cpus}", "--num-gpus=0",
            "--node-ip-address=127.0.0.1", f"--port={self.port}", "--include-dashboard=false",
            "--disable-usage-stats", f"--temp-dir={self.temp}",
        ]  # fmt: skip
        env = {**os.environ, **self.env, **self._extra, "RAY_USAGE_STATS_ENABLED": "0"}
        with open(self.root / "ray-head.log", "ab") as log:
            self.process = subprocess.Popen(
                argv, env=env, stdout=log, stderr=log, start_new_session=True
            )
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            if self._answers():
                return
            time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"ray did not start: {(self.root / 'ray-head.log').read_text()[-3000:]}")

    def _answers(self) -> bool:
        out = subprocess.run(
            [str(Path(sys.executable).with_name("ray")), "status", f"--address={self.address}"],
            env={**os.environ, **self.env},
            capture_output=True,
            text=True,
            timeout=60,
        )
        return out.returncode == 0 and "CPU" in out.stdout

    def workers(self) -> list[int]:
        """PIDs of this cluster's Ray worker processes (the ones that run tasks)."""
        found = []
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit():
                continue
            try:
                cmdline = (proc / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            text = b" ".join(cmdline)
            if b"default_worker.py" in text and str(self.temp).encode() in text:
                found.append(int(proc.name))
        return found

    def session_files(self) -> list[Path]:
        """Every file the cluster wrote: its logs, and what it spilled."""
        return [p for p in self.temp.rglob("*") if p.is_file() and not p.is_socket()]

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 5 s (``ray start --block`` takes longer to stop its
        children gently than a test cluster is worth), every process of the cluster, and its
        temp dir."""
        if self.process is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
            self.process = None
        for pid in self.workers():  # workers that outlived the raylet
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        shutil.rmtree(self.temp, ignore_errors=True)

"""A real Debian arm64 userland for board tests, run by qemu-user through binfmt_misc.

Built once per machine (about 3 minutes) and reused: ``debootstrap`` in two stages, Debian's
python3, and a venv with what a Raspberry Pi or Coral board runs — numpy 1.x and tflite-runtime.
The build happens under a temporary name and is renamed into place when complete, under a lock,
so an interrupted build is never taken for a finished one. Needs root (chroot, mounts) and the
Debian packages qemu-user-static, binfmt-support and debootstrap (``scripts/install --test``).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

CACHE = Path(os.environ.get("MLLIB_ARM64_CACHE", "/var/cache/mllib-arm64"))
MIRROR = os.environ.get("MLLIB_DEBIAN_MIRROR", "http://deb.debian.org/debian")
SUITE = "bookworm"  # Raspberry Pi OS 12 is bookworm too
APT_PACKAGES = ["python3", "python3-venv", "ca-certificates"]
PIP_PACKAGES = ["numpy==1.26.4", "tflite-runtime==2.14.0"]
PYTHON = "/opt/board/bin/python"  # inside the root file system
BINFMT = Path("/proc/sys/fs/binfmt_misc")
HOST_CA = Path("/etc/ssl/certs/ca-certificates.crt")  # pip inside needs the host's trust


def missing() -> str | None:
    """Why an arm64 board cannot be built here, or None."""
    if os.geteuid() != 0:
        return "an arm64 chroot needs root (chroot, mounts, sshd's ChrootDirectory)"
    for tool in ("debootstrap", "qemu-aarch64-static", "update-binfmts"):
        if shutil.which(tool) is None:
            return f"{tool} is missing: scripts/install --test installs it"
    return None


def rootfs() -> Path:
    """The root file system, built if this machine has none for this recipe."""
    recipe = json.dumps([SUITE, APT_PACKAGES, PIP_PACKAGES])
    root = CACHE / f"{SUITE}-arm64-{hashlib.sha256(recipe.encode()).hexdigest()[:10]}"
    done = root / ".mllib-complete"
    if done.exists():
        return root
    CACHE.mkdir(parents=True, exist_ok=True)
    os.chmod(CACHE, 0o755)  # sshd's ChrootDirectory wants every component root-owned, not open
    with _locked(CACHE / ".lock"):
        if done.exists():
            return root
        enable_emulation()
        building = CACHE / f".building-{root.name}"
        shutil.rmtree(building, ignore_errors=True)
        _run(
            "debootstrap", "--arch=arm64", "--foreign", "--variant=minbase", SUITE, building, MIRROR
        )
        _run("chroot", building, "/debootstrap/debootstrap", "--second-stage")
        shutil.copy("/etc/resolv.conf", building / "etc" / "resolv.conf")
        _chroot(building, "apt-get update -qq")
        _chroot(
            building,
            "DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "
            + " ".join(APT_PACKAGES)
            + " && apt-get clean",
        )
        shutil.copy(HOST_CA, building / "tmp" / "host-ca.crt")
        _chroot(building, f"python3 -m venv {os.path.dirname(os.path.dirname(PYTHON))}")
        _chroot(
            building,
            "PIP_CERT=/tmp/host-ca.crt REQUESTS_CA_BUNDLE=/tmp/host-ca.crt "
            f"{PYTHON} -m pip install -q --disable-pip-version-check "
            + " ".join(f"'{p}'" for p in PIP_PACKAGES),
        )
        (building / "tmp" / "host-ca.crt").unlink()
        os.chmod(building, 0o755)
        os.replace(building, root)
        done.write_text(recipe)
    return root


def enable_emulation() -> None:
    """Register qemu-aarch64 with binfmt_misc (a kernel setting: once per boot)."""
    if (BINFMT / "qemu-aarch64").exists():
        return
    if not (BINFMT / "register").exists():
        _run("mount", "-t", "binfmt_misc", "binfmt_misc", BINFMT)
    _run("update-binfmts", "--enable", "qemu-aarch64")


@contextlib.contextmanager
def proc_mounted(root: Path) -> Iterator[None]:
    """/proc inside the chroot while a board runs (a real board has one), unmounted after."""
    target = root / "proc"
    if not os.path.ismount(target):
        _run("mount", "-t", "proc", "proc", target)
    try:
        yield
    finally:
        subprocess.run(["umount", "--lazy", str(target)], check=False)


def _chroot(root: Path, command: str) -> None:
    """A shell command inside ``root`` with a clean environment (the host's pip settings, CA
    variables and index URLs would point at files that do not exist in there)."""
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/root", "LANG": "C.UTF-8"}
    _run("chroot", root, "/bin/sh", "-c", command, env=env)


def _run(*argv: object, env: dict[str, str] | None = None) -> None:
    result = subprocess.run([str(a) for a in argv], capture_output=True, text=True, env=env)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, argv))[:200]} failed: {result.stderr[-2000:]}")


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield

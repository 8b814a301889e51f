"""The stand-ins installed for a fleet of boards (see README.md): copied where every board user
can read them, the C ones compiled."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

HERE = Path(__file__).parent
LIBRARIES = {"libcuda.so.1": "libcuda.c", "libedgetpu.so.1": "libedgetpu.c"}


def install(root: Path) -> Path:
    """``root/standins``: the Python stand-ins (a board's PYTHONPATH), ``bin/`` (its PATH) and
    ``lib/`` with the compiled libraries (its LD_LIBRARY_PATH)."""
    target = root / "standins"

    def left_out(folder: str, names: list[str]) -> set[str]:  # this module stays here
        return {"__pycache__"} | ({"__init__.py"} if Path(folder) == HERE else set())

    shutil.copytree(HERE, target, ignore=left_out)
    lib = target / "lib"
    lib.mkdir()
    for name, source in LIBRARIES.items():
        soname = f"-Wl,-soname,{name}"  # as the real library's: find_library reports it
        command = ["gcc", "-shared", "-fPIC", soname, "-o", str(lib / name), str(target / source)]
        subprocess.run(command, check=True)
    # the development link a packaged library has: ctypes.util.find_library("edgetpu") finds a
    # library on LD_LIBRARY_PATH through it (on a Coral, ldconfig's cache names libedgetpu.so.1)
    (lib / "libedgetpu.so").symlink_to("libedgetpu.so.1")
    subprocess.run(["chmod", "-R", "a+rX", str(target)], check=True)
    return target

"""Host keys: verified against ~/.ssh/known_hosts and mllib's own known-hosts file.

Nothing is ever accepted automatically. An unknown key is refused with its fingerprint and the
command that trusts it; a key that differs from a known one is refused loudly (it may be an
attack, or a re-installed board). ``trust`` appends the key the user confirmed.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

KNOWN_HOSTS_ENV = "MLLIB_KNOWN_HOSTS"


def mllib_known_hosts() -> Path:
    if os.environ.get(KNOWN_HOSTS_ENV):
        return Path(os.environ[KNOWN_HOSTS_ENV])
    config = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return config / "mllib" / "known_hosts"


def known_hosts_files() -> list[Path]:
    files = [Path.home() / ".ssh" / "known_hosts", mllib_known_hosts()]
    return [f for f in files if f.is_file()]


def load_known_hosts() -> Any:
    """An ``SSHKnownHosts`` of every trusted key (empty when there are none: trust nothing)."""
    import asyncssh

    text = "\n".join(f.read_text() for f in known_hosts_files())
    return asyncssh.import_known_hosts(text)


def host_pattern(host: str, port: int) -> str:
    return host if port == 22 else f"[{host}]:{port}"


def classify(
    known: Any, host: str, port: int, key: Any
) -> Literal["trusted", "unknown", "changed"]:
    trusted_keys = known.match(host, "", port)[0]
    if not trusted_keys:
        return "unknown"
    offered = key.export_public_key("openssh")
    return (
        "trusted"
        if any(k.export_public_key("openssh") == offered for k in trusted_keys)
        else "changed"
    )


def fingerprint(key: Any) -> str:
    return key.get_fingerprint("sha256")


def add_trusted(host: str, port: int, key: Any) -> Path:
    """Append the key to mllib's known-hosts file (0600, in a 0700 directory)."""
    path = mllib_known_hosts()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    line = f"{host_pattern(host, port)} {key.export_public_key('openssh').decode().strip()}\n"
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, line.encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    return path

"""Boards from an OpenSSH client config: ``Host`` blocks without wildcards (settings in
``Host *`` and ``Match`` blocks are not imported; ssh still applies them when you use ssh)."""

from __future__ import annotations

import shlex
from pathlib import Path

from backends.errors import BadInput, read_input

KEYS = {
    "hostname": "host",
    "port": "port",
    "user": "user",
    "identityfile": "identity",
    "proxyjump": "proxy_jump",
}


def read_hosts(path: Path, wanted: list[str]) -> dict[str, dict[str, str | int]]:
    text = read_input(path, "SSH config")
    try:
        lines = text.decode("utf-8").splitlines()
    except UnicodeDecodeError as exc:
        raise BadInput(f"{path}: not UTF-8 text (byte {exc.start})") from None
    hosts: dict[str, dict[str, str | int]] = {}
    current: list[str] = []
    for number, raw in enumerate(lines, 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, _, rest = line.replace("=", " ", 1).partition(" ")
        key = key.lower()
        try:
            values = shlex.split(rest, comments=True)
        except ValueError as exc:  # "No closing quotation"
            raise BadInput(f"{path}:{number}: {exc} in {key!r}: close the quote") from None
        if key == "host":
            current = [h for h in values if not any(c in h for c in "*?!")]
            for host in current:
                hosts.setdefault(host, {})
        elif key == "match":
            current = []
        elif key in KEYS and current and values:
            value = values[0]
            for host in current:
                if key == "port":
                    if not value.isdigit() or not 0 < int(value) < 65536:
                        raise BadInput(f"{path}:{number}: Port {value!r} is not a port (1-65535)")
                    hosts[host].setdefault("port", int(value))  # first value wins, as in ssh
                else:
                    hosts[host].setdefault(KEYS[key], value)
    for alias, fields in hosts.items():
        fields.setdefault("host", alias)  # no HostName: the alias is the address
        hosts[alias] = {"host": fields.pop("host"), **fields}
    if wanted:
        missing = [w for w in wanted if w not in hosts]
        if missing:
            raise BadInput(f"{path}: no Host {missing[0]!r}")
        hosts = {w: hosts[w] for w in wanted}
    return hosts


def to_toml(hosts: dict[str, dict[str, str | int]]) -> str:
    """TOML tables for devices.toml; table names are quoted (``Host jetson.lab`` is one board,
    not a table ``lab`` inside ``jetson``)."""
    lines = []
    for name, fields in hosts.items():
        lines += ["", f"[boards.{_quote(name)}]"]
        lines += [
            f"{k} = {v}" if isinstance(v, int) else f"{k} = {_quote(v)}" for k, v in fields.items()
        ]
    return "\n".join(lines) + "\n"


def _quote(value: str) -> str:
    """A TOML basic string: backslash, quote and control characters escaped."""
    escaped = "".join(
        c if c not in '"\\' and ord(c) >= 0x20 and c != "\x7f" else f"\\u{ord(c):04x}"
        for c in value
    )
    return f'"{escaped}"'

"""Boards from an OpenSSH client config: ``Host`` blocks without wildcards (settings in
``Host *`` and ``Match`` blocks are not imported; ssh still applies them when you use ssh)."""

from __future__ import annotations

import shlex
from pathlib import Path

from backends.errors import BadInput

KEYS = {
    "hostname": "host",
    "port": "port",
    "user": "user",
    "identityfile": "identity",
    "proxyjump": "proxy_jump",
}


def read_hosts(path: Path, wanted: list[str]) -> dict[str, dict[str, str | int]]:
    if not path.is_file():
        raise BadInput(f"{path}: SSH config not found")
    hosts: dict[str, dict[str, str | int]] = {}
    current: list[str] = []
    for number, raw in enumerate(path.read_text().splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        key, _, value = line.replace("=", " ", 1).partition(" ")
        key, value = key.lower(), value.strip()
        if key == "host":
            current = [h for h in shlex.split(value) if not any(c in h for c in "*?!")]
            for host in current:
                hosts.setdefault(host, {})
        elif key == "match":
            current = []
        elif key in KEYS and current:
            for host in current:
                if key == "port":
                    if not value.isdigit():
                        raise BadInput(f"{path}:{number}: Port {value!r} is not a number")
                    hosts[host]["port"] = int(value)
                else:
                    hosts[host].setdefault(KEYS[key], value)  # first value wins, as in ssh
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
    lines = []
    for name, fields in hosts.items():
        lines += ["", f"[boards.{name}]"]
        lines += [
            f"{k} = {v}" if isinstance(v, int) else f"{k} = {_quote(v)}" for k, v in fields.items()
        ]
    return "\n".join(lines) + "\n"


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'

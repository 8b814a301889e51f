"""Where objects go: the original mllib's ``creds.json`` read as is, or the standard AWS settings.

``creds.json`` holds a list ``s3`` of entries: ``name``, ``type``, ``address`` (host:port or a
URL), ``access key``, ``secret key``, ``tls``, ``cert_verify`` (or ``cert verify``),
``cert_path`` (or ``cert path``) and ``sets``: ``dataset``, ``trainingset``, ``model`` and
``test``, each with ``bucket``, ``prefix`` and ``dataset_filter``. Keys are kept in
:class:`Secret`, whose text is always ``***``, so they cannot reach a log, event or catalog row.
"""

from __future__ import annotations

import fnmatch
import json
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from backends.errors import BadInput, read_input
from backends.names import is_name

SETS = ("dataset", "trainingset", "model", "test")


class Secret:
    """A credential; ``str``/``repr`` never show it, ``reveal()`` hands it to the S3 client."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__


@dataclass(frozen=True)
class Target:
    """Where one set's objects live."""

    bucket: str
    prefix: str = ""
    dataset_filter: str = "*"

    def key(self, *parts: str) -> str:
        return self.prefix + "/".join(parts)

    def admits(self, dataset: str) -> bool:
        return fnmatch.fnmatch(dataset, self.dataset_filter or "*")


@dataclass(frozen=True)
class Endpoint:
    name: str
    url: str | None  # None: AWS itself
    access_key: Secret | None  # None: boto's own chain (environment, profile)
    secret_key: Secret | None
    verify: bool | str  # True, False (a loud warning every run) or a CA bundle path
    sets: dict[str, Target] = field(default_factory=dict)
    profile: str | None = None
    warnings: tuple[str, ...] = ()


def load_creds(path: Path, name: str | None) -> Endpoint:
    """The entry ``name`` (the only one when None) of a creds.json file."""
    source = str(path)
    raw = read_input(path, "credentials file")
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise BadInput(f"{source}: not valid JSON (line {exc.lineno}): {exc.msg}") from None
    except UnicodeDecodeError:
        raise BadInput(f"{source}: not valid JSON (not UTF-8 text)") from None

    entries = data.get("s3") if isinstance(data, dict) else None
    if not isinstance(entries, list) or not entries:
        raise BadInput(f"{source}: field 's3' must be a non-empty list of endpoints")
    names = [e.get("name") for e in entries if isinstance(e, dict)]
    if name is None:
        if len(entries) != 1:
            raise BadInput(
                f"{source}: {len(entries)} entries ({_listed(names)}): pick one with --storage NAME"
            )
        entry = entries[0]
    else:
        found = [e for e in entries if isinstance(e, dict) and e.get("name") == name]
        if not found:
            raise BadInput(f"{source}: no entry named {name!r} (entries: {_listed(names)})")
        entry = found[0]
    warnings = []
    mode = Path(path).stat().st_mode
    if mode & (stat.S_IRGRP | stat.S_IROTH):
        warnings.append(f"{source} is readable by other users: chmod 600 {source}")
    return _entry(entry, f"{source}: s3[{entries.index(entry)}]", tuple(warnings))


def from_environment(
    profile: str | None, endpoint: str | None, sets: dict[str, Target]
) -> Endpoint:
    """Standard AWS settings: AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, or a profile of
    ~/.aws/credentials (boto resolves them); the endpoint from --endpoint or AWS_ENDPOINT_URL."""
    url = endpoint or os.environ.get("AWS_ENDPOINT_URL")
    bundle = os.environ.get("AWS_CA_BUNDLE")
    return Endpoint(
        name=profile or "aws",
        url=url,
        access_key=None,
        secret_key=None,
        verify=bundle if bundle else True,
        sets=sets,
        profile=profile,
    )


def _entry(entry: Any, where: str, warnings: tuple[str, ...]) -> Endpoint:
    if not isinstance(entry, dict):
        raise BadInput(f"{where} must be an object")

    def text(*keys: str, required: bool = True) -> str | None:
        for key in keys:
            if key in entry and (entry[key] is not None or required):  # null: not given
                if not isinstance(entry[key], str) or not entry[key]:
                    raise BadInput(f"{where}: field '{key}' must be a non-empty string")
                return entry[key]
        if required:
            raise BadInput(f"{where}: field '{keys[0]}' is missing")
        return None

    def flag(*keys: str, default: bool) -> bool:
        for key in keys:
            if key in entry:
                if not isinstance(entry[key], bool):
                    raise BadInput(f"{where}: field '{key}' must be true or false")
                return entry[key]
        return default

    name = text("name")
    text("type", required=False)  # the original's role of the entry ("trainer"): not used here
    address = text("address")
    tls = flag("tls", default=True)
    if "://" not in address:
        address = f"{'https' if tls else 'http'}://{address}"
    cert_path = text("cert_path", "cert path", required=False)
    verify: bool | str = flag("cert_verify", "cert verify", default=True)
    if verify and cert_path:
        if not Path(cert_path).is_file():
            raise BadInput(f"{where}: field 'cert_path' {cert_path!r} is not a file")
        verify = cert_path
    sets_raw = entry.get("sets", {})
    if not isinstance(sets_raw, dict):
        raise BadInput(f"{where}: field 'sets' must be an object of {', '.join(SETS)}")
    sets = {}
    for set_name, target in sets_raw.items():
        if set_name not in SETS:
            raise BadInput(f"{where}: sets.{set_name} is not one of {', '.join(SETS)}")
        if not isinstance(target, dict) or not isinstance(target.get("bucket"), str):
            raise BadInput(f"{where}: sets.{set_name}.bucket must be a string")
        prefix = target.get("prefix") or ""
        if not isinstance(prefix, str):
            raise BadInput(f"{where}: sets.{set_name}.prefix must be a string")
        sets[set_name] = Target(
            target["bucket"],
            prefix if not prefix or prefix.endswith("/") else prefix + "/",
            target.get("dataset_filter") or "*",
        )
    return Endpoint(
        name=name or "",
        url=address,
        access_key=Secret(text("access key", "access_key") or ""),
        secret_key=Secret(text("secret key", "secret_key") or ""),
        verify=verify,
        sets=sets,
        warnings=warnings
        + (
            ()
            if verify
            else (f"storage {name}: TLS certificates are NOT verified (cert_verify: false)",)
        ),
    )


def _listed(names: list[Any]) -> str:
    """Entry names for a message: plain names as they are, anything else quoted (one line)."""
    return ", ".join(n if is_name(n) else repr(n) for n in names)

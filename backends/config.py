"""Step configs: typed, validated models of a pipeline file's sections, and the parser that
builds them from TOML tables.

Each stage declares its own config (a frozen dataclass deriving from ``Bounded``) in its own
module; numbers carry their bounds in the field (``bounded(15, 1, 100_000)``), so a pipeline
file, the command line's options and code that builds a config all meet the same limits.
Every problem is one ``BadInput`` line naming the file and the field: an unknown key (with the
keys that are allowed), a wrong type, a value out of range.
"""

from __future__ import annotations

import math
import tomllib
import types
import typing
from dataclasses import MISSING, Field, field, fields
from typing import Any, ClassVar, Literal

from backends.errors import BadInput

RANGE = "range"  # field metadata: (low, high) for a number, or for each number of a tuple


def read_toml(raw: bytes, source: str) -> dict[str, Any]:
    """The tables of a TOML file's bytes (named ``source`` in messages): text that is not
    UTF-8 or not TOML is one ``BadInput`` line saying where."""
    try:
        return tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise BadInput(f"{source}: not UTF-8 text (byte {exc.start}): save it as UTF-8") from None
    except tomllib.TOMLDecodeError as exc:
        raise BadInput(f"{source}: not valid TOML: {exc}") from None


def bounded(default: Any, low: float, high: float) -> Any:
    """A config field with bounds."""
    return field(default=default, metadata={RANGE: (low, high)})


def bounds(cls: type, name: str) -> tuple[float, float]:
    """The bounds of field ``name`` of config ``cls`` (for a command-line option)."""
    return next(f for f in fields(cls) if f.name == name).metadata[RANGE]


def out_of_range(spec: Field[Any], value: Any, key: str) -> str | None:
    """What is wrong with ``value`` for field ``spec`` (named ``key``), or None."""
    if RANGE not in spec.metadata or value is None or isinstance(value, bool | str):
        return None
    low, high = spec.metadata[RANGE]
    for item in value if isinstance(value, tuple) else (value,):
        if isinstance(item, int | float) and not low <= item <= high:
            low_text, high_text = format_bound(low), format_bound(high)
            return f"{key} must be between {low_text} and {high_text}, got {item!r}"
    return None


def format_bound(bound: float) -> str:
    """A bound as a person reads it: 10000000, 0.0001, 1e-09."""
    return str(int(bound)) if float(bound).is_integer() else f"{bound:g}"


class Bounded:
    """Step configs check their numbers however they are made (a pipeline file, the command
    line, the app, a notebook), so no stage ever runs with ``min_runs = 0``."""

    SECTION: ClassVar[str]

    def __post_init__(self) -> None:
        for spec in fields(self):  # type: ignore[arg-type]
            problem = out_of_range(spec, getattr(self, spec.name), f"{self.SECTION}.{spec.name}")
            if problem is not None:
                raise BadInput(problem)


def parse(cls: type, data: Any, source: str, prefix: str) -> Any:
    """Build dataclass ``cls`` from a TOML table, checking keys, types and ranges."""
    where = prefix.rstrip(".") or "the top level"
    if not isinstance(data, dict):
        raise BadInput(f"{source}: {where} must be a table")
    known = {f.name: f for f in fields(cls)}
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise BadInput(
            f"{source}: unknown key '{prefix}{unknown[0]}' (allowed in {where}: {', '.join(known)})"
        )
    hints = typing.get_type_hints(cls)
    values = {}
    for name, value in data.items():
        key = f"{prefix}{name}"
        values[name] = _coerce(value, hints[name], source, key)
        problem = out_of_range(known[name], values[name], key)
        if problem is not None:
            raise BadInput(f"{source}: {problem}")
    for name, f in known.items():
        if name not in values and f.default is MISSING and f.default_factory is MISSING:
            raise BadInput(f"{source}: missing key '{prefix}{name}'")
    return cls(**values)


def _coerce(value: Any, hint: Any, source: str, key: str) -> Any:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (types.UnionType, typing.Union):
        if value is None and type(None) in args:
            return None
        (hint,) = [a for a in args if a is not type(None)]
        return _coerce(value, hint, source, key)
    if origin is Literal:
        if value not in args:
            raise BadInput(
                f"{source}: {key} must be one of {', '.join(map(repr, args))}, got {value!r}"
            )
        return value
    if origin is tuple and args[-1] is Ellipsis:
        if not isinstance(value, list):
            raise BadInput(f"{source}: {key} must be a list, got {value!r}")
        return tuple(_coerce(v, args[0], source, key) for v in value)
    if origin is tuple:
        if not isinstance(value, list) or len(value) != len(args):
            raise BadInput(f"{source}: {key} must be a list of {len(args)} numbers, got {value!r}")
        return tuple(_coerce(v, a, source, key) for v, a in zip(value, args, strict=True))
    ok = (isinstance(value, hint) and not (hint is not bool and isinstance(value, bool))) or (
        hint is float and isinstance(value, int) and not isinstance(value, bool)
    )
    if not ok:
        raise BadInput(f"{source}: {key} must be {_describe(hint)}, got {value!r}")
    if isinstance(value, float) and not math.isfinite(value):
        raise BadInput(f"{source}: {key} must be a finite number, got {value!r}")
    return float(value) if hint is float else value


def _describe(hint: Any) -> str:
    return {int: "an integer", float: "a number", str: "a string", bool: "true or false"}.get(
        hint, str(hint)
    )

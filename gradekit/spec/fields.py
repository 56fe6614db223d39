"""Reading a spec's TOML: typed access to its tables that names the file and the field on every error."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from gradekit.util.errors import SpecError
from gradekit.util.inputs import read_limited

MAX_SPEC_BYTES = 256 * 1024


def read_toml(path: Path) -> dict[str, Any]:
    raw = read_limited(path, MAX_SPEC_BYTES, "the spec")
    try:
        return tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise SpecError("not UTF-8 text", source=path) from None
    except tomllib.TOMLDecodeError as e:
        raise SpecError(f"invalid TOML: {e}", source=path) from None


class Fields:
    """Typed access to a TOML table that reports the file and the dotted field on every error."""

    def __init__(self, table: Mapping[str, Any], source: str, prefix: str = ""):
        self.table, self.source, self.prefix = table, source, prefix
        self.used: set[str] = set()

    def where(self, key: str) -> str:
        return f"{self.prefix}{key}"

    def fail(self, key: str, message: str) -> SpecError:
        return SpecError(message, source=self.source, field=self.where(key))

    def get(self, key: str, kind: type | tuple[type, ...], default: Any = ..., what: str = "") -> Any:
        self.used.add(key)
        if key not in self.table:
            if default is ...:
                raise self.fail(key, f"is required ({what or _kind_name(kind)})")
            return default
        value = self.table[key]
        # bool is an int in Python; a spec that writes `units = true` is wrong, not 1.
        if isinstance(value, bool) and bool not in _as_tuple(kind):
            raise self.fail(key, f"expected {what or _kind_name(kind)}, got {value!r}")
        if float in _as_tuple(kind) and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kind):
            raise self.fail(key, f"expected {what or _kind_name(kind)}, got {type(value).__name__} {value!r}")
        return value

    def choice(self, key: str, options: tuple[str, ...], default: Any = ...) -> str:
        value = self.get(key, str, default, what="one of " + ", ".join(options))
        if value not in options:
            raise self.fail(key, f"expected one of {', '.join(options)}, got {value!r}")
        return value

    def positive_int(self, key: str, default: Any = ..., limit: int = 64) -> int:
        value = self.get(key, int, default, what=f"a whole number from 1 to {limit}")
        if not 1 <= value <= limit:
            raise self.fail(key, f"expected a whole number from 1 to {limit}, got {value}")
        return value

    def number(self, key: str, default: Any = ..., low: float | None = None, high: float | None = None,
               strict_low: bool = False) -> float:
        value = self.get(key, float, default, what="a number")
        if value is None:  # an optional number left out
            return value
        if not np.isfinite(value):
            raise self.fail(key, f"expected a finite number, got {value}")
        if low is not None and (value < low or (strict_low and value == low)):
            raise self.fail(key, f"expected a number {'>' if strict_low else '>='} {low}, got {value}")
        if high is not None and value > high:
            raise self.fail(key, f"expected a number <= {high}, got {value}")
        return value

    def table_of(self, key: str) -> "Fields":
        value = self.get(key, dict, {}, what="a table")
        return Fields(value, self.source, f"{self.where(key)}.")

    def reject_unknown(self) -> None:
        unknown = sorted(set(self.table) - self.used)
        if unknown:
            known = ", ".join(sorted(self.used))
            raise self.fail(unknown[0], f"unknown field (known here: {known})")


def _as_tuple(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)


def _kind_name(kind: type | tuple[type, ...]) -> str:
    words = {str: "text", int: "a whole number", float: "a number", bool: "true or false",
             list: "a list", dict: "a table"}
    return " or ".join(words.get(k, k.__name__) for k in _as_tuple(kind))


# --- problem ----------------------------------------------------------------------------------

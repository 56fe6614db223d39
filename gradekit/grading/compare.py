"""Compare one answer with its key: small pure functions with explicit shape and NaN/Inf handling.

coerce() turns a raw JSON answer into an array of the expected shape, or says why it cannot:
a scalar may be 0.5, [0.5] or [[0.5]]; a vector flat or one row or column; a matrix nested
lists of exactly the expected shape. compare() grades entry by entry within tolerance.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from gradekit.engine.margins import close

MAX_ENTRIES = 10_000
NON_FINITE = "holds NaN, Infinity or a number too large for a float"  # why such an answer is invalid


@dataclass(frozen=True)
class Coerced:
    """An answer as an array of the expected shape, or the reason it is not one."""

    value: np.ndarray | None
    problem: str = ""  # why it is invalid ("" when value is set)
    raw: np.ndarray | None = None  # the numbers as written, when they are numbers (for diagnosis)


@dataclass(frozen=True)
class Comparison:
    correct: np.ndarray  # boolean, one per entry

    @property
    def all_correct(self) -> bool:
        return bool(self.correct.all())

    @property
    def fraction(self) -> float:
        return float(self.correct.mean()) if self.correct.size else 1.0

    @property
    def wrong_entries(self) -> int:
        return int(self.correct.size - self.correct.sum())


def shape_text(shape: tuple[int, ...]) -> str:
    return "a scalar" if not shape else ("a vector of " + str(shape[0]) if len(shape) == 1 else f"{shape[0]}x{shape[1]}")


def _is_number(x: Any) -> bool:
    return (type(x) is float) or (type(x) is int)  # exact types: bool is an int subclass, and not a number here


def _fast_array(raw: Any) -> np.ndarray | None:
    """The common well-formed answers (a number, a list, a list of equal lists) without the walk."""
    if _is_number(raw):
        return np.array(float(raw))
    if type(raw) is list and raw:
        if all(_is_number(x) for x in raw):
            return np.array(raw, dtype=float)
        if all(type(r) is list for r in raw):
            width = len(raw[0])
            if width and all(len(r) == width and all(_is_number(x) for x in r) for r in raw):
                return np.array(raw, dtype=float)
    return None


def _numeric_array(raw: Any) -> tuple[np.ndarray | None, str]:
    """Nested lists of numbers -> array; the reason when they are not a rectangular array of numbers."""
    fast = _fast_array(raw)
    if fast is not None:
        return fast, ""
    if isinstance(raw, bool):
        return None, "expected a number or a list of numbers, got true/false"
    if isinstance(raw, (int, float)):
        return np.array(float(raw)), ""
    if isinstance(raw, str):
        return None, "expected a number, got text (write 0.5, not \"0.5\")"
    if not isinstance(raw, list):
        return None, f"expected a number or a list of numbers, got {type(raw).__name__}"
    flat: list[float] = []
    shape = _walk(raw, flat, 0)
    if isinstance(shape, str):
        return None, shape
    if len(flat) > MAX_ENTRIES:
        return None, f"more than {MAX_ENTRIES} entries"
    return np.array(flat, dtype=float).reshape(shape), ""


def _walk(node: Any, flat: list[float], depth: int) -> tuple[int, ...] | str:
    if depth > 3:
        return "nested deeper than a matrix"
    if isinstance(node, list):
        if not node:
            return "an empty list"
        shapes = [_walk(child, flat, depth + 1) for child in node]
        for s in shapes:
            if isinstance(s, str):
                return s
        if any(s != shapes[0] for s in shapes):
            return "rows of different lengths (a ragged array)"
        return (len(node), *shapes[0])  # type: ignore[misc]
    if isinstance(node, bool) or not isinstance(node, (int, float)):
        return "a list with something that is not a number in it"
    if len(flat) >= MAX_ENTRIES:
        return f"more than {MAX_ENTRIES} entries"
    flat.append(float(node))
    return ()


def coerce(raw: Any, shape: tuple[int, ...]) -> Coerced:
    """The answer in the expected shape, or why not (None means the answer is missing)."""
    if raw is None:
        return _MISSING
    fast = _fast_array(raw)
    if fast is not None and fast.shape == shape and np.isfinite(fast).all():
        return Coerced(fast, raw=fast)  # the common case, answered as written in the template
    array, problem = _numeric_array(raw)
    if array is None:
        return Coerced(None, problem)
    if not np.isfinite(array).all():
        return Coerced(None, NON_FINITE, None)
    size = math.prod(shape)
    squeezed = array.reshape(-1) if array.size == size else None
    vector_like = len(shape) <= 1 or min(shape) == 1
    if array.shape == shape:
        return Coerced(array, raw=array)
    if squeezed is not None and vector_like and (array.ndim <= 1 or min(array.shape) == 1):
        return Coerced(squeezed.reshape(shape), raw=array)
    got = shape_text(array.shape)
    hint = " (it looks transposed)" if array.ndim == 2 and array.shape == shape[::-1] else ""
    return Coerced(None, f"expected {shape_text(shape)}, got {got}{hint}", raw=array)


_MISSING = Coerced(None, "missing")


def compare(answer: np.ndarray, key: np.ndarray, allow: np.ndarray | float) -> Comparison:
    return Comparison(np.atleast_1d(close(answer, key, allow)))


def shaped_allowance(allow: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """A quantity's allowance for a value of `shape`: as it is, transposed (a mistake's value may
    be the transposed matrix), or else its largest entry for every entry."""
    if allow.ndim == 0 or allow.shape == shape:
        return allow
    if allow.ndim == 2 and allow.T.shape == shape:
        return allow.T
    return np.asarray(allow.max())


def matches(raw: np.ndarray | None, candidate: np.ndarray, allow: np.ndarray | float) -> bool:
    """Whether numbers as written equal a candidate value (for diagnosis; vectors in any orientation)."""
    if raw is None:
        return False
    candidate = np.asarray(candidate, dtype=float)
    allow = shaped_allowance(np.asarray(allow, dtype=float), candidate.shape)
    if raw.shape != candidate.shape:
        both_vectors = (raw.ndim <= 1 or min(raw.shape) == 1) and (candidate.ndim <= 1 or min(candidate.shape) == 1)
        if raw.size != candidate.size or not both_vectors:
            return False
        raw, candidate = raw.reshape(-1), candidate.reshape(-1)
        allow = allow.reshape(-1) if allow.size == candidate.size else allow
    return bool(np.all(close(raw, candidate, allow)))

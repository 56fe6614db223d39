"""A problem's asked key values as one vector, for comparing a whole submission in one pass."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np


@dataclass(frozen=True)
class FlatKey:
    """A problem's asked key values as one vector, each entry with its allowance: every answer of
    a submission to the problem is compared in one vectorized pass (worked out once per key)."""

    names: tuple[str, ...]
    shapes: tuple[tuple[int, ...], ...]
    starts: tuple[int, ...]  # where each quantity's entries begin in `values`
    sizes: tuple[int, ...]
    values: np.ndarray
    allow: np.ndarray  # the allowance of every entry

    @classmethod
    def of(cls, named: Sequence[tuple[str, np.ndarray, np.ndarray]]) -> FlatKey:
        """From (name, key value, allowance of each entry) of every asked quantity, in order."""
        arrays = [np.asarray(v, dtype=float) for _, v, _ in named]
        sizes = [a.size for a in arrays]
        values = np.concatenate([a.ravel() for a in arrays]) if arrays else np.zeros(0)
        allow = (np.concatenate([np.broadcast_to(a, v.shape).ravel() for (_, _, a), v in zip(named, arrays)])
                 if arrays else np.zeros(0))
        return cls(tuple(n for n, _, _ in named), tuple(a.shape for a in arrays),
                   tuple(int(x) for x in np.cumsum([0, *sizes[:-1]])), tuple(sizes), values,
                   allow)

"""Small helpers the ops' quality checks share: each looks at a stack of candidate variants (a
leading axis, rows layout) and says which it rejects."""

from __future__ import annotations

from functools import lru_cache

import numpy as np

Array = np.ndarray

# A value at a threshold is rejected too (strict margins): a grid value that lands on 0.05
# exactly may be computed as 0.049999999999999996 or 0.05000000000000002, so each comparison
# gives the threshold this much room.
MARGIN_SLACK = 1e-9


def entries(value: Array) -> Array:
    """A stacked value as (B, entries of one candidate)."""
    return value.reshape(value.shape[0], -1)


def pairs_equal(columns: Array, tolerance: float) -> Array:
    """Per candidate, whether two columns (units) of a stacked (B, rows, units) array are equal."""
    first, second = _unit_pairs(columns.shape[-1])
    return (np.abs(columns[..., first] - columns[..., second]) <= tolerance).all(axis=1).any(axis=-1)


@lru_cache(maxsize=32)
def _unit_pairs(units: int) -> tuple[Array, Array]:
    """Every pair of different units (i < j), as two index arrays."""
    return np.triu_indices(units, 1)

"""The only rows/columns code: values are computed in the rows layout (samples are rows) and turned
into a problem's own layout only where they enter or leave (given and pinned values, key JSON,
answer parsing, rendering).

The `columns` layout is the transpose of `rows` for every 2-D quantity (W @ X + b is the transpose
of X^T @ W^T + b^T); scalars and label vectors are the same in both.
"""

from __future__ import annotations

import numpy as np

from gradekit.model.network import Architecture
from gradekit.ops.families import network_for

Array = np.ndarray


def to_rows(value: Array, layout: str) -> Array:
    """A value of one instance, from `layout` to rows (its own inverse: rows back to `layout`)."""
    return value.T if layout == "columns" and np.ndim(value) == 2 else value


from_rows = to_rows


def stack_to_rows(stacked: Array, layout: str) -> Array:
    """A stack of one quantity's values (a leading axis), from `layout` to rows (and back)."""
    # np.swapaxes, not .mT (NumPy 2 only): the PrairieLearn bundle runs this on NumPy 1.26.
    return np.swapaxes(stacked, -1, -2) if layout == "columns" and stacked.ndim == 3 else stacked


stack_from_rows = stack_to_rows


def shape_in(layout: str, rows_shape: tuple[int, ...]) -> tuple[int, ...]:
    """A rows-layout shape as `layout` writes it."""
    return tuple(reversed(rows_shape)) if layout == "columns" and len(rows_shape) == 2 else tuple(rows_shape)


def expected_shape(arch: Architecture, name: str) -> tuple[int, ...]:
    """The shape of a given value in the problem's own layout."""
    return shape_in(arch.layout, network_for(arch).given_value(name).shape)

"""Comparators: coercion of every allowed answer form and tolerance, as tables."""

from __future__ import annotations

import numpy as np
import pytest

from gradekit.engine.margins import allowance
from gradekit.grading.compare import coerce, compare, matches

OK = [
    (0.5, (), 0.5), ([0.5], (), 0.5), ([[0.5]], (), 0.5), (3, (), 3.0),
    ([1, 2], (1, 2), [[1, 2]]), ([[1], [2]], (1, 2), [[1, 2]]), ([[1, 2]], (2, 1), [[1], [2]]),
    ([1, 2, 3], (3,), [1, 2, 3]), ([[1, 2, 3]], (3,), [1, 2, 3]), ([[1], [2], [3]], (3,), [1, 2, 3]),
    ([[1, 2], [3, 4]], (2, 2), [[1, 2], [3, 4]]),
]


@pytest.mark.parametrize("raw, shape, expected", OK)
def test_accepted_forms(raw, shape, expected):
    c = coerce(raw, shape)
    assert c.problem == "" and c.value.shape == shape
    np.testing.assert_array_equal(c.value, expected)


BAD = [
    (None, (), "missing"),
    ("0.5", (), 'expected a number, got text (write 0.5, not "0.5")'),
    (True, (), "expected a number or a list of numbers, got true/false"),
    ({"a": 1}, (), "expected a number or a list of numbers, got dict"),
    ([[1, 2], [3]], (2, 2), "rows of different lengths (a ragged array)"),
    ([], (), "an empty list"),
    ([[["1"]]], (1, 1), "a list with something that is not a number in it"),
    ([[[[[1]]]]], (1, 1), "nested deeper than a matrix"),
    (float("nan"), (), "holds NaN, Infinity or a number too large for a float"),
    ([1e308 * 10], (1,), "holds NaN, Infinity or a number too large for a float"),
    ([[1, 2, 3], [4, 5, 6]], (3, 2), "expected 3x2, got 2x3 (it looks transposed)"),
    ([[1, 2], [3, 4]], (2, 3), "expected 2x3, got 2x2"),
    ([1, 2, 3], (2, 2), "expected 2x2, got a vector of 3"),
    ([1, 2], (), "expected a scalar, got a vector of 2"),
]


@pytest.mark.parametrize("raw, shape, problem", BAD)
def test_rejected_forms_say_why(raw, shape, problem):
    c = coerce(raw, shape)
    assert c.value is None and c.problem == problem


TOLERANCE = [  # answer, key, (atol, rtol, sigfigs), right
    (1.0009, 1.0, (1e-3, 0, None), True), (1.0011, 1.0, (1e-3, 0, None), False),
    (101.9, 100.0, (0, 0.02, None), True), (102.1, 100.0, (0, 0.02, None), False),
    (0.0004, 0.0, (1e-3, 1e-2, None), True), (-0.0011, 0.0, (1e-3, 1e-2, None), False),
    (0.01236, 0.012341, (1e-3, 0, 3), True), (0.01245, 0.012341, (1e-3, 0, 3), False),
    (1235.0, 1234.4, (0, 0, 3), True), (1246.0, 1234.4, (0, 0, 3), False),
]


@pytest.mark.parametrize("answer, key, tol, ok", TOLERANCE)
def test_fixed_tolerance(answer, key, tol, ok):
    assert compare(np.array(answer), np.array(key), allowance(np.array(key), *tol)).all_correct is ok


def test_partial_fraction_counts_entries():
    c = compare(np.array([[1, 2], [3, 5]]), np.array([[1, 2], [3, 4]]), 1e-3)
    assert c.fraction == 0.75 and c.wrong_entries == 1


def test_allowances_are_per_entry():
    c = compare(np.array([1.05, 2.05]), np.array([1.0, 2.0]), np.array([0.1, 0.01]))
    assert c.correct.tolist() == [True, False]


def test_matches_accepts_vectors_in_any_orientation_only():
    assert matches(np.array([[1.0, 2.0]]), np.array([[1.0], [2.0]]), 1e-3)
    assert matches(np.array([[1.0, 2.05]]), np.array([[1.0], [2.0]]), np.array([[1e-3], [0.1]]))
    assert not matches(np.array([[1.0, 2.0], [3, 4]]), np.array([[1.0, 3.0], [2, 4]]), 1e-3)

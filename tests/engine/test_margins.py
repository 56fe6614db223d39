"""The rounding margin (gradekit.engine.margins) on a case worked by hand.

A linear chain, 1 sample, decimals 2 (h = 0.005, a unit 0.01): X = 2, W1 = 0.3, W2 = 0.5, Y = 0,
identity activations, no biases, L = 1/2 (A2 - Y)^2. Given values are exact (B = 0), and

    Z1 = X W1 = 0.6          B(Z1) = h                           = 0.005
    A1 = Z1                   B(A1) = h + 1 * B(Z1)              = 0.010
    Z2 = A1 W2 = 0.3          B(Z2) = h + 0.5 * B(A1)            = 0.010
    A2 = Z2                   B(A2) = h + 1 * B(Z2)              = 0.015
    L = 1/2 A2^2 = 0.045      B(L) = h + max(|L(0.315) - L|, |L(0.285) - L|)
                                   = 0.005 + max(0.0046125, 0.0043875) = 0.0096125

and an entry's allowance is a unit plus 1.1 (B - h): Z1 0.01, A1 0.0155, Z2 0.0155, A2 0.021,
L 0.01507375.
"""

from __future__ import annotations

import pytest

from gradekit.engine.margins import MARGIN, allowance_from_bound, half_unit
from gradekit.keys.key import make_key
from gradekit.model.problem import SheetEntry, Sheet
from gradekit.sampling.variants import Variant
from gradekit.spec.reader import parse_problem

SPEC = {
    "id": "hand", "title": "by hand", "layout": "rows", "inputs": 1, "samples": 1, "decimals": 2,
    "layers": [{"units": 1, "bias": "none"}, {"units": 1, "bias": "none"}],
    "loss": {"kind": "mse", "half": True},
    "pinned": {"X": [[2.0]], "Y": [[0.0]], "W1": [[0.3]], "W2": [[0.5]]},
    "asked": ["Z1", "A1", "Z2", "A2", "loss"],
    "quality": {"zero_quantity": False},
}


def allowances() -> dict[str, float]:
    problem = parse_problem(SPEC, "hand.toml")
    sheet = Sheet("hand", "by hand", "", "", "hand.toml", (SheetEntry(problem, None, ""),))
    pk = make_key(sheet, Variant(seed=0)).problems[0]
    assert float(pk.instance.trace["loss"]) == pytest.approx(0.045)
    return {q: float(pk.allowance(q).item()) for q in problem.asked}


def test_the_margin_of_each_step_is_the_one_worked_by_hand():
    assert MARGIN == 1.1 and half_unit(2) == 0.005
    assert allowances() == pytest.approx({"Z1": 0.01, "A1": 0.0155, "Z2": 0.0155, "A2": 0.021,
                                          "loss": 0.01507375}, rel=1e-9)


def test_an_allowance_is_a_unit_plus_the_propagated_rounding():
    assert float(allowance_from_bound(0.005, 2)) == pytest.approx(0.01)  # only its own rounding: one unit
    assert float(allowance_from_bound(0.015, 2)) == pytest.approx(0.01 + 1.1 * 0.01)
    assert float(allowance_from_bound(0.0004, 3)) == pytest.approx(0.001)  # below h: never under one unit

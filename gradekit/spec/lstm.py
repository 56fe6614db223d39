"""The LSTM cell step's part of a problem spec (family = "lstm"): its convention, inputs and update."""

from __future__ import annotations

from gradekit.model.lstm import Lstm
from gradekit.model.network import LAYOUTS
from gradekit.model.problem import Domain
from gradekit.spec.fields import Fields

DEFAULT_DOMAINS = {  # by the base of a given value's name (h for h0 and dh1, c for c0 and dc2, f for f2)
    "X": Domain(-1.0, 1.0, 0.5, nonzero=True),
    "h": Domain(-0.5, 0.5, 0.1, nonzero=True),
    "c": Domain(-0.5, 0.5, 0.1, nonzero=True),
    "f": Domain(0.1, 0.9, 0.1),
    "Wx": Domain(-1.0, 1.0, 0.1, nonzero=True),
    "Wh": Domain(-1.0, 1.0, 0.1, nonzero=True),
    "bz": Domain(-0.5, 0.5, 0.1),
}
DOMAIN_WORDS = "X, h (h0 and dh1), c (c0 and dc2), f (f2), Wx, Wh or bz"


def lstm(f: Fields) -> Lstm:
    layout = f.choice("layout", LAYOUTS)
    inputs = f.positive_int("inputs", 1, limit=2)
    uf = f.table_of("update")
    uf.choice("rule", ("sgd",), "sgd")
    lr = uf.number("learning_rate", 0.1, low=0.0, high=10.0, strict_low=True)
    uf.reject_unknown()
    return Lstm(layout, inputs, lr)  # type: ignore[arg-type]

"""The recurrent network's part of a problem spec (family = "rnn"): its sizes, steps, convention, loss, update."""

from __future__ import annotations

from gradekit.model.network import LAYOUTS, REDUCTIONS
from gradekit.model.problem import Domain
from gradekit.model.rnn import Rnn
from gradekit.spec.fields import Fields

DEFAULT_DOMAINS = {  # by the base of a given value's name
    "X": Domain(-1.0, 1.0, 0.5, nonzero=True),
    "Y": Domain(-1.0, 1.0, 0.5),
    "Wxh": Domain(-1.0, 1.0, 0.1, nonzero=True),
    "Whh": Domain(-1.0, 1.0, 0.1, nonzero=True),
    "Why": Domain(-1.0, 1.0, 0.1, nonzero=True),
    "bh": Domain(-0.5, 0.5, 0.1),
    "by": Domain(-0.5, 0.5, 0.1),
    "h": Domain(-0.5, 0.5, 0.1),
}
DOMAIN_WORDS = "X, Y, Wxh, Whh, Why, bh, by or h (h0)"


def rnn(f: Fields) -> Rnn:
    # The convention: rows (x W_xh + h W_hh, time steps as rows of X) or columns (W_hh h + W_xh x).
    layout = f.choice("layout", LAYOUTS)
    steps = f.positive_int("steps", limit=3)
    if steps < 2:
        raise f.fail("steps", f"an unrolled network needs 2 or 3 steps, got {steps}")
    inputs = f.positive_int("inputs", limit=2)
    hidden = f.positive_int("hidden", limit=2)
    outputs = f.positive_int("outputs", 1, limit=2)
    activation = f.choice("activation", ("tanh", "identity"), "tanh")
    h0 = f.choice("h0", ("zero", "given"), "zero")
    outputs_at = f.choice("outputs_at", ("last", "every"), "last")
    lf = f.table_of("loss")
    kind = lf.choice("kind", ("mse", "cross_entropy"), "mse")
    reduction = lf.choice("reduction", REDUCTIONS, "sum")
    half = lf.get("half", bool, False)
    if kind == "cross_entropy" and half:
        raise lf.fail("half", "a cross-entropy loss has no 1/2: half applies to the squared error only")
    if kind == "cross_entropy" and outputs < 2:
        raise f.fail("outputs", f"a softmax cross-entropy needs 2 classes or more, got {outputs}")
    lf.reject_unknown()
    uf = f.table_of("update")
    uf.choice("rule", ("sgd",), "sgd")
    lr = uf.number("learning_rate", 0.1, low=0.0, high=10.0, strict_low=True)
    uf.reject_unknown()
    return Rnn(layout, inputs, hidden, outputs, steps, activation, h0, outputs_at, reduction, half, lr, kind)  # type: ignore[arg-type]

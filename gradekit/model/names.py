"""Quantity names: the one place that builds and parses them.

A name is a base (`W`, `Z`, `A`, `b`, `gamma`, `Xhat`, ...), the index of the layer it belongs to
(`W2`), optionally a `d` in front (the loss's gradient with respect to it: `dW2`) and `_new` after
it (its value after the update: `W2_new`). `X`, `Y`, `loss`, `loss_new` and `pred` have no index.
Everything else in gradekit asks this module instead of taking names apart itself, and the
operations (gradekit.ops) build the names of their steps with the functions below.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

# Bases of more than one letter; any single letter is a base too (W, b, Z, A, ...).
LONG_BASES = ("gamma", "beta", "mu", "var", "Xhat", "theta", "mhat", "vhat")
PLAIN = ("X", "Y", "loss", "pred", "data_loss", "penalty")  # names without a layer index
LOSS, LOSS_NEW, PRED = "loss", "loss_new", "pred"
# With weight decay the loss is the data loss (the loss function of the output) plus the penalty.
DATA_LOSS, PENALTY = "data_loss", "penalty"

# A recurrent network's shared weights (gradekit.model.rnn): no index, as one matrix serves every
# time step (dWhh, Whh_new parse too). Time-step quantities are single letters with the step as
# their index: h1, z2, y3, dh1.
SHARED = ("Whh", "Wxh", "Why", "bh", "by", "Wx", "Wh", "bz")  # the last three: an LSTM cell's
_SHARED = re.compile(rf"^(?P<grad>d?)(?P<base>{'|'.join(SHARED)})(?P<new>_new)?$")

_NAME = re.compile(rf"^(?P<grad>d?)(?P<base>{'|'.join(LONG_BASES)}|[A-Za-z])(?P<index>\d+)(?P<new>_new)?$")


@dataclass(frozen=True)
class Name:
    """A parsed quantity name."""

    base: str
    index: int | None = None
    grad: bool = False
    new: bool = False

    def __str__(self) -> str:
        index = "" if self.index is None else str(self.index)
        return f"{'d' if self.grad else ''}{self.base}{index}{'_new' if self.new else ''}"


@cache
def parse(name: str) -> Name | None:
    """The parts of a name, or None for a name gradekit does not build."""
    if name in PLAIN:
        return Name(name)
    if name == LOSS_NEW:
        return Name(LOSS, new=True)
    m = _NAME.match(name)
    if not m:
        shared = _SHARED.match(name)
        return None if not shared else Name(shared["base"], None, bool(shared["grad"]), bool(shared["new"]))
    return Name(m["base"], int(m["index"]), bool(m["grad"]), bool(m["new"]))


_BASE = re.compile(rf"^(?P<base>{'|'.join(LONG_BASES)}|[A-Za-z])(?P<index>\d*)$")


def split(name: str) -> tuple[str, int | None] | None:
    """A base with an optional index (`W`, `W2`, `gamma3`): (base, index or None); None otherwise."""
    if name in SHARED:
        return name, None
    m = _BASE.match(name)
    if not m:
        return None
    return m["base"], int(m["index"]) if m["index"] else None


def of(base: str, index: int | None = None) -> str:
    """The name of a base at a layer: of("W", 2) == "W2"."""
    return str(Name(base, index))


def grad(name: str) -> str:
    """The name of the loss's gradient with respect to a quantity: dW2."""
    return "d" + name


def gradient_of(name: str) -> str | None:
    """The quantity a gradient's name is of (W2 for dW2), or None for a name that is not `d<X>`."""
    return name[1:] if name.startswith("d") and len(name) > 1 else None


def new(name: str) -> str:
    """The name of a quantity after the update: W2_new."""
    return name + "_new"


def before_update(name: str) -> str:
    """W2 for W2_new."""
    return name.removesuffix("_new")


def layer_input(l: int) -> str:
    """What feeds layer l: X for the first layer, A{l-1} after."""
    return "X" if l == 1 else of("A", l - 1)


def base_of(name: str) -> str:
    """The base of a name (W for W2, dW2 and W2_new); the name itself when it does not parse."""
    parsed = parse(name)
    return parsed.base if parsed is not None else name

"""A problem's computation as operations in order: what the engine lays out as steps.

A family of problems (gradekit.ops.families) turns its model into a Network: the ops in forward
order (their backward steps come in reverse order), the ops that come once the backward pass is
done (an update, the loss after it), the values the problem states, and its loss op (None when
the family has none: a computational graph's output is differentiated as it is). The engine
(gradekit.engine.build) asks each op for its steps; everything else asks the ops what they know.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

from gradekit.model import names
from gradekit.ops.activation import Activation
from gradekit.ops.base import Given, Op
from gradekit.ops.batchnorm import BatchNorm
from gradekit.ops.dense import Affine


@dataclass(frozen=True)
class Network:
    """The ops of one model: `ops` in forward order (backward in reverse), `after` once the
    backward pass is done, `given` every value the problem states, in order."""

    model: Any  # the family's model (gradekit.model.network.Model)
    ops: tuple[Op, ...]
    after: tuple[Op, ...]
    given: tuple[Given, ...]
    loss: Any = None  # the loss op (gradekit.ops.losses.LossOp), if the family has one
    output: str = "loss"  # the scalar every gradient is of (a computational graph's output node)

    @property
    def arch(self) -> Any:
        return self.model

    @property
    def layout(self) -> str:
        return self.model.layout

    @property
    def samples(self) -> int:
        return self.model.samples

    @property
    def depth(self) -> int:
        """Layers of a layered model (0 for a model without layers)."""
        return getattr(self.model, "depth", 0)

    @cached_property
    def parameters(self) -> tuple[Given, ...]:
        return tuple(g for g in self.given if g.name not in ("X", "Y"))

    def given_value(self, name: str) -> Given:
        return next(g for g in self.given if g.name == name)

    # -- the layers of a layered model, as their ops ask for them --

    def layer_op(self, l: int) -> Affine | BatchNorm | None:
        """The affine map or batch norm of layer l (None past the last layer)."""
        return next((op for op in self.ops if isinstance(op, (Affine, BatchNorm)) and op.l == l), None)

    def affine(self, l: int) -> Affine | None:
        op = self.layer_op(l)
        return op if isinstance(op, Affine) else None

    def activation(self, l: int) -> Activation:
        return next(op for op in self.ops if isinstance(op, Activation) and op.l == l)

    def gradients_before(self, l: int) -> list[str]:
        """Every gradient the backward pass computes for layers before layer l, and dA{l-1}."""
        out = [names.grad(names.of("A", l - 1))]
        for k in range(1, l):
            out.append(names.grad(names.of("Z", k)))
            if k > 1:
                out.append(names.grad(names.of("A", k - 1)))
            op = self.layer_op(k)
            if isinstance(op, Affine):
                out.append(names.grad(op.w))
                if op.bias != "none":
                    out.append(names.grad(op.b))
            else:
                out += [names.grad(names.of(base, k)) for base in ("gamma", "beta", "Xhat")]
        return out

    @cached_property
    def structural_zeros(self) -> dict[str, str]:
        """Quantities that are 0 (or, for batch norm over 2 samples, nearly 0) in every variant,
        whatever its numbers, each with the reason in one sentence a student can check."""
        found: dict[str, str] = {}
        for op in (*self.ops, *self.after):
            op.structural_zeros(self, found)
        return found

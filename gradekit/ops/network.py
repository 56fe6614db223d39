"""A problem's computation as operations in order, made from its architecture (gradekit.model.network).

`network_for(arch)` turns a multilayer perceptron's layers into ops: each dense layer is an
affine map and an activation, a batch-norm layer is the normalization and an activation; then
the loss, the prediction (for a classifier), and after the backward pass the update and the
loss after it. The engine (gradekit.engine.build) asks each op for its steps; everything else
asks the ops what they know.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property, lru_cache

from gradekit.model import names
from gradekit.model.network import Architecture, BatchNorm as BatchNormLayer, Dense
from gradekit.ops.activation import Activation
from gradekit.ops.base import Given, Op
from gradekit.ops.batchnorm import BatchNorm
from gradekit.ops.dense import Affine
from gradekit.ops.identity import Identity
from gradekit.ops.losses import LOSSES, LossOp, Prediction
from gradekit.ops.relu import LeakyRelu, Relu
from gradekit.ops.sgd import LossAfter, Sgd
from gradekit.ops.sigmoid import Sigmoid
from gradekit.ops.softmax import Softmax
from gradekit.ops.tanh import Tanh

ACTIVATIONS: dict[str, type[Activation]] = {
    "identity": Identity, "sigmoid": Sigmoid, "tanh": Tanh, "relu": Relu, "leaky_relu": LeakyRelu, "softmax": Softmax,
}
# The output activation a loss collapses with: dZ = scale (A - Y) instead of the chain through dA.
PAIRED = {("cross_entropy", "softmax"), ("binary_cross_entropy", "sigmoid")}


@dataclass(frozen=True)
class Network:
    """The ops of one architecture: `ops` in forward order (backward in reverse), `after` once
    the backward pass is done."""

    arch: Architecture
    ops: tuple[Op, ...]
    after: tuple[Op, ...]
    loss: LossOp

    @property
    def layout(self) -> str:
        return self.arch.layout

    @property
    def samples(self) -> int:
        return self.arch.samples

    @property
    def depth(self) -> int:
        return self.arch.depth

    @cached_property
    def given(self) -> tuple[Given, ...]:
        """Every value the problem states, in order: the inputs, the targets, each op's parameters."""
        inputs = Given("X", (self.samples, self.arch.inputs), "batch", "X")
        params = tuple(g for op in self.ops for g in op.given() if g.name != "Y")
        return (inputs, *self.loss.given(), *params)

    @cached_property
    def parameters(self) -> tuple[Given, ...]:
        return tuple(g for g in self.given if g.name not in ("X", "Y"))

    def given_value(self, name: str) -> Given:
        return next(g for g in self.given if g.name == name)

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
        """Gradients that are 0 (or, for batch norm over 2 samples, nearly 0) in every variant,
        whatever its numbers, each with the reason in one sentence a student can check."""
        found: dict[str, str] = {}
        for op in self.ops:
            op.structural_zeros(self, found)
        return found


def _layer_ops(arch: Architecture, l: int, layer: Dense | BatchNormLayer, loss: LossOp) -> tuple[Op, Activation]:
    fan_in = arch.fan_in(l)
    if isinstance(layer, Dense):
        first: Op = Affine(l, fan_in, layer.units, layer.bias)
    else:
        first = BatchNorm(l, layer.units, layer.eps)
    paired = loss if (l == arch.depth and (arch.loss.kind, layer.activation) in PAIRED) else None
    cls = ACTIVATIONS[layer.activation]
    activation = cls(l, layer.units, paired, layer.slope) if cls is LeakyRelu else cls(l, layer.units, paired)
    return first, activation


@lru_cache(maxsize=256)
def network_for(arch: Architecture) -> Network:
    """The ops of an architecture (cached: an architecture is a frozen value)."""
    out = names.of("A", arch.depth)
    loss = LOSSES[arch.loss.kind](out, arch.samples, arch.outputs, arch.loss.reduction, arch.loss.half)
    ops: list[Op] = []
    for l, layer in enumerate(arch.layers, start=1):
        ops += _layer_ops(arch, l, layer, loss)
    ops.append(loss)
    if arch.classifies:
        ops.append(Prediction(out, arch.loss.kind == "binary_cross_entropy"))
    params = tuple(g for op in ops for g in op.given() if g.name != "Y")
    after = (Sgd(params, arch.learning_rate), LossAfter(tuple(p.name for p in params)))
    return Network(arch, tuple(ops), after, loss)


def structural_zeros(arch: Architecture) -> dict[str, str]:
    """Gradients that the architecture makes 0 in every variant, with the reason (Network.structural_zeros)."""
    return network_for(arch).structural_zeros

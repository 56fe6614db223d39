"""The multilayer perceptron's network: each dense layer an affine map and an activation, a
batch-norm layer the normalization and an activation; then the loss, the prediction (for a
classifier), and after the backward pass the SGD update and the loss after it."""

from __future__ import annotations

from gradekit.model import names
from gradekit.model.network import Architecture, BatchNorm as BatchNormLayer, Dense, LayerNorm as LayerNormLayer
from gradekit.ops.activation import Activation
from gradekit.ops.base import Given, Op
from gradekit.ops.batchnorm import BatchNorm
from gradekit.ops.dense import Affine
from gradekit.ops.dropout import DropoutOp
from gradekit.ops.identity import Identity
from gradekit.ops.layernorm import LayerNorm
from gradekit.ops.losses import LOSSES, LossOp, Prediction
from gradekit.ops.network import Network
from gradekit.ops.relu import LeakyRelu, Relu
from gradekit.ops.sgd import LossAfter, Sgd
from gradekit.ops.sigmoid import Sigmoid
from gradekit.ops.softmax import Softmax
from gradekit.ops.tanh import Tanh
from gradekit.ops.weight_decay import WeightDecayOp

ACTIVATIONS: dict[str, type[Activation]] = {
    "identity": Identity, "sigmoid": Sigmoid, "tanh": Tanh, "relu": Relu, "leaky_relu": LeakyRelu, "softmax": Softmax,
}
# The output activation a loss collapses with: dZ = scale (A - Y) instead of the chain through dA.
PAIRED = {("cross_entropy", "softmax"), ("binary_cross_entropy", "sigmoid")}


def _decay(arch: Architecture) -> WeightDecayOp | None:
    """The L2 penalty of the network's weights (and biases, when the spec decays them)."""
    spec = arch.weight_decay
    if spec is None:
        return None
    params: list[tuple[str, bool]] = []
    for l, layer in enumerate(arch.layers, start=1):
        if isinstance(layer, Dense):
            params.append((names.of("W", l), False))
            if spec.biases and layer.bias != "none":
                params.append((names.of("b", l), layer.bias == "scalar"))
    return WeightDecayOp(spec, tuple(p for p, _ in params), tuple(s for _, s in params), arch.samples)


def _layer_ops(arch: Architecture, l: int, layer: Dense | BatchNormLayer | LayerNormLayer, loss: LossOp,
               decay: WeightDecayOp | None = None) -> tuple[Op, Activation]:
    fan_in = arch.fan_in(l)
    before = arch.layers[l - 2] if l > 1 else None
    source = names.of("D", l - 1) if getattr(before, "dropout", None) is not None else ""
    if isinstance(layer, Dense):
        if decay or source:
            first: Op = Affine(l, fan_in, layer.units, layer.bias, decay, source)
        else:
            first = Affine(l, fan_in, layer.units, layer.bias)
    elif isinstance(layer, LayerNormLayer):
        first = LayerNorm(l, layer.units, layer.eps)
    else:
        first = BatchNorm(l, layer.units, layer.eps)
    paired = loss if (l == arch.depth and (arch.loss.kind, layer.activation) in PAIRED) else None
    cls = ACTIVATIONS[layer.activation]
    activation = cls(l, layer.units, paired, layer.slope) if cls is LeakyRelu else cls(l, layer.units, paired)
    return first, activation


def mlp_network(arch: Architecture) -> Network:
    """The ops of a multilayer perceptron."""
    out = names.of("A", arch.depth)
    decay = _decay(arch)
    loss = LOSSES[arch.loss.kind](out, arch.samples, arch.outputs, arch.loss.reduction, arch.loss.half,
                                  names.DATA_LOSS if decay else names.LOSS)
    ops: list[Op] = []
    masks: list[Op] = []
    for l, layer in enumerate(arch.layers, start=1):
        ops += _layer_ops(arch, l, layer, loss, decay)
        if isinstance(layer, Dense) and layer.dropout is not None:
            masks.append(DropoutOp(l, layer.units, arch.samples, layer.dropout))
            ops.append(masks[-1])
    ops.append(loss)
    if decay is not None:
        ops.append(decay)
    if arch.classifies:
        ops.append(Prediction(out, arch.loss.kind == "binary_cross_entropy"))
    held = tuple(g for op in masks for g in op.given())  # dropout masks: given like X, never updated
    params = tuple(g for op in ops for g in op.given() if g.name != "Y" and g not in held)
    given = (Given("X", (arch.samples, arch.inputs), "batch", "X"), *loss.given(), *held, *params)
    after = (Sgd(params, arch.learning_rate), LossAfter(tuple(p.name for p in params), tuple(g.name for g in held)))
    return Network(arch, tuple(ops), after, given, loss)

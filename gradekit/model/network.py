"""The architecture of a small network: frozen values that say what to compute, never numbers.

Every family of problems (the multilayer perceptron here; computational graphs, optimizers,
convolutions, recurrent networks each in a module of their own) has such a model: a frozen,
hashable value that satisfies `Model`. gradekit.ops.families turns a model into its operations.

A network is a sequence of layers applied in order; layer `l` (counted from 1) produces `Z{l}`
(pre-activation) and `A{l}` (activation). Numbers (X, Y, W{l}, ...) live in a separate
name -> array mapping so that the same architecture can be sampled many times.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import ClassVar, Literal, Protocol, Union

from gradekit.model import names

Layout = Literal["rows", "columns"]
ActivationName = Literal["identity", "sigmoid", "tanh", "relu", "leaky_relu", "softmax"]
BiasKind = Literal["vector", "scalar", "none"]
LossKind = Literal["mse", "cross_entropy", "binary_cross_entropy"]
Reduction = Literal["mean", "sum"]

ACTIVATIONS: tuple[str, ...] = ("identity", "sigmoid", "tanh", "relu", "leaky_relu", "softmax")
BIAS_KINDS: tuple[str, ...] = ("vector", "scalar", "none")
LOSS_KINDS: tuple[str, ...] = ("mse", "cross_entropy", "binary_cross_entropy")
REDUCTIONS: tuple[str, ...] = ("mean", "sum")
LAYOUTS: tuple[str, ...] = ("rows", "columns")


class Model(Protocol):
    """What every family's model says about itself (frozen and hashable: it keys caches)."""

    family: ClassVar[str]  # "mlp", "circuit", ...: the spec's `family`, and which ops it becomes
    layout: Layout  # how its matrices are written: samples as rows, or as columns
    samples: int

    def given_names(self) -> tuple[str, ...]:
        """Every value a problem states, in order."""
        ...


@dataclass(frozen=True)
class Dropout:
    """Dropout on a layer's activation at training time, with the mask given on the sheet.

    `rate` is the probability the sheet names: of keeping a unit (`named` "keep") or of dropping
    it ("drop"). Inverted dropout scales the kept activations by 1 / keep at training time.
    """

    rate: float
    named: Literal["keep", "drop"] = "keep"
    inverted: bool = True

    @property
    def keep(self) -> float:
        return self.rate if self.named == "keep" else 1.0 - self.rate

    @property
    def drop(self) -> float:
        return 1.0 - self.keep


@dataclass(frozen=True)
class WeightDecay:
    """L2 weight decay: the penalty R = c * sum of the squared weights (and biases, if `biases`) of
    every layer, added to the loss; c = strength * (1/2 if half) * (1/N if divide_by_n)."""

    strength: float  # lambda
    half: bool = True  # lambda/2 ||W||^2 (else lambda ||W||^2)
    biases: bool = False
    divide_by_n: bool = False

    def coefficient(self, samples: int) -> float:
        """c in R = c * sum ||W||^2."""
        return self.strength * (0.5 if self.half else 1.0) / (samples if self.divide_by_n else 1)


@dataclass(frozen=True)
class Dense:
    """Affine map then an elementwise (or softmax) activation: A = f(A_prev W + b)."""

    units: int
    activation: ActivationName = "identity"
    bias: BiasKind = "vector"
    slope: float = 0.01  # leaky_relu's slope for negative inputs
    dropout: Dropout | None = None  # dropout on this layer's activation, with a mask given like X

    kind = "dense"


@dataclass(frozen=True)
class BatchNorm:
    """Batch normalization in training mode (batch statistics), then an activation.

    Its units equal the previous layer's; gamma and beta have one entry per unit.
    """

    units: int
    activation: ActivationName = "identity"
    eps: float = 1e-5
    slope: float = 0.01

    kind = "batch_norm"


@dataclass(frozen=True)
class LayerNorm:
    """Layer normalization (statistics over the units of each sample), then an activation.

    Its units equal the previous layer's; gamma and beta have one entry per unit.
    """

    units: int
    activation: ActivationName = "identity"
    eps: float = 1e-5
    slope: float = 0.01

    kind = "layer_norm"


Layer = Union[Dense, BatchNorm, LayerNorm]


@dataclass(frozen=True)
class Loss:
    """The loss and its convention: `scale * sum over samples`, scale = (1/2 if half) * (1/N if mean)."""

    kind: LossKind
    reduction: Reduction = "mean"
    half: bool = False  # only meaningful for mse: L = 1/2 * sum (A - Y)^2

    def scale(self, samples: int) -> float:
        factor = 0.5 if (self.kind == "mse" and self.half) else 1.0
        return factor / samples if self.reduction == "mean" else factor


@dataclass(frozen=True)
class Architecture:
    """Everything about a multilayer perceptron except its numbers (family "mlp")."""

    family: ClassVar[str] = "mlp"
    layout: Layout
    inputs: int
    samples: int
    layers: tuple[Layer, ...]
    loss: Loss
    learning_rate: float = 0.1
    weight_decay: WeightDecay | None = None

    @property
    def depth(self) -> int:
        return len(self.layers)

    @property
    def outputs(self) -> int:
        return self.layers[-1].units

    @property
    def classifies(self) -> bool:
        """Whether `pred` (predicted classes) is meaningful."""
        return self.loss.kind in ("cross_entropy", "binary_cross_entropy")

    def fan_in(self, l: int) -> int:
        """Units feeding layer l (1-based)."""
        return self.inputs if l == 1 else self.layers[l - 2].units

    def parameter_names(self) -> tuple[str, ...]:
        """Trainable parameters in layer order, as named in the trace."""
        return _parameter_names(self.layers)

    def mask_names(self) -> tuple[str, ...]:
        """The dropout masks a problem states (given like X, never updated)."""
        return tuple(names.of("M", l) for l, layer in enumerate(self.layers, start=1)
                     if getattr(layer, "dropout", None) is not None)

    def given_names(self) -> tuple[str, ...]:
        """Every value a problem states: inputs, targets, dropout masks, parameters."""
        return ("X", "Y", *self.mask_names(), *_parameter_names(self.layers))


@lru_cache(maxsize=256)
def _parameter_names(layers: tuple[Layer, ...]) -> tuple[str, ...]:
    # Cached: asked for on every evaluation of every instance.
    out: list[str] = []
    for l, layer in enumerate(layers, start=1):
        if isinstance(layer, Dense):
            out.append(names.of("W", l))
            if layer.bias != "none":
                out.append(names.of("b", l))
        else:
            out += [names.of("gamma", l), names.of("beta", l)]
    return tuple(out)

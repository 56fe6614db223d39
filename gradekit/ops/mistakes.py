"""The catalogue of recognizable mistakes: the wrong value each known mistake would give.

Every entry of the catalogue is a real wrong computation on the instance's own numbers (the
mistakes the seed notebooks make: a transposed matrix, a forgotten 1/N, the softmax Jacobian
with A twice, a scalar bias gradient summed per class, ...). When the student's numbers match
one, the feedback names it. The catalogue computes on `Values`: one instance's values (from a
trace), or a stack of many instances' (a leading axis), so that the sampler can ask of a whole
batch of candidates at once whether a mistake would be graded right (`confusable`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Mapping

import numpy as np

from gradekit.ops import layers as L
from gradekit.model.network import BatchNorm, Dense
from gradekit.model.problem import Problem

Array = np.ndarray


@dataclass(frozen=True)
class Mistake:
    """A wrong value, the words that explain it, and a stable id (for reports and item analysis:
    the words may be reworded, the id stays)."""

    id: str
    message: str
    value: Array


@dataclass(frozen=True)
class Values:
    """What the catalogue computes from: an instance's values in `layout`, or a stack of instances'
    (`stacked`: every value has a leading axis, one entry per instance)."""

    layout: str
    values: Mapping[str, Array]
    steps: Mapping[str, Any]  # name -> the engine's Step (its rows_compute redoes the step)
    stacked: bool = False

    @classmethod
    def of(cls, trace: Any) -> Values:
        """From an engine Trace (its layout, values and steps)."""
        return cls(trace.layout, trace.values, {s.name: s for s in trace.steps})

    def __getitem__(self, name: str) -> Array:
        return np.asarray(self.values[name])

    def __contains__(self, name: object) -> bool:
        return name in self.values

    def matrix(self, value: Array) -> bool:
        """Whether a value is a matrix of one instance (not a scalar or a vector)."""
        return np.ndim(value) - self.stacked == 2

    def T(self, value: Array) -> Array:
        """The transpose of each instance's matrix."""
        return np.swapaxes(value, -1, -2) if self.matrix(value) else value

    def rows(self, name: str) -> Array:
        """A value in the rows layout (samples on axis -2, units on axis -1)."""
        return self.T(self[name]) if self.layout == "columns" else self[name]

    def back(self, value: Array) -> Array:
        """A rows-layout value back in this layout."""
        return self.T(value) if self.layout == "columns" else value

    def stage(self, name: str) -> str:
        return self.steps[name].stage

    def recompute(self, name: str, overrides: Mapping[str, Array]) -> Array:
        """The step of `name` redone with `overrides` (in this layout) for some of its inputs."""
        step = self.steps[name]
        args = [self.T(np.asarray(overrides[d])) if d in overrides and self.layout == "columns"
                else overrides[d] if d in overrides else self.rows(d) for d in step.deps]
        return self.back(np.asarray(step.rows_compute(*args), dtype=float))


Catalogue = Callable[[Problem, Values, str], Iterator[Mistake]]
_LAYER = re.compile(r"^(d?)(Z|A|W|b|gamma|beta)(\d+)(_new)?$")


def _layer_of(name: str) -> tuple[str, str, int, bool] | None:
    m = _LAYER.match(name)
    return (m[1], m[2], int(m[3]), bool(m[4])) if m else None


def forward_step(problem: Problem, v: Values, name: str) -> Iterator[Mistake]:
    """A forward step done halfway: the bias not added, the activation not applied."""
    parsed = _layer_of(name)
    if not parsed or parsed[0] or parsed[3]:
        return
    _, kind, l, _ = parsed
    layer = problem.arch.layers[l - 1]
    if kind == "Z" and isinstance(layer, Dense) and layer.bias != "none":
        bias = f"b{l}"
        yield Mistake("bias_not_added", f"the bias {bias} was not added: Z{l} = (layer input times W{l}) + {bias}",
                      v.recompute(name, {bias: np.zeros_like(v[bias])}))
    if kind == "A" and layer.activation != "identity":
        yield Mistake("activation_not_applied", f"the {layer.activation} activation was not applied: A{l} = {layer.activation}(Z{l})",
                      v[f"Z{l}"])


def transposed(problem: Problem, v: Values, name: str) -> Iterator[Mistake]:
    x = v[name]
    if v.matrix(x) and min(x.shape[-2:]) > 1:
        yield Mistake("transposed", "the matrix is transposed: check which index is the sample and which the unit "
                      f"(this problem puts samples in {'rows' if problem.arch.layout == 'rows' else 'columns'})",
                      v.T(x))


def off_by_samples(problem: Problem, v: Values, name: str) -> Iterator[Mistake]:
    n = problem.arch.samples
    reduction = problem.arch.loss.reduction
    if n == 1 or v.stage(name) not in ("loss", "backward", "after"):
        return
    x = v[name]
    if reduction == "mean":
        yield Mistake("mean_factor_missing", f"off by a factor of N = {n}: the loss is the MEAN over the samples, so the 1/N belongs "
                      "in the loss and in every gradient", x * n)
        yield Mistake("mean_factor_twice", f"divided by N = {n} once too often: the 1/N of the mean enters once, at the output", x / n)
    else:
        yield Mistake("sum_divided_by_n", f"divided by N = {n}: this loss is the SUM over the samples, not the mean", x / n)


def off_by_two(problem: Problem, v: Values, name: str) -> Iterator[Mistake]:
    if problem.arch.loss.kind != "mse" or v.stage(name) not in ("backward",):
        return
    x = v[name]
    if problem.arch.loss.half:
        yield Mistake("half_not_cancelled", "off by a factor of 2: the 1/2 in the loss cancels the 2 from the square", x * 2)
    else:
        yield Mistake("square_factor_dropped", "off by a factor of 2: this loss has no 1/2, so the derivative of the square keeps its 2", x / 2)


def update_sign(problem: Problem, v: Values, name: str) -> Iterator[Mistake]:
    if name.endswith("_new") and name != "loss_new":
        p = name[: -len("_new")]
        yield Mistake("update_sign", "sign error in the update: gradient descent SUBTRACTS the learning rate times the gradient",
                      v[p] + problem.arch.learning_rate * v[f"d{p}"])
        yield Mistake("learning_rate_missing", "the learning rate is missing from the update", v[p] - v[f"d{p}"])


def activation_derivative(problem: Problem, v: Values, name: str) -> Iterator[Mistake]:
    parsed = _layer_of(name)
    if not parsed or parsed[:2] != ("d", "Z") or parsed[3]:
        return
    l = parsed[2]
    layer = problem.arch.layers[l - 1]
    act = layer.activation
    if f"dA{l}" not in v or act in ("identity", "softmax"):
        return
    da, a, z = (v[f"{k}{l}"] for k in ("dA", "A", "Z"))
    yield Mistake("activation_derivative_missing", f"the {act} derivative is missing: dZ = dA times the derivative of the activation at Z", da)
    if act == "sigmoid":
        s = L.sigmoid(a)
        yield Mistake("sigmoid_derivative_at_activation", "the sigmoid derivative was taken at the activation A instead of the pre-activation Z: "
                      "use A(1 - A), not sigma(A)(1 - sigma(A))", da * s * (1 - s))
        yield Mistake("sigmoid_derivative_of_preactivation", "the sigmoid derivative was written as sigma(Z)(1 - sigma(Z)) with Z in place of sigma(Z): "
                      "use A(1 - A)", da * z * (1 - z))
    elif act == "tanh":
        yield Mistake("tanh_derivative_at_activation", "the tanh derivative was taken at the activation instead of the pre-activation: "
                      "use 1 - A^2 with A = tanh(Z)", da * (1 - np.tanh(a) ** 2))
        yield Mistake("tanh_derivative_of_preactivation", "the tanh derivative is 1 - tanh(Z)^2 = 1 - A^2, not 1 - Z^2", da * (1 - z**2))
    elif act in ("relu", "leaky_relu"):
        yield Mistake("relu_mask_from_gradient", "the ReLU mask came from the sign of dA; it must come from the sign of Z",
                      da * (da > 0) if act == "relu" else da * np.where(da > 0, 1.0, layer.slope))
        yield Mistake("relu_mask_flipped", "the ReLU mask is flipped: the gradient passes where Z > 0 and is 0 where Z < 0",
                      da * (z < 0) if act == "relu" else da * np.where(z < 0, 1.0, layer.slope))


def bias_not_summed(problem: Problem, v: Values, name: str) -> Iterator[Mistake]:
    parsed = _layer_of(name)
    if not parsed or parsed[:2] != ("d", "b") or parsed[3]:
        return
    l = parsed[2]
    layer = problem.arch.layers[l - 1]
    if not isinstance(layer, Dense):
        return
    dz = v.rows(f"dZ{l}")  # samples on axis -2, units on axis -1
    n = problem.arch.samples
    if layer.bias == "scalar":
        yield Mistake("scalar_bias_per_unit", "one scalar bias is added to every unit and every sample, so its gradient is the sum "
                      "of ALL entries of dZ, not one sum per unit", v.back(dz.sum(axis=-2, keepdims=True)))
        yield Mistake("scalar_bias_per_sample", "one scalar bias is added to every unit and every sample, so its gradient is the sum "
                      "of ALL entries of dZ, not one sum per sample", v.back(dz.sum(axis=-1, keepdims=True)))
    elif n > 1:
        yield Mistake("bias_gradient_mean", "the bias gradient sums dZ over the samples; this is the mean",
                      v.back(dz.sum(axis=-2, keepdims=True) / n))
        yield Mistake("bias_gradient_over_units", "the bias gradient sums dZ over the SAMPLES, not over the units",
                      v.back(dz.sum(axis=-1, keepdims=True)))
        for i in range(n):
            yield Mistake("bias_gradient_one_sample", "the bias gradient is the sum of dZ over all samples, not one sample's row",
                          v.back(dz[..., i:i + 1, :]))


def weight_gradient_input(problem: Problem, v: Values, name: str) -> Iterator[Mistake]:
    """dW{l} = (input)^T dZ{l} with the wrong input: the pre-activation Z{l-1}, or the activation
    of another layer (any that has the input's shape)."""
    parsed = _layer_of(name)
    if not parsed or parsed[:2] != ("d", "W") or parsed[3]:
        return
    l = parsed[2]
    dz = v.rows(f"dZ{l}")
    right = "X" if l == 1 else f"A{l - 1}"
    shape = v.rows(right).shape
    if l > 1 and f"Z{l - 1}" in v:
        yield Mistake("weight_gradient_from_preactivation", f"dW{l} was computed from the pre-activation Z{l - 1}; it takes layer {l}'s input, the "
                      f"activation A{l - 1} = f(Z{l - 1})", v.back(np.swapaxes(v.rows(f"Z{l - 1}"), -1, -2) @ dz))
    for m in range(problem.arch.depth + 1):
        other = "X" if m == 0 else f"A{m}"
        if other == right or other not in v or v.rows(other).shape != shape:
            continue
        yield Mistake("weight_gradient_wrong_input", f"dW{l} was computed from {other}; it takes layer {l}'s own input, {right}",
                      v.back(np.swapaxes(v.rows(other), -1, -2) @ dz))


def updated_too_early(problem: Problem, v: Values, name: str) -> Iterator[Mistake]:
    parsed = _layer_of(name)
    if not parsed or parsed[:2] != ("d", "A") or parsed[3]:
        return
    l = parsed[2] + 1
    if l > problem.arch.depth or not isinstance(problem.arch.layers[l - 1], Dense) or f"W{l}_new" not in v:
        return
    yield Mistake("updated_before_backward", f"W{l} was updated before its gradient was passed back: dA{l - 1} uses the OLD weights",
                  v.recompute(name, {f"W{l}": v[f"W{l}_new"]}) if f"W{l}" in v.steps[name].deps else v[name])


def softmax_normalization(problem: Problem, v: Values, name: str) -> Iterator[Mistake]:
    depth = problem.arch.depth
    if problem.arch.layers[-1].activation != "softmax":
        return
    if name == f"A{depth}":
        z = v.rows(f"Z{depth}")
        e = np.exp(z - z.max(axis=(-2, -1), keepdims=True))
        yield Mistake("softmax_over_samples", "softmax normalized over the samples; each sample's probabilities over the CLASSES sum to 1",
                      v.back(e / e.sum(axis=-2, keepdims=True)))
        yield Mistake("softmax_unnormalized", "softmax without normalization: divide each exp by the sum over the classes", v.back(np.exp(z)))
    if name == f"dZ{depth}" and f"dA{depth}" in v:
        a, da = v.rows(f"A{depth}"), v.rows(f"dA{depth}")
        s = (a * da).sum(axis=-1, keepdims=True)
        yield Mistake("softmax_jacobian_a_twice", "the softmax Jacobian has A twice in its second term: dZ = A(dA - sum(A dA)), "
                      "i.e. A*dA - A*sum(A*dA)", v.back(a * da - a * (a * s)))
        yield Mistake("softmax_jacobian_over_samples", "the softmax Jacobian was summed over the samples instead of the classes",
                      v.back(a * (da - (a * da).sum(axis=-2, keepdims=True))))


def batchnorm_mistakes(problem: Problem, v: Values, name: str) -> Iterator[Mistake]:
    m = re.match(r"^(var|Xhat|dbeta|dgamma)(\d+)$", name)
    if not m or not isinstance(problem.arch.layers[int(m[2]) - 1], BatchNorm):
        return
    l, n = int(m[2]), problem.arch.samples
    if m[1] == "var" and n > 1:
        yield Mistake("batch_variance_unbiased", "the batch variance divides by N (biased, as in training), not N - 1", v[name] * n / (n - 1))
    if m[1] in ("dbeta", "dgamma"):
        dz = v.rows(f"dZ{l}")
        factor = dz if m[1] == "dbeta" else dz * v.rows(f"Xhat{l}")
        yield Mistake("norm_gradient_over_units", f"{m[1]} sums over the SAMPLES (one value per unit), not over the units",
                      v.back(factor.sum(axis=-1, keepdims=True)))


# Specific mistakes first: a bias gradient averaged over the samples is also "off by N", but
# the specific message tells the student more.
CATALOGUE: tuple[Catalogue, ...] = (
    forward_step, transposed, update_sign, activation_derivative, bias_not_summed, weight_gradient_input, updated_too_early,
    softmax_normalization, batchnorm_mistakes, off_by_samples, off_by_two,
)


def confusable(problem: Problem, values: Values, allow: Mapping[str, Array]) -> Array:
    """Per instance of a stack: whether some catalogued mistake in an asked quantity would be
    graded right (within the allowance of the key in every entry) though it prints differently at
    the sheet's decimals. Such a variant cannot tell that mistake from rounding; the sampler
    rejects it (quality rule `distinct_mistakes`). `values` and `allow` are stacked alike."""
    decimals = problem.decimals
    out = np.zeros(len(values[problem.asked[0]]), dtype=bool)
    with np.errstate(all="ignore"):
        for name in problem.asked:
            if name == "pred":
                continue  # class labels: a mistake in them is a different label, never within a margin
            key, margin = values[name], allow[name]
            axes = tuple(range(1, key.ndim))  # every entry of one instance
            for mistake in mistakes(problem, values, name):
                wrong = np.asarray(mistake.value, dtype=float)
                if wrong.shape != key.shape:
                    continue
                within = np.all(np.abs(wrong - key) <= margin, axis=axes)
                prints_apart = np.any(np.round(wrong, decimals) != np.round(key, decimals), axis=axes)
                out |= within & prints_apart
    return out


def mistakes(problem: Problem, values: Any, name: str) -> Iterator[Mistake]:
    """Every catalogued mistake for an asked quantity, in catalogue order (most specific first);
    `values` is a Values or an engine Trace."""
    values = values if isinstance(values, Values) else Values.of(values)
    for family in CATALOGUE:
        yield from family(problem, values, name)

"""Name a recognizable mistake: recompute the wrong value each known mistake would give.

Every entry of the catalogue is a real wrong computation on the instance's own numbers (the
mistakes the seed notebooks make: a transposed matrix, a forgotten 1/N, the softmax Jacobian
with A twice, a scalar bias gradient summed per class, ...). When the student's numbers match
one, the feedback names it. All values are in the problem's layout; computations that depend
on the layout run in the rows layout on transposed values.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Iterator

import numpy as np

from gradekit import layers as L
from gradekit.compare import matches
from gradekit.network import BatchNorm, Dense
from gradekit.spec import Problem
from gradekit.trace import Trace, transpose2d

Array = np.ndarray


@dataclass(frozen=True)
class Mistake:
    """A wrong value and the words that explain it."""

    message: str
    value: Array


Catalogue = Callable[[Problem, Trace, str], Iterator[Mistake]]
_LAYER = re.compile(r"^(d?)(Z|A|W|b|gamma|beta)(\d+)(_new)?$")


def _rows(trace: Trace, name: str) -> Array:
    """A trace value in the rows layout."""
    v = np.asarray(trace[name])
    return transpose2d(v) if trace.layout == "columns" else v


def _back(trace: Trace, value: Array) -> Array:
    """A rows-layout value back in the problem's layout."""
    return transpose2d(value) if trace.layout == "columns" else value


def _layer_of(name: str) -> tuple[str, str, int, bool] | None:
    m = _LAYER.match(name)
    return (m[1], m[2], int(m[3]), bool(m[4])) if m else None


def forward_step(problem: Problem, trace: Trace, name: str) -> Iterator[Mistake]:
    """A forward step done halfway: the bias not added, the activation not applied."""
    parsed = _layer_of(name)
    if not parsed or parsed[0] or parsed[3]:
        return
    _, kind, l, _ = parsed
    layer = problem.arch.layers[l - 1]
    if kind == "Z" and isinstance(layer, Dense) and layer.bias != "none":
        bias = f"b{l}"
        yield Mistake(f"the bias {bias} was not added: Z{l} = (layer input times W{l}) + {bias}",
                      trace.recompute(name, {bias: np.zeros_like(np.asarray(trace[bias]))}))
    if kind == "A" and layer.activation != "identity":
        yield Mistake(f"the {layer.activation} activation was not applied: A{l} = {layer.activation}(Z{l})",
                      np.asarray(trace[f"Z{l}"]))


def transposed(problem: Problem, trace: Trace, name: str) -> Iterator[Mistake]:
    v = np.asarray(trace[name])
    if v.ndim == 2 and min(v.shape) > 1:
        yield Mistake("the matrix is transposed: check which index is the sample and which the unit "
                      f"(this problem puts samples in {'rows' if problem.arch.layout == 'rows' else 'columns'})",
                      v.T)


def off_by_samples(problem: Problem, trace: Trace, name: str) -> Iterator[Mistake]:
    n = problem.arch.samples
    reduction = problem.arch.loss.reduction
    if n == 1 or trace.step(name).stage not in ("loss", "backward", "after"):
        return
    v = np.asarray(trace[name])
    if reduction == "mean":
        yield Mistake(f"off by a factor of N = {n}: the loss is the MEAN over the samples, so the 1/N belongs "
                      "in the loss and in every gradient", v * n)
        yield Mistake(f"divided by N = {n} once too often: the 1/N of the mean enters once, at the output", v / n)
    else:
        yield Mistake(f"divided by N = {n}: this loss is the SUM over the samples, not the mean", v / n)


def off_by_two(problem: Problem, trace: Trace, name: str) -> Iterator[Mistake]:
    if problem.arch.loss.kind != "mse" or trace.step(name).stage not in ("backward",):
        return
    v = np.asarray(trace[name])
    if problem.arch.loss.half:
        yield Mistake("off by a factor of 2: the 1/2 in the loss cancels the 2 from the square", v * 2)
    else:
        yield Mistake("off by a factor of 2: this loss has no 1/2, so the derivative of the square keeps its 2", v / 2)


def update_sign(problem: Problem, trace: Trace, name: str) -> Iterator[Mistake]:
    if name.endswith("_new") and name != "loss_new":
        p = name[: -len("_new")]
        yield Mistake("sign error in the update: gradient descent SUBTRACTS the learning rate times the gradient",
                      np.asarray(trace[p]) + problem.arch.learning_rate * np.asarray(trace[f"d{p}"]))
        yield Mistake("the learning rate is missing from the update", np.asarray(trace[p]) - np.asarray(trace[f"d{p}"]))


def activation_derivative(problem: Problem, trace: Trace, name: str) -> Iterator[Mistake]:
    parsed = _layer_of(name)
    if not parsed or parsed[:2] != ("d", "Z") or parsed[3]:
        return
    l = parsed[2]
    layer = problem.arch.layers[l - 1]
    act = layer.activation
    if f"dA{l}" not in trace or act in ("identity", "softmax"):
        return
    da, a, z = (np.asarray(trace[f"{k}{l}"]) for k in ("dA", "A", "Z"))
    yield Mistake(f"the {act} derivative is missing: dZ = dA times the derivative of the activation at Z", da)
    if act == "sigmoid":
        s = L.sigmoid(a)
        yield Mistake("the sigmoid derivative was taken at the activation A instead of the pre-activation Z: "
                      "use A(1 - A), not sigma(A)(1 - sigma(A))", da * s * (1 - s))
        yield Mistake("the sigmoid derivative was written as sigma(Z)(1 - sigma(Z)) with Z in place of sigma(Z): "
                      "use A(1 - A)", da * z * (1 - z))
    elif act == "tanh":
        yield Mistake("the tanh derivative was taken at the activation instead of the pre-activation: "
                      "use 1 - A^2 with A = tanh(Z)", da * (1 - np.tanh(a) ** 2))
        yield Mistake("the tanh derivative is 1 - tanh(Z)^2 = 1 - A^2, not 1 - Z^2", da * (1 - z**2))
    elif act in ("relu", "leaky_relu"):
        yield Mistake("the ReLU mask came from the sign of dA; it must come from the sign of Z",
                      da * (da > 0) if act == "relu" else da * np.where(da > 0, 1.0, layer.slope))
        yield Mistake("the ReLU mask is flipped: the gradient passes where Z > 0 and is 0 where Z < 0",
                      da * (z < 0) if act == "relu" else da * np.where(z < 0, 1.0, layer.slope))


def bias_not_summed(problem: Problem, trace: Trace, name: str) -> Iterator[Mistake]:
    parsed = _layer_of(name)
    if not parsed or parsed[:2] != ("d", "b") or parsed[3]:
        return
    l = parsed[2]
    layer = problem.arch.layers[l - 1]
    if not isinstance(layer, Dense):
        return
    dz = _rows(trace, f"dZ{l}")
    n = problem.arch.samples
    if layer.bias == "scalar":
        yield Mistake("one scalar bias is added to every unit and every sample, so its gradient is the sum "
                      "of ALL entries of dZ, not one sum per unit", _back(trace, dz.sum(axis=0, keepdims=True)))
        yield Mistake("one scalar bias is added to every unit and every sample, so its gradient is the sum "
                      "of ALL entries of dZ, not one sum per sample", _back(trace, dz.sum(axis=1, keepdims=True)))
    elif n > 1:
        yield Mistake("the bias gradient sums dZ over the samples; this is the mean", _back(trace, dz.mean(axis=0, keepdims=True)))
        yield Mistake("the bias gradient sums dZ over the SAMPLES, not over the units",
                      _back(trace, dz.sum(axis=1, keepdims=True)))
        for i in range(n):
            yield Mistake("the bias gradient is the sum of dZ over all samples, not one sample's row",
                          _back(trace, dz[i:i + 1]))


def weight_gradient_input(problem: Problem, trace: Trace, name: str) -> Iterator[Mistake]:
    """dW{l} = (input)^T dZ{l} with the wrong input: the pre-activation Z{l-1}, or the activation
    of another layer (any that has the input's shape)."""
    parsed = _layer_of(name)
    if not parsed or parsed[:2] != ("d", "W") or parsed[3]:
        return
    l = parsed[2]
    dz = _rows(trace, f"dZ{l}")
    right = "X" if l == 1 else f"A{l - 1}"
    shape = _rows(trace, right).shape
    if l > 1 and f"Z{l - 1}" in trace:
        yield Mistake(f"dW{l} was computed from the pre-activation Z{l - 1}; it takes layer {l}'s input, the "
                      f"activation A{l - 1} = f(Z{l - 1})", _back(trace, _rows(trace, f"Z{l - 1}").T @ dz))
    for m in range(problem.arch.depth + 1):
        other = "X" if m == 0 else f"A{m}"
        if other == right or other not in trace or _rows(trace, other).shape != shape:
            continue
        yield Mistake(f"dW{l} was computed from {other}; it takes layer {l}'s own input, {right}",
                      _back(trace, _rows(trace, other).T @ dz))


def updated_too_early(problem: Problem, trace: Trace, name: str) -> Iterator[Mistake]:
    parsed = _layer_of(name)
    if not parsed or parsed[:2] != ("d", "A") or parsed[3]:
        return
    l = parsed[2] + 1
    if l > problem.arch.depth or not isinstance(problem.arch.layers[l - 1], Dense) or f"W{l}_new" not in trace:
        return
    step = trace.step(name)
    yield Mistake(f"W{l} was updated before its gradient was passed back: dA{l - 1} uses the OLD weights",
                  trace.recompute(name, {f"W{l}": trace[f"W{l}_new"]}) if f"W{l}" in step.deps else trace[name])


def softmax_normalization(problem: Problem, trace: Trace, name: str) -> Iterator[Mistake]:
    depth = problem.arch.depth
    if problem.arch.layers[-1].activation != "softmax":
        return
    if name == f"A{depth}":
        z = _rows(trace, f"Z{depth}")
        e = np.exp(z - z.max())
        yield Mistake("softmax normalized over the samples; each sample's probabilities over the CLASSES sum to 1",
                      _back(trace, e / e.sum(axis=0, keepdims=True)))
        yield Mistake("softmax without normalization: divide each exp by the sum over the classes", _back(trace, np.exp(z)))
    if name == f"dZ{depth}":
        a = _rows(trace, f"A{depth}")
        da = _rows(trace, f"dA{depth}") if f"dA{depth}" in trace else None
        if da is not None:
            s = (a * da).sum(axis=1, keepdims=True)
            yield Mistake("the softmax Jacobian has A twice in its second term: dZ = A(dA - sum(A dA)), "
                          "i.e. A*dA - A*sum(A*dA)", _back(trace, a * da - a * (a * s)))
            yield Mistake("the softmax Jacobian was summed over the samples instead of the classes",
                          _back(trace, a * (da - (a * da).sum(axis=0, keepdims=True))))


def batchnorm_mistakes(problem: Problem, trace: Trace, name: str) -> Iterator[Mistake]:
    m = re.match(r"^(var|Xhat|dbeta|dgamma)(\d+)$", name)
    if not m or not isinstance(problem.arch.layers[int(m[2]) - 1], BatchNorm):
        return
    l, n = int(m[2]), problem.arch.samples
    if m[1] == "var" and n > 1:
        yield Mistake("the batch variance divides by N (biased, as in training), not N - 1",
                      np.asarray(trace[name]) * n / (n - 1))
    if m[1] in ("dbeta", "dgamma"):
        dz = _rows(trace, f"dZ{l}")
        factor = dz if m[1] == "dbeta" else dz * _rows(trace, f"Xhat{l}")
        yield Mistake(f"{m[1]} sums over the SAMPLES (one value per unit), not over the units",
                      _back(trace, factor.sum(axis=1, keepdims=True)))


# Specific mistakes first: a bias gradient averaged over the samples is also "off by N", but
# the specific message tells the student more.
CATALOGUE: tuple[Catalogue, ...] = (
    forward_step, transposed, update_sign, activation_derivative, bias_not_summed, weight_gradient_input, updated_too_early,
    softmax_normalization, batchnorm_mistakes, off_by_samples, off_by_two,
)
MAX_READINGS = 3  # several mistakes can give one wrong value: name them all, up to this many


def readings(problem: Problem, trace: Trace, name: str, raw: np.ndarray | None, allow: np.ndarray) -> list[str]:
    """Every catalogued mistake whose wrong value the student's numbers match, in catalogue order.

    `allow` is the quantity's allowance per entry (the key's): a mistake's value is recognized
    within the same margin as the right one.
    """
    if raw is None:
        return []
    key = np.asarray(trace[name])
    found: list[str] = []
    with np.errstate(all="ignore"):
        for family in CATALOGUE:
            for mistake in family(problem, trace, name):
                # A "mistake" that gives the right value (a ReLU mask that happens to agree) is no mistake.
                wrong = np.asarray(mistake.value, dtype=float)
                if mistake.message not in found and matches(raw, wrong, allow) and not matches(wrong, key, allow):
                    found.append(mistake.message)
    return found


def diagnose(problem: Problem, trace: Trace, name: str, raw: np.ndarray | None, allow: np.ndarray) -> str | None:
    """The catalogued mistake the student's numbers match, in words; when several mistakes give
    the same value, every reading ("off by 2: ...; or: ..."), most specific first."""
    found = readings(problem, trace, name, raw, allow)
    if not found:
        return None
    if len(found) == 1:
        return found[0]
    shown = found[:MAX_READINGS]
    return f"{len(shown)} readings of the same numbers: " + "; or: ".join(shown)

"""Build the steps of a network's trace and evaluate them: forward, loss, backward, update, loss after.

`steps_for(arch)` lists every named quantity with its formula, dependencies and function (cached:
an architecture is a frozen value, so grading thousands of submissions of one problem builds
its steps once). `run(arch, given)` evaluates them on the given X, Y and parameters.
"""

from __future__ import annotations

from dataclasses import replace
from functools import lru_cache
from typing import Callable, Mapping

import numpy as np

from gradekit.ops import layers as L
from gradekit.ops import losses
from gradekit.model.network import Architecture, BatchNorm, Dense
from gradekit.model.notation import INDICATOR, layer_input, tex, tex_constant, transposed
from gradekit.engine.trace import Step, Trace, evaluate_steps, in_layout

Array = np.ndarray


def _num(x: float) -> str:
    """A constant as it appears in a formula: 0.5, 0.01, 10^{-5} (never 1e-05)."""
    return tex_constant(x)


class _Builder:
    """Collects steps in order, wrapping each rows-layout function for the problem's layout."""

    def __init__(self, arch: Architecture):
        self.arch = arch
        self.rows = arch.layout == "rows"
        self.steps: list[Step] = []

    def add(self, name: str, stage: str, deps: tuple[str, ...], formula: str,
            fn: Callable[..., Array] | None, description: str) -> None:
        compute = None if fn is None else in_layout(fn, self.arch.layout)
        self.steps.append(Step(name, stage, deps, formula, compute, description, fn))  # type: ignore[arg-type]

    # Entry subscripts in the layout's order: rows index (sample, unit), columns (unit, sample).
    def entry(self, sample: str, unit: str) -> str:
        return f"{sample},{unit}" if self.rows else f"{unit},{sample}"


# --- forward --------------------------------------------------------------------------------


def _activation_formula(b: _Builder, l: int, act: str, slope: float) -> str:
    a, z = tex(f"A{l}"), tex(f"Z{l}")
    if act == "identity":
        return f"{a} = {z}"
    if act == "sigmoid":
        return rf"{a} = \sigma({z}) = \frac{{1}}{{1 + e^{{-{z}}}}}"
    if act == "tanh":
        return rf"{a} = \tanh({z})"
    if act == "relu":
        return rf"{a} = \max(0, {z})"
    if act == "leaky_relu":
        return rf"{a} = \max({_num(slope)}\,{z}, {z})"
    nk, nj = b.entry("n", "k"), b.entry("n", "j")
    return rf"{a}_{{{nk}}} = \frac{{e^{{{z}_{{{nk}}}}}}}{{\sum_{{j}} e^{{{z}_{{{nj}}}}}}}"


def _add_activation(b: _Builder, l: int, act: str, slope: float) -> None:
    names = {"identity": "identity", "sigmoid": "sigmoid", "tanh": "tanh", "relu": "ReLU",
             "leaky_relu": "leaky ReLU", "softmax": "softmax"}
    b.add(f"A{l}", "forward", (f"Z{l}",), _activation_formula(b, l, act, slope),
          lambda z: L.activation_forward(act, z, slope), f"{names[act]} activation of layer {l}")


def _add_dense_forward(b: _Builder, l: int, layer: Dense) -> None:
    inp = layer_input(l)
    w, x = tex(f"W{l}"), tex(inp)
    product = f"{x} {w}" if b.rows else f"{w} {x}"
    if layer.bias == "none":
        b.add(f"Z{l}", "forward", (inp, f"W{l}"), f"{tex(f'Z{l}')} = {product}",
              lambda x_, w_: L.affine_forward(x_, w_, None), f"pre-activation of layer {l}")
    else:
        note = " (one scalar bias, added to every entry)" if layer.bias == "scalar" else ""
        b.add(f"Z{l}", "forward", (inp, f"W{l}", f"b{l}"), f"{tex(f'Z{l}')} = {product} + {tex(f'b{l}')}",
              L.affine_forward, f"pre-activation of layer {l}{note}")
    _add_activation(b, l, layer.activation, layer.slope)


def _add_batchnorm_forward(b: _Builder, l: int, layer: BatchNorm) -> None:
    inp = layer_input(l)
    x, mu, var, xhat = tex(inp), tex(f"mu{l}"), tex(f"var{l}"), tex(f"Xhat{l}")
    eps = layer.eps
    b.add(f"mu{l}", "forward", (inp,), rf"{mu} = \frac{{1}}{{N}} \sum_{{n}} {x}_{{n}}",
          L.batchnorm_mean, f"batch mean of layer {l}'s input, per unit")
    b.add(f"var{l}", "forward", (inp, f"mu{l}"),
          rf"{var} = \frac{{1}}{{N}} \sum_{{n}} \left({x}_{{n}} - {mu}\right)^{{2}}",
          L.batchnorm_var, f"batch variance of layer {l}'s input, per unit (divides by N)")
    b.add(f"Xhat{l}", "forward", (inp, f"mu{l}", f"var{l}"),
          rf"{xhat} = \frac{{{x} - {mu}}}{{\sqrt{{{var} + {_num(eps)}}}}}",
          lambda x_, m, v: L.batchnorm_normalize(x_, m, v, eps), f"normalized input of layer {l}")
    b.add(f"Z{l}", "forward", (f"Xhat{l}", f"gamma{l}", f"beta{l}"),
          rf"{tex(f'Z{l}')} = {tex(f'gamma{l}')} \odot {xhat} + {tex(f'beta{l}')}",
          L.batchnorm_scale, f"scaled and shifted output of batch norm {l}")
    _add_activation(b, l, layer.activation, layer.slope)


def _loss_scale_tex(arch: Architecture, factor: int = 1) -> str:
    """`factor * scale` as LaTeX, e.g. \\frac{1}{2N} for a halved mean squared error."""
    loss = arch.loss
    num = factor * (1 if (loss.kind != "mse" or not loss.half) else 1)
    den = 2 if (loss.kind == "mse" and loss.half) else 1
    if num % den == 0:
        num, den = num // den, 1
    mean = loss.reduction == "mean"
    if den == 1 and not mean:
        return "" if num == 1 else f"{num}"
    den_tex = (f"{den}N" if den != 1 else "N") if mean else f"{den}"
    return rf"\frac{{{num}}}{{{den_tex}}}"


def _loss_formula(b: _Builder, name: str, out: str) -> str:
    arch = b.arch
    a = tex(out)
    s = _loss_scale_tex(arch)
    lhs = tex(name)
    if arch.loss.kind == "mse":
        return rf"{lhs} = {s} \sum_{{n,k}} \left({a}_{{{b.entry('n', 'k')}}} - Y_{{{b.entry('n', 'k')}}}\right)^{{2}}"
    if arch.loss.kind == "cross_entropy":
        return rf"{lhs} = -{s} \sum_{{n}} \log {a}_{{{b.entry('n', 'y_n')}}}"
    return rf"{lhs} = -{s} \sum_{{n}} \left( y_n \log {a}_{{n}} + (1 - y_n) \log (1 - {a}_{{n}}) \right)"


# --- backward -------------------------------------------------------------------------------


def _add_output_gradient(b: _Builder) -> None:
    arch, depth = b.arch, b.arch.depth
    out, da = f"A{depth}", f"dA{depth}"
    a = tex(out)
    loss = arch.loss
    if loss.kind == "mse":
        formula = rf"{tex(da)} = {_loss_scale_tex(arch, 2)} \left({a} - Y\right)"
    elif loss.kind == "cross_entropy":
        formula = rf"{tex(da)}_{{{b.entry('n', 'k')}}} = -{_loss_scale_tex(arch)} \frac{{{INDICATOR}[k = y_n]}}{{{a}_{{{b.entry('n', 'k')}}}}}"
    else:
        formula = rf"{tex(da)} = {_loss_scale_tex(arch)} \frac{{{a} - y}}{{{a} \odot (1 - {a})}}"
    b.add(da, "backward", (out, "Y"), formula,
          lambda a_, y_: losses.loss_backward(loss, a_, y_), "gradient of the loss with respect to the output")


def _collapsed_output(arch: Architecture) -> bool:
    """Softmax + cross-entropy and sigmoid + binary cross-entropy have the short dZ = A - Y."""
    act = arch.layers[-1].activation
    return (arch.loss.kind, act) in (("cross_entropy", "softmax"), ("binary_cross_entropy", "sigmoid"))


def _activation_backward_formula(b: _Builder, l: int, act: str, slope: float) -> str:
    dz, da, a, z = tex(f"dZ{l}"), tex(f"dA{l}"), tex(f"A{l}"), tex(f"Z{l}")
    if act == "identity":
        return f"{dz} = {da}"
    if act == "sigmoid":
        return rf"{dz} = {da} \odot {a} \odot (1 - {a})"
    if act == "tanh":
        return rf"{dz} = {da} \odot (1 - {a} \odot {a})"
    if act == "relu":
        return rf"{dz} = {da} \odot {INDICATOR}[{z} > 0]"
    if act == "leaky_relu":
        return rf"{dz} = {da} \odot \left({INDICATOR}[{z} > 0] + {_num(slope)}\,{INDICATOR}[{z} \le 0]\right)"
    nk, nj = b.entry("n", "k"), b.entry("n", "j")
    return rf"{dz}_{{{nk}}} = {a}_{{{nk}}} \left({da}_{{{nk}}} - \sum_{{j}} {da}_{{{nj}}} {a}_{{{nj}}}\right)"


def _add_delta(b: _Builder, l: int) -> None:
    """dZ{l}: the collapsed output form where it applies, else dA{l} through the activation."""
    arch = b.arch
    layer = arch.layers[l - 1]
    if l == arch.depth and _collapsed_output(arch):
        loss = arch.loss
        target = r"Y_{\text{onehot}}" if loss.kind == "cross_entropy" else "y"
        formula = rf"{tex(f'dZ{l}')} = {_loss_scale_tex(arch)} \left({tex(f'A{l}')} - {target}\right)"
        b.add(f"dZ{l}", "backward", (f"A{l}", "Y"), formula,
              lambda a_, y_: losses.output_delta(loss, a_, y_),
              f"gradient at layer {l}'s pre-activation ({layer.activation} and the loss combined)")
        return
    act, slope = layer.activation, layer.slope
    at = tuple(f"{v}{l}" for v in L.ACTIVATION_DERIVATIVE_INPUT[act])
    b.add(f"dZ{l}", "backward", (f"dA{l}", *at), _activation_backward_formula(b, l, act, slope),
          lambda da_, *rest: L.activation_backward(act, da_, rest[0] if rest else None, slope),
          f"gradient at layer {l}'s pre-activation")


def _add_dense_backward(b: _Builder, l: int, layer: Dense) -> None:
    inp = layer_input(l)
    dz, w = tex(f"dZ{l}"), f"W{l}"
    dw = f"{transposed(inp)} {dz}" if b.rows else f"{dz} {transposed(inp)}"
    b.add(f"dW{l}", "backward", (inp, f"dZ{l}"), f"{tex(f'dW{l}')} = {dw}",
          L.affine_backward_weight, f"gradient of the weights of layer {l}")
    if layer.bias != "none":
        kind = layer.bias
        if kind == "scalar":
            formula = rf"{tex(f'db{l}')} = \sum_{{n,k}} {dz}_{{{b.entry('n', 'k')}}}"
            desc = f"gradient of layer {l}'s scalar bias: the sum over every entry it was added to"
        else:
            formula = rf"{tex(f'db{l}')} = \sum_{{n}} {dz}_{{{b.entry('n', ':')}}}"
            desc = f"gradient of the biases of layer {l}, summed over the samples"
        b.add(f"db{l}", "backward", (f"dZ{l}",), formula,
              lambda dz_: L.affine_backward_bias(dz_, kind), desc)
    if l > 1:
        da = f"{dz} {transposed(w)}" if b.rows else f"{transposed(w)} {dz}"
        b.add(f"dA{l - 1}", "backward", (f"dZ{l}", w), f"{tex(f'dA{l - 1}')} = {da}",
              L.affine_backward_input, f"gradient at layer {l - 1}'s activation")


def _add_batchnorm_backward(b: _Builder, l: int, layer: BatchNorm) -> None:
    dz, xhat, var = tex(f"dZ{l}"), tex(f"Xhat{l}"), tex(f"var{l}")
    dxhat = tex(f"dXhat{l}")
    eps = layer.eps
    b.add(f"dgamma{l}", "backward", (f"dZ{l}", f"Xhat{l}"),
          rf"{tex(f'dgamma{l}')} = \sum_{{n}} \left({dz} \odot {xhat}\right)_{{n}}",
          L.batchnorm_backward_gamma, f"gradient of batch norm {l}'s scale")
    b.add(f"dbeta{l}", "backward", (f"dZ{l}",), rf"{tex(f'dbeta{l}')} = \sum_{{n}} {dz}_{{n}}",
          L.batchnorm_backward_beta, f"gradient of batch norm {l}'s shift")
    b.add(f"dXhat{l}", "backward", (f"dZ{l}", f"gamma{l}"), rf"{dxhat} = {dz} \odot {tex(f'gamma{l}')}",
          L.batchnorm_backward_xhat, f"gradient at batch norm {l}'s normalized input")
    if l > 1:
        formula = (rf"{tex(f'dA{l - 1}')} = \frac{{1}}{{N \sqrt{{{var} + {_num(eps)}}}}} \left(N\, {dxhat}"
                   rf" - \sum_{{n}} {dxhat}_{{n}} - {xhat} \odot \sum_{{n}} \left({dxhat} \odot {xhat}\right)_{{n}}\right)")
        b.add(f"dA{l - 1}", "backward", (f"dXhat{l}", f"Xhat{l}", f"var{l}"), formula,
              lambda d, xh, v: L.batchnorm_backward_input(d, xh, v, eps),
              f"gradient at layer {l - 1}'s activation, through the batch statistics")


# --- assembly -------------------------------------------------------------------------------


def _forward_steps(arch: Architecture) -> list[Step]:
    b = _Builder(arch)
    for l, layer in enumerate(arch.layers, start=1):
        if isinstance(layer, Dense):
            _add_dense_forward(b, l, layer)
        else:
            _add_batchnorm_forward(b, l, layer)
    out, loss = f"A{arch.depth}", arch.loss
    b.add("loss", "loss", (out, "Y"), _loss_formula(b, "loss", out),
          lambda a_, y_: losses.loss_forward(loss, a_, y_), "loss")
    return b.steps


def forward_loss(arch: Architecture, given: Mapping[str, Array]) -> Array:
    """The loss of `given` (X, Y, parameters in the problem layout), by the trace's own forward steps."""
    return evaluate_steps(_forward_steps_cached(arch), given, arch.layout)["loss"]


@lru_cache(maxsize=256)
def _forward_steps_cached(arch: Architecture) -> tuple[Step, ...]:
    return tuple(_forward_steps(arch))


@lru_cache(maxsize=256)
def steps_for(arch: Architecture) -> tuple[Step, ...]:
    """Every step of the architecture's trace, in computing order."""
    b = _Builder(arch)
    for name in arch.given_names():
        b.add(name, "given", (), "", None, "given")
    b.steps += _forward_steps_cached(arch)
    depth, loss = arch.depth, arch.loss
    if arch.classifies:
        out = tex(f"A{depth}")
        if loss.kind == "binary_cross_entropy":
            formula = rf"\hat{{y}}_n = {INDICATOR}[{out}_{{n}} \ge 0.5]"
        else:
            formula = rf"\hat{{y}}_n = \arg\max_{{k}} {out}_{{{b.entry('n', 'k')}}}"
        b.add("pred", "predict", (f"A{depth}",), formula, lambda a_: losses.predict(loss, a_),
              "predicted class of each sample")
    _add_output_gradient(b)
    for l in range(depth, 0, -1):
        layer = arch.layers[l - 1]
        _add_delta(b, l)
        if isinstance(layer, Dense):
            _add_dense_backward(b, l, layer)
        else:
            _add_batchnorm_backward(b, l, layer)
    lr = arch.learning_rate
    params = arch.parameter_names()
    for p in params:
        b.add(f"{p}_new", "update", (p, f"d{p}"),
              rf"{tex(f'{p}_new')} = {tex(p)} - {_num(lr)}\, {tex(f'd{p}')}",
              lambda v, g: v - lr * g, f"{p} after one SGD step (learning rate {lr:g})")
    new = tuple(f"{p}_new" for p in params)
    # Like every step function this one works in the rows layout, so it runs the forward steps
    # of the rows twin of the architecture (looked up once here, not on every evaluation).
    rows_forward = _forward_steps_cached(replace(arch, layout="rows"))

    def loss_after(x: Array, y: Array, *updated: Array) -> Array:
        return evaluate_steps(rows_forward, {"X": x, "Y": y, **dict(zip(params, updated))}, "rows")["loss"]

    b.add("loss_new", "after", ("X", "Y", *new), _loss_formula(b, "loss_new", f"A{depth}"),
          loss_after, "the loss after the update: the forward pass again, on the same data, with the updated parameters")
    return tuple(b.steps)


@lru_cache(maxsize=256)
def names_for(arch: Architecture) -> tuple[str, ...]:
    """The names of every quantity of the architecture's trace, in computing order."""
    return tuple(s.name for s in steps_for(arch))


def run(arch: Architecture, given: Mapping[str, Array]) -> Trace:
    """The full trace of one instance: given values in the problem layout -> every quantity."""
    steps = steps_for(arch)
    values = evaluate_steps(steps, {n: given[n] for n in arch.given_names()}, arch.layout)
    return Trace(arch.layout, steps, values)


def run_forward(arch: Architecture, given: Mapping[str, Array]) -> dict[str, Array]:
    """Values up to the loss only, in the problem layout (for the proof's well-conditioning test)."""
    return evaluate_steps(_forward_steps_cached(arch), {n: given[n] for n in arch.given_names()}, arch.layout)


def forward_rows(arch: Architecture, given: Mapping[str, Array]) -> dict[str, Array]:
    """Values up to the loss, in the rows layout: the sampler checks these before paying for the
    backward pass. Works on one instance or on a stack of them (every value with a leading axis)."""
    return evaluate_steps(_forward_steps_cached(arch), given, "rows")


def rest_rows(arch: Architecture, forward_values: Mapping[str, Array]) -> dict[str, Array]:
    """Every value, in the rows layout, from forward_rows' values: prediction, backward, update,
    the loss after it (one instance or a stack, as forward_rows)."""
    steps = steps_for(arch)
    done = len(arch.given_names()) + len(_forward_steps_cached(arch))
    return evaluate_steps(steps[done:], forward_values, "rows")

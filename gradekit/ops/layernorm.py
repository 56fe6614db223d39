"""Layer normalization: each sample normalized over its own units, then scaled and shifted per unit.

mu = mean over the units of each sample, var = mean over the units of (x - mu)^2 (divides by the
number of units U), Xhat = (x - mu) / sqrt(var + eps), Z = gamma Xhat + beta. Shapes (rows
layout): x and Xhat (N, U); mu, var (N, 1), one per sample; gamma, beta (1, U), one per unit.
Batch normalization (gradekit.ops.batchnorm) takes the same steps over the other axis: its
statistics are over the samples of each unit. Every function also takes a stack of instances.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator, Mapping

import numpy as np

from gradekit.model import names
from gradekit.model.notation import tex, tex_constant
from gradekit.ops.base import Builder, Check, Formulation, Given, Graph, Op, Step, Symbolic
from gradekit.ops.batchnorm import (batchnorm_backward_beta, batchnorm_backward_gamma, batchnorm_backward_input,
                                    batchnorm_backward_xhat, batchnorm_mean, batchnorm_normalize, batchnorm_scale,
                                    batchnorm_var, normalization_graph)
from gradekit.ops.dense import bias_sum_worked
from gradekit.ops.mistakes import Mistake, Values
from gradekit.ops.quality import MARGIN_SLACK, entries, pairs_equal
from gradekit.ops.worked import Context, Expr, Worked, cap

Array = np.ndarray

VARIANCE_FLOOR = 0.01  # a sample's layer-norm input must vary across its units: 1/sqrt(var) blows up


def layernorm_mean(x: Array) -> Array:
    """mu = mean over the units of each sample.  (N, U) -> (N, 1)"""
    return x.sum(axis=-1, keepdims=True) / x.shape[-1]


def layernorm_var(x: Array, mu: Array) -> Array:
    """var = mean over the units of (x - mu)^2 (divides by U).  -> (N, 1)"""
    d = x - mu
    return (d * d).sum(axis=-1, keepdims=True) / x.shape[-1]


def layernorm_var_of_squares(x: Array, mu: Array) -> Array:
    """var = mean over the units of x^2, minus mu^2: the same variance, with the mean taken first."""
    return (x * x).sum(axis=-1, keepdims=True) / x.shape[-1] - mu * mu


def layernorm_backward_input(dxhat: Array, xhat: Array, var: Array, eps: float) -> Array:
    """dX = (U dXhat - sum_u dXhat - Xhat sum_u(dXhat Xhat)) / (U sqrt(var + eps)): the sums run over
    each sample's units, the paths through that sample's mu and var."""
    u = dxhat.shape[-1]
    total = dxhat.sum(axis=-1, keepdims=True)
    along = (dxhat * xhat).sum(axis=-1, keepdims=True)
    return (u * dxhat - total - xhat * along) / (u * np.sqrt(var + eps))


def layernorm_backward_staged(dxhat: Array, x: Array, mu: Array, var: Array, eps: float) -> Array:
    """dX by the staged chain rule through dvar and dmu (each per sample), then to x."""
    u = x.shape[-1]
    d = x - mu
    dvar = (dxhat * d).sum(axis=-1, keepdims=True) * -0.5 * (var + eps) ** -1.5
    dmu = (-dxhat / np.sqrt(var + eps)).sum(axis=-1, keepdims=True) + dvar * (-2.0 * d).sum(axis=-1, keepdims=True) / u
    return dxhat / np.sqrt(var + eps) + dvar * 2.0 * d / u + dmu / u


@dataclass(frozen=True)
class LayerNorm(Op):
    """Layer l: layer normalization of its input, scaled by gamma{l} and shifted by beta{l}, into Z{l}."""

    l: int
    units: int
    eps: float
    kind = "layer_norm"

    def q(self, base: str) -> str:
        return names.of(base, self.l)

    @property
    def input(self) -> str:
        return names.layer_input(self.l)

    def given(self) -> tuple[Given, ...]:
        return (Given(self.q("gamma"), (1, self.units), "unit", "gamma"),
                Given(self.q("beta"), (1, self.units), "unit", "beta"))

    # -- the trace --

    def forward(self, b: Builder) -> None:
        l, inp, eps = self.l, self.input, self.eps
        x, mu, var, xhat = tex(inp), tex(self.q("mu")), tex(self.q("var")), tex(self.q("Xhat"))
        u = b.entry("n", "u")
        b.add(self, "mean", self.q("mu"), "forward", (inp,), rf"{mu}_{{n}} = \frac{{1}}{{U}} \sum_{{u}} {x}_{{{u}}}",
              layernorm_mean, f"mean of layer {l}'s input over the units of each sample")
        b.add(self, "variance", self.q("var"), "forward", (inp, self.q("mu")),
              rf"{var}_{{n}} = \frac{{1}}{{U}} \sum_{{u}} \left({x}_{{{u}}} - {mu}_{{n}}\right)^{{2}}",
              layernorm_var, f"variance of layer {l}'s input over the units of each sample (divides by U)")
        b.add(self, "normalize", self.q("Xhat"), "forward", (inp, self.q("mu"), self.q("var")),
              rf"{xhat}_{{{u}}} = \frac{{{x}_{{{u}}} - {mu}_{{n}}}}{{\sqrt{{{var}_{{n}} + {tex_constant(eps)}}}}}",
              lambda x_, m, v: batchnorm_normalize(x_, m, v, eps), f"normalized input of layer {l}")
        b.add(self, "forward", self.q("Z"), "forward", (self.q("Xhat"), self.q("gamma"), self.q("beta")),
              rf"{tex(self.q('Z'))} = {tex(self.q('gamma'))} \odot {xhat} + {tex(self.q('beta'))}",
              batchnorm_scale, f"scaled and shifted output of layer norm {l}")

    def backward(self, b: Builder) -> None:
        l, eps = self.l, self.eps
        dz_name = names.grad(self.q("Z"))
        dz, xhat, var = tex(dz_name), tex(self.q("Xhat")), tex(self.q("var"))
        dxhat = tex(names.grad(self.q("Xhat")))
        u = b.entry("n", "u")
        b.add(self, "d_gamma", names.grad(self.q("gamma")), "backward", (dz_name, self.q("Xhat")),
              rf"{tex(names.grad(self.q('gamma')))} = \sum_{{n}} \left({dz} \odot {xhat}\right)_{{n}}",
              batchnorm_backward_gamma, f"gradient of layer norm {l}'s scale (summed over the samples)", "unit")
        b.add(self, "d_beta", names.grad(self.q("beta")), "backward", (dz_name,),
              rf"{tex(names.grad(self.q('beta')))} = \sum_{{n}} {dz}_{{n}}",
              batchnorm_backward_beta, f"gradient of layer norm {l}'s shift (summed over the samples)", "unit")
        b.add(self, "d_xhat", names.grad(self.q("Xhat")), "backward", (dz_name, self.q("gamma")),
              rf"{dxhat} = {dz} \odot {tex(self.q('gamma'))}", batchnorm_backward_xhat,
              f"gradient at layer norm {l}'s normalized input")
        if l > 1:
            da = names.grad(self.input)
            formula = (rf"{tex(da)}_{{{u}}} = \frac{{1}}{{U \sqrt{{{var}_{{n}} + {tex_constant(eps)}}}}} \left(U\, "
                       rf"{dxhat}_{{{u}}} - \sum_{{v}} {dxhat}_{{{b.entry('n', 'v')}}} - {xhat}_{{{u}}} \sum_{{v}} "
                       rf"\left({dxhat} \odot {xhat}\right)_{{{b.entry('n', 'v')}}}\right)")
            b.add(self, "d_input", da, "backward", (names.grad(self.q("Xhat")), self.q("Xhat"), self.q("var")), formula,
                  lambda d, xh, v: layernorm_backward_input(d, xh, v, eps),
                  f"gradient at layer {l - 1}'s activation, through each sample's statistics")

    # -- the worked solution --

    def worked(self, step: Step, cx: Context) -> Worked | None:
        name, role = step.name, step.role
        if role in ("d_gamma", "d_beta"):
            times = self.q("Xhat") if role == "d_gamma" else None
            return bias_sum_worked(cx, name, names.grad(self.q("Z")), self.units, times=times)
        r, c = cx.pick(name)
        lines = {"mean": self._worked_mean, "variance": self._worked_variance, "normalize": self._worked_normalize,
                 "forward": self._worked_z, "d_xhat": self._worked_dxhat, "d_input": self._worked_dinput}[role](cx, r, c)
        return Worked(cx.sym(name, r, c), cx.where(name, r, c), lines, cx.result(name, r, c))

    def _mean_of(self, terms: list[str]) -> Expr:
        return Expr(cap(terms), rf"\frac{{1}}{{{self.units}}}\bigl(", r"\bigr)")

    def _worked_mean(self, cx: Context, r: int, c: int) -> tuple[Expr, ...]:
        inp = self.input
        return (self._mean_of([cx.sym(inp, r, u) for u in range(self.units)]),
                self._mean_of([cx.num(inp, r, u, paren=False) for u in range(self.units)]))

    def _worked_variance(self, cx: Context, r: int, c: int) -> tuple[Expr, ...]:
        inp, mu = self.input, self.q("mu")
        return (self._mean_of([rf"({cx.sym(inp, r, u)} - {cx.sym(mu, r, 0)})^{{2}}" for u in range(self.units)]),
                self._mean_of([rf"({cx.num(inp, r, u, paren=False)} - {cx.num(mu, r, 0)})^{{2}}"
                               for u in range(self.units)]))

    def _worked_normalize(self, cx: Context, r: int, c: int) -> tuple[Expr, ...]:
        inp, mu, var, eps = self.input, self.q("mu"), self.q("var"), tex_constant(self.eps)
        return (Expr((rf"\frac{{{cx.sym(inp, r, c)} - {cx.sym(mu, r, 0)}}}{{\sqrt{{{cx.sym(var, r, 0)} + {eps}}}}}",)),
                Expr((rf"\frac{{{cx.num(inp, r, c, paren=False)} - {cx.num(mu, r, 0)}}}"
                      rf"{{\sqrt{{{cx.num(var, r, 0, paren=False)} + {eps}}}}}",)))

    def _worked_z(self, cx: Context, r: int, c: int) -> tuple[Expr, ...]:
        g, xh, be = self.q("gamma"), self.q("Xhat"), self.q("beta")
        return (Expr((f"{cx.sym(g, r, c)} {cx.sym(xh, r, c)}", cx.sym(be, r, c))),
                Expr((rf"{cx.num(g, r, c, paren=False)} \cdot {cx.num(xh, r, c)}", cx.num(be, r, c, paren=False))))

    def _worked_dxhat(self, cx: Context, r: int, c: int) -> tuple[Expr, ...]:
        dz, g = names.grad(self.q("Z")), self.q("gamma")
        return (Expr((f"{cx.sym(dz, r, c)} {cx.sym(g, r, c)}",)),
                Expr((rf"{cx.num(dz, r, c, paren=False)} \cdot {cx.num(g, r, c)}",)))

    def _worked_dinput(self, cx: Context, r: int, c: int) -> tuple[Expr, ...]:
        dxh, xh, var = names.grad(self.q("Xhat")), self.q("Xhat"), self.q("var")
        u = self.units
        total = float(cx.value(dxh)[r, :].sum())
        along = float((cx.value(dxh)[r, :] * cx.value(xh)[r, :]).sum())
        eps = tex_constant(self.eps)
        row = f"{r + 1},v" if cx.rows else f"v,{r + 1}"
        sym = (rf"\frac{{1}}{{U \sqrt{{{cx.sym(var, r, 0)} + {eps}}}}} \Bigl(U\, {cx.sym(dxh, r, c)} - "
               rf"\textstyle\sum_{{v}} {tex(dxh)}_{{{row}}} - {cx.sym(xh, r, c)} "
               rf"\sum_{{v}} {tex(dxh)}_{{{row}}} {tex(xh)}_{{{row}}}\Bigr)")
        num = (rf"\frac{{1}}{{{u} \sqrt{{{cx.num(var, r, 0, paren=False)} + {eps}}}}} \Bigl({u} \cdot {cx.num(dxh, r, c)} - "
               rf"{cx.number(total)} - {cx.num(xh, r, c)} \cdot {cx.number(along)}\Bigr)")
        return (Expr((sym,)), Expr((num,)))

    def notes(self, step: Step, cx: Context) -> tuple[str, ...]:
        out = []
        zero = cx.structural_zero(step.name)
        if zero is not None:
            out.append(zero)
        if step.role in ("mean", "variance"):
            out.append(rf"Layer normalization takes its statistics over the units of each sample (one value per "
                       rf"sample, {self.units} units each), not over the samples as batch normalization does.")
        if step.role in ("d_gamma", "d_beta"):
            out.append(r"$\gamma$ and $\beta$ have one entry per unit, shared by every sample: their gradients sum "
                       "over the samples.")
        if step.role == "d_input":
            out.append(rf"Each sample's entries of ${tex(step.name)}$ add up to 0 over the units: layer normalization "
                       "subtracts each sample's mean, so moving all of a sample's inputs by the same amount changes nothing.")
        return tuple(out)

    # -- grading --

    def formulations(self, step: Step) -> tuple[Formulation, ...]:
        eps, mu, var = self.eps, self.q("mu"), self.q("var")
        if step.role == "variance":
            return (Formulation("mean_of_squares", "the mean of the squares minus the square of the mean",
                                (self.input, mu), layernorm_var_of_squares),)
        if step.role == "d_input":
            dxhat = names.grad(self.q("Xhat"))
            return (Formulation("staged", "the staged chain rule through dvar and dmu", (dxhat, self.input, mu, var),
                                lambda d, x, m, v: layernorm_backward_staged(d, x, m, v, eps)),)
        return ()

    def mistakes(self, step: Step, v: Values) -> Iterator[Mistake]:
        role, u, eps = step.role, self.units, self.eps
        x = v[self.input]
        if role == "mean":
            yield Mistake("layer_norm_statistics_over_samples", "layer normalization averages over the UNITS of each "
                          "sample (one mean per sample), not over the samples as batch normalization does",
                          batchnorm_mean(x))
        elif role == "variance":
            yield Mistake("layer_norm_statistics_over_samples", "layer normalization takes the variance over the UNITS "
                          "of each sample, not over the samples as batch normalization does",
                          batchnorm_var(x, batchnorm_mean(x)))
            if u > 1:
                yield Mistake("layer_variance_unbiased", "the variance divides by the number of units U (biased), not "
                              "U - 1", v[step.name] * u / (u - 1))
        elif role == "normalize":
            mu = batchnorm_mean(x)
            yield Mistake("layer_norm_statistics_over_samples", "layer normalization normalizes each sample with its "
                          "own mean and variance over its units, not each unit with batch statistics over the samples",
                          batchnorm_normalize(x, mu, batchnorm_var(x, mu), eps))
        elif role in ("d_beta", "d_gamma"):
            dz = v[names.grad(self.q("Z"))]
            factor = dz if role == "d_beta" else dz * v[self.q("Xhat")]
            which = "dbeta" if role == "d_beta" else "dgamma"
            yield Mistake("norm_gradient_over_units", f"{which} sums over the SAMPLES (one value per unit), not over "
                          "the units", factor.sum(axis=-1, keepdims=True))
        elif role == "d_input":
            dxhat, xhat = v[names.grad(self.q("Xhat"))], v[self.q("Xhat")]
            if v.net.samples > 1:
                yield Mistake("layer_norm_backward_over_samples", "the sums of layer norm's backward pass run over the "
                              "units of each sample (its own mean and variance), not over the samples",
                              batchnorm_backward_input(dxhat, xhat, v[self.q("var")], eps))
            yield Mistake("norm_statistics_not_differentiated", "the mean and the variance depend on the input too: "
                          "dX is not just dXhat / sqrt(var + eps)", dxhat / np.sqrt(v[self.q("var")] + eps))

    # -- the computation as data, and its proof --

    def graph(self, step: Step, g: Graph) -> None:
        normalization_graph(self, step, g, g.unit_axis, self.units, "U")

    def symbolic(self, s: Symbolic) -> None:
        sp, a = s.sp, s.values[self.input]
        n, u = a.shape
        mu = s.put(self.q("mu"), lambda: sp.Matrix(n, 1, lambda i, _: sum(a[i, :]) / u))
        var = s.put(self.q("var"), lambda: sp.Matrix(n, 1, lambda i, _: sum((a[i, j] - mu[i, 0]) ** 2
                                                                            for j in range(u)) / u))
        eps = s.exact(self.eps)
        xhat = s.put(self.q("Xhat"), lambda: sp.Matrix(n, u, lambda i, j: (a[i, j] - mu[i, 0]) / sp.sqrt(var[i, 0] + eps)))
        g, b = s.values[self.q("gamma")], s.values[self.q("beta")]
        s.put(self.q("Z"), lambda: sp.Matrix(n, u, lambda i, j: g[0, j] * xhat[i, j] + b[0, j]))

    def conditioning(self, values: Mapping[str, Array], kink: float, variance: float) -> str | None:
        if np.min(values[self.q("var")]) < variance:
            return f"layer norm {self.l}'s input varies too little across the {self.units} units of a sample"
        return None

    # -- quality --

    def checks(self, net: Any, problem: Any) -> tuple[Check, ...]:
        xhat, var = self.q("Xhat"), self.q("var")
        out = []
        if self.l < net.depth and self.units > 1:
            out.append(Check("identical_units", f"two units of layer norm {self.l} have the same normalized input",
                             "forward", lambda v: pairs_equal(v[xhat], 1e-9), group=1))
        out.append(Check("layer_variance", f"layer norm {self.l}'s input is nearly constant across a sample's units "
                         f"(variance <= {VARIANCE_FLOOR})", "forward",
                         lambda v: entries(v[var]).min(axis=1) <= VARIANCE_FLOOR + MARGIN_SLACK, group=2.5))
        return tuple(out)

    def structural_zeros(self, net: Any, found: dict[str, str]) -> None:
        l = self.l
        before = net.layer_op(l - 1) if l > 1 else None
        if before is not None and before.kind == "affine" and before.bias == "scalar" \
                and net.activation(l - 1).kind == "identity":
            b = names.of("b", l - 1)
            found[names.grad(b)] = (f"layer norm {l} subtracts each sample's mean over the units, which removes "
                                    f"{b}: it adds the same number to every unit of a sample")
        if self.units == 2:
            reason = (f"layer norm {l} over 2 units maps every sample to about ±1 whatever its input, so "
                      f"nothing before layer {l} gets a gradient (only eps keeps it from exactly 0)")
            for name in net.gradients_before(l):
                found.setdefault(name, reason)

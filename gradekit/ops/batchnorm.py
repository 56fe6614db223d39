"""Batch normalization in training mode (batch statistics): forward, backward, and what it makes 0.

mu = mean over samples, var = mean over samples of (x - mu)^2 (biased: divides by N, as in
training), Xhat = (x - mu) / sqrt(var + eps), Z = gamma Xhat + beta. Shapes (rows layout): x and
Xhat (N, U); mu, var, gamma, beta (1, U). Every function also takes a stack of instances.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator, Mapping

import numpy as np

from gradekit.model import names
from gradekit.model.notation import tex, tex_constant
from gradekit.ops.base import Builder, Check, Formulation, Given, Graph, Op, Step, Symbolic
from gradekit.ops.dense import bias_sum_worked
from gradekit.ops.mistakes import Mistake, Values
from gradekit.ops.quality import MARGIN_SLACK, entries, pairs_equal
from gradekit.ops.worked import Context, Expr, Worked, cap

Array = np.ndarray

VARIANCE_FLOOR = 0.01  # a batch-norm input must vary across the batch: 1/sqrt(var) blows up


def batchnorm_mean(x: Array) -> Array:
    """mu = mean over samples.  (N, U) -> (1, U)"""
    return x.sum(axis=-2, keepdims=True) / x.shape[-2]  # sum/N: ndarray.mean is ~4x slower on tiny arrays


def batchnorm_var(x: Array, mu: Array) -> Array:
    """var = mean over samples of (x - mu)^2 (biased: divides by N, as in training).  -> (1, U)"""
    d = x - mu
    return (d * d).sum(axis=-2, keepdims=True) / x.shape[-2]


def batchnorm_normalize(x: Array, mu: Array, var: Array, eps: float) -> Array:
    """Xhat = (x - mu) / sqrt(var + eps).  -> (N, U)"""
    return (x - mu) / np.sqrt(var + eps)


def batchnorm_scale(xhat: Array, gamma: Array, beta: Array) -> Array:
    """Z = gamma * Xhat + beta.  gamma, beta: (1, U)"""
    return gamma * xhat + beta


def batchnorm_backward_gamma(dz: Array, xhat: Array) -> Array:
    """dgamma = sum over samples of dZ * Xhat.  -> (1, U)"""
    return (dz * xhat).sum(axis=-2, keepdims=True)


def batchnorm_backward_beta(dz: Array) -> Array:
    """dbeta = sum over samples of dZ.  -> (1, U)"""
    return dz.sum(axis=-2, keepdims=True)


def batchnorm_backward_xhat(dz: Array, gamma: Array) -> Array:
    """dXhat = dZ * gamma.  -> (N, U)"""
    return dz * gamma


def batchnorm_var_of_squares(x: Array, mu: Array) -> Array:
    """var = mean over samples of x^2, minus mu^2: the same variance, with the mean taken first."""
    return (x * x).sum(axis=-2, keepdims=True) / x.shape[-2] - mu * mu


def batchnorm_backward_staged(dxhat: Array, x: Array, mu: Array, var: Array, eps: float) -> Array:
    """dX by the staged chain rule (cs231n's batchnorm_backward): through dvar and dmu, then to x.

    dvar = sum dXhat (x - mu) (-1/2) (var + eps)^(-3/2)
    dmu  = sum dXhat (-1 / sqrt(var + eps)) + dvar mean(-2 (x - mu))
    dX   = dXhat / sqrt(var + eps) + dvar 2 (x - mu) / N + dmu / N
    """
    n = x.shape[-2]
    xmu, inv = x - mu, 1.0 / np.sqrt(var + eps)
    dvar = (dxhat * xmu).sum(axis=-2, keepdims=True) * -0.5 * inv**3
    dmu = (-dxhat * inv).sum(axis=-2, keepdims=True) + dvar * (-2.0 * xmu).sum(axis=-2, keepdims=True) / n
    return dxhat * inv + dvar * 2.0 * xmu / n + dmu / n


def batchnorm_backward_from_dz(dz: Array, gamma: Array, xhat: Array, var: Array, eps: float) -> Array:
    """dX straight from dZ: gamma / (N sqrt(var + eps)) (N dZ - sum dZ - Xhat sum(dZ Xhat))."""
    n = dz.shape[-2]
    total = dz.sum(axis=-2, keepdims=True)
    along = (dz * xhat).sum(axis=-2, keepdims=True)
    return gamma * (n * dz - total - xhat * along) / (n * np.sqrt(var + eps))


def batchnorm_backward_input(dxhat: Array, xhat: Array, var: Array, eps: float) -> Array:
    """dX = (N dXhat - sum dXhat - Xhat sum(dXhat Xhat)) / (N sqrt(var + eps)).

    The two sums (over samples) are the paths through mu and var: every sample moves the
    batch statistics, so each sample's gradient depends on the whole batch.
    """
    n = dxhat.shape[-2]
    total = dxhat.sum(axis=-2, keepdims=True)
    along = (dxhat * xhat).sum(axis=-2, keepdims=True)
    return (n * dxhat - total - xhat * along) / (n * np.sqrt(var + eps))


@dataclass(frozen=True)
class BatchNorm(Op):
    """Layer l: batch normalization of its input, scaled by gamma{l} and shifted by beta{l}, into Z{l}."""

    l: int
    units: int
    eps: float
    kind = "batch_norm"

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
        b.add(self, "mean", self.q("mu"), "forward", (inp,), rf"{mu} = \frac{{1}}{{N}} \sum_{{n}} {x}_{{n}}",
              batchnorm_mean, f"batch mean of layer {l}'s input, per unit", "unit")
        b.add(self, "variance", self.q("var"), "forward", (inp, self.q("mu")),
              rf"{var} = \frac{{1}}{{N}} \sum_{{n}} \left({x}_{{n}} - {mu}\right)^{{2}}",
              batchnorm_var, f"batch variance of layer {l}'s input, per unit (divides by N)", "unit")
        b.add(self, "normalize", self.q("Xhat"), "forward", (inp, self.q("mu"), self.q("var")),
              rf"{xhat} = \frac{{{x} - {mu}}}{{\sqrt{{{var} + {tex_constant(eps)}}}}}",
              lambda x_, m, v: batchnorm_normalize(x_, m, v, eps), f"normalized input of layer {l}")
        b.add(self, "forward", self.q("Z"), "forward", (self.q("Xhat"), self.q("gamma"), self.q("beta")),
              rf"{tex(self.q('Z'))} = {tex(self.q('gamma'))} \odot {xhat} + {tex(self.q('beta'))}",
              batchnorm_scale, f"scaled and shifted output of batch norm {l}")

    def backward(self, b: Builder) -> None:
        l, eps = self.l, self.eps
        dz_name = names.grad(self.q("Z"))
        dz, xhat, var = tex(dz_name), tex(self.q("Xhat")), tex(self.q("var"))
        dxhat = tex(names.grad(self.q("Xhat")))
        b.add(self, "d_gamma", names.grad(self.q("gamma")), "backward", (dz_name, self.q("Xhat")),
              rf"{tex(names.grad(self.q('gamma')))} = \sum_{{n}} \left({dz} \odot {xhat}\right)_{{n}}",
              batchnorm_backward_gamma, f"gradient of batch norm {l}'s scale", "unit")
        b.add(self, "d_beta", names.grad(self.q("beta")), "backward", (dz_name,),
              rf"{tex(names.grad(self.q('beta')))} = \sum_{{n}} {dz}_{{n}}",
              batchnorm_backward_beta, f"gradient of batch norm {l}'s shift", "unit")
        b.add(self, "d_xhat", names.grad(self.q("Xhat")), "backward", (dz_name, self.q("gamma")),
              rf"{dxhat} = {dz} \odot {tex(self.q('gamma'))}", batchnorm_backward_xhat,
              f"gradient at batch norm {l}'s normalized input")
        if l > 1:
            da = names.grad(self.input)
            formula = (rf"{tex(da)} = \frac{{1}}{{N \sqrt{{{var} + {tex_constant(eps)}}}}} \left(N\, {dxhat}"
                       rf" - \sum_{{n}} {dxhat}_{{n}} - {xhat} \odot \sum_{{n}} \left({dxhat} \odot {xhat}\right)_{{n}}\right)")
            b.add(self, "d_input", da, "backward", (names.grad(self.q("Xhat")), self.q("Xhat"), self.q("var")), formula,
                  lambda d, xh, v: batchnorm_backward_input(d, xh, v, eps),
                  f"gradient at layer {l - 1}'s activation, through the batch statistics")

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

    def _mean_of(self, cx: Context, terms: list[str]) -> Expr:
        return Expr(cap(terms), rf"\frac{{1}}{{{cx.n}}}\bigl(", r"\bigr)")

    def _worked_mean(self, cx: Context, r: int, c: int) -> tuple[Expr, ...]:
        inp = self.input
        return (self._mean_of(cx, [cx.sym(inp, n, c) for n in range(cx.n)]),
                self._mean_of(cx, [cx.num(inp, n, c, paren=False) for n in range(cx.n)]))

    def _worked_variance(self, cx: Context, r: int, c: int) -> tuple[Expr, ...]:
        inp, mu = self.input, self.q("mu")
        return (self._mean_of(cx, [rf"({cx.sym(inp, n, c)} - {cx.sym(mu, n, c)})^{{2}}" for n in range(cx.n)]),
                self._mean_of(cx, [rf"({cx.num(inp, n, c, paren=False)} - {cx.num(mu, n, c)})^{{2}}"
                                   for n in range(cx.n)]))

    def _worked_normalize(self, cx: Context, r: int, c: int) -> tuple[Expr, ...]:
        inp, mu, var, eps = self.input, self.q("mu"), self.q("var"), tex_constant(self.eps)
        return (Expr((rf"\frac{{{cx.sym(inp, r, c)} - {cx.sym(mu, r, c)}}}{{\sqrt{{{cx.sym(var, r, c)} + {eps}}}}}",)),
                Expr((rf"\frac{{{cx.num(inp, r, c, paren=False)} - {cx.num(mu, r, c)}}}"
                      rf"{{\sqrt{{{cx.num(var, r, c, paren=False)} + {eps}}}}}",)))

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
        n = cx.n
        total = float(cx.value(dxh)[:, c].sum())
        along = float((cx.value(dxh)[:, c] * cx.value(xh)[:, c]).sum())
        eps = tex_constant(self.eps)
        column = "n," + str(c + 1) if cx.rows else str(c + 1) + ",n"
        sym = (rf"\frac{{1}}{{N \sqrt{{{cx.sym(var, r, c)} + {eps}}}}} \Bigl(N\, {cx.sym(dxh, r, c)} - "
               rf"\textstyle\sum_{{n}} {tex(dxh)}_{{{column}}} - {cx.sym(xh, r, c)} "
               rf"\sum_{{n}} {tex(dxh)}_{{{column}}} {tex(xh)}_{{{column}}}\Bigr)")
        num = (rf"\frac{{1}}{{{n} \sqrt{{{cx.num(var, r, c, paren=False)} + {eps}}}}} \Bigl({n} \cdot {cx.num(dxh, r, c)} - "
               rf"{cx.number(total)} - {cx.num(xh, r, c)} \cdot {cx.number(along)}\Bigr)")
        return (Expr((sym,)), Expr((num,)))

    def notes(self, step: Step, cx: Context) -> tuple[str, ...]:
        out = []
        zero = cx.structural_zero(step.name)
        if zero is not None:
            out.append(zero)
        if step.role == "d_input":
            out.append(rf"Each unit's entries of ${tex(step.name)}$ add up to 0 over the samples: batch normalization "
                       "subtracts the batch mean, so moving every sample's input by the same amount changes nothing.")
        return tuple(out)

    # -- grading --

    def formulations(self, step: Step) -> tuple[Formulation, ...]:
        """The textbook forms of batch norm's statistics and backward pass: each is right; on a
        student's own (rounded, or slipped) values each reads different inputs."""
        eps, mu, var = self.eps, self.q("mu"), self.q("var")
        if step.role == "variance":
            return (Formulation("mean_of_squares", "the mean of the squares minus the square of the mean",
                                (self.input, mu), batchnorm_var_of_squares),)
        if step.role == "d_input":
            dxhat = names.grad(self.q("Xhat"))
            return (Formulation("staged", "the staged chain rule through dvar and dmu", (dxhat, self.input, mu, var),
                                lambda d, x, m, v: batchnorm_backward_staged(d, x, m, v, eps)),
                    Formulation("from_dz", "the compact form from dZ and gamma",
                                (names.grad(self.q("Z")), self.q("gamma"), self.q("Xhat"), var),
                                lambda dz, g, xh, v: batchnorm_backward_from_dz(dz, g, xh, v, eps)))
        return ()

    def mistakes(self, step: Step, v: Values) -> Iterator[Mistake]:
        n = v.net.samples
        if step.role == "variance" and n > 1:
            yield Mistake("batch_variance_unbiased", "the batch variance divides by N (biased, as in training), not "
                          "N - 1", v[step.name] * n / (n - 1))
        if step.role in ("d_beta", "d_gamma"):
            dz = v[names.grad(self.q("Z"))]
            factor = dz if step.role == "d_beta" else dz * v[self.q("Xhat")]
            which = "dbeta" if step.role == "d_beta" else "dgamma"
            yield Mistake("norm_gradient_over_units", f"{which} sums over the SAMPLES (one value per unit), not over "
                          "the units", factor.sum(axis=-1, keepdims=True))

    # -- the computation as data, and its proof --

    def graph(self, step: Step, g: Graph) -> None:
        normalization_graph(self, step, g, g.sample_axis, g.samples, "N")

    def symbolic(self, s: Symbolic) -> None:
        sp, a = s.sp, s.values[self.input]
        n, u = a.shape
        mu = s.put(self.q("mu"), lambda: sp.Matrix(1, u, lambda _, j: sum(a[:, j]) / n))
        var = s.put(self.q("var"), lambda: sp.Matrix(1, u, lambda _, j: sum((a[i, j] - mu[0, j]) ** 2
                                                                            for i in range(n)) / n))
        eps = s.exact(self.eps)
        xhat = s.put(self.q("Xhat"), lambda: sp.Matrix(n, u, lambda i, j: (a[i, j] - mu[0, j]) / sp.sqrt(var[0, j] + eps)))
        g, b = s.values[self.q("gamma")], s.values[self.q("beta")]
        s.put(self.q("Z"), lambda: sp.Matrix(n, u, lambda i, j: g[0, j] * xhat[i, j] + b[0, j]))

    def conditioning(self, values: Mapping[str, Array], kink: float, variance: float) -> str | None:
        if np.min(values[self.q("var")]) < variance:
            samples = values[self.input].shape[-2]
            return f"batch norm {self.l}'s input varies too little across the {samples} samples (variance < {variance:g})"
        return None

    # -- quality --

    def checks(self, net: Any, problem: Any) -> tuple[Check, ...]:
        xhat, var = self.q("Xhat"), self.q("var")
        out = []
        if self.l < net.depth and self.units > 1:
            out.append(Check("identical_units", f"two units of batch norm {self.l} have the same normalized input",
                             "forward", lambda v: pairs_equal(v[xhat], 1e-9), group=1))
        # After the activations' checks of every layer (the order in which rejections are counted).
        out.append(Check("batch_variance", f"batch norm {self.l}'s input is nearly constant (variance <= "
                         f"{VARIANCE_FLOOR})", "forward",
                         lambda v: entries(v[var]).min(axis=1) <= VARIANCE_FLOOR + MARGIN_SLACK, group=2.5))
        return tuple(out)

    def structural_zeros(self, net: Any, found: dict[str, str]) -> None:
        l = self.l
        if isinstance(net.layer_op(l + 1), BatchNorm) and net.activation(l).kind == "identity":
            beta = self.q("beta")
            found[names.grad(beta)] = (f"batch norm {l + 1} subtracts each unit's batch mean, which removes "
                                       f"{beta}: it adds the same number to a unit for every sample")
        if net.samples == 2:
            reason = (f"batch norm {l} over 2 samples maps every unit to about ±1 whatever its input, so "
                      f"nothing before layer {l} gets a gradient (only eps keeps it from exactly 0)")
            for name in net.gradients_before(l):
                found.setdefault(name, reason)


def normalization_graph(op: Any, step: Step, g: Graph, stat_axis: int, count: int, letter: str) -> None:
    """A normalization's steps as ONNX operators, its statistics taken along axis `stat_axis` over
    `count` entries (`letter` names the count in the temporaries: N samples for batch norm, U
    units for layer norm). `op` is the BatchNorm or LayerNorm (its q(), input and eps)."""
    axis = g.constant([stat_axis], "int64")
    inp, mu, var, xhat = op.input, op.q("mu"), op.q("var"), op.q("Xhat")
    role, name = step.role, step.name
    if role == "mean":
        g.op(name, "ReduceMean", [inp, axis], keepdims=1)
    elif role == "variance":
        d = g.op(g.temp(name, "d"), "Sub", [inp, mu])
        g.op(name, "ReduceMean", [g.op(g.temp(name, "d2"), "Mul", [d, d]), axis], keepdims=1)
    elif role == "normalize":
        sd = g.op(g.temp(name, "sd"), "Sqrt", [g.op(g.temp(name, "ve"), "Add", [var, g.constant(op.eps)])])
        g.op(name, "Div", [g.op(g.temp(name, "xm"), "Sub", [inp, mu]), sd])
    elif role == "forward":
        g.op(name, "Add", [g.op(g.temp(name, "gx"), "Mul", [op.q("gamma"), xhat]), op.q("beta")])
    elif role in ("d_gamma", "d_beta", "d_xhat"):
        wrt = {"d_gamma": op.q("gamma"), "d_beta": op.q("beta"), "d_xhat": xhat}[role]
        g.grad(name, wrt, [(op.q("Z"), names.grad(op.q("Z")))])
    else:  # dX = (N dXhat - sum dXhat - Xhat sum(dXhat Xhat)) / (N sqrt(var + eps)), N the count, as the solution reads it
        dxh, n = names.grad(xhat), g.constant(float(count))
        scaled = g.op(g.temp(name, f"{letter}dXhat"), "Mul", [dxh, n])
        total = g.op(g.temp(name, "sum"), "ReduceSum", [dxh, axis], keepdims=1)
        along = g.op(g.temp(name, "along"), "ReduceSum", [g.op(g.temp(name, "dXX"), "Mul", [dxh, xhat]), axis],
                     keepdims=1)
        inner = g.op(g.temp(name, "inner"), "Sub", [g.op(g.temp(name, "less"), "Sub", [scaled, total]),
                                                    g.op(g.temp(name, "Xalong"), "Mul", [xhat, along])])
        sd = g.op(g.temp(name, "sd"), "Sqrt", [g.op(g.temp(name, "ve"), "Add", [var, g.constant(op.eps)])])
        g.op(name, "Div", [inner, g.op(g.temp(name, "den"), "Mul", [sd, n])])

"""The affine map of a dense layer: Z = A_prev W + b (rows layout), and everything about it.

Shapes (rows layout): N samples, D inputs, U units; A_prev (N, D), W (D, U), b (1, U) for a bias
per unit, () for one scalar bias added to every entry, or no bias. Every function also takes a
stack of instances (leading axes): samples are axis -2, units axis -1.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator

import numpy as np

from gradekit.model import names
from gradekit.model.network import BiasKind
from gradekit.model.notation import tex, transposed
from gradekit.ops.base import Builder, Check, Given, Graph, Op, Step, Symbolic
from gradekit.ops.mistakes import Mistake, Values
from gradekit.ops.quality import pairs_equal
from gradekit.ops.worked import Context, Expr, Worked, cap

Array = np.ndarray


# --- forward and backward, as students read them -----------------------------------------------


def affine_forward(x: Array, w: Array, b: Array | None) -> Array:
    """Z = X W + b.  x: (N, D), w: (D, U), b: (1, U) vector, () scalar or None -> (N, U)."""
    z = x @ w
    if b is None:
        return z
    return z + (b[..., None, None] if b.ndim == z.ndim - 2 else b)  # a scalar meets every entry


def affine_backward_input(dz: Array, w: Array) -> Array:
    """dX = dZ W^T (each input feeds every unit through its weight).  -> (N, D)"""
    return dz @ np.swapaxes(w, -1, -2)  # not w.mT (NumPy 2 only): the bundled grader runs on NumPy 1.x too


def affine_backward_weight(x: Array, dz: Array) -> Array:
    """dW = X^T dZ (sums each weight's contribution over the samples).  -> (D, U)"""
    return np.swapaxes(x, -1, -2) @ dz


def affine_backward_bias(dz: Array, bias_kind: str) -> Array:
    """db = dZ summed over everything b was broadcast to: samples (vector) or all entries (scalar)."""
    if bias_kind == "scalar":
        return np.asarray(dz.sum(axis=(-2, -1)))
    return dz.sum(axis=-2, keepdims=True)


# --- the op ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Affine(Op):
    """Layer l's pre-activation Z{l} from its input (X or A{l-1}), weights W{l} and bias b{l}."""

    l: int
    fan_in: int
    units: int
    bias: BiasKind
    decay: Any = None  # the gradekit.ops.weight_decay op when the network has L2 weight decay
    source: str = ""  # what feeds the layer when it is not X or A{l-1} (the previous layer's dropout output)
    kind = "affine"

    @property
    def input(self) -> str:
        return self.source or names.layer_input(self.l)

    def decayed(self, p: str) -> bool:
        return self.decay is not None and self.decay.decays(p)

    @property
    def w(self) -> str:
        return names.of("W", self.l)

    @property
    def b(self) -> str:
        return names.of("b", self.l)

    @property
    def z(self) -> str:
        return names.of("Z", self.l)

    def given(self) -> tuple[Given, ...]:
        out = [Given(self.w, (self.fan_in, self.units), "weights", "W")]
        if self.bias == "vector":
            out.append(Given(self.b, (1, self.units), "unit", "b"))
        elif self.bias == "scalar":
            out.append(Given(self.b, (), "scalar", "b"))
        return tuple(out)

    # -- the trace --

    def forward(self, b: Builder) -> None:
        w, x = tex(self.w), tex(self.input)
        product = f"{x} {w}" if b.net.layout == "rows" else f"{w} {x}"
        if self.bias == "none":
            b.add(self, "forward", self.z, "forward", (self.input, self.w), f"{tex(self.z)} = {product}",
                  lambda x_, w_: affine_forward(x_, w_, None), f"pre-activation of layer {self.l}")
            return
        note = " (one scalar bias, added to every entry)" if self.bias == "scalar" else ""
        b.add(self, "forward", self.z, "forward", (self.input, self.w, self.b),
              f"{tex(self.z)} = {product} + {tex(self.b)}", affine_forward,
              f"pre-activation of layer {self.l}{note}")

    def backward(self, b: Builder) -> None:
        rows = b.net.layout == "rows"
        l, dz_name = self.l, names.grad(self.z)
        dz = tex(dz_name)
        dw = f"{transposed(self.input)} {dz}" if rows else f"{dz} {transposed(self.input)}"
        if self.decayed(self.w):
            k = self.decay.k
            b.add(self, "d_weight", names.grad(self.w), "backward", (self.input, dz_name, self.w),
                  f"{tex(names.grad(self.w))} = {dw}{self.decay.gradient_formula(self.w)}",
                  lambda x_, dz_, w_: affine_backward_weight(x_, dz_) + k * w_,
                  f"gradient of the weights of layer {l}, with the weight-decay term", "weights")
        else:
            b.add(self, "d_weight", names.grad(self.w), "backward", (self.input, dz_name),
                  f"{tex(names.grad(self.w))} = {dw}", affine_backward_weight, f"gradient of the weights of layer {l}",
                  "weights")
        if self.bias != "none":
            kind, db = self.bias, names.grad(self.b)
            if kind == "scalar":
                formula = rf"{tex(db)} = \sum_{{n,k}} {dz}_{{{b.entry('n', 'k')}}}"
                desc = f"gradient of layer {l}'s scalar bias: the sum over every entry it was added to"
            else:
                formula = rf"{tex(db)} = \sum_{{n}} {dz}_{{{b.entry('n', ':')}}}"
                desc = f"gradient of the biases of layer {l}, summed over the samples"
            if self.decayed(self.b):
                k = self.decay.k
                b.add(self, "d_bias", db, "backward", (dz_name, self.b), formula + self.decay.gradient_formula(self.b),
                      lambda dz_, b_: affine_backward_bias(dz_, kind) + k * b_, desc + ", with the weight-decay term",
                      "scalar" if kind == "scalar" else "unit")
            else:
                b.add(self, "d_bias", db, "backward", (dz_name,), formula, lambda dz_: affine_backward_bias(dz_, kind),
                      desc, "scalar" if kind == "scalar" else "unit")
        if l > 1:
            da = f"{dz} {transposed(self.w)}" if rows else f"{transposed(self.w)} {dz}"
            b.add(self, "d_input", names.grad(self.input), "backward", (dz_name, self.w),
                  f"{tex(names.grad(self.input))} = {da}", affine_backward_input,
                  f"gradient at layer {l - 1}'s activation" + (" after dropout" if self.source else ""))

    # -- the worked solution --

    def worked(self, step: Step, cx: Context) -> Worked | None:
        return {"forward": self._worked_z, "d_weight": self._worked_dw, "d_bias": self._worked_db,
                "d_input": self._worked_da}[step.role](step.name, cx)

    def _worked_z(self, name: str, cx: Context) -> Worked:
        r, c = cx.pick(name)
        sym, num = cx.product_terms([((self.input, r, i), (self.w, i, c)) for i in range(self.fan_in)])
        if self.bias != "none":
            sym.append(cx.sym(self.b, r, c))
            num.append(cx.num(self.b, r, c, paren=False))
        return Worked(cx.sym(name, r, c), cx.where(name, r, c), (Expr(cap(sym)), Expr(cap(num))), cx.result(name, r, c))

    def _worked_dw(self, name: str, cx: Context) -> Worked:
        """dW_{i,j}: the sum over the samples of input i times dZ of unit j, written out once."""
        dz = names.grad(self.z)
        i, j = cx.pick(name)
        sym, num = cx.product_terms([((self.input, n, i), (dz, n, j)) for n in range(cx.n)])
        sym, num = list(cap(sym)), list(cap(num))
        if self.decayed(self.w):
            extra = self.decay.worked_terms(cx, self.w, i, j)
            sym.append(extra[0])
            num.append(extra[1])
        return Worked(cx.sym(name, i, j), cx.where(name, i, j), (Expr(tuple(sym)), Expr(tuple(num))),
                      cx.result(name, i, j))

    def _worked_db(self, name: str, cx: Context) -> Worked:
        """db: dZ summed over the samples (a vector bias) or over every entry (a scalar one)."""
        worked = bias_sum_worked(cx, name, names.grad(self.z), self.units, scalar=self.bias == "scalar")
        if not self.decayed(self.b):
            return worked
        _, j = cx.pick(name)
        sym, num = self.decay.worked_terms(cx, self.b, 0, j)
        lines = (Expr((*worked.lines[0].terms, sym)), Expr((*worked.lines[1].terms, num)))
        return Worked(worked.entry, worked.where, lines, worked.result)

    def _worked_da(self, name: str, cx: Context) -> Worked:
        dz = names.grad(self.z)
        r, i = cx.pick(name)
        sym, num = cx.product_terms([((dz, r, j), (self.w, i, j)) for j in range(self.units)])
        return Worked(cx.sym(name, r, i), cx.where(name, r, i), (Expr(cap(sym)), Expr(cap(num))), cx.result(name, r, i))

    def notes(self, step: Step, cx: Context) -> tuple[str, ...]:
        out = []
        zero = cx.structural_zero(step.name)
        activation = cx.net.activation(self.l)
        if zero is not None:
            out.append(zero)
        elif step.role == "d_bias" and activation.kind == "softmax":
            out.append(rf"The entries of ${tex(step.name)}$ add up to 0, because each sample's entries of "
                       rf"${tex(names.grad(self.z))}$ do (softmax outputs add up to 1).")
        if step.role in ("d_weight", "d_bias"):
            out += activation.dead_unit_notes(step, cx)
            p = self.w if step.role == "d_weight" else self.b
            if self.decayed(p):
                out += self.decay.gradient_notes(p)
        return tuple(out)

    # -- grading --

    def incomplete(self, step: Step, v: Values) -> Iterator[Mistake]:
        if step.role == "forward" and self.bias != "none":
            yield Mistake("bias_not_added", f"the bias {self.b} was not added: {self.z} = (layer input times {self.w}) + {self.b}",
                          v.recompute(step.name, {self.b: np.zeros_like(v[self.b])}))

    def mistakes(self, step: Step, v: Values) -> Iterator[Mistake]:
        if step.role == "d_bias":
            yield from self._bias_not_summed(v)
            if self.decay is not None:
                data = affine_backward_bias(v[names.grad(self.z)], self.bias)
                if self.decayed(self.b):
                    yield from self.decay.gradient_mistakes(v, self.b, data)
                else:
                    yield from self.decay.bias_mistakes(v, self.b, data)
        elif step.role == "d_weight":
            yield from self._weight_gradient_input(v)
            if self.decayed(self.w):
                yield from self.decay.gradient_mistakes(v, self.w, affine_backward_weight(v[self.input],
                                                                                          v[names.grad(self.z)]))
        elif step.role == "d_input":
            new = names.new(self.w)
            if new in v:
                yield Mistake("updated_before_backward",
                              f"{self.w} was updated before its gradient was passed back: {step.name} uses the OLD weights",
                              v.recompute(step.name, {self.w: v[new]}))

    def _bias_not_summed(self, v: Values) -> Iterator[Mistake]:
        dz = v[names.grad(self.z)]  # samples on axis -2, units on axis -1
        n = v.net.samples
        if self.bias == "scalar":
            yield Mistake("scalar_bias_per_unit", "one scalar bias is added to every unit and every sample, so its "
                          "gradient is the sum of ALL entries of dZ, not one sum per unit", dz.sum(axis=-2, keepdims=True))
            yield Mistake("scalar_bias_per_sample", "one scalar bias is added to every unit and every sample, so its "
                          "gradient is the sum of ALL entries of dZ, not one sum per sample", dz.sum(axis=-1, keepdims=True))
        elif n > 1:
            yield Mistake("bias_gradient_mean", "the bias gradient sums dZ over the samples; this is the mean",
                          dz.sum(axis=-2, keepdims=True) / n)
            yield Mistake("bias_gradient_over_units", "the bias gradient sums dZ over the SAMPLES, not over the units",
                          dz.sum(axis=-1, keepdims=True))
            for i in range(n):
                yield Mistake("bias_gradient_one_sample",
                              "the bias gradient is the sum of dZ over all samples, not one sample's row", dz[..., i:i + 1, :])

    def _weight_gradient_input(self, v: Values) -> Iterator[Mistake]:
        """dW{l} = (input)^T dZ{l} with the wrong input: the pre-activation Z{l-1}, or the activation
        of another layer (any that has the input's shape)."""
        l, dw = self.l, names.grad(self.w)
        dz = v[names.grad(self.z)]
        right = self.input
        # With weight decay every reading below still adds the decay term (only the input is wrong).
        extra = self.decay.k * v[self.w] if self.decayed(self.w) else 0.0
        shape = v[right].shape
        before = names.of("Z", l - 1)
        if l > 1 and before in v:
            yield Mistake("weight_gradient_from_preactivation",
                          f"{dw} was computed from the pre-activation {before}; it takes layer {l}'s input, the "
                          f"activation {right} = f({before})", np.swapaxes(v[before], -1, -2) @ dz + extra)
        for m in range(v.net.depth + 1):
            other = names.layer_input(m + 1)
            if other == right or other not in v or v[other].shape != shape:
                continue
            yield Mistake("weight_gradient_wrong_input", f"{dw} was computed from {other}; it takes layer {l}'s own "
                          f"input, {right}", np.swapaxes(v[other], -1, -2) @ dz + extra)

    # -- the computation as data, and its proof --

    def graph(self, step: Step, g: Graph) -> None:
        if step.role == "forward":
            if self.bias == "none":
                g.matmul(step.name, self.input, self.w)
            else:
                g.op(step.name, "Add", [g.matmul(g.temp(step.name, "mm"), self.input, self.w), self.b])
            return
        wrt = {"d_weight": self.w, "d_bias": self.b, "d_input": self.input}[step.role]
        if self.decayed(wrt):
            self.decay.graph_gradient(step, g, wrt, self.z)
            return
        g.grad(step.name, wrt, [(self.z, names.grad(self.z))])

    def symbolic(self, s: Symbolic) -> None:
        def z() -> object:
            product = s.values[self.input] * s.values[self.w]
            if self.bias == "vector":
                return product + s.sp.ones(product.shape[0], 1) * s.values[self.b]
            if self.bias == "scalar":
                bias = s.values[self.b][0, 0]
                return product.applyfunc(lambda e: e + bias)
            return product

        s.put(self.z, z)

    # -- quality --

    def checks(self, net: Any, problem: Any) -> tuple[Check, ...]:
        if self.l == net.depth or self.units < 2:
            return ()
        w, b, vector = self.w, self.b, self.bias == "vector"

        def parameters(v: dict[str, Array]) -> Array:
            """Each unit's incoming parameters, stacked: (B, fan_in [+ 1 bias], units)."""
            return np.concatenate([v[w], v[b]], axis=1) if vector else v[w]

        return (Check("identical_units", f"two units of layer {self.l} have the same weights and bias", "given",
                      lambda v: pairs_equal(parameters(v), 0.0), group=1),)

    def structural_zeros(self, net: Any, found: dict[str, str]) -> None:
        l, db = self.l, names.grad(self.b)
        if self.bias == "scalar" and net.activation(l).kind == "softmax":
            found[db] = (f"{self.b} adds the same number to every class score of a sample, and a softmax does not "
                         "change when all of a sample's scores shift alike")
        if self.bias != "none" and net.activation(l).kind == "identity" and net.layer_op(l + 1) is not None \
                and net.layer_op(l + 1).kind == "batch_norm":
            # What batch norm subtracts first is each unit's batch mean: a constant added to a unit for
            # every sample (a bias) leaves its output unchanged.
            found[db] = (f"batch norm {l + 1} subtracts each unit's batch mean, which removes {self.b}: it adds "
                         "the same number to a unit for every sample")


def bias_sum_worked(cx: Context, name: str, dz: str, units: int, scalar: bool = False,
                    times: str | None = None) -> Worked:
    """A sum of dZ over the samples for one unit (a bias, a batch-norm shift; `times` another
    quantity multiplied in, as dgamma's Xhat), or over every entry (a scalar bias)."""
    _, j = cx.pick(name)
    cells = ([(n, k) for n in range(cx.n) for k in range(units)] if scalar else [(n, j) for n in range(cx.n)])
    if not cx.rows and scalar:
        cells = [(n, k) for k in range(units) for n in range(cx.n)]
    if times is not None:
        sym = [f"{cx.sym(dz, n, k)} {cx.sym(times, n, k)}" for n, k in cells]
        num = [rf"{cx.num(dz, n, k, paren=False)} \cdot {cx.num(times, n, k)}" for n, k in cells]
    else:
        sym = [cx.sym(dz, n, k) for n, k in cells]
        num = [cx.num(dz, n, k, paren=False) for n, k in cells]
    return Worked(cx.sym(name, 0, j), cx.where(name, 0, j), (Expr(cap(sym)), Expr(cap(num))), cx.result(name, 0, j))

"""Softmax over each sample's classes: A_k = e^{Z_k} / sum_j e^{Z_j}, and its Jacobian backward.

Only an output layer has it. With cross-entropy its dZ collapses to A - onehot(Y) (the loss
op, gradekit.ops.losses, says how); under any other loss dZ goes through the Jacobian,
dZ = A (dA - sum_k dA_k A_k), per sample.
"""

from __future__ import annotations

from typing import Any, Iterator

import numpy as np

from gradekit.model import names
from gradekit.model.notation import number, tex
from gradekit.ops.activation import Activation
from gradekit.ops.base import Builder, Check, Graph, Step, Symbolic
from gradekit.ops.mistakes import Mistake, Values
from gradekit.ops.quality import MARGIN_SLACK, entries
from gradekit.ops.worked import Context, Expr

Array = np.ndarray

PROBABILITY_FLOOR = 0.01  # no class probability at or below this (its log and 1/A blow up by hand)
PREDICTION_GAP = 0.02  # the two most likely classes of a sample differ by more than this


def softmax(z: Array) -> Array:
    """Row-wise softmax: each sample's class scores -> probabilities.  (N, K) -> (N, K)"""
    shifted = z - z.max(axis=-1, keepdims=True)  # same result, no overflow
    e = np.exp(shifted)
    return e / e.sum(axis=-1, keepdims=True)


def top_gap(probs: Array) -> Array:
    """Per candidate, the smallest gap between a sample's two most likely classes."""
    top2 = np.sort(probs, axis=-1)[..., -2:]
    return (top2[..., 1] - top2[..., 0]).min(axis=-1)


class Softmax(Activation):
    kind = "softmax"
    words = "softmax"
    statement = "softmax"
    caption = "softmax"
    reads = ("A",)
    chain_words = "the softmax Jacobian, A (dA − Σ_k dA_k A_k)"

    def f(self, z: Array) -> Array:
        return softmax(z)

    def df(self, da: Array, at: Array | None) -> Array:
        """dZ = A (dA - sum_k dA_k A_k): the softmax Jacobian, per sample."""
        assert at is not None
        return at * (da - (da * at).sum(axis=-1, keepdims=True))

    def forward_formula(self, b: Builder) -> str:
        a, z = tex(self.a), tex(self.z)
        nk, nj = b.entry("n", "k"), b.entry("n", "j")
        return rf"{a}_{{{nk}}} = \frac{{e^{{{z}_{{{nk}}}}}}}{{\sum_{{j}} e^{{{z}_{{{nj}}}}}}}"

    def backward_formula(self, b: Builder) -> str:
        dz, da, a = tex(names.grad(self.z)), tex(names.grad(self.a)), tex(self.a)
        nk, nj = b.entry("n", "k"), b.entry("n", "j")
        return rf"{dz}_{{{nk}}} = {a}_{{{nk}}} \left({da}_{{{nk}}} - \sum_{{j}} {da}_{{{nj}}} {a}_{{{nj}}}\right)"

    def worked_forward(self, name: str, cx: Context, r: int, c: int) -> tuple[Expr, ...]:
        z = self.z
        zs, zn = cx.sym(z, r, c), cx.num(z, r, c, paren=False)
        ks = list(range(cx.value(z).shape[1]))
        den_sym = " + ".join(f"e^{{{cx.sym(z, r, j)}}}" for j in ks)
        den_exp = " + ".join(f"e^{{{cx.num(z, r, j, paren=False)}}}" for j in ks)
        den_num = " + ".join(number(float(np.exp(cx.at(z, r, j))), cx.decimals) for j in ks)
        e_c = number(float(np.exp(cx.at(z, r, c))), cx.decimals)
        return (Expr((rf"\frac{{e^{{{zs}}}}}{{{den_sym}}}",)), Expr((rf"\frac{{e^{{{zn}}}}}{{{den_exp}}}",)),
                Expr((rf"\frac{{{e_c}}}{{{den_num}}}",)))

    def worked_backward(self, name: str, cx: Context, r: int, c: int) -> tuple[Expr, ...]:
        a, da = self.a, names.grad(self.a)
        ds, dn = cx.sym(da, r, c), cx.num(da, r, c, paren=False)
        k = cx.value(a).shape[1]
        inner_sym = " + ".join(f"{cx.sym(da, r, j)} {cx.sym(a, r, j)}" for j in range(k))
        inner_num = " + ".join(rf"{cx.num(da, r, j, paren=False)} \cdot {cx.num(a, r, j)}" for j in range(k))
        return (Expr((rf"{cx.sym(a, r, c)} \left({ds} - ({inner_sym})\right)",)),
                Expr((rf"{cx.num(a, r, c, paren=False)} \cdot \left({dn} - ({inner_num})\right)",)))

    def delta_notes(self, step: Step, cx: Context) -> list[str]:
        return [rf"Each sample's entries of ${tex(step.name)}$ add up to 0: the softmax outputs always add up to 1, "
                "so raising every class score of a sample by the same amount changes nothing."]

    def mistakes(self, step: Step, v: Values) -> Iterator[Mistake]:
        if step.role == "forward":
            z = v[self.z]
            e = np.exp(z - z.max(axis=(-2, -1), keepdims=True))
            yield Mistake("softmax_over_samples", "softmax normalized over the samples; each sample's probabilities "
                          "over the CLASSES sum to 1", e / e.sum(axis=-2, keepdims=True))
            yield Mistake("softmax_unnormalized", "softmax without normalization: divide each exp by the sum over the "
                          "classes", np.exp(z))
            return
        da = names.grad(self.a)
        if da in v:
            a, d = v[self.a], v[da]
            s = (a * d).sum(axis=-1, keepdims=True)
            yield Mistake("softmax_jacobian_a_twice", "the softmax Jacobian has A twice in its second term: dZ = "
                          "A(dA - sum(A dA)), i.e. A*dA - A*sum(A*dA)", a * d - a * (a * s))
            yield Mistake("softmax_jacobian_over_samples", "the softmax Jacobian was summed over the samples instead "
                          "of the classes", a * (d - (a * d).sum(axis=-2, keepdims=True)))

    def graph_forward(self, step: Step, g: Graph) -> None:
        g.op(step.name, "Softmax", [self.z], axis=g.unit_axis)

    def graph_backward(self, step: Step, g: Graph) -> None:
        da = names.grad(self.a)
        both = g.op(g.temp(step.name, "dAA"), "Mul", [da, self.a])
        total = g.op(g.temp(step.name, "sum"), "ReduceSum", [both, g.constant([g.unit_axis], "int64")], keepdims=1)
        inner = g.op(g.temp(step.name, "inner"), "Sub", [da, total])
        g.op(step.name, "Mul", [self.a, inner])

    def symbolic_f(self, s: Symbolic, z: Any) -> Any:
        rows = []
        for i in range(z.shape[0]):  # per sample (row): exp(z_k) / sum_j exp(z_j)
            exps = [s.sp.exp(z[i, k]) for k in range(z.shape[1])]
            total = sum(exps)
            rows.append([e / total for e in exps])
        return s.sp.Matrix(rows)

    def activation_checks(self, net: Any, problem: Any) -> tuple[Check, ...]:
        out, w = self.a, names.of("W", self.l)
        checks = []
        if self.l > 1 and net.affine(self.l) is not None:
            # A hidden unit whose weights into every class are equal shifts all class scores alike,
            # which changes no softmax: its dA is 0 for every sample (a dead unit, found early).
            checks.append(Check("dead_unit", f"a unit of layer {self.l - 1} has equal weights into every softmax "
                                "class (its gradient is 0)", "given",
                                lambda v: (v[w] == v[w][..., :1]).all(axis=-1).any(axis=-1), group=3))
        checks.append(Check("probability_floor", f"a softmax probability is at or below {PROBABILITY_FLOOR}", "forward",
                            lambda v: entries(v[out]).min(axis=1) <= PROBABILITY_FLOOR + MARGIN_SLACK, group=3))
        checks.append(Check("clear_prediction", "two classes are nearly tied for the prediction", "forward",
                            lambda v: top_gap(v[out]) <= PREDICTION_GAP + MARGIN_SLACK, group=3))
        return tuple(checks)

"""Dropout with a given mask: D = A M / keep (inverted dropout) or D = A M, and dA = dD M / keep.

The mask M{l} (0 drops a unit of a sample, 1 keeps it) is given on the sheet like X, so the
exercise is deterministic. The sheet names the probability as a keep probability p_keep or as a
drop probability p_drop = 1 - p_keep. Inverted dropout (the usual form: cs231n, PyTorch) scales the
kept activations by 1 / p_keep at training time so that nothing changes at test time; plain
dropout does not scale at training time (it scales by p_keep at test time, which is not asked).

Shapes (rows layout): A, M, D (N, U). Every function also takes a stack of instances.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator

import numpy as np

from gradekit.model import names
from gradekit.model.network import Dropout as Spec
from gradekit.model.notation import tex, tex_constant
from gradekit.ops.base import Builder, Check, Given, Graph, Op, Step, Symbolic
from gradekit.ops.mistakes import Mistake, Values
from gradekit.ops.worked import Context, Expr, Worked

Array = np.ndarray


def dropout_forward(a: Array, mask: Array, scale: float) -> Array:
    """D = A * M * scale (scale 1 / p_keep for inverted dropout, else 1).  -> (N, U)"""
    return a * mask * scale


def dropout_backward(dd: Array, mask: Array, scale: float) -> Array:
    """dA = dD * M * scale: a dropped unit passes no gradient back; a kept one is scaled as forward."""
    return dd * mask * scale


@dataclass(frozen=True)
class DropoutOp(Op):
    """Dropout on layer l's activation A{l} with the given mask M{l}, into D{l} (what layer l + 1 reads)."""

    l: int
    units: int
    samples: int
    spec: Spec
    kind = "dropout"

    @property
    def a(self) -> str:
        return names.of("A", self.l)

    @property
    def mask(self) -> str:
        return names.of("M", self.l)

    @property
    def out(self) -> str:
        return names.of("D", self.l)

    @property
    def scale(self) -> float:
        return 1.0 / self.spec.keep if self.spec.inverted else 1.0

    def given(self) -> tuple[Given, ...]:
        return (Given(self.mask, (self.samples, self.units), "batch", "M"),)

    # -- how the sheet writes it --

    def probability_tex(self) -> str:
        """The probability as the sheet names it, and the keep probability in its terms."""
        s = self.spec
        if s.named == "keep":
            return rf"p_{{\text{{keep}}}} = {tex_constant(s.keep)}"
        return rf"p_{{\text{{drop}}}} = {tex_constant(s.drop)}"

    def scale_tex(self) -> str:
        """1 / p_keep in the sheet's own terms: \\frac{1}{p_keep} or \\frac{1}{1 - p_drop}."""
        return r"\frac{1}{p_{\text{keep}}}" if self.spec.named == "keep" else r"\frac{1}{1 - p_{\text{drop}}}"

    def words(self) -> str:
        s = self.spec
        keep = "" if s.named == "keep" else rf" (so $p_{{\text{{keep}}}} = {tex_constant(s.keep)}$)"
        if s.inverted:
            how = (rf"inverted dropout: the kept activations are scaled by ${self.scale_tex()} = "
                   rf"{tex_constant(round(self.scale, 12))}$ at training time")
        else:
            how = "dropout without scaling at training time (not inverted: the scale is applied at test time, not here)"
        return (rf"Dropout on layer {self.l}'s activation with ${self.probability_tex()}${keep}, {how}. "
                rf"The mask ${tex(self.mask)}$ is given (1 keeps a unit of a sample, 0 drops it); layer {self.l + 1} "
                rf"reads ${tex(self.out)}$.")

    def _factor(self) -> str:
        return rf" \cdot {self.scale_tex()}" if self.spec.inverted else ""

    # -- the trace --

    def forward(self, b: Builder) -> None:
        scale = self.scale
        b.add(self, "forward", self.out, "forward", (self.a, self.mask),
              rf"{tex(self.out)} = {tex(self.a)} \odot {tex(self.mask)}{self._factor()}",
              lambda a, m: dropout_forward(a, m, scale), f"layer {self.l}'s activation after dropout")

    def backward(self, b: Builder) -> None:
        scale, dd = self.scale, names.grad(self.out)
        b.add(self, "backward", names.grad(self.a), "backward", (dd, self.mask),
              rf"{tex(names.grad(self.a))} = {tex(dd)} \odot {tex(self.mask)}{self._factor()}",
              lambda d, m: dropout_backward(d, m, scale), f"gradient at layer {self.l}'s activation, through the dropout")

    # -- the worked solution --

    def worked(self, step: Step, cx: Context) -> Worked | None:
        src = self.a if step.role == "forward" else names.grad(self.out)
        r, c = cx.pick(step.name)
        if self.spec.inverted:
            scale = tex_constant(round(self.scale, 12))
            sym = rf"{cx.sym(src, r, c)} \, {cx.sym(self.mask, r, c)}{self._factor()}"
            num = rf"{cx.num(src, r, c, paren=False)} \cdot {cx.num(self.mask, r, c)} \cdot {scale}"
        else:
            sym = rf"{cx.sym(src, r, c)} \, {cx.sym(self.mask, r, c)}"
            num = rf"{cx.num(src, r, c, paren=False)} \cdot {cx.num(self.mask, r, c)}"
        return Worked(cx.sym(step.name, r, c), cx.where(step.name, r, c), (Expr((sym,)), Expr((num,))),
                      cx.result(step.name, r, c))

    def notes(self, step: Step, cx: Context) -> tuple[str, ...]:
        mask = tex(self.mask)
        if step.role == "forward":
            out = [rf"Where ${mask}$ is 0 the unit is dropped for that sample: its entry is 0."]
            if self.spec.inverted:
                out.append(rf"The kept entries are divided by $p_{{\text{{keep}}}} = {tex_constant(self.spec.keep)}$, "
                           "so that the expected activation is the same as without dropout.")
            return tuple(out)
        out = [rf"The backward pass applies the same mask ${mask}$: a dropped unit passes no gradient back."]
        if self.spec.inverted:
            out.append("It applies the same scale as the forward pass, too: the local derivative of "
                       rf"${tex(self.out)}$ with respect to ${tex(self.a)}$ is ${mask}{self._factor()}$.")
        return tuple(out)

    # -- grading --

    def mistakes(self, step: Step, v: Values) -> Iterator[Mistake]:
        src = v[self.a] if step.role == "forward" else v[names.grad(self.out)]
        m, keep, drop = v[self.mask], self.spec.keep, self.spec.drop
        if step.role == "forward":
            yield Mistake("dropout_mask_not_applied", f"the mask {self.mask} was not applied: dropped units are 0",
                          src * self.scale)
            if self.spec.inverted:
                yield Mistake("dropout_scale_missing", f"inverted dropout scales the kept activations by 1/p_keep = "
                              f"{self.scale:g}", src * m)
            else:
                yield Mistake("dropout_scaled_not_inverted", "this dropout is not inverted: no scale at training time",
                              src * m / keep)
        else:
            yield Mistake("dropout_backward_without_mask", f"the backward pass through dropout applies the mask "
                          f"{self.mask} too: a dropped unit passes no gradient back", src * self.scale)
            if self.spec.inverted:
                yield Mistake("dropout_backward_without_scale", f"the backward pass through inverted dropout scales by "
                              f"1/p_keep = {self.scale:g}, as the forward pass does", src * m)
            else:
                yield Mistake("dropout_backward_scaled_not_inverted", "this dropout is not inverted: the backward "
                              "pass has no scale", src * m / keep)
        if self.spec.inverted:
            if abs(drop - keep) > 1e-12:
                yield Mistake("dropout_scaled_by_drop", f"the scale is 1/p_keep = {self.scale:g}, not p_drop = {drop:g}",
                              src * m * drop)
            yield Mistake("dropout_scaled_by_keep", f"the scale is 1/p_keep = {self.scale:g}: divide by p_keep, do "
                          "not multiply", src * m * keep)

    # -- the computation as data, and its proof --

    def graph(self, step: Step, g: Graph) -> None:
        # With a given mask, dropout at training time is a product: ONNX's Dropout draws its own
        # mask, so the graph writes Mul by the mask and by the scale.
        src = self.a if step.role == "forward" else names.grad(self.out)
        if not self.spec.inverted:
            g.op(step.name, "Mul", [src, self.mask])
            return
        masked = g.op(g.temp(step.name, "masked"), "Mul", [src, self.mask])
        g.op(step.name, "Mul", [masked, g.constant(self.scale)])

    def symbolic(self, s: Symbolic) -> None:
        a, m = s.values[self.a], s.values[self.mask]
        scale = 1 / s.exact(self.spec.keep) if self.spec.inverted else 1
        s.put(self.out, lambda: a.multiply_elementwise(m) * scale)

    # -- quality --

    def checks(self, net: Any, problem: Any) -> tuple[Check, ...]:
        mask = self.mask
        return (Check("dropout_mask", f"the mask {mask} drops nothing or keeps nothing", "given",
                      lambda v: (v[mask] == 0).all(axis=(-2, -1)) | (v[mask] != 0).all(axis=(-2, -1)), group=0),)

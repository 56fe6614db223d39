"""Adam, with or without bias correction (t counted from 1), ε outside or inside the root, and
AdamW (decoupled weight decay) or Adam with L2 in the gradient.

m = β1 m + (1 - β1) g;  v = β2 v + (1 - β2) g²;  m̂ = m / (1 - β1^t);  v̂ = v / (1 - β2^t);
θ -= η m̂ / (√v̂ + ε). ONNX's default domain has no Adam operator: the graph composes it from
Mul, Add, Sub, Div and Sqrt, as every optimizer here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterator, Mapping

import numpy as np

from gradekit.model.notation import tex_constant
from gradekit.ops.optimizer import E, OptimizerStep, Part, c, decay_mistakes, q, sq
from gradekit.ops.rmsprop import EPS_WORDS, denominator, other_place


def correction(beta: float, t: int) -> E:
    """1 - β^t, written as such."""
    return c(1 - beta ** t, f"(1 - {tex_constant(beta)}^{{{t}}})")


@dataclass(frozen=True)
class AdamStep(OptimizerStep):
    kind = "adam_step"

    def first(self, gradient: E | None = None, swapped: bool = False) -> E:
        m, g = self.model, gradient if gradient is not None else self.gradient()
        b, one_minus = c(m.beta1), c(1 - m.beta1, f"(1 - {tex_constant(m.beta1)})")
        if swapped:
            b, one_minus = one_minus, b
        return b * q(self.before("m")) + one_minus * g

    def second(self, gradient: E | None = None, squared: bool = True) -> E:
        m, g = self.model, gradient if gradient is not None else self.gradient()
        return c(m.beta2) * q(self.before("v")) + c(1 - m.beta2, f"(1 - {tex_constant(m.beta2)})") * (
            sq(g) if squared else g)

    def corrected(self, base: str, t: int | None = None) -> E:
        beta = self.model.beta1 if base == "m" else self.model.beta2
        return q(self.now(base)) / correction(beta, self.t if t is None else t)

    def update(self, first: str | None = None, second: str | None = None, place: str | None = None,
               root: bool = True, decay: float | None = None) -> E:
        m = self.model
        bc = m.bias_correction
        mm = q(first or self.now("mhat" if bc else "m"))
        den = denominator(q(second or self.now("vhat" if bc else "v")), m.eps, place or m.eps_place, root)
        return self.apply((self.lr() * mm) / den, "sub", decay)

    def parts(self) -> tuple[Part, ...]:
        t = self.t
        out = [Part("first_moment", self.now("m"), self.first(), f"the first moment (average of the gradient) after step {t}"),
               Part("second_moment", self.now("v"), self.second(), f"the second moment (average of the squared gradient) after step {t}")]
        if self.model.bias_correction:
            out += [Part("first_corrected", self.now("mhat"), self.corrected("m"), f"the bias-corrected first moment at t = {t}"),
                    Part("second_corrected", self.now("vhat"), self.corrected("v"), f"the bias-corrected second moment at t = {t}")]
        out.append(Part("update", self.theta, self.update(), f"the parameter after step {t}"))
        return tuple(out)

    def alternatives(self, part: Part) -> Iterator[tuple[str, str, E]]:
        m, t = self.model, self.t
        if part.role == "first_moment":
            yield ("decay_rates_swapped", "β1 and 1 − β1 were swapped: the old moment keeps the factor β1",
                   self.first(swapped=True))
            yield from decay_mistakes(self, part, True, lambda gradient=None, decay=None: self.first(gradient))
            return
        if part.role == "second_moment":
            yield ("gradient_not_squared", "the second moment averages the SQUARED gradient: v = β2 v + (1 − β2)g²",
                   self.second(squared=False))
            yield from decay_mistakes(self, part, True, lambda gradient=None, decay=None: self.second(gradient))
            return
        if part.role in ("first_corrected", "second_corrected"):
            base = "m" if part.role == "first_corrected" else "v"
            yield ("bias_correction_missing", "the bias correction is missing: divide the moment by 1 − β^t",
                   q(self.now(base)))
            if t > 1:
                yield ("bias_correction_t_from_0", f"t was counted from 0: this is step t = {t} (the first step is "
                       f"t = 1), so divide by 1 − β^{t}", self.corrected(base, t - 1))
            return
        if m.bias_correction:
            yield ("bias_correction_missing", "the step used the moments without their bias correction: "
                   "θ −= η m̂ / (√v̂ + ε) with m̂ and v̂", self.update(first=self.now("m"), second=self.now("v")))
        first = self.now("mhat" if m.bias_correction else "m")
        yield ("root_of_first_moment", "the step divides by the root of the SECOND moment (v), not of m",
               _root_of_m(self, first))
        yield ("eps_placement", f"ε is in the wrong place: this sheet says {EPS_WORDS[m.eps_place].replace('s', 'v̂')}",
               self.update(place=other_place(m.eps_place)))
        yield ("root_missing", "the step divides by the ROOT of the second moment: √v̂, not v̂",
               self.update(root=False))
        if m.decay == "l2" and m.weight_decay:
            yield ("weight_decay_after_moments", "under L2 the term λθ goes into the gradient BEFORE the moments, "
                   "not beside the step as AdamW's decoupled decay does",
                   _decoupled(self))
        yield from decay_mistakes(self, part, False, lambda gradient=None, decay=None: self.update(decay=decay))

    def roots(self) -> tuple[tuple[str, Callable[[Mapping[str, Any]], Any]], ...]:
        second = self.now("vhat" if self.model.bias_correction else "v")
        return ((f"√{'v̂' if self.model.bias_correction else 'v'}", lambda v: np.sqrt(np.maximum(v[second], 0.0))),)


def _root_of_m(op: AdamStep, first: str) -> E:
    """θ - η m / (√|m| + ε): the root of the first moment in place of the second's."""
    m = op.model
    return op.apply((op.lr() * q(first)) / denominator(E("abs", (q(first),)), m.eps, m.eps_place), "sub")


def _decoupled(op: AdamStep) -> E:
    m = op.model
    moved = op.update()
    return moved - E("const", value=m.lr * m.weight_decay, text="") * q(op.prev)

"""RMSProp: s = ρs + (1 - ρ)g², θ -= η g / (√s + ε), or η g / √(s + ε) with ε inside the root."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterator, Mapping

import numpy as np

from gradekit.model.notation import tex_constant
from gradekit.ops.optimizer import E, OptimizerStep, Part, c, decay_mistakes, q, sq, sqrt


def denominator(root_of: E, eps: float, place: str, root: bool = True) -> E:
    """√x + ε (outside) or √(x + ε) (inside); without `root`, x + ε."""
    if not root:
        return root_of + c(eps)
    return sqrt(root_of) + c(eps) if place == "outside" else sqrt(root_of + c(eps))


def other_place(place: str) -> str:
    return "inside" if place == "outside" else "outside"


EPS_WORDS = {"outside": "ε goes outside the root, √s + ε", "inside": "ε goes inside the root, √(s + ε)"}


@dataclass(frozen=True)
class RmspropStep(OptimizerStep):
    kind = "rmsprop_step"

    def second(self, gradient: E | None = None, squared: bool = True, swapped: bool = False) -> E:
        m, g = self.model, gradient if gradient is not None else self.gradient()
        rho, one_minus = c(m.rho), c(1 - m.rho, f"(1 - {tex_constant(m.rho)})")
        if swapped:
            rho, one_minus = one_minus, rho
        return rho * q(self.before("s")) + one_minus * (sq(g) if squared else g)

    def update(self, s: str | None = None, gradient: E | None = None, place: str | None = None,
               root: bool = True, decay: float | None = None) -> E:
        m = self.model
        g = gradient if gradient is not None else self.gradient()
        den = denominator(q(s or self.now("s")), m.eps, place or m.eps_place, root)
        return self.apply((self.lr() * g) / den, "sub", decay)

    def parts(self) -> tuple[Part, ...]:
        return (Part("second_moment", self.now("s"), self.second(), f"the running average of the squared gradient after step {self.t}"),
                Part("update", self.theta, self.update(), f"the parameter after step {self.t}"))

    def alternatives(self, part: Part) -> Iterator[tuple[str, str, E]]:
        m = self.model
        if part.role == "second_moment":
            yield ("gradient_not_squared", "the average is of the SQUARED gradient: s = ρs + (1 − ρ)g²",
                   self.second(squared=False))
            yield ("decay_rates_swapped", "ρ and 1 − ρ were swapped: the old average keeps the factor ρ",
                   self.second(swapped=True))
            yield from decay_mistakes(self, part, True, lambda gradient=None, decay=None: self.second(gradient))
            return
        yield ("eps_placement", f"ε is in the wrong place: this sheet says {EPS_WORDS[m.eps_place]}",
               self.update(place=other_place(m.eps_place)))
        yield ("root_missing", "the step divides by the ROOT of the average: √s, not s", self.update(root=False))
        yield ("old_state", "the old average was used: update s first, then divide by its root",
               self.update(s=self.before("s")))
        yield from decay_mistakes(self, part, True,
                                  lambda gradient=None, decay=None: self.update(gradient=gradient, decay=decay))

    def roots(self) -> tuple[tuple[str, Callable[[Mapping[str, Any]], Any]], ...]:
        s = self.now("s")
        return (("√s", lambda v: np.sqrt(np.maximum(v[s], 0.0))),)

"""An optimizer exercise: a small parameter θ, given gradients g^(1)..g^(T), and one update rule.

The family "optimizer" asks for the optimizer's state (v, m, s, and Adam's bias-corrected m̂, v̂)
and θ after every step t = 1..T, from θ^(0), the initial state (v^(0), m^(0), s^(0)) and the
gradients, all given. Every convention a course may use is a field of the model, stated on the
sheet in words and formula:

- momentum `form`: "classic" v = μv + ηg, θ -= v; "pytorch" v = μv + g, θ -= ηv; "cs231n"
  v = μv - ηg, θ += v; "ema" v = βv + (1 - β)g, θ -= ηv;
- nesterov `form`: "cs231n" (Sutskever's look-ahead rewritten in θ: v = μv - ηg,
  θ += -μ v_old + (1 + μ) v), "pytorch" (v = μv + g, θ -= η(g + μv));
- rmsprop and adam: `eps` inside or outside the root; adam's bias correction on or off (t from 1);
- `decay`: "none", "l2" (λθ added to the gradient before anything else; the loss gains λ/2 ‖θ‖²),
  or "decoupled" (AdamW: θ -= η λ θ^(t-1) beside the optimizer's step).

Numbers live in a separate name -> array mapping, as for every family: the model is frozen and
hashable (it keys caches).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

from gradekit.model import names

RULES: tuple[str, ...] = ("sgd", "momentum", "nesterov", "rmsprop", "adam")
MOMENTUM_FORMS: tuple[str, ...] = ("classic", "pytorch", "cs231n", "ema")
NESTEROV_FORMS: tuple[str, ...] = ("cs231n", "pytorch")
EPS_PLACES: tuple[str, ...] = ("outside", "inside")
DECAYS: tuple[str, ...] = ("none", "l2", "decoupled")


@dataclass(frozen=True)
class Optimizer:
    """Everything about an optimizer exercise except its numbers (family "optimizer")."""

    family: ClassVar[str] = "optimizer"
    rule: Literal["sgd", "momentum", "nesterov", "rmsprop", "adam"]
    shape: tuple[int, int]  # θ's shape: (1, k) a vector of k entries, (2, 2) a matrix
    steps: int  # T: steps asked, 1 to 3
    lr: float
    form: str = "classic"  # momentum's or nesterov's convention
    momentum: float = 0.9  # μ (β for the "ema" form)
    beta1: float = 0.9
    beta2: float = 0.999
    rho: float = 0.9  # rmsprop's decay
    eps: float = 1e-8
    eps_place: Literal["outside", "inside"] = "outside"
    bias_correction: bool = True
    decay: Literal["none", "l2", "decoupled"] = "none"
    weight_decay: float = 0.0  # λ
    layout: Literal["rows"] = "rows"
    samples: int = 1

    @property
    def vector(self) -> bool:
        return self.shape[0] == 1

    def state_bases(self) -> tuple[str, ...]:
        """The optimizer's state carried from step to step, in the order of its update."""
        return {"sgd": (), "momentum": ("v",), "nesterov": ("v",), "rmsprop": ("s",),
                "adam": ("m", "v")}[self.rule]

    def given_names(self) -> tuple[str, ...]:
        """θ^(0), the initial state, then the gradients g^(1)..g^(T)."""
        return (names.of("theta", 0), *(names.of(b, 0) for b in self.state_bases()),
                *(names.of("g", t) for t in range(1, self.steps + 1)))

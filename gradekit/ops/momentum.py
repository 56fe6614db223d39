"""Momentum in the four conventions courses use, and Nesterov's momentum in two forms.

Momentum (`form`):
- "classic": v = μv + ηg, θ -= v (Sutskever et al. 2013; CS189);
- "pytorch": v = μv + g, θ -= ηv (torch.optim.SGD);
- "cs231n": v = μv - ηg, θ += v (the cs231n notes);
- "ema": v = βv + (1 - β)g, θ -= ηv (an exponential average; Andrew Ng's courses).
Nesterov (`form`): "cs231n" v = μv - ηg, θ += -μ v_old + (1 + μ) v (the look-ahead rewritten in
θ); "pytorch" v = μv + g, θ -= η(g + μv).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

from gradekit.model.notation import tex_constant
from gradekit.ops.optimizer import E, OptimizerStep, Part, c, decay_mistakes, q


@dataclass(frozen=True)
class MomentumStep(OptimizerStep):
    kind = "momentum_step"

    def velocity(self, gradient: E | None = None, form: str | None = None) -> E:
        m, g = self.model, gradient if gradient is not None else self.gradient()
        mu, v = c(m.momentum), q(self.before("v"))
        form = form or m.form
        if form == "classic":
            return mu * v + self.lr() * g
        if form == "pytorch":
            return mu * v + g
        if form == "cs231n":
            return mu * v - self.lr() * g
        return mu * v + c(1 - m.momentum, f"(1 - {tex_constant(m.momentum)})") * g  # ema

    def update(self, v: E | None = None, decay: float | None = None, flip: bool = False) -> E:
        v = v if v is not None else q(self.now("v"))
        form = self.model.form
        if form == "classic":
            return self.apply(v, "add" if flip else "sub", decay)
        if form == "cs231n":
            return self.apply(v, "sub" if flip else "add", decay)
        return self.apply(self.lr() * v, "add" if flip else "sub", decay)  # pytorch, ema

    def parts(self) -> tuple[Part, ...]:
        return (Part("velocity", self.now("v"), self.velocity(), f"the velocity after step {self.t}"),
                Part("update", self.theta, self.update(), f"the parameter after step {self.t}"))

    def alternatives(self, part: Part) -> Iterator[tuple[str, str, E]]:
        form = self.model.form
        if part.role == "velocity":
            if form == "classic":
                yield ("momentum_sign_flipped", "the velocity's sign convention was flipped (cs231n's v = μv − ηg): "
                       "this sheet uses v = μv + ηg and θ −= v", self.velocity(form="cs231n"))
                yield ("velocity_learning_rate_missing", "the learning rate is missing from the velocity (PyTorch's "
                       "v = μv + g): this sheet uses v = μv + ηg", self.velocity(form="pytorch"))
            elif form == "cs231n":
                yield ("momentum_sign_flipped", "the velocity's sign convention was flipped: cs231n's velocity "
                       "SUBTRACTS the step, v = μv − ηg, and θ += v", self.velocity(form="classic"))
            elif form == "pytorch":
                yield ("velocity_learning_rate_added", "the learning rate does not go into PyTorch's velocity: "
                       "v = μv + g, then θ −= ηv", self.velocity(form="classic"))
            else:
                yield ("momentum_damping_missing", "the factor (1 − β) on the gradient is missing: the average is "
                       "v = βv + (1 − β)g", self.velocity(form="pytorch"))
            yield from decay_mistakes(self, part, True, lambda gradient=None, decay=None: self.velocity(gradient))
        else:
            yield ("old_velocity", "the old velocity was used instead of the new one: update the velocity first, "
                   "then move θ with the new v", self.update(v=q(self.before("v"))))
            yield ("momentum_sign_flipped", "the step went the wrong way: check the sign convention of the "
                   "update (θ −= v or θ += v) that this sheet states", self.update(flip=True))
            yield from decay_mistakes(self, part, False, lambda gradient=None, decay=None: self.update(decay=decay))


@dataclass(frozen=True)
class NesterovStep(OptimizerStep):
    kind = "nesterov_step"

    def velocity(self, gradient: E | None = None, flip: bool = False) -> E:
        m, g = self.model, gradient if gradient is not None else self.gradient()
        mu, v = c(m.momentum), q(self.before("v"))
        if m.form == "cs231n":
            return mu * v + self.lr() * g if flip else mu * v - self.lr() * g
        return mu * v + g

    def update(self, new: str | None = None, old: str | None = None, gradient: E | None = None,
               decay: float | None = None, plain: bool = False) -> E:
        m = self.model
        new_v, old_v = q(new or self.now("v")), q(old or self.before("v"))
        mu = m.momentum
        if m.form == "cs231n":
            if plain:
                return self.apply(new_v, "add", decay)
            moved = c(1 + mu, f"(1 + {tex_constant(mu)})") * new_v - c(mu) * old_v
            return self.apply(moved, "add", decay)
        g = gradient if gradient is not None else self.gradient()
        if plain:
            return self.apply(self.lr() * new_v, "sub", decay)
        return self.apply(self.lr() * E("add", (g, c(mu) * new_v)), "sub", decay)

    def parts(self) -> tuple[Part, ...]:
        return (Part("velocity", self.now("v"), self.velocity(), f"the velocity after step {self.t}"),
                Part("update", self.theta, self.update(), f"the parameter after step {self.t} (Nesterov)"))

    def alternatives(self, part: Part) -> Iterator[tuple[str, str, E]]:
        m = self.model
        if part.role == "velocity":
            if m.form == "cs231n":
                yield ("momentum_sign_flipped", "the velocity's sign convention was flipped: this form's velocity "
                       "SUBTRACTS the step, v = μv − ηg", self.velocity(flip=True))
            yield from decay_mistakes(self, part, True, lambda gradient=None, decay=None: self.velocity(gradient))
            return
        yield ("nesterov_as_momentum", "this is plain momentum's update, not Nesterov's: the look-ahead adds "
               "the momentum term once more", self.update(plain=True))
        if m.form == "cs231n":
            yield ("old_velocity", "the old and the new velocity were swapped: θ += −μ v_old + (1 + μ) v_new",
                   self.update(new=self.before("v"), old=self.now("v")))
        else:
            yield ("old_velocity", "the old velocity was used instead of the new one in g + μv",
                   self.update(new=self.before("v")))
            yield from decay_mistakes(self, part, True,
                                      lambda gradient=None, decay=None: self.update(gradient=gradient, decay=decay))
            return
        yield from decay_mistakes(self, part, False, lambda gradient=None, decay=None: self.update(decay=decay))

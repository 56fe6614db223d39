"""The optimizer exercise's part of a problem spec: θ's shape, the steps, and the [update] table."""

from __future__ import annotations

from gradekit.model.optimizer import DECAYS, EPS_PLACES, MOMENTUM_FORMS, NESTEROV_FORMS, RULES, Optimizer
from gradekit.model.problem import Domain
from gradekit.spec.fields import Fields

DEFAULT_DOMAINS = {  # by the base of a given value's name (g for g2)
    "theta": Domain(-1.0, 1.0, 0.1, nonzero=True),
    "g": Domain(-1.0, 1.0, 0.1, nonzero=True),
    "v": Domain(0.0, 0.0, 0.1),  # the state starts at 0 unless the spec says otherwise
    "m": Domain(0.0, 0.0, 0.1),
    "s": Domain(0.0, 0.0, 0.1),
}
DOMAIN_WORDS = "theta, g, v, m, s, or one of them with a step number"


def optimizer(f: Fields) -> Optimizer:
    entries = f.positive_int("entries", 2, limit=4)
    matrix = f.get("matrix", bool, False)
    if matrix and "entries" in f.table:
        raise f.fail("matrix", "a matrix θ is 2x2: leave out `entries`")
    steps = f.positive_int("steps", 1, limit=3)
    if f.get("layout", str, "rows") != "rows":
        raise f.fail("layout", "an optimizer exercise has no layout choice (θ is written as it is)")
    uf = f.table_of("update")
    rule = uf.choice("rule", RULES)
    lr = uf.number("learning_rate", 0.1, low=0.0, high=10.0, strict_low=True)
    form = "classic"
    if rule == "momentum":
        form = uf.choice("form", MOMENTUM_FORMS, "classic")
    elif rule == "nesterov":
        form = uf.choice("form", NESTEROV_FORMS, "cs231n")
    momentum = uf.number("momentum", 0.9, low=0.0, high=1.0, strict_low=True) if rule in ("momentum", "nesterov") else 0.9
    if momentum >= 1.0:
        raise uf.fail("momentum", "must be below 1")
    beta1 = beta2 = rho = eps = 0.0
    place, bias = "outside", True
    if rule == "adam":
        beta1 = uf.number("beta1", 0.9, low=0.0, high=1.0, strict_low=True)
        beta2 = uf.number("beta2", 0.999, low=0.0, high=1.0, strict_low=True)
        bias = uf.get("bias_correction", bool, True)
        if max(beta1, beta2) >= 1.0:
            raise uf.fail("beta1" if beta1 >= 1.0 else "beta2", "must be below 1")
    if rule == "rmsprop":
        rho = uf.number("rho", 0.9, low=0.0, high=1.0, strict_low=True)
        if rho >= 1.0:
            raise uf.fail("rho", "must be below 1")
    if rule in ("adam", "rmsprop"):
        eps = uf.number("eps", 1e-8, low=0.0, high=1.0, strict_low=True)
        place = uf.choice("eps_place", EPS_PLACES, "outside")
    decay = uf.choice("decay", DECAYS, "none")
    lam = uf.number("weight_decay", 0.0, low=0.0, high=10.0) if decay != "none" else 0.0
    if decay != "none" and lam == 0.0:
        raise uf.fail("weight_decay", f"decay = {decay!r} needs a weight_decay λ above 0")
    uf.reject_unknown()
    shape = (2, 2) if matrix else (1, entries)
    return Optimizer(rule, shape, steps, lr, form, momentum if rule in ("momentum", "nesterov") else 0.9,  # type: ignore[arg-type]
                     beta1 or 0.9, beta2 or 0.999, rho or 0.9, eps or 1e-8, place, bias, decay, lam)  # type: ignore[arg-type]

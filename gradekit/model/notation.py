"""How trace names are written in LaTeX: `W2` -> `W^{[2]}`, `dXhat1` -> `d\\hat{X}^{[1]}`.

Layer indices are bracketed superscripts (the convention of most deep-learning courses), so
that `W^{[2]}_{ij}` leaves the subscript free for entries. Gradients are written `dW^{[2]}`,
short for the partial derivative of the loss L with respect to W^{[2]}.
"""

from __future__ import annotations

from functools import cache

from gradekit.model import names

# The indicator function, 1 where the condition holds and 0 elsewhere. Bold 1 rather than
# \mathbb{1}: amssymb has no blackboard 1 (the page showed "⊮"), and bbm/dsfont are not part
# of the TeX packages the sheets need.
INDICATOR = r"\mathbf{1}"

_SYMBOLS = {
    "gamma": r"\gamma",
    "beta": r"\beta",
    "mu": r"\mu",
    "var": r"\sigma^{2}",
    "Xhat": r"\hat{X}",
    "theta": r"\theta",
    "mhat": r"\hat{m}",
    "vhat": r"\hat{v}",
}
# Optimizer exercises: the index is the step t, written θ^{(t)} (not a layer's [l]).
STEP_BASES = frozenset({"theta", "g", "m", "v", "s", "mhat", "vhat"})


@cache
def tex(name: str) -> str:
    """LaTeX for a trace name."""
    if name == "loss":
        return "L"
    if name == "loss_new":
        return r"L_{\text{new}}"
    if name == "pred":
        return r"\hat{y}"
    if name in ("X", "Y"):
        return name
    parsed = names.parse(name)
    if parsed is None or parsed.index is None:
        return rf"\text{{{name}}}"
    base = _SYMBOLS.get(parsed.base, parsed.base)
    layer = parsed.index
    if parsed.base in STEP_BASES:
        body = rf"{base}^{{({layer})}}"
    elif base == r"\sigma^{2}":  # a squared symbol takes its layer index beside the square
        body = rf"\sigma^{{2\,[{layer}]}}"
    else:
        body = rf"{base}^{{[{layer}]}}"
    if parsed.grad:
        body = rf"d{body}"
    if parsed.new:
        body = rf"{body}_{{\text{{new}}}}"
    return body


def transposed(name: str) -> str:
    """LaTeX for the transpose of a named quantity, parenthesized when it carries a superscript."""
    t = tex(name)
    return rf"{t}^{{\top}}" if "^" not in t else rf"\left({t}\right)^{{\top}}"


def tex_constant(x: float) -> str:
    """A constant inside $math$: 0.5, 0.01, and 10^{-5} rather than 1e-05."""
    text = f"{x:g}"
    if "e" not in text:
        return text
    mantissa, exponent = text.split("e")
    power = f"10^{{{int(exponent)}}}"
    return power if mantissa == "1" else rf"{mantissa} \cdot {power}"


def number(x: float, decimals: int) -> str:
    """x at `decimals` places; never '-0.0000'."""
    text = f"{float(x):.{decimals}f}"
    return text[1:] if text.startswith("-") and float(text) == 0 else text


def given_number(x: float, decimals: int) -> str:
    """A given value as written in a problem: 0.7, -1, 0.25 (no padding zeros)."""
    text = number(x, decimals)
    return text.rstrip("0").rstrip(".") if "." in text else text

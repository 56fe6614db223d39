"""How trace names are written in LaTeX: `W2` -> `W^{[2]}`, `dXhat1` -> `d\\hat{X}^{[1]}`.

Layer indices are bracketed superscripts (the convention of most deep-learning courses), so
that `W^{[2]}_{ij}` leaves the subscript free for entries. Gradients are written `dW^{[2]}`,
short for the partial derivative of the loss L with respect to W^{[2]}.
"""

from __future__ import annotations

import re
from functools import cache

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
}
_NAME = re.compile(r"^(?P<grad>d?)(?P<base>gamma|beta|mu|var|Xhat|[A-Za-z])(?P<layer>\d+)(?P<new>_new)?$")


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
    m = _NAME.match(name)
    if not m:
        return rf"\text{{{name}}}"
    base = _SYMBOLS.get(m["base"], m["base"])
    layer = m["layer"]
    if base == r"\sigma^{2}":  # a squared symbol takes its layer index beside the square
        body = rf"\sigma^{{2\,[{layer}]}}"
    else:
        body = rf"{base}^{{[{layer}]}}"
    if m["grad"]:
        body = rf"d{body}"
    if m["new"]:
        body = rf"{body}_{{\text{{new}}}}"
    return body


def layer_input(l: int) -> str:
    """Trace name of what feeds layer l: X for the first layer, A{l-1} after."""
    return "X" if l == 1 else f"A{l - 1}"


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

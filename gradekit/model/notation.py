"""How trace names are written in LaTeX: `W2` -> `W^{[2]}`, `dXhat1` -> `d\\hat{X}^{[1]}`.

Layer indices are bracketed superscripts (the convention of most deep-learning courses), so
that `W^{[2]}_{ij}` leaves the subscript free for entries. Gradients are written `dW^{[2]}`,
short for the partial derivative of the loss L with respect to W^{[2]}.
"""

from __future__ import annotations

import re
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
    "D": r"\tilde{A}",  # a dropout layer's output: the activation with the mask applied
    "theta": r"\theta",
    "mhat": r"\hat{m}",
    "vhat": r"\hat{v}",
}
# Optimizer exercises: the index is the step t, written θ^{(t)} (not a layer's [l]).
STEP_BASES = frozenset({"theta", "g", "m", "v", "s", "mhat", "vhat"})

# A recurrent network's quantities: the time step as a superscript in angle brackets (h^{<2>}, as
# in Ng's course notes), leaving the subscript free for entries; shared weights W_{hh}, b_{h}.
TIME_BASES = frozenset({"h", "z", "y", "p", "c", "i", "f", "o", "g"})  # c and the gates: an LSTM's
_SHARED = {"Whh": "W_{hh}", "Wxh": "W_{xh}", "Why": "W_{hy}", "bh": "b_{h}", "by": "b_{y}",
           "Wx": "W_{x}", "Wh": "W_{h}", "bz": "b_{z}"}


@cache
def tex(name: str) -> str:
    """LaTeX for a trace name."""
    if name == "loss":
        return "L"
    if name == "loss_new":
        return r"L_{\text{new}}"
    if name == "pred":
        return r"\hat{y}"
    if name == "data_loss":
        return r"L_{\text{data}}"
    if name == "penalty":
        return "R"
    if name in ("X", "Y"):
        return name
    parsed = names.parse(name)
    if parsed is not None and parsed.base in _SHARED:
        body = _SHARED[parsed.base]
        return (f"d{body}" if parsed.grad else body) + (r"^{\text{new}}" if parsed.new else "")
    # an RNN's or LSTM's time-step quantity (h1, dz2, c0) is not a circuit's value
    timed = parsed is not None and parsed.index is not None and parsed.base in TIME_BASES | STEP_BASES
    circuit = None if timed else _circuit_tex(name, parsed)
    if circuit is not None:
        return circuit
    if parsed is None or parsed.index is None:
        return rf"\text{{{name}}}"
    base = _SYMBOLS.get(parsed.base, parsed.base)
    layer = parsed.index
    if parsed.base in STEP_BASES:  # an optimizer's step t (g of an LSTM's gate, too: one symbol per base)
        body = rf"{base}^{{({layer})}}"
    elif parsed.base in TIME_BASES:
        body = rf"{base}^{{\langle {layer}\rangle}}"
    elif base == r"\sigma^{2}":  # a squared symbol takes its layer index beside the square
        body = rf"\sigma^{{2\,[{layer}]}}"
    else:
        body = rf"{base}^{{[{layer}]}}"
    if parsed.grad:
        body = rf"d{body}"
    if parsed.new:
        body = rf"{body}_{{\text{{new}}}}"
    return body


# Lower-case bases the multilayer perceptron's names use; every other lower-case name is a value
# of a computational graph (x, q, w0, sigy) or its gradient (dx, dq, dw0).
_LAYER_LOWER = frozenset({"b", "gamma", "beta", "mu", "var"})
_CIRCUIT = re.compile(r"^(?P<grad>d?)(?P<letters>[a-z]+)(?P<digits>\d*)$")


def _circuit_tex(name: str, parsed: names.Name | None) -> str | None:
    r"""A computational graph's value: x, w_{0}, \mathrm{sigy}; its gradient dx (short for the
    output's partial derivative with respect to x, as cs231n's code writes it)."""
    if parsed is not None and (parsed.base in _LAYER_LOWER or not parsed.base.islower()):
        return None
    m = _CIRCUIT.match(name)
    if m is None or name in names.PLAIN:
        return None
    letters = m["letters"]
    body = letters if len(letters) == 1 else rf"\mathrm{{{letters}}}"
    if m["digits"]:
        body = f"{body}_{{{m['digits']}}}"
    return f"d{body}" if m["grad"] else body


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

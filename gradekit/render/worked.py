"""Worked steps: one entry of each trace step worked out with its numbers, and the structural facts.

For every step of a worked solution this module computes, once, as plain data:
- the representative entry (the first one, in the problem's layout, that does not print as 0),
- the step's formula for that entry with its own terms (Z_{1,2} = X_{1,1} W_{1,2} + ... + b_2),
- the same terms with the numbers substituted, and the result; a sum over the samples (dW, db,
  the loss) is that entry's sum, written out once,
- sentences for structural facts, detected here and nowhere else from the architecture and the
  trace: why a bias gradient under a softmax is 0, a dead ReLU unit, where the 1/N comes from,
  why the columns of a gradient through batch norm sum to 0.
The templates write it as LaTeX and as Markdown (both typeset the math with the same LaTeX).

Values are taken in the rows layout (samples are rows) and subscripts are written in the
problem's own layout, so Z_{2,1} of a columns problem is unit 2 of sample 1, as on its sheet.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import TYPE_CHECKING, Callable

import numpy as np

from gradekit.render import formatting as fmt
from gradekit.model.network import Architecture, BatchNorm, Dense
from gradekit.ops.structural import structural_zeros
from gradekit.model.notation import INDICATOR, layer_input, tex, tex_constant

if TYPE_CHECKING:
    from gradekit.keys.key import ProblemKey

MAX_TERMS = 8  # a longer sum shows its first terms, \cdots and its last term
TERMS_PER_LINE = 4
ONE_LINE = 64  # characters (as printed) that a worked entry may take on one line


_FRAC = re.compile(r"\\frac\{([^{}]*)\}\{([^{}]*)\}")
_OPERATOR = re.compile(r"\\(cdot|log|tanh|max|arg)\b")
_COMMAND = re.compile(r"\\[a-zA-Z]+")
_SCRIPT = re.compile(r"[_^]\{([^{}]*)\}")
_SILENT = re.compile(r"[{}_^ ]")


@lru_cache(maxsize=4096)  # symbolic lines repeat for every variant of a problem
def _visible(tex: str) -> int:
    """Roughly how many characters a bit of LaTeX math prints: commands and braces don't count,
    sub- and superscripts count half, a fraction as its wider part."""
    text = _FRAC.sub(lambda m: max(m[1], m[2], key=len), tex)
    text = _COMMAND.sub("", _OPERATOR.sub("x", text))
    scripts = sum(len(m) for m in _SCRIPT.findall(text))
    return len(_SILENT.sub("", text)) - scripts // 2


@dataclass(frozen=True)
class Expr:
    """A sum of terms (joined by their signs), optionally inside a factor: \\frac{1}{4}\\bigl( ... \\bigr)."""

    terms: tuple[str, ...]
    before: str = ""
    after: str = ""


@dataclass(frozen=True)
class Worked:
    """One entry worked out: entry = each expression in turn = result."""

    entry: str  # LaTeX of the entry, e.g. Z^{[1]}_{1,2}
    where: str  # the entry in words, e.g. "sample 1, unit 2"
    lines: tuple[Expr, ...]
    result: str

    @cached_property
    def math(self) -> str:
        """The worked entry as LaTeX math (for \\[ \\] and for $$ $$ alike): on one line when it
        fits, else one aligned row per expression, long sums wrapped every TERMS_PER_LINE terms."""
        lines = [e for e in self.lines if _join(e.terms, True) != self.result or e.before]  # no "= x = x"
        flat = [self.entry, *(e.before + _join(e.terms, True) + e.after for e in lines), self.result]
        if sum(_visible(x) for x in flat) + 3 * len(flat) <= ONE_LINE:
            return " = ".join(flat)
        rows: list[str] = []
        for k, expr in enumerate(lines):
            chunks = [expr.terms[i:i + TERMS_PER_LINE] for i in range(0, len(expr.terms), TERMS_PER_LINE)] or [()]
            for c, chunk in enumerate(chunks):
                text = _join(chunk, leading=c == 0)
                if c == 0:
                    text = expr.before + text
                if c == len(chunks) - 1:
                    text += expr.after
                lhs = self.entry if (k == 0 and c == 0) else ""
                rel = "&= " if c == 0 else r"&\quad "
                rows.append(f"{lhs} {rel}{text}".strip())
        rows.append(f"&= {self.result}")
        return r"\begin{aligned}" + r" \\ ".join(rows) + r"\end{aligned}"


@dataclass(frozen=True)
class WorkedStep:
    """What a worked solution shows for one step beyond its formula and result."""

    examples: tuple[Worked, ...]
    notes: tuple[str, ...]  # sentences with $math$


def _join(terms: tuple[str, ...], leading: bool) -> str:
    """Terms joined by their signs: a + b - c; a continuation line starts with its sign."""
    out = []
    for i, t in enumerate(terms):
        negative = t.startswith("-")
        body = t[1:] if negative else t
        if i == 0 and leading:
            out.append(t)
        else:
            out.append(("- " if negative else "+ ") + body)
    return " ".join(out)


def _cap(terms: list[str]) -> tuple[str, ...]:
    """A long sum as its first terms, \\cdots, and its last term."""
    if len(terms) <= MAX_TERMS:
        return tuple(terms)
    return (*terms[:MAX_TERMS - 2], r"\cdots", terms[-1])


_LAYER = re.compile(r"^(?P<kind>[A-Za-z]+?)(?P<layer>\d+)(?P<new>_new)?$")
# Quantities with one entry per unit (a row in the rows layout, a column in the columns layout).
_PER_UNIT = ("b", "db", "mu", "var", "gamma", "beta", "dgamma", "dbeta")


class _Context:
    """A problem's values in the rows layout, and how to write their entries and numbers."""

    def __init__(self, pk: ProblemKey):
        self.problem, self.trace = pk.problem, pk.instance.trace
        self.arch: Architecture = pk.problem.arch
        self.rows = self.arch.layout == "rows"
        self.decimals = pk.problem.decimals
        self.n = self.arch.samples
        self.given = set(self.arch.given_names())
        self._values: dict[str, np.ndarray] = {}

    def value(self, name: str) -> np.ndarray:
        """A value in the rows layout: 2-D values transposed for a columns problem."""
        if name not in self._values:
            v = np.asarray(self.trace[name], dtype=float)
            self._values[name] = v.T if (v.ndim == 2 and not self.rows) else v
        return self._values[name]

    def at(self, name: str, r: int = 0, c: int = 0) -> float:
        v = self.value(name)
        if v.ndim == 0:
            return float(v)
        if v.ndim == 1:
            return float(v[r])
        return float(v[0, c] if self._per_unit(name) else v[r, c])

    @staticmethod
    def _per_unit(name: str) -> bool:
        return _per_unit(name)

    def sub(self, name: str, r: int = 0, c: int = 0) -> str:
        """The entry's subscript in the problem's layout, 1-based: '1,2', '2' or '' (a scalar)."""
        v = self.value(name)
        if v.ndim == 0:
            return ""
        if v.ndim == 1:
            return str(r + 1)
        if self._per_unit(name):
            return str(c + 1)
        return f"{r + 1},{c + 1}" if self.rows else f"{c + 1},{r + 1}"

    def sym(self, name: str, r: int = 0, c: int = 0) -> str:
        """The entry as a symbol: X_{1,2}, b^{[1]}_{2}, y_{3}, L."""
        base = "y" if name == "Y" and self.value(name).ndim == 1 else tex(name)
        return with_sub(base, self.sub(name, r, c))

    def num(self, name: str, r: int = 0, c: int = 0, paren: bool = True) -> str:
        """The entry's number as the sheet shows it; negative ones in parentheses inside products."""
        return self.number(self.at(name, r, c), given=name in self.given, paren=paren)

    def number(self, x: float, given: bool = False, paren: bool = True) -> str:
        text = fmt.given_number(x, self.decimals) if given else fmt.number(x, self.decimals)
        return f"({text})" if paren and text.startswith("-") else text

    def result(self, name: str, r: int = 0, c: int = 0) -> str:
        return self.number(self.at(name, r, c), paren=False)

    def pick(self, name: str) -> tuple[int, int]:
        """The representative entry (rows-layout indices): the first, in the order the sheet
        prints it, that does not print as zero."""
        v = self.value(name)
        if v.ndim == 0:
            return (0, 0)
        if v.ndim == 1:
            order = [(r, 0) for r in range(v.shape[0])]
        elif self._per_unit(name):
            order = [(0, c) for c in range(v.shape[1])]
        elif self.rows:
            order = [(r, c) for r in range(v.shape[0]) for c in range(v.shape[1])]
        else:
            order = [(r, c) for c in range(v.shape[1]) for r in range(v.shape[0])]
        small = 0.5 * 10.0 ** -self.decimals
        return next((rc for rc in order if abs(self.at(name, *rc)) >= small), order[0])

    def where(self, name: str, r: int, c: int) -> str:
        """The entry in words."""
        v = self.value(name)
        if v.ndim == 0:
            return ""
        kind = (_LAYER.match(name) or {"kind": name})["kind"] if name not in ("X", "Y", "pred") else name
        if name in ("pred", "Y"):
            return f"sample {r + 1}"
        if self._per_unit(name):
            return f"unit {c + 1}"
        if kind in ("W", "dW"):
            return f"input {r + 1} to unit {c + 1}"
        return f"sample {r + 1}, unit {c + 1}"

    def scale(self, factor: int = 1) -> str:
        """The loss's constant factor as a number: \\frac{1}{4} for a mean over 4 samples, '' for 1."""
        loss = self.arch.loss
        num = factor
        den = (2 if (loss.kind == "mse" and loss.half) else 1) * (self.n if loss.reduction == "mean" else 1)
        from math import gcd

        g = gcd(num, den)
        num, den = num // g, den // g
        if den == 1:
            return "" if num == 1 else f"{num}"
        return rf"\frac{{{num}}}{{{den}}}"


@lru_cache(maxsize=1024)
def _per_unit(name: str) -> bool:
    m = _LAYER.match(name)
    return bool(m) and m["kind"] in _PER_UNIT


@lru_cache(maxsize=8192)
def with_sub(base: str, sub: str) -> str:
    """base_{sub}; a base that already has a subscript (W_new) is parenthesized first."""
    if not sub:
        return base
    depth, has_sub = 0, False
    for ch in base:
        depth += {"{": 1, "}": -1}.get(ch, 0)
        has_sub |= ch == "_" and depth == 0
    return rf"\bigl({base}\bigr)_{{{sub}}}" if has_sub else f"{base}_{{{sub}}}"


def _layer_of(name: str) -> int:
    m = _LAYER.match(name)
    assert m, name
    return int(m["layer"])


# --- one builder per kind of step ------------------------------------------------------------


Entry = tuple[str, int, int]  # a quantity and the (row, column) of one of its entries


def _product_terms(cx: _Context, pairs: list[tuple[Entry, Entry]]) -> tuple[list[str], list[str]]:
    """The terms a * b of a sum of products, in symbols and in numbers, each written in the
    order the layout's matrix product has them: (a, b) in the rows layout, (b, a) in columns."""
    sym, num = [], []
    for a, b in pairs:
        first, second = (a, b) if cx.rows else (b, a)
        sym.append(f"{cx.sym(*first)} {cx.sym(*second)}")
        num.append(rf"{cx.num(*first, paren=False)} \cdot {cx.num(*second)}")
    return sym, num


def _dense_z(cx: _Context, name: str) -> Worked:
    l = _layer_of(name)
    layer = cx.arch.layers[l - 1]
    inp, w, b = layer_input(l), f"W{l}", f"b{l}"
    r, c = cx.pick(name)
    sym, num = _product_terms(cx, [((inp, r, i), (w, i, c)) for i in range(cx.arch.fan_in(l))])
    if layer.bias != "none":
        sym.append(cx.sym(b, r, c))
        num.append(cx.num(b, r, c, paren=False))
    return Worked(cx.sym(name, r, c), cx.where(name, r, c), (Expr(_cap(sym)), Expr(_cap(num))), cx.result(name, r, c))


def _norm_z(cx: _Context, name: str) -> Worked:
    l = _layer_of(name)
    g, xh, be = f"gamma{l}", f"Xhat{l}", f"beta{l}"
    r, c = cx.pick(name)
    sym = Expr((f"{cx.sym(g, r, c)} {cx.sym(xh, r, c)}", cx.sym(be, r, c)))
    num = Expr((rf"{cx.num(g, r, c, paren=False)} \cdot {cx.num(xh, r, c)}", cx.num(be, r, c, paren=False)))
    return Worked(cx.sym(name, r, c), cx.where(name, r, c), (sym, num), cx.result(name, r, c))


def _activation(cx: _Context, name: str) -> Worked:
    l = _layer_of(name)
    layer = cx.arch.layers[l - 1]
    z = f"Z{l}"
    r, c = cx.pick(name)
    zs, zn = cx.sym(z, r, c), cx.num(z, r, c, paren=False)
    zv = cx.at(z, r, c)
    act = layer.activation
    if act == "identity":
        lines = (Expr((zs,)),)
    elif act == "sigmoid":
        minus = fmt.number(-zv, cx.decimals)
        lines = (Expr((rf"\frac{{1}}{{1 + e^{{-{zs}}}}}",)), Expr((rf"\frac{{1}}{{1 + e^{{{minus}}}}}",)))
    elif act == "tanh":
        lines = (Expr((rf"\tanh {zs}",)), Expr((rf"\tanh({zn})",)))
    elif act == "relu":
        lines = (Expr((rf"\max(0, {zs})",)), Expr((rf"\max(0, {zn})",)))
    elif act == "leaky_relu":
        slope = tex_constant(layer.slope)
        lines = (Expr((rf"\max({slope}\, {zs}, {zs})",)), Expr((rf"\max({slope} \cdot {cx.num(z, r, c)}, {zn})",)))
    else:  # softmax over the sample's classes
        k = cx.value(z).shape[1]
        ks = list(range(k))
        den_sym = " + ".join(f"e^{{{cx.sym(z, r, j)}}}" for j in ks)
        den_exp = " + ".join(f"e^{{{cx.num(z, r, j, paren=False)}}}" for j in ks)
        den_num = " + ".join(fmt.number(float(np.exp(cx.at(z, r, j))), cx.decimals) for j in ks)
        e_c = fmt.number(float(np.exp(zv)), cx.decimals)
        lines = (Expr((rf"\frac{{e^{{{zs}}}}}{{{den_sym}}}",)), Expr((rf"\frac{{e^{{{zn}}}}}{{{den_exp}}}",)),
                 Expr((rf"\frac{{{e_c}}}{{{den_num}}}",)))
    return Worked(cx.sym(name, r, c), cx.where(name, r, c), lines, cx.result(name, r, c))


def _loss_terms(cx: _Context, out: str, values: Callable[[int, int], float]) -> tuple[list[str], list[str]]:
    """Each sample's (and class's) term of the loss, as symbols and as numbers."""
    kind = cx.arch.loss.kind
    a = cx.value(out)
    sym, num = [], []
    for r in range(a.shape[0]):
        if kind == "mse":
            for c in range(a.shape[1]):
                sym.append(rf"\left({cx.sym(out, r, c)} - {cx.sym('Y', r, c)}\right)^{{2}}")
                num.append(rf"({cx.number(values(r, c), paren=False)} - {cx.num('Y', r, c, paren=False)})^{{2}}")
        else:
            y = int(round(cx.at("Y", r)))
            if kind == "cross_entropy":
                sym.append(rf"\log {cx.sym(out, r, y)}")
                num.append(rf"\log {cx.number(values(r, y))}")
            elif y == 1:
                sym.append(rf"\log {cx.sym(out, r, 0)}")
                num.append(rf"\log {cx.number(values(r, 0))}")
            else:
                sym.append(rf"\log(1 - {cx.sym(out, r, 0)})")
                num.append(rf"\log(1 - {cx.number(values(r, 0), paren=False)})")
    return sym, num


def _loss(cx: _Context, name: str) -> Worked:
    out = f"A{cx.arch.depth}"
    if name == "loss":
        values = lambda r, c: cx.at(out, r, c)  # noqa: E731
    else:  # the loss after the update: the same sum over the recomputed output
        new = _output_after_update(cx)
        values = lambda r, c: float(new[r, c])  # noqa: E731
    sym, num = _loss_terms(cx, out, values)
    scale = cx.scale()
    sign = "" if cx.arch.loss.kind == "mse" else "-"
    before, after = rf"{sign}{scale}\bigl(", r"\bigr)"
    if not scale and not sign:
        before, after = "", ""
    entry = tex(name)
    if name != "loss":  # the recomputed output, A_new
        new_out = rf"{tex(out)}_{{\text{{new}}}}"
        sym = [re.sub(re.escape(tex(out)) + r"_\{([^}]*)\}", lambda m: with_sub(new_out, m[1]), s) for s in sym]
    return Worked(entry, "", (Expr(_cap(sym), before, after), Expr(_cap(num), before, after)), cx.result(name))


def _output_after_update(cx: _Context) -> np.ndarray:
    """The output recomputed with the updated parameters (rows layout), by the engine's own forward steps."""
    from gradekit.engine.build import run_forward

    given = {n: cx.trace[n] for n in ("X", "Y")}
    given.update({p: cx.trace[f"{p}_new"] for p in cx.arch.parameter_names()})
    out = np.asarray(run_forward(cx.arch, given)[f"A{cx.arch.depth}"], dtype=float)
    return out if cx.rows else out.T


def _pred(cx: _Context, name: str) -> Worked:
    out = f"A{cx.arch.depth}"
    r, _ = cx.pick(name)
    a = cx.value(out)
    if cx.arch.loss.kind == "binary_cross_entropy":
        sym = rf"{INDICATOR}[{cx.sym(out, r, 0)} \ge 0.5]"
        num = rf"{INDICATOR}[{cx.num(out, r, 0, paren=False)} \ge 0.5]"
    else:
        sym = (rf"\arg\max_{{k}} {tex(out)}_{{{r + 1},k}}" if cx.rows else rf"\arg\max_{{k}} {tex(out)}_{{k,{r + 1}}}")
        num = rf"\arg\max({', '.join(cx.num(out, r, j, paren=False) for j in range(a.shape[1]))})"
    return Worked(cx.sym(name, r), cx.where(name, r, 0), (Expr((sym,)), Expr((num,))),
                  str(int(round(cx.at(name, r)))))


def _output_gradient(cx: _Context, name: str) -> Worked:
    """dA of the output layer, from the loss."""
    out = f"A{cx.arch.depth}"
    r, c = cx.pick(name)
    a_s, a_n = cx.sym(out, r, c), cx.num(out, r, c, paren=False)
    kind = cx.arch.loss.kind
    if kind == "mse":
        s = cx.scale(2)
        pre, times = (f"{s} ", rf"{s} \cdot ") if s else ("", "")
        lines = (Expr((rf"{pre}\left({a_s} - {cx.sym('Y', r, c)}\right)",)),
                 Expr((rf"{times}({a_n} - {cx.num('Y', r, c, paren=False)})",)))
    elif kind == "cross_entropy":
        s = cx.scale() or "1"
        lines = (Expr((rf"-{s} \cdot \frac{{1}}{{{a_s}}}",)), Expr((rf"-{s} \cdot \frac{{1}}{{{a_n}}}",)))
    else:
        s = cx.scale() or "1"
        y = cx.num("Y", r, paren=False)
        lines = (Expr((rf"{s} \cdot \frac{{{a_s} - y_{{{r + 1}}}}}{{{a_s} (1 - {a_s})}}",)),
                 Expr((rf"{s} \cdot \frac{{{a_n} - {y}}}{{{a_n} (1 - {a_n})}}",)))
    return Worked(cx.sym(name, r, c), cx.where(name, r, c), lines, cx.result(name, r, c))


def _delta(cx: _Context, name: str) -> Worked:
    """dZ: the collapsed output form, or dA through the activation's derivative."""
    l = _layer_of(name)
    step = cx.trace.step(name)
    r, c = cx.pick(name)
    a, da, z = f"A{l}", f"dA{l}", f"Z{l}"
    if da not in step.deps:  # softmax + cross-entropy or sigmoid + binary cross-entropy, collapsed
        s = cx.scale() or "1"
        if cx.arch.loss.kind == "cross_entropy":
            onehot = 1 if c == int(round(cx.at("Y", r))) else 0
            target_sym = rf"{INDICATOR}[{c} = y_{{{r + 1}}}]"
        else:
            onehot = int(round(cx.at("Y", r)))
            target_sym = f"y_{{{r + 1}}}"
        lines = (Expr((rf"{s} \left({cx.sym(a, r, c)} - {target_sym}\right)",)),
                 Expr((rf"{s} \cdot ({cx.num(a, r, c, paren=False)} - {onehot})",)))
        return Worked(cx.sym(name, r, c), cx.where(name, r, c), lines, cx.result(name, r, c))
    layer = cx.arch.layers[l - 1]
    act = layer.activation
    ds, dn = cx.sym(da, r, c), cx.num(da, r, c, paren=False)
    if act == "identity":
        lines = (Expr((ds,)),)
    elif act == "sigmoid":
        as_, an = cx.sym(a, r, c), cx.num(a, r, c, paren=False)
        lines = (Expr((rf"{ds} \, {as_} (1 - {as_})",)), Expr((rf"{dn} \cdot {an} \cdot (1 - {an})",)))
    elif act == "tanh":
        as_, an = cx.sym(a, r, c), cx.num(a, r, c)
        lines = (Expr((rf"{ds} \left(1 - ({as_})^{{2}}\right)",)), Expr((rf"{dn} \cdot (1 - {an}^{{2}})",)))
    elif act in ("relu", "leaky_relu"):
        zs, zn = cx.sym(z, r, c), cx.num(z, r, c, paren=False)
        slope = 1 if cx.at(z, r, c) > 0 else (0 if act == "relu" else layer.slope)
        rel = ">" if cx.at(z, r, c) > 0 else r"\le"
        lines = (Expr((rf"{ds} \cdot {INDICATOR}[{zs} > 0]" if act == "relu" else
                       rf"{ds} \cdot (\text{{1 if }} {zs} > 0 \text{{, else }} {tex_constant(layer.slope)})",)),
                 Expr((rf"{dn} \cdot {tex_constant(slope)} \quad ({zn} {rel} 0)",)))
    else:  # softmax without its cross-entropy: the Jacobian per sample
        k = cx.value(a).shape[1]
        inner_sym = " + ".join(f"{cx.sym(da, r, j)} {cx.sym(a, r, j)}" for j in range(k))
        inner_num = " + ".join(rf"{cx.num(da, r, j, paren=False)} \cdot {cx.num(a, r, j)}" for j in range(k))
        lines = (Expr((rf"{cx.sym(a, r, c)} \left({ds} - ({inner_sym})\right)",)),
                 Expr((rf"{cx.num(a, r, c, paren=False)} \cdot \left({dn} - ({inner_num})\right)",)))
    return Worked(cx.sym(name, r, c), cx.where(name, r, c), lines, cx.result(name, r, c))


def _weight_gradient(cx: _Context, name: str) -> Worked:
    """dW_{i,j}: the sum over the samples of input i times dZ of unit j, written out once."""
    l = _layer_of(name)
    inp, dz = layer_input(l), f"dZ{l}"
    i, j = cx.pick(name)
    sym, num = _product_terms(cx, [((inp, n, i), (dz, n, j)) for n in range(cx.n)])
    return Worked(cx.sym(name, i, j), cx.where(name, i, j), (Expr(_cap(sym)), Expr(_cap(num))), cx.result(name, i, j))


def _bias_gradient(cx: _Context, name: str) -> Worked:
    """db: dZ summed over the samples (a vector bias) or over every entry (a scalar one)."""
    l = _layer_of(name)
    dz = f"dZ{l}"
    layer = cx.arch.layers[l - 1]
    scalar = isinstance(layer, Dense) and layer.bias == "scalar" and name.startswith("db")
    _, j = cx.pick(name)
    cells = ([(n, k) for n in range(cx.n) for k in range(layer.units)] if scalar else [(n, j) for n in range(cx.n)])
    if not cx.rows and scalar:
        cells = [(n, k) for k in range(layer.units) for n in range(cx.n)]
    if name.startswith("dgamma"):
        xh = f"Xhat{l}"
        sym = [f"{cx.sym(dz, n, k)} {cx.sym(xh, n, k)}" for n, k in cells]
        num = [rf"{cx.num(dz, n, k, paren=False)} \cdot {cx.num(xh, n, k)}" for n, k in cells]
    else:
        sym = [cx.sym(dz, n, k) for n, k in cells]
        num = [cx.num(dz, n, k, paren=False) for n, k in cells]
    return Worked(cx.sym(name, 0, j), cx.where(name, 0, j), (Expr(_cap(sym)), Expr(_cap(num))), cx.result(name, 0, j))


def _input_gradient(cx: _Context, name: str) -> Worked:
    """dA of a hidden layer: through the next dense layer's weights, or back through its batch norm."""
    l = _layer_of(name) + 1
    layer = cx.arch.layers[l - 1]
    if isinstance(layer, BatchNorm):
        return _norm_input_gradient(cx, name, l)
    dz, w = f"dZ{l}", f"W{l}"
    r, i = cx.pick(name)
    sym, num = _product_terms(cx, [((dz, r, j), (w, i, j)) for j in range(layer.units)])
    return Worked(cx.sym(name, r, i), cx.where(name, r, i), (Expr(_cap(sym)), Expr(_cap(num))), cx.result(name, r, i))


def _norm_input_gradient(cx: _Context, name: str, l: int) -> Worked:
    dxh, xh, var = f"dXhat{l}", f"Xhat{l}", f"var{l}"
    layer = cx.arch.layers[l - 1]
    r, c = cx.pick(name)
    n = cx.n
    total = float(cx.value(dxh)[:, c].sum())
    along = float((cx.value(dxh)[:, c] * cx.value(xh)[:, c]).sum())
    eps = tex_constant(layer.eps)
    sub_c = str(c + 1)
    sym = (rf"\frac{{1}}{{N \sqrt{{{cx.sym(var, r, c)} + {eps}}}}} \Bigl(N\, {cx.sym(dxh, r, c)} - "
           rf"\textstyle\sum_{{n}} {tex(dxh)}_{{{'n,' + sub_c if cx.rows else sub_c + ',n'}}} - {cx.sym(xh, r, c)} "
           rf"\sum_{{n}} {tex(dxh)}_{{{'n,' + sub_c if cx.rows else sub_c + ',n'}}} "
           rf"{tex(xh)}_{{{'n,' + sub_c if cx.rows else sub_c + ',n'}}}\Bigr)")
    num = (rf"\frac{{1}}{{{n} \sqrt{{{cx.num(var, r, c, paren=False)} + {eps}}}}} \Bigl({n} \cdot {cx.num(dxh, r, c)} - "
           rf"{cx.number(total)} - {cx.num(xh, r, c)} \cdot {cx.number(along)}\Bigr)")
    return Worked(cx.sym(name, r, c), cx.where(name, r, c), (Expr((sym,)), Expr((num,))), cx.result(name, r, c))


def _norm_forward(cx: _Context, name: str) -> Worked:
    """mu, var and Xhat of a batch-norm layer."""
    l = _layer_of(name)
    inp, mu, var = layer_input(l), f"mu{l}", f"var{l}"
    kind = _LAYER.match(name)["kind"]  # type: ignore[index]
    r, c = cx.pick(name)
    if kind == "mu":
        sym = Expr(_cap([cx.sym(inp, n, c) for n in range(cx.n)]), rf"\frac{{1}}{{{cx.n}}}\bigl(", r"\bigr)")
        num = Expr(_cap([cx.num(inp, n, c, paren=False) for n in range(cx.n)]), rf"\frac{{1}}{{{cx.n}}}\bigl(", r"\bigr)")
        lines: tuple[Expr, ...] = (sym, num)
    elif kind == "var":
        sym = Expr(_cap([rf"({cx.sym(inp, n, c)} - {cx.sym(mu, n, c)})^{{2}}" for n in range(cx.n)]),
                   rf"\frac{{1}}{{{cx.n}}}\bigl(", r"\bigr)")
        num = Expr(_cap([rf"({cx.num(inp, n, c, paren=False)} - {cx.num(mu, n, c)})^{{2}}" for n in range(cx.n)]),
                   rf"\frac{{1}}{{{cx.n}}}\bigl(", r"\bigr)")
        lines = (sym, num)
    else:
        eps = tex_constant(cx.arch.layers[l - 1].eps)
        lines = (Expr((rf"\frac{{{cx.sym(inp, r, c)} - {cx.sym(mu, r, c)}}}{{\sqrt{{{cx.sym(var, r, c)} + {eps}}}}}",)),
                 Expr((rf"\frac{{{cx.num(inp, r, c, paren=False)} - {cx.num(mu, r, c)}}}"
                       rf"{{\sqrt{{{cx.num(var, r, c, paren=False)} + {eps}}}}}",)))
    return Worked(cx.sym(name, r, c), cx.where(name, r, c), lines, cx.result(name, r, c))


def _norm_xhat_gradient(cx: _Context, name: str) -> Worked:
    l = _layer_of(name)
    dz, g = f"dZ{l}", f"gamma{l}"
    r, c = cx.pick(name)
    lines = (Expr((f"{cx.sym(dz, r, c)} {cx.sym(g, r, c)}",)),
             Expr((rf"{cx.num(dz, r, c, paren=False)} \cdot {cx.num(g, r, c)}",)))
    return Worked(cx.sym(name, r, c), cx.where(name, r, c), lines, cx.result(name, r, c))


def _update(cx: _Context, name: str) -> Worked:
    p = name[:-len("_new")]
    r, c = cx.pick(name)
    lr = tex_constant(cx.arch.learning_rate)
    lines = (Expr((cx.sym(p, r, c), rf"-{lr}\, {cx.sym('d' + p, r, c)}")),
             Expr((cx.num(p, r, c, paren=False), rf"-{lr} \cdot {cx.num('d' + p, r, c)}")))
    return Worked(cx.sym(name, r, c), cx.where(name, r, c), lines, cx.result(name, r, c))


def _builder(cx: _Context, name: str) -> Callable[[_Context, str], Worked] | None:
    if name in ("loss", "loss_new"):
        return _loss
    if name == "pred":
        return _pred
    if name.endswith("_new"):
        return _update
    m = _LAYER.match(name)
    if not m:
        return None
    kind, l = m["kind"], int(m["layer"])
    layer = cx.arch.layers[l - 1] if l <= cx.arch.depth else None
    norm = isinstance(layer, BatchNorm)
    table: dict[str, Callable[[_Context, str], Worked]] = {
        "Z": _norm_z if norm else _dense_z, "A": _activation, "dZ": _delta, "dW": _weight_gradient,
        "db": _bias_gradient, "dgamma": _bias_gradient, "dbeta": _bias_gradient, "mu": _norm_forward,
        "var": _norm_forward, "Xhat": _norm_forward, "dXhat": _norm_xhat_gradient,
        "dA": _output_gradient if l == cx.arch.depth else _input_gradient,
    }
    return table.get(kind)


# --- structural facts -------------------------------------------------------------------------


def notes(cx: _Context, name: str) -> tuple[str, ...]:
    """Sentences for the facts of this step that follow from the architecture, not from arithmetic."""
    arch, out = cx.arch, []
    m = _LAYER.match(name)
    kind, l = (m["kind"], int(m["layer"])) if m else (name, 0)
    depth = arch.depth
    first_backward = name == f"dZ{depth}" and f"dA{depth}" not in cx.trace.step(name).deps or name == f"dA{depth}"
    if first_backward:
        out += _scale_notes(cx)
    if name == f"dZ{depth}" and f"dA{depth}" not in cx.trace.step(name).deps:
        pair = "softmax and cross-entropy" if arch.loss.kind == "cross_entropy" else "the sigmoid and binary cross-entropy"
        out.append(f"With {pair} together, the derivative of the loss and the activation's derivative cancel "
                   rf"down to the output minus the target: no division by ${tex(f'A{depth}')}$ is needed.")
    layer = arch.layers[l - 1] if 1 <= l <= depth else None
    if kind == "dZ" and layer is not None and layer.activation == "softmax":
        out.append(rf"Each sample's entries of ${tex(name)}$ add up to 0: the softmax outputs always add up to 1, "
                   "so raising every class score of a sample by the same amount changes nothing.")
    zero = structural_zeros(arch).get(name)  # the one list of gradients 0 whatever the numbers
    if zero is not None:
        out.append(rf"${tex(name)} = 0$ whatever the numbers: {zero}.")
    elif kind == "db" and isinstance(layer, Dense) and layer.activation == "softmax":
        out.append(rf"The entries of ${tex(name)}$ add up to 0, because each sample's entries of "
                   rf"${tex(f'dZ{l}')}$ do (softmax outputs add up to 1).")
    if isinstance(layer, (Dense, BatchNorm)) and layer.activation == "relu" and kind in ("dZ", "dW", "db", "A"):
        out += _dead_unit_notes(cx, name, kind, l)
    if kind == "dA" and l < depth and isinstance(arch.layers[l], BatchNorm):
        out.append(rf"Each unit's entries of ${tex(name)}$ add up to 0 over the samples: batch normalization "
                   "subtracts the batch mean, so moving every sample's input by the same amount changes nothing.")
    if name == "loss_new":
        out.append(rf"The forward pass again, on the same data, with the updated parameters; the loss went "
                   rf"{'down' if cx.at('loss_new') < cx.at('loss') else 'up'} from "
                   rf"${cx.result('loss')}$ to ${cx.result('loss_new')}$.")
    if name == "loss" and arch.loss.kind == "cross_entropy":
        out.append("Only each sample's probability of its true class enters the loss. Classes are numbered "
                   r"from 0 and columns from 1: class $y_n$ is column $y_n + 1$.")
    return tuple(out)


def _scale_notes(cx: _Context) -> list[str]:
    """Where the loss's constant factor enters: once, at the first gradient."""
    loss, n = cx.arch.loss, cx.n
    out = []
    if loss.reduction == "mean" and n > 1:
        out.append(rf"The $\frac{{1}}{{N}} = \frac{{1}}{{{n}}}$ comes from averaging the loss over the $N = {n}$ "
                   "samples. It enters here, once; every later gradient inherits it through the chain rule.")
    elif loss.reduction == "mean":
        out.append(r"With one sample the mean is that sample's own loss: $\frac{1}{N} = 1$.")
    else:
        out.append("The loss is summed over the samples, not averaged: there is no $\\frac{1}{N}$ in the gradients.")
    if loss.kind == "mse" and loss.half:
        out.append(r"The $\frac{1}{2}$ in the loss cancels the 2 from differentiating the square.")
    return out


def _dead_unit_notes(cx: _Context, name: str, kind: str, l: int) -> list[str]:
    """ReLU units that no sample activates pass no gradient back: zeros by structure, not by chance."""
    z = cx.value(f"Z{l}")
    dead = [j for j in range(z.shape[1]) if np.all(z[:, j] <= 0)]
    inactive = int((z <= 0).sum())
    out = []
    if dead:
        units = ", ".join(str(j + 1) for j in dead)
        what = {"A": f"its activations are 0, so it contributes nothing to layer {l + 1}",
                "dZ": "the ReLU's slope is 0 there, so its entries of $" + tex(name) + "$ are 0",
                "dW": "its entries of $" + tex(name) + "$ are 0 (they multiply its zero $" + tex(f"dZ{l}") + "$)",
                "db": "its entry of $" + tex(name) + "$ is 0"}[kind]
        out.append(f"Unit{'s' * (len(dead) > 1)} {units} of layer {l} {'are' if len(dead) > 1 else 'is'} dead for "
                   rf"this batch: ${tex(f'Z{l}')} \le 0$ for every sample, so {what}.")
    elif kind == "dZ" and inactive:
        out.append(rf"Where ${tex(f'Z{l}')} \le 0$ ({inactive} of {z.size} entries) the ReLU's slope is 0, so "
                   rf"those entries of ${tex(name)}$ are 0 whatever ${tex(f'dA{l}')}$ is.")
    return out


def worked_step(pk: ProblemKey, name: str, cx: _Context | None = None) -> WorkedStep:
    """The worked entry and structural notes of one step of a problem."""
    cx = cx or _Context(pk)
    build = _builder(cx, name)
    examples = (build(cx, name),) if build is not None else ()
    return WorkedStep(examples, notes(cx, name))


def worked_steps(pk: ProblemKey, names: list[str]) -> dict[str, WorkedStep]:
    """worked_step for many steps of one problem, sharing its values."""
    cx = _Context(pk)
    return {name: worked_step(pk, name, cx) for name in names}

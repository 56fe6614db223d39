"""Worked entries: the vocabulary an op's worked-entry builder writes in, and its view of the values.

An op's `worked(step, cx)` picks the step's representative entry (the first, in the order the
sheet prints it, that does not print as 0), writes the step's formula for that entry with its
own terms (Z_{1,2} = X_{1,1} W_{1,2} + ... + b_2), then the same terms with the numbers, and the
result: a `Worked`, plain data that the templates write as LaTeX and as Markdown (both typeset
the math with the same LaTeX).

Values are read in the rows layout (samples are rows), as the trace holds them, and subscripts
are written in the problem's own layout, so Z_{2,1} of a columns problem is unit 2 of sample 1,
as on its sheet.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property, lru_cache
from math import gcd
from typing import Any, Mapping, Sequence

import numpy as np

from gradekit.model.notation import given_number, number, tex
from gradekit.ops.base import Axes, Step

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
        lines = [e for e in self.lines if join_terms(e.terms, True) != self.result or e.before]  # no "= x = x"
        flat = [self.entry, *(e.before + join_terms(e.terms, True) + e.after for e in lines), self.result]
        if sum(_visible(x) for x in flat) + 3 * len(flat) <= ONE_LINE:
            return " = ".join(flat)
        rows: list[str] = []
        for k, expr in enumerate(lines):
            chunks = [expr.terms[i:i + TERMS_PER_LINE] for i in range(0, len(expr.terms), TERMS_PER_LINE)] or [()]
            for c, chunk in enumerate(chunks):
                text = join_terms(chunk, leading=c == 0)
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


def join_terms(terms: tuple[str, ...], leading: bool) -> str:
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


def cap(terms: list[str]) -> tuple[str, ...]:
    """A long sum as its first terms, \\cdots, and its last term."""
    if len(terms) <= MAX_TERMS:
        return tuple(terms)
    return (*terms[:MAX_TERMS - 2], r"\cdots", terms[-1])


class Context:
    """One instance's values (rows layout) and how to write their entries and numbers."""

    def __init__(self, net: Any, values: Mapping[str, np.ndarray], steps: Sequence[Step], decimals: int):
        self.net = net  # the gradekit.ops.network.Network
        self.rows = net.layout == "rows"
        self.decimals = decimals
        self.n = net.samples
        self.given = frozenset(g.name for g in net.given)
        self.values = values
        self.axes: dict[str, Axes] = {s.name: s.axes for s in steps}
        self.forward_steps = tuple(s for s in steps if s.stage in ("forward", "loss"))

    def structural_zero(self, name: str) -> str | None:
        """The sentence saying why a quantity is 0 whatever the numbers, when the network makes it so."""
        reason = self.net.structural_zeros.get(name)
        return None if reason is None else rf"${tex(name)} = 0$ whatever the numbers: {reason}."

    def value(self, name: str) -> np.ndarray:
        return self.values[name]

    def at(self, name: str, r: int = 0, c: int = 0) -> float:
        v = self.value(name)
        if v.ndim == 0:
            return float(v)
        if v.ndim == 1:
            return float(v[r])
        return float(v[0, c] if self.per_unit(name) else v[r, c])

    def per_unit(self, name: str) -> bool:
        """One entry per unit (a bias, a batch statistic): a row in the rows layout."""
        return self.axes.get(name) == "unit"

    def sub(self, name: str, r: int = 0, c: int = 0) -> str:
        """The entry's subscript in the problem's layout, 1-based: '1,2', '2' or '' (a scalar)."""
        v = self.value(name)
        if v.ndim == 0:
            return ""
        if v.ndim == 1:
            return str(r + 1)
        if self.per_unit(name):
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
        text = given_number(x, self.decimals) if given else number(x, self.decimals)
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
        elif self.per_unit(name):
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
        axes = self.axes.get(name, "batch")
        if axes == "labels":
            return f"sample {r + 1}"
        if axes == "unit":
            return f"unit {c + 1}"
        if axes == "weights":
            return f"input {r + 1} to unit {c + 1}"
        return f"sample {r + 1}, unit {c + 1}"

    def scale(self, factor: int = 1) -> str:
        """The loss's constant factor as a number: \\frac{1}{4} for a mean over 4 samples, '' for 1."""
        loss = self.net.loss
        den = (2 if loss.halved else 1) * (self.n if loss.reduction == "mean" else 1)
        g = gcd(factor, den)
        num, den = factor // g, den // g
        if den == 1:
            return "" if num == 1 else f"{num}"
        return rf"\frac{{{num}}}{{{den}}}"

    def product_terms(self, pairs: list[tuple[Entry, Entry]]) -> tuple[list[str], list[str]]:
        """The terms a * b of a sum of products, in symbols and in numbers, each written in the
        order the layout's matrix product has them: (a, b) in the rows layout, (b, a) in columns."""
        sym, num = [], []
        for a, b in pairs:
            first, second = (a, b) if self.rows else (b, a)
            sym.append(f"{self.sym(*first)} {self.sym(*second)}")
            num.append(rf"{self.num(*first, paren=False)} \cdot {self.num(*second)}")
        return sym, num


Entry = tuple[str, int, int]  # a quantity and the (row, column) of one of its entries


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

"""Numbers, matrices and text as they appear on sheets: the filters of the Jinja environments.

Formatting lives here, in code, so templates only place things. LaTeX text from users
(titles, roster names) goes through tex_escape; instructor statements may carry $math$, which
tex_text keeps while escaping the prose around it.
"""

from __future__ import annotations

import re
from functools import lru_cache

import numpy as np

_TEX_SPECIALS = {
    "\\": r"\textbackslash{}", "{": r"\{", "}": r"\}", "$": r"\$", "&": r"\&", "%": r"\%", "#": r"\#",
    "_": r"\_", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "<": r"\textless{}",
    ">": r"\textgreater{}", "|": r"\textbar{}", '"': r"\textquotedbl{}",
}
# pdflatex with T1 fonts and utf8 input sets Latin scripts (accents included); it has no glyphs
# for most other scripts (CJK, Cyrillic needs T2A, ...) and would stop with an error. Such
# characters are shown as a boxed "?" so that the sheet still compiles and the gap is visible.
_LATEX_SAFE_LIMIT = 0x024F


def number(x: float, decimals: int) -> str:
    """x at `decimals` places; never '-0.0000'."""
    text = f"{float(x):.{decimals}f}"
    return text[1:] if text.startswith("-") and float(text) == 0 else text


def given_number(x: float, decimals: int) -> str:
    """A given value as written in a problem: 0.7, -1, 0.25 (no padding zeros)."""
    text = number(x, decimals)
    return text.rstrip("0").rstrip(".") if "." in text else text


def entry_strings(value: np.ndarray, decimals: int, integers: bool = False, given: bool = False) -> list[list[str]]:
    """A value as rows of formatted entries (a scalar is one row of one, a vector one row)."""
    a = np.atleast_2d(np.asarray(value, dtype=float))
    if integers:
        fmt = lambda x: str(int(round(x)))  # noqa: E731
    elif given:
        fmt = lambda x: given_number(x, decimals)  # noqa: E731
    else:
        fmt = lambda x: number(x, decimals)  # noqa: E731
    return [[fmt(x) for x in row] for row in a]


def tex_matrix(value: np.ndarray, decimals: int, integers: bool = False, given: bool = False) -> str:
    """A scalar as a number, anything else as a bmatrix (a 1-D vector as a row)."""
    value = np.asarray(value, dtype=float)
    # A worked solution shows the same matrix many times (as a result, then as the input of
    # later steps, in LaTeX and Markdown): format each distinct value once.
    return _tex_matrix(value.tobytes(), value.shape, decimals, integers, given)


@lru_cache(maxsize=4096)
def _tex_matrix(data: bytes, shape: tuple[int, ...], decimals: int, integers: bool, given: bool) -> str:
    value = np.frombuffer(data, dtype=float).reshape(shape)
    rows = entry_strings(value, decimals, integers, given)
    if value.ndim == 0:
        return rows[0][0]
    body = r" \\ ".join(" & ".join(r) for r in rows)
    return rf"\begin{{bmatrix}} {body} \end{{bmatrix}}"


def text_matrix(value: np.ndarray, decimals: int, integers: bool = False, given: bool = False,
                indent: str = "  ") -> str:
    """Plain-text rows with aligned columns, for the terminal."""
    rows = entry_strings(value, decimals, integers, given)
    width = max(len(x) for r in rows for x in r)
    return "\n".join(indent + "[ " + "  ".join(x.rjust(width) for x in r) + " ]" for r in rows)


def shape_text(shape: tuple[int, ...]) -> str:
    if len(shape) == 0:
        return r"\text{scalar}"
    if len(shape) == 1:
        return rf"\text{{vector of }}{shape[0]}"
    return rf"{shape[0]}\times {shape[1]}"


@lru_cache(maxsize=4096)  # step descriptions and titles repeat on every sheet
def tex_escape(text: str) -> str:
    """Untrusted text (student names, ids, titles) as literal LaTeX: nothing in it can run."""
    out = []
    for ch in str(text):
        if ch in _TEX_SPECIALS:
            out.append(_TEX_SPECIALS[ch])
        elif ord(ch) < 32:
            out.append(" ")
        elif ord(ch) > _LATEX_SAFE_LIMIT:
            out.append(r"\fbox{?}")
        else:
            out.append(ch)
    return "".join(out)


_MATH = re.compile(r"(\$\$.+?\$\$|\$.+?\$)", re.S)


def tex_text(text: str) -> str:
    """Instructor prose with $math$: the prose is escaped, the math is kept as written."""
    parts = _MATH.split(str(text).strip())
    return "".join(p if _MATH.fullmatch(p) else tex_escape(p) for p in parts)


def md_escape(text: str) -> str:
    """Untrusted text in Markdown: no markup, no HTML, no math."""
    return re.sub(r"([\\`*_{}\[\]()#+\-.!|<>$~])", r"\\\1", str(text)).replace("\n", " ")


def points(x: float) -> str:
    """Points without noise: 20, 2.5, 1.11."""
    return f"{x:.2f}".rstrip("0").rstrip(".")

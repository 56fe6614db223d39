"""Numbers, matrices and text as they appear on sheets: the filters of the Jinja environments.

Formatting lives here, in code, so templates only place things. LaTeX text from users
(titles, roster names) goes through tex_escape; instructor statements may carry $math$, which
tex_text keeps while escaping the prose around it.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from gradekit.model.notation import given_number, number
from gradekit.render.fonts import clean_text, has, is_rtl

_TEX_SPECIALS = {
    "\\": r"\textbackslash{}", "{": r"\{", "}": r"\}", "$": r"\$", "&": r"\&", "%": r"\%", "#": r"\#",
    "_": r"\_", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "<": r"\textless{}",
    ">": r"\textgreater{}", "|": r"\textbar{}", '"': r"\textquotedbl{}", "`": r"\textasciigrave{}",
}
# T1 fonts turn these pairs into one glyph (-- en dash, '' and ,, quotes, !` and ?` inverted
# marks); an empty group between them keeps a name exactly as typed.
_LIGATURE_FIRST, _LIGATURE_SECOND = "-',!?", "-',`"

# What a character pdflatex cannot set becomes (CJK, Greek, Cyrillic, ...: the fonts have no
# glyphs, and the CJK packages are not part of texlive-latex-*): a visible boxed "?", so the
# sheet compiles and the gap shows. Student ids are shown beside names, so no one is lost.
MISSING_GLYPH = r"\fbox{?}"

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
def _entries(data: bytes, shape: tuple[int, ...], decimals: int, integers: bool, given: bool) -> list[list[str]]:
    """entry_strings of a value given as bytes: computed once for its LaTeX and Markdown forms."""
    return entry_strings(np.frombuffer(data, dtype=float).reshape(shape), decimals, integers, given)


@lru_cache(maxsize=4096)
def _tex_matrix(data: bytes, shape: tuple[int, ...], decimals: int, integers: bool, given: bool) -> str:
    rows = _entries(data, shape, decimals, integers, given)
    if len(shape) == 0:
        return rows[0][0]
    body = r" \\ ".join(" & ".join(r) for r in rows)
    return rf"\begin{{bmatrix}} {body} \end{{bmatrix}}"


@dataclass(frozen=True)
class _MatrixSize:
    """A font size for matrices, with the widths (pt) of what numbers are made of at that size."""

    command: str  # "" for the body size
    colsep: float  # \arraycolsep; TeX's 5 pt does not shrink with the font, so smaller sizes set it
    digit: float
    minus: float
    dot: float
    brackets: float


# Measured with pdflatex (11-pt article, lmodern, amsmath bmatrix, \wd of a box): a matrix is
# its columns' widest entries, 2 \arraycolsep between columns, and its two brackets.
_MATRIX_SIZES = (
    _MatrixSize("", 5.0, 5.475, 8.52, 3.04, 12.0),
    _MatrixSize(r"\small", 4.0, 5.0, 7.78, 2.78, 11.0),
    _MatrixSize(r"\footnotesize", 3.5, 4.63, 7.19, 2.57, 11.0),
    _MatrixSize(r"\scriptsize", 3.0, 4.25, 6.61, 2.36, 10.0),
    _MatrixSize(r"\tiny", 2.0, 3.67, 5.78, 2.28, 10.0),
)
# A4 with 2 cm margins: 483.7 pt per line. A matrix shares it with its label (`dW^{[1]} = `,
# up to 50 pt) and, in the answer list, an item's indent (25 pt).
MATRIX_LINE_PT = 400.0


def matrix_width_pt(rows: list[list[str]], size: _MatrixSize = _MATRIX_SIZES[0]) -> float:
    """Printed width of a bmatrix of these entries at one font size, in points."""
    def entry(text: str) -> float:  # entries are digits, a minus sign and a decimal point
        minus, dot = text.count("-"), text.count(".")
        return size.minus * minus + size.dot * dot + size.digit * (len(text) - minus - dot)

    columns = len(rows[0])
    widest = sum(max(entry(row[j]) for row in rows) for j in range(columns))
    return widest + 2 * size.colsep * (columns - 1) + size.brackets


def tex_matrix_fit(value: np.ndarray, decimals: int, integers: bool = False, given: bool = False) -> str:
    """tex_matrix, set in a smaller font when it would not fit the line at full size.

    Rather that than an overfull line running into the margin: a 4x6 matrix of -0.1234 fits at
    11 pt, a 4x12 one in \\scriptsize; past \\tiny it is scaled down to the line (graphicx).
    """
    value = np.asarray(value, dtype=float)
    return _tex_matrix_fit(value.tobytes(), value.shape, decimals, integers, given)


@lru_cache(maxsize=4096)
def _tex_matrix_fit(data: bytes, shape: tuple[int, ...], decimals: int, integers: bool, given: bool) -> str:
    body = _tex_matrix(data, shape, decimals, integers, given)
    if len(shape) == 0:
        return body
    rows = _entries(data, shape, decimals, integers, given)
    # Most matrices are a few columns wide: when even the widest character everywhere fits,
    # there is nothing to measure.
    full = _MATRIX_SIZES[0]
    columns, longest = len(rows[0]), max(len(x) for row in rows for x in row)
    if columns * longest * full.minus + 2 * full.colsep * (columns - 1) + full.brackets <= MATRIX_LINE_PT:
        return body
    for size in _MATRIX_SIZES:
        if matrix_width_pt(rows, size) <= MATRIX_LINE_PT:
            if not size.command:
                return body
            return rf"\text{{{size.command}\setlength{{\arraycolsep}}{{{size.colsep:g}pt}}${body}$}}"
    return rf"\resizebox{{0.8\linewidth}}{{!}}{{${body}$}}"


def matrix_columns(value: np.ndarray) -> int:
    """Columns of the bmatrix a value is shown as (a 1-D vector is a row)."""
    shape = np.shape(value)
    return 0 if len(shape) == 0 else shape[-1]


def text_matrix(value: np.ndarray, decimals: int, integers: bool = False, given: bool = False,
                indent: str = "  ") -> str:
    """Plain-text rows with aligned columns, for the terminal."""
    rows = entry_strings(value, decimals, integers, given)
    width = max(len(x) for r in rows for x in r)
    return "\n".join(indent + "[ " + "  ".join(x.rjust(width) for x in r) + " ]" for r in rows)


def plain_shape(tex_shape: str) -> str:
    """A shape_text() for the terminal: 2x3, scalar, vector of 3."""
    return re.sub(r"\\text\{(.*?)\}", r"\1", tex_shape).replace("\\times ", "x")


def shape_text(shape: tuple[int, ...]) -> str:
    if len(shape) == 0:
        return r"\text{scalar}"
    if len(shape) == 1:
        return rf"\text{{vector of }}{shape[0]}"
    return rf"{shape[0]}\times {shape[1]}"


def _settable(text: str, engine: str = "pdflatex") -> bool:
    return all(has(ch, engine) for ch in text)


def _tex_char(ch: str, engine: str = "pdflatex") -> str:
    """One character of clean text as LaTeX that the engine sets literally (or MISSING_GLYPH)."""
    if ch in _TEX_SPECIALS:
        return _TEX_SPECIALS[ch]
    if has(ch, engine):
        return ch
    # A compatibility form of a settable text (fullwidth letters, ligatures, circled digits).
    compat = unicodedata.normalize("NFKC", ch)
    if compat != ch and _settable(compat, engine):
        return "".join(_tex_char(c, engine) for c in compat)
    # A letter with accents the fonts lack (Vietnamese under pdflatex, for one): the letter
    # without them reads better than a box.
    base = "".join(c for c in unicodedata.normalize("NFD", ch) if not unicodedata.combining(c))
    if base and base != ch and _settable(base, engine):
        return "".join(_tex_char(c, engine) for c in base)
    return MISSING_GLYPH


def tex_escape_chars(text: str, engine: str = "pdflatex") -> list[str]:
    """The characters of clean text that tex_escape shows as MISSING_GLYPH."""
    return [ch for ch in text if _tex_char(ch, engine) == MISSING_GLYPH]


def _rtl_runs(chars: str) -> list[tuple[int, int]]:
    """(start, end) of each right-to-left run: RTL letters with the spaces and marks between them."""
    runs, i, n = [], 0, len(chars)
    while i < n:
        if not is_rtl(chars[i]):
            i += 1
            continue
        last = j = i
        while j + 1 < n and (is_rtl(chars[j + 1]) or unicodedata.bidirectional(chars[j + 1])
                             in ("NSM", "WS", "CS", "ON", "AN", "BN")):
            j += 1
            if is_rtl(chars[j]) or unicodedata.bidirectional(chars[j]) in ("NSM", "AN"):
                last = j
        runs.append((i, last))
        i = last + 1
    return runs


@lru_cache(maxsize=4096)  # step descriptions and titles repeat on every sheet
def tex_escape(text: str, engine: str = "pdflatex") -> str:
    """Untrusted text (student names, ids, titles) as literal LaTeX: nothing in it can run, and
    the engine can set every character of the result (glyphs.py says which it has)."""
    chars = clean_text(text)
    out = []  # one piece per character
    for i, ch in enumerate(chars):
        piece = _tex_char(ch, engine)
        if ch in _LIGATURE_FIRST and chars[i + 1:i + 2] and chars[i + 1] in _LIGATURE_SECOND:
            piece += "{}"
        out.append(piece)
    if engine == "lualatex":
        # Right-to-left names (Arabic, Hebrew) are set right to left inside the line: LuaTeX
        # does not reorder on its own, HarfBuzz then joins the letters.
        for start, end in reversed(_rtl_runs(chars)):
            out[start:end + 1] = [r"{\textdir TRT " + "".join(out[start:end + 1]) + "}"]
    return "".join(out)


# $...$ and $$...$$, where a dollar escaped as \$ opens or closes nothing.
_MATH = re.compile(r"((?<!\\)\$\$.+?(?<!\\)\$\$|(?<!\\)\$.+?(?<!\\)\$)", re.S)


def tex_text(text: str, engine: str = "pdflatex") -> str:
    """Instructor prose with $math$: the prose is escaped (an escaped \\$ stays a dollar sign),
    the math is kept as written, and blank lines still separate paragraphs."""
    paragraphs = re.split(r"\n\s*\n", str(text).strip())
    return "\n\n".join(_tex_paragraph(p.strip(), engine) for p in paragraphs)


def _tex_paragraph(text: str, engine: str = "pdflatex") -> str:
    parts = _MATH.split(text)
    return "".join(p if _MATH.fullmatch(p) else tex_escape(p.replace("\\$", "$"), engine) for p in parts)


# Characters that start Markdown markup, HTML or math anywhere in a line. Parentheses stay
# as they are: with [ and ] escaped they cannot form a link, and a backslash before them would
# be read as \( math \) by MathJax set-ups that use those delimiters. The text is placed inside
# lines, never at their start, so -, + and "1." cannot begin a list.
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]<>#|$~^!&])")


@lru_cache(maxsize=4096)  # step descriptions repeat on every sheet
def md_escape(text: str) -> str:
    """Untrusted text in Markdown: no markup, no HTML, no math."""
    return _MD_SPECIAL.sub(r"\\\1", clean_text(text))


def points(x: float) -> str:
    """Points without noise: 20, 2.5, 1.11."""
    return f"{x:.2f}".rstrip("0").rstrip(".")


def points_label(x: float) -> str:
    """Points with their unit: 1 pt, 1.11 pts."""
    return f"{points(x)} pt" if points(x) == "1" else f"{points(x)} pts"


# --- characters the fonts lack -------------------------------------------------------------


def missing_glyphs(text: str, engine: str) -> list[str]:
    """The characters of a text that the engine's fonts lack (shown as a marker), in order, once each."""
    seen: list[str] = []
    for ch in tex_escape_chars(clean_text(text), engine):
        if ch not in seen:
            seen.append(ch)
    return seen


def describe_chars(chars: list[str]) -> str:
    """'U+1F600 (GRINNING FACE)' for each character, for a warning."""
    return ", ".join(f"U+{ord(c):04X} ({unicodedata.name(c, 'unnamed')})" for c in chars)

"""LaTeX math as MathML, for pages that must show formulas without a network (gradekit export html).

The sheets' LaTeX is converted with latex2mathml (pure Python) into MathML, which browsers draw
natively (MathML Core: Chromium 109+, Firefox, Safari): the page needs no script, font or
request to typeset. Two things are done around the converter:

- `aligned` blocks (the worked entries written over several lines) become one row of math per
  line in an HTML table (right-aligned left side, left-aligned rest); latex2mathml has no
  `aligned` and would leave its `&` in the output. A few commands it does not know are rewritten
  first (REWRITES).
- Its output is parsed and rebuilt from a whitelist of MathML elements and attributes, with
  every text escaped: latex2mathml writes \\text{...} unescaped, and a problem statement's $math$
  comes from a spec file. Math that does not convert cleanly is shown as its LaTeX source.
"""

from __future__ import annotations

import html
import re
import xml.etree.ElementTree as ET
from functools import lru_cache

# Commands latex2mathml leaves as text, rewritten into ones it converts.
REWRITES = ((r"\arg\max", r"\text{arg max}"),)

ELEMENTS = frozenset({
    "math", "mrow", "mi", "mn", "mo", "ms", "mtext", "mspace", "msub", "msup", "msubsup", "mfrac", "msqrt",
    "mroot", "mover", "munder", "munderover", "mtable", "mtr", "mtd", "mstyle", "mpadded", "mphantom",
    "menclose", "semantics", "annotation"})
ATTRIBUTES = frozenset({
    "display", "mathvariant", "accent", "accentunder", "stretchy", "fence", "separator", "lspace", "rspace",
    "width", "height", "depth", "linethickness", "columnalign", "rowspacing", "columnspacing", "scriptlevel",
    "displaystyle", "largeop", "movablelimits", "symmetric", "minsize", "maxsize", "form", "notation"})
DISPLAY = r"\displaystyle "
# A negative number where a sign is unary (after =, an opening bracket, a product dot, at the start)
# is grouped, so MathML sets its minus as a prefix (-0.37), not as a binary minus (= - 0.37).
_UNARY = re.compile(r"(^|[=(\[{,&]\s*|\\cdot\s*|\\left\(\s*|\\bigl\(\s*)-(\d+(?:\.\d+)?)")
# latex2mathml sets \log, \tanh, ... as plain identifiers, with no space before their operand
# ("logA"): a thin space is added where TeX would put one (not before a bracket or a script).
_OPERAND = re.compile(r"(\\(?:log|tanh|exp|max|min))\s*(?![\s(\[_^]|\\left|\\bigl|$)")
_NS = "{http://www.w3.org/1998/Math/MathML}"
_ALIGNED = re.compile(r"^\\begin\{aligned\}(?P<body>.*)\\end\{aligned\}$", re.S)


class UnsafeMath(ValueError):
    """latex2mathml's output held something that is not whitelisted MathML."""


def math(tex: str, display: bool = False) -> str:
    """LaTeX math as HTML: a <math> element, an aligned block as a table of them, or the source."""
    tex = tex.strip()
    aligned = _ALIGNED.match(tex)
    if aligned:
        return _aligned(aligned["body"], display)
    return _convert(tex, display)


@lru_cache(maxsize=16384)  # formulas and symbols repeat across the parts, problems and students
def _convert(tex: str, display: bool) -> str:
    import latex2mathml.converter

    source = _OPERAND.sub(r"\1\\,", _UNARY.sub(r"\1{-\2}", tex))
    for old, new in REWRITES:
        source = source.replace(old, new)
    try:
        converted = latex2mathml.converter.convert(source, display="block" if display else "inline")
        return _clean(converted)
    except Exception:  # noqa: BLE001 - any failure of the converter: show the LaTeX instead
        return f'<code class="tex">{html.escape(tex)}</code>'


def _clean(mathml: str) -> str:
    """The converter's MathML rebuilt from whitelisted elements and attributes, texts escaped."""
    try:
        root = ET.fromstring(mathml)
    except ET.ParseError as e:
        raise UnsafeMath(f"not well-formed: {e}") from None
    return ET.tostring(_copy(root), encoding="unicode", short_empty_elements=True)


def _copy(node: ET.Element) -> ET.Element:
    tag = node.tag.removeprefix(_NS)
    if tag not in ELEMENTS:
        raise UnsafeMath(f"element {tag!r}")
    out = ET.Element(tag, {k: v for k, v in node.attrib.items() if k in ATTRIBUTES})
    if len(set(node.attrib) - ATTRIBUTES - {"xmlns"}):
        raise UnsafeMath(f"attributes {sorted(set(node.attrib) - ATTRIBUTES)}")
    out.text, out.tail = node.text, node.tail
    out.extend(_copy(child) for child in node)
    return out


def _aligned(body: str, display: bool) -> str:
    """`lhs &= rhs \\\\ &\\quad more` as a table: one row per line, the relation signs lined up."""
    rows = []
    for line in _split_top(body, r"\\"):
        cells = _split_top(line, "&")
        left, right = (cells[0], "".join(cells[1:])) if len(cells) > 1 else ("", cells[0])
        # Each cell in display style, as amsmath sets aligned: full-size fractions and sums.
        lhs = _convert(DISPLAY + left.strip(), False) if left.strip() else ""
        rhs = _convert(DISPLAY + right.strip(), False)
        rows.append(f'<tr><td class="lhs">{lhs}</td><td class="rhs">{rhs}</td></tr>')
    kind = "aligned display" if display else "aligned"
    return f'<table class="{kind}" role="presentation">{"".join(rows)}</table>'


def _split_top(text: str, separator: str) -> list[str]:
    """`text` split at `separator` outside braces and \\begin...\\end environments."""
    parts, depth, start, i = [], 0, 0, 0
    while i < len(text):
        if text.startswith(r"\begin{", i):
            depth += 1
        elif text.startswith(r"\end{", i):
            depth -= 1
        elif text[i] == "{":
            depth += 1
        elif text[i] == "}":
            depth -= 1
        elif depth == 0 and text.startswith(separator, i) and not (separator == "&" and text[i - 1:i] == "\\"):
            parts.append(text[start:i])
            i += len(separator)
            start = i
            continue
        elif text[i] == "\\":
            i += 2  # a command's first character (or an escaped one) is never a separator
            continue
        i += 1
    parts.append(text[start:])
    return parts

"""A problem as an HTML fragment with MathJax math, for the question texts of Moodle and Canvas.

Both platforms render LaTeX with MathJax between \\( \\) (inline) and $$ $$ (display), so the
LaTeX of the sheets is reused as it is. Text from instructors and rosters is HTML-escaped; the
$math$ in instructor statements is kept (escaped only as HTML needs: MathJax reads the text).
"""

from __future__ import annotations

import html
import re

from gradekit.render import formatting as fmt
from gradekit.exports.common import points_text
from gradekit.render.documents import ProblemView, Shown

_MATH = re.compile(r"(\$\$.+?\$\$|\$.+?\$)", re.S)


def text(value: str) -> str:
    """Prose with $math$ as HTML: the prose escaped, the math in MathJax delimiters."""
    out = []
    for part in _MATH.split(str(value).strip()):
        if part.startswith("$$") and part.endswith("$$") and len(part) > 4:
            out.append("$$" + html.escape(part[2:-2], quote=False) + "$$")
        elif _MATH.fullmatch(part):
            out.append(r"\(" + html.escape(part[1:-1], quote=False) + r"\)")
        else:
            out.append(html.escape(part, quote=False))
    return "".join(out)


def math(tex: str, display: bool = False) -> str:
    """LaTeX as inline or display math."""
    body = html.escape(tex, quote=False)
    return f"$${body}$$" if display else rf"\({body}\)"


def given_tex(shown: Shown, decimals: int) -> str:
    """`X = [matrix]` as LaTeX, numbers written as the problem states them."""
    return f"{shown.tex} = {fmt.tex_matrix(shown.value, decimals, shown.integers, shown.given)}"


def given_value(shown: Shown, decimals: int) -> str:
    """`X = [matrix]` as display math."""
    return math(given_tex(shown, decimals), display=True)


def problem(view: ProblemView, variant: str, figure: str = "", given: str | None = None) -> str:
    """Title, statement, instructions, the network in words (and `figure`, HTML of its picture),
    and the given values (or `given`, HTML that stands for them, as a template that fills them
    per variant). An empty `variant` is not shown."""
    parts = [f"<h3>Problem {view.number}: {html.escape(view.title)} ({points_text(view.points)})</h3>"]
    if variant:
        parts.append(f"<p><em>{html.escape(variant)}</em></p>")
    if view.statement:
        parts.append(f"<p>{text(view.statement)}</p>")
    if view.instructions:
        parts.append(f"<p><em>{text(view.instructions)}</em></p>")
    parts.append("<ul>" + "".join(f"<li>{text(s)}</li>" for s in view.network) + "</ul>")
    if figure:
        parts.append(figure)
    parts.append("<p><strong>Given.</strong></p>")
    if given is None:
        parts.extend(f"<p>{given_value(g, view.decimals)}</p>" for g in view.given)
    else:
        parts.append(given)
    parts.append(f"<p>Give every number to at least {view.decimals} decimals, in the layout of the problem. "
                 r"\(dW\) means the partial derivative of the loss with respect to \(W\).</p>")
    return "\n".join(parts)

"""One self-contained HTML page per variant (gradekit export html), made to work offline.

The page holds the sheet (statement, network in words and as SVG, notation, given values), one
input grid per asked quantity shaped like its answer, and a script that keeps typed answers in
the browser's local storage and writes `submission.json` in the answer template's format. Math is
MathML (gradekit.exports.mathml), the script and style are inline and allowed by their hashes in
the page's Content-Security-Policy, which also forbids every request: nothing is fetched, ever.

Two modes, chosen by the variant:
- practice (a public seed): the page holds the key. It checks each quantity, or the whole sheet,
  with the grader's own per-entry margins (exports.common.entries), names the catalogued mistakes
  a wrong answer matches (their values worked out here, exports.common.mistake_values, and only
  compared in the browser), and reveals each part's worked solution (the steps of
  gradekit.render.worked, as the solutions show them). Follow-through is not redone in the browser: the
  page says that `gradekit grade` applies it, and points to it when an earlier answer is wrong.
- hand-in (a roster student): no key, no mistake values, no solutions, no margins: only the
  grids, the student's id and name, and the download. Its writer never reads the key's values.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from gradekit.render import formatting as fmt
from gradekit.exports.common import VariantKey, entries, mistake_values, points_text, shape_words, write_per_variant
from gradekit.keys.key import template_document
from gradekit.render.documents import ProblemView, Shown, SolutionStep, problem_view
from gradekit.spec.roster import folder_name

if TYPE_CHECKING:
    import jinja2

    from gradekit.keys.key import ProblemKey

_MATH = re.compile(r"(\$\$.+?\$\$|\$.+?\$)", re.S)
STORAGE_VERSION = 1  # of what the page keeps in local storage; a new layout gets a new key


@dataclass(frozen=True)
class Grid:
    """An asked quantity as the page asks it: its part, shape and what it is."""

    pid: str
    name: str
    label: str
    tex: str
    shape: tuple[int, ...]
    points: float
    description: str

    @property
    def rows(self) -> int:
        return self.shape[0] if len(self.shape) == 2 else 1

    @property
    def columns(self) -> int:
        return self.shape[-1] if self.shape else 1

    @property
    def words(self) -> str:
        return shape_words(self.shape)

    def where(self, i: int, j: int) -> str:
        """A cell in words, for screen readers: 'row 2, column 1', 'entry 3', ''."""
        if not self.shape:
            return ""
        if len(self.shape) == 1:
            return f"entry {j + 1}"
        return f"row {i + 1}, column {j + 1}"


@dataclass(frozen=True)
class ProblemPage:
    """One problem of a page: what every page shows, and the worked steps of practice pages."""

    view: ProblemView
    svg: str
    grids: tuple[Grid, ...]
    worked: dict[str, tuple[SolutionStep, ...]]  # by asked quantity; empty on hand-in pages


def grids(pk: ProblemKey, view: ProblemView) -> tuple[Grid, ...]:
    """The asked quantities with their shapes: what the answer template holds, no values."""
    trace = pk.instance.trace
    return tuple(Grid(pk.problem.id, p.name, p.label, p.tex, tuple(np.shape(trace[p.name])), p.points,
                      trace.step(p.name).description) for p in view.parts)


def worked_groups(view: ProblemView) -> dict[str, tuple[SolutionStep, ...]]:
    """Each asked part's worked steps: its own, after the unasked ones it is the first to need."""
    out: dict[str, tuple[SolutionStep, ...]] = {}
    pending: list[SolutionStep] = []
    for step in view.steps:
        pending.append(step)
        if step.label:
            out[step.name] = tuple(pending)
            pending = []
    return out


def earlier_asked(pk: ProblemKey) -> dict[str, list[str]]:
    """For each asked quantity, the asked quantities it is computed from (through any unasked
    intermediates): where a wrong earlier answer may make a later one right by follow-through."""
    trace, asked = pk.instance.trace, set(pk.problem.asked)
    found: dict[str, set[str]] = {}

    def sources(name: str) -> set[str]:
        if name not in found:
            found[name] = set()
            for d in trace.step(name).deps:
                found[name] |= {d} if d in asked else sources(d)
        return found[name]

    order = list(trace.names)
    return {q: sorted(sources(q), key=order.index) for q in pk.problem.asked}


# --- the data the page's script works with -----------------------------------------------------


def _flat(values: Any) -> list[float]:
    """Numbers as the script reads them: exact doubles (JSON keeps every bit of a float)."""
    return [float(x) for x in np.asarray(values, dtype=float).ravel().tolist()]


def _checks(pk: ProblemKey, name: str) -> dict[str, Any]:
    """A quantity's key, margins and catalogued mistakes, for practice pages only.

    The key values are the engine's own (unrounded), so |typed - key| <= margin in the browser is
    the very comparison `gradekit grade` makes, bit for bit.
    """
    key = entries(pk, name)
    exact = _flat(pk.instance.trace[name])
    return {"key": exact, "margin": [e.margin for e in key],
            "mistakes": [{"message": m.message, "value": _flat(m.value), "margin": _flat(m.margin)}
                         for m in mistake_values(pk, name)]}


def page_data(vk: VariantKey, practice: bool) -> dict[str, Any]:
    """What the page's script needs; the key's values only when `practice`."""
    key = vk.key
    template = template_document(key)
    if vk.student is not None:
        template["student"] = {"id": vk.student.id, "name": vk.student.name}
    problems = []
    for pk in key.problems:
        deps = earlier_asked(pk)
        quantities = []
        for q in pk.problem.asked:
            item: dict[str, Any] = {"name": q, "shape": list(np.shape(pk.instance.trace[q])),
                                    "points": pk.points[q], "earlier": deps[q]}
            if practice:
                item.update(_checks(pk, q))
            quantities.append(item)
        problems.append({"id": pk.problem.id, "quantities": quantities})
    from gradekit.grading.diagnose import MAX_READINGS

    return {"mode": "practice" if practice else "handin",
            "storage": f"gradekit:{STORAGE_VERSION}:{key.sheet.id}:{json.dumps(key.variant.as_json(), sort_keys=True)}",
            "template": template, "problems": problems, "readings": MAX_READINGS, "total": key.total}


def script_json(data: Any) -> str:
    """JSON safe inside a <script> element: no '<', '>' or '&' that HTML could read as markup."""
    text = json.dumps(data, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


# --- the page ---------------------------------------------------------------------------------


@cache
def _asset(name: str) -> str:
    from gradekit.util.resources import templates_dir

    return (templates_dir() / "html" / name).read_text(encoding="utf-8")


def _hash(text: str) -> str:
    """A CSP source for an inline script or style: 'sha256-...' of its exact text."""
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii") + "'"


def content_policy(script: str, style: str) -> str:
    """No request of any kind: only this page's own script and style run (a script or style that
    escaped escaping would not); nothing is fetched, framed, or posted."""
    return (f"default-src 'none'; script-src {_hash(script)}; style-src {_hash(style)}; "
            "base-uri 'none'; form-action 'none'")


def prose(text: str) -> str:
    """Text with $math$ as HTML: the text escaped, the math as MathML."""
    from markupsafe import escape

    from gradekit.exports.mathml import math

    out = []
    for part in _MATH.split(fmt.clean_text(str(text)).strip()):
        if part.startswith("$$") and part.endswith("$$") and len(part) > 4:
            out.append(math(part[2:-2], display=True))
        elif _MATH.fullmatch(part):
            out.append(math(part[1:-1]))
        else:
            out.append(str(escape(part)))
    return "".join(out)


@cache
def environment() -> jinja2.Environment:
    """The strict, autoescaping Jinja environment of HTML pages, built once per process."""
    import jinja2
    from markupsafe import Markup

    from gradekit.exports.mathml import math
    from gradekit.util.resources import templates_dir

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(templates_dir() / "html")),
                             undefined=jinja2.StrictUndefined, autoescape=True, trim_blocks=True,
                             lstrip_blocks=True, keep_trailing_newline=True)
    env.filters["math"] = lambda tex: Markup(math(str(tex)))
    env.filters["dmath"] = lambda tex: Markup(math(str(tex), display=True))
    env.filters["prose"] = lambda text: Markup(prose(str(text)))
    env.filters["clean"] = fmt.clean_text
    env.filters["pts"] = points_text
    env.filters["mat"] = lambda shown, decimals: Markup(math(_shown_tex(shown, decimals), display=True))
    return env


def _shown_tex(shown: Shown, decimals: int) -> str:
    return f"{shown.tex} = {fmt.tex_matrix(shown.value, decimals, shown.integers, shown.given)}"


def problem_page(pk: ProblemKey, number: int, practice: bool) -> ProblemPage:
    from gradekit.render.svg import svg

    view = problem_view(number, pk)
    return ProblemPage(view, svg(pk.problem, pk.instance.given), grids(pk, view),
                       worked_groups(view) if practice else {})


def page(vk: VariantKey) -> str:
    """The HTML page of one variant: practice for a public seed, hand-in for a roster student."""
    from markupsafe import Markup

    practice = vk.student is None
    key = vk.key
    script, style = _asset("page.js"), _asset("page.css")
    problems = [problem_page(pk, i, practice) for i, pk in enumerate(key.problems, start=1)]
    return environment().get_template("page.html.j2").render(
        practice=practice, sheet=key.sheet, variant=key.variant, student=vk.student, total=key.total,
        problems=problems, policy=content_policy(script, style), script=Markup(script), style=Markup(style),
        data=Markup(script_json(page_data(vk, practice))))


def file_name(vk: VariantKey) -> str:
    if vk.student is not None:
        return f"{vk.key.sheet.id}-{folder_name(vk.student.id)}.html"
    return f"{vk.key.sheet.id}-seed-{vk.key.variant.seed}.html"


def write(variants: Sequence[VariantKey], folder: Path) -> list[Path]:
    """One page per variant in `folder`; with students, also an index students.csv."""
    return write_per_variant(variants, folder, file_name, page)

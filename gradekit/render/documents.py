"""Render an answer key as sheets and worked solutions: LaTeX, Markdown and plain text.

The key is first turned into view values (what each problem shows: givens, asked parts,
solution steps); templates in templates/<format>/ only place them. One strict Jinja
environment per format, built once: LaTeX uses \\VAR{...} and \\BLOCK{...} delimiters so
TeX's braces are left alone, and every user-supplied text goes through an escape filter.
"""

from __future__ import annotations

import string
from dataclasses import dataclass, field
from functools import cache, cached_property
from typing import TYPE_CHECKING

import numpy as np

from gradekit.model.notation import tex
from gradekit.render import families
from gradekit.render import formatting as fmt
from gradekit.render.engines import sheet_texts, tex_engine
from gradekit.render.fonts import fallback_fonts

if TYPE_CHECKING:
    import jinja2

    from gradekit.keys.key import AnswerKey, ProblemKey
    from gradekit.model.problem import Problem
    from gradekit.engine.trace import Trace



@dataclass(frozen=True)
class Shown:
    """A named value as shown on a sheet."""

    name: str
    tex: str
    value: np.ndarray
    integers: bool = False
    given: bool = False  # a given value is written as the problem states it (0.7, not 0.7000)


@dataclass(frozen=True)
class Part:
    """One asked quantity: (a) Z^{[1]} (2x3) [1.5 pts]."""

    label: str
    name: str
    tex: str
    shape: str
    points: float


@dataclass(frozen=True)
class SolutionStep:
    name: str
    tex: str
    formula: str
    description: str
    inputs: tuple[Shown, ...]
    result: Shown
    label: str  # the part's label when asked, "" for an intermediate step


@dataclass(frozen=True)
class RenderOptions:
    """How a variant is typeset, beyond its numbers."""

    work_space: float = 0.0  # cm of blank space under each asked quantity on printed sheets
    engine: str = "auto"  # TeX engine of the LaTeX documents: auto | pdflatex | lualatex (gradekit.render.fonts)


@dataclass(frozen=True)
class ProblemView:
    number: int
    id: str
    title: str
    statement: str
    instructions: str
    network: tuple[str, ...]  # sentences with $math$
    decimals: int
    points: float
    given: tuple[Shown, ...]
    parts: tuple[Part, ...]
    steps: tuple[SolutionStep, ...]
    # The key this view shows: diagrams and worked steps are made from it when a template asks
    # (exports that only list the given values never pay for them).
    source: ProblemKey | None = field(default=None, compare=False, repr=False)

    @cached_property
    def diagram(self):  # noqa: ANN201 - a gradekit.render.diagram.Diagram
        """The network's diagram, with the given numbers on its edges when it is small enough."""
        assert self.source is not None
        return families.diagram(self.source.problem, self.source.instance.given)

    @cached_property
    def diagram_tex(self) -> str:
        from gradekit.render.tikz import picture

        return picture(self.diagram)

    @cached_property
    def diagram_svg(self) -> str:
        from gradekit.render.svg import write

        return write(self.diagram, f"Network of {fmt.clean_text(self.title)}")

    @cached_property
    def solved_diagram_tex(self) -> str:
        """The picture again with every value and gradient on it, for a family that draws one ("" otherwise)."""
        from gradekit.render.tikz import picture

        assert self.source is not None
        d = families.solved_diagram(self.source.problem, self.source.instance.trace)
        return "" if d is None else picture(d)

    @cached_property
    def solved_diagram_svg(self) -> str:
        from gradekit.render.svg import write

        assert self.source is not None
        d = families.solved_diagram(self.source.problem, self.source.instance.trace)
        return "" if d is None else write(d, f"Worked circuit of {fmt.clean_text(self.title)}")

    @cached_property
    def worked(self):  # noqa: ANN201 - dict[str, gradekit.render.worked.WorkedStep]
        """Each solution step's worked entry and structural notes, by step name."""
        from gradekit.render.worked import worked_steps

        assert self.source is not None
        return worked_steps(self.source, [s.name for s in self.steps])

    @cached_property
    def part_points_shown(self) -> bool:
        """Whether each part shows its points: they are whole or half points (key.split_points);
        finer shares would only add noise, so then only the problem's total is shown."""
        return all(float(p.points * 2).is_integer() for p in self.parts)

    @property
    def answers(self) -> tuple[tuple[Part, Shown], ...]:
        """Each asked part with its value: the summary at the end of a worked solution."""
        results = {s.name: s.result for s in self.steps}
        return tuple((part, results[part.name]) for part in self.parts)

    @property
    def widest_matrix(self) -> int:
        """Most columns of any matrix shown (amsmath sets at most MaxMatrixCols, 10 by default)."""
        shown = [*self.given, *(s.result for s in self.steps)]
        return max((fmt.matrix_columns(v.value) for v in shown), default=0)


@dataclass(frozen=True)
class SheetView:
    id: str
    title: str
    instructions: str
    variant: str
    student_id: str | None
    student_name: str | None
    points: float
    problems: tuple[ProblemView, ...]
    options: RenderOptions = RenderOptions()


def _shown(problem: Problem, trace: Trace, name: str) -> Shown:
    """A value as a sheet shows it: class labels as whole numbers, given values as stated."""
    return Shown(name, tex(name), np.asarray(trace[name]), trace.step(name).axes == "labels",
                 name in problem.arch.given_names())


class _ShownCache(dict):
    """A trace's values as Shown, each made once: a worked solution shows X or A1 many times."""

    def __init__(self, problem: Problem, trace: Trace):
        super().__init__()
        self.problem, self.trace = problem, trace

    def __missing__(self, name: str) -> Shown:
        shown = self[name] = _shown(self.problem, self.trace, name)
        return shown


def part_labels(count: int) -> list[str]:
    letters = string.ascii_lowercase
    return [letters[i] if i < 26 else f"{letters[i // 26 - 1]}{letters[i % 26]}" for i in range(count)]


def _needed_steps(pk: ProblemKey) -> list[str]:
    """Asked quantities and every computed step they depend on, in computing order."""
    trace = pk.instance.trace
    needed: set[str] = set()
    stack = list(pk.problem.asked)
    while stack:
        name = stack.pop()
        if name in needed:
            continue
        step = trace.step(name)
        if step.stage == "given":
            continue
        needed.add(name)
        stack.extend(step.deps)
    return [s.name for s in trace.steps if s.name in needed]


def problem_view(number: int, pk: ProblemKey) -> ProblemView:
    problem, trace = pk.problem, pk.instance.trace
    labels = dict(zip(problem.asked, part_labels(len(problem.asked))))
    parts = tuple(Part(labels[q], q, tex(q), fmt.shape_text(np.shape(trace[q])), pk.points[q]) for q in problem.asked)
    steps = []
    shown = _ShownCache(problem, trace)
    for name in _needed_steps(pk):
        step = trace.step(name)
        inputs = tuple(shown[d] for d in step.deps)
        steps.append(SolutionStep(name, tex(name), step.formula, step.description, inputs, shown[name],
                                  labels.get(name, "")))
    given = tuple(_shown(problem, trace, n) for n in pk.instance.given)
    return ProblemView(number, problem.id, problem.title, problem.statement.strip(), pk.entry.instructions.strip(),
                       families.sentences(problem, trace), problem.decimals, pk.total,
                       given, parts, tuple(steps), pk)


def sheet_view(key: AnswerKey, student_name: str | None = None, options: RenderOptions = RenderOptions()) -> SheetView:
    v = key.variant
    label = f"Variant for student {v.student}" if v.student is not None else f"Variant: seed {v.seed}"
    return SheetView(key.sheet.id, key.sheet.title, key.sheet.instructions.strip(), label, v.student, student_name,
                     key.total, tuple(problem_view(i, pk) for i, pk in enumerate(key.problems, start=1)), options)


# --- environments ---------------------------------------------------------------------------


def _common_filters(env: jinja2.Environment) -> None:
    env.filters["pts"] = fmt.points
    env.filters["ptslabel"] = fmt.points_label


@cache
def environment(kind: str, engine: str = "pdflatex") -> jinja2.Environment:
    """The strict Jinja environment of one output format (and TeX engine), built once per process."""
    import jinja2

    from gradekit.util.resources import templates_dir

    loader = jinja2.FileSystemLoader(str(templates_dir() / kind))
    if kind == "latex":
        env = jinja2.Environment(
            loader=loader, undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=True,
            block_start_string=r"\BLOCK{", block_end_string="}", variable_start_string=r"\VAR{",
            variable_end_string="}", comment_start_string=r"\#{", comment_end_string="}",
            line_comment_prefix="%#", trim_blocks=True, lstrip_blocks=True)
        env.filters["esc"] = lambda text: fmt.tex_escape(str(text), engine)
        env.filters["text"] = lambda text: fmt.tex_text(str(text), engine)
        env.globals["engine"] = engine
        # On paper a line has a width: wide matrices get a smaller font instead of running off.
        env.filters["mat"] = lambda shown, decimals: fmt.tex_matrix_fit(shown.value, decimals, shown.integers,
                                                                        shown.given)
    else:
        env = jinja2.Environment(loader=loader, undefined=jinja2.StrictUndefined, autoescape=False,
                                 keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True)
        env.filters["esc"] = fmt.md_escape
        env.filters["text"] = lambda s: str(s).strip()
        # Markdown viewers scroll a wide formula sideways; the matrix stays at full size.
        env.filters["mat"] = lambda shown, decimals: fmt.tex_matrix(shown.value, decimals, shown.integers, shown.given)
        env.filters["plainshape"] = fmt.plain_shape
        env.filters["textmat"] = lambda shown, decimals: fmt.text_matrix(shown.value, decimals, shown.integers,
                                                                         shown.given)
    _common_filters(env)
    return env


def render(output_format: str, template: str, engine: str = "pdflatex", **context: object) -> str:
    """A template's text, ending in exactly one newline whatever its last block left."""
    env = environment(output_format, engine if output_format == "latex" else "pdflatex")
    return env.get_template(template).render(**context).rstrip("\n") + "\n"


def _latex_setup(keys: list[tuple[AnswerKey, str | None]], options: RenderOptions) -> tuple[str, dict[str, object]]:
    """The engine of a LaTeX document of these variants (key, student name), and what its preamble
    needs to know: the fallback fonts for the characters people wrote (gradekit.render.engines)."""
    texts = [t for key, name in keys for t in sheet_texts(key.sheet, name, key.variant.student)]
    return tex_engine(options.engine, texts), {"fallbacks": fallback_fonts(texts)}


def render_text(key: AnswerKey, solutions: bool = False) -> str:
    """A variant for the terminal: aligned matrices, formulas as plain LaTeX."""
    return render("text", "sheet.txt.j2", sheet=sheet_view(key), solutions=solutions)


def latex_fragments(key: AnswerKey, options: RenderOptions = RenderOptions()) -> dict[str, str]:
    """Body-only exercise and solution fragments per problem, for \\input into a course's own files.

    The host document numbers the problems and states their points (an exam-class \\question[20],
    a \\section): a fragment starts with the problem's title in bold and prints neither.
    """
    view = sheet_view(key, options=options)
    engine, _ = _latex_setup([(key, None)], options)  # no preamble: the host document sets the fonts
    out = {}
    for problem in view.problems:
        for kind in ("exercise", "solution"):
            out[f"{problem.id}-{kind}.tex"] = render("latex", "fragment.tex.j2", engine, problem=problem, kind=kind,
                                                    variant=view.variant, numbered=False,
                                                    work_space=options.work_space)
    return out


def latex_roster(keys: list[tuple[AnswerKey, str]], title: str, options: RenderOptions = RenderOptions()) -> str:
    """One document with every student's sheet, each starting on a right-hand page (printed
    two-sided, no sheet of paper carries two students): (key, student name) pairs."""
    sheets = [sheet_view(key, name or None, options) for key, name in keys]
    engine, fonts = _latex_setup([(key, name or None) for key, name in keys], options)
    return render("latex", "roster.tex.j2", engine, sheets=sheets, title=title, numbered=True,
                  work_space=options.work_space, **fonts)


def render_variant(key: AnswerKey, student_name: str | None = None,
                   options: RenderOptions = RenderOptions()) -> dict[str, str]:
    """The four documents of one variant, by file name."""
    view = sheet_view(key, student_name, options)
    engine, fonts = _latex_setup([(key, student_name)], options)
    latex = {"numbered": True, "work_space": options.work_space, **fonts}
    return {
        "sheet.tex": render("latex", "sheet.tex.j2", engine, sheet=view, solutions=False, **latex),
        "solutions.tex": render("latex", "sheet.tex.j2", engine, sheet=view, solutions=True, **latex),
        "sheet.md": render("markdown", "sheet.md.j2", sheet=view, solutions=False),
        "solutions.md": render("markdown", "sheet.md.j2", sheet=view, solutions=True),
    }

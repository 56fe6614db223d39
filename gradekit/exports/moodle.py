"""Moodle XML: one Cloze (embedded answers) question per problem and variant, one field per entry.

Each entry of each asked quantity is a NUMERICAL subquestion `{w:NUMERICAL:=value:margin}` whose
margin is the grader's own (gradekit.engine.margins), so Moodle accepts exactly what `gradekit grade`
accepts. Moodle sets a Cloze question's mark to the sum of its field weights (it ignores
<defaultgrade>), so the weights of every question of a sheet add up to one common multiple of its
problem's points (sheet_weights): a quiz then weighs the problems as the sheet does. Each problem
has its own category, `$course$/gradekit/<sheet id>/<problem id>`, holding its variants (a pool of
public seeds, or each student's variant with a roster), so that a quiz can draw one random
question per problem category.

Moodle's Cloze parser (question/type/multianswer) starts a field wherever the question text holds
`{N:TYPE:`; our fields hold only numbers, and in every text from instructors or rosters such an
opening is neutralized (no_fields), so no title or name can become a field.
"""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Iterator, Mapping, Sequence

from gradekit.util.errors import InputFileError
from gradekit.exports import markup
from gradekit.exports.common import Entry, VariantKey, entries, plain_number, points_text, shape_words
from gradekit.keys.key import AnswerKey, ProblemKey
from gradekit.render.documents import problem_view

QUESTION_MARK_LIMIT = 99_999  # the largest mark; Moodle stores a question's mark as DECIMAL(12,7): below 100,000
NAME_LIMIT = 255  # Moodle's question name column
# The opening of a Cloze field as Moodle's parser finds it (qtype_multianswer ANSWER_START_REGEX).
_FIELD_START = re.compile(r"\{(?=[0-9]*:[A-Z_]+:)")  # any type name: a superset is harmless


def no_fields(html_text: str) -> str:
    """HTML in which nothing can start a Cloze field: each `{N:TYPE:` gets its brace as `&#123;`.

    Moodle's parser finds fields by that opening alone, anywhere in the question text, so a
    title, a statement or a student's name holding one would become a field. Other braces stay
    as they are (LaTeX needs them), and so does the page: the reference shows a `{`.
    """
    return _FIELD_START.sub("&#123;", html_text)


def numerical(entry: Entry, weight: int) -> str:
    """One NUMERICAL field: `{weight:NUMERICAL:=value:margin}` with plain decimals and a '.'."""
    return f"{{{weight}:NUMERICAL:={plain_number(entry.value)}:{plain_number(entry.margin)}}}"


@dataclass(frozen=True)
class SheetWeights:
    """The integer weight of every Cloze field of a sheet's questions.

    Every question's weights add up to `per_point` times its problem's points, so that the
    questions' marks (which Moodle takes from these sums) weigh the problems as the sheet does.
    `fields[problem][quantity]` holds each entry's weight in row-major order. With `exact`, each
    entry weighs exactly its quantity's points shared among its entries; without it (a common
    multiple that would pass QUESTION_MARK_LIMIT), the weights are rounded as sheet_weights says.
    """

    per_point: int
    exact: bool
    fields: Mapping[str, Mapping[str, tuple[int, ...]]]

    def total(self, problem_id: str) -> int:
        """A question's mark in Moodle: the sum of its field weights."""
        return sum(sum(w) for w in self.fields[problem_id].values())


def _shares(pk: ProblemKey) -> dict[str, tuple[Fraction, int]]:
    """Each asked quantity's share of a point per entry (its points over its entries), and its entry count."""
    out = {}
    for q in pk.problem.asked:
        count = max(1, math.prod(pk.instance.trace[q].shape))
        out[q] = (Fraction(pk.points[q]).limit_denominator(1000) / count, count)
    return out


def sheet_weights(key: AnswerKey, limit: int = QUESTION_MARK_LIMIT) -> SheetWeights:
    """Integer field weights proportional to the grader's points, with one multiple for the whole sheet.

    The points of a quantity are shared equally by its entries (Moodle grades each field alone).
    The smallest common multiple of every share's denominator makes every weight a whole number
    and every question's total `per_point` times its problem's points. Shapes and points are the
    same in every variant of a sheet, so one variant's key decides for all. When that multiple
    would give a question a mark above `limit`, `per_point` is the largest multiple of the
    problems' own point denominators that does not, and each question's `per_point * points`
    units are shared by largest remainders: the totals stay exact, and entries of one quantity
    may differ by one unit (with the real limit, about 1,000 units per point of a 100-point
    problem, that is below 1% of a field's weight for quantities of up to 10 points).
    """
    shares = {pk.problem.id: _shares(pk) for pk in key.problems}
    totals = {pid: sum((s * n for s, n in q.values()), Fraction(0)) for pid, q in shares.items()}
    top = max(totals.values())
    if top == 0:  # nothing is worth a point: every field weighs the same
        return SheetWeights(1, True, {pid: {name: (1,) * n for name, (_, n) in q.items()} for pid, q in shares.items()})
    exact = math.lcm(*(s.denominator for q in shares.values() for s, _ in q.values() if s))
    if exact * top <= limit:
        fields = {pid: {name: (int(s * exact),) * n for name, (s, n) in q.items()} for pid, q in shares.items()}
        return SheetWeights(exact, True, fields)
    step = math.lcm(*(t.denominator for t in totals.values()))
    per_point = max(step, int(limit / top) // step * step)
    return SheetWeights(per_point, False, {pid: _rounded(q, per_point) for pid, q in shares.items()})


def _rounded(shares: Mapping[str, tuple[Fraction, int]], per_point: int) -> dict[str, tuple[int, ...]]:
    """One question's entry weights: per_point * share each, rounded by largest remainders so
    that they add up to per_point times the problem's points exactly."""
    quotas = [(name, s * per_point) for name, (s, n) in shares.items() for _ in range(n)]
    units = int(sum(q for _, q in quotas))
    weights = [math.floor(q) for _, q in quotas]
    order = sorted(range(len(quotas)), key=lambda i: (-(quotas[i][1] - weights[i]), i))
    for i in order[:units - sum(weights)]:
        weights[i] += 1
    out: dict[str, list[int]] = {}
    for (name, _), w in zip(quotas, weights):
        out.setdefault(name, []).append(w)
    return {name: tuple(w) for name, w in out.items()}


def _grid(pk: ProblemKey, name: str, weights: Sequence[int]) -> str:
    """The fields of one quantity laid out like the value: a row, or a table of rows and columns."""
    shape = pk.instance.trace[name].shape
    fields = [numerical(e, w) for e, w in zip(entries(pk, name), weights)]
    if not shape:
        return fields[0]
    columns = shape[-1]
    rows = [fields[i:i + columns] for i in range(0, len(fields), columns)]
    body = "".join("<tr>" + "".join(f"<td>{f}</td>" for f in row) + "</tr>" for row in rows)
    return f'<table class="gradekit-matrix">{body}</table>'


def question_text(pk: ProblemKey, number: int, variant: str, weights: Mapping[str, Sequence[int]]) -> str:
    view = problem_view(number, pk)
    items = [f"<li>{markup.math(part.tex)}, {shape_words(pk.instance.trace[part.name].shape)} "
             f"({points_text(part.points)}): {_grid(pk, part.name, weights[part.name])}</li>"
             for part in view.parts]
    return "\n".join([no_fields(markup.problem(view, variant)), "<p><strong>Compute</strong> (one number per field):</p>",
                      '<ol type="a">', *items, "</ol>"])


def general_feedback(pk: ProblemKey) -> str:
    """The formula of every asked step, shown to students after they answer."""
    trace = pk.instance.trace
    items = "".join(f"<li>{markup.math(trace.step(q).formula, display=True)}</li>" for q in pk.problem.asked)
    return f"<p>How each part is computed:</p><ul>{items}</ul>"


def _text(parent: ET.Element, tag: str, value: str, fmt: str | None = None) -> ET.Element:
    element = ET.SubElement(parent, tag, {"format": fmt} if fmt else {})
    ET.SubElement(element, "text").text = value
    return element


def category(path: str) -> ET.Element:
    question = ET.Element("question", {"type": "category"})
    _text(question, "category", path)
    _text(question, "info", "Exported by gradekit.", "html")
    return question


def cloze_question(vk: VariantKey, pk: ProblemKey, number: int, weights: SheetWeights, shown: str) -> ET.Element:
    """One problem of one variant; `shown` is the variant as the question text names it."""
    name = f"{vk.key.sheet.id} · {pk.problem.id} · {vk.label}"[:NAME_LIMIT]
    question = ET.Element("question", {"type": "cloze"})
    _text(question, "name", name)
    _text(question, "questiontext", question_text(pk, number, shown, weights.fields[pk.problem.id]), "html")
    _text(question, "generalfeedback", general_feedback(pk), "html")
    ET.SubElement(question, "penalty").text = "0.3333333"
    ET.SubElement(question, "hidden").text = "0"
    return question


def category_path(sheet_id: str, problem_id: str) -> str:
    """Where a problem's questions go in the question bank: one category per problem."""
    return f"$course$/gradekit/{sheet_id}/{problem_id}"


def questions(variants: Sequence[VariantKey], pool: bool = False) -> Iterator[ET.Element]:
    """Every question of the file, problem by problem: the problem's category, then its question
    of every variant. In a pool, the question text says "Variant 7 of 200", not the seed: a public
    seed would let a student regenerate the key with gradekit."""
    key = variants[0].key
    weights = sheet_weights(key)
    for number, first in enumerate(key.problems, start=1):
        pid = first.problem.id
        yield category(category_path(key.sheet.id, pid))
        for index, vk in enumerate(variants, start=1):
            shown = f"Variant {index} of {len(variants)}" if pool else f"Variant: {vk.label}"
            yield cloze_question(vk, vk.key.problem(pid), number, weights, shown)


def chunks(variants: Sequence[VariantKey], pool: bool = False) -> Iterator[bytes]:
    """The Moodle XML file, UTF-8 and indented, one question at a time (a roster's file can be large).

    The variants are walked once per problem (a progress bar over them counts problems × variants)."""
    yield b"<?xml version='1.0' encoding='utf-8'?>\n<quiz>\n"
    for question in questions(variants, pool):
        ET.indent(question, level=1)
        yield b"  " + ET.tostring(question, encoding="utf-8") + b"\n"
    yield b"</quiz>\n"


def document(variants: Sequence[VariantKey], pool: bool = False) -> bytes:
    return b"".join(chunks(variants, pool))


def write(variants: Sequence[VariantKey], path: Path, pool: bool = False) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as f:
            f.writelines(chunks(variants, pool))
    except OSError as e:
        raise InputFileError(f"cannot write: {e.strerror}", source=path) from None

"""Moodle XML: one Cloze (embedded answers) question per problem and variant, one field per entry.

Each entry of each asked quantity is a NUMERICAL subquestion `{w:NUMERICAL:=value:margin}` whose
margin is the grader's own (atol + rtol |value|), so Moodle accepts exactly what `gradekit grade`
accepts. All questions of a sheet go into one category, `$course$/gradekit/<sheet id>`; with a
roster, each student's variant is its own question, named after the student.

Moodle's Cloze parser (question/type/multianswer) starts a field wherever the question text holds
`{N:TYPE:`; our fields hold only numbers, and in every text from instructors or rosters such an
opening is neutralized (no_fields), so no title or name can become a field.
"""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from fractions import Fraction
from pathlib import Path
from typing import Iterator, Sequence

from gradekit.errors import InputFileError
from gradekit.exports import markup
from gradekit.exports.common import Entry, VariantKey, entries, plain_number, points_text, shape_words
from gradekit.key import ProblemKey
from gradekit.render import problem_view

MAX_WEIGHT = 1000  # beyond this, exact integer weights are replaced by rounded ones
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


def entry_weights(pk: ProblemKey) -> dict[str, int]:
    """The integer weight of one entry of each asked quantity.

    Cloze weights are whole numbers; a quantity's points are shared by its entries, so a 2-point
    2×3 matrix weighs each entry 1/3 of a point. Scaling every share by the least common multiple
    of their denominators keeps the spec's proportions exactly (when that stays small enough).
    """
    shares = {q: Fraction(pk.problem.quantity_grading[q].points).limit_denominator(1000)
              / max(1, math.prod(pk.instance.trace[q].shape)) for q in pk.problem.asked}
    if all(s == 0 for s in shares.values()):
        return {q: 1 for q in shares}
    scale = math.lcm(*(s.denominator for s in shares.values() if s))
    weights = {q: int(s * scale) for q, s in shares.items()}
    if max(weights.values()) > MAX_WEIGHT:
        top = max(shares.values())
        weights = {q: max(1, round(float(s / top) * 100)) if s else 0 for q, s in shares.items()}
    return weights


def _grid(pk: ProblemKey, name: str, weight: int) -> str:
    """The fields of one quantity laid out like the value: a row, or a table of rows and columns."""
    shape = pk.instance.trace[name].shape
    fields = [numerical(e, weight) for e in entries(pk, name)]
    if not shape:
        return fields[0]
    columns = shape[-1]
    rows = [fields[i:i + columns] for i in range(0, len(fields), columns)]
    body = "".join("<tr>" + "".join(f"<td>{f}</td>" for f in row) + "</tr>" for row in rows)
    return f'<table class="gradekit-matrix">{body}</table>'


def question_text(pk: ProblemKey, number: int, variant: str) -> str:
    view = problem_view(number, pk)
    weights = entry_weights(pk)
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


def cloze_question(vk: VariantKey, pk: ProblemKey, number: int) -> ET.Element:
    key = vk.key
    name = f"{key.sheet.id} · {pk.problem.id} · {vk.label}"[:NAME_LIMIT]
    question = ET.Element("question", {"type": "cloze"})
    _text(question, "name", name)
    _text(question, "questiontext", question_text(pk, number, f"Variant: {vk.label}"), "html")
    _text(question, "generalfeedback", general_feedback(pk), "html")
    ET.SubElement(question, "penalty").text = "0.3333333"
    ET.SubElement(question, "hidden").text = "0"
    return question


def questions(variants: Sequence[VariantKey]) -> Iterator[ET.Element]:
    """Every question of the file in order: a category before the first question of each sheet."""
    current = None
    for vk in variants:
        path = f"$course$/gradekit/{vk.key.sheet.id}"
        if path != current:
            yield category(path)
            current = path
        for number, pk in enumerate(vk.key.problems, start=1):
            yield cloze_question(vk, pk, number)


def chunks(variants: Sequence[VariantKey]) -> Iterator[bytes]:
    """The Moodle XML file, UTF-8 and indented, one question at a time (a roster's file can be large)."""
    yield b"<?xml version='1.0' encoding='utf-8'?>\n<quiz>\n"
    for question in questions(variants):
        ET.indent(question, level=1)
        yield b"  " + ET.tostring(question, encoding="utf-8") + b"\n"
    yield b"</quiz>\n"


def document(variants: Sequence[VariantKey]) -> bytes:
    return b"".join(chunks(variants))


def write(variants: Sequence[VariantKey], path: Path) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as f:
            f.writelines(chunks(variants))
    except OSError as e:
        raise InputFileError(f"cannot write: {e.strerror}", source=path) from None

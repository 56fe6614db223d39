"""Jupyter worksheets: one .ipynb per variant, built and validated with nbformat.

A worksheet holds the problems as Markdown, the given values as NumPy code, one code cell per
asked quantity (`answers["<problem>"]["dW1"] = None`, for the student to replace), and a last
cell that writes `submission.json` in exactly the format `gradekit grade` reads, with the sheet
and variant already filled in. Nothing in it needs gradekit: only json and numpy.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from gradekit.render import formatting as fmt
from gradekit.exports.common import STORED_DIGITS, VariantKey, points_text, shape_words, write_per_variant
from gradekit.keys.key import template_document
from gradekit.render.documents import Part, ProblemView, Shown, problem_view
from gradekit.spec.roster import folder_name

if TYPE_CHECKING:
    import nbformat

KERNEL = {"name": "python3", "display_name": "Python 3", "language": "python"}


def literal(value: Any) -> str:
    """Python source for JSON-like data (dicts, lists, text, numbers), in JSON's double-quoted spelling.

    A dict of dicts gets one line per key, so a worksheet's tables stay readable. Whatever is
    written must read back as the same value (checked), or the plain repr is used instead.
    """
    if isinstance(value, dict) and value and all(isinstance(v, dict) for v in value.values()):
        text = "{\n" + "".join(f"    {literal(k)}: {literal(v)},\n" for k, v in value.items()) + "}"
    else:
        text = json.dumps(value, ensure_ascii=False)
    try:
        if ast.literal_eval(text) == value:
            return text
    except (ValueError, SyntaxError):
        pass
    return repr(value)


def array_code(shown: Shown) -> str:
    """A given value as NumPy code: class labels as integers, numbers as the key stores them."""
    a = np.asarray(shown.value, dtype=float)
    number = (lambda x: int(round(x))) if shown.integers else (lambda x: float(f"{x:.{STORED_DIGITS}g}"))
    values = [number(x) for x in a.ravel().tolist()]
    if a.ndim == 0:
        return f"{shown.name} = {values[0]!r}"
    return f"{shown.name} = np.array({np.array(values, dtype=object).reshape(a.shape).tolist()!r})"


def notation(layout: str) -> str:
    if layout == "rows":
        where = ("samples are the **rows** of $X$: $Z = XW + b$, and $W^{[l]}$ has one row per input "
                 "and one column per unit")
    else:
        where = ("samples are the **columns** of $X$: $Z = WX + b$, and $W^{[l]}$ has one row per unit "
                 "and one column per input")
    return ("### Notation\n\n"
            f"Layers are counted from 1. This problem uses the `{layout}` layout: {where}. Every answer is "
            "expected in this layout. $dW$ is the partial derivative of the loss $L$ with respect to $W$ "
            "(in code: `dW1`); `W1_new` is $W^{[1]}$ after the update, `loss_new` the loss after it, "
            "`pred` the predicted classes.")


def problem_markdown(view: ProblemView, layout: str) -> str:
    lines = [f"## Problem {view.number}: {view.title} ({points_text(view.points)})", ""]
    if view.statement:
        lines += [view.statement, ""]
    if view.instructions:
        lines += [f"*{view.instructions}*", ""]
    lines += [f"- {s}" for s in view.network] + ["", notation(layout), "", "### Compute", "",
                                                  f"To at least {view.decimals} decimals:", ""]
    lines += [f"- ({p.label}) ${p.tex}$ (${p.shape}$), {points_text(p.points)}" for p in view.parts]
    return "\n".join(lines)


def given_code(view: ProblemView, pid: str, several: bool) -> str:
    header = f"# Problem {view.number} ({pid}): the given values."
    if several:
        header += "\n# Run this cell again before you go back to this problem: the other problems use the same names."
    return "\n".join([header, *(array_code(g) for g in view.given)])


def answer_code(part: Part, pid: str, description: str, shape: tuple[int, ...]) -> str:
    how = "a number" if not shape else f"np.array of shape {tuple(shape)}"
    return (f"# ({part.label}) {part.name}: {description}; {shape_words(shape)} ({how}), {points_text(part.points)}.\n"
            f'answers["{pid}"]["{part.name}"] = None')


SAVE_CODE = '''\
# Writes submission.json, the file you hand in, in the format `gradekit grade` reads.
# Do not edit this cell: the sheet and your variant below must stay as they are.
SHEET = {sheet}
VARIANT = {variant}
SHAPES = {shapes}


def _as_json(value, where):
    """An answer as plain JSON numbers; NumPy arrays, lists and numbers all work."""
    if value is None:
        return None
    try:
        return np.asarray(value, dtype=float).tolist()
    except (TypeError, ValueError) as error:
        raise ValueError(f"{{where}}: not a number or a rectangular array of numbers ({{error}})") from None


submission = {{
    "format": {format},
    "version": {version},
    "sheet": SHEET,
    "variant": VARIANT,
    "student": {{"id": str(student["id"]), "name": str(student["name"])}},
    "answers": {{pid: {{q: _as_json(answers[pid].get(q), f"{{pid}} {{q}}") for q in shapes}}
                for pid, shapes in SHAPES.items()}},
    "shapes": SHAPES,
}}
with open("submission.json", "w", encoding="utf-8") as f:
    json.dump(submission, f, indent=1, ensure_ascii=False)
    f.write("\\n")
missing = [f"{{pid}} {{q}}" for pid, got in submission["answers"].items() for q, v in got.items() if v is None]
print("wrote submission.json" + (f"; still missing: {{', '.join(missing)}}" if missing else "; every answer is filled in"))
'''


def save_code(vk: VariantKey) -> str:
    template = template_document(vk.key)
    return SAVE_CODE.format(sheet=literal(template["sheet"]), variant=literal(template["variant"]),
                            shapes=literal(template["shapes"]), format=literal(template["format"]),
                            version=literal(template["version"]))


def setup_code(vk: VariantKey) -> str:
    key = vk.key
    if vk.student is not None:
        who = ("# Your variant: the numbers of this worksheet come from your student id. Do not change it.\n"
               f"student = {literal({'id': vk.student.id, 'name': vk.student.name})}")
    else:
        who = "# Your name and student id: they go into submission.json.\n" + f"student = {literal({'id': '', 'name': ''})}"
    answers = literal({pk.problem.id: {} for pk in key.problems})
    return f"import json\n\nimport numpy as np\n\n{who}\nanswers = {answers}"


def intro_markdown(vk: VariantKey) -> str:
    key = vk.key
    if vk.student is not None:
        who = f"Student: {fmt.md_escape(vk.student.name) + ', ' if vk.student.name else ''}ID {fmt.md_escape(vk.student.id)}"
    else:
        who = f"Variant: seed {key.variant.seed}"
    lines = [f"# {key.sheet.title}", "", f"**{who}** · {points_text(key.total)}", ""]
    if key.sheet.instructions.strip():
        lines += [key.sheet.instructions.strip(), ""]
    lines += ["**How to hand in.** Run the cells from the top. Replace each `None` below with your answer "
              "(a number, or a NumPy array in the shape asked). Then run the last cell: it writes "
              "`submission.json`, the file you hand in."]
    return "\n".join(lines)


def _markdown(source: str) -> dict[str, Any]:
    # Plain cells, validated once with the whole notebook: nbformat's new_*_cell validates each
    # cell on its own, which took two thirds of the time of a roster's worksheets.
    return {"cell_type": "markdown", "metadata": {}, "source": source}


def _code(source: str) -> dict[str, Any]:
    return {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [], "source": source}


def worksheet(vk: VariantKey) -> "nbformat.NotebookNode":
    """The worksheet of one variant, validated against the notebook schema."""
    import nbformat
    from nbformat import v4

    cells = [_markdown(intro_markdown(vk)), _code(setup_code(vk))]
    for number, pk in enumerate(vk.key.problems, start=1):
        view = problem_view(number, pk)
        trace = pk.instance.trace
        cells.append(_markdown(problem_markdown(view, pk.problem.arch.layout)))
        cells.append(_code(given_code(view, pk.problem.id, len(vk.key.problems) > 1)))
        for part in view.parts:
            cells.append(_code(answer_code(part, pk.problem.id, trace.step(part.name).description,
                                           tuple(trace[part.name].shape))))
    cells.append(_markdown("## Save your answers\n\nRun this cell after every change; hand in "
                           "`submission.json` (it is written next to this notebook)."))
    cells.append(_code(save_code(vk)))
    for i, cell in enumerate(cells):
        cell["id"] = f"gradekit-{i:03d}"  # stable ids: the same variant gives a byte-identical file
    nb = nbformat.from_dict({
        "nbformat": v4.nbformat, "nbformat_minor": v4.nbformat_minor, "cells": cells,
        "metadata": {"kernelspec": KERNEL, "language_info": {"name": "python"},
                     "gradekit": {"sheet": vk.key.sheet.id, "variant": vk.key.variant.as_json()}}})
    nbformat.validate(nb)  # the whole worksheet against the notebook schema, once
    return nb


def file_name(vk: VariantKey) -> str:
    if vk.student is not None:
        return f"{vk.key.sheet.id}-{folder_name(vk.student.id)}.ipynb"
    return f"{vk.key.sheet.id}-seed-{vk.key.variant.seed}.ipynb"


def write(variants: Sequence[VariantKey], folder: Path) -> list[Path]:
    """One worksheet per variant in `folder`; with students, also an index students.csv."""
    import nbformat

    return write_per_variant(variants, folder, file_name, lambda vk: nbformat.writes(worksheet(vk)) + "\n")

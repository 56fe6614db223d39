"""PrairieLearn: one question per problem, a pool of public variants, graded by gradekit's own grader.

The output is laid out as a PrairieLearn course (copy its two folders into your course's):

    questions/gradekit/SHEET/PROBLEM/
        info.json                 uuid (from sheet and problem: re-exports update, not duplicate), title, topic
        question.html             statement, figure, given values (per variant), one input element per asked quantity
        server.py                 the same for every question (gradekit.exports.prairielearn_server)
        gradekit-question.json    the problem spec and its file's name, the sheet's points, each variant's given values
        clientFilesQuestion/network-<hash>.svg   the network of each variant (one file per distinct picture)
    serverFilesCourse/gradekit-bundles/VERSION-HASH/gradekit/...   the grader, NumPy only

PrairieLearn runs server.py with the question's folder as working directory and first on
sys.path, then its own python/ folder and the course's serverFilesCourse/ (code-caller-native.ts,
zygote.py); server.py puts its bundle's folder first and imports gradekit from there.

Scalars are pl-number-input elements, everything else pl-matrix-component-input (a vector as one
row). An element takes one tolerance: it gets the quantity's smallest margin, and server.py's
grade() regrades every entry with its own margin and the whole grading policy, replacing each
element's score and marks per cell (gradekit.exports.prairielearn_runtime). Element names are
the quantity's name and an underscore (`dW1_`): PrairieLearn names a matrix's cells by appending
their number, so `A1` and `A11` could collide, and `A1_` cannot (every name ends in `_`, every
cell name in a digit).
"""

from __future__ import annotations

import ast
import hashlib
import html
import json
import math
import tomllib
import uuid
from fractions import Fraction
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

import gradekit
from gradekit.util.errors import InputFileError
from gradekit.exports import markup
from gradekit.exports.common import VariantKey, given_json, shape_words
from gradekit.exports.prairielearn_runtime import QUESTION_FILE, QUESTION_FORMAT
from gradekit.keys.key import ProblemKey
from gradekit.model.notation import tex
from gradekit.render.documents import problem_view
from gradekit.model.problem import Problem, Sheet
from gradekit.render.svg import svg

RUNTIME = "gradekit.exports.prairielearn_runtime"
BUNDLES = "gradekit-bundles"
FIGURE_PREFIX = "network-"
# Python 3.10 (PrairieLearn's question runtime) has no tomllib; the bundle never reads TOML.
_TOMLLIB_STUB = '''

import sys as _sys

if _sys.version_info < (3, 11):  # added by `gradekit export prairielearn`
    import types as _types

    class _NoToml(ValueError):
        pass

    def _no_loads(*args, **kwargs):
        raise _NoToml("this copy of gradekit reads no TOML (the problem comes as JSON)")

    _stub = _types.ModuleType("tomllib")
    _stub.TOMLDecodeError, _stub.loads = _NoToml, _no_loads
    _sys.modules.setdefault("tomllib", _stub)
'''


# --- names ------------------------------------------------------------------------------------


def question_folder(sheet_id: str, problem_id: str) -> str:
    """The question's folder under questions/ (its QID)."""
    return f"gradekit/{sheet_id}/{problem_id}"


def question_uuid(sheet_id: str, problem_id: str) -> str:
    """A version-4-shaped UUID made from the sheet and problem ids: the same on every export."""
    digest = hashlib.sha256(f"gradekit\0{sheet_id}\0{problem_id}".encode()).digest()
    return str(uuid.UUID(bytes=digest[:16], version=4))


def answer_names(asked: Sequence[str]) -> dict[str, str]:
    """Each asked quantity's element name: the name and `_`, so no cell name is another element's."""
    return {q: f"{q}_" for q in asked}


def element_weights(points: Mapping[str, float]) -> dict[str, int]:
    """Whole-number element weights in the proportions of the points (PrairieLearn wants integers)."""
    shares = {q: Fraction(p).limit_denominator(1000) for q, p in points.items()}
    if not any(shares.values()):
        return dict.fromkeys(points, 1)
    scale = math.lcm(*(s.denominator for s in shares.values()))
    weights = {q: int(s * scale) for q, s in shares.items()}
    divisor = math.gcd(*weights.values())
    return {q: w // divisor for q, w in weights.items()}


# --- the grader bundle ------------------------------------------------------------------------


def _package_root() -> Path:
    return Path(gradekit.__file__).parent


def _module_file(name: str) -> Path | None:
    parts = name.split(".")
    base = _package_root().joinpath(*parts[1:])
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _imported(tree: ast.AST) -> set[str]:
    """gradekit modules a module imports, at its top or inside functions; not those under
    `if TYPE_CHECKING:` (only type checkers read them)."""
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return {n for n in found if n == "gradekit" or n.startswith("gradekit.")}


def bundle_modules(root: str = RUNTIME) -> list[str]:
    """Every gradekit module the runtime can import (and their packages), in name order."""
    seen: set[str] = set()
    todo = [root]
    while todo:
        name = todo.pop()
        path = _module_file(name)
        if name in seen or path is None:
            continue
        seen.add(name)
        parent = name.rpartition(".")[0]
        todo.extend([parent] if parent else [])
        todo.extend(_imported(ast.parse(path.read_text(encoding="utf-8"))))
    return sorted(seen)


def bundle_files() -> tuple[str, dict[str, bytes]]:
    """The grader bundle: its folder name (version and content hash) and its files by relative path."""
    files: dict[str, bytes] = {}
    for name in bundle_modules():
        path = _module_file(name)
        assert path is not None
        relative = path.relative_to(_package_root().parent).as_posix()
        data = path.read_bytes()
        if name == "gradekit":
            data += _TOMLLIB_STUB.encode()
        files[relative] = data
    digest = hashlib.sha256()
    for relative in sorted(files):
        digest.update(relative.encode() + b"\0" + files[relative] + b"\0")
    return f"{gradekit.__version__}-{digest.hexdigest()[:12]}", files


# --- one question -----------------------------------------------------------------------------


def spec_data(problem: Problem) -> dict:
    """The problem's spec as its TOML file has it, for the runtime to parse again."""
    try:
        return tomllib.loads(Path(problem.source).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise InputFileError(f"cannot read the problem spec again: {e}", source=problem.source) from None


def spec_name(problem: Problem) -> str:
    """The spec's file name, which messages from the question name it by: never the folder it is
    in on the exporting machine (a path of the instructor's computer, meaningless in PrairieLearn)."""
    return Path(problem.source).name


def _no_mustache(text: str) -> str:
    """Static HTML in which PrairieLearn's Mustache finds no tag: braces (LaTeX has many) as entities."""
    return text.replace("{", "&#123;").replace("}", "&#125;")


def _input(pk: ProblemKey, name: str, element: str, weight: int) -> str:
    """The input element of one asked quantity."""
    label = _no_mustache(html.escape(markup.math(f"{tex(name)} ="), quote=True))
    attrs = (f'answers-name="{element}" label="{label}" comparison="relabs" rtol="0" '
             f'atol="{{{{params.gradekit.atol.{element}}}}}" weight="{weight}"')
    if np.ndim(pk.instance.trace[name]) == 0:
        return f"<pl-number-input {attrs}></pl-number-input>"
    partial = "true" if pk.problem.grading.partial_credit else "false"
    return (f'<pl-matrix-component-input {attrs} allow-partial-credit="{partial}" allow-feedback="true">'
            "</pl-matrix-component-input>")


def question_html(pk: ProblemKey, number: int) -> str:
    """question.html: the same for every variant; Mustache fills the variant's numbers and figure."""
    view = problem_view(number, pk)
    names = answer_names(pk.problem.asked)
    weights = element_weights(pk.points)
    placeholder = "\0given\0"
    figure = '<pl-figure file-name="\0figure\0" alt="\0alt\0"></pl-figure>'
    statement = _no_mustache(markup.problem(view, "", figure=figure, given=placeholder))
    statement = (statement.replace(placeholder, "{{#params.gradekit.given}}<p>$${{tex}}$$</p>{{/params.gradekit.given}}")
                 .replace("\0figure\0", "{{params.gradekit.figure}}")
                 .replace("\0alt\0", _no_mustache(html.escape(f"The network of {pk.problem.title}", quote=True))))
    items = []
    for part in view.parts:
        element = names[part.name]
        what = _no_mustache(f"{markup.math(part.tex)}, {shape_words(np.shape(pk.instance.trace[part.name]))}"
                            f" ({markup.points_text(part.points)})")
        items.append(f"<li><p>{what}:</p>\n{_input(pk, part.name, element, weights[part.name])}\n"
                     f"<pl-submission-panel><p>{{{{feedback.{element}}}}}</p></pl-submission-panel></li>")
    return "\n".join(["<pl-question-panel>", statement,
                      "<p><strong>Compute</strong> (one number per field; a matrix row by row, a vector as one "
                      "row). PrairieLearn grades a submission once every field holds a number.</p>",
                      "</pl-question-panel>", '<ol type="a">', *items, "</ol>", ""])


def info(sheet: Sheet, pk: ProblemKey, count: int) -> dict:
    """info.json (PrairieLearn's question schema)."""
    return {"uuid": question_uuid(sheet.id, pk.problem.id), "title": pk.problem.title, "topic": sheet.title,
            "tags": ["gradekit"], "type": "v3", "singleVariant": count == 1, "partialCredit": True}


def figure(pk: ProblemKey) -> tuple[str, bytes]:
    """A variant's network picture: its file name (from its content, so equal pictures share a
    file) and its SVG."""
    data = svg(pk.problem, pk.instance.given).encode()
    return f"{FIGURE_PREFIX}{hashlib.sha256(data).hexdigest()[:16]}.svg", data


def question_document(sheet: Sheet, bundle: str, keys: Sequence[tuple[int, ProblemKey]], number: int,
                      figures: dict[str, bytes]) -> dict:
    """gradekit-question.json: everything the runtime needs, for the (sheet seed, problem key) of
    each variant; fills `figures` with the pictures."""
    first = keys[0][1]
    variants = []
    for seed, pk in keys:
        name, data = figure(pk)
        figures[name] = data
        shown = [markup.given_tex(g, pk.problem.decimals) for g in problem_view(number, pk).given]
        variants.append({"seed": seed, "given": given_json(pk), "figure": name, "shown": shown})
    return {"format": QUESTION_FORMAT, "version": 1, "bundle": bundle, "sheet": sheet.id,
            "problem": first.problem.id, "source": spec_name(first.problem), "spec": spec_data(first.problem),
            "total": first.total, "points": dict(first.points), "weights": element_weights(first.points),
            "names": answer_names(first.problem.asked), "variants": variants}


# --- writing ----------------------------------------------------------------------------------


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def write(variants: Sequence[VariantKey], output: Path) -> list[str]:
    """The course folders for a pool of variants of one sheet; returns the question folders written.

    Nothing of an earlier export is removed: variants that PrairieLearn generated before keep
    their numbers (generate() keeps them in the variant's params) and still show their pictures
    (named by content, so they never clash), and questions of other exports still name their
    bundle.
    """
    sheet = variants[0].key.sheet
    bundle, files = bundle_files()
    server = (Path(__file__).parent / "prairielearn_server.py").read_bytes()
    written = []
    try:
        for relative, data in files.items():
            _write(output / "serverFilesCourse" / BUNDLES / bundle / relative, data)
        for number, first in enumerate(variants[0].key.problems, start=1):
            keys = [(vk.key.variant.seed, vk.key.problems[number - 1]) for vk in variants]
            folder = output / "questions" / question_folder(sheet.id, first.problem.id)
            figures: dict[str, bytes] = {}
            doc = question_document(sheet, bundle, keys, number, figures)
            _write(folder / QUESTION_FILE, (json.dumps(doc, ensure_ascii=False, allow_nan=False) + "\n").encode())
            _write(folder / "info.json", (json.dumps(info(sheet, first, len(keys)), indent=2) + "\n").encode())
            _write(folder / "question.html", question_html(first, number).encode())
            _write(folder / "server.py", server)
            pictures = folder / "clientFilesQuestion"
            for name, data in figures.items():
                _write(pictures / name, data)
            written.append(question_folder(sheet.id, first.problem.id))
    except OSError as e:
        raise InputFileError(f"cannot write: {e.strerror}", source=e.filename or output) from None
    return written


"""What every export needs: the variants' keys, a value's entries with their tolerances, plain numbers.

Learning platforms grade one number at a time, so exports split each asked quantity into its
entries; each entry carries the margin that `gradekit grade` itself allows around it (the key's
own allowance, gradekit.engine.margins), so a platform accepts exactly the answers the grader accepts.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from gradekit.keys.key import AnswerKey, ProblemKey, make_keys, student_keys
from gradekit.spec.roster import Student
from gradekit.model.problem import Sheet
from gradekit.sampling.variants import Variant

STORED_DIGITS = 12  # the key's stored precision (key.SIGNIFICANT_DIGITS): far past any tolerance


@dataclass(frozen=True)
class VariantKey:
    """One variant to export: its answer key and, for a roster variant, the student."""

    key: AnswerKey
    student: Student | None = None

    @property
    def label(self) -> str:
        """'seed 3', or 'Ada Lovelace (s123)' / 's123' for a student."""
        if self.student is None:
            return self.key.variant.label
        return f"{self.student.name} ({self.student.id})" if self.student.name else self.student.id


def public_keys(sheet: Sheet, seeds: Sequence[int]) -> list[VariantKey]:
    return [VariantKey(key) for key in make_keys(sheet, [Variant(seed=s) for s in seeds])]


def roster_keys(sheet: Sheet, students: Sequence[Student], secret: bytes) -> list[VariantKey]:
    """Each student's own secret variant, in roster order."""
    return [VariantKey(key, s) for key, s in zip(student_keys(sheet, students, secret), students)]


def write_per_variant(variants: Sequence[VariantKey], folder: Path, file_name: Callable[[VariantKey], str],
                      text: Callable[[VariantKey], str]) -> list[Path]:
    """One file per variant in `folder` (its name and its text); with students, also an index
    students.csv (id, name, file) so that each file can be handed to its student."""
    import csv
    import io

    from gradekit.util.errors import InputFileError

    written = []
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for vk in variants:
            path = folder / file_name(vk)
            path.write_text(text(vk), encoding="utf-8")
            written.append(path)
        students = [vk for vk in variants if vk.student is not None]
        if students:
            buffer = io.StringIO()
            csv.writer(buffer, lineterminator="\n").writerows(
                [["id", "name", "file"], *([vk.student.id, vk.student.name, file_name(vk)] for vk in students)])
            (folder / "students.csv").write_text(buffer.getvalue(), encoding="utf-8")
    except OSError as e:
        raise InputFileError(f"cannot write: {e.strerror}", source=e.filename or folder) from None
    return written


@dataclass(frozen=True)
class Entry:
    """One number of an asked quantity: where it sits, its key value and its margin."""

    index: tuple[int, ...]  # 0-based position; () for a scalar
    value: float
    margin: float

    def where(self, shape: tuple[int, ...]) -> str:
        """The entry's place in words, 1-based as people count: 'row 2, column 1', 'entry 3', ''."""
        if not self.index:
            return ""
        if len(shape) == 1:
            return f"entry {self.index[0] + 1}"
        return f"row {self.index[0] + 1}, column {self.index[1] + 1}"


def entries(pk: ProblemKey, name: str) -> list[Entry]:
    """The entries of an asked quantity in row-major order, each with its grading margin."""
    value = np.asarray(pk.instance.trace[name], dtype=float)
    allow = np.broadcast_to(pk.allowance(name), value.shape)
    out = []
    for index in np.ndindex(value.shape) if value.shape else [()]:
        k = float(f"{float(value[index]):.{STORED_DIGITS}g}")
        out.append(Entry(tuple(int(i) for i in index), k, float(allow[index])))
    return out


def given_json(pk: ProblemKey) -> dict[str, object]:
    """A variant's given values as JSON, exactly: grid numbers round-trip as they are, class labels
    stay integers, so running the engine on them again (as PrairieLearn's bundled grader does)
    rebuilds the variant's key bit for bit."""
    return {name: np.asarray(value).tolist() for name, value in pk.instance.given.items()}


def plain_number(x: float, digits: int = STORED_DIGITS) -> str:
    """x to `digits` significant figures as a plain decimal: '0.000012', never '1.2e-05', never '-0'.

    Quiz platforms parse their answer fields as plain decimals with a '.' (Moodle also reads
    exponents, Canvas does not reliably), so exports never write exponent notation.
    """
    x = float(f"{float(x):.{digits}g}")
    text = np.format_float_positional(x, trim="-")
    return "0" if text in ("0", "-0") else text


def points_text(x: float) -> str:
    """'1 point', '2.5 points', '1.11 points'."""
    from gradekit.render.formatting import points

    text = points(x)
    return f"{text} point" if text == "1" else f"{text} points"


def shape_words(shape: tuple[int, ...]) -> str:
    """'a scalar', 'a vector of 3 entries', 'a 2×3 matrix'."""
    if not shape:
        return "a scalar"
    if len(shape) == 1:
        return f"a vector of {shape[0]} entries"
    return f"a {shape[0]}×{shape[1]} matrix"


@dataclass(frozen=True)
class MistakeValue:
    """What one catalogued mistake gives for an asked quantity, in the quantity's own shape."""

    message: str  # gradekit.grading.diagnose's words for it
    value: np.ndarray  # the wrong value, shaped like the key (as a student fills the answer in)
    margin: np.ndarray  # per entry: how close a typed value must be to be named this mistake


def mistake_values(pk: ProblemKey, name: str) -> list[MistakeValue]:
    """The value each catalogued mistake (gradekit.ops.mistakes.mistakes, in the catalogue's order) gives for an
    asked quantity on the key's own values, for pages and platforms that name mistakes themselves.

    A typed answer in the key's shape is named a mistake exactly when every entry is within that
    mistake's `margin` of its `value`: the test diagnose.readings applies (compare.matches with the
    key's allowance), so an export names what `gradekit grade` names on the key's values. Left
    out: mistakes that give the right value (no mistake then), non-finite values, and values that
    cannot be written in the key's shape (a transposed non-square matrix: the grader calls that
    answer invalid, "it looks transposed"). Mistakes recognized on a student's own earlier
    values ("given your earlier answers, ...") need the whole submission: `gradekit grade` only.
    """
    from gradekit.grading.compare import matches, shaped_allowance
    from gradekit.grading.diagnose import catalogued

    problem, trace = pk.problem, pk.instance.trace
    key = np.asarray(trace[name], dtype=float)
    allow = np.broadcast_to(np.asarray(pk.allowance(name), dtype=float), key.shape)
    out: list[MistakeValue] = []
    with np.errstate(all="ignore"):
        for mistake in catalogued(problem, trace, name):
            wrong = np.asarray(mistake.value, dtype=float)
            if not np.all(np.isfinite(wrong)) or matches(wrong, key, allow):
                continue
            typed = _in_shape_of(key, wrong, shaped_allowance(allow, wrong.shape))
            if typed is None:
                continue
            value, margin = typed
            if any(m.message == mistake.message and np.array_equal(m.value, value) for m in out):
                continue
            out.append(MistakeValue(mistake.message, value, margin))
    return out


def _in_shape_of(key: np.ndarray, wrong: np.ndarray, margin: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """A mistake's value and margin as an answer in the key's shape would be compared with them
    (compare.matches: the same shape, or vectors of one size in any orientation), or None."""
    if wrong.shape == key.shape:
        return wrong, np.broadcast_to(margin, key.shape).copy()
    vector = (lambda a: a.ndim <= 1 or min(a.shape) == 1)  # noqa: E731
    if wrong.size != key.size or not (vector(wrong) and vector(key)):
        return None
    flat = margin.reshape(-1) if margin.size == wrong.size else np.full(wrong.size, float(np.max(margin)))
    return wrong.reshape(key.shape), flat.reshape(key.shape)

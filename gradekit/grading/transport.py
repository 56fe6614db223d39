"""Reports in a compact form for the trip from a grading worker to the process that writes them.

A batch of 10,000 submissions sends some 700,000 quantity results between processes. As frozen
dataclasses, one object each, they would take several times the memory and pickling time of
plain columns: so a worker packs each problem's quantities by column (names, statuses and rules
as tuples of shared strings, the numbers in two arrays) and `unpack` makes the public values
(gradekit.grading.results) again on arrival. Nothing else sees this form.

A problem answered right throughout, the common case, unpacks to the results every such
submission shares (results.all_right): no new objects per quantity.
"""

from __future__ import annotations

from array import array
from typing import Sequence

from gradekit.grading.results import ProblemResult, QuantityResult, Report, all_right

# A problem as (id, title, notes, columns); its quantities' columns are (names, statuses, rules,
# [points, possible, follow] and [wrong, entries] per quantity, and for problems with any:
# (mistake_ids, mistake, detail) per quantity).
PackedProblem = tuple
PackedReport = tuple
Columns = tuple

_NO_TEXT = ((), "", "")
_SHARED_MAX = 512  # columns of all-right problems kept, by the results tuple they pack

# The columns of a problem right throughout, by id() of its (shared) results tuple: pickle writes
# an object it meets twice in one chunk only once, so a chunk of mostly right answers travels as
# a few columns and many references, and unpacks each of them once. The tuple is kept beside its
# columns so that its id() cannot be reused while the entry lives.
_shared: dict[int, tuple[tuple[QuantityResult, ...], Columns]] = {}


def _columns(qs: tuple[QuantityResult, ...]) -> Columns:
    numbers = array("d", [x for q in qs for x in (q.points, q.possible, q.follow)])
    counts = array("l", [n for q in qs for n in (q.wrong, q.entries)])
    texts = tuple((q.mistake_ids, q.mistake, q.detail) for q in qs)
    return (tuple(q.name for q in qs), tuple(q.status for q in qs), tuple(q.rule for q in qs), numbers, counts,
            texts if any(t != _NO_TEXT for t in texts) else ())


def pack_problem(p: ProblemResult) -> PackedProblem:
    qs = p.quantities
    shared = _shared.get(id(qs))
    if shared is not None and shared[0] is qs:
        return p.id, p.title, p.notes, shared[1]
    columns = _columns(qs)
    if not columns[5] and columns[2].count("right") == len(qs):
        if len(_shared) >= _SHARED_MAX:
            _shared.clear()
        _shared[id(qs)] = (qs, columns)
    return p.id, p.title, p.notes, columns


def _quantities(columns: Columns) -> tuple[QuantityResult, ...]:
    names, statuses, rules, numbers, counts, texts = columns
    if not texts and rules.count("right") == len(rules):
        return all_right(names, tuple(numbers[1::3]), tuple(counts[1::2]))
    texts = texts or (_NO_TEXT,) * len(names)
    return tuple(
        QuantityResult(name, status, numbers[3 * i], numbers[3 * i + 1], rule, numbers[3 * i + 2],
                       counts[2 * i], counts[2 * i + 1], *texts[i])
        for i, (name, status, rule) in enumerate(zip(names, statuses, rules)))


def unpack_problem(packed: PackedProblem, seen: dict[int, tuple[QuantityResult, ...]] | None = None) -> ProblemResult:
    """A problem's result; `seen` remembers the columns already unpacked in this chunk (by id: they
    are alive as long as the chunk is)."""
    pid, title, notes, columns = packed
    quantities = seen.get(id(columns)) if seen is not None else None
    if quantities is None:
        quantities = _quantities(columns)
        if seen is not None:
            seen[id(columns)] = quantities
    return ProblemResult(pid, title, quantities, notes)


def pack(reports: Sequence[Report]) -> list[PackedReport]:
    return [(r.source, r.student_id, r.student_name, r.sheet, r.variant, tuple(map(pack_problem, r.problems)),
             r.notes, r.error, r.time, r.time_from) for r in reports]


def unpack(packed: Sequence[PackedReport]) -> list[Report]:
    seen: dict[int, tuple[QuantityResult, ...]] = {}
    return [Report(source, student_id, name, sheet, variant, tuple(unpack_problem(p, seen) for p in problems), notes,
                   error, time, time_from)
            for source, student_id, name, sheet, variant, problems, notes, error, time, time_from in packed]

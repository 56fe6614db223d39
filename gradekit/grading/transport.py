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

# (name, status, rule) columns, then [points, possible, follow] and [wrong, entries] per quantity, and
# for problems with any: (mistake_ids, mistake, detail) per quantity.
PackedProblem = tuple
PackedReport = tuple

_NO_TEXT = ((), "", "")


def pack_problem(p: ProblemResult) -> PackedProblem:
    qs = p.quantities
    numbers = array("d", [x for q in qs for x in (q.points, q.possible, q.follow)])
    counts = array("l", [n for q in qs for n in (q.wrong, q.entries)])
    texts = tuple((q.mistake_ids, q.mistake, q.detail) for q in qs)
    return (p.id, p.title, p.notes, tuple(q.name for q in qs), tuple(q.status for q in qs),
            tuple(q.rule for q in qs), numbers, counts, texts if any(t != _NO_TEXT for t in texts) else ())


def unpack_problem(packed: PackedProblem) -> ProblemResult:
    pid, title, notes, names, statuses, rules, numbers, counts, texts = packed
    if not texts and rules.count("right") == len(rules):
        return ProblemResult(pid, title, all_right(names, tuple(numbers[1::3]), tuple(counts[1::2])), notes)
    texts = texts or (_NO_TEXT,) * len(names)
    quantities = tuple(
        QuantityResult(name, status, numbers[3 * i], numbers[3 * i + 1], rule, numbers[3 * i + 2],
                       counts[2 * i], counts[2 * i + 1], *texts[i])
        for i, (name, status, rule) in enumerate(zip(names, statuses, rules)))
    return ProblemResult(pid, title, quantities, notes)


def pack(reports: Sequence[Report]) -> list[PackedReport]:
    return [(r.source, r.student_id, r.student_name, r.sheet, r.variant, tuple(map(pack_problem, r.problems)),
             r.notes, r.error, r.time, r.time_from) for r in reports]


def unpack(packed: Sequence[PackedReport]) -> list[Report]:
    return [Report(source, student_id, name, sheet, variant, tuple(map(unpack_problem, problems)), notes, error,
                   time, time_from)
            for source, student_id, name, sheet, variant, problems, notes, error, time, time_from in packed]

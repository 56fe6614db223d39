"""Audit of the grading policy: can a grade be bought without work, and is earned credit given?

    python benchmarks/audit_grading.py                # 200 seeds of every built-in problem
    python benchmarks/audit_grading.py --seeds 20     # a quicker look

It builds, for every built-in problem and for the default sheet, the submissions a strict
instructor would try (README: "How answers are graded"), grades them with gradekit's own
grader and prints the figures the policy promises:

- no work, no credit: constants (0, 1e-9, 1, -1, 1e300), random numbers, the given values
  copied into the answers, the key's shapes filled with one repeated number, only the last
  quantity answered: each at most 5% of the points;
- copying: a classmate's complete, correct answers handed in under one's own id (per-student
  secret variants): at most 10%;
- deserved follow-through: for every catalogued mistake and for a slip in one entry of an
  early quantity, every later quantity that is right given the student's own earlier values
  gets follow-through credit (at least 99% of such cases);
- tolerance: answers rounded to the sheet's decimals and carried forward rounded always
  pass; a catalogued mistake is graded correct where it happens in at most 1% of seeds;
- every catalogued mistake is named.

Figures, not assertions: tests/test_grading_policy.py asserts the limits on a smaller sample.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gradekit.engine.layout import from_rows, to_rows  # noqa: E402
from gradekit.engine.trace import evaluate_in_layout  # noqa: E402
from gradekit.ops.families import network_for  # noqa: E402
from gradekit.ops.mistakes import Values  # noqa: E402
from gradekit.ops.mistakes import mistakes as catalogue  # noqa: E402
from gradekit.grading.diagnose import catalogued  # noqa: E402
from gradekit.grading.grade import Report, grade_submission  # noqa: E402
from gradekit.keys.key import AnswerKey, ProblemKey, key_document, make_key, template_document  # noqa: E402
from gradekit.sampling.sampler import fully_pinned  # noqa: E402
from gradekit.spec.reader import DEFAULT_SHEET, builtin_problem_paths, resolve  # noqa: E402
from gradekit.grading.submission import from_document  # noqa: E402
from gradekit.sampling.variants import Variant  # noqa: E402

SECRET = b"audit-course-secret-0123456789abcdef"

# --- submissions -------------------------------------------------------------------------------


def _doc(key: AnswerKey, answers: dict[str, dict[str, object]]) -> dict:
    doc = template_document(key)
    for pid, quantities in answers.items():
        doc["answers"][pid].update(quantities)
    return doc


def grade_doc(key: AnswerKey, doc: dict) -> Report:
    import json

    return grade_submission(from_document(json.loads(json.dumps(doc)), "audit.json"), key)


def share(report: Report) -> float:
    return report.points / report.possible if report.possible else 0.0


def key_values(key: AnswerKey) -> dict[str, dict[str, list]]:
    return {p["id"]: {q: e["value"] for q, e in p["quantities"].items()} for p in key_document(key)["problems"]}


def _fill(pk: ProblemKey, make: Callable[[str, tuple[int, ...]], np.ndarray]) -> dict[str, object]:
    trace = pk.instance.trace
    return {q: np.asarray(make(q, np.shape(trace[q])), dtype=float).tolist() for q in pk.problem.asked}


def gaming(key: AnswerKey, seed: int) -> dict[str, dict]:
    """Submissions that involve no work on the student's own numbers, by label."""
    rng = np.random.default_rng(seed)
    out: dict[str, dict] = {}
    for c in (0.0, 1e-9, 1.0, -1.0, 1e300):
        out[f"constant {c:g}"] = _doc(key, {pk.problem.id: _fill(pk, lambda q, s: np.full(s, c)) for pk in key.problems})
    out["random normal"] = _doc(key, {pk.problem.id: _fill(pk, lambda q, s: rng.standard_normal(s))
                                      for pk in key.problems})

    def key_scaled_random(pk: ProblemKey) -> Callable:
        def make(q: str, s: tuple[int, ...]) -> np.ndarray:
            scale = float(np.max(np.abs(pk.instance.trace[q]))) or 1.0
            return rng.uniform(-scale, scale, s)
        return make

    out["random, the key's magnitude"] = _doc(key, {pk.problem.id: _fill(pk, key_scaled_random(pk))
                                                   for pk in key.problems})

    out["one repeated number per quantity"] = _doc(key, {pk.problem.id: _fill(
        pk, lambda q, s: np.full(s, round(float(rng.uniform(-1, 1)), 4))) for pk in key.problems})

    def copied(pk: ProblemKey) -> Callable:
        given = [np.asarray(v, dtype=float) for v in pk.instance.given.values()]

        def make(q: str, s: tuple[int, ...]) -> np.ndarray:
            same = [g for g in given if g.shape == s]
            source = same[0] if same else max(given, key=np.size)
            return np.resize(source.ravel(), s)
        return make

    out["given values copied"] = _doc(key, {pk.problem.id: _fill(pk, copied(pk)) for pk in key.problems})

    def copied_weights(pk: ProblemKey) -> dict[str, object]:
        """W_new := W (the given weights), and tiny numbers everywhere else."""
        trace = pk.instance.trace
        return {q: (np.asarray(trace[q[:-4]]) if q.endswith("_new") and q[:-4] in trace and q != "loss_new"
                    else np.full(np.shape(trace[q]), 1e-9)).tolist() for q in pk.problem.asked}

    out["W_new := W, tiny elsewhere"] = _doc(key, {pk.problem.id: copied_weights(pk) for pk in key.problems})

    def last_only(pk: ProblemKey) -> dict[str, object]:
        last = pk.problem.asked[-1]
        return {last: (np.asarray(pk.instance.trace[last], dtype=float) * 1.37 + 0.1).tolist()}

    out["only the last quantity"] = _doc(key, {pk.problem.id: last_only(pk) for pk in key.problems})
    return out


def copied_from_classmate(sheet, seed: int) -> tuple[AnswerKey, dict]:
    """A classmate's complete, correct answers under one's own id (per-student secret variants)."""
    mine = make_key(sheet, Variant(student=f"student-{seed}"), SECRET)
    theirs = make_key(sheet, Variant(student=f"classmate-{seed}"), SECRET)
    doc = _doc(mine, key_values(theirs))
    return mine, doc


# --- students who work, with one mistake ---------------------------------------------------------


def worked(pk: ProblemKey, change: dict[str, Callable[[dict], np.ndarray]], rounding: bool = True) -> dict[str, np.ndarray]:
    """Every step redone in order from the student's own values (rounded to the sheet's decimals
    when `rounding`), with some steps replaced by the student's wrong value."""
    trace, decimals = pk.instance.trace, pk.problem.decimals
    values: dict[str, np.ndarray] = {}
    for step in trace.steps:
        if step.name in change:
            v = np.asarray(change[step.name](values), dtype=float)
        elif step.compute is None:
            values[step.name] = np.asarray(trace[step.name])
            continue
        else:
            with np.errstate(all="ignore"):
                v = np.asarray(evaluate_in_layout(step, values, trace.layout), dtype=float)
        values[step.name] = v if (step.name == "pred" or not rounding) else np.round(v, decimals)
    return values


def answers_of(pk: ProblemKey, values: dict[str, np.ndarray]) -> dict[str, object]:
    return {q: np.asarray(values[q]).tolist() for q in pk.problem.asked}


def _mistakes(pk: ProblemKey, name: str) -> Iterator:
    with np.errstate(all="ignore"):
        yield from catalogued(pk.problem, pk.instance.trace, name)


@dataclass
class Tally:
    """Counts per (problem, what)."""

    counts: dict[tuple[str, str], Counter] = field(default_factory=lambda: defaultdict(Counter))

    def add(self, problem: str, what: str, outcome: str, n: int = 1) -> None:
        self.counts[(problem, what)][outcome] += n


def _statuses(report: Report, pid: str) -> dict:
    return {q.name: q for p in report.problems if p.id == pid for q in p.quantities}


def _key_differs(pk: ProblemKey, name: str, value: np.ndarray) -> bool:
    key = np.asarray(pk.instance.trace[name], dtype=float)
    if np.shape(value) != key.shape:
        return True
    return not bool(np.all(np.abs(np.asarray(value, dtype=float) - key) <= pk.allowance(name)))


def audit_chain(key: AnswerKey, pk: ProblemKey, change: dict, label: str, where: str, tally: Tally,
                expect_named: str | None = None) -> None:
    """Grade one student who made `change` and carried it forward; tally what the policy promises
    (`expect_named`: the id of the catalogued mistake the change is)."""
    pid = pk.problem.id
    values = worked(pk, change)
    if not np.all([np.all(np.isfinite(values[q])) for q in pk.problem.asked]):
        return
    if not _key_differs(pk, where, values[where]):
        tally.add(pid, "mistake graded correct" if expect_named else "slip graded correct", "yes")
        if expect_named:
            tally.add(pid, f"graded correct: {label}", "yes")
        return
    report = grade_doc(key, _doc(key, {pid: answers_of(pk, values)}))
    s = _statuses(report, pid)
    if expect_named is not None:
        tally.add(pid, "mistake graded correct", "no")
        tally.add(pid, f"graded correct: {label}", "no")
        named = expect_named in s[where].mistake_ids
        tally.add(pid, "mistake named", "yes" if named else "no")
        if not named:
            tally.add(pid, f"unnamed: {label}", s[where].feedback[:90])
    later = pk.problem.asked[pk.problem.asked.index(where) + 1:]
    for q in later:
        if s[q].status == "correct":
            continue
        # Every later quantity was computed from the student's own earlier values.
        kind = "mistake" if expect_named else "slip"
        ok = s[q].status == "follow-through"
        tally.add(pid, f"follow-through after a {kind}", "given" if ok else "denied")
        if not ok:
            tally.add(pid, f"denied: {label} -> {q}", s[q].feedback[:90])


def audit_mistakes(key: AnswerKey, tally: Tally) -> None:
    for pk in key.problems:
        for name in pk.problem.asked:
            if name == "pred":
                continue
            for mistake in _mistakes(pk, name):
                value = np.asarray(mistake.value, dtype=float)
                if value.shape != np.shape(pk.instance.trace[name]) or not np.all(np.isfinite(value)):
                    continue
                rounded = np.round(value, pk.problem.decimals)
                if np.array_equal(rounded, np.round(np.asarray(pk.instance.trace[name], dtype=float), pk.problem.decimals)):
                    continue  # the mistake gives the right value at the sheet's decimals: no mistake here
                audit_chain(key, pk, {name: lambda v, value=value: value}, f"{name}: {mistake.message[:50]}",
                            name, tally, expect_named=mistake.id)


def audit_slips(key: AnswerKey, tally: Tally, seed: int) -> None:
    rng = np.random.default_rng(seed)
    for pk in key.problems:
        early = [q for q in pk.problem.asked[: max(1, len(pk.problem.asked) // 3)] if q != "pred"]
        for name in early:
            audit_chain(key, pk, {name: _slip(pk, name, rng)}, f"slip in {name}", name, tally)


def _formulation(pk: ProblemKey, name: str, form) -> Callable[[dict], np.ndarray]:  # noqa: ANN001
    trace = pk.instance.trace
    way = form.as_step(trace.step(name))
    return lambda values: evaluate_in_layout(way, values, trace.layout)


def _own_mistake(pk: ProblemKey, name: str, mistake_id: str) -> Callable[[dict], np.ndarray | None]:
    """A change: `name` computed with the catalogued mistake `mistake_id` on the student's own values."""
    trace = pk.instance.trace

    def change(values: dict) -> np.ndarray:
        rows = {n: to_rows(np.asarray(values.get(n, trace[n]), dtype=float), trace.layout) for n in trace.names}
        v = Values(network_for(pk.problem.arch), rows, {s.name: s for s in trace.steps})
        with np.errstate(all="ignore"):
            wrong = next((m.value for m in catalogue(v, name) if m.id == mistake_id), None)
        return from_rows(np.asarray(wrong, dtype=float), trace.layout) if wrong is not None else np.full(
            np.shape(trace[name]), np.nan)
    return change


def audit_formulations(key: AnswerKey, tally: Tally, seed: int) -> None:
    """Students who work a step another valid way, after one slip or one catalogued mistake in an
    earlier quantity: every later quantity right on their own values earns follow-through."""
    rng = np.random.default_rng(seed)
    for pk in key.problems:
        trace, asked = pk.instance.trace, pk.problem.asked
        for name in asked:
            step = trace.step(name)
            for form in (step.op.formulations(step) if step.op is not None else ()):
                way = _formulation(pk, name, form)
                for early in asked[:asked.index(name)]:
                    if early == "pred":
                        continue
                    before = {"slip": _slip(pk, early, rng)}
                    mistake = next((m for m in _mistakes(pk, early) if np.shape(m.value) == np.shape(trace[early])
                                    and np.all(np.isfinite(m.value))), None)
                    if mistake is not None:
                        before["mistake"] = lambda v, value=np.asarray(mistake.value, dtype=float): value
                    for kind, change in before.items():
                        audit_way(key, pk, {early: change, name: way}, f"{step.op.kind}:{form.id}", kind, early, tally)


def audit_way(key: AnswerKey, pk: ProblemKey, change: dict, form: str, kind: str, where: str, tally: Tally) -> None:
    pid = pk.problem.id
    values = worked(pk, change)
    if not np.all([np.all(np.isfinite(values[q])) for q in pk.problem.asked]) or not _key_differs(pk, where, values[where]):
        return
    s = _statuses(grade_doc(key, _doc(key, {pid: answers_of(pk, values)})), pid)
    for q in pk.problem.asked[pk.problem.asked.index(where) + 1:]:
        if s[q].status != "correct":
            ok = s[q].status == "follow-through"
            tally.add(pid, f"formulation {form} after a {kind}", "given" if ok else "denied")
            if not ok:
                tally.add(pid, f"denied: {form} after a {kind} in {where} -> {q}", s[q].feedback[:90])


def audit_own_mistakes(key: AnswerKey, tally: Tally) -> None:
    """Students who make one catalogued mistake on their own rounded values: where the result is
    visibly off (more than a unit in the last decimal) both the key and the step done right on the
    same values, it must not be graded correct. (Off the key alone is not enough: rounding carried
    forward moves a right answer too, and a mistake that changes the value by less than half a unit
    cannot be seen on any values.)"""
    for pk in key.problems:
        unit = 10.0 ** -pk.problem.decimals
        right = worked(pk, {})
        for name in pk.problem.asked:
            if name == "pred":
                continue
            shape = np.shape(pk.instance.trace[name])
            for mistake_id in dict.fromkeys(m.id for m in _mistakes(pk, name) if np.shape(m.value) == shape):
                try:
                    values = worked(pk, {name: _own_mistake(pk, name, mistake_id)})
                except ValueError:  # on the student's values the mistake changed the shape
                    continue
                answer = np.asarray(values[name], dtype=float)
                if answer.shape != np.shape(pk.instance.trace[name]) or not np.all(np.isfinite(answer)):
                    continue
                off = lambda other: np.any(np.abs(answer - np.asarray(other, dtype=float)) > unit * (1 + 1e-9))  # noqa: E731
                if not off(pk.instance.trace[name]) or not off(right[name]):
                    continue  # not visibly off: no one can tell it from the key, or from the step done right
                passed = not _key_differs(pk, name, answer)
                tally.add(pk.problem.id, "visibly-off mistake graded correct", "yes" if passed else "no")
                tally.add(pk.problem.id, f"visibly off: {name}: {mistake_id}", "yes" if passed else "no")


def _slip(pk: ProblemKey, name: str, rng: np.random.Generator) -> Callable[[dict], np.ndarray]:
    trace = pk.instance.trace

    def slip(values: dict) -> np.ndarray:
        # A contiguous copy: a columns-layout value is a transposed view, and reshaping that
        # would copy, so the slip would land in the copy, not in the answer.
        v = np.ascontiguousarray(evaluate_in_layout(trace.step(name), values, trace.layout), dtype=float)
        flat = v.reshape(-1)
        i = int(rng.integers(flat.size))
        flat[i] = flat[i] + (0.1 if abs(flat[i]) < 1 else 0.1 * abs(flat[i])) * rng.choice([-1, 1])
        return v
    return slip


def audit_rounding(key: AnswerKey, tally: Tally) -> None:
    for pk in key.problems:
        report = grade_doc(key, _doc(key, {pk.problem.id: answers_of(pk, worked(pk, {}))}))
        s = _statuses(report, pk.problem.id)
        wrong = [q for q in pk.problem.asked if s[q].status != "correct"]
        tally.add(pk.problem.id, "rounded answers marked wrong", "yes" if wrong else "no")
        for q in wrong:
            tally.add(pk.problem.id, f"rounding false negative: {q}", "x")


# --- the run -------------------------------------------------------------------------------------


def sheets() -> list[str]:
    return [DEFAULT_SHEET, *builtin_problem_paths()]


def run(seeds: int, quiet: bool = False) -> dict[str, dict]:
    """Every figure of the audit, by sheet or problem id."""
    results: dict[str, dict] = {}
    for ref in sheets():
        sheet = resolve(ref)
        gaming_max: dict[str, float] = defaultdict(float)
        copy_scores: list[float] = []
        # A pinned textbook problem has one variant: every student has the same numbers.
        pinned = all(fully_pinned(e.problem) for e in sheet.entries)
        tally = Tally()
        for seed in range(seeds):
            key = make_key(sheet, Variant(seed=seed))
            for label, doc in gaming(key, seed).items():
                gaming_max[label] = max(gaming_max[label], share(grade_doc(key, doc)))
            if not pinned:
                mine, doc = copied_from_classmate(sheet, seed)
                copy_scores.append(share(grade_doc(mine, doc)))
            if ref != DEFAULT_SHEET:  # the sheet's problems are audited one by one below
                audit_mistakes(key, tally)
                audit_slips(key, tally, seed)
                audit_rounding(key, tally)
                audit_formulations(key, tally, seed)
                audit_own_mistakes(key, tally)
        results[ref] = {"gaming": dict(gaming_max), "copy_max": max(copy_scores, default=None),
                        "copy_mean": float(np.mean(copy_scores)) if copy_scores else None, "tally": tally}
        if not quiet:
            print_result(ref, results[ref])
    return results


def _rate(counter: Counter, good: str) -> str:
    total = sum(counter.values())
    return f"{counter[good]}/{total}" + (f" ({counter[good] / total:.1%})" if total else "")


def print_result(ref: str, r: dict) -> None:
    worst = max(r["gaming"].items(), key=lambda kv: kv[1])
    print(f"\n== {ref}")
    print(f"  gaming, worst of {len(r['gaming'])} kinds:   {worst[1]:6.1%}  ({worst[0]})   limit 5%")
    for label, value in sorted(r["gaming"].items()):
        if value > 0.05:
            print(f"    over the limit: {label}: {value:.1%}")
    if r["copy_max"] is None:
        print("  copying a classmate:             n/a (a pinned problem: one variant for everyone)")
    else:
        print(f"  copying a classmate:             {r['copy_max']:6.1%} max, {r['copy_mean']:.1%} mean   limit 10%")
    tally: Tally = r["tally"]
    merged: dict[str, Counter] = defaultdict(Counter)
    details: dict[str, Counter] = defaultdict(Counter)
    per_mistake: dict[str, Counter] = defaultdict(Counter)
    visibly: dict[str, Counter] = defaultdict(Counter)
    for (pid, what), c in tally.counts.items():
        if what.startswith(("denied:", "unnamed:", "rounding false negative:")):
            details[what] += c
        elif what.startswith("graded correct: "):
            per_mistake[what] += c
        elif what.startswith("visibly off: "):
            visibly[what] += c
        else:
            merged[what] += c
    if merged:
        print(f"  follow-through after a mistake:  {_rate(merged['follow-through after a mistake'], 'given')}   limit >= 99%")
        print(f"  follow-through after a slip:     {_rate(merged['follow-through after a slip'], 'given')}   limit >= 99%")
        print(f"  rounded answers marked wrong:    {_rate(merged['rounded answers marked wrong'], 'yes')} seeds   limit 0")
        print(f"  mistakes graded correct:         {_rate(merged['mistake graded correct'], 'yes')}   limit 1% per mistake")
        worst = max(per_mistake.items(), key=lambda kv: kv[1]["yes"] / sum(kv[1].values()), default=None)
        if worst is not None and worst[1]["yes"]:
            print(f"    the most often, per mistake:   {_rate(worst[1], 'yes')} of seeds: {worst[0][16:]}")
        print(f"  mistakes named:                  {_rate(merged['mistake named'], 'yes')}")
        print(f"  a mistake on one's own values, visibly off, graded correct: "
              f"{_rate(merged['visibly-off mistake graded correct'], 'yes')}   limit 1% per mistake")
        worst = max(visibly.items(), key=lambda kv: kv[1]["yes"] / sum(kv[1].values()), default=None)
        if worst is not None and worst[1]["yes"]:
            print(f"    the most often, per mistake:   {_rate(worst[1], 'yes')}: {worst[0][13:]}")
        for what in sorted(w for w in merged if w.startswith("formulation ")):
            print(f"  {what + ':':<48} {_rate(merged[what], 'given')}   limit >= 99%")
        for what, c in sorted(details.items(), key=lambda kv: -sum(kv[1].values()))[:12]:
            print(f"    {what}: {sum(c.values())}x, e.g. {c.most_common(1)[0][0]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=200, help="seeds per problem (default 200)")
    parser.add_argument("--only", action="append", help="audit only this sheet or problem id (repeatable)")
    args = parser.parse_args()
    global sheets
    if args.only:
        chosen = list(args.only)
        sheets = lambda: chosen  # noqa: E731
    run(args.seeds)


if __name__ == "__main__":
    main()

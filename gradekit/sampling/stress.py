"""`gradekit stress`: the report on a pool of variants that an author reads before publishing.

Like R/exams' stresstest_exercise, it samples many variants of each problem (the public seeds
0..N-1 of the sheet, so `gradekit show REF --seed N` shows any of them) and reports how many
variants the spec can make, how often each quality rule rejected a draw, per asked quantity the
range of its entries and the share that print as 0, the class balance of the labels, the
accepted variants that still break a rule (the rules a spec switches off, or a fully pinned
problem's own quirks), and the worst seeds. A pool in which a rule that is on is broken fails.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

from gradekit.model.quality import RULES
from gradekit.ops.families import network_for
from gradekit.sampling.sampler import Instance, fully_pinned, possible_draws, rule_violations, sample_many, stack_traces
from gradekit.model.problem import Problem, Sheet
from gradekit.sampling.variants import Variant, problem_seed

CHUNK = 2000  # seeds sampled as one stack: fast, and a pool's memory stays bounded
WORST = 5


@dataclass(frozen=True)
class QuantityStats:
    name: str
    low: float
    high: float
    zero_share: float  # share of all entries (over the pool) that print as 0 at the sheet's decimals
    always_zero: bool  # 0 in every entry of every variant
    concept: bool


@dataclass(frozen=True)
class ClassBalance:
    shares: tuple[float, ...]  # share of all labels, per class
    classes_per_variant: Mapping[int, int]  # how many variants have labels of k distinct classes


@dataclass(frozen=True)
class RuleStats:
    name: str
    on: bool
    rejected: int  # draws rejected by this rule first
    broken: tuple[int, ...]  # variant seeds of the pool that break it


@dataclass(frozen=True)
class WorstSeed:
    seed: int
    attempts: int
    zero_entries: int  # asked entries that print as 0
    rules: tuple[str, ...]  # rules the variant breaks


@dataclass(frozen=True)
class ProblemStress:
    problem: Problem
    count: int
    seconds: float
    draws: int
    possible: int
    distinct: int
    rules: tuple[RuleStats, ...]
    quantities: tuple[QuantityStats, ...]
    classes: ClassBalance | None
    worst: tuple[WorstSeed, ...]

    @property
    def structural_zeros(self) -> tuple[str, ...]:
        """Asked quantities (not concept questions) that were 0 in every variant of the pool."""
        return tuple(q.name for q in self.quantities if q.always_zero and not q.concept)

    @property
    def failures(self) -> tuple[str, ...]:
        """The rules that are on and broken in the pool."""
        broken = [r.name for r in self.rules if r.on and r.broken]
        if self.structural_zeros and self.problem.quality.on("structural_zero") and "structural_zero" not in broken:
            broken.append("structural_zero")
        return tuple(broken)


def stress_problem(sheet_id: str, problem: Problem, count: int) -> ProblemStress:
    """Sample the variants of seeds 0..count-1 of `sheet_id` for one problem and measure the pool."""
    seeds = [problem_seed(sheet_id, Variant(seed=s), problem.id) for s in range(count)]
    rejected: Counter[str] = Counter()
    seconds = 0.0
    chunks: list[dict[str, np.ndarray]] = []
    attempts: list[int] = []
    distinct: set[bytes] = set()
    for i in range(0, count, CHUNK):
        start = time.perf_counter()
        instances = sample_many(problem, seeds[i:i + CHUNK], rejected)
        seconds += time.perf_counter() - start
        # The pool is kept as stacked values only: instances hold views of every candidate drawn.
        chunks.append(stack_traces(instances))
        attempts += [inst.attempts for inst in instances]
        distinct.update(_given_bytes(inst) for inst in instances)
    values = {n: np.concatenate([c[n] for c in chunks]) for n in chunks[0]}
    broken = rule_violations(problem, values)
    smallest = 0.5 * 10.0**-problem.decimals
    quantities = tuple(_quantity(problem, q, values[q], smallest) for q in problem.asked)
    rules = tuple(RuleStats(r.name, problem.quality.on(r.name), rejected[r.name],
                            tuple(np.flatnonzero(broken[r.name]).tolist()))
                  for r in RULES if r.name in broken)
    zeros = _zero_entries(problem, values, smallest)
    return ProblemStress(problem, count, seconds, sum(attempts), possible_draws(problem), len(distinct), rules,
                         quantities, _classes(problem, values), _worst(problem, np.array(attempts), broken, zeros))


def stress_sheet(sheet: Sheet, count: int) -> list[ProblemStress]:
    return [stress_problem(sheet.id, entry.problem, count) for entry in sheet.entries]


def _quantity(problem: Problem, name: str, stacked: np.ndarray, smallest: float) -> QuantityStats:
    entries = stacked.reshape(len(stacked), -1)
    prints_zero = np.abs(entries) < smallest if name != "pred" else np.zeros(entries.shape, dtype=bool)
    always = name != "pred" and bool((entries == 0).all())
    return QuantityStats(name, float(entries.min()), float(entries.max()), float(prints_zero.mean()), always,
                         name in problem.concept_questions)


def _zero_entries(problem: Problem, values: Mapping[str, np.ndarray], smallest: float) -> np.ndarray:
    """Per variant, how many asked entries (not pred, not concept questions) print as 0."""
    numeric = [q for q in problem.asked if q != "pred" and q not in problem.concept_questions]
    count = len(next(iter(values.values())))
    if not numeric:
        return np.zeros(count, dtype=int)
    return np.sum([(np.abs(values[q].reshape(count, -1)) < smallest).sum(axis=1) for q in numeric], axis=0)


def _classes(problem: Problem, values: Mapping[str, np.ndarray]) -> ClassBalance | None:
    given = next((g for g in network_for(problem.arch).given if g.labels), None)
    if given is None:
        return None
    labels = values[given.name].astype(int)  # (B, N)
    classes = given.labels
    shares = tuple(float((labels == k).mean()) for k in range(classes))
    distinct = (np.stack([(labels == k).any(axis=1) for k in range(classes)])).sum(axis=0)
    return ClassBalance(shares, dict(sorted(Counter(distinct.tolist()).items())))


def _given_bytes(instance: Instance) -> bytes:
    return b"".join(np.ascontiguousarray(v).tobytes() for v in instance.given.values())


def _worst(problem: Problem, attempts: np.ndarray, broken: Mapping[str, np.ndarray],
           zeros: np.ndarray) -> tuple[WorstSeed, ...]:
    """The variants an author should look at first: those that break a rule (switched on, then
    off), then those with the most asked entries printing as 0, then the hardest to draw."""
    none = np.zeros(len(attempts), dtype=int)
    on = sum((b.astype(int) for r, b in broken.items() if problem.quality.on(r)), none)
    off = sum((b.astype(int) for r, b in broken.items() if not problem.quality.on(r)), none)
    order = np.lexsort((attempts, zeros, off, on))[::-1][:WORST]  # lexsort sorts by the last key first
    return tuple(WorstSeed(int(i), int(attempts[i]), int(zeros[i]), tuple(r for r, b in broken.items() if b[i]))
                 for i in order.tolist())


# --- the report -----------------------------------------------------------------------------------


def _share(x: float) -> str:
    return "0%" if x == 0 else f"{100 * x:.1f}%" if x >= 0.001 else "<0.1%"


def _big(n: int) -> str:
    """A count as people read it: 1,234,567, or 4.3e21 (exact integers; no float can overflow)."""
    if n < 10**7:
        return f"{n:,}"
    digits = str(n)
    return f"{digits[0]}.{digits[1]}e{len(digits) - 1}"


def _seeds(seeds: Sequence[int], limit: int = 5) -> str:
    shown = ", ".join(str(s) for s in seeds[:limit])
    return shown + (f", ... ({len(seeds)} in all)" if len(seeds) > limit else "")


def report(ref: str, result: ProblemStress) -> str:
    p, n = result.problem, result.count
    lines = [f"== {p.id}: {n:,} variants (seeds 0-{n - 1}: `gradekit show {ref} --seed N`), sampled in "
             f"{result.seconds:.2f} s"]
    if fully_pinned(p):
        lines.append("fully pinned: every seed gives the same variant; the rules are reported, not applied")
    accepted = n / result.draws
    lines.append(f"variants: {_big(result.possible)} possible draws of the given values, about "
                 f"{_big(result.possible * n // result.draws)} of them pass the rules; {result.distinct:,} distinct "
                 f"in this pool")
    lines.append(f"draws: {result.draws:,} ({result.draws / n:.2f} per variant); rejected "
                 f"{result.draws - n:,} ({_share(1 - accepted)} of draws)")
    lines.append(f"  {'rule':18s} {'on':3s} {'rejected draws':>16s}  accepted variants breaking it")
    for r in result.rules:
        lines.append(f"  {r.name:18s} {'yes' if r.on else 'off':3s} {r.rejected:>8,} {_share(r.rejected / result.draws):>7s}"
                     f"  {len(r.broken):,}" + (f" (seeds {_seeds(r.broken)})" if r.broken else ""))
    structural = "yes" if p.quality.on("structural_zero") else "off"
    lines.append(f"  {'structural_zero':18s} {structural:3s} {'(spec)':>16s}  "
                 + (", ".join(result.structural_zeros) + " 0 in every variant" if result.structural_zeros else "0"))
    lines.append(f"asked quantities: range of the entries, and the share printing as 0 at {p.decimals} decimals")
    for q in result.quantities:
        note = "  (concept question: 0 in every variant)" if q.concept and q.always_zero else \
            "  (concept question)" if q.concept else "  (0 in every variant)" if q.always_zero else ""
        lines.append(f"  {q.name:10s} [{q.low:9.4f}, {q.high:9.4f}]  {_share(q.zero_share):>6s}{note}")
    if result.classes is not None:
        c = result.classes
        shares = ", ".join(f"{k}: {_share(s)}" for k, s in enumerate(c.shares))
        per = ", ".join(f"{k} class{'es' if k > 1 else ''} in {_share(v / n)}" for k, v in c.classes_per_variant.items())
        lines.append(f"classes: labels {shares}; variants with {per}")
    lines.append("worst seeds (rules broken first, then asked entries printing as 0, then draws needed):")
    for w in result.worst:
        rules = f", breaks {', '.join(w.rules)}" if w.rules else ""
        lines.append(f"  seed {w.seed}: {w.zero_entries} entries print as 0, {w.attempts} draws{rules}")
    failures = result.failures
    broken_count = len({s for r in result.rules if r.on for s in r.broken})
    if "structural_zero" in failures:
        broken_count = n  # a quantity that is 0 in every variant spoils every one of them
    verdict = (f"FAIL: {broken_count:,} of {n:,} variants break a rule that is on ({', '.join(failures)})" if failures
               else f"ok: 0 of {n:,} variants break a rule that is on")
    lines.append(verdict)
    return "\n".join(lines) + "\n"

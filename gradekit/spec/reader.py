"""Problem and sheet specs: TOML files, validated strictly into frozen values.

Every failure names the file, the field and what was expected, in one line (SpecError).
The format is documented in README.md ("Problem spec" and "Sheet spec").
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from gradekit.engine.build import network, steps_for
from gradekit.engine.layout import expected_shape
from gradekit.model import names
from gradekit.model.problem import TOLERANCES, Domain, Grading, Problem, Sheet, SheetEntry
from gradekit.model.quality import SWITCHABLE, Quality
from gradekit.spec.families import FAMILIES, Family
from gradekit.spec.fields import Fields, read_toml
from gradekit.util.errors import InputFileError, SpecError
from gradekit.util.resources import problems_dir

ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")



def _domains(f: Fields, family: Family, model: Any) -> dict[str, Domain]:
    table = f.table_of("sampling")
    out: dict[str, Domain] = {}
    for key in list(table.table):
        if family.accepts is not None:
            if not family.accepts(model, key):
                table.get(key, dict)
                raise table.fail(key, f"unknown domain (expected {family.domain_words})")
            base = key
        else:
            parts = names.split(key)
            if parts is None or parts[0] not in family.defaults:
                table.get(key, dict)
                raise table.fail(key, f"unknown domain (expected {family.domain_words})")
            base, index = parts
            limit = family.index_limit(model)
            if index is not None and not 1 <= index <= limit:
                raise table.fail(key, family.index_error.format(index=index, limit=limit))
        df = table.table_of(key)
        lo, hi = df.number("min"), df.number("max")
        step = df.number("step", low=0.0, strict_low=True)
        nonzero = df.get("nonzero", bool, family.defaults[base].nonzero)
        df.reject_unknown()
        if hi < lo:
            raise df.fail("max", f"must be >= min ({lo}), got {hi}")
        if (hi - lo) / step > 10_000:
            raise df.fail("step", "too fine: more than 10000 grid points")
        domain = Domain(lo, hi, step, nonzero)
        if domain.grid().size == 0:
            raise df.fail("min", "the domain holds no usable number (only 0, and nonzero = true)")
        out[key] = domain
    table.reject_unknown()
    return out


def _pinned(f: Fields, arch: Any) -> dict[str, np.ndarray]:
    table = f.table_of("pinned")
    given = set(arch.given_names())
    out: dict[str, np.ndarray] = {}
    for key in list(table.table):
        if key not in given:
            table.get(key, (list, int, float))
            raise table.fail(key, f"cannot be pinned (this problem's given values: {', '.join(arch.given_names())})")
        raw = table.get(key, (list, int, float), what="a number or nested list of numbers")
        try:
            value = np.array(raw, dtype=float)
        except (ValueError, TypeError):
            raise table.fail(key, "expected a number or a rectangular nested list of numbers") from None
        if not np.all(np.isfinite(value)):
            raise table.fail(key, "holds a non-finite number")
        shape = expected_shape(arch, key)
        if value.shape != shape:
            if value.size == int(np.prod(shape)) and (value.ndim <= 1 or 1 in shape):
                value = value.reshape(shape)  # a vector may be written flat, as in the notebooks
            else:
                raise table.fail(key, f"has shape {list(value.shape)}, expected {list(shape)} in the {arch.layout} layout")
        classes = network(arch).given_value(key).labels
        if classes:
            if np.any(value != np.round(value)) or np.any(value < 0) or np.any(value >= classes):
                raise table.fail(key, f"class labels must be whole numbers from 0 to {classes - 1}")
        out[key] = value + 0.0  # a pinned -0.0 is 0
    table.reject_unknown()
    return out


def _quality(f: Fields) -> Quality:
    """The [quality] table: `rule = false` switches a rule off (README: "Quality rules")."""
    table = f.table_of("quality")
    off = set()
    for name in list(table.table):
        if name not in SWITCHABLE:
            table.get(name, bool)
            raise table.fail(name, f"not a rule that can be switched off (rules: {', '.join(SWITCHABLE)})")
        if not table.get(name, bool, what="true or false"):
            off.add(name)
    table.reject_unknown()
    return Quality(frozenset(off))


def _concept_questions(f: Fields, asked: list[str]) -> tuple[str, ...]:
    raw = f.get("concept_questions", list, [], what="a list of asked quantity names")
    out: list[str] = []
    for i, q in enumerate(raw):
        if not isinstance(q, str) or q not in asked:
            raise f.fail(f"concept_questions[{i}]", f"{q!r} is not an asked quantity")
        if q in out:
            raise f.fail(f"concept_questions[{i}]", f"{q!r} is listed twice")
        out.append(q)
    return tuple(out)


def _check_structural_zeros(f: Fields, arch: Any, asked: list[str], concept: tuple[str, ...]) -> None:
    """Refuse asking a quantity that is 0 in every variant, unless the spec says it means to."""
    zeros = network(arch).structural_zeros
    for i, q in enumerate(asked):
        if q in zeros and q not in concept:
            raise f.fail(f"asked[{i}]", f"{q} is 0 in every variant ({zeros[q]}): stop asking it, mark it a "
                         f"concept question (concept_questions = [\"{q}\"]), or switch the rule off "
                         "([quality] structural_zero = false)")


def _grading(f: Fields) -> Grading:
    g = f.table_of("grading")
    tolerance = g.choice("tolerance", TOLERANCES, "rounding")
    atol = g.number("atol", None, low=0.0)
    rtol = g.number("rtol", None, low=0.0)
    points = g.number("points", Grading.points, low=0.0)
    ft = g.number("follow_through", Grading.follow_through, low=0.0, high=1.0)
    partial = g.get("partial_credit", bool, False)
    sigfigs = g.get("sigfigs", int, None)
    if sigfigs is not None and not 1 <= sigfigs <= 10:
        raise g.fail("sigfigs", f"expected a whole number from 1 to 10, got {sigfigs}")
    overrides: dict[str, dict[str, float]] = {}
    q = g.table_of("quantities")
    for name in list(q.table):
        qf = q.table_of(name)
        overrides[name] = {k: qf.number(k, low=0.0) for k in ("points", "atol", "rtol") if k in qf.table}
        qf.reject_unknown()
    q.reject_unknown()
    g.reject_unknown()
    return Grading(atol, rtol, points, ft, partial, sigfigs, overrides, tolerance)


def parse_problem(data: Mapping[str, Any], source: str) -> Problem:
    """A Problem from a parsed TOML table; raises SpecError naming `source` and the field."""
    f = Fields(data, source)
    pid = f.get("id", str)
    if not ID_PATTERN.match(pid):
        raise f.fail("id", "expected letters, digits, '-', '_' or '.', at most 64, starting with a letter or digit")
    title = f.get("title", str)
    description = f.get("description", str, title)
    statement = f.get("statement", str, "")
    decimals = f.get("decimals", int, 4)
    if not 1 <= decimals <= 8:
        raise f.fail("decimals", f"expected a whole number from 1 to 8, got {decimals}")
    family = FAMILIES[f.choice("family", tuple(FAMILIES), "mlp")]
    arch = family.parse(f)
    domains = _domains(f, family, arch)
    pinned = _pinned(f, arch)
    computed = {s.name for s in steps_for(arch) if s.stage != "given"}
    asked_raw = f.get("asked", list, what="a list of quantity names")
    if not asked_raw:
        raise f.fail("asked", "asks for nothing")
    asked: list[str] = []
    for i, q in enumerate(asked_raw):
        if not isinstance(q, str) or q not in computed:
            order = ", ".join(s.name for s in steps_for(arch) if s.stage != "given")
            raise f.fail(f"asked[{i}]", f"{q!r} is not a quantity of this network (it has: {order})")
        if q in asked:
            raise f.fail(f"asked[{i}]", f"{q!r} is asked twice")
        asked.append(q)
    grading = _grading(f)
    for name in grading.overrides:
        if name not in asked:
            raise SpecError("is not an asked quantity", source=source, field=f"grading.quantities.{name}")
    attempts = f.get("max_attempts", int, 2000)
    quality = _quality(f)
    concept = _concept_questions(f, asked)
    if quality.on("structural_zero"):
        _check_structural_zeros(f, arch, asked, concept)
    f.reject_unknown()
    order = [s.name for s in steps_for(arch)]
    asked.sort(key=order.index)  # ask in computing order, whatever order the spec lists them in
    return Problem(pid, title, description, source, arch, domains, pinned, tuple(asked), decimals, grading,
                   statement, attempts, quality, tuple(sorted(concept, key=order.index)), family.defaults)


@lru_cache(maxsize=128)
def _load_problem_file(path: str, mtime_ns: int) -> Problem:
    return parse_problem(read_toml(Path(path)), path)


def load_problem(path: Path) -> Problem:
    """A problem spec from a TOML file (cached per file and modification time)."""
    try:
        stat = path.stat()
    except OSError:
        raise InputFileError("no such file", source=path) from None
    return _load_problem_file(str(path), stat.st_mtime_ns)


def builtin_problem_paths() -> dict[str, Path]:
    """Built-in problem files by id (the file stem is the id)."""
    return {p.stem: p for p in sorted(problems_dir().glob("*.toml")) if not p.stem.startswith("sheet-")}


def builtin_sheet_paths() -> dict[str, Path]:
    return {p.stem.removeprefix("sheet-"): p for p in sorted(problems_dir().glob("sheet-*.toml"))}


def resolve_problem(ref: str, base: Path | None = None) -> Problem:
    """A problem by built-in id or by path (relative paths from `base`, the referring sheet's folder)."""
    builtin = builtin_problem_paths()
    if ref in builtin:
        return load_problem(builtin[ref])
    path = Path(ref) if base is None or Path(ref).is_absolute() else base / ref
    if path.suffix == ".toml" or path.exists():
        return load_problem(path)
    raise InputFileError(f"unknown problem {ref!r} (built-in problems: {', '.join(builtin)})")


def parse_sheet(data: Mapping[str, Any], source: str, base: Path | None) -> Sheet:
    f = Fields(data, source)
    sid = f.get("id", str)
    if not ID_PATTERN.match(sid):
        raise f.fail("id", "expected letters, digits, '-', '_' or '.', at most 64, starting with a letter or digit")
    title = f.get("title", str)
    description = f.get("description", str, title)
    instructions = f.get("instructions", str, "")
    raw = f.get("problems", list, what="a list of [[problems]] tables")
    if not raw:
        raise f.fail("problems", "lists no problem")
    entries: list[SheetEntry] = []
    for i, item in enumerate(raw, start=1):
        if not isinstance(item, dict):
            raise f.fail(f"problems[{i}]", "expected a table with `problem = \"id or path\"`")
        pf = Fields(item, source, f"problems[{i}].")
        ref = pf.get("problem", str)
        points = pf.number("points", None, low=0.0)
        text = pf.get("instructions", str, "")
        pf.reject_unknown()
        try:
            problem = resolve_problem(ref, base)
        except InputFileError as e:
            raise pf.fail("problem", e.message) from None
        if any(e.problem.id == problem.id for e in entries):
            raise pf.fail("problem", f"problem id {problem.id!r} appears twice on the sheet")
        entries.append(SheetEntry(problem, points, text))
    f.reject_unknown()
    return Sheet(sid, title, description, instructions, source, tuple(entries))


def load_sheet(path: Path) -> Sheet:
    return parse_sheet(read_toml(path), str(path), path.parent)


DEFAULT_SHEET = "backprop-basics"


def resolve(ref: str) -> Sheet:
    """A sheet from a built-in sheet id, a built-in problem id, or a path to either.

    A single problem becomes a one-problem sheet whose id is the problem's id, so that
    every output (key, template, grading) has the same shape.
    """
    sheets = builtin_sheet_paths()
    if ref in sheets:
        return load_sheet(sheets[ref])
    if ref in builtin_problem_paths():
        return single_problem_sheet(resolve_problem(ref))
    path = Path(ref)
    if not path.exists():
        known = ", ".join([*sheets, *builtin_problem_paths()])
        raise InputFileError(f"no such file, and not a built-in sheet or problem (built-in: {known})", source=ref)
    data = read_toml(path)
    if "problems" in data:
        return parse_sheet(data, str(path), path.parent)
    return single_problem_sheet(load_problem(path))


def resolve_builtin(ref: str) -> Sheet | None:
    """A built-in sheet or problem by id only, never a path: for ids read from untrusted files."""
    if ref in builtin_sheet_paths():
        return load_sheet(builtin_sheet_paths()[ref])
    if ref in builtin_problem_paths():
        return single_problem_sheet(resolve_problem(ref))
    return None


def single_problem_sheet(problem: Problem) -> Sheet:
    return Sheet(problem.id, problem.title, problem.description, "", problem.source,
                 (SheetEntry(problem, None, ""),))

"""A computational graph's part of a problem spec: `function` (an expression, or lines
`name = expression`), optionally `variables` (their order on the sheet). Each variable's sampling
domain is [sampling.<variable>] (or [sampling.<letter>] for w0, w1, ...), else the default grid."""

from __future__ import annotations

from typing import Any

from gradekit.model.circuit import Circuit, ExpressionError, parse_function
from gradekit.model.problem import Domain
from gradekit.spec.fields import Fields
from gradekit.util.errors import SpecError

DEFAULT = Domain(-3.0, 3.0, 1.0, nonzero=True)


class _AnyVariable(dict):
    """Default domains: the same grid for every variable name."""

    def __missing__(self, key: str) -> Domain:
        return DEFAULT

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str)


DEFAULT_DOMAINS = _AnyVariable()


def circuit(f: Fields) -> Circuit:
    if "layout" in f.table:
        f.choice("layout", ("rows",))
    if "samples" in f.table:
        samples = f.get("samples", int)
        if samples != 1:
            raise f.fail("samples", f"a computational graph has 1 sample, got {samples}")
    text = f.get("function", str, what="an expression such as \"(x + y) * z\"")
    declared = f.get("variables", list, None, what="a list of variable names")
    if declared is not None and not all(isinstance(v, str) for v in declared):
        raise f.fail("variables", "expected a list of variable names")
    try:
        return parse_function(text, tuple(declared) if declared is not None else None)
    except ExpressionError as e:
        where = f"line {e.line}, column {e.column}" if "\n" in text.strip() else f"column {e.column}"
        raise SpecError(f"{where}: {e.message}", source=f.source, field=f.where("function")) from None


def accepts(model: Any, key: str) -> bool:
    """A [sampling] key: a variable of the circuit, or the letters of numbered ones (w for w0, w1)."""
    letters = {v.rstrip("0123456789") for v in model.variables}
    return key in model.variables or key in letters

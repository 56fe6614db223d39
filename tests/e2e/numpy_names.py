"""What this interpreter's NumPy has: the names, keywords and attributes the bundled grader uses.

Run by tests/e2e/test_export_prairielearn.py, under this Python and under GRADEKIT_PL_PYTHON
(PrairieLearn's Python 3.10 and NumPy 1.26), to find NumPy 2 API in the PrairieLearn bundle
without waiting for a variant that happens to call it. Reads on standard input

    {"names": ["numpy.linalg.norm", ...], "keywords": [["numpy.std", "ddof"], ...],
     "classes": ["numpy.ndarray", ...]}

and writes {"numpy": version, "missing": [names this NumPy lacks], "refused": [[name, keyword]
that its function does not take], "attributes": {class: sorted dir(class)}} on standard output.
A function whose parameters cannot be read (a ufunc, a builtin without a signature line) takes
every keyword here: the runs of every built-in problem cover those calls.
"""

import importlib
import inspect
import json
import re
import sys

import numpy


def resolve(dotted: str):  # noqa: ANN201 - any NumPy object
    """The object a dotted name such as numpy.linalg.norm names; AttributeError when there is none."""
    parts = dotted.split(".")
    obj = numpy
    for i, part in enumerate(parts[1:], start=1):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            # A submodule NumPy does not import by itself (numpy.lib.stride_tricks).
            obj = importlib.import_module(".".join(parts[:i + 1]))
    return obj


def parameters(function) -> set | None:  # noqa: ANN001
    """The parameter names a NumPy function takes, or None when they cannot be read (or it takes **kwargs)."""
    if isinstance(function, numpy.ufunc):
        return None
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):
        # NumPy's C functions state their signature on their docstring's first line(s).
        name = getattr(function, "__name__", "")
        match = re.match(re.escape(name) + r"\((.*?)\)\s*(\n|$)", (function.__doc__ or "").strip(), re.DOTALL)
        return set(re.findall(r"[A-Za-z_]\w*", match.group(1))) if name and match else None
    if any(p.kind is p.VAR_KEYWORD for p in signature.parameters.values()):
        return None
    return set(signature.parameters)


def main() -> None:
    request = json.load(sys.stdin)
    missing, refused, found = [], [], {}
    for name in request["names"]:
        try:
            found[name] = resolve(name)
        except (AttributeError, ImportError):
            missing.append(name)
    for name, keyword in request["keywords"]:
        accepted = parameters(found[name]) if name in found else None
        if accepted is not None and keyword not in accepted:
            refused.append([name, keyword])
    attributes = {cls: sorted(dir(resolve(cls))) for cls in request["classes"]}
    json.dump({"numpy": numpy.__version__, "missing": missing, "refused": refused, "attributes": attributes},
              sys.stdout)


if __name__ == "__main__":
    main()

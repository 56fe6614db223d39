"""What each family of problems shows on its sheets: its problem in sentences and its picture.

Every writer asks here: `sentences(problem, trace)` (words and $math$, valid in LaTeX and
Markdown alike) and `diagram(problem, given)` (plain data, written as TikZ and SVG by
gradekit.render.tikz and gradekit.render.svg). A new family adds its two functions.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

import numpy as np

from gradekit.engine.trace import Trace
from gradekit.model.problem import Problem
from gradekit.render import diagram as mlp_diagram
from gradekit.render import mlp, optimizer
from gradekit.render.diagram import Diagram

SENTENCES: dict[str, Callable[[Problem, Trace], tuple[str, ...]]] = {
    "mlp": mlp.sentences,
    "optimizer": optimizer.sentences,
}
DIAGRAMS: dict[str, Callable[[Any, Mapping[str, np.ndarray] | None], Diagram]] = {
    "mlp": mlp_diagram.build,
    "optimizer": optimizer.diagram,
}


def sentences(problem: Problem, trace: Trace) -> tuple[str, ...]:
    """The problem's network (or function, or exercise) described for its statement."""
    return SENTENCES[problem.arch.family](problem, trace)


def diagram(problem: Problem, given: Mapping[str, np.ndarray] | None) -> Diagram:
    """The problem's picture, with the given numbers on it where the family shows them."""
    return DIAGRAMS[problem.arch.family](problem.arch, given)

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
from gradekit.render import circuit, cnn, mlp, optimizer, rnn
from gradekit.render.diagram import Diagram

SENTENCES: dict[str, Callable[[Problem, Trace], tuple[str, ...]]] = {
    "mlp": mlp.sentences,
    "circuit": circuit.sentences,
    "rnn": rnn.sentences,
    "lstm": rnn.lstm_sentences,
    "cnn": cnn.sentences,
    "optimizer": optimizer.sentences,
}
DIAGRAMS: dict[str, Callable[[Any, Mapping[str, np.ndarray] | None], Diagram]] = {
    "mlp": mlp_diagram.build,
    "circuit": circuit.build,
    "rnn": rnn.diagram,
    "lstm": rnn.lstm_diagram,
    "cnn": cnn.diagram,
    "optimizer": optimizer.diagram,
}
# Families whose worked solutions draw the picture again with every value on it (a circuit's
# forward values above its wires, gradients below them), from the values of the trace.
SOLVED_DIAGRAMS: dict[str, Callable[[Any, Mapping[str, np.ndarray]], Diagram]] = {
    "circuit": circuit.solved,
}


def sentences(problem: Problem, trace: Trace) -> tuple[str, ...]:
    """The problem's network (or function, or exercise) described for its statement."""
    return SENTENCES[problem.arch.family](problem, trace)


def diagram(problem: Problem, given: Mapping[str, np.ndarray] | None) -> Diagram:
    """The problem's picture, with the given numbers on it where the family shows them."""
    return DIAGRAMS[problem.arch.family](problem.arch, given)


def solved_diagram(problem: Problem, trace: Trace) -> Diagram | None:
    """The picture of a worked solution with every value on it, for a family that draws one."""
    draw = SOLVED_DIAGRAMS.get(problem.arch.family)
    return None if draw is None else draw(problem.arch, {n: trace[n] for n in trace.names})

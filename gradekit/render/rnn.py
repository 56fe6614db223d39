"""How an unrolled RNN's problem is stated: sentences, and its picture (a column per time step)."""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from gradekit.engine.trace import Trace
from gradekit.model import names
from gradekit.model.notation import tex_constant
from gradekit.model.problem import Problem
from gradekit.render.diagram import Diagram, Edge, Label, Node, Text, _box_of, _outline_point

COLUMN_GAP = 2.4  # cm between two time steps
ROW_GAP = 1.8  # cm between x_t, h_t and y_t


def sentences(problem: Problem, trace: Trace) -> tuple[str, ...]:
    m = problem.arch
    act = r"\tanh" if m.activation == "tanh" else ""
    if m.layout == "rows":
        first = (f"Convention: row vectors. Row $t$ of $X$ is the input $x^{{\\langle t\\rangle}}$ of step $t$ "
                 f"({m.steps} steps, {m.inputs} input{'s' * (m.inputs != 1)} each): "
                 rf"$z^{{\langle t\rangle}} = h^{{\langle t-1\rangle}} W_{{hh}} + x^{{\langle t\rangle}} W_{{xh}} + b_{{h}}$.")
    else:
        first = (f"Convention: column vectors. Column $t$ of $X$ is the input $x^{{\\langle t\\rangle}}$ of step $t$ "
                 f"({m.steps} steps, {m.inputs} input{'s' * (m.inputs != 1)} each): "
                 rf"$z^{{\langle t\rangle}} = W_{{hh}} h^{{\langle t-1\rangle}} + W_{{xh}} x^{{\langle t\rangle}} + b_{{h}}$.")
    out = [first]
    out.append(rf"Hidden state ({m.hidden} unit{'s' * (m.hidden != 1)}): $h^{{\langle t\rangle}} = "
               rf"{act}{'(' if act else ''}z^{{\langle t\rangle}}{')' if act else ''}$"
               f"{'' if act else ' (a linear recurrent network)'}, with "
               + (r"$h^{\langle 0\rangle}$ given." if m.h0 == "given" else r"$h^{\langle 0\rangle} = 0$."))
    where = "at every step" if m.outputs_at == "every" else f"at the last step only ($t = {m.steps}$)"
    product = r"h^{\langle t\rangle} W_{hy}" if m.layout == "rows" else r"W_{hy} h^{\langle t\rangle}"
    if m.classifies:
        out.append(rf"Output {where}: class scores $y^{{\langle t\rangle}} = {product} + b_{{y}}$ over {m.outputs} "
                   r"classes and their softmax $p^{\langle t\rangle}_{k} = e^{y^{\langle t\rangle}_{k}} / "
                   r"\sum_{j} e^{y^{\langle t\rangle}_{j}}$; entry $k$ of $Y$ is the class label $y_t$ (numbered "
                   "from 0) of the $k$-th output step.")
    else:
        out.append(rf"Output {where}: $y^{{\langle t\rangle}} = {product} + b_{{y}}$; "
                   f"{'row' if m.layout == 'rows' else 'column'} $k$ of $Y$ is the target "
                   r"$Y^{\langle t\rangle}$ of the $k$-th output step.")
    out.append("The same $W_{xh}$, $W_{hh}$, $b_{h}$, $W_{hy}$, $b_{y}$ serve every step.")
    out.append(f"Loss: ${trace.step(names.LOSS).formula}$.")
    if any(names.parse(q) is not None and names.parse(q).new and q != names.LOSS_NEW for q in problem.asked):
        out.append(rf"Update: one step of gradient descent, $\theta_{{\text{{new}}}} = \theta - \eta\, d\theta$, "
                   rf"with learning rate $\eta = {tex_constant(m.learning_rate)}$.")
    return tuple(out)


def diagram(model: Any, given: Mapping[str, np.ndarray] | None = None) -> Diagram:
    """The network unrolled: a column per time step (x_t below, h_t, y_t above), the shared weights
    labelled on every edge they sit on."""
    nodes: list[Node] = []
    edges: list[Edge] = []
    texts: list[Text] = []
    first = 0 if model.h0 == "given" else 1
    if model.h0 == "given":
        nodes.append(Node("h-0", Label("h", sup=r"\langle 0\rangle"), 0.0, ROW_GAP))
    for t in range(1, model.steps + 1):
        x = t * COLUMN_GAP
        nodes.append(Node(f"x-{t}", Label("x", sup=rf"\langle {t}\rangle"), x, 0.0, "box"))
        nodes.append(Node(f"h-{t}", Label("h", sup=rf"\langle {t}\rangle"), x, ROW_GAP))
        edges.append(Edge(f"x-{t}", f"h-{t}", Label("W", sub="xh")))
        if t > first:
            edges.append(Edge(f"h-{t - 1}", f"h-{t}", Label("W", sub="hh")))
        if t in model.output_steps:
            nodes.append(Node(f"y-{t}", Label("y", sup=rf"\langle {t}\rangle"), x, 2 * ROW_GAP, "box"))
            edges.append(Edge(f"h-{t}", f"y-{t}", Label("W", sub="hy")))
        texts.append(Text(Label(f"step {t}", math=False), x, -0.8, "small"))
    by_id = {n.id: n for n in nodes}
    done = []
    for e in edges:
        a, b = by_id[e.source], by_id[e.target]
        mid = ((a.x + b.x) / 2 + (0.0 if a.y != b.y else 0.0), (a.y + b.y) / 2 + (0.3 if a.y == b.y else 0.0))
        at = (round(mid[0] + (0.35 if a.y != b.y else 0.0), 3), round(mid[1], 3))
        done.append(Edge(e.source, e.target, e.label, at, _outline_point(a, b), _outline_point(b, a)))
    boxes = [_box_of(n) for n in nodes] + [(e.at[0] - 0.4, e.at[1] - 0.2, e.at[0] + 0.4, e.at[1] + 0.2)
                                           for e in done if e.at]
    boxes += [(t.x - 0.5, t.y - 0.2, t.x + 0.5, t.y + 0.2) for t in texts]
    margin = 0.15
    return Diagram(tuple(nodes), tuple(done), tuple(texts), (),
                   round(min(b[0] for b in boxes) - margin, 3), round(min(b[1] for b in boxes) - margin, 3),
                   round(max(b[2] for b in boxes) + margin, 3), round(max(b[3] for b in boxes) + margin, 3))


def lstm_sentences(problem: Problem, trace: Trace) -> tuple[str, ...]:
    m = problem.arch
    lin = (r"x W_{x} + h^{\langle 0\rangle} W_{h} + b_{z}" if m.layout == "rows"
           else r"W_{x} x + W_{h} h^{\langle 0\rangle} + b_{z}")
    out = [rf"One step of an LSTM cell with a single unit: the gates' pre-activations $z^{{\langle 1\rangle}} = {lin}$ "
           rf"({'a row' if m.layout == 'rows' else 'a column'} of 4, in the order i, f, o, g; $x = X$ has "
           f"{m.inputs} entr{'ies' if m.inputs != 1 else 'y'}).",
           r"Gates: $i = \sigma(z_{i})$, $f = \sigma(z_{f})$, $o = \sigma(z_{o})$, $g = \tanh(z_{g})$; "
           r"cell $c^{\langle 1\rangle} = f c^{\langle 0\rangle} + i g$, hidden state "
           r"$h^{\langle 1\rangle} = o \tanh c^{\langle 1\rangle}$.",
           r"Given from the rest of the network: $dh^{\langle 1\rangle}$, the gradient reaching "
           r"$h^{\langle 1\rangle}$ from above, and $dc^{\langle 2\rangle}$, the next step's cell gradient, "
           r"with that step's forget gate $f^{\langle 2\rangle}$ (so $c^{\langle 1\rangle}$ also receives "
           r"$dc^{\langle 2\rangle} f^{\langle 2\rangle}$).",
           f"The cell's part of the loss: ${trace.step(names.LOSS).formula}$."]
    if any(names.parse(q) is not None and names.parse(q).new and q != names.LOSS_NEW for q in problem.asked):
        out.append(rf"Update: one step of gradient descent with learning rate $\eta = {tex_constant(m.learning_rate)}$.")
    return tuple(out)


def lstm_diagram(model: Any, given: Mapping[str, np.ndarray] | None = None) -> Diagram:
    """The cell: x and h_0 feed the four gates; f and i, g meet c_0 in c_1; o and c_1 give h_1."""
    nodes = [Node("x", Label("x"), 0.0, 0.0, "box"), Node("h-0", Label("h", sup=r"\langle 0\rangle"), 0.0, 2.4, "box"),
             Node("c-0", Label("c", sup=r"\langle 0\rangle"), 3.0, 5.2, "box")]
    for k, gate in enumerate(("i", "f", "o", "g")):
        nodes.append(Node(f"gate-{gate}", Label(gate), 3.0, 3.6 - 1.2 * k))
    nodes += [Node("c-1", Label("c", sup=r"\langle 1\rangle"), 6.0, 5.2), Node("h-1", Label("h", sup=r"\langle 1\rangle"), 8.4, 2.4)]
    edges = [Edge(src, f"gate-{gate}") for src in ("x", "h-0") for gate in ("i", "f", "o", "g")]
    edges += [Edge("c-0", "c-1", Label("f")), Edge("gate-g", "c-1"),
             Edge("gate-i", "c-1"), Edge("gate-f", "c-1"), Edge("gate-o", "h-1"), Edge("c-1", "h-1", Label("tanh", math=False))]
    texts = [Text(Label("every gate: z = x Wx + h Wh + bz", math=False), 3.0, -0.9, "small")]
    by_id = {n.id: n for n in nodes}
    done = []
    for e in edges:
        a, b = by_id[e.source], by_id[e.target]
        at = (round((a.x + b.x) / 2, 3), round((a.y + b.y) / 2 + 0.3, 3)) if e.label else None
        done.append(Edge(e.source, e.target, e.label, at, _outline_point(a, b), _outline_point(b, a)))
    boxes = [_box_of(n) for n in nodes] + [(e.at[0] - 0.4, e.at[1] - 0.2, e.at[0] + 0.4, e.at[1] + 0.2)
                                           for e in done if e.at]
    boxes += [(t.x - 2.6, t.y - 0.2, t.x + 2.6, t.y + 0.2) for t in texts]
    return Diagram(tuple(nodes), tuple(done), tuple(texts), (),
                   round(min(b[0] for b in boxes) - 0.15, 3), round(min(b[1] for b in boxes) - 0.15, 3),
                   round(max(b[2] for b in boxes) + 0.15, 3), round(max(b[3] for b in boxes) + 0.15, 3))

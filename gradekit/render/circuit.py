"""How a computational graph's problem is stated and drawn: its function in sentences, and the
circuit as cs231n draws it (inputs on the left, gates as nodes, values above the wires and, in
the solutions, gradients below them), as plain gradekit.render.diagram data."""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from gradekit.engine.trace import Trace
from gradekit.model import names
from gradekit.model.circuit import Circuit
from gradekit.model.notation import tex
from gradekit.model.problem import Problem
from gradekit.render.diagram import LABEL_HEIGHT, NODE_RADIUS, Diagram, Edge, Label, Node, Text, label_width, number_label

COLUMN = 2.7  # cm between the columns of gates
ROW = 1.8  # cm between the rows
ABOVE, BELOW = 0.2, 0.22  # a wire's value sits above it, its gradient below

GATE_LABELS = {"add": ("+", True), "sub": ("-", True), "mul": (r"\times", True), "max": ("max", False),
               "min": ("min", False), "neg": ("*-1", False), "exp": ("exp", False), "log": ("log", False),
               "sigmoid": (r"\sigma", True), "tanh": ("tanh", False), "relu": ("ReLU", False),
               "square": ("x²", False), "recip": ("1/x", False), "scale": ("", False), "shift": ("", False)}


def sentences(problem: Problem, trace: Trace) -> tuple[str, ...]:
    """The function, its gates in computing order, and what a gradient name means."""
    c: Circuit = problem.arch
    out = c.output
    gates = "; ".join(f"${trace.step(n.name).formula}$" for n in c.nodes)
    variables = ", ".join(f"${tex(v)}$" for v in c.variables)
    grad = tex(names.grad(c.variables[0]))
    return (f"The circuit computes ${tex(out)}$ from the inputs {variables}, gate by gate: {gates}.",
            f"${grad}$ stands for $\\partial {tex(out)} / \\partial {tex(c.variables[0])}$, the gradient of the output "
            f"${tex(out)}$ with respect to ${tex(c.variables[0])}$ (likewise for every value); the gradient at the "
            "output itself is 1. A value that feeds several gates (a fork) gets the sum of their gradients.")


def _gate_label(node: Any) -> Label:
    # cs231n's labels for a gate with a constant: *-1, *2, +1 (ASCII: every TeX font has it)
    if node.kind == "scale":
        return Label(f"*{node.const:g}", math=False)
    if node.kind == "shift":
        return Label(f"{node.const:+g}", math=False)
    base, math = GATE_LABELS[node.kind]
    return Label(base, math=math)


def _name_label(name: str) -> Label:
    body = tex(name)
    if "_" in body and body.startswith(name.rstrip("0123456789")):
        base, sub = body.split("_", 1)
        return Label(base, sub=sub.strip("{}"))
    if body.startswith(r"\mathrm"):
        return Label(name, math=False)
    return Label(body)


def build(circuit: Circuit, given: Mapping[str, np.ndarray] | None = None,
          values: Mapping[str, np.ndarray] | None = None) -> Diagram:
    """The circuit; with `given`, each input's wire carries its number; with `values` (every value of
    the trace), every wire carries its value above and its gradient below."""
    depth: dict[str, int] = {v: 0 for v in circuit.variables}
    for n in circuit.nodes:
        depth[n.name] = 1 + max(depth[i] for i in n.inputs)
    columns: dict[int, list[str]] = {}
    for name in circuit.names():
        columns.setdefault(depth[name], []).append(name)
    # Order each column by the mean row of its inputs, so wires cross as little as possible.
    row: dict[str, float] = {}
    for d in sorted(columns):
        members = columns[d]
        if d > 0:
            members.sort(key=lambda m: -np.mean([row[i] for i in circuit.node(m).inputs]))  # top first
        top = (len(members) - 1) * ROW / 2
        for k, m in enumerate(members):
            row[m] = top - k * ROW
    _clear_skipping_wires(circuit, depth, row)
    nodes: list[Node] = []
    position: dict[str, tuple[float, float]] = {}
    for d, members in columns.items():
        for m in members:
            position[m] = (d * COLUMN, row[m])
            if d == 0:
                nodes.append(Node(m, _name_label(m), d * COLUMN, row[m], "plain"))
            else:
                nodes.append(Node(m, _gate_label(circuit.node(m)), d * COLUMN, row[m], "circle"))
    last = max(columns) + 1
    out = circuit.output
    end = Node("output", _name_label(out), last * COLUMN - COLUMN / 3, position[out][1], "plain")
    nodes.append(end)
    by_id = {n.id: n for n in nodes}
    edges: list[Edge] = []
    texts: list[Text] = []
    placed = [(n.x - NODE_RADIUS, n.y - NODE_RADIUS, n.x + NODE_RADIUS, n.y + NODE_RADIUS) for n in nodes]
    wires = [(i, n.name) for n in circuit.nodes for i in n.inputs] + [(out, "output")]
    for source, target in wires:
        a, b = by_id[source], by_id[target]
        start, finish = _outline(a, b), _outline(b, a)
        label = None
        if values is not None:
            label = number_label(float(values[source])) if source in circuit.variables else \
                Label(_short(float(values[source])))
        elif given is not None and source in circuit.variables:
            label = number_label(float(np.asarray(given[source])))
        elif source not in circuit.variables:
            label = _name_label(source)
        grad = None
        if values is not None:
            grad = Label(_short(1.0 if target == "output" else float(values[names.grad(source)])))
        mid, boxes = _spot(start, finish, label, grad, placed)
        placed += boxes
        at = (mid[0], round(mid[1] + ABOVE, 3)) if label is not None else None
        edges.append(Edge(source, target, label, at, start, finish))
        if grad is not None:
            texts.append(Text(grad, mid[0], round(mid[1] - BELOW, 3), "tiny", "gradient"))
    boxes = placed
    margin = 0.15
    return Diagram(tuple(nodes), tuple(edges), tuple(texts), (),
                   round(min(b[0] for b in boxes) - margin, 3), round(min(b[1] for b in boxes) - margin, 3),
                   round(max(b[2] for b in boxes) + margin, 3), round(max(b[3] for b in boxes) + margin, 3))


def _clear_skipping_wires(circuit: Circuit, depth: Mapping[str, int], row: dict[str, float]) -> None:
    """Move a gate off a wire that skips its column and would run through it (a variable that also
    feeds a late gate), by half a row, to the side with more room."""
    wires = [(i, n.name) for n in circuit.nodes for i in n.inputs]
    for _ in range(4):
        moved = False
        for a, b in wires:
            if depth[b] - depth[a] < 2:
                continue
            for m, d in depth.items():
                if not depth[a] < d < depth[b] or m in (a, b):
                    continue
                t = (d - depth[a]) / (depth[b] - depth[a])
                y = row[a] + t * (row[b] - row[a])
                if abs(row[m] - y) < NODE_RADIUS + 0.25:
                    others = [row[o] for o, e in depth.items() if e == d and o != m]
                    up = row[m] + ROW / 2
                    down = row[m] - ROW / 2
                    room = lambda r: min((abs(r - o) for o in others), default=ROW)  # noqa: E731
                    row[m] = up if (room(up), y < row[m]) >= (room(down), y > row[m]) else down
                    moved = True
        if not moved:
            return


def solved(circuit: Circuit, values: Mapping[str, np.ndarray]) -> Diagram:
    """The circuit of a worked solution: every wire's value above it and its gradient below it."""
    return build(circuit, None, values)


# Where along a wire (0 at its source, 1 at its target) its labels may sit, in order of preference.
_ALONG = (0.5, 0.4, 0.6, 0.3, 0.7, 0.25, 0.75, 0.2, 0.8)


def _boxes(mid: tuple[float, float], label: Label | None, grad: Label | None) -> list[tuple[float, float, float, float]]:
    out = []
    for lab, dy in ((label, ABOVE), (grad, -BELOW)):
        if lab is not None:
            w = label_width(lab) / 2
            out.append((mid[0] - w, mid[1] + dy - LABEL_HEIGHT / 2, mid[0] + w, mid[1] + dy + LABEL_HEIGHT / 2))
    return out


def _overlap(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    dx = min(a[2], b[2]) - max(a[0], b[0])
    dy = min(a[3], b[3]) - max(a[1], b[1])
    return dx * dy if dx > 0 and dy > 0 else 0.0


def _spot(start: tuple[float, float], end: tuple[float, float], label: Label | None, grad: Label | None,
          placed: list[tuple[float, float, float, float]]) -> tuple[tuple[float, float], list]:
    """The first spot along a wire where its labels overlap nothing placed before (else the least bad)."""
    best, best_overlap = None, float("inf")
    for t in _ALONG:
        mid = (round(start[0] + t * (end[0] - start[0]), 3), round(start[1] + t * (end[1] - start[1]), 3))
        boxes = _boxes(mid, label, grad)
        overlap = sum(_overlap(b, p) for b in boxes for p in placed)
        if overlap == 0:
            return mid, boxes
        if overlap < best_overlap:
            best, best_overlap = (mid, boxes), overlap
    assert best is not None
    return best


def _short(x: float) -> str:
    text = f"{x:.2f}"
    return "0.00" if float(text) == 0 else text


def _outline(n: Node, toward: Node) -> tuple[float, float]:
    dx, dy = toward.x - n.x, toward.y - n.y
    length = float(np.hypot(dx, dy)) or 1.0
    r = NODE_RADIUS if n.shape == "circle" else 0.3
    return (round(n.x + r * dx / length, 3), round(n.y + r * dy / length, 3))

"""A problem's network as a picture, computed once as plain data: nodes, edges, labels, positions.

The writers (gradekit.render.tikz for LaTeX, gradekit.render.svg for Markdown and HTML) only draw what this
module decided; no writer places or labels anything itself, so every format shows the same
picture. Coordinates are centimetres with y pointing up.

What is drawn: the inputs, each layer's units (circles; batch-norm units are squares) under a
caption with the layer's activation, a bias node "1" feeding the units of a layer with a bias,
the loss with its target, and a dashed box around a softmax layer (its units are coupled). The
picture is the same for both layouts: unit i of layer l - 1 feeds unit j of layer l through the
weight that is W[i, j] in the rows layout and W[j, i] in the columns layout. When given values are
passed and every layer has at most MAX_LABELLED_UNITS units, each edge carries its number, as in
textbook figures; otherwise each bundle of edges is labelled with its matrix name.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Literal, Mapping

import numpy as np

from gradekit.engine.build import network
from gradekit.engine.layout import to_rows
from gradekit.model import names
from gradekit.model.network import Architecture, BatchNorm, LayerNorm

MAX_LABELLED_UNITS = 4  # more units (or inputs) than this: matrix names instead of numbers on edges
MAX_DRAWN_UNITS = 8  # a larger layer shows its first units, a vertical ellipsis and its last unit

UNIT_SPACING = 1.2  # cm between two units of a column
NODE_RADIUS = 0.36
GAP_LABELLED = 4.0  # cm between columns whose edges carry numbers
GAP_PLAIN = 2.6
LOSS_GAP = 2.2
BIAS_RISE = 1.0  # cm from the top unit of a column up to the bias node above it
LABEL_HEIGHT = 0.3  # an edge label's box (\scriptsize), for keeping labels apart
LABEL_CHAR = 0.14
LABEL_PAD = 0.1

Shape = Literal["circle", "square", "box", "plain"]
Size = Literal["normal", "small", "tiny"]

# The few TeX symbols labels use, as the characters an SVG shows instead.
UNICODE = {r"\gamma": "γ", r"\beta": "β", r"\sigma": "σ", r"\vdots": "⋮", r"\hat{y}": "ŷ", r"\times": "×",
           r"\theta": "θ"}


@dataclass(frozen=True)
class Label:
    """A short label: math (a base with optional sub- and superscript) or a line of plain text."""

    base: str
    sub: str = ""
    sup: str = ""
    math: bool = True

    @property
    def chars(self) -> int:
        """Roughly how many characters wide it prints (sub- and superscripts count at 70%)."""
        base = 1 if self.base in UNICODE else len(self.base)
        return base + round(0.7 * (len(self.sub) + len(self.sup)))


@dataclass(frozen=True)
class Node:
    id: str
    label: Label
    x: float
    y: float
    shape: Shape = "circle"


@dataclass(frozen=True)
class Edge:
    """An arrow from one node's outline to another's, with its label's centre when it has one."""

    source: str
    target: str
    label: Label | None = None
    at: tuple[float, float] | None = None
    start: tuple[float, float] = (0.0, 0.0)
    end: tuple[float, float] = (0.0, 0.0)


@dataclass(frozen=True)
class Text:
    """A caption or a matrix name, centred at (x, y)."""

    label: Label
    x: float
    y: float
    size: Size = "small"
    tone: Literal["", "gradient"] = ""  # a gradient under a circuit's wire is set apart (dark red)


@dataclass(frozen=True)
class Frame:
    """A dashed rounded box (around a softmax layer's units)."""

    x0: float
    y0: float
    x1: float
    y1: float


@dataclass(frozen=True)
class Diagram:
    nodes: tuple[Node, ...]
    edges: tuple[Edge, ...]
    texts: tuple[Text, ...]
    frames: tuple[Frame, ...]
    # The drawing's extent, labels and captions included (cm).
    x0: float
    y0: float
    x1: float
    y1: float

    def node(self, node_id: str) -> Node:
        for n in self.nodes:
            if n.id == node_id:
                return n
        raise KeyError(node_id)




def number_label(x: float) -> Label:
    """A given number as the problem states it: 0.7, -1, 0.25."""
    from gradekit.render.formatting import given_number

    return Label(given_number(float(x), 6))


def _shown_units(units: int) -> list[int | None]:
    """Which units a column draws (0-based), None standing for the ellipsis."""
    if units <= MAX_DRAWN_UNITS:
        return list(range(units))
    return [0, 1, 2, None, units - 1]


def _column(x: float, units: int, prefix: str, label, shape: Shape) -> list[Node]:
    """A column of unit nodes centred on y = 0, top to bottom."""
    shown = _shown_units(units)
    top = (len(shown) - 1) * UNIT_SPACING / 2
    nodes = []
    for row, unit in enumerate(shown):
        y = top - row * UNIT_SPACING
        if unit is None:
            nodes.append(Node(f"{prefix}-dots", Label(r"\vdots"), x, y, "plain"))
        else:
            nodes.append(Node(f"{prefix}-{unit + 1}", label(unit + 1), x, y, shape))
    return nodes


def _weight(arch: Architecture, given: Mapping[str, np.ndarray], l: int, i: int, j: int) -> float:
    """The weight from unit i of layer l - 1 to unit j of layer l (0-based), in either layout."""
    return float(to_rows(np.asarray(given[names.of("W", l)]), arch.layout)[i, j])


def _bias(given: Mapping[str, np.ndarray], l: int, j: int) -> float:
    b = np.asarray(given[names.of("b", l)], dtype=float)
    return float(b) if b.ndim == 0 else float(b.ravel()[j])


def labelled(arch: Architecture, given: Mapping[str, np.ndarray] | None) -> bool:
    """Whether edges carry their numbers: given values, and a network small enough to read."""
    return given is not None and max(arch.inputs, *(layer.units for layer in arch.layers)) <= MAX_LABELLED_UNITS


# Where a number goes before it is known: labels are placed for a number this wide, so that the
# layout depends on the architecture alone and is made once (a roster draws one network 1,000
# times with different numbers).
_SLOT = Label("-0.000")


def build(arch: Architecture, given: Mapping[str, np.ndarray] | None = None) -> Diagram:
    """The diagram of an architecture, with the given values on the edges when it is small enough."""
    numbers = labelled(arch, given)
    d, slots = _layout(arch, numbers)
    if not numbers:
        return d
    assert given is not None
    edges = list(d.edges)
    for index, (kind, l, i, j) in slots:
        value = _weight(arch, given, l, i, j) if kind == "W" else _bias(given, l, j)
        edges[index] = replace(edges[index], label=number_label(value))
    return replace(d, edges=tuple(edges))


@lru_cache(maxsize=256)
def _layout(arch: Architecture, numbers: bool) -> tuple[Diagram, tuple[tuple[int, tuple[str, int, int, int]], ...]]:
    """The picture with a slot for each number, and which given value fills each slot (edge index,
    (W or b, layer, from unit, to unit))."""
    xs = column_positions(arch, numbers)
    slots: list[tuple[int, tuple[str, int, int, int]]] = []
    nodes: list[Node] = _column(0.0, arch.inputs, "x", lambda i: Label("x", sub=str(i)), "circle")
    edges: list[Edge] = []
    frames: list[Frame] = []
    columns: list[list[Node]] = [nodes[:]]
    captions = [[Label("inputs", math=False)]]
    for l, layer in enumerate(arch.layers, start=1):
        x = xs[l]
        norm = isinstance(layer, (BatchNorm, LayerNorm))
        column = _column(x, layer.units, f"a{l}", lambda j, l=l: Label("a", sub=str(j), sup=f"[{l}]"),
                         "square" if norm else "circle")
        nodes += column
        previous = columns[-1]
        if norm:
            captions.append([Label(f"layer {l}", math=False),
                             Label("layer norm" if isinstance(layer, LayerNorm) else "batch norm", math=False),
                             Label(network(arch).activation(l).caption, math=False)])
            for a, b in zip(previous, column):
                if a.shape != "plain":
                    edges.append(Edge(a.id, b.id))
            if isinstance(layer, LayerNorm):  # its units are coupled: each sample's statistics span them all
                ys = [n.y for n in column]
                pad = NODE_RADIUS + 0.18
                frames.append(Frame(x - pad, min(ys) - pad, x + pad, max(ys) + pad))
        else:
            captions.append([Label(f"layer {l}", math=False), Label(network(arch).activation(l).caption, math=False)])
            dropout = getattr(layer, "dropout", None)
            if dropout is not None:  # marked under the activation it drops
                rate = dropout.keep if dropout.named == "keep" else dropout.drop
                captions[-1].append(Label(f"dropout ({dropout.named} {rate:g})", math=False))
            for a in previous:
                for b in column:
                    if a.shape == "plain" or b.shape == "plain":
                        continue
                    if numbers:
                        i, j = int(a.id.rsplit("-", 1)[1]) - 1, int(b.id.rsplit("-", 1)[1]) - 1
                        slots.append((len(edges), ("W", l, i, j)))
                    edges.append(Edge(a.id, b.id, _SLOT if numbers else None))
            if layer.bias != "none":
                top = max(n.y for n in previous)
                bias = Node(f"b{l}", Label("1"), previous[0].x, top + BIAS_RISE, "plain")
                nodes.append(bias)
                for b in column:
                    if b.shape == "plain":
                        continue
                    if numbers:
                        slots.append((len(edges), ("b", l, 0, int(b.id.rsplit("-", 1)[1]) - 1)))
                    edges.append(Edge(bias.id, b.id, _SLOT if numbers else None))
            if layer.activation == "softmax":
                ys = [n.y for n in column]
                pad = NODE_RADIUS + 0.18
                frames.append(Frame(x - pad, min(ys) - pad, x + pad, max(ys) + pad))
        columns.append(column)
    # The loss, fed by every output unit, and its target.
    loss_x = xs[-1]
    loss = Node("loss", Label("L"), loss_x, 0.0, "box")
    target = Node("target", Label("Y" if arch.loss.kind == "mse" else "y"), loss_x, -1.25, "plain")
    nodes += [loss, target]
    edges += [Edge(n.id, loss.id) for n in columns[-1] if n.shape != "plain"]
    edges.append(Edge(target.id, loss.id))
    reduction = "(mean)" if arch.loss.reduction == "mean" else "(sum)"
    captions.append([Label("loss", math=False), Label(network(arch).loss.words, math=False),
                     Label(reduction, math=False)])
    return _finish(arch, nodes, edges, captions, frames, xs, numbers), tuple(slots)


def column_positions(arch: Architecture, numbers: bool) -> list[float]:
    """x of the inputs, of each layer and of the loss: wide gaps where edges carry numbers."""
    xs = [0.0]
    for layer in arch.layers:
        wide = numbers and not isinstance(layer, (BatchNorm, LayerNorm))
        xs.append(xs[-1] + (GAP_LABELLED if wide else GAP_PLAIN))
    xs.append(xs[-1] + LOSS_GAP)
    return xs


def _finish(arch: Architecture, nodes: list[Node], edges: list[Edge], captions: list[list[Label]],
            frames: list[Frame], xs: list[float], numbers: bool) -> Diagram:
    """Captions above the columns, matrix names or placed edge labels, and the extent."""
    top = max(n.y for n in nodes) + NODE_RADIUS
    texts: list[Text] = []
    lines = max(len(c) for c in captions)
    for x, caption in zip(xs, captions):
        for row, label in enumerate(caption):
            texts.append(Text(label, x, top + 0.2 + (lines - row - 0.5) * 0.38, "small" if row else "normal"))
    by_id = {n.id: n for n in nodes}
    placed: list[tuple[float, float, float, float]] = [_box_of(n) for n in nodes]
    done: list[Edge] = []
    for e in edges:
        a, b = by_id[e.source], by_id[e.target]
        start, end = _outline_point(a, b), _outline_point(b, a)
        at = None
        if e.label is not None:
            # A bias's labels sit near the units they feed, apart from the weights' labels.
            at = _place(a, b, e.label, placed, _BIAS_POSITIONS if a.id.startswith("b") else _POSITIONS)
            placed.append(_label_box(at, e.label))
        done.append(Edge(e.source, e.target, e.label, at, start, end))
    # Matrix names under each bundle of edges whose numbers are not drawn; batch-norm
    # parameters are named under their layer in either case (their edges carry no numbers).
    bottom = min(n.y for n in nodes if n.id.startswith(("x-", "a"))) - NODE_RADIUS - 0.4
    for l, layer in enumerate(arch.layers, start=1):
        if isinstance(layer, (BatchNorm, LayerNorm)):
            names = [Label(r"\gamma", sup=f"[{l}]"), Label(r"\beta", sup=f"[{l}]")]
        elif not numbers:
            names = [Label("W", sup=f"[{l}]")] + ([Label("b", sup=f"[{l}]")] if layer.bias != "none" else [])
        else:
            continue
        for k, name in enumerate(names):
            texts.append(Text(name, (xs[l - 1] + xs[l]) / 2, bottom - 0.45 * k, "normal"))
    boxes = [_box_of(n) for n in nodes] + [_label_box((e.at[0], e.at[1]), e.label) for e in done if e.at and e.label]
    boxes += [_text_box(t) for t in texts] + [(f.x0, f.y0, f.x1, f.y1) for f in frames]
    margin = 0.15
    return Diagram(tuple(nodes), tuple(done), tuple(texts), tuple(frames),
                   round(min(b[0] for b in boxes) - margin, 3), round(min(b[1] for b in boxes) - margin, 3),
                   round(max(b[2] for b in boxes) + margin, 3), round(max(b[3] for b in boxes) + margin, 3))


def _half_size(n: Node) -> tuple[float, float]:
    """Half the width and height of a node's outline."""
    if n.shape == "box":
        return (0.4, 0.35)
    if n.shape == "plain":
        return (0.22, 0.22)
    return (NODE_RADIUS, NODE_RADIUS)


def _outline_point(n: Node, toward: Node) -> tuple[float, float]:
    """Where the straight line from n's centre toward another node leaves n's outline."""
    dx, dy = toward.x - n.x, toward.y - n.y
    length = float(np.hypot(dx, dy))
    hw, hh = _half_size(n)
    if n.shape == "circle" or n.shape == "plain":
        t = hw / length
    else:  # a rectangle: the nearer of its vertical and horizontal sides
        t = min(hw / abs(dx) if dx else float("inf"), hh / abs(dy) if dy else float("inf"))
    return (round(n.x + t * dx, 3), round(n.y + t * dy, 3))


def _box_of(n: Node) -> tuple[float, float, float, float]:
    hw, hh = _half_size(n)
    return (n.x - hw, n.y - hh, n.x + hw, n.y + hh)


def label_width(label: Label) -> float:
    return label.chars * LABEL_CHAR + LABEL_PAD


def _label_box(at: tuple[float, float], label: Label) -> tuple[float, float, float, float]:
    w, h = label_width(label), LABEL_HEIGHT
    return (at[0] - w / 2, at[1] - h / 2, at[0] + w / 2, at[1] + h / 2)


def _text_box(t: Text) -> tuple[float, float, float, float]:
    w = t.label.chars * (0.2 if t.size == "normal" else 0.17)
    return (t.x - w / 2, t.y - 0.22, t.x + w / 2, t.y + 0.22)


def _overlap(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    dx = min(a[2], b[2]) - max(a[0], b[0])
    dy = min(a[3], b[3]) - max(a[1], b[1])
    return dx * dy if dx > 0 and dy > 0 else 0.0


# Where along an edge (0 at the source, 1 at the target) a label may sit, in order of preference.
# A quarter of the way: the labels of one source's edges stack in order beside it, one unit
# spacing apart, and stay clear of the middle, where the edges of a full layer cross.
_POSITIONS = (0.25, 0.3, 0.2, 0.35, 0.75, 0.7, 0.8, 0.4, 0.65, 0.6, 0.45, 0.55, 0.5)
_BIAS_POSITIONS = (0.75, 0.7, 0.8, 0.65, 0.6, 0.5, 0.4, 0.3, 0.25)


def _place(a: Node, b: Node, label: Label, placed: list[tuple[float, float, float, float]],
           positions: tuple[float, ...]) -> tuple[float, float]:
    """The first spot along the edge where the label's box overlaps nothing placed before; else the least bad."""
    best, best_overlap = None, float("inf")
    for t in positions:
        at = (round(a.x + t * (b.x - a.x), 3), round(a.y + t * (b.y - a.y), 3))
        box = _label_box(at, label)
        overlap = sum(_overlap(box, p) for p in placed)
        if overlap == 0:
            return at
        if overlap < best_overlap:
            best, best_overlap = at, overlap
    assert best is not None
    return best

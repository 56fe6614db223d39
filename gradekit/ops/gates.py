"""The gates of a computational graph (gradekit.model.circuit), one class per kind, as cs231n teaches
them: each says its forward value, and for each input its local gradient (what it multiplies the
upstream gradient by), in numbers, in LaTeX, as ONNX operators and in SymPy.

The local gradient of an input is written with the values the by-hand rule reads: the add gate
passes the upstream on (1), the multiply gate swaps its inputs (the other input), the max gate
routes to the larger input, exp reads its own output, the sigmoid its output s (1 - s), 1/x
reads x (-1/x^2). gradekit.ops.circuit lays the steps out and sums the branches at a fork.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from gradekit.model.circuit import Node
from gradekit.model.notation import tex_constant
from gradekit.ops.base import Graph
from gradekit.ops.sigmoid import sigmoid

Array = np.ndarray


def _paren(t: str) -> str:
    if t.startswith("(") and t.endswith(")"):
        return t
    return f"({t})" if any(ch in t for ch in "+- ") else t


@dataclass(frozen=True)
class Local:
    """An input's local gradient: the names it reads (beyond the upstream), its value from them,
    its LaTeX from their LaTeX, and None for a local gradient of 1 (the add gate)."""

    reads: tuple[str, ...]
    value: Any  # callable(*values) -> Array, or None for 1
    tex: Any  # callable(*texs) -> str
    words: str  # "the other input", "1", ...


ONE = Local((), None, lambda: "1", "1")


class GateKind:
    """A gate's forward and local gradients (subclasses per kind)."""

    kind: ClassVar[str] = ""
    onnx: ClassVar[str] = ""
    words: ClassVar[str] = ""

    def __init__(self, node: Node):
        self.node = node

    @property
    def inputs(self) -> tuple[str, ...]:
        return self.node.inputs

    @property
    def out(self) -> str:
        return self.node.name

    def f(self, *xs: Array) -> Array:
        raise NotImplementedError

    def formula(self, *args: str) -> str:
        """The forward expression in LaTeX, from its inputs' LaTeX (names or numbers)."""
        raise NotImplementedError

    def local(self, i: int) -> Local:
        raise NotImplementedError

    def graph(self, g: Graph) -> None:
        g.op(self.out, self.onnx, list(self.inputs))

    def local_graph(self, i: int, g: Graph, temp: str) -> str | None:
        """A graph value holding input i's local gradient (None for 1)."""
        raise NotImplementedError

    def symbolic(self, sp: Any, *xs: Any) -> Any:
        raise NotImplementedError


class Add(GateKind):
    kind, onnx, words = "add", "Add", "add gate"

    def f(self, a: Array, b: Array) -> Array:
        return a + b

    def formula(self, a: str, b: str) -> str:
        return f"{a} + {b}"

    def local(self, i: int) -> Local:
        return ONE

    def local_graph(self, i: int, g: Graph, temp: str) -> str | None:
        return None

    def symbolic(self, sp: Any, a: Any, b: Any) -> Any:
        return a + b


class Sub(GateKind):
    kind, onnx, words = "sub", "Sub", "subtract gate"

    def f(self, a: Array, b: Array) -> Array:
        return a - b

    def formula(self, a: str, b: str) -> str:
        return f"{a} - {_paren(b)}"

    def local(self, i: int) -> Local:
        return ONE if i == 0 else Local((), lambda: np.asarray(-1.0), lambda: "(-1)", "-1")

    def local_graph(self, i: int, g: Graph, temp: str) -> str | None:
        return None if i == 0 else g.constant(-1.0)

    def symbolic(self, sp: Any, a: Any, b: Any) -> Any:
        return a - b


class Mul(GateKind):
    kind, onnx, words = "mul", "Mul", "multiply gate"

    def f(self, a: Array, b: Array) -> Array:
        return a * b

    def formula(self, a: str, b: str) -> str:
        return rf"{_paren(a)} \cdot {_paren(b)}"

    def local(self, i: int) -> Local:
        other = self.inputs[1 - i]
        return Local((other,), lambda o: o, lambda o: o, "the other input")

    def local_graph(self, i: int, g: Graph, temp: str) -> str | None:
        return self.inputs[1 - i]

    def symbolic(self, sp: Any, a: Any, b: Any) -> Any:
        return a * b


class _Select(GateKind):
    """max and min: the gradient goes to the input that wins, the other gets 0."""

    better: ClassVar[Any] = np.greater
    compare: ClassVar[str] = "Greater"

    def local(self, i: int) -> Local:
        a, b = self.inputs[i], self.inputs[1 - i]
        better = type(self).better
        sign = ">" if self.kind == "max" else "<"
        return Local((a, b), lambda x, y: better(x, y).astype(float),
                     lambda x, y: rf"\mathbf{{1}}[{x} {sign} {y}]", "1 for the input that wins, 0 for the other")

    def local_graph(self, i: int, g: Graph, temp: str) -> str | None:
        a, b = self.inputs[i], self.inputs[1 - i]
        wins = g.op(temp + "_wins", self.compare, [a, b])
        return g.op(temp, "Cast", [wins], to=11)

    def formula(self, a: str, b: str) -> str:
        return rf"\{self.kind}({a}, {b})"


class Max(_Select):
    kind, onnx, words = "max", "Max", "max gate"
    better = np.greater
    compare = "Greater"

    def f(self, a: Array, b: Array) -> Array:
        return np.maximum(a, b)

    def symbolic(self, sp: Any, a: Any, b: Any) -> Any:
        return sp.Max(a, b)


class Min(_Select):
    kind, onnx, words = "min", "Min", "min gate"
    better = np.less
    compare = "Less"

    def f(self, a: Array, b: Array) -> Array:
        return np.minimum(a, b)

    def symbolic(self, sp: Any, a: Any, b: Any) -> Any:
        return sp.Min(a, b)


class Neg(GateKind):
    kind, onnx, words = "neg", "Neg", "negation"

    def f(self, a: Array) -> Array:
        return -a

    def formula(self, a: str) -> str:
        return f"-{_paren(a)}"

    def local(self, i: int) -> Local:
        return Local((), lambda: np.asarray(-1.0), lambda: "(-1)", "-1")

    def local_graph(self, i: int, g: Graph, temp: str) -> str | None:
        return g.constant(-1.0)

    def symbolic(self, sp: Any, a: Any) -> Any:
        return -a


class Exp(GateKind):
    kind, onnx, words = "exp", "Exp", "exp gate"

    def f(self, a: Array) -> Array:
        return np.exp(a)

    def formula(self, a: str) -> str:
        return f"e^{{{a}}}"

    def local(self, i: int) -> Local:
        return Local((self.out,), lambda q: q, lambda q: q, "its own output e^x")

    def local_graph(self, i: int, g: Graph, temp: str) -> str | None:
        return self.out

    def symbolic(self, sp: Any, a: Any) -> Any:
        return sp.exp(a)


class Log(GateKind):
    kind, onnx, words = "log", "Log", "log gate"

    def f(self, a: Array) -> Array:
        with np.errstate(all="ignore"):
            return np.log(a)

    def formula(self, a: str) -> str:
        return rf"\log {_paren(a)}"

    def local(self, i: int) -> Local:
        x = self.inputs[0]
        return Local((x,), lambda v: 1.0 / v, lambda v: rf"\frac{{1}}{{{v}}}", "1/x")

    def local_graph(self, i: int, g: Graph, temp: str) -> str | None:
        return g.op(temp, "Reciprocal", [self.inputs[0]])

    def symbolic(self, sp: Any, a: Any) -> Any:
        return sp.log(a)


class Sigmoid(GateKind):
    kind, onnx, words = "sigmoid", "Sigmoid", "sigmoid gate"

    def f(self, a: Array) -> Array:
        return sigmoid(np.asarray(a, dtype=float))

    def formula(self, a: str) -> str:
        return rf"\sigma({a})"

    def local(self, i: int) -> Local:
        return Local((self.out,), lambda s: s * (1.0 - s), lambda s: rf"{s} \cdot (1 - {s})", "s(1 - s) at its output s")

    def local_graph(self, i: int, g: Graph, temp: str) -> str | None:
        one_minus = g.op(temp + "_1ms", "Sub", [g.constant(1.0), self.out])
        return g.op(temp, "Mul", [self.out, one_minus])

    def symbolic(self, sp: Any, a: Any) -> Any:
        return 1 / (1 + sp.exp(-a))


class Tanh(GateKind):
    kind, onnx, words = "tanh", "Tanh", "tanh gate"

    def f(self, a: Array) -> Array:
        return np.tanh(a)

    def formula(self, a: str) -> str:
        return rf"\tanh({a})"

    def local(self, i: int) -> Local:
        return Local((self.out,), lambda t: 1.0 - t * t, lambda t: rf"(1 - {_paren(t)}^{{2}})", "1 - t^2 at its output t")

    def local_graph(self, i: int, g: Graph, temp: str) -> str | None:
        sq = g.op(temp + "_sq", "Mul", [self.out, self.out])
        return g.op(temp, "Sub", [g.constant(1.0), sq])

    def symbolic(self, sp: Any, a: Any) -> Any:
        return sp.tanh(a)


class Relu(GateKind):
    kind, onnx, words = "relu", "Relu", "ReLU gate"

    def f(self, a: Array) -> Array:
        return np.maximum(a, 0.0)

    def formula(self, a: str) -> str:
        return rf"\max(0, {a})"

    def local(self, i: int) -> Local:
        x = self.inputs[0]
        return Local((x,), lambda v: (v > 0).astype(float), lambda v: rf"\mathbf{{1}}[{v} > 0]", "1 where x > 0, else 0")

    def local_graph(self, i: int, g: Graph, temp: str) -> str | None:
        pos = g.op(temp + "_pos", "Greater", [self.inputs[0], g.constant(0.0)])
        return g.op(temp, "Cast", [pos], to=11)

    def symbolic(self, sp: Any, a: Any) -> Any:
        return sp.Max(a, 0)


class Square(GateKind):
    kind, onnx, words = "square", "Mul", "square gate"

    def f(self, a: Array) -> Array:
        return a * a

    def formula(self, a: str) -> str:
        return f"{_paren(a)}^{{2}}"

    def graph(self, g: Graph) -> None:
        g.op(self.out, "Mul", [self.inputs[0], self.inputs[0]])

    def local(self, i: int) -> Local:
        x = self.inputs[0]
        return Local((x,), lambda v: 2.0 * v, lambda v: rf"2 \cdot {v}", "2x")

    def local_graph(self, i: int, g: Graph, temp: str) -> str | None:
        return g.op(temp, "Mul", [g.constant(2.0), self.inputs[0]])

    def symbolic(self, sp: Any, a: Any) -> Any:
        return a ** 2


class Recip(GateKind):
    kind, onnx, words = "recip", "Reciprocal", "1/x gate"

    def f(self, a: Array) -> Array:
        with np.errstate(all="ignore"):
            return 1.0 / a

    def formula(self, a: str) -> str:
        return rf"\frac{{1}}{{{a}}}"

    def local(self, i: int) -> Local:
        x = self.inputs[0]
        return Local((x,), lambda v: -1.0 / (v * v), lambda v: rf"\left(-\frac{{1}}{{{_paren(v)}^{{2}}}}\right)", "-1/x^2")

    def local_graph(self, i: int, g: Graph, temp: str) -> str | None:
        sq = g.op(temp + "_sq", "Mul", [self.inputs[0], self.inputs[0]])
        inv = g.op(temp + "_inv", "Reciprocal", [sq])
        return g.op(temp, "Neg", [inv])

    def symbolic(self, sp: Any, a: Any) -> Any:
        return 1 / a


class Scale(GateKind):
    kind, onnx, words = "scale", "Mul", "scale gate"

    @property
    def c(self) -> float:
        return self.node.const

    def f(self, a: Array) -> Array:
        return self.c * a

    def formula(self, a: str) -> str:
        return rf"{tex_constant(self.c) if self.c >= 0 else '(' + tex_constant(self.c) + ')'} \cdot {_paren(a)}"

    def graph(self, g: Graph) -> None:
        g.op(self.out, "Mul", [g.constant(self.c), self.inputs[0]])

    def local(self, i: int) -> Local:
        c = self.c
        text = tex_constant(c)
        return Local((), lambda: np.asarray(c), lambda: text if c >= 0 else f"({text})", f"the constant {c:g}")

    def local_graph(self, i: int, g: Graph, temp: str) -> str | None:
        return g.constant(self.c)

    def symbolic(self, sp: Any, a: Any) -> Any:
        return sp.nsimplify(self.c) * a


class Shift(GateKind):
    kind, onnx, words = "shift", "Add", "shift gate"

    @property
    def c(self) -> float:
        return self.node.const

    def f(self, a: Array) -> Array:
        return a + self.c

    def formula(self, a: str) -> str:
        c = tex_constant(abs(self.c))
        return f"{a} + {c}" if self.c >= 0 else f"{a} - {c}"

    def graph(self, g: Graph) -> None:
        g.op(self.out, "Add", [self.inputs[0], g.constant(self.c)])

    def local(self, i: int) -> Local:
        return ONE

    def local_graph(self, i: int, g: Graph, temp: str) -> str | None:
        return None

    def symbolic(self, sp: Any, a: Any) -> Any:
        return a + sp.nsimplify(self.c)


KINDS: dict[str, type[GateKind]] = {k.kind: k for k in (Add, Sub, Mul, Max, Min, Neg, Exp, Log, Sigmoid, Tanh, Relu,
                                                        Square, Recip, Scale, Shift)}


def gate(node: Node) -> GateKind:
    return KINDS[node.kind](node)

"""What every optimizer step shares, and the network of an optimizer exercise.

An optimizer's step t is one op (gradekit.ops.momentum, .rmsprop, .adam, and plain SGD here): its
quantities (the state v^(t), m^(t), s^(t), Adam's m̂^(t), v̂^(t), then θ^(t)) are each written once
as a small expression tree (`E`) of the step's inputs. The one tree gives the step's function
(NumPy, entry by entry), its formula and worked entry (LaTeX, with symbols or with the numbers),
its ONNX operators (Mul, Add, Sub, Div, Sqrt) for key.json's graph, and its SymPy form for
`gradekit verify`; a catalogued mistake is another tree on the same inputs. So what the sheet
says, what the key holds, what the graph recomputes and what the proof checks cannot drift apart.

Every value is the parameter's shape (rows layout, one "sample"): the state and the updates work
entry by entry.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterator, Mapping

import numpy as np

from gradekit.model import names
from gradekit.model.notation import tex, tex_constant
from gradekit.model.optimizer import Optimizer
from gradekit.ops.base import Builder, Check, Given, Graph, Op, Step, Symbolic
from gradekit.ops.mistakes import Mistake, Values
from gradekit.ops.quality import MARGIN_SLACK, entries
from gradekit.ops.worked import Context, Expr, Worked

Array = np.ndarray

VISIBLE_UNITS = 2.0  # a step must move every entry of θ by this many units of the last decimal shown
ROOT_FLOOR = 0.01  # a root in a denominator (√s, √v̂) below this: ε, not the gradients, decides the step


# --- expressions -------------------------------------------------------------------------------


@dataclass(frozen=True)
class E:
    """An entry-wise expression: a named quantity, a constant (with how the sheet writes it), or
    an operation (add, sub, mul, div, sqrt, sq) of sub-expressions."""

    op: str
    args: tuple[E, ...] = ()
    name: str = ""
    value: float = 0.0
    text: str = ""  # a constant as written: "0.9", "(1 - 0.9)"

    def __add__(self, other: E) -> E:
        return E("add", (self, other))

    def __sub__(self, other: E) -> E:
        return E("sub", (self, other))

    def __mul__(self, other: E) -> E:
        return E("mul", (self, other))

    def __truediv__(self, other: E) -> E:
        return E("div", (self, other))


def q(name: str) -> E:
    return E("name", name=name)


def c(value: float, text: str | None = None) -> E:
    return E("const", value=float(value), text=text if text is not None else tex_constant(value))


def sqrt(e: E) -> E:
    return E("sqrt", (e,))


def sq(e: E) -> E:
    return E("sq", (e,))


def leaves(e: E) -> tuple[str, ...]:
    """The names an expression reads, in order of first use."""
    if e.op == "name":
        return (e.name,)
    out: list[str] = []
    for a in e.args:
        out += [n for n in leaves(a) if n not in out]
    return tuple(dict.fromkeys(out))


def evaluate(e: E, env: Mapping[str, Any], sqrt_fn: Callable[[Any], Any] = np.sqrt,
             const: Callable[[float], Any] = lambda x: x) -> Any:
    """The expression's value from env's values (NumPy arrays, or SymPy numbers with sqrt_fn and const)."""
    if e.op == "name":
        return env[e.name]
    if e.op == "const":
        return const(e.value)
    a = [evaluate(x, env, sqrt_fn, const) for x in e.args]
    if e.op == "add":
        return a[0] + a[1]
    if e.op == "sub":
        return a[0] - a[1]
    if e.op == "mul":
        return a[0] * a[1]
    if e.op == "div":
        return a[0] / a[1]
    if e.op == "sqrt":
        return sqrt_fn(a[0])
    if e.op == "sq":
        return a[0] * a[0]
    if e.op == "abs":  # only in mistakes (a root taken of |m|)
        return abs(a[0])
    raise ValueError(e.op)


def function(e: E, deps: tuple[str, ...]) -> Callable[..., Array]:
    return lambda *values: evaluate(e, dict(zip(deps, values)))


def latex(e: E, leaf: Callable[[str], str], numbers: bool = False) -> str:
    """The expression in LaTeX, each named quantity written by `leaf` (a symbol, an entry, a number)."""
    def sum_like(x: E) -> bool:
        return x.op in ("add", "sub")

    def paren(text: str) -> str:
        return rf"\left({text}\right)"

    if e.op == "name":
        return leaf(e.name)
    if e.op == "const":
        return e.text
    a = [latex(x, leaf, numbers) for x in e.args]
    if e.op == "add":
        return f"{a[0]} + {a[1]}"
    if e.op == "sub":
        return f"{a[0]} - {paren(a[1]) if sum_like(e.args[1]) else a[1]}"
    if e.op == "mul":
        left = paren(a[0]) if sum_like(e.args[0]) else a[0]
        right = paren(a[1]) if sum_like(e.args[1]) else a[1]
        joint = r" \cdot " if numbers or e.args[1].op == "const" else r"\, "
        return f"{left}{joint}{right}"
    if e.op == "div":
        return rf"\frac{{{a[0]}}}{{{a[1]}}}"
    if e.op == "sqrt":
        return rf"\sqrt{{{a[0]}}}"
    if e.op == "sq":
        x = a[0]
        plain = e.args[0].op in ("name", "const") and not any(ch in x for ch in "^_") and not x.startswith("(")
        if e.args[0].op == "name" and x.startswith("(") and x.endswith(")"):
            return f"{x}^{{2}}"  # a negative number, already in parentheses
        return f"{x}^{{2}}" if plain else rf"{paren(x)}^{{2}}"
    raise ValueError(e.op)


# --- one step of an optimizer ------------------------------------------------------------------


@dataclass(frozen=True)
class Part:
    """One quantity of a step: its name, role, expression, and what it is in words."""

    role: str
    name: str
    expr: E
    description: str


@dataclass(frozen=True)
class OptimizerStep(Op):
    """Step t of an optimizer on θ: its parts in order; subclasses say what they are."""

    model: Optimizer
    t: int
    kind = "optimizer_step"

    # -- names --

    @property
    def theta(self) -> str:
        return names.of("theta", self.t)

    @property
    def prev(self) -> str:
        return names.of("theta", self.t - 1)

    @property
    def g(self) -> str:
        return names.of("g", self.t)

    def now(self, base: str) -> str:
        return names.of(base, self.t)

    def before(self, base: str) -> str:
        return names.of(base, self.t - 1)

    @property
    def axes(self) -> Any:
        return "unit" if self.model.vector else "weights"

    # -- the pieces every rule shares --

    def lr(self) -> E:
        return c(self.model.lr)

    def gradient(self, decay: float | None = None) -> E:
        """The gradient the optimizer sees: g^(t), plus λθ^(t-1) under L2 (`decay` overrides λ)."""
        m = self.model
        lam = m.weight_decay if decay is None else decay
        if m.decay != "l2" or lam == 0:
            return q(self.g)
        return E("add", (q(self.g), c(lam) * q(self.prev)))

    def l2_gradient(self, lam: float) -> E:
        return E("add", (q(self.g), c(lam) * q(self.prev)))

    def apply(self, moved: E, sign: str = "sub", decay: float | None = None) -> E:
        """θ^(t) = θ^(t-1) ∓ moved, minus η λ θ^(t-1) under decoupled weight decay."""
        m = self.model
        out = E(sign, (q(self.prev), moved))
        lam = m.weight_decay if decay is None else decay
        if m.decay == "decoupled" and lam:
            out = out - c(m.lr * lam, rf"{tex_constant(m.lr)} \cdot {tex_constant(lam)}") * q(self.prev)
        return out

    def parts(self) -> tuple[Part, ...]:
        raise NotImplementedError

    def part(self, name: str) -> Part:
        return next(p for p in self.parts() if p.name == name)

    def alternatives(self, part: Part) -> Iterator[tuple[str, str, E]]:
        """The catalogued mistakes of one part: (id, words, the wrong expression)."""
        return iter(())

    # -- the trace --

    def given(self) -> tuple[Given, ...]:
        return ()

    def forward(self, b: Builder) -> None:
        for p in self.parts():
            deps = leaves(p.expr)
            b.add(self, p.role, p.name, "update", deps, f"{tex(p.name)} = {latex(p.expr, tex)}",
                  function(p.expr, deps), p.description, self.axes)

    # -- worked entries --

    def worked(self, step: Step, cx: Context) -> Worked | None:
        e = self.part(step.name).expr
        r, col = cx.pick(step.name)
        lines = (Expr((latex(e, lambda n: cx.sym(n, r, col)),)),
                 Expr((latex(e, lambda n: cx.num(n, r, col), numbers=True),)))
        where = f"entry {col + 1}" if self.model.vector else f"row {r + 1}, column {col + 1}"
        return Worked(cx.sym(step.name, r, col), where, lines, cx.result(step.name, r, col))

    # -- grading --

    def mistakes(self, step: Step, v: Values) -> Iterator[Mistake]:
        part = self.part(step.name)
        env = _Env(v)
        seen: set[str] = set()
        for mid, words, wrong in self.alternatives(part):
            if mid in seen:
                continue
            seen.add(mid)
            with np.errstate(all="ignore"):
                value = np.asarray(evaluate(wrong, env), dtype=float)
            yield Mistake(mid, words, value)

    # -- the computation as data, and its proof --

    def graph(self, step: Step, g: Graph) -> None:
        counter = [0]

        def emit(e: E, name: str | None = None) -> str:
            if e.op == "name":
                return e.name
            if e.op == "const":
                return g.constant(e.value)
            ins = [emit(a) for a in e.args]
            if name is None:
                counter[0] += 1
                name = g.temp(step.name, f"{e.op}{counter[0]}")
            op = {"add": "Add", "sub": "Sub", "mul": "Mul", "div": "Div", "sqrt": "Sqrt", "sq": "Mul"}[e.op]
            return g.op(name, op, ins * 2 if e.op == "sq" else ins)

        emit(self.part(step.name).expr, step.name)

    def symbolic(self, s: Symbolic) -> None:
        for p in self.parts():
            def make(p: Part = p) -> Any:
                shape = self.model.shape
                return s.sp.Matrix(shape[0], shape[1], lambda i, j: evaluate(
                    p.expr, {n: s.values[n][i, j] for n in leaves(p.expr)}, s.sp.sqrt, s.exact))
            s.put(p.name, make)

    # -- quality --

    def roots(self) -> tuple[tuple[str, Callable[[Mapping[str, Array]], Array]], ...]:
        """The roots this step divides by, as functions of the values: (what, root)."""
        return ()

    def second_state(self) -> str | None:
        """The given initial average of squared gradients (it must not be negative), if any."""
        base = {"rmsprop": "s", "adam": "v"}.get(self.model.rule)
        return names.of(base, 0) if base and self.t == 1 else None

    def conditioning(self, values: Mapping[str, Array], kink: float, variance: float) -> str | None:
        state = self.second_state()
        if state is not None and np.min(values[state]) < 0:
            return f"the initial average of squared gradients {state} is negative"
        return None

    def checks(self, net: Any, problem: Any) -> tuple[Check, ...]:
        unit = VISIBLE_UNITS * 10.0 ** -problem.decimals
        theta, prev = self.theta, self.prev
        state = self.second_state()
        out = [] if state is None else [
            Check("finite", f"{state}, an average of squared gradients, is negative (its root is not a number)",
                  "given", lambda v: (entries(v[state]) < 0).any(axis=1), group=0)]
        out += [Check("visible_update", f"step {self.t} moves an entry of θ by less than {unit:g}", "answers",
                     lambda v: (entries(np.abs(v[theta] - v[prev])) < unit - MARGIN_SLACK).any(axis=1), group=3)]
        for what, root in self.roots():
            out.append(Check("small_root", f"step {self.t} divides by {what} below {ROOT_FLOOR:g}", "answers",
                             lambda v, root=root: (entries(root(v)) < ROOT_FLOOR - MARGIN_SLACK).any(axis=1), group=3))
        return tuple(out)


class _Env:
    """Values as evaluate() reads them (a gradekit.ops.mistakes.Values, one instance or a stack)."""

    def __init__(self, v: Values):
        self.v = v

    def __getitem__(self, name: str) -> Array:
        return self.v[name]


# --- the words of mistakes every rule shares ------------------------------------------------------


def decay_mistakes(op: OptimizerStep, part: Part, reads_gradient: bool, rebuild: Callable[..., E]) -> Iterator[tuple[str, str, E]]:
    """Weight decay's mistakes in a part: 2λ for λ, λ forgotten, and L2 and decoupled decay mixed up.

    `rebuild(gradient=..., decay=...)` is the part again with another gradient or decoupled λ."""
    m = op.model
    lam = m.weight_decay
    if not lam or m.decay == "none":
        return
    if m.decay == "l2" and reads_gradient:
        yield ("weight_decay_doubled", f"the L2 term was added as 2λθ: the loss's (λ/2)‖θ‖² has gradient λθ, "
               f"so add {lam:g}·θ to the gradient, not {2 * lam:g}·θ", rebuild(gradient=op.l2_gradient(2 * lam)))
        yield ("weight_decay_missing", "the L2 term λθ was not added to the gradient before the optimizer used it",
               rebuild(gradient=q(op.g)))
    if m.decay == "decoupled":
        if part.name == op.theta:
            yield ("weight_decay_doubled", f"the decoupled decay was taken as 2λθ: subtract η·λ·θ = "
                   f"{m.lr:g}·{lam:g}·θ", rebuild(decay=2 * lam))
            yield ("weight_decay_missing", "the decoupled weight decay η·λ·θ was not subtracted from θ",
                   rebuild(decay=0.0))
        if reads_gradient:
            yield ("weight_decay_in_gradient", "decoupled weight decay (AdamW) does not go into the gradient: "
                   "the moments use g alone, and η·λ·θ is subtracted from θ beside the step (L2 and AdamW mixed up)",
                   rebuild(gradient=op.l2_gradient(lam)))


# --- plain SGD ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SgdStep(OptimizerStep):
    """θ^(t) = θ^(t-1) - η g^(t)."""

    kind = "sgd_step"

    def parts(self) -> tuple[Part, ...]:
        return (Part("update", self.theta, self.build(), f"the parameter after step {self.t}"),)

    def build(self, gradient: E | None = None, decay: float | None = None, sign: str = "sub",
              lr: bool = True) -> E:
        g = gradient if gradient is not None else self.gradient()
        return self.apply(self.lr() * g if lr else g, sign, decay)

    def alternatives(self, part: Part) -> Iterator[tuple[str, str, E]]:
        yield ("update_sign", "sign error in the update: gradient descent SUBTRACTS the learning rate times the "
               "gradient", self.build(sign="add"))
        yield ("learning_rate_missing", "the learning rate is missing from the update", self.build(lr=False))
        yield from decay_mistakes(self, part, True, lambda gradient=None, decay=None: self.build(gradient, decay))

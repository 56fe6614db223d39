"""A computational graph's ops: each gate's forward value, and each value's gradient of the output.

The forward step of a gate computes its node (q = x + y). The backward step of a value n (a
gate's output or an input variable) is its gradient of the circuit's output f, written `dn` as
cs231n's code writes it: the sum, over every gate that reads n (a fork has several), of that
gate's upstream gradient times its local gradient for n (gradekit.ops.gates). The output's own
gradient is 1 and is not a step. Backward steps read what the worked solution reads: the
upstream gradients and the values the local gradients are written in.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Iterator

import numpy as np

from gradekit.model import names
from gradekit.model.circuit import Circuit
from gradekit.model.notation import tex
from gradekit.ops.base import Builder, Check, Given, Graph, Op, Step, Symbolic
from gradekit.ops.gates import GateKind, Local, gate
from gradekit.ops.mistakes import Mistake, Values
from gradekit.ops.network import Network
from gradekit.ops.quality import MARGIN_SLACK
from gradekit.ops.worked import Context, Expr, Worked

Array = np.ndarray

TIE = 0.25  # a max or min gate's inputs closer than this: which one wins is not clear at the sheet's decimals
LOG_FLOOR = 0.1  # no log of a number at or below this
RECIP_FLOOR = 0.25  # no 1/x with |x| below this
KINK = 0.05  # a ReLU input within this of 0
SATURATION = {"sigmoid": 4.0, "tanh": 2.5}


@dataclass(frozen=True)
class Term:
    """One branch of a gradient: the gate that reads the value (in input slot `slot`), its upstream
    gradient (None: the gate is the output, whose gradient is 1) and its local gradient."""

    gate: GateKind
    slot: int
    upstream: str | None
    local: Local


class _CircuitOp(Op):
    """What the gradient steps of gates and variables share."""

    circuit: Circuit

    def terms(self, name: str) -> tuple[Term, ...]:
        out = []
        for node in self.circuit.consumers(name):
            g = gate(node)
            up = None if node.name == self.circuit.output else names.grad(node.name)
            for slot, i in enumerate(node.inputs):
                if i == name:
                    out.append(Term(g, slot, up, g.local(slot)))
        return tuple(out)

    def gradient_step(self, b: Builder, name: str, what: str) -> None:
        terms = self.terms(name)
        deps: list[str] = []
        for t in terms:
            for d in ((t.upstream,) if t.upstream else ()) + t.local.reads:
                if d not in deps:
                    deps.append(d)
        if not deps:
            # A gradient that is a constant (a value read only by an output add gate: 1): it reads
            # the value itself for its shape alone (one instance, or a stack of them).
            deps.append(name)
        index = {d: k for k, d in enumerate(deps)}

        def compute(*vals: Array) -> Array:
            return sum((_term_value(t, vals, index) for t in terms), start=np.zeros_like(np.asarray(vals[0], dtype=float)))

        pieces = []
        for t in terms:
            up = tex(t.upstream) if t.upstream else "1"
            pieces.append(rf"{up} \cdot {t.local.tex(*(tex(r) for r in t.local.reads))}")
        formula = f"{tex(names.grad(name))} = " + " + ".join(pieces)
        fork = " (a fork: the branches add)" if len(terms) > 1 else ""
        b.add(self, "gradient", names.grad(name), "backward", tuple(deps), formula, compute,
              f"gradient of the output with respect to {what} {name}{fork}", axes="scalar")

    # -- worked --

    def worked_gradient(self, step: Step, cx: Context) -> Worked:
        name = names.gradient_of(step.name)
        assert name is not None
        sym, num = [], []
        for t in self.terms(name):
            up_s = tex(t.upstream) if t.upstream else "1"
            up_n = cx.num(t.upstream) if t.upstream else "1"
            loc_s = t.local.tex(*(tex(r) for r in t.local.reads))
            loc_n = t.local.tex(*(cx.num(r) for r in t.local.reads))
            sym.append(rf"{up_s} \cdot {loc_s}")
            num.append(rf"{up_n} \cdot {loc_n}")
        return Worked(tex(step.name), "", (Expr(tuple(sym)), Expr(tuple(num))), cx.result(step.name))

    def gradient_notes(self, step: Step, cx: Context) -> tuple[str, ...]:
        name = names.gradient_of(step.name)
        assert name is not None
        terms = self.terms(name)
        out = []
        if len(terms) > 1:
            readers = sorted({t.gate.out for t in terms})
            out.append(rf"${tex(name)}$ is a fork: it feeds {', '.join(f'${tex(r)}$' for r in readers)}, so its "
                       "gradient is the sum of the branches (upstream times local gradient for each).")
        for t in terms:
            if t.gate.kind in ("max", "min"):
                out.append(rf"The {t.gate.kind} gate ${tex(t.gate.out)}$ routes its gradient to the input that wins "
                           "and gives the other 0.")
        return tuple(out)

    # -- mistakes --

    def gradient_mistakes(self, step: Step, v: Values) -> Iterator[Mistake]:
        name = names.gradient_of(step.name)
        assert name is not None
        terms = self.terms(name)
        ups = [np.asarray(v[t.upstream], dtype=float) if t.upstream else np.asarray(1.0) for t in terms]
        locs = [np.asarray(t.local.value(*(v[r] for r in t.local.reads)), dtype=float) if t.local.value else
                np.asarray(1.0) for t in terms]
        values = [u * lo for u, lo in zip(ups, locs)]
        total = sum(values)

        def swap(k: int, term: Array) -> Array:
            return total - values[k] + term

        out: list[Mistake] = []
        if len(terms) > 1:
            for k, t in enumerate(terms):
                out.append(Mistake("fork_overwritten", f"{name} is a fork (it feeds {len(terms)} gates): its gradient "
                                   f"is the SUM of the branches, but only the branch through {t.gate.out} was kept "
                                   "(overwritten instead of added)", values[k] + 0 * total))
        for k, t in enumerate(terms):
            up, x = ups[k], v[name]
            if t.upstream is not None and t.local.value is not None:
                out.append(Mistake("upstream_missing", f"the local gradient of {t.gate.out} was used without the upstream "
                                   f"gradient d{t.gate.out}: multiply them (chain rule)", swap(k, locs[k])))
            kind = t.gate.kind
            if kind == "mul" and t.gate.inputs[0] != t.gate.inputs[1]:
                out.append(Mistake("mul_inputs_not_swapped", f"the multiply gate {t.gate.out} passes each input the "
                                   "OTHER input times the upstream gradient, not the input itself", swap(k, up * x)))
            elif kind in ("max", "min"):
                won = locs[k]
                word = "larger" if kind == "max" else "smaller"
                other = "smaller" if kind == "max" else "larger"
                out.append(Mistake(f"{kind}_routes_to_both", f"the {kind} gate {t.gate.out} routes the gradient only to "
                                   f"its {word} input, not to both", np.where(won > 0, values[k], swap(k, up)) + 0 * total))
                out.append(Mistake(f"{kind}_routes_to_{other}", f"the {kind} gate {t.gate.out} routes the gradient to "
                                   f"its {word} input, not the {other} one", swap(k, up * (1.0 - won))))
            elif kind == "sigmoid":
                s = v[t.gate.out]
                ss = 1.0 / (1.0 + np.exp(-s))
                out.append(Mistake("sigmoid_derivative_at_output", f"the sigmoid's derivative was taken at its output: "
                                   f"with s = {t.gate.out} = sigma(x), the local gradient is s(1 - s), not "
                                   "sigma(s)(1 - sigma(s))", swap(k, up * ss * (1.0 - ss))))
            elif kind == "tanh":
                tt = np.tanh(v[t.gate.out])
                out.append(Mistake("tanh_derivative_at_output", "the tanh's derivative was taken at its output: with "
                                   f"t = {t.gate.out}, the local gradient is 1 - t^2, not 1 - tanh(t)^2",
                                   swap(k, up * (1.0 - tt * tt))))
            elif kind == "recip":
                out.append(Mistake("reciprocal_sign", f"the derivative of 1/x is -1/x^2: the minus sign of {t.gate.out}'s "
                                   "local gradient is missing", swap(k, -values[k])))
            elif kind == "exp":
                out.append(Mistake("exp_derivative_at_input", f"the exp gate's local gradient is its output e^x "
                                   f"({t.gate.out}), not its input x", swap(k, up * x)))
        for m in out:
            if v.stacked or not np.allclose(m.value, total, rtol=0, atol=1e-12):
                yield m

    def graph_gradient(self, step: Step, g: Graph) -> None:
        name = names.gradient_of(step.name)
        assert name is not None
        terms = self.terms(name)
        parts: list[str] = []
        for k, t in enumerate(terms):
            loc = t.gate.local_graph(t.slot, g, g.temp(step.name, f"local{k + 1}"))
            last = len(terms) == 1
            target = step.name if last else g.temp(step.name, f"branch{k + 1}")
            if t.upstream and loc:
                parts.append(g.op(target, "Mul", [t.upstream, loc]))
            elif t.upstream or loc:
                parts.append(g.op(target, "Identity", [t.upstream or loc]))
            elif len(terms) > 1:
                parts.append(g.op(target, "Identity", [g.constant(1.0)]))
            else:  # 1, read off the value itself as the trace's step does (for its shape alone)
                zero = g.op(g.temp(step.name, f"zero{k + 1}"), "Mul", [name, g.constant(0.0)])
                parts.append(g.op(target, "Add", [zero, g.constant(1.0)]))
        acc = parts[0]
        for k, p in enumerate(parts[1:], start=2):
            acc = g.op(step.name if k == len(parts) else g.temp(step.name, f"sum{k}"), "Add", [acc, p])


def _term_value(t: Term, vals: tuple[Array, ...], index: dict[str, int]) -> Array:
    up = vals[index[t.upstream]] if t.upstream else 1.0
    if t.local.value is None:
        return np.asarray(up, dtype=float)
    return up * t.local.value(*(vals[index[r]] for r in t.local.reads))


@dataclass(frozen=True, eq=False)
class Inputs(_CircuitOp):
    """The circuit's input variables: given values, and their gradients (the last backward steps)."""

    circuit: Circuit
    kind = "circuit_inputs"

    def given(self) -> tuple[Given, ...]:
        return tuple(Given(v, (), "scalar", v) for v in self.circuit.variables)

    def backward(self, b: Builder) -> None:
        for v in self.circuit.variables:
            self.gradient_step(b, v, "the input")

    def worked(self, step: Step, cx: Context) -> Worked | None:
        return self.worked_gradient(step, cx)

    def notes(self, step: Step, cx: Context) -> tuple[str, ...]:
        return self.gradient_notes(step, cx)

    def mistakes(self, step: Step, v: Values) -> Iterator[Mistake]:
        return self.gradient_mistakes(step, v)

    def graph(self, step: Step, g: Graph) -> None:
        self.graph_gradient(step, g)


@dataclass(frozen=True, eq=False)
class Gate(_CircuitOp):
    """One gate of the circuit: its forward value, and (unless it is the output) its gradient."""

    circuit: Circuit
    index: int
    kind = "gate"

    @property
    def g(self) -> GateKind:
        return gate(self.circuit.nodes[self.index])

    @property
    def name(self) -> str:
        return self.circuit.nodes[self.index].name

    def forward(self, b: Builder) -> None:
        g = self.g
        formula = f"{tex(self.name)} = {g.formula(*(tex(i) for i in g.inputs))}"
        b.add(self, "forward", self.name, "forward", g.inputs, formula, g.f, f"{g.words} {self.name}", axes="scalar")

    def backward(self, b: Builder) -> None:
        if self.name != self.circuit.output:
            self.gradient_step(b, self.name, "the gate")

    def worked(self, step: Step, cx: Context) -> Worked | None:
        if step.role == "gradient":
            return self.worked_gradient(step, cx)
        g = self.g
        sym = g.formula(*(tex(i) for i in g.inputs))
        num = g.formula(*(cx.num(i, paren=k > 0) for k, i in enumerate(g.inputs)))
        return Worked(tex(step.name), "", (Expr((sym,)), Expr((num,))), cx.result(step.name))

    def notes(self, step: Step, cx: Context) -> tuple[str, ...]:
        return self.gradient_notes(step, cx) if step.role == "gradient" else ()

    def mistakes(self, step: Step, v: Values) -> Iterator[Mistake]:
        if step.role == "gradient":
            yield from self.gradient_mistakes(step, v)
            return
        g = self.g
        if g.kind in ("max", "min"):
            a, c = (v[i] for i in g.inputs)
            wrong = np.minimum(a, c) if g.kind == "max" else np.maximum(a, c)
            yield Mistake(f"{g.kind}_took_other", f"the {g.kind} gate {self.name} took the "
                          f"{'smaller' if g.kind == 'max' else 'larger'} input", wrong)

    def graph(self, step: Step, g: Graph) -> None:
        if step.role == "gradient":
            self.graph_gradient(step, g)
        else:
            self.g.graph(g)

    def symbolic(self, s: Symbolic) -> None:
        g, sp = self.g, s.sp
        args = [s.values[i][0, 0] for i in g.inputs]

        def make() -> Any:
            if g.kind == "relu":
                h = s.indicator(f"h_{self.name}", sp.Matrix([[args[0]]]))[0, 0]
                return sp.Matrix([[h * args[0]]])
            if g.kind in ("max", "min"):
                diff = args[0] - args[1] if g.kind == "max" else args[1] - args[0]
                h = s.indicator(f"h_{self.name}", sp.Matrix([[diff]]))[0, 0]
                return sp.Matrix([[h * args[0] + (1 - h) * args[1]]])
            if g.kind in ("scale", "shift"):
                c = s.exact(self.circuit.nodes[self.index].const)
                return sp.Matrix([[c * args[0] if g.kind == "scale" else args[0] + c]])
            return sp.Matrix([[g.symbolic(sp, *args)]])

        if self.name == self.circuit.output:  # the scalar differentiated, as an MLP's loss
            s.put(self.name, lambda: make()[0, 0])
        else:
            s.put(self.name, make)

    def conditioning(self, values: Any, kink: float, variance: float) -> str | None:
        g = self.g
        xs = [np.asarray(values[i]) for i in g.inputs]
        if g.kind == "relu" and np.any(np.abs(xs[0]) < kink):
            return f"the ReLU input of {self.name} is within {kink} of 0"
        if g.kind in ("max", "min") and np.any(np.abs(xs[0] - xs[1]) < kink):
            return f"the {g.kind} gate {self.name} has a near tie"
        return None

    def checks(self, net: Any, problem: Any) -> Iterable[Check]:
        g, name = self.g, self.name
        ins = g.inputs
        if g.kind in ("max", "min"):
            yield Check("tie", f"the {g.kind} gate {name} has a tie (its inputs within {TIE})", "forward",
                        lambda v: np.abs(v[ins[0]] - v[ins[1]]).reshape(len(v[ins[0]]), -1).max(axis=1)
                        <= TIE + MARGIN_SLACK, group=2)
        if g.kind == "log":
            yield Check("domain", f"the log gate {name} takes a number at or below {LOG_FLOOR}", "forward",
                        lambda v: _flat(v[ins[0]]).min(axis=1) <= LOG_FLOOR + MARGIN_SLACK, group=2)
        if g.kind == "recip":
            yield Check("domain", f"the 1/x gate {name} takes a number within {RECIP_FLOOR} of 0", "forward",
                        lambda v: np.abs(_flat(v[ins[0]])).min(axis=1) <= RECIP_FLOOR + MARGIN_SLACK, group=2)
        if g.kind == "relu":
            yield Check("kink", f"the ReLU gate {name}'s input is within {KINK} of 0", "forward",
                        lambda v: np.abs(_flat(v[ins[0]])).min(axis=1) <= KINK + MARGIN_SLACK, group=2)
        if g.kind in SATURATION:
            limit = SATURATION[g.kind]
            yield Check("saturation", f"the {g.kind} gate {name} is saturated (|input| >= {limit})", "forward",
                        lambda v: np.abs(_flat(v[ins[0]])).max(axis=1) >= limit - MARGIN_SLACK, group=2)


def _flat(value: Array) -> Array:
    value = np.asarray(value, dtype=float)
    return value.reshape(value.shape[0], -1) if value.ndim >= 1 else value.reshape(1, 1)


def circuit_network(circuit: Circuit) -> Network:
    """The ops of a computational graph: its variables, then its gates in computing order."""
    inputs = Inputs(circuit)
    ops: tuple[Op, ...] = (inputs, *(Gate(circuit, k) for k in range(len(circuit.nodes))))
    return Network(circuit, ops, (), inputs.given(), None, circuit.output)

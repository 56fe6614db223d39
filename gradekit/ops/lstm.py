"""One LSTM cell step with a single unit (gradekit.model.lstm): the gates, the cell, and the gradients
through them, with c_t's gradient from h_t and from the next step's cell.

Rows layout: x (1, D), h_{t-1}, c_{t-1} (1, 1), W_x (D, 4), W_h (1, 4), b (1, 4); z (1, 4) with the
columns i, f, o, g. Every function takes a stack of instances too (leading axes).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterator

import numpy as np

from gradekit.model import names
from gradekit.model.notation import tex
from gradekit.ops.base import Builder, Check, Given, Graph, Op, Step, Symbolic
from gradekit.ops.mistakes import Mistake, Values
from gradekit.ops.network import Network
from gradekit.ops.quality import MARGIN_SLACK, entries
from gradekit.ops.sgd import Sgd, rerun
from gradekit.ops.worked import Context, Expr, Worked

Array = np.ndarray

GATES = ("i", "f", "o", "g")  # the columns of z, in order
SATURATION = 2.0  # |z| of a gate beyond this: its derivative nearly vanishes, by hand too
GATE_WORDS = {"i": "input gate", "f": "forget gate", "o": "output gate", "g": "candidate cell value"}


def sig(x: Array) -> Array:
    return 1.0 / (1.0 + np.exp(-x))


def _T(a: Array) -> Array:
    return np.swapaxes(a, -1, -2)


def col(m: Array, k: int) -> Array:
    return m[..., :, k:k + 1]


def _onehot(g: Graph, name: str, k: int, as_row: bool) -> str:
    """The unit vector e_k of the 4 gates, as a graph constant: a row (1 x 4) or a column (4 x 1) of
    the rows layout, written in the problem's layout."""
    rows_shape = [1, 4] if as_row else [4, 1]
    shape = rows_shape if g.unit_axis == 1 else rows_shape[::-1]
    return g.op(g.temp(name, f"e{k}{'r' if as_row else 'c'}"), "Reshape",
                [g.constant([float(i == k) for i in range(4)]), g.constant(shape, "int64")])


@dataclass(frozen=True)
class LstmCell(Op):
    """The cell step: forward z, the gates, c_1, h_1 and the stand-in loss; backward every gradient."""

    model: Any
    kind = "lstm_cell"

    def given(self) -> tuple[Given, ...]:
        d = self.model.inputs
        return (Given("h0", (1, 1), "unit", "h"), Given("c0", (1, 1), "unit", "c"),
                Given("dh1", (1, 1), "unit", "h"), Given("dc2", (1, 1), "unit", "c"), Given("f2", (1, 1), "unit", "f"),
                Given("Wx", (d, 4), "weights", "W"), Given("Wh", (1, 4), "weights", "W"), Given("bz", (1, 4), "unit", "b"))

    # -- the trace --

    def forward(self, b: Builder) -> None:
        rows = b.net.layout == "rows"
        lin = r"x W_{x} + h^{\langle 0\rangle} W_{h} + b_{z}" if rows else r"W_{x} x + W_{h} h^{\langle 0\rangle} + b_{z}"
        b.add(self, "gates_pre", "z1", "forward", ("X", "h0", "Wx", "Wh", "bz"), rf"z^{{\langle 1\rangle}} = {lin}",
              lambda x, h0, wx, wh, bz: x @ wx + h0 @ wh + bz,
              "the gates' pre-activations, in the order i, f, o, g", "unit")
        for k, gate in enumerate(GATES):
            fn: Callable[..., Array] = (lambda z, k=k: np.tanh(col(z, k))) if gate == "g" else (lambda z, k=k: sig(col(z, k)))
            f = r"\tanh" if gate == "g" else r"\sigma"
            b.add(self, "gate", f"{gate}1", "forward", ("z1",), rf"{tex(gate + '1')} = {f}(z^{{\langle 1\rangle}}_{{{gate}}})",
                  fn, GATE_WORDS[gate], "unit")
        b.add(self, "cell", "c1", "forward", ("f1", "c0", "i1", "g1"),
              r"c^{\langle 1\rangle} = f^{\langle 1\rangle} c^{\langle 0\rangle} + i^{\langle 1\rangle} g^{\langle 1\rangle}",
              lambda f, c0, i, g: f * c0 + i * g, "the cell state", "unit")
        b.add(self, "hidden", "h1", "forward", ("o1", "c1"), r"h^{\langle 1\rangle} = o^{\langle 1\rangle} \tanh c^{\langle 1\rangle}",
              lambda o, c: o * np.tanh(c), "the hidden state", "unit")
        b.add(self, "loss", names.LOSS, "loss", ("dh1", "h1", "dc2", "f2", "c1"),
              r"L = dh^{\langle 1\rangle} h^{\langle 1\rangle} + dc^{\langle 2\rangle} f^{\langle 2\rangle} c^{\langle 1\rangle}",
              lambda dh, h, dc, f2, c: np.asarray((dh * h + dc * f2 * c).sum(axis=(-2, -1))),
              "the part of the loss that depends on this cell (its gradients are the given ones)", "scalar")

    def backward(self, b: Builder) -> None:
        rows = b.net.layout == "rows"
        b.add(self, "d_o", "do1", "backward", ("dh1", "c1"), r"do^{\langle 1\rangle} = dh^{\langle 1\rangle} \tanh c^{\langle 1\rangle}",
              lambda dh, c: dh * np.tanh(c), "gradient at the output gate", "unit")
        b.add(self, "d_cell", "dc1", "backward", ("dh1", "o1", "c1", "dc2", "f2"),
              r"dc^{\langle 1\rangle} = dh^{\langle 1\rangle} o^{\langle 1\rangle} \left(1 - \tanh^{2} c^{\langle 1\rangle}\right)"
              r" + dc^{\langle 2\rangle} f^{\langle 2\rangle}",
              lambda dh, o, c, dc, f2: dh * o * (1 - np.tanh(c) ** 2) + dc * f2,
              "gradient at the cell state: through h_1, and from the next step's cell", "unit")
        for gate, other, words in (("i", "g1", "input gate"), ("f", "c0", "forget gate"), ("g", "i1", "candidate")):
            b.add(self, f"d_{gate}", f"d{gate}1", "backward", ("dc1", other),
                  rf"d{tex(gate + '1')} = dc^{{\langle 1\rangle}} {tex(other)}", lambda dc, v: dc * v,
                  f"gradient at the {words}", "unit")
        b.add(self, "d_c0", "dc0", "backward", ("dc1", "f1"), r"dc^{\langle 0\rangle} = dc^{\langle 1\rangle} f^{\langle 1\rangle}",
              lambda dc, f: dc * f, "gradient passed back to the previous cell state", "unit")
        b.add(self, "d_z", "dz1", "backward", ("di1", "df1", "do1", "dg1", "i1", "f1", "o1", "g1"),
              r"dz^{\langle 1\rangle} = \bigl(di\, i(1-i),\ df\, f(1-f),\ do\, o(1-o),\ dg\,(1-g^{2})\bigr)",
              dz_of, "gradient at the gates' pre-activations: σ′ for i, f, o and tanh′ for g", "unit")
        b.add(self, "d_wx", "dWx", "backward", ("X", "dz1"),
              r"dW_{x} = x^{\top} dz^{\langle 1\rangle}" if rows else r"dW_{x} = dz^{\langle 1\rangle} x^{\top}",
              lambda x, dz: _T(x) @ dz, "gradient of the input weights", "weights")
        b.add(self, "d_wh", "dWh", "backward", ("h0", "dz1"),
              r"dW_{h} = (h^{\langle 0\rangle})^{\top} dz^{\langle 1\rangle}" if rows
              else r"dW_{h} = dz^{\langle 1\rangle} (h^{\langle 0\rangle})^{\top}",
              lambda h0, dz: _T(h0) @ dz, "gradient of the recurrent weights", "weights")
        b.add(self, "d_b", "dbz", "backward", ("dz1",), r"db_{z} = dz^{\langle 1\rangle}", lambda dz: dz + 0.0,
              "gradient of the gates' biases", "unit")
        b.add(self, "d_h0", "dh0", "backward", ("dz1", "Wh"),
              r"dh^{\langle 0\rangle} = dz^{\langle 1\rangle} W_{h}^{\top}" if rows
              else r"dh^{\langle 0\rangle} = W_{h}^{\top} dz^{\langle 1\rangle}",
              lambda dz, wh: dz @ _T(wh), "gradient passed back to the previous hidden state", "unit")

    # -- the worked solution --

    def worked(self, step: Step, cx: Context) -> Worked | None:
        name = step.name
        r, c = cx.pick(name)
        n = lambda q, rr=0, cc=0: cx.num(q, rr, cc, paren=False)  # noqa: E731
        s = lambda q, rr=0, cc=0: cx.sym(q, rr, cc)  # noqa: E731
        if step.role == "gates_pre":
            pairs = [(("X", 0, k), ("Wx", k, c)) for k in range(self.model.inputs)] + [(("h0", 0, 0), ("Wh", 0, c))]
            sym, num = cx.product_terms(pairs)
            sym.append(s("bz", 0, c))
            num.append(n("bz", 0, c))
            lines = (Expr(tuple(sym)), Expr(tuple(num)))
        elif step.role == "gate":
            k = GATES.index(name[0])
            f = r"\tanh" if name[0] == "g" else r"\sigma"
            lines = (Expr((rf"{f}({s('z1', 0, k)})",)), Expr((rf"{f}({n('z1', 0, k)})",)))
            if name[0] != "g":  # the sigmoid with its exponential worked out: 1 / (1 + e^{-z})
                e = cx.number(float(np.exp(-cx.at("z1", 0, k))), paren=False)
                lines = (*lines, Expr((rf"\frac{{1}}{{1 + {e}}}",)))
        elif step.role == "cell":
            lines = (Expr((f"{s('f1')} {s('c0')}", f"{s('i1')} {s('g1')}")),
                     Expr((rf"{n('f1')} \cdot {cx.num('c0')}", rf"{n('i1')} \cdot {cx.num('g1')}")))
        elif step.role == "hidden":
            lines = (Expr((rf"{s('o1')} \tanh {s('c1')}",)), Expr((rf"{n('o1')} \cdot \tanh({n('c1')})",)))
        elif step.role == "loss":
            lines = (Expr((f"{s('dh1')} {s('h1')}", f"{s('dc2')} {s('f2')} {s('c1')}")),
                     Expr((rf"{n('dh1')} \cdot {cx.num('h1')}", rf"{n('dc2')} \cdot {cx.num('f2')} \cdot {cx.num('c1')}")))
        elif step.role == "d_o":
            lines = (Expr((rf"{s('dh1')} \tanh {s('c1')}",)), Expr((rf"{n('dh1')} \cdot \tanh({n('c1')})",)))
        elif step.role == "d_cell":
            lines = (Expr((rf"{s('dh1')} {s('o1')} \left(1 - \tanh^{{2}} {s('c1')}\right)", f"{s('dc2')} {s('f2')}")),
                     Expr((rf"{n('dh1')} \cdot {cx.num('o1')} \cdot (1 - \tanh({n('c1')})^{{2}})",
                           rf"{n('dc2')} \cdot {cx.num('f2')}")))
        elif step.role in ("d_i", "d_f", "d_g", "d_c0"):
            other = step.deps[1]
            lines = (Expr((f"{s('dc1')} {s(other)}",)), Expr((rf"{n('dc1')} \cdot {cx.num(other)}",)))
        elif step.role == "d_z":
            gate = GATES[c]
            d, a = f"d{gate}1", f"{gate}1"
            if gate == "g":
                lines = (Expr((rf"{s(d)} \left(1 - ({s(a)})^{{2}}\right)",)), Expr((rf"{n(d)} \cdot (1 - {cx.num(a)}^{{2}})",)))
            else:
                lines = (Expr((rf"{s(d)} {s(a)} (1 - {s(a)})",)), Expr((rf"{n(d)} \cdot {cx.num(a)} \cdot (1 - {n(a)})",)))
        elif step.role in ("d_wx", "d_wh"):
            left = "X" if step.role == "d_wx" else "h0"
            sym, num = cx.product_terms([((left, 0, r), ("dz1", 0, c))]) if cx.rows else \
                cx.product_terms([((left, 0, c), ("dz1", 0, r))])
            lines = (Expr(tuple(sym)), Expr(tuple(num)))
        elif step.role == "d_b":
            lines = (Expr((s("dz1", 0, c),)), Expr((n("dz1", 0, c),)))
        else:  # d_h0
            sym, num = cx.product_terms([(("dz1", 0, k), ("Wh", 0, k)) for k in range(4)])
            lines = (Expr(tuple(sym)), Expr(tuple(num)))
        return Worked(cx.sym(name, r, c), cx.where(name, r, c), lines, cx.result(name, r, c))

    def notes(self, step: Step, cx: Context) -> tuple[str, ...]:
        if step.role == "d_cell":
            return (r"The cell state feeds $h^{\langle 1\rangle}$ and the next step's cell, "
                    r"$c^{\langle 2\rangle} = f^{\langle 2\rangle} c^{\langle 1\rangle} + \dots$: its gradient is the sum "
                    "of both terms.",)
        if step.role == "d_z":
            return (r"The gates i, f, o are sigmoids, $\sigma' = \sigma(1 - \sigma)$; the candidate g is a tanh, "
                    r"$\tanh' = 1 - \tanh^{2}$.",)
        if step.role == "loss":
            return ("Only this cell's part of the loss is written: its gradients at $h^{\\langle 1\\rangle}$ and "
                    "through $c^{\\langle 2\\rangle}$ are the given ones.",)
        return ()

    # -- grading --

    def mistakes(self, step: Step, v: Values) -> Iterator[Mistake]:
        if step.role == "d_cell":
            through_h = v["dh1"] * v["o1"] * (1 - np.tanh(v["c1"]) ** 2)
            yield Mistake("lstm_cell_gradient_from_h_only", "c_t's gradient was taken only from h_t: the cell also "
                          "feeds the next step's cell, which passes back dc_{t+1} f_{t+1}", through_h)
            yield Mistake("lstm_next_forget_gate_missing", "the gradient from the next cell goes through its forget "
                          "gate: dc_{t+1} f_{t+1}, not dc_{t+1} alone", through_h + v["dc2"])
        if step.role == "d_z":
            yield Mistake("lstm_derivatives_swapped", "σ′ and tanh′ were swapped: the gates i, f, o are sigmoids "
                          "(σ(1 − σ)), the candidate g is a tanh (1 − g²)",
                          swapped_dz(v["di1"], v["df1"], v["do1"], v["dg1"], v["i1"], v["f1"], v["o1"], v["g1"]))
        if step.role == "d_o":
            yield Mistake("lstm_tanh_of_cell_missing", "do_t = dh_t tanh(c_t): the output gate multiplies tanh(c_t), "
                          "not c_t", v["dh1"] * v["c1"])

    # -- the computation as data, and its proof --

    def graph(self, step: Step, g: Graph) -> None:
        name = step.name
        one = g.constant(1.0)
        if step.role == "gates_pre":
            xw = g.matmul(g.temp(name, "xw"), "X", "Wx")
            hw = g.matmul(g.temp(name, "hw"), "h0", "Wh")
            g.op(name, "Add", [g.op(g.temp(name, "s"), "Add", [xw, hw]), "bz"])
        elif step.role == "gate":
            k = GATES.index(name[0])
            pick = g.matmul(g.temp(name, "z"), "z1", _onehot(g, name, k, as_row=False))
            g.op(name, "Tanh" if name[0] == "g" else "Sigmoid", [pick])
        elif step.role == "cell":
            g.op(name, "Add", [g.op(g.temp(name, "fc"), "Mul", ["f1", "c0"]), g.op(g.temp(name, "ig"), "Mul", ["i1", "g1"])])
        elif step.role == "hidden":
            g.op(name, "Mul", ["o1", g.op(g.temp(name, "tc"), "Tanh", ["c1"])])
        elif step.role == "loss":
            a = g.op(g.temp(name, "a"), "Mul", ["dh1", "h1"])
            b = g.op(g.temp(name, "b"), "Mul", [g.op(g.temp(name, "df"), "Mul", ["dc2", "f2"]), "c1"])
            g.op(name, "ReduceSum", [g.op(g.temp(name, "s"), "Add", [a, b])], keepdims=0)
        elif step.role == "d_o":
            g.op(name, "Mul", ["dh1", g.op(g.temp(name, "tc"), "Tanh", ["c1"])])
        elif step.role == "d_cell":
            tc = g.op(g.temp(name, "tc"), "Tanh", ["c1"])
            slope = g.op(g.temp(name, "slope"), "Sub", [one, g.op(g.temp(name, "tc2"), "Mul", [tc, tc])])
            via_h = g.op(g.temp(name, "h"), "Mul", [g.op(g.temp(name, "dho"), "Mul", ["dh1", "o1"]), slope])
            g.op(name, "Add", [via_h, g.op(g.temp(name, "next"), "Mul", ["dc2", "f2"])])
        elif step.role in ("d_i", "d_f", "d_g", "d_c0"):
            g.op(name, "Mul", list(step.deps))
        elif step.role == "d_z":
            total = None
            for k, gate in enumerate(GATES):
                a = f"{gate}1"
                if gate == "g":
                    slope = g.op(g.temp(name, f"s{k}"), "Sub", [one, g.op(g.temp(name, f"a2{k}"), "Mul", [a, a])])
                else:
                    slope = g.op(g.temp(name, f"s{k}"), "Mul", [a, g.op(g.temp(name, f"m{k}"), "Sub", [one, a])])
                d = g.op(g.temp(name, f"d{k}"), "Mul", [f"d{a}", slope])
                placed = g.matmul(g.temp(name, f"p{k}"), d, _onehot(g, name, k, as_row=True))
                total = placed if total is None else g.op(g.temp(name, f"acc{k}"), "Add", [total, placed])
            g.op(name, "Identity", [total])
        elif step.role in ("d_wx", "d_wh"):
            left = "X" if step.role == "d_wx" else "h0"
            g.matmul(name, g.transpose(g.temp(name, "t"), left), "dz1")
        elif step.role == "d_b":
            g.op(name, "Identity", ["dz1"])
        else:
            g.matmul(name, "dz1", g.transpose(g.temp(name, "t"), "Wh"))

    def symbolic(self, s: Symbolic) -> None:
        sv, sp = s.values, s.sp
        s.put("z1", lambda: sv["X"] * sv["Wx"] + sv["h0"] * sv["Wh"] + sv["bz"])
        for k, gate in enumerate(GATES):
            fn = sp.tanh if gate == "g" else (lambda e: 1 / (1 + sp.exp(-e)))
            s.put(f"{gate}1", lambda k=k, fn=fn: sp.Matrix([[fn(sv["z1"][0, k])]]))
        s.put("c1", lambda: sv["f1"].multiply_elementwise(sv["c0"]) + sv["i1"].multiply_elementwise(sv["g1"]))
        s.put("h1", lambda: sp.Matrix([[sv["o1"][0, 0] * sp.tanh(sv["c1"][0, 0])]]))
        sv[names.LOSS] = sv["dh1"][0, 0] * sv["h1"][0, 0] + sv["dc2"][0, 0] * sv["f2"][0, 0] * sv["c1"][0, 0]

    def checks(self, net: Any, problem: Any) -> tuple[Check, ...]:
        return (Check("saturation", f"a gate is saturated (|z| >= {SATURATION}: its derivative nearly vanishes)",
                      "forward", lambda v: entries(np.abs(v["z1"])).max(axis=1) >= SATURATION - MARGIN_SLACK, group=1),)


def dz_of(di: Array, df: Array, do: Array, dg: Array, i: Array, f: Array, o: Array, g: Array) -> Array:
    return np.concatenate([di * i * (1 - i), df * f * (1 - f), do * o * (1 - o), dg * (1 - g ** 2)], axis=-1)


def swapped_dz(di: Array, df: Array, do: Array, dg: Array, i: Array, f: Array, o: Array, g: Array) -> Array:
    return np.concatenate([di * (1 - i ** 2), df * (1 - f ** 2), do * (1 - o ** 2), dg * g * (1 - g)], axis=-1)


@dataclass(frozen=True)
class LstmLossAfter(Op):
    """The cell's part of the loss after the update (the step again with the updated weights)."""

    model: Any
    kind = "loss_after"

    def forward(self, b: Builder) -> None:
        forward = b.forward_steps()
        fixed = ("X", "h0", "c0", "dh1", "dc2", "f2")
        params = self.model.parameter_names()

        def after(*vals: Array) -> Array:
            return rerun(forward, {**dict(zip(fixed, vals[:6])), **dict(zip(params, vals[6:]))})[names.LOSS]

        b.add(self, "forward", names.LOSS_NEW, "after", (*fixed, *(names.new(p) for p in params)),
              r"L_{\text{new}} = dh^{\langle 1\rangle} h^{\langle 1\rangle}_{\text{new}} + dc^{\langle 2\rangle} "
              r"f^{\langle 2\rangle} c^{\langle 1\rangle}_{\text{new}}", after,
              "the cell's part of the loss after the update", "scalar")

    def worked(self, step: Step, cx: Context) -> Worked | None:
        given = {n: cx.value(n) for n in ("X", "h0", "c0", "dh1", "dc2", "f2")}
        given.update({p: cx.value(names.new(p)) for p in self.model.parameter_names()})
        out = rerun(cx.forward_steps, given)
        h, c = cx.number(float(out["h1"][0, 0])), cx.number(float(out["c1"][0, 0]))
        lines = (Expr((rf"{cx.num('dh1', paren=False)} \cdot {h}", rf"{cx.num('dc2', paren=False)} \cdot "
                                                                   rf"{cx.num('f2')} \cdot {c}")),)
        return Worked(tex(step.name), "", lines, cx.result(step.name))

    def graph(self, step: Step, g: Graph) -> None:
        g.eval(step.name, names.LOSS, {p: names.new(p) for p in self.model.parameter_names()})


def lstm_network(model: Any) -> Network:
    cell = LstmCell(model)
    given = (Given("X", (1, model.inputs), "batch", "X"), *cell.given())
    params = tuple(g for g in cell.given() if g.name in model.parameter_names())
    return Network(model, (cell,), (Sgd(params, model.learning_rate), LstmLossAfter(model)), given, None)

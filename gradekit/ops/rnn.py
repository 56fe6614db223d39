"""A vanilla RNN unrolled over its time steps (gradekit.model.rnn), and backpropagation through time.

Rows layout (the convention x W_xh + h W_hh): x_t is row t of X, every h_t, z_t, y_t a row.

    forward, for t = 1..T:  z_t = h_{t-1} W_hh + x_t W_xh + b_h,  h_t = tanh(z_t),  y_t = h_t W_hy + b_y
    loss:                   L = scale sum_t sum_k (y_t,k - Y_t,k)^2
    backward, t = T..1:     dy_t = 2 scale (y_t - Y_t)
                            dh_t = dy_t W_hy^T + dz_{t+1} W_hh^T   (the term carried back from step t+1)
                            dz_t = dh_t (1 - h_t^2)
    shared weights:         dW_hh = sum_t h_{t-1}^T dz_t, dW_xh = sum_t x_t^T dz_t, db_h = sum_t dz_t,
                            dW_hy = sum_t h_t^T dy_t, db_y = sum_t dy_t

Every function takes a stack of instances too (leading axes).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator

import numpy as np

from gradekit.model import names
from gradekit.model.notation import tex
from gradekit.ops.base import Builder, Check, Given, Graph, Op, Step, Symbolic
from gradekit.ops.mistakes import Mistake, Values
from gradekit.ops.network import Network
from gradekit.ops.quality import MARGIN_SLACK, entries
from gradekit.ops.losses import one_hot
from gradekit.ops.sgd import Sgd, rerun
from gradekit.ops.softmax import softmax
from gradekit.ops.worked import Context, Expr, Worked, cap

Array = np.ndarray

SATURATION = 2.0  # |z_t| beyond this: a hand-worked tanh is flat and its gradient vanishes


def _T(a: Array) -> Array:
    return np.swapaxes(a, -1, -2)


def row(m: Array, k: int) -> Array:
    """Row k (0-based) of a matrix, kept as a (1, n) row: x_t of X, the target of Y."""
    return m[..., k:k + 1, :]


def h(t: int) -> str:
    return names.of("h", t)


def z(t: int) -> str:
    return names.of("z", t)


def y(t: int) -> str:
    return names.of("y", t)


def p(t: int) -> str:
    """The softmax probabilities of step t (cross-entropy outputs)."""
    return names.of("p", t)


def _pick_row(g: Graph, name: str, of: str, k: int, rows: int) -> str:
    """Row k of `of` (column k in the columns layout) as a graph step: a one-hot vector times it."""
    shape = [1, rows] if g.unit_axis == 1 else [rows, 1]
    onehot = g.op(g.temp(name, f"e{k}"), "Reshape", [g.constant([float(i == k) for i in range(rows)]),
                                                       g.constant(shape, "int64")])
    return g.matmul(g.temp(name, f"{of}{k}"), onehot, of)


# --- the forward pass of one time step, and the backward pass through it ------------------------------


@dataclass(frozen=True)
class RnnStep(Op):
    """Time step t: z_t, h_t (and y_t when the step has an output); backward dh_t and dz_t."""

    t: int
    model: Any  # gradekit.model.rnn.Rnn
    kind = "rnn_step"

    @property
    def prev(self) -> str | None:
        """h_{t-1}, or None at t = 1 when h_0 = 0."""
        return h(self.t - 1) if self.t > 1 or self.model.h0 == "given" else None

    @property
    def output(self) -> bool:
        return self.t in self.model.output_steps

    @property
    def target_row(self) -> int:
        return self.model.output_steps.index(self.t)

    @property
    def last(self) -> bool:
        return self.t == self.model.steps

    def given(self) -> tuple[Given, ...]:
        return ()

    # -- the trace --

    def _z_fn(self):  # noqa: ANN202
        k = self.t - 1
        if self.prev is None:
            return lambda x, wxh, bh: row(x, k) @ wxh + bh
        return lambda hp, x, whh, wxh, bh: hp @ whh + row(x, k) @ wxh + bh

    def forward(self, b: Builder) -> None:
        m, t, rows = self.model, self.t, b.net.layout == "rows"
        x = rf"x^{{\langle {t}\rangle}}"
        xw = f"{x} W_{{xh}}" if rows else f"W_{{xh}} {x}"
        deps: tuple[str, ...] = ("X", "Wxh", "bh")
        formula = f"{tex(z(t))} = {xw} + b_{{h}}"
        if self.prev is not None:
            hw = f"{tex(self.prev)} W_{{hh}}" if rows else f"W_{{hh}} {tex(self.prev)}"
            formula = f"{tex(z(t))} = {hw} + {xw} + b_{{h}}"
            deps = (self.prev, "X", "Whh", "Wxh", "bh")
        where = "" if self.prev is not None or t > 1 else " (h0 = 0: no recurrent term)"
        b.add(self, "pre_activation", z(t), "forward", deps, formula, self._z_fn(),
              f"pre-activation of the hidden state at step {t}{where}", "unit")
        if m.activation == "tanh":
            b.add(self, "hidden", h(t), "forward", (z(t),), rf"{tex(h(t))} = \tanh({tex(z(t))})", np.tanh,
                  f"hidden state at step {t}", "unit")
        else:
            b.add(self, "hidden", h(t), "forward", (z(t),), f"{tex(h(t))} = {tex(z(t))}", lambda v: v + 0.0,
                  f"hidden state at step {t} (linear activation)", "unit")
        if self.output:
            hw = f"{tex(h(t))} W_{{hy}}" if rows else f"W_{{hy}} {tex(h(t))}"
            b.add(self, "output", y(t), "forward", (h(t), "Why", "by"), f"{tex(y(t))} = {hw} + b_{{y}}",
                  lambda hh, why, by: hh @ why + by, f"output at step {t}", "unit")
        if self.output and m.classifies:
            b.add(self, "probability", p(t), "forward", (y(t),),
                  rf"{tex(p(t))}_{{k}} = \frac{{e^{{{tex(y(t))}_{{k}}}}}}{{\sum_{{j}} e^{{{tex(y(t))}_{{j}}}}}}",
                  softmax, f"class probabilities at step {t} (softmax of the output)", "unit")

    def _dh_parts(self) -> tuple[tuple[str, ...], str]:
        deps: list[str] = []
        if self.output:
            deps += [names.grad(y(self.t)), "Why"]
        if not self.last:
            deps += [names.grad(z(self.t + 1)), "Whh"]
        return tuple(deps), ""

    def _dh_fn(self):  # noqa: ANN202
        if self.output and not self.last:
            return lambda dy, why, dz, whh: dy @ _T(why) + dz @ _T(whh)
        if self.output:
            return lambda dy, why: dy @ _T(why)
        return lambda dz, whh: dz @ _T(whh)

    def backward(self, b: Builder) -> None:
        t, rows = self.t, b.net.layout == "rows"
        deps, _ = self._dh_parts()
        terms = []
        if self.output:
            dy = tex(names.grad(y(t)))
            terms.append(f"{dy} W_{{hy}}^{{\\top}}" if rows else f"W_{{hy}}^{{\\top}} {dy}")
        if not self.last:
            dz = tex(names.grad(z(t + 1)))
            terms.append(f"{dz} W_{{hh}}^{{\\top}}" if rows else f"W_{{hh}}^{{\\top}} {dz}")
        carried = "" if self.last else f", with the term carried back from step {t + 1}"
        b.add(self, "d_hidden", names.grad(h(t)), "backward", deps, f"{tex(names.grad(h(t)))} = {' + '.join(terms)}",
              self._dh_fn(), f"gradient at the hidden state of step {t}{carried}", "unit")
        dh, dz_name = names.grad(h(t)), names.grad(z(t))
        if self.model.activation == "tanh":
            b.add(self, "d_pre_activation", dz_name, "backward", (dh, h(t)),
                  rf"{tex(dz_name)} = {tex(dh)} \odot \left(1 - {tex(h(t))} \odot {tex(h(t))}\right)",
                  lambda d, hh: d * (1.0 - hh ** 2), f"gradient at the pre-activation of step {t}", "unit")
        else:
            b.add(self, "d_pre_activation", dz_name, "backward", (dh,), f"{tex(dz_name)} = {tex(dh)}",
                  lambda d: d + 0.0, f"gradient at the pre-activation of step {t} (linear activation)", "unit")

    # -- the worked solution --

    def worked(self, step: Step, cx: Context) -> Worked | None:
        name, t = step.name, self.t
        r, c = cx.pick(name)
        if step.role == "pre_activation":
            pairs = []
            if self.prev is not None:
                pairs += [((self.prev, 0, i), ("Whh", i, c)) for i in range(self.model.hidden)]
            pairs += [(("X", t - 1, i), ("Wxh", i, c)) for i in range(self.model.inputs)]
            sym, num = cx.product_terms(pairs)
            sym.append(cx.sym("bh", 0, c))
            num.append(cx.num("bh", 0, c, paren=False))
            lines = (Expr(cap(sym)), Expr(cap(num)))
        elif step.role == "hidden":
            zs, zn = cx.sym(z(t), 0, c), cx.num(z(t), 0, c, paren=False)
            lines = ((Expr((rf"\tanh {zs}",)), Expr((rf"\tanh({zn})",))) if self.model.activation == "tanh"
                     else (Expr((zs,)), Expr((zn,))))
        elif step.role == "probability":
            ks = range(self.model.outputs)
            den_s = " + ".join(rf"e^{{{cx.sym(y(t), 0, k)}}}" for k in ks)
            den_n = " + ".join(rf"e^{{{cx.num(y(t), 0, k, paren=False)}}}" for k in ks)
            lines = (Expr((rf"\frac{{e^{{{cx.sym(y(t), 0, c)}}}}}{{{den_s}}}",)),
                     Expr((rf"\frac{{e^{{{cx.num(y(t), 0, c, paren=False)}}}}}{{{den_n}}}",)))
        elif step.role == "output":
            pairs = [((h(t), 0, i), ("Why", i, c)) for i in range(self.model.hidden)]
            sym, num = cx.product_terms(pairs)
            sym.append(cx.sym("by", 0, c))
            num.append(cx.num("by", 0, c, paren=False))
            lines = (Expr(cap(sym)), Expr(cap(num)))
        elif step.role == "d_hidden":
            pairs = []
            if self.output:
                pairs += [((names.grad(y(t)), 0, k), ("Why", c, k)) for k in range(self.model.outputs)]
            if not self.last:
                pairs += [((names.grad(z(t + 1)), 0, k), ("Whh", c, k)) for k in range(self.model.hidden)]
            sym, num = cx.product_terms(pairs)
            lines = (Expr(cap(sym)), Expr(cap(num)))
        else:
            dh = names.grad(h(t))
            ds, dn = cx.sym(dh, 0, c), cx.num(dh, 0, c, paren=False)
            if self.model.activation == "tanh":
                hs, hn = cx.sym(h(t), 0, c), cx.num(h(t), 0, c)
                lines = (Expr((rf"{ds} \left(1 - ({hs})^{{2}}\right)",)), Expr((rf"{dn} \cdot (1 - {hn}^{{2}})",)))
            else:
                lines = (Expr((ds,)), Expr((dn,)))
        return Worked(cx.sym(name, r, c), cx.where(name, r, c), lines, cx.result(name, r, c))

    def notes(self, step: Step, cx: Context) -> tuple[str, ...]:
        t = self.t
        if step.role == "pre_activation" and self.prev is None:
            return (r"With $h^{\langle 0\rangle} = 0$ the first step has no recurrent term.",)
        if step.role == "probability":
            return (rf"Each step's probabilities are a softmax over the {self.model.outputs} classes: "
                    rf"they sum to 1.",)
        if step.role == "d_hidden" and not self.last:
            carried = rf"${tex(names.grad(z(t + 1)))}$ through $W_{{hh}}$"
            own = rf"the output's own ${tex(names.grad(y(t)))}$ through $W_{{hy}}$ and " if self.output else ""
            return (rf"Step {t}'s hidden state feeds {'its output and ' if self.output else ''}the next step, "
                    rf"so its gradient is {own}the term carried back from step {t + 1}, {carried}.",)
        if step.role == "d_hidden":
            return ("The last step's hidden state feeds only its output: nothing is carried back from later.",)
        return ()

    # -- grading --

    def mistakes(self, step: Step, v: Values) -> Iterator[Mistake]:
        t = self.t
        if step.role == "d_hidden" and not self.last:
            dz = v[names.grad(z(t + 1))]
            own = v[names.grad(y(t))] @ _T(v["Why"]) if self.output else np.zeros_like(v[step.name])
            yield Mistake("rnn_carried_term_dropped", f"the gradient carried back from step {t + 1} (dz_{t + 1} "
                          f"through W_hh) was dropped: h_{t} also feeds step {t + 1}", own)
            if self.model.hidden > 1:
                yield Mistake("rnn_whh_not_transposed", "W_hh is not transposed on the way back: the gradient "
                              "goes back through W_hh^T", own + dz @ v["Whh"])
        if step.role == "d_hidden" and self.output and self.model.hidden > 1 and self.model.outputs > 1:
            yield Mistake("rnn_why_not_transposed", "W_hy is not transposed on the way back", v[step.name]
                          - v[names.grad(y(t))] @ _T(v["Why"]) + v[names.grad(y(t))] @ v["Why"])
        if step.role == "d_pre_activation" and self.model.activation == "tanh":
            dh = v[names.grad(h(t))]
            yield Mistake("rnn_tanh_derivative_of_preactivation", f"the tanh derivative is 1 - h_{t}^2 with "
                          f"h_{t} = tanh(z_{t}), not 1 - z_{t}^2", dh * (1 - v[z(t)] ** 2))
            yield Mistake("rnn_tanh_derivative_at_activation", f"the tanh derivative was taken at the output h_{t}: "
                          f"1 - tanh(h_{t})^2 where 1 - h_{t}^2 = 1 - tanh(z_{t})^2 was meant",
                          dh * (1 - np.tanh(v[h(t)]) ** 2))

    # -- the computation as data, and its proof --

    def graph(self, step: Step, g: Graph) -> None:
        t = self.t
        if step.role == "pre_activation":
            x = _pick_row(g, step.name, "X", t - 1, self.model.steps)
            s = g.op(g.temp(step.name, "xw"), "Add", [g.matmul(g.temp(step.name, "xwm"), x, "Wxh"), "bh"])
            if self.prev is not None:
                s = g.op(g.temp(step.name, "sum"), "Add", [g.matmul(g.temp(step.name, "hw"), self.prev, "Whh"), s])
            g.op(step.name, "Identity", [s])
        elif step.role == "hidden":
            g.op(step.name, "Tanh" if self.model.activation == "tanh" else "Identity", [z(t)])
        elif step.role == "output":
            g.op(step.name, "Add", [g.matmul(g.temp(step.name, "hw"), h(t), "Why"), "by"])
        elif step.role == "probability":
            g.op(step.name, "Softmax", [y(t)], axis=g.unit_axis)
        elif step.role == "d_hidden":
            terms = []
            if self.output:
                terms.append((y(t), names.grad(y(t))))
            if not self.last:
                terms.append((z(t + 1), names.grad(z(t + 1))))
            g.grad(step.name, h(t), terms)
        elif self.model.activation == "tanh":
            square = g.op(g.temp(step.name, "h2"), "Mul", [h(t), h(t)])
            slope = g.op(g.temp(step.name, "slope"), "Sub", [g.constant(1.0), square])
            g.op(step.name, "Mul", [names.grad(h(t)), slope])
        else:
            g.op(step.name, "Identity", [names.grad(h(t))])

    def symbolic(self, s: Symbolic) -> None:
        t, sv = self.t, s.values

        def pre() -> Any:
            out = sv["X"][t - 1:t, :] * sv["Wxh"] + sv["bh"]
            return out + sv[self.prev] * sv["Whh"] if self.prev is not None else out

        s.put(z(t), pre)
        s.put(h(t), lambda: sv[z(t)].applyfunc(s.sp.tanh) if self.model.activation == "tanh" else sv[z(t)])
        if self.output:
            s.put(y(t), lambda: sv[h(t)] * sv["Why"] + sv["by"])
        if self.output and self.model.classifies:
            def probs() -> Any:
                e = sv[y(t)].applyfunc(s.sp.exp)
                return e / sum(e)

            s.put(p(t), probs)

    # -- quality --

    def checks(self, net: Any, problem: Any) -> tuple[Check, ...]:
        if self.model.activation != "tanh":
            return ()
        name = z(self.t)
        return (Check("saturation", f"step {self.t}'s tanh is saturated (|z| >= {SATURATION}: gradients vanish)",
                      "forward", lambda v: entries(np.abs(v[name])).max(axis=1) >= SATURATION - MARGIN_SLACK,
                      group=1),)


# --- the loss over the output steps ----------------------------------------------------------------


@dataclass(frozen=True)
class RnnLoss(Op):
    """L = scale sum over the output steps of the squared error; backward dy_t = 2 scale (y_t - Y_t)."""

    model: Any
    kind = "mse"  # gradekit.ops.mistakes reads kind, halved and reduction off the network's loss

    @property
    def halved(self) -> bool:
        return self.model.half

    @property
    def reduction(self) -> str:
        return self.model.reduction

    @property
    def count(self) -> int:
        return len(self.model.output_steps)

    def scale(self) -> float:
        return (0.5 if self.halved else 1.0) / (self.count if self.reduction == "mean" else 1)

    def scale_tex(self, factor: int = 1) -> str:
        from fractions import Fraction

        f = Fraction(factor) * Fraction(1, 2 if self.halved else 1) / (self.count if self.reduction == "mean" else 1)
        if f == 1:
            return ""
        return str(f.numerator) if f.denominator == 1 else rf"\frac{{{f.numerator}}}{{{f.denominator}}}"

    def given(self) -> tuple[Given, ...]:
        return (Given("Y", (self.count, self.model.outputs), "batch", "Y"),)

    def value(self, ys: tuple[Array, ...], target: Array) -> Array:
        total = sum(((yt - row(target, k)) ** 2).sum(axis=(-2, -1)) for k, yt in enumerate(ys))
        return np.asarray(self.scale() * total)

    def formula(self, b: Builder, name: str) -> str:
        out = r"y^{\langle t\rangle}"
        if name == names.LOSS_NEW:
            out = rf"\left({out}_{{\text{{new}}}}\right)"
        steps = ",".join(str(t) for t in self.model.output_steps)
        return (rf"{tex(name)} = {self.scale_tex()} \sum_{{t \in \{{{steps}\}}}} \sum_{{k}} "
                rf"\left({out}_{{k}} - Y^{{\langle t\rangle}}_{{k}}\right)^{{2}}")

    def forward(self, b: Builder) -> None:
        outs = tuple(y(t) for t in self.model.output_steps)
        b.add(self, "forward", names.LOSS, "loss", (*outs, "Y"), self.formula(b, names.LOSS),
              lambda *a: self.value(a[:-1], a[-1]), "loss, summed over the output steps"
              if self.reduction == "sum" else "loss, averaged over the output steps", "scalar")

    def backward(self, b: Builder) -> None:
        scale2 = 2.0 * self.scale()
        for k, t in reversed(list(enumerate(self.model.output_steps))):
            b.add(self, "d_output", names.grad(y(t)), "backward", (y(t), "Y"),
                  rf"{tex(names.grad(y(t)))} = {self.scale_tex(2)} \left({tex(y(t))} - Y^{{\langle {t}\rangle}}\right)",
                  lambda yt, target, k=k: scale2 * (yt - row(target, k)),
                  f"gradient of the loss with respect to the output of step {t}", "unit")

    def terms(self, cx: Context, value: Any) -> tuple[list[str], list[str]]:
        sym, num = [], []
        for k, t in enumerate(self.model.output_steps):
            for j in range(self.model.outputs):
                sym.append(rf"\left({cx.sym(y(t), 0, j)} - {cx.sym('Y', k, j)}\right)^{{2}}")
                num.append(rf"({cx.number(value(t, j), paren=False)} - {cx.num('Y', k, j, paren=False)})^{{2}}")
        return sym, num

    def worked_loss(self, cx: Context, name: str, value: Any) -> Worked:
        sym, num = self.terms(cx, value)
        scale = self.scale_tex()
        before, after = (rf"{scale}\bigl(", r"\bigr)") if scale else ("", "")
        return Worked(tex(name), "", (Expr(cap(sym), before, after), Expr(cap(num), before, after)), cx.result(name))

    def worked(self, step: Step, cx: Context) -> Worked | None:
        if step.role == "forward":
            return self.worked_loss(cx, step.name, lambda t, j: cx.at(y(t), 0, j))
        t = int(names.parse(step.name).index)
        k = self.model.output_steps.index(t)
        r, c = cx.pick(step.name)
        s = self.scale_tex(2)
        pre, times = (f"{s} ", rf"{s} \cdot ") if s else ("", "")
        lines = (Expr((rf"{pre}\left({cx.sym(y(t), 0, c)} - {cx.sym('Y', k, c)}\right)",)),
                 Expr((rf"{times}({cx.num(y(t), 0, c, paren=False)} - {cx.num('Y', k, c, paren=False)})",)))
        return Worked(cx.sym(step.name, r, c), cx.where(step.name, r, c), lines, cx.result(step.name, r, c))

    def notes(self, step: Step, cx: Context) -> tuple[str, ...]:
        if step.role != "d_output":
            return ()
        out = []
        if self.reduction == "mean" and self.count > 1:
            out.append(rf"The loss is averaged over the {self.count} output steps: the $\frac{{1}}{{{self.count}}}$ "
                       "enters here, once.")
        if self.halved:
            out.append(r"The $\frac{1}{2}$ in the loss cancels the 2 from differentiating the square.")
        return tuple(out) or ("Each output step's error enters the loss once, so each gets its own gradient.",)

    def mistakes(self, step: Step, v: Values) -> Iterator[Mistake]:
        if step.role == "d_output" and self.reduction == "mean" and self.count > 1:
            yield Mistake("rnn_mean_over_steps_missing", f"off by a factor of {self.count}: the loss is the MEAN over "
                          f"the {self.count} output steps", v[step.name] * self.count)

    def graph(self, step: Step, g: Graph) -> None:
        rows = self.count
        if step.role == "forward":
            parts = []
            for k, t in enumerate(self.model.output_steps):
                target = _pick_row(g, step.name, "Y", k, rows)
                d = g.op(g.temp(step.name, f"d{k}"), "Sub", [y(t), target])
                sq = g.op(g.temp(step.name, f"sq{k}"), "Mul", [d, d])
                parts.append(g.op(g.temp(step.name, f"s{k}"), "ReduceSum", [sq], keepdims=0))
            total = parts[0]
            for k, p in enumerate(parts[1:], start=1):
                total = g.op(g.temp(step.name, f"acc{k}"), "Add", [total, p])
            g.op(step.name, "Mul", [total, g.constant(self.scale())])
        else:
            t = int(names.parse(step.name).index)
            g.grad(step.name, y(t), [(names.LOSS, 1)])

    def symbolic(self, s: Symbolic) -> None:
        target = s.values["Y"]
        total = 0
        for k, t in enumerate(self.model.output_steps):
            out = s.values[y(t)]
            total += sum((out[0, j] - target[k, j]) ** 2 for j in range(self.model.outputs))
        factor = (s.sp.Rational(1, 2) if self.halved else 1) * (
            s.sp.Rational(1, self.count) if self.reduction == "mean" else 1)
        s.values[names.LOSS] = factor * total


@dataclass(frozen=True)
class RnnCrossEntropy(RnnLoss):
    """L = -scale sum over the output steps of log p_t[label_t], p_t = softmax(y_t);
    backward dy_t = scale (p_t - onehot(label_t)), the softmax and the log folded together."""

    kind = "cross_entropy"

    def given(self) -> tuple[Given, ...]:
        return (Given("Y", (self.count,), "labels", "Y", labels=self.model.outputs),)

    def value(self, ps: tuple[Array, ...], target: Array) -> Array:
        labels = np.asarray(target).astype(int)
        total = sum(-np.log(np.take_along_axis(pt[..., 0, :], labels[..., k:k + 1], axis=-1)[..., 0])
                    for k, pt in enumerate(ps))
        return np.asarray(self.scale() * total)

    def formula(self, b: Builder, name: str) -> str:
        out = r"p^{\langle t\rangle}"
        if name == names.LOSS_NEW:
            out = rf"\left({out}_{{\text{{new}}}}\right)"
        steps = ",".join(str(t) for t in self.model.output_steps)
        return rf"{tex(name)} = -{self.scale_tex()} \sum_{{t \in \{{{steps}\}}}} \log {out}_{{y_t}}"

    def forward(self, b: Builder) -> None:
        outs = tuple(p(t) for t in self.model.output_steps)
        b.add(self, "forward", names.LOSS, "loss", (*outs, "Y"), self.formula(b, names.LOSS),
              lambda *a: self.value(a[:-1], a[-1]), "cross-entropy, summed over the output steps"
              if self.reduction == "sum" else "cross-entropy, averaged over the output steps", "scalar")

    def backward(self, b: Builder) -> None:
        scale, k_classes = self.scale(), self.model.outputs
        for k, t in reversed(list(enumerate(self.model.output_steps))):
            b.add(self, "d_output", names.grad(y(t)), "backward", (p(t), "Y"),
                  rf"{tex(names.grad(y(t)))} = {self.scale_tex()} \left({tex(p(t))} - \mathrm{{onehot}}(y_{{{t}}})\right)",
                  lambda pt, target, k=k: scale * (pt - one_hot(np.asarray(target)[..., k:k + 1], k_classes)),
                  f"gradient of the loss with respect to the output of step {t} (softmax and cross-entropy together)",
                  "unit")

    def label(self, cx: Context, k: int) -> int:
        return int(round(float(np.ravel(cx.value("Y"))[k])))

    def terms(self, cx: Context, value: Any) -> tuple[list[str], list[str]]:
        sym, num = [], []
        for k, t in enumerate(self.model.output_steps):
            c = self.label(cx, k)
            sym.append(rf"\log {cx.sym(p(t), 0, c)}")
            num.append(rf"\log {cx.number(value(t, c))}")
        return sym, num

    def worked_loss(self, cx: Context, name: str, value: Any) -> Worked:
        sym, num = self.terms(cx, value)
        scale = self.scale_tex()
        before, after = rf"-{scale}\bigl(", r"\bigr)"
        return Worked(tex(name), "", (Expr(cap(sym), before, after), Expr(cap(num), before, after)), cx.result(name))

    def worked(self, step: Step, cx: Context) -> Worked | None:
        if step.role == "forward":
            return self.worked_loss(cx, step.name, lambda t, j: cx.at(p(t), 0, j))
        t = int(names.parse(step.name).index)
        k = self.model.output_steps.index(t)
        r, c = cx.pick(step.name)
        s = self.scale_tex()
        pre, times = (f"{s} ", rf"{s} \cdot ") if s else ("", "")
        hot = 1 if c == self.label(cx, k) else 0
        lines = (Expr((rf"{pre}\left({cx.sym(p(t), 0, c)} - [{c} = y_{{{t}}}]\right)",)),
                 Expr((rf"{times}({cx.num(p(t), 0, c, paren=False)} - {hot})",)))
        return Worked(cx.sym(step.name, r, c), cx.where(step.name, r, c), lines, cx.result(step.name, r, c))

    def notes(self, step: Step, cx: Context) -> tuple[str, ...]:
        if step.role == "forward":
            return ("Only each step's probability of its true class enters the loss. Classes are numbered from 0 "
                    r"and columns from 1: class $y_t$ is column $y_t + 1$.",)
        out = [r"The softmax and the cross-entropy together differentiate to $p^{\langle t\rangle} - "
               r"\mathrm{onehot}(y_t)$: the probabilities, minus 1 at the true class."]
        if self.reduction == "mean" and self.count > 1:
            out.append(rf"The loss is averaged over the {self.count} output steps: the $\frac{{1}}{{{self.count}}}$ "
                       "enters here, once.")
        return tuple(out)

    def mistakes(self, step: Step, v: Values) -> Iterator[Mistake]:
        if step.role != "d_output":
            return
        t = int(names.parse(step.name).index)
        yield Mistake("rnn_ce_onehot_not_subtracted", f"the one-hot of step {t}'s label was not subtracted: "
                      f"dy_{t} = p_{t} - onehot(y_{t})", self.scale() * v[p(t)])
        if self.reduction == "mean" and self.count > 1:
            yield Mistake("rnn_mean_over_steps_missing", f"off by a factor of {self.count}: the loss is the MEAN over "
                          f"the {self.count} output steps", v[step.name] * self.count)

    def _onehot(self, step: Step, g: Graph) -> str:
        labels = g.op(g.temp(step.name, "labels"), "Cast", ["Y"], to=7)  # TensorProto.INT64
        return g.op(g.temp(step.name, "onehot"), "OneHot", [labels, g.constant([self.model.outputs], "int64"),
                                                             g.constant([0.0, 1.0])], axis=-1 if g.unit_axis == 1 else 0)

    def graph(self, step: Step, g: Graph) -> None:
        hot = self._onehot(step, g)
        if step.role != "forward":
            # dy_t = scale (p_t - onehot(y_t)), read from p_t and the label as the step reads them (a
            # student's p_t graded by follow-through); the op contract's finite differences of the
            # loss check the folding of the softmax into the loss
            t = int(names.parse(step.name).index)
            target = _pick_row(g, step.name, hot, self.model.output_steps.index(t), self.count)
            diff = g.op(g.temp(step.name, "PmY"), "Sub", [p(t), target])
            g.op(step.name, "Mul", [diff, g.constant(self.scale())])
            return
        total = None
        for k, t in enumerate(self.model.output_steps):
            target = _pick_row(g, step.name, hot, k, self.count)
            logp = g.op(g.temp(step.name, f"log{k}"), "Log", [p(t)])
            term = g.op(g.temp(step.name, f"s{k}"), "ReduceSum",
                        [g.op(g.temp(step.name, f"m{k}"), "Mul", [target, logp])], keepdims=0)
            total = term if total is None else g.op(g.temp(step.name, f"acc{k}"), "Add", [total, term])
        g.op(step.name, "Mul", [total, g.constant(-self.scale())])

    def symbolic(self, s: Symbolic) -> None:
        hot = s.values["Y"]  # one-hot rows, one per output step
        total = 0
        for k, t in enumerate(self.model.output_steps):
            total += sum(hot[k, j] * s.sp.log(s.values[p(t)][0, j]) for j in range(self.model.outputs))
        s.values[names.LOSS] = -(s.sp.Rational(1, self.count) if self.reduction == "mean" else 1) * total

    def checks(self, net: Any, problem: Any) -> tuple[Check, ...]:
        if self.count < 2:
            return ()
        return (Check("two_classes", "every output step has the same label", "given",
                      lambda v: (v["Y"] == v["Y"][:, :1]).all(axis=1), group=0),)


# --- the shared weights' gradients: sums over time ------------------------------------------------


@dataclass(frozen=True)
class SharedWeights(Op):
    """The parameters every step shares, and their gradients as sums over the time steps."""

    model: Any
    kind = "rnn_weights"

    def given(self) -> tuple[Given, ...]:
        m = self.model
        out = [Given("h0", (1, m.hidden), "unit", "h")] if m.h0 == "given" else []
        return (*out, Given("Wxh", (m.inputs, m.hidden), "weights", "W"), Given("Whh", (m.hidden, m.hidden), "weights", "W"),
                Given("bh", (1, m.hidden), "unit", "b"), Given("Why", (m.hidden, m.outputs), "weights", "W"),
                Given("by", (1, m.outputs), "unit", "b"))

    def _pairs(self, param: str) -> list[tuple[str, str]]:
        """(the left factor, the gradient) of each step's term: (h_{t-1}, dz_t) for W_hh, ..."""
        m = self.model
        steps = range(1, m.steps + 1)
        if param == "Whh":
            return [(h(t - 1), names.grad(z(t))) for t in steps if t > 1 or m.h0 == "given"]
        if param == "Wxh":
            return [(f"X:{t}", names.grad(z(t))) for t in steps]
        if param == "bh":
            return [("", names.grad(z(t))) for t in steps]
        if param == "Why":
            return [(h(t), names.grad(y(t))) for t in m.output_steps]
        return [("", names.grad(y(t))) for t in m.output_steps]

    def _fn(self, param: str):  # noqa: ANN202
        pairs = self._pairs(param)

        def total(*vals: Array) -> Array:
            acc = None
            for k, (left, _) in enumerate(pairs):
                if not left:
                    term = vals[k]
                elif left.startswith("X:"):
                    term = _T(row(vals[-1], int(left[2:]) - 1)) @ vals[k]
                else:
                    term = _T(vals[len(pairs) + k]) @ vals[k]
                acc = term if acc is None else acc + term
            return acc

        return total

    def _deps(self, param: str) -> tuple[str, ...]:
        pairs = self._pairs(param)
        deps = [d for _, d in pairs]
        if param in ("Whh", "Why"):
            deps += [left for left, _ in pairs]
        if param == "Wxh":
            deps.append("X")
        return tuple(deps)

    def backward(self, b: Builder) -> None:
        rows = b.net.layout == "rows"
        for param in ("Why", "by", "Whh", "Wxh", "bh"):
            terms = []
            for left, d in self._pairs(param):
                if not left:
                    terms.append(tex(d))
                    continue
                lt = rf"x^{{\langle {left[2:]}\rangle}}" if left.startswith("X:") else tex(left)
                lt_t = rf"\left({lt}\right)^{{\top}}"
                terms.append(f"{lt_t} {tex(d)}" if rows else f"{tex(d)} {lt_t}")
            what = {"Why": "output weights", "by": "output bias", "Whh": "recurrent weights",
                    "Wxh": "input weights", "bh": "hidden bias"}[param]
            axes = "unit" if param in ("bh", "by") else "weights"
            b.add(self, "d_shared", names.grad(param), "backward", self._deps(param),
                  f"{tex(names.grad(param))} = {' + '.join(terms)}", self._fn(param),
                  f"gradient of the shared {what}: a sum over the time steps", axes)

    def worked(self, step: Step, cx: Context) -> Worked | None:
        param = names.gradient_of(step.name)
        r, c = cx.pick(step.name)
        pairs = []
        for left, d in self._pairs(param):
            if not left:
                pairs.append(None)
            elif left.startswith("X:"):
                pairs.append((("X", int(left[2:]) - 1, r), (d, 0, c)))
            else:
                pairs.append(((left, 0, r), (d, 0, c)))
        sym, num = [], []
        for p, (_, d) in zip(pairs, self._pairs(param)):
            if p is None:
                sym.append(cx.sym(d, 0, c))
                num.append(cx.num(d, 0, c, paren=False))
            else:
                s1, n1 = cx.product_terms([p])
                sym += s1
                num += n1
        return Worked(cx.sym(step.name, r, c), cx.where(step.name, r, c), (Expr(cap(sym)), Expr(cap(num))),
                      cx.result(step.name, r, c))

    def notes(self, step: Step, cx: Context) -> tuple[str, ...]:
        param = names.gradient_of(step.name)
        n = len(self._pairs(param))
        out = [f"The same ${tex(param)}$ serves every step, so its gradient is the sum of {n} terms, one per "
               f"step{' with an output' if param in ('Why', 'by') else ''}."]
        if param == "Whh":
            out.append(r"Each step's $dz^{\langle t\rangle}$ pairs with the hidden state that entered that step, "
                       r"$h^{\langle t-1\rangle}$, not with its own $h^{\langle t\rangle}$.")
        return tuple(out)

    def mistakes(self, step: Step, v: Values) -> Iterator[Mistake]:
        param = names.gradient_of(step.name)
        pairs = self._pairs(param)
        deps = self._deps(param)
        vals = [v[d] for d in deps]
        if len(pairs) > 1:
            one = SharedWeights._last_only(pairs, deps, vals)
            yield Mistake(f"rnn_{param.lower()}_last_step_only", f"d{param} was taken from the last step only: "
                          "the weights are shared, so their gradient sums the terms of every step", one)
        if param == "Whh":
            m = self.model
            ts = [t for t in range(1, m.steps + 1) if t > 1 or m.h0 == "given"]
            wrong = sum(_T(v[h(t)]) @ v[names.grad(z(t))] for t in ts)
            yield Mistake("rnn_delta_paired_with_h_t", "each step's dz_t was paired with h_t; it pairs with "
                          "h_{t-1}, the hidden state that entered the step", wrong)

    @staticmethod
    def _last_only(pairs: list[tuple[str, str]], deps: tuple[str, ...], vals: list[Array]) -> Array:
        k = len(pairs) - 1
        left, _ = pairs[k]
        d = vals[k]
        if not left:
            return d
        if left.startswith("X:"):
            return _T(row(vals[-1], int(left[2:]) - 1)) @ d
        return _T(vals[len(pairs) + k]) @ d

    def graph(self, step: Step, g: Graph) -> None:
        param = names.gradient_of(step.name)
        g.grad(step.name, param, [(z(t) if d.startswith("dz") else y(t), d) for _, d in self._pairs(param)
                                  for t in [int(names.parse(d).index)]])


@dataclass(frozen=True)
class RnnLossAfter(Op):
    """The loss after the update: the unrolled forward pass again, with the updated weights."""

    model: Any
    loss: RnnLoss
    kind = "loss_after"

    @property
    def given_names(self) -> tuple[str, ...]:
        return ("X", "Y", *(("h0",) if self.model.h0 == "given" else ()))

    def forward(self, b: Builder) -> None:
        params, forward = self.model.parameter_names(), b.forward_steps()
        fixed = self.given_names
        new = tuple(names.new(p) for p in params)

        def loss_after(*vals: Array) -> Array:
            given = dict(zip(fixed, vals[:len(fixed)]))
            given.update(zip(params, vals[len(fixed):]))
            return rerun(forward, given)[names.LOSS]

        b.add(self, "forward", names.LOSS_NEW, "after", (*fixed, *new), self.loss.formula(b, names.LOSS_NEW),
              loss_after, "the loss after the update: the unrolled forward pass again, with the updated weights",
              "scalar")

    def worked(self, step: Step, cx: Context) -> Worked | None:
        given = {n: cx.value(n) for n in self.given_names}
        given.update({p: cx.value(names.new(p)) for p in self.model.parameter_names()})
        out = rerun(cx.forward_steps, given)
        return self.loss.worked_loss(cx, step.name, lambda t, j: float(out[y(t)][0, j]))

    def notes(self, step: Step, cx: Context) -> tuple[str, ...]:
        return (rf"The unrolled forward pass again, with the updated weights; the loss went "
                rf"{'down' if cx.at(names.LOSS_NEW) < cx.at(names.LOSS) else 'up'} from "
                rf"${cx.result(names.LOSS)}$ to ${cx.result(names.LOSS_NEW)}$.",)

    def graph(self, step: Step, g: Graph) -> None:
        g.eval(step.name, names.LOSS, {p: names.new(p) for p in self.model.parameter_names()})

    def checks(self, net: Any, problem: Any) -> tuple[Check, ...]:
        if names.LOSS_NEW not in problem.asked:
            return ()
        unit = 10.0 ** -problem.decimals
        return (Check("loss_decreases", f"the step does not lower the loss by at least {unit:g}", "answers",
                      lambda v: v[names.LOSS] - v[names.LOSS_NEW] < unit - MARGIN_SLACK, group=4),)


def rnn_network(model: Any) -> Network:
    """The ops of an unrolled RNN: the shared weights, one op per time step, the loss; after the
    backward pass, one SGD step and the loss after it."""
    loss = RnnCrossEntropy(model) if model.classifies else RnnLoss(model)
    weights = SharedWeights(model)
    ops: list[Op] = [weights, *(RnnStep(t, model) for t in range(1, model.steps + 1)), loss]
    given = (Given("X", (model.steps, model.inputs), "batch", "X"), *loss.given(), *weights.given())
    params = tuple(g for g in weights.given() if g.name != "h0")
    after = (Sgd(params, model.learning_rate), RnnLossAfter(model, loss))
    return Network(model, tuple(ops), after, given, loss)

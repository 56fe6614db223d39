"""Losses, with the convention spelled out: L = scale * sum over samples, and the prediction.

`scale` is (1/2 if the spec halves a squared error) times (1/N for reduction `mean`). Class
targets `y` are integer labels of shape (N,); regression targets have A's shape (rows layout).
A stack of instances works too (samples on axis -2 of A, on axis -1 of labels).

mse:                  L = scale sum (A - Y)^2                      dA = 2 scale (A - Y)
cross_entropy:        L = -scale sum_n log A[n, y_n] (softmax A)   dA = -scale onehot(Y) / A
binary_cross_entropy: L = -scale sum_n (y log a + (1-y) log(1-a))  dA = scale (A - y) / (A (1 - A))

With its own output activation (softmax with cross-entropy, the sigmoid with binary
cross-entropy) the chain collapses to dZ = scale (A - Y): the activation op asks its loss for
that (`output_delta`), for its formula and for the target's words.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, ClassVar

import numpy as np

from gradekit.model import names
from gradekit.model.notation import INDICATOR, tex
from gradekit.ops.base import Builder, Check, Given, Graph, Op, Step, Symbolic
from gradekit.ops.quality import MARGIN_SLACK, entries
from gradekit.ops.worked import Context, Expr, Worked, cap, with_sub

Array = np.ndarray

LOSS_WORDS = {"mse": "squared error", "cross_entropy": "cross-entropy", "binary_cross_entropy": "binary cross-entropy"}
PROBABILITY_FLOOR = 0.01
PREDICTION_GAP = 0.02


def one_hot(y: Array, classes: int) -> Array:
    """(N,) integer labels -> (N, K) indicator rows."""
    return (y[..., None] == np.arange(classes)).astype(float)


def binary_targets(y: Array) -> Array:
    """(N,) 0/1 labels -> (N, 1), the shape of a single sigmoid output."""
    return y[..., None].astype(float)


def _picked(a: Array, y: Array) -> Array:
    """A[n, y_n]: each sample's probability of its true class.  -> (N,)"""
    labels = y.astype(int)
    if a.ndim == 2:  # plain fancy indexing: several times cheaper than take_along_axis
        return a[np.arange(a.shape[0]), labels]
    return np.take_along_axis(a, labels[..., None], axis=-1)[..., 0]


@dataclass(frozen=True)
class LossOp(Op):
    """The loss of the network's output A{depth} against the targets Y."""

    out: str  # the output's name, A{depth}
    samples: int
    outputs: int
    reduction: str = "mean"
    half: bool = False
    name: str = names.LOSS  # names.DATA_LOSS when a penalty (weight decay) adds to it

    kind: ClassVar[str] = "loss"
    classifies: ClassVar[bool] = False
    pair_words: ClassVar[str] = ""  # "softmax and cross-entropy": the activation it collapses with
    target_tex: ClassVar[str] = "Y"

    @property
    def halved(self) -> bool:
        return False

    @property
    def words(self) -> str:
        return LOSS_WORDS[self.kind]

    def scale(self, samples: int) -> float:
        factor = 0.5 if self.halved else 1.0
        return factor / samples if self.reduction == "mean" else factor

    def scale_tex(self, factor: int = 1) -> str:
        """`factor * scale` as LaTeX, e.g. \\frac{1}{2N} for a halved mean squared error."""
        num, den = factor, 2 if self.halved else 1
        if num % den == 0:
            num, den = num // den, 1
        mean = self.reduction == "mean"
        if den == 1 and not mean:
            return "" if num == 1 else f"{num}"
        den_tex = (f"{den}N" if den != 1 else "N") if mean else f"{den}"
        return rf"\frac{{{num}}}{{{den_tex}}}"

    def given(self) -> tuple[Given, ...]:
        if self.classifies:
            return (Given("Y", (self.samples,), "labels", "Y", labels=self.classes),)
        return (Given("Y", (self.samples, self.outputs), "batch", "Y"),)

    @property
    def classes(self) -> int:
        return self.outputs

    # -- what each loss defines --

    def value(self, a: Array, y: Array) -> Array:
        raise NotImplementedError

    def gradient(self, a: Array, y: Array) -> Array:
        raise NotImplementedError

    def formula(self, b: Builder, name: str) -> str:
        raise NotImplementedError

    def gradient_formula(self, b: Builder) -> str:
        raise NotImplementedError

    def terms(self, cx: Context, value: Callable[[int, int], float]) -> tuple[list[str], list[str]]:
        """Each sample's (and class's) term of the loss, as symbols and as numbers."""
        raise NotImplementedError

    def worked_gradient(self, cx: Context, r: int, c: int) -> tuple[Expr, ...]:
        raise NotImplementedError

    def graph_loss(self, step: Step, g: Graph, out: str) -> None:
        raise NotImplementedError

    def graph_gradient(self, step: Step, g: Graph) -> None:
        raise NotImplementedError

    def symbolic_loss(self, s: Symbolic, a: Any) -> Any:
        raise NotImplementedError

    # -- the trace --

    def forward(self, b: Builder) -> None:
        b.add(self, "forward", self.name, "loss", (self.out, "Y"), self.formula(b, self.name), self.value,
              "loss" if self.name == names.LOSS else "data loss (the loss function of the output)", "scalar")

    def backward(self, b: Builder) -> None:
        b.add(self, "d_output", names.grad(self.out), "backward", (self.out, "Y"), self.gradient_formula(b),
              self.gradient, "gradient of the loss with respect to the output")

    # -- the worked solution --

    def worked(self, step: Step, cx: Context) -> Worked | None:
        if step.role == "forward":
            return self.worked_loss(cx, step.name, lambda r, c: cx.at(self.out, r, c), tex(self.out))
        r, c = cx.pick(step.name)
        return Worked(cx.sym(step.name, r, c), cx.where(step.name, r, c), self.worked_gradient(cx, r, c),
                      cx.result(step.name, r, c))

    def worked_loss(self, cx: Context, name: str, value: Callable[[int, int], float], out_tex: str) -> Worked:
        """The loss (or the loss after the update, from `value`s of the recomputed output written `out_tex`)."""
        sym, num = self.terms(cx, value)
        scale = cx.scale()
        sign = "" if self.kind == "mse" else "-"
        before, after = rf"{sign}{scale}\bigl(", r"\bigr)"
        if not scale and not sign:
            before, after = "", ""
        if out_tex != tex(self.out):  # the recomputed output, A_new
            sym = [_renamed(s, tex(self.out), out_tex) for s in sym]
        return Worked(tex(name), "", (Expr(cap(sym), before, after), Expr(cap(num), before, after)), cx.result(name))

    def scale_notes(self, cx: Context) -> list[str]:
        """Where the loss's constant factor enters: once, at the first gradient."""
        n = cx.n
        out = []
        if self.reduction == "mean" and n > 1:
            out.append(rf"The $\frac{{1}}{{N}} = \frac{{1}}{{{n}}}$ comes from averaging the loss over the $N = {n}$ "
                       "samples. It enters here, once; every later gradient inherits it through the chain rule.")
        elif self.reduction == "mean":
            out.append(r"With one sample the mean is that sample's own loss: $\frac{1}{N} = 1$.")
        else:
            out.append("The loss is summed over the samples, not averaged: there is no $\\frac{1}{N}$ in the gradients.")
        if self.halved:
            out.append(r"The $\frac{1}{2}$ in the loss cancels the 2 from differentiating the square.")
        return out

    def notes(self, step: Step, cx: Context) -> tuple[str, ...]:
        if step.role == "d_output":
            zero = cx.structural_zero(step.name)
            return (*self.scale_notes(cx), *((zero,) if zero else ()))
        return self.loss_notes()

    def loss_notes(self) -> tuple[str, ...]:
        return ()

    # -- the computation as data, and its proof --

    def graph(self, step: Step, g: Graph) -> None:
        if step.role == "forward":
            self.graph_loss(step, g, self.out)
        else:
            self.graph_gradient(step, g)

    def symbolic(self, s: Symbolic) -> None:
        s.values[self.name] = self.symbolic_loss(s, s.values[self.out])

    def symbolic_scale(self, s: Symbolic, samples: int) -> Any:
        """scale as an exact SymPy number: (1/2 if halved) * (1/N if mean), from the definitions."""
        return (s.sp.Rational(1, 2) if self.halved else 1) * (s.sp.Rational(1, samples) if self.reduction == "mean" else 1)

    def checks(self, net: Any, problem: Any) -> tuple[Check, ...]:
        if self.classifies and self.samples >= 2:
            return (Check("two_classes", "every sample has the same class", "given",
                          lambda v: (v["Y"] == v["Y"][:, :1]).all(axis=1), group=0),)
        return ()


def _renamed(text: str, old: str, new: str) -> str:
    """`old_{sub}` written as `new_{sub}` (A_{1,2} of the recomputed output is (A_new)_{1,2})."""
    import re

    return re.sub(re.escape(old) + r"_\{([^}]*)\}", lambda m: with_sub(new, m[1]), text)


@dataclass(frozen=True)
class MeanSquaredError(LossOp):
    kind = "mse"

    @property
    def halved(self) -> bool:
        return self.half

    def value(self, a: Array, y: Array) -> Array:
        return np.asarray(self.scale(a.shape[-2]) * ((a - y) ** 2).sum(axis=(-2, -1)))

    def gradient(self, a: Array, y: Array) -> Array:
        return 2.0 * self.scale(a.shape[-2]) * (a - y)

    def formula(self, b: Builder, name: str) -> str:
        nk = b.entry("n", "k")
        return rf"{tex(name)} = {self.scale_tex()} \sum_{{n,k}} \left({tex(self.out)}_{{{nk}}} - Y_{{{nk}}}\right)^{{2}}"

    def gradient_formula(self, b: Builder) -> str:
        return rf"{tex(names.grad(self.out))} = {self.scale_tex(2)} \left({tex(self.out)} - Y\right)"

    def terms(self, cx: Context, value: Callable[[int, int], float]) -> tuple[list[str], list[str]]:
        a = cx.value(self.out)
        sym, num = [], []
        for r in range(a.shape[0]):
            for c in range(a.shape[1]):
                sym.append(rf"\left({cx.sym(self.out, r, c)} - {cx.sym('Y', r, c)}\right)^{{2}}")
                num.append(rf"({cx.number(value(r, c), paren=False)} - {cx.num('Y', r, c, paren=False)})^{{2}}")
        return sym, num

    def worked_gradient(self, cx: Context, r: int, c: int) -> tuple[Expr, ...]:
        a_s, a_n = cx.sym(self.out, r, c), cx.num(self.out, r, c, paren=False)
        s = cx.scale(2)
        pre, times = (f"{s} ", rf"{s} \cdot ") if s else ("", "")
        return (Expr((rf"{pre}\left({a_s} - {cx.sym('Y', r, c)}\right)",)),
                Expr((rf"{times}({a_n} - {cx.num('Y', r, c, paren=False)})",)))

    def graph_loss(self, step: Step, g: Graph, out: str) -> None:
        d = g.op(g.temp(step.name, "d"), "Sub", [out, "Y"])
        total = g.op(g.temp(step.name, "sum"), "ReduceSum", [g.op(g.temp(step.name, "d2"), "Mul", [d, d])], keepdims=0)
        g.op(step.name, "Mul", [total, g.constant(self.scale(g.samples))])

    def graph_gradient(self, step: Step, g: Graph) -> None:
        d = g.op(g.temp(step.name, "d"), "Sub", [self.out, "Y"])
        g.op(step.name, "Mul", [d, g.constant(2.0 * self.scale(g.samples))])

    def symbolic_loss(self, s: Symbolic, a: Any) -> Any:
        y = s.values["Y"]
        n, k = a.shape
        return self.symbolic_scale(s, n) * sum((a[i, j] - y[i, j]) ** 2 for i in range(n) for j in range(k))


@dataclass(frozen=True)
class CrossEntropy(LossOp):
    """Cross-entropy of a softmax output against class labels."""

    kind = "cross_entropy"
    classifies = True
    pair_words = "softmax and cross-entropy"
    target_tex = r"Y_{\text{onehot}}"

    def value(self, a: Array, y: Array) -> Array:
        return np.asarray(-self.scale(a.shape[-2]) * np.log(_picked(a, y)).sum(axis=-1))

    def gradient(self, a: Array, y: Array) -> Array:
        return -self.scale(a.shape[-2]) * one_hot(y, a.shape[-1]) / a

    def output_delta(self, a: Array, y: Array) -> Array:
        """dZ of a softmax output: scale (A - onehot(Y))."""
        return self.scale(a.shape[-2]) * (a - one_hot(y, a.shape[-1]))

    def formula(self, b: Builder, name: str) -> str:
        return rf"{tex(name)} = -{self.scale_tex()} \sum_{{n}} \log {tex(self.out)}_{{{b.entry('n', 'y_n')}}}"

    def gradient_formula(self, b: Builder) -> str:
        nk = b.entry("n", "k")
        return (rf"{tex(names.grad(self.out))}_{{{nk}}} = -{self.scale_tex()} "
                rf"\frac{{{INDICATOR}[k = y_n]}}{{{tex(self.out)}_{{{nk}}}}}")

    def terms(self, cx: Context, value: Callable[[int, int], float]) -> tuple[list[str], list[str]]:
        sym, num = [], []
        for r in range(cx.value(self.out).shape[0]):
            y = int(round(cx.at("Y", r)))
            sym.append(rf"\log {cx.sym(self.out, r, y)}")
            num.append(rf"\log {cx.number(value(r, y))}")
        return sym, num

    def worked_gradient(self, cx: Context, r: int, c: int) -> tuple[Expr, ...]:
        s = cx.scale() or "1"
        a_s, a_n = cx.sym(self.out, r, c), cx.num(self.out, r, c, paren=False)
        return (Expr((rf"-{s} \cdot \frac{{1}}{{{a_s}}}",)), Expr((rf"-{s} \cdot \frac{{1}}{{{a_n}}}",)))

    def target_entry(self, cx: Context, r: int, c: int) -> tuple[str, int]:
        """The one-hot target of entry (r, c) in symbols and as a number, for the paired dZ."""
        return rf"{INDICATOR}[{c} = y_{{{r + 1}}}]", 1 if c == int(round(cx.at("Y", r))) else 0

    def loss_notes(self) -> tuple[str, ...]:
        return ("Only each sample's probability of its true class enters the loss. Classes are numbered "
                r"from 0 and columns from 1: class $y_n$ is column $y_n + 1$.",)

    def _onehot(self, g: Graph) -> str:
        labels = g.op("_Y_labels", "Cast", ["Y"], to=7)  # TensorProto.INT64
        return g.op("_Y_onehot", "OneHot", [labels, g.constant([self.outputs], "int64"), g.constant([0.0, 1.0])],
                    axis=-1 if g.unit_axis == 1 else 0)

    def graph_loss(self, step: Step, g: Graph, out: str) -> None:
        logs = g.op(g.temp(step.name, "log"), "Log", [out])
        if g.unit_axis == 0:  # NegativeLogLikelihoodLoss takes (N, C): the samples' rows
            logs = g.transpose(g.temp(step.name, "logT"), logs)
        labels = g.op("_Y_labels", "Cast", ["Y"], to=7)
        g.op(step.name, "NegativeLogLikelihoodLoss", [logs, labels], reduction=self.reduction)

    def graph_gradient(self, step: Step, g: Graph) -> None:
        ratio = g.op(g.temp(step.name, "ratio"), "Div", [self._onehot(g), self.out])
        g.op(step.name, "Mul", [ratio, g.constant(-self.scale(g.samples))])

    def graph_output_delta(self, step: Step, g: Graph, a: str) -> None:
        diff = g.op(g.temp(step.name, "AmY"), "Sub", [a, self._onehot(g)])
        g.op(step.name, "Mul", [diff, g.constant(self.scale(g.samples))])

    def symbolic_loss(self, s: Symbolic, a: Any) -> Any:
        t = s.values["Y"]  # one-hot rows
        n, k = a.shape
        return -self.symbolic_scale(s, n) * sum(t[i, j] * s.sp.log(a[i, j]) for i in range(n) for j in range(k))


@dataclass(frozen=True)
class BinaryCrossEntropy(LossOp):
    """Binary cross-entropy of one sigmoid output against 0/1 labels."""

    kind = "binary_cross_entropy"
    classifies = True
    pair_words = "the sigmoid and binary cross-entropy"
    target_tex = "y"

    @property
    def classes(self) -> int:
        return 2

    def value(self, a: Array, y: Array) -> Array:
        t = binary_targets(y)
        return np.asarray(-self.scale(a.shape[-2]) * (t * np.log(a) + (1 - t) * np.log(1 - a)).sum(axis=(-2, -1)))

    def gradient(self, a: Array, y: Array) -> Array:
        t = binary_targets(y)
        return self.scale(a.shape[-2]) * (a - t) / (a * (1 - a))

    def output_delta(self, a: Array, y: Array) -> Array:
        """dZ of a sigmoid output: scale (A - y)."""
        return self.scale(a.shape[-2]) * (a - binary_targets(y))

    def formula(self, b: Builder, name: str) -> str:
        a = tex(self.out)
        return (rf"{tex(name)} = -{self.scale_tex()} \sum_{{n}} \left( y_n \log {a}_{{n}} + (1 - y_n) \log "
                rf"(1 - {a}_{{n}}) \right)")

    def gradient_formula(self, b: Builder) -> str:
        a = tex(self.out)
        return rf"{tex(names.grad(self.out))} = {self.scale_tex()} \frac{{{a} - y}}{{{a} \odot (1 - {a})}}"

    def terms(self, cx: Context, value: Callable[[int, int], float]) -> tuple[list[str], list[str]]:
        sym, num = [], []
        for r in range(cx.value(self.out).shape[0]):
            if int(round(cx.at("Y", r))) == 1:
                sym.append(rf"\log {cx.sym(self.out, r, 0)}")
                num.append(rf"\log {cx.number(value(r, 0))}")
            else:
                sym.append(rf"\log(1 - {cx.sym(self.out, r, 0)})")
                num.append(rf"\log(1 - {cx.number(value(r, 0), paren=False)})")
        return sym, num

    def worked_gradient(self, cx: Context, r: int, c: int) -> tuple[Expr, ...]:
        s = cx.scale() or "1"
        a_s, a_n = cx.sym(self.out, r, c), cx.num(self.out, r, c, paren=False)
        y = cx.num("Y", r, paren=False)
        return (Expr((rf"{s} \cdot \frac{{{a_s} - y_{{{r + 1}}}}}{{{a_s} (1 - {a_s})}}",)),
                Expr((rf"{s} \cdot \frac{{{a_n} - {y}}}{{{a_n} (1 - {a_n})}}",)))

    def target_entry(self, cx: Context, r: int, c: int) -> tuple[str, int]:
        return f"y_{{{r + 1}}}", int(round(cx.at("Y", r)))

    def _target(self, g: Graph) -> str:
        return g.op("_Y_column", "Unsqueeze", ["Y", g.constant([g.unit_axis], "int64")])

    def graph_loss(self, step: Step, g: Graph, out: str) -> None:
        t, one = self._target(g), g.constant(1.0)
        hit = g.op(g.temp(step.name, "hit"), "Mul", [t, g.op(g.temp(step.name, "logA"), "Log", [out])])
        miss = g.op(g.temp(step.name, "miss"), "Mul", [
            g.op(g.temp(step.name, "1mt"), "Sub", [one, t]),
            g.op(g.temp(step.name, "log1mA"), "Log", [g.op(g.temp(step.name, "1mA"), "Sub", [one, out])])])
        total = g.op(g.temp(step.name, "sum"), "ReduceSum", [g.op(g.temp(step.name, "both"), "Add", [hit, miss])],
                     keepdims=0)
        g.op(step.name, "Mul", [total, g.constant(-self.scale(g.samples))])

    def graph_gradient(self, step: Step, g: Graph) -> None:
        a = self.out
        diff = g.op(g.temp(step.name, "AmY"), "Sub", [a, self._target(g)])
        slope = g.op(g.temp(step.name, "slope"), "Mul", [a, g.op(g.temp(step.name, "1mA"), "Sub", [g.constant(1.0), a])])
        g.op(step.name, "Mul", [g.op(g.temp(step.name, "ratio"), "Div", [diff, slope]),
                                g.constant(self.scale(g.samples))])

    def graph_output_delta(self, step: Step, g: Graph, a: str) -> None:
        diff = g.op(g.temp(step.name, "AmY"), "Sub", [a, self._target(g)])
        g.op(step.name, "Mul", [diff, g.constant(self.scale(g.samples))])

    def symbolic_loss(self, s: Symbolic, a: Any) -> Any:
        y = s.values["Y"][:, 1]  # one-hot rows: the label is the indicator of class 1
        log = s.sp.log
        return -self.symbolic_scale(s, a.shape[0]) * sum(y[i] * log(a[i, 0]) + (1 - y[i]) * log(1 - a[i, 0])
                                                         for i in range(a.shape[0]))

    def checks(self, net: Any, problem: Any) -> tuple[Check, ...]:
        out = self.out
        low, high = 2 * PROBABILITY_FLOOR, 1 - 2 * PROBABILITY_FLOOR
        return (*super().checks(net, problem),
                Check("probability_floor", "the sigmoid output is too close to 0 or 1", "forward",
                      lambda v: (entries(v[out]).min(axis=1) <= low + MARGIN_SLACK)
                      | (entries(v[out]).max(axis=1) >= high - MARGIN_SLACK), group=3.5),
                Check("clear_prediction", "a predicted probability is nearly 1/2 (tied prediction)", "forward",
                      lambda v: entries(np.abs(v[out] - 0.5)).min(axis=1) <= PREDICTION_GAP + MARGIN_SLACK, group=3.5))


LOSSES = {"mse": MeanSquaredError, "cross_entropy": CrossEntropy, "binary_cross_entropy": BinaryCrossEntropy}


@dataclass(frozen=True)
class Prediction(Op):
    """The predicted class of each sample: argmax of a softmax output, or a sigmoid output >= 1/2."""

    out: str
    binary: bool
    kind = "prediction"

    def predict(self, a: Array) -> Array:
        if self.binary:
            return (a[..., 0] >= 0.5).astype(int)
        return a.argmax(axis=-1)

    def forward(self, b: Builder) -> None:
        out = tex(self.out)
        if self.binary:
            formula = rf"\hat{{y}}_n = {INDICATOR}[{out}_{{n}} \ge 0.5]"
        else:
            formula = rf"\hat{{y}}_n = \arg\max_{{k}} {out}_{{{b.entry('n', 'k')}}}"
        b.add(self, "forward", names.PRED, "predict", (self.out,), formula, self.predict,
              "predicted class of each sample", "labels")

    def worked(self, step: Step, cx: Context) -> Worked | None:
        out, name = self.out, step.name
        r, _ = cx.pick(name)
        a = cx.value(out)
        if self.binary:
            sym = rf"{INDICATOR}[{cx.sym(out, r, 0)} \ge 0.5]"
            num = rf"{INDICATOR}[{cx.num(out, r, 0, paren=False)} \ge 0.5]"
        else:
            sym = (rf"\arg\max_{{k}} {tex(out)}_{{{r + 1},k}}" if cx.rows else rf"\arg\max_{{k}} {tex(out)}_{{k,{r + 1}}}")
            num = rf"\arg\max({', '.join(cx.num(out, r, j, paren=False) for j in range(a.shape[1]))})"
        return Worked(cx.sym(name, r), cx.where(name, r, 0), (Expr((sym,)), Expr((num,))),
                      str(int(round(cx.at(name, r)))))

    def graph(self, step: Step, g: Graph) -> None:
        if not self.binary:
            g.op(step.name, "ArgMax", [self.out], axis=g.unit_axis, keepdims=0)
            return
        at_least = g.op(g.temp(step.name, "ge"), "GreaterOrEqual", [self.out, g.constant(0.5)])
        labels = g.op(g.temp(step.name, "int"), "Cast", [at_least], to=7)
        g.op(step.name, "Reshape", [labels, g.constant([-1], "int64")])

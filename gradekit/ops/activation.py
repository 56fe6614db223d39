"""What every activation shares: A{l} = f(Z{l}) forward, dZ{l} from dA{l} backward.

Each activation (gradekit.ops.identity, sigmoid, tanh, relu, softmax) is a subclass that says
what is its own: f and its derivative, the formulas, the worked lines, its mistakes, its graph
operators, its SymPy form and its quality rules. This base lays the steps out and, for an output
activation that its loss collapses with (softmax and cross-entropy, the sigmoid and binary
cross-entropy: `paired`), adds the short dZ = scale (A - Y) in place of the chain through dA.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Iterator

import numpy as np

from gradekit.model import names
from gradekit.model.notation import tex
from gradekit.ops.base import Builder, Check, Formulation, Graph, Op, Step, Symbolic
from gradekit.ops.mistakes import Mistake, Values
from gradekit.ops.worked import Context, Expr, Worked

Array = np.ndarray


@dataclass(frozen=True)
class Activation(Op):
    """Layer l's activation; `paired` is the loss op when it collapses the output's dZ."""

    l: int
    units: int
    paired: Any = None  # a gradekit.ops.losses.LossOp, or None

    kind: ClassVar[str] = "activation"
    words: ClassVar[str] = ""  # in step descriptions: "ReLU activation of layer 1"
    statement: ClassVar[str] = ""  # in the sheet's description of the network
    caption: ClassVar[str] = ""  # under the layer in the diagram
    reads: ClassVar[tuple[str, ...]] = ()  # what its derivative is written in: ("A",), ("Z",) or ()

    @property
    def z(self) -> str:
        return names.of("Z", self.l)

    @property
    def a(self) -> str:
        return names.of("A", self.l)

    # -- what each activation defines --

    def f(self, z: Array) -> Array:
        raise NotImplementedError

    def df(self, da: Array, at: Array | None) -> Array:
        """dZ from dA and the value its derivative reads (A or Z, as `reads` says)."""
        raise NotImplementedError

    def forward_formula(self, b: Builder) -> str:
        raise NotImplementedError

    def backward_formula(self, b: Builder) -> str:
        raise NotImplementedError

    def worked_forward(self, name: str, cx: Context, r: int, c: int) -> tuple[Expr, ...]:
        raise NotImplementedError

    def worked_backward(self, name: str, cx: Context, r: int, c: int) -> tuple[Expr, ...]:
        raise NotImplementedError

    def derivative_mistakes(self, v: Values, da: Array, a: Array, z: Array) -> Iterator[Mistake]:
        """Wrong derivatives (dZ from dA), beyond the derivative left out altogether."""
        return iter(())

    def derivative_forms(self) -> tuple[Formulation, ...]:
        """Other valid ways to write dZ from dA (the derivative from Z where the sheet uses A, ...)."""
        return ()

    def graph_forward(self, step: Step, g: Graph) -> None:
        raise NotImplementedError

    def graph_backward(self, step: Step, g: Graph) -> None:
        raise NotImplementedError

    def symbolic_f(self, s: Symbolic, z: Any) -> Any:
        raise NotImplementedError

    def dead_unit_notes(self, step: Step, cx: Context) -> list[str]:
        """Sentences about units that pass no gradient back (ReLU only)."""
        return []

    # -- the trace --

    def forward(self, b: Builder) -> None:
        b.add(self, "forward", self.a, "forward", (self.z,), self.forward_formula(b), self.f,
              f"{self.words} activation of layer {self.l}")

    def backward(self, b: Builder) -> None:
        dz = names.grad(self.z)
        if self.paired is not None:
            loss = self.paired
            formula = rf"{tex(dz)} = {loss.scale_tex()} \left({tex(self.a)} - {loss.target_tex}\right)"
            b.add(self, "delta_paired", dz, "backward", (self.a, "Y"), formula, loss.output_delta,
                  f"gradient at layer {self.l}'s pre-activation ({self.kind} and the loss combined)")
            return
        at = tuple(names.of(v, self.l) for v in self.reads)
        df = self.df
        b.add(self, "delta", dz, "backward", (names.grad(self.a), *at), self.backward_formula(b),
              lambda da_, *rest: df(da_, rest[0] if rest else None), f"gradient at layer {self.l}'s pre-activation")

    # -- the worked solution --

    def worked(self, step: Step, cx: Context) -> Worked | None:
        r, c = cx.pick(step.name)
        if step.role == "forward":
            lines = self.worked_forward(step.name, cx, r, c)
        elif step.role == "delta_paired":
            lines = self._worked_paired(cx, r, c)
        else:
            lines = self.worked_backward(step.name, cx, r, c)
        return Worked(cx.sym(step.name, r, c), cx.where(step.name, r, c), lines, cx.result(step.name, r, c))

    def _worked_paired(self, cx: Context, r: int, c: int) -> tuple[Expr, ...]:
        s = cx.scale() or "1"
        target_sym, target = self.paired.target_entry(cx, r, c)
        return (Expr((rf"{s} \left({cx.sym(self.a, r, c)} - {target_sym}\right)",)),
                Expr((rf"{s} \cdot ({cx.num(self.a, r, c, paren=False)} - {target})",)))

    def notes(self, step: Step, cx: Context) -> tuple[str, ...]:
        out: list[str] = []
        if step.role == "delta_paired":
            out += self.paired.scale_notes(cx)
            out.append(f"With {self.paired.pair_words} together, the derivative of the loss and the activation's derivative "
                       rf"cancel down to the output minus the target: no division by ${tex(self.a)}$ is needed.")
        if step.role in ("delta", "delta_paired"):
            out += self.delta_notes(step, cx)
            zero = cx.structural_zero(step.name)
            if zero is not None:
                out.append(zero)
        out += self.dead_unit_notes(step, cx)
        return tuple(out)

    def delta_notes(self, step: Step, cx: Context) -> list[str]:
        """Facts of dZ that come from the activation itself (softmax's rows sum to 0)."""
        return []

    # -- grading --

    def formulations(self, step: Step) -> tuple[Formulation, ...]:
        """dZ through the activation's derivative written another way; for an output its loss
        collapses with, also the chain through dA that the short form collapses."""
        if step.role == "delta":
            return self.derivative_forms()
        if step.role != "delta_paired":
            return ()
        at = tuple(names.of(v, self.l) for v in self.reads)
        df = self.df
        chain = Formulation("through_da", f"the chain through dA and the {self.words} derivative, "
                            f"{self.chain_words}", (names.grad(self.a), *at),
                            lambda da_, *rest: df(da_, rest[0] if rest else None))
        return (chain, *self.derivative_forms())

    chain_words: ClassVar[str] = ""  # the chain rule through dA in words, for an output paired with its loss

    def incomplete(self, step: Step, v: Values) -> Iterator[Mistake]:
        if step.role == "forward" and self.kind != "identity":
            yield Mistake("activation_not_applied", f"the {self.kind} activation was not applied: "
                          f"{self.a} = {self.kind}({self.z})", v[self.z])

    def mistakes(self, step: Step, v: Values) -> Iterator[Mistake]:
        if step.role not in ("delta", "delta_paired"):
            return
        da = names.grad(self.a)
        if da not in v or self.kind in ("identity", "softmax"):
            return
        da_v, a, z = v[da], v[self.a], v[self.z]
        yield Mistake("activation_derivative_missing", f"the {self.kind} derivative is missing: dZ = dA times the "
                      "derivative of the activation at Z", da_v)
        yield from self.derivative_mistakes(v, da_v, a, z)

    # -- the computation as data, and its proof --

    def graph(self, step: Step, g: Graph) -> None:
        if step.role == "forward":
            self.graph_forward(step, g)
        elif step.role == "delta_paired":
            self.paired.graph_output_delta(step, g, self.a)
        else:
            self.graph_backward(step, g)

    def symbolic(self, s: Symbolic) -> None:
        s.put(self.a, lambda: self.symbolic_f(s, s.values[self.z]))

    # -- quality --

    def activation_checks(self, net: Any, problem: Any) -> tuple[Check, ...]:
        """The quality rules of this activation itself (saturation, a kink, ...)."""
        return ()

    def checks(self, net: Any, problem: Any) -> tuple[Check, ...]:
        # dZ is what reaches a unit's weights, and what it passes back: a column of zeros is a
        # ReLU that is off for every sample, a unit whose weights into every softmax class are
        # equal (its dA is 0), or a batch-norm unit that gets no gradient.
        dz = names.grad(self.z)
        dead = Check("dead_unit", f"a unit of layer {self.l} gets no backward signal from any sample (a column of 0s "
                     f"in {dz})", "answers", lambda v: (v[dz] == 0).all(axis=-2).any(axis=-1), group=1)
        return (*self.activation_checks(net, problem), dead)


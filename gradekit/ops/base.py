"""What an operation is: its steps in the trace, and the questions every part of gradekit asks it.

An operation (a linear layer, an activation, a loss, batch norm, the update, ...) is one class
in one module of gradekit.ops, with everything gradekit knows about it, side by side as
micrograd keeps an op's forward beside its `_backward`:

- `forward(b)` / `backward(b)`: the steps it adds to the trace (name, inputs, formula, and a
  function of the inputs' values, in the rows layout: samples are rows), as cs231n pairs
  `affine_forward` with `affine_backward`;
- `worked(step, cx)` and `notes(step, cx)`: one entry of a step worked out with its numbers, and
  the structural facts worth a sentence (gradekit.ops.worked has the vocabulary);
- `incomplete(step, v)` and `mistakes(step, v)`: the catalogued mistakes of a step, as the wrong
  values they give (gradekit.ops.mistakes runs the catalogue);
- `formulations(step)`: other valid ways a course teaches to compute a step (follow-through
  accepts any of them);
- `graph(step, g)`: the step as ONNX operators for the `graph` of key.json (gradekit.engine.graph);
- `symbolic(s)`: its forward pass in SymPy, for `gradekit verify` (sympy is handed in: nothing
  here imports it);
- `checks(problem)`: the quality rules about it (gradekit.sampling rejects a variant that breaks
  one), and `structural_zeros(net)`: quantities it makes 0 in every variant.

Each Step of the trace carries its op and its `role` among the op's steps ("forward",
"d_weight", ...); everything downstream dispatches on them, never on names.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Iterable, Iterator, Literal, Mapping, Protocol

import numpy as np

if TYPE_CHECKING:  # types only: these modules import this one
    from gradekit.ops.mistakes import Mistake, Values
    from gradekit.ops.worked import Context, Worked

Array = np.ndarray
Stage = Literal["given", "forward", "loss", "predict", "backward", "update", "after"]
# What the axes of a quantity are (rows layout), which decides how an entry is named and written:
# batch (samples, units), unit (1, units: one per unit, broadcast over the samples), weights
# (inputs, units), labels (samples,), scalar ().
Axes = Literal["batch", "unit", "weights", "labels", "scalar"]


@dataclass(frozen=True)
class Step:
    """How one named quantity is computed: by `op` (its `role` among the op's steps), from `deps`.

    `compute` takes and returns values in the rows layout, for one instance or a stack of them
    (leading axes); None for a given value.
    """

    name: str
    stage: Stage
    deps: tuple[str, ...]
    op: Op | None = field(default=None, compare=False, repr=False)
    role: str = "given"
    formula: str = ""  # LaTeX, in the problem layout's notation ("" for given values)
    description: str = ""
    axes: Axes = "batch"
    compute: Callable[..., Array] | None = field(default=None, compare=False, repr=False)

    def evaluate(self, values: Mapping[str, Array]) -> Array:
        """This step's value (rows layout) from the values of its dependencies (rows layout)."""
        if self.compute is None:
            raise KeyError(f"{self.name} is given, not computed")
        return np.asarray(self.compute(*(values[d] for d in self.deps)), dtype=float)


@dataclass(frozen=True)
class Given:
    """A value a problem states (an input, the targets, a parameter): its shape in the rows layout,
    its axes, and the base name of its sampling domain (`W` for W2)."""

    name: str
    shape: tuple[int, ...]
    axes: Axes
    domain: str
    labels: int = 0  # class labels from 0 to labels - 1 (0: not labels)


@dataclass(frozen=True)
class Check:
    """A quality rule's test of a stack of candidate variants: which of them it rejects.

    `stage` says what it reads: the given values (before any forward pass), the forward pass, or
    the answers (backward pass and asked values). Values are stacked, in the rows layout.
    """

    rule: str
    reason: str
    stage: Literal["given", "forward", "answers"]
    rejects: Callable[[Mapping[str, Array]], Array]
    # Within a stage, checks run by group, then in the order of the ops (a rejected candidate
    # counts against the first rule it breaks): 0 the whole problem, 1 each hidden layer, 2 each
    # layer, 3 the output and the update, 4 the loss after the update.
    group: float = 2


@dataclass(frozen=True)
class Formulation:
    """Another valid way to compute a step, as a course may teach it: the words that name it, the
    inputs it reads, and its function of them (rows layout). On the key's own values it gives the
    step's value; on a student's values that are not quite consistent (a slip, rounding) it may
    not, and an answer right under it is right given the student's own values all the same."""

    id: str
    words: str  # plain text, as the grade report says it: "the sigmoid's derivative from Z, σ(Z)(1 − σ(Z))"
    deps: tuple[str, ...]
    compute: Callable[..., Array] = field(compare=False, repr=False)

    def as_step(self, step: Step) -> Step:
        """The step computed this way (its role marks the formulation: "delta:from_z")."""
        return replace(step, deps=self.deps, compute=self.compute, role=f"{step.role}:{self.id}",
                       description=self.words)


class Builder(Protocol):
    """What an op needs to add its steps (gradekit.engine.build implements it)."""

    net: Any  # the gradekit.ops.network.Network being built

    def add(self, op: Op, role: str, name: str, stage: Stage, deps: tuple[str, ...], formula: str,
            fn: Callable[..., Array], description: str, axes: Axes = "batch") -> None: ...

    def entry(self, sample: str, unit: str) -> str: ...

    def has(self, name: str) -> bool: ...

    def forward_steps(self) -> tuple[Step, ...]:
        """The forward and loss steps added so far, in order."""
        ...


class Graph(Protocol):
    """What an op needs to write its steps as ONNX operators (gradekit.engine.graph implements it)."""

    def op(self, name: str, op_type: str, inputs: Iterable[str], **attributes: Any) -> str: ...

    def grad(self, name: str, wrt: str, terms: Iterable[tuple[str, str | int]]) -> str: ...

    def eval(self, name: str, of: str, replace: Mapping[str, str]) -> str: ...

    def constant(self, value: Any, dtype: str = "float64") -> str: ...

    def matmul(self, name: str, a: str, b: str) -> str: ...

    def transpose(self, name: str, a: str) -> str: ...

    def temp(self, name: str, purpose: str) -> str: ...

    @property
    def samples(self) -> int: ...

    @property
    def sample_axis(self) -> int: ...

    @property
    def unit_axis(self) -> int: ...


class Symbolic(Protocol):
    """What an op needs to write its forward pass in SymPy (gradekit.proof implements it)."""

    sp: Any  # the sympy module
    values: dict[str, Any]  # name -> sympy Matrix (rows layout)

    def symbols(self, name: str, shape: tuple[int, int]) -> Any: ...

    def exact(self, value: float) -> Any: ...

    def indicator(self, name: str, of: Any) -> Any: ...

    def put(self, name: str, make: Callable[[], Any]) -> Any: ...


class Op:
    """Base of every operation: the defaults say "nothing to add"."""

    kind: ClassVar[str] = "op"

    # -- the trace --

    def given(self) -> tuple[Given, ...]:
        """The values this op takes as given (parameters), in order."""
        return ()

    def forward(self, b: Builder) -> None:
        """Add this op's forward steps."""

    def backward(self, b: Builder) -> None:
        """Add this op's backward steps (ops are asked in reverse order)."""

    # -- the worked solution --

    def worked(self, step: Step, cx: Context) -> Worked | None:
        return None

    def notes(self, step: Step, cx: Context) -> tuple[str, ...]:
        return ()

    # -- grading --

    def incomplete(self, step: Step, v: Values) -> Iterator[Mistake]:
        """Mistakes of a step done halfway (a bias not added): named before every other reading."""
        return iter(())

    def mistakes(self, step: Step, v: Values) -> Iterator[Mistake]:
        return iter(())

    def formulations(self, step: Step) -> tuple[Formulation, ...]:
        return ()

    # -- the computation as data, and its proof --

    def graph(self, step: Step, g: Graph) -> None:
        raise NotImplementedError(f"{type(self).__name__} has no graph form for {step.role}")

    def symbolic(self, s: Symbolic) -> None:
        """Put this op's forward values into s.values (nothing for ops with no forward step)."""

    def conditioning(self, values: Mapping[str, Array], kink: float, variance: float) -> str | None:
        """Why finite differences would be inaccurate at these forward values (rows layout): an
        input within `kink` of a kink, a batch variance below `variance`; None when they are fine."""
        return None

    # -- quality of a variant --

    def checks(self, net: Any, problem: Any) -> Iterable[Check]:
        """The quality rules about this op, for variants of `problem` (its Network: `net`)."""
        return ()

    def structural_zeros(self, net: Any, found: dict[str, str]) -> None:
        """Add to `found` the quantities this op makes 0 in every variant of `net`, each with the reason
        in one sentence a student can check (a reason already there for a quantity is kept or
        replaced, as the op says)."""

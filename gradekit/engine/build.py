"""Build the steps of a network's trace from its operations, and evaluate them.

`steps_for(arch)` asks each op of the architecture's network (gradekit.ops.network) for its
steps: the given values, every op's forward steps in order, every op's backward steps in reverse
order, then the steps after the backward pass (the update, the loss after it). It is cached: an
architecture is a frozen value, so grading thousands of submissions of one problem builds its
steps once. `run(arch, given)` evaluates them on the given values.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Callable, Mapping

import numpy as np

from gradekit.engine.layout import to_rows
from gradekit.engine.trace import Trace, evaluate_steps
from gradekit.model.network import Architecture
from gradekit.ops.base import Axes, Op, Stage, Step
from gradekit.ops.families import network_for
from gradekit.ops.network import Network

Array = np.ndarray


class _Builder:
    """Collects the steps of a network in order (gradekit.ops.base.Builder)."""

    def __init__(self, net: Network):
        self.net = net
        self.rows = net.layout == "rows"
        self.steps: list[Step] = [Step(g.name, "given", (), None, "given", "", "given", g.axes) for g in net.given]

    def add(self, op: Op, role: str, name: str, stage: Stage, deps: tuple[str, ...], formula: str,
            fn: Callable[..., Array], description: str, axes: Axes = "batch") -> None:
        self.steps.append(Step(name, stage, deps, op, role, formula, description, axes, fn))

    def entry(self, sample: str, unit: str) -> str:
        """Entry subscripts in the layout's order: rows index (sample, unit), columns (unit, sample)."""
        return f"{sample},{unit}" if self.rows else f"{unit},{sample}"

    def has(self, name: str) -> bool:
        return any(s.name == name for s in self.steps)

    def forward_steps(self) -> tuple[Step, ...]:
        return tuple(s for s in self.steps if s.stage in ("forward", "loss"))


@lru_cache(maxsize=256)
def steps_for(arch: Architecture) -> tuple[Step, ...]:
    """Every step of the architecture's trace, in computing order."""
    net = network_for(arch)
    b = _Builder(net)
    for op in net.ops:
        op.forward(b)
    for op in reversed(net.ops):
        op.backward(b)
    for op in net.after:
        op.forward(b)
    return tuple(b.steps)


@lru_cache(maxsize=256)
def forward_steps(arch: Architecture) -> tuple[Step, ...]:
    """The forward steps and the loss, in order."""
    return tuple(s for s in steps_for(arch) if s.stage in ("forward", "loss"))


@lru_cache(maxsize=256)
def names_for(arch: Architecture) -> tuple[str, ...]:
    """The names of every quantity of the architecture's trace, in computing order."""
    return tuple(s.name for s in steps_for(arch))


def _given_rows(arch: Architecture, given: Mapping[str, Array]) -> dict[str, Array]:
    return {g.name: to_rows(np.asarray(given[g.name], dtype=float), arch.layout) for g in network_for(arch).given}


def run(arch: Architecture, given: Mapping[str, Array]) -> Trace:
    """The full trace of one instance: given values in the problem's layout -> every quantity."""
    steps = steps_for(arch)
    return Trace(arch.layout, steps, evaluate_steps(steps, _given_rows(arch, given)))


def output_name(arch: Architecture) -> str:
    """The scalar every gradient is of: the loss, or a computational graph's output node."""
    return network_for(arch).output


def run_forward(arch: Architecture, given: Mapping[str, Array]) -> dict[str, Array]:
    """Values up to the loss only, in the rows layout (for the proof's well-conditioning test)."""
    return evaluate_steps(forward_steps(arch), _given_rows(arch, given))


def forward_loss(arch: Architecture, given: Mapping[str, Array]) -> Array:
    """The loss of `given` (in the problem's layout), by the trace's own forward steps."""
    return run_forward(arch, given)[output_name(arch)]


def forward_rows(arch: Architecture, given: Mapping[str, Array]) -> dict[str, Array]:
    """Values up to the loss, in the rows layout, from given values in the rows layout: the sampler
    checks these before paying for the backward pass. One instance or a stack (a leading axis)."""
    return evaluate_steps(forward_steps(arch), given)


def rest_rows(arch: Architecture, forward_values: Mapping[str, Array]) -> dict[str, Array]:
    """Every value, in the rows layout, from forward_rows' values: prediction, backward, update,
    the loss after it (one instance or a stack, as forward_rows)."""
    steps = steps_for(arch)
    done = len(network_for(arch).given) + len(forward_steps(arch))
    return evaluate_steps(steps[done:], forward_values)


def network(arch: Architecture) -> Network:
    """The ops of an architecture (gradekit.ops.network)."""
    return network_for(arch)

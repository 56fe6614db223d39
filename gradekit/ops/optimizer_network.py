"""The network of an optimizer exercise: the rule's step t = 1..T as ops (gradekit.ops.optimizer,
.momentum, .rmsprop, .adam), with θ^(0), the initial state and the gradients given; no loss."""

from __future__ import annotations

from gradekit.model import names
from gradekit.model.optimizer import Optimizer
from gradekit.ops.adam import AdamStep
from gradekit.ops.base import Given
from gradekit.ops.momentum import MomentumStep, NesterovStep
from gradekit.ops.network import Network
from gradekit.ops.optimizer import OptimizerStep, SgdStep
from gradekit.ops.rmsprop import RmspropStep

STEPS: dict[str, type[OptimizerStep]] = {"sgd": SgdStep, "momentum": MomentumStep, "nesterov": NesterovStep,
                                         "rmsprop": RmspropStep, "adam": AdamStep}


def optimizer_network(model: Optimizer) -> Network:
    """The steps t = 1..T of the model's rule, with θ^(0), the initial state and the gradients given."""
    axes = "unit" if model.vector else "weights"
    given = tuple(Given(n, model.shape, axes, names.base_of(n)) for n in model.given_names())
    ops = tuple(STEPS[model.rule](model, t) for t in range(1, model.steps + 1))
    return Network(model, ops, (), given, None)

"""A vanilla recurrent network unrolled over a few time steps (family "rnn"): frozen, no numbers.

    z_t = h_{t-1} W_hh + x_t W_xh + b_h   (rows: the convention x W_xh + h W_hh)
    h_t = tanh(z_t)  (or the identity)
    y_t = h_t W_hy + b_y                    at every step, or only at the last one
    L   = scale * sum over the output steps of sum_k (y_t,k - Y_t,k)^2
    or, with loss = "cross_entropy": p_t = softmax(y_t), L = -scale * sum over the output steps of
    log p_t[Y_t] (Y then holds one class label per output step)

X holds the inputs, one time step per row (rows convention) or per column (columns convention:
z_t = W_hh h_{t-1} + W_xh x_t + b_h); Y the targets of the output steps, likewise. h_0 is 0 or
given. The shared weights W_xh, W_hh, b_h, W_hy, b_y are the parameters one SGD step updates.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

from gradekit.model.network import Layout

PARAMETERS = ("Wxh", "Whh", "bh", "Why", "by")


@dataclass(frozen=True)
class Rnn:
    """Everything about an unrolled vanilla RNN except its numbers."""

    family: ClassVar[str] = "rnn"
    layout: Layout
    inputs: int
    hidden: int
    outputs: int
    steps: int
    activation: Literal["tanh", "identity"] = "tanh"
    h0: Literal["zero", "given"] = "zero"
    outputs_at: Literal["last", "every"] = "last"
    reduction: Literal["sum", "mean"] = "sum"
    half: bool = False
    learning_rate: float = 0.1
    loss: Literal["mse", "cross_entropy"] = "mse"  # cross_entropy: p_t = softmax(y_t), labels per output step

    @property
    def samples(self) -> int:
        """One sequence: the time steps are not samples."""
        return 1

    @property
    def classifies(self) -> bool:
        """Whether the outputs are class scores (softmax cross-entropy), not regression values."""
        return self.loss == "cross_entropy"

    @property
    def output_steps(self) -> tuple[int, ...]:
        """The time steps with an output y_t (and a target row of Y), in order."""
        return tuple(range(1, self.steps + 1)) if self.outputs_at == "every" else (self.steps,)

    def parameter_names(self) -> tuple[str, ...]:
        return PARAMETERS

    def given_names(self) -> tuple[str, ...]:
        return ("X", "Y", *(("h0",) if self.h0 == "given" else ()), *PARAMETERS)

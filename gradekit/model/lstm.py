"""One step of an LSTM cell with a single unit (family "lstm"): frozen, no numbers.

    z = x W_x + h_{t-1} W_h + b          (rows: z is 1 x 4, its columns the gates i, f, o, g)
    i = σ(z_i), f = σ(z_f), o = σ(z_o), g = tanh(z_g)
    c_t = f c_{t-1} + i g,  h_t = o tanh(c_t)

The gradients that reach the cell are given: dh_t from above, and dc_{t+1} from the next step's
cell with that step's forget gate f_{t+1}. They are those of the loss's part that depends on
this cell, L = dh_t h_t + dc_{t+1} f_{t+1} c_t, so c_t receives gradient both through h_t and from
the next step: dc_t = dh_t o (1 - tanh² c_t) + dc_{t+1} f_{t+1}.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from gradekit.model.network import Layout

PARAMETERS = ("Wx", "Wh", "bz")
UPSTREAM = ("dh1", "dc2", "f2")  # the gradients given to the cell, and the next step's forget gate


@dataclass(frozen=True)
class Lstm:
    family: ClassVar[str] = "lstm"
    layout: Layout
    inputs: int = 1
    learning_rate: float = 0.1

    @property
    def samples(self) -> int:
        return 1

    @property
    def classifies(self) -> bool:
        return False

    def parameter_names(self) -> tuple[str, ...]:
        return PARAMETERS

    def given_names(self) -> tuple[str, ...]:
        return ("X", "h0", "c0", *UPSTREAM, *PARAMETERS)

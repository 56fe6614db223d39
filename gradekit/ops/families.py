"""Which operations a problem's model becomes: one builder per family of problems.

A new family (computational graphs, optimizers, convolutions, recurrent networks) adds its
model (gradekit.model), its ops and a builder here; nothing else in the engine changes.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Callable

from gradekit.ops.circuit import circuit_network
from gradekit.ops.cnn import cnn_network
from gradekit.ops.lstm import lstm_network
from gradekit.ops.mlp import mlp_network
from gradekit.ops.network import Network
from gradekit.ops.optimizer_network import optimizer_network
from gradekit.ops.rnn import rnn_network

BUILDERS: dict[str, Callable[[Any], Network]] = {
    "mlp": mlp_network,
    "rnn": rnn_network,
    "lstm": lstm_network,
    "circuit": circuit_network,
    "cnn": cnn_network,
    "optimizer": optimizer_network,
}


@lru_cache(maxsize=256)
def network_for(model: Any) -> Network:
    """The ops of a model (cached: a model is a frozen value)."""
    return BUILDERS[model.family](model)


def structural_zeros(model: Any) -> dict[str, str]:
    """Quantities the model makes 0 in every variant, with the reason (Network.structural_zeros)."""
    return network_for(model).structural_zeros

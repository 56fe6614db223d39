"""Quantities a network's structure makes 0 (or nearly 0) in every variant, with the reason."""

from __future__ import annotations

from gradekit.model.network import Architecture, BatchNorm, Dense


def structural_zeros(arch: Architecture) -> dict[str, str]:
    """Gradients that are 0 (or, for batch norm over 2 samples, nearly 0) in every variant of
    `arch`, whatever its numbers, each with the reason in one sentence a student can check."""
    zeros: dict[str, str] = {}
    layers = arch.layers
    for l, layer in enumerate(layers, start=1):
        following = layers[l] if l < len(layers) else None
        if isinstance(layer, Dense) and layer.bias == "scalar" and layer.activation == "softmax":
            zeros[f"db{l}"] = (f"b{l} adds the same number to every class score of a sample, and a softmax "
                               "does not change when all of a sample's scores shift alike")
        if isinstance(following, BatchNorm) and layer.activation == "identity":
            # What batch norm subtracts first is each unit's batch mean: a constant added to a unit
            # for every sample (a bias, a batch-norm shift) leaves its output unchanged.
            shift = f"b{l}" if isinstance(layer, Dense) and layer.bias != "none" else None
            shift = f"beta{l}" if isinstance(layer, BatchNorm) else shift
            if shift is not None:
                zeros[f"d{shift}"] = (f"batch norm {l + 1} subtracts each unit's batch mean, which removes "
                                      f"{shift}: it adds the same number to a unit for every sample")
        if isinstance(layer, BatchNorm) and arch.samples == 2:
            reason = (f"batch norm {l} over 2 samples maps every unit to about ±1 whatever its input, so "
                      f"nothing before layer {l} gets a gradient (only eps keeps it from exactly 0)")
            for name in _gradients_before(arch, l):
                zeros.setdefault(name, reason)
    return zeros


def _gradients_before(arch: Architecture, l: int) -> list[str]:
    """Every gradient the backward pass computes for layers before layer l, and dA{l-1}."""
    names = [f"dA{l - 1}"]
    for k, layer in enumerate(arch.layers[: l - 1], start=1):
        names += [f"dZ{k}"] + ([f"dA{k - 1}"] if k > 1 else [])
        if isinstance(layer, Dense):
            names += [f"dW{k}"] + ([f"db{k}"] if layer.bias != "none" else [])
        else:
            names += [f"dgamma{k}", f"dbeta{k}", f"dXhat{k}"]
    return names

"""The multilayer perceptron's part of a problem spec: layout, inputs, samples, layers, loss, update."""

from __future__ import annotations

from gradekit.model.network import (ACTIVATIONS, BIAS_KINDS, LAYOUTS, LOSS_KINDS, REDUCTIONS, Architecture,
                                    BatchNorm, Dense, Dropout, Layer, LayerNorm, Loss, WeightDecay)
from gradekit.model.problem import Domain
from gradekit.spec.fields import Fields

DEFAULT_DOMAINS = {  # by the base of a given value's name (W for W2)
    "X": Domain(-2.0, 2.0, 0.5, nonzero=True),
    "Y": Domain(-1.0, 1.0, 0.5),
    "W": Domain(-1.0, 1.0, 0.1, nonzero=True),
    "b": Domain(-0.5, 0.5, 0.1),
    "gamma": Domain(0.5, 1.5, 0.1, nonzero=True),
    "beta": Domain(-0.5, 0.5, 0.1),
    "M": Domain(0.0, 1.0, 1.0),  # a dropout mask: 0 or 1
}


def _layer(f: Fields, index: int) -> Layer:
    kind = f.choice("type", ("dense", "batch_norm", "layer_norm"), "dense")
    activation = f.choice("activation", ACTIVATIONS, "identity")
    slope = f.number("slope", 0.01, low=0.0, high=1.0)
    if kind == "batch_norm":
        units = f.positive_int("units", limit=16) if "units" in f.table else 0  # 0: take the input's width
        eps = f.number("eps", 1e-5, low=0.0, high=1.0)
        f.reject_unknown()
        return BatchNorm(units, activation, eps, slope)  # units fixed up from the previous layer
    if kind == "layer_norm":
        units = f.positive_int("units", limit=16) if "units" in f.table else 0  # 0: take the input's width
        eps = f.number("eps", 1e-5, low=0.0, high=1.0)
        f.reject_unknown()
        return LayerNorm(units, activation, eps, slope)
    units = f.positive_int("units", limit=16)
    bias = f.choice("bias", BIAS_KINDS, "vector")
    dropout = _dropout(f.table_of("dropout")) if "dropout" in f.table else None
    f.reject_unknown()
    if dropout is None:
        return Dense(units, activation, bias, slope)
    return Dense(units, activation, bias, slope, dropout)


def _dropout(f: Fields) -> Dropout:
    """A layer's `dropout = { keep = 0.8 }` or `{ drop = 0.2, inverted = false }`: the probability as the
    sheet names it, and whether the kept activations are scaled by 1/keep at training time."""
    given = [k for k in ("keep", "drop") if k in f.table]
    if len(given) != 1:
        raise f.fail("keep", "give exactly one of keep (the keep probability) or drop (the drop probability)")
    rate = f.number(given[0], low=0.0, high=1.0, strict_low=True)
    if rate >= 1.0:
        raise f.fail(given[0], f"expected a probability below 1, got {rate}")
    inverted = f.get("inverted", bool, True)
    f.reject_unknown()
    return Dropout(rate, given[0], inverted)  # type: ignore[arg-type]


def architecture(f: Fields) -> Architecture:
    layout = f.choice("layout", LAYOUTS)
    inputs = f.positive_int("inputs", limit=16)
    samples = f.positive_int("samples", limit=32)
    raw_layers = f.get("layers", list, what="a list of [[layers]] tables")
    if not raw_layers:
        raise f.fail("layers", "needs at least one layer")
    built: list[Layer] = []
    for i, raw in enumerate(raw_layers, start=1):
        if not isinstance(raw, dict):
            raise f.fail(f"layers[{i}]", "expected a table")
        lf = Fields(raw, f.source, f"layers[{i}].")
        layer = _layer(lf, i)
        if isinstance(layer, BatchNorm):
            if i == 1:
                raise lf.fail("type", "batch_norm cannot be the first layer (it normalizes a layer's output)")
            width = built[-1].units
            if layer.units not in (0, width):
                raise lf.fail("units", f"a batch_norm layer keeps its input's width {width}, got {layer.units}")
            if samples < 2:
                raise f.fail("samples", "batch_norm needs at least 2 samples (a batch of one has no variance)")
            layer = BatchNorm(width, layer.activation, layer.eps, layer.slope)
        elif isinstance(layer, LayerNorm):
            if i == 1:
                raise lf.fail("type", "layer_norm cannot be the first layer (it normalizes a layer's output)")
            width = built[-1].units
            if layer.units not in (0, width):
                raise lf.fail("units", f"a layer_norm layer keeps its input's width {width}, got {layer.units}")
            if width < 2:
                raise lf.fail("type", "layer_norm needs an input of at least 2 units (one unit has no variance)")
            layer = LayerNorm(width, layer.activation, layer.eps, layer.slope)
        built.append(layer)
    for i, layer in enumerate(built[:-1], start=1):
        if layer.activation == "softmax":
            raise f.fail(f"layers[{i}].activation", "softmax is only supported on the output layer")
    for i, layer in enumerate(built, start=1):
        if getattr(layer, "dropout", None) is None:
            continue
        if i == len(built):
            raise f.fail(f"layers[{i}].dropout", "dropout applies to a hidden layer, not the output layer")
        if not isinstance(built[i], Dense):
            raise f.fail(f"layers[{i}].dropout", "the layer after a dropout must be a dense layer")
    lf = f.table_of("loss")
    loss = Loss(lf.choice("kind", LOSS_KINDS), lf.choice("reduction", REDUCTIONS, "mean"),
                lf.get("half", bool, False))
    lf.reject_unknown()
    last = built[-1]
    if loss.kind == "cross_entropy" and (last.activation != "softmax" or last.units < 2):
        raise lf.fail("kind", "cross_entropy needs a softmax output layer with at least 2 units")
    if loss.kind == "binary_cross_entropy" and (last.activation != "sigmoid" or last.units != 1):
        raise lf.fail("kind", "binary_cross_entropy needs a sigmoid output layer with 1 unit")
    if loss.half and loss.kind != "mse":
        raise lf.fail("half", "the 1/2 factor applies to mse only")
    uf = f.table_of("update")
    uf.choice("rule", ("sgd",), "sgd")
    lr = uf.number("learning_rate", 0.1, low=0.0, high=10.0, strict_low=True)
    uf.reject_unknown()
    decay = _weight_decay(f, built)
    if decay is None:
        return Architecture(layout, inputs, samples, tuple(built), loss, lr)  # type: ignore[arg-type]
    return Architecture(layout, inputs, samples, tuple(built), loss, lr, decay)  # type: ignore[arg-type]


def _weight_decay(f: Fields, layers: list[Layer]) -> WeightDecay | None:
    """The [weight_decay] table: lambda, the 1/2 of the penalty, the biases in or out, divided by N or not."""
    if "weight_decay" not in f.table:
        f.used.add("weight_decay")
        return None
    wf = f.table_of("weight_decay")
    strength = wf.number("lambda", low=0.0, high=10.0, strict_low=True)
    decay = WeightDecay(strength, wf.get("half", bool, True), wf.get("biases", bool, False),
                        wf.get("divide_by_n", bool, False))
    wf.reject_unknown()
    if decay.biases and all(not isinstance(layer, Dense) or layer.bias == "none" for layer in layers):
        raise wf.fail("biases", "no layer has a bias to decay")
    return decay


def check_given(f: Fields, arch: Architecture, domains: dict, pinned: dict) -> None:
    """A dropout mask holds only 0 and 1, pinned or drawn."""
    for key, domain in domains.items():
        if key.startswith("M") and not set(domain.grid().tolist()) <= {0.0, 1.0}:
            raise f.fail(f"sampling.{key}", "a dropout mask holds only 0 (drop) and 1 (keep): use min = 0, max = 1, "
                         "step = 1")
    for name in arch.mask_names():
        if name in pinned and not set(pinned[name].ravel().tolist()) <= {0.0, 1.0}:
            raise f.fail(f"pinned.{name}", "a dropout mask holds only 0 (drop) and 1 (keep)")

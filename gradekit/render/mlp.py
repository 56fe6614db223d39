"""How a multilayer perceptron's problem is stated: its network in sentences, valid in LaTeX and Markdown."""

from __future__ import annotations

from gradekit.engine.build import network
from gradekit.engine.trace import Trace
from gradekit.model import names
from gradekit.model.network import BatchNorm, LayerNorm
from gradekit.model.notation import tex, tex_constant
from gradekit.model.problem import Problem


def sentences(problem: Problem, trace: Trace) -> tuple[str, ...]:
    """The network described in words and $math$, valid in LaTeX and Markdown alike."""
    loss_formula = trace.step(names.LOSS).formula
    pred_formula = trace.step(names.PRED).formula if names.PRED in trace else ""
    arch = problem.arch
    net = network(arch)
    n = arch.samples
    if arch.layout == "rows":
        first = (f"Samples are the rows of $X$ ({n} sample{'s' * (n != 1)}, {arch.inputs} inputs each): "
                 r"$Z^{[l]} = A^{[l-1]} W^{[l]} + b^{[l]}$ with $A^{[0]} = X$.")
    else:
        first = (f"Samples are the columns of $X$ ({n} sample{'s' * (n != 1)}, {arch.inputs} inputs each): "
                 r"$Z^{[l]} = W^{[l]} A^{[l-1]} + b^{[l]}$ with $A^{[0]} = X$.")
    out = [first]
    for l, layer in enumerate(arch.layers, start=1):
        act = net.activation(l).statement
        if layer.activation == "leaky_relu":
            act += f" (slope ${tex_constant(layer.slope)}$ for negative inputs)"
        if isinstance(layer, LayerNorm):
            out.append(rf"Layer {l}: layer normalization (each sample normalized by the mean and the biased variance of "
                       rf"its own {layer.units} units, $\epsilon = {tex_constant(layer.eps)}$) with scale "
                       rf"${tex(names.of('gamma', l))}$ and shift ${tex(names.of('beta', l))}$, one entry per unit, "
                       rf"then {act}.")
            continue
        if isinstance(layer, BatchNorm):
            out.append(rf"Layer {l}: batch normalization in training mode (batch mean, biased batch "
                       rf"variance, $\epsilon = {tex_constant(layer.eps)}$) with scale ${tex(names.of('gamma', l))}$ and shift "
                       rf"${tex(names.of('beta', l))}$, then {act}.")
            continue
        bias = {"vector": f"a bias for each unit ${tex(names.of('b', l))}$",
                "scalar": f"one scalar bias ${tex(names.of('b', l))}$ added to every unit",
                "none": "no bias"}[layer.bias]
        out.append(f"Layer {l}: {layer.units} unit{'s' * (layer.units != 1)}, {act} activation, {bias}.")
        if getattr(layer, "dropout", None) is not None:
            out.append(next(op for op in net.ops if op.kind == "dropout" and op.l == l).words())
    if names.PENALTY in trace:  # weight decay: the data loss, the penalty in words and formula, their sum
        decay = next(op for op in net.ops if op.kind == "weight_decay")
        out.append(f"Data loss: ${trace.step(names.DATA_LOSS).formula}$.")
        out.append(decay.words())
        out.append(f"Loss: ${loss_formula}$, the data loss plus the penalty (the loss asked includes the penalty).")
    else:
        out.append(f"Loss: ${loss_formula}$.")
    if arch.loss.kind == "cross_entropy":
        out.append(f"$Y$ holds the true class of each sample (0 to {arch.outputs - 1}).")
    elif arch.loss.kind == "binary_cross_entropy":
        out.append("$Y$ holds the true label of each sample (0 or 1).")
    if pred_formula and "pred" in problem.asked:
        # Defined here, not only in the solutions: for a sigmoid output the prediction is a label,
        # and a student could otherwise read it as the probability.
        out_tex = tex(net.loss.out)
        if arch.loss.kind == "binary_cross_entropy":
            out.append(rf"Prediction: ${pred_formula}$, the predicted label of each sample (1 when the "
                       rf"probability ${out_tex}$ of class 1 is at least 0.5, else 0; not the probability itself).")
        else:
            out.append(rf"Prediction: ${pred_formula}$, the predicted class of each sample (the class with the "
                       rf"largest probability in ${out_tex}$, numbered from 0).")
    if any(names.parse(q).new and q != names.LOSS_NEW for q in problem.asked):
        out.append(rf"Update: one step of gradient descent, $\theta_{{\text{{new}}}} = \theta - \eta\, d\theta$, "
                   rf"with learning rate $\eta = {tex_constant(arch.learning_rate)}$.")
    return tuple(out)

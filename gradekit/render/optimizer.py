"""How an optimizer exercise is stated: the rule with its convention in words and formula, its
hyperparameters, and a timeline of the steps (θ^(0) → θ^(1) → ..., the state below, each step's
gradient on its arrow) as its picture."""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from gradekit.engine.trace import Trace
from gradekit.model.notation import tex_constant
from gradekit.model.optimizer import Optimizer
from gradekit.model.problem import Problem
from gradekit.render.diagram import Diagram, Edge, Label, Node, Text, _box_of, _outline_point

MOMENTUM = {
    "classic": ("momentum in the classic convention (Sutskever et al.; the velocity carries the learning rate)",
                r"v^{(t)} = \mu\, v^{(t-1)} + \eta\, g^{(t)}", r"\theta^{(t)} = \theta^{(t-1)} - v^{(t)}"),
    "pytorch": ("momentum in PyTorch's convention (torch.optim.SGD: the learning rate multiplies the velocity)",
                r"v^{(t)} = \mu\, v^{(t-1)} + g^{(t)}", r"\theta^{(t)} = \theta^{(t-1)} - \eta\, v^{(t)}"),
    "cs231n": ("momentum in cs231n's convention (the velocity holds the step, with its sign)",
               r"v^{(t)} = \mu\, v^{(t-1)} - \eta\, g^{(t)}", r"\theta^{(t)} = \theta^{(t-1)} + v^{(t)}"),
    "ema": ("momentum as an exponential moving average of the gradients",
            r"v^{(t)} = \beta\, v^{(t-1)} + (1 - \beta)\, g^{(t)}", r"\theta^{(t)} = \theta^{(t-1)} - \eta\, v^{(t)}"),
}
NESTEROV = {
    "cs231n": ("Nesterov momentum in cs231n's form (Sutskever's look-ahead rewritten in the look-ahead parameter; "
               "$g^{(t)}$ is the gradient at $\\theta^{(t-1)}$)",
               r"v^{(t)} = \mu\, v^{(t-1)} - \eta\, g^{(t)}",
               r"\theta^{(t)} = \theta^{(t-1)} - \mu\, v^{(t-1)} + (1 + \mu)\, v^{(t)}"),
    "pytorch": ("Nesterov momentum in PyTorch's form (torch.optim.SGD with nesterov=True)",
                r"v^{(t)} = \mu\, v^{(t-1)} + g^{(t)}",
                r"\theta^{(t)} = \theta^{(t-1)} - \eta\, \bigl(g^{(t)} + \mu\, v^{(t)}\bigr)"),
}


def _root(x: str, place: str) -> str:
    return rf"\sqrt{{{x}}} + \epsilon" if place == "outside" else rf"\sqrt{{{x} + \epsilon}}"


def rule_sentences(m: Optimizer) -> list[str]:
    """The rule in words and formulas (symbols), then its hyperparameters' values."""
    out: list[str] = []
    if m.rule == "sgd":
        out.append(r"Optimizer: plain gradient descent, $\theta^{(t)} = \theta^{(t-1)} - \eta\, g^{(t)}$.")
        values = [rf"\eta = {tex_constant(m.lr)}"]
    elif m.rule in ("momentum", "nesterov"):
        words, v, theta = (MOMENTUM if m.rule == "momentum" else NESTEROV)[m.form]
        out.append(f"Optimizer: {words}: ${v}$, then ${theta}$.")
        sym = r"\beta" if m.form == "ema" and m.rule == "momentum" else r"\mu"
        values = [rf"\eta = {tex_constant(m.lr)}", rf"{sym} = {tex_constant(m.momentum)}"]
    elif m.rule == "rmsprop":
        where = "inside" if m.eps_place == "inside" else "outside"
        root_s = _root("s^{(t)}", m.eps_place)
        out.append(rf"Optimizer: RMSProp: $s^{{(t)}} = \rho\, s^{{(t-1)}} + (1 - \rho)\, \bigl(g^{{(t)}}\bigr)^{{2}}$, "
                   rf"then $\theta^{{(t)}} = \theta^{{(t-1)}} - \frac{{\eta\, g^{{(t)}}}}{{{root_s}}}$ "
                   f"($\\epsilon$ {where} the root).")
        values = [rf"\eta = {tex_constant(m.lr)}", rf"\rho = {tex_constant(m.rho)}", rf"\epsilon = {tex_constant(m.eps)}"]
    else:
        name = "AdamW" if m.decay == "decoupled" else "Adam"
        moments = (r"$m^{(t)} = \beta_1 m^{(t-1)} + (1 - \beta_1)\, g^{(t)}$ and "
                   r"$v^{(t)} = \beta_2 v^{(t-1)} + (1 - \beta_2)\, \bigl(g^{(t)}\bigr)^{2}$")
        where = "inside" if m.eps_place == "inside" else "outside"
        root_vhat, root_v = _root(r"\hat{v}^{(t)}", m.eps_place), _root("v^{(t)}", m.eps_place)
        if m.bias_correction:
            out.append(rf"Optimizer: {name}: {moments}; the bias-corrected moments "
                       r"$\hat{m}^{(t)} = \frac{m^{(t)}}{1 - \beta_1^{t}}$ and $\hat{v}^{(t)} = \frac{v^{(t)}}{1 - \beta_2^{t}}$, "
                       r"with $t$ counted from 1 (the first step is $t = 1$); then "
                       rf"$\theta^{{(t)}} = \theta^{{(t-1)}} - \frac{{\eta\, \hat{{m}}^{{(t)}}}}{{{root_vhat}}}$ "
                       f"($\\epsilon$ {where} the root).")
        else:
            out.append(rf"Optimizer: {name} without bias correction: {moments}; then "
                       rf"$\theta^{{(t)}} = \theta^{{(t-1)}} - \frac{{\eta\, m^{{(t)}}}}{{{root_v}}}$ "
                       f"($\\epsilon$ {where} the root; no division by $1 - \\beta^t$).")
        values = [rf"\eta = {tex_constant(m.lr)}", rf"\beta_1 = {tex_constant(m.beta1)}",
                  rf"\beta_2 = {tex_constant(m.beta2)}", rf"\epsilon = {tex_constant(m.eps)}"]
    if m.decay == "l2":
        out.append(r"Weight decay: L2 regularization in the gradient: the loss gains "
                   r"$\frac{\lambda}{2} \lVert\theta\rVert^{2}$, so the optimizer uses "
                   r"$g^{(t)} + \lambda\, \theta^{(t-1)}$ wherever $g^{(t)}$ appears above (before any moment or velocity).")
        values.append(rf"\lambda = {tex_constant(m.weight_decay)}")
    elif m.decay == "decoupled":
        out.append(r"Weight decay: decoupled (as AdamW): the gradient is used as it is, and "
                   r"$\eta\, \lambda\, \theta^{(t-1)}$ is subtracted from $\theta^{(t)}$ as well.")
        values.append(rf"\lambda = {tex_constant(m.weight_decay)}")
    out.append(f"Hyperparameters: ${'$, $'.join(values)}$.")
    return out


def sentences(problem: Problem, trace: Trace) -> tuple[str, ...]:
    m: Optimizer = problem.arch
    k = m.shape[0] * m.shape[1]
    what = (f"a vector of {k} entr{'ies' if k != 1 else 'y'}" if m.vector else "a 2 × 2 matrix")
    state = {"sgd": "", "momentum": r", the velocity $v^{(0)}$", "nesterov": r", the velocity $v^{(0)}$",
             "rmsprop": r", the running average $s^{(0)}$", "adam": r", the moments $m^{(0)}$ and $v^{(0)}$"}[m.rule]
    grads = ", ".join(f"$g^{{({t})}}$" for t in range(1, m.steps + 1))
    out = [f"The parameter $\\theta$ is {what}. Given: $\\theta^{{(0)}}${state}, and the gradient{'s' * (m.steps > 1)} "
           f"{grads} of step{'s' * (m.steps > 1)} 1 to {m.steps}." if m.steps > 1 else
           f"The parameter $\\theta$ is {what}. Given: $\\theta^{{(0)}}${state}, and the gradient {grads} of step 1."]
    out += rule_sentences(m)
    out.append("Squares, roots and divisions are taken entry by entry.")
    return tuple(out)


# --- the picture: a timeline of the steps -----------------------------------------------------------

GAP = 3.0  # cm between two steps
STATE_DROP = 1.6  # cm from θ's row down to the state's


def diagram(model: Any, given: Mapping[str, np.ndarray] | None = None) -> Diagram:
    """θ^(0) → θ^(1) → ... → θ^(T) on a row, each arrow labelled with its step's gradient; the
    state carried from step to step on a row below, feeding each new θ."""
    m: Optimizer = model
    state = {"momentum": "v", "nesterov": "v", "rmsprop": "s", "adam": "m, v"}.get(m.rule)
    nodes: list[Node] = []
    edges: list[Edge] = []
    for t in range(m.steps + 1):
        nodes.append(Node(f"theta-{t}", Label(r"\theta", sup=f"({t})"), t * GAP, 0.0, "box"))
        if state:
            nodes.append(Node(f"state-{t}", Label("m,v") if state == "m, v" else Label(state, sup=f"({t})"), t * GAP, -STATE_DROP, "box"))
    by_id = {n.id: n for n in nodes}
    texts: list[Text] = []
    for t in range(1, m.steps + 1):
        a, b = by_id[f"theta-{t - 1}"], by_id[f"theta-{t}"]
        at = ((a.x + b.x) / 2, 0.3)
        edges.append(Edge(a.id, b.id, Label("g", sup=f"({t})"), at, _outline_point(a, b), _outline_point(b, a)))
        if state:
            sa, sb = by_id[f"state-{t - 1}"], by_id[f"state-{t}"]
            edges.append(Edge(sa.id, sb.id, None, None, _outline_point(sa, sb), _outline_point(sb, sa)))
            edges.append(Edge(sb.id, b.id, None, None, _outline_point(sb, b), _outline_point(b, sb)))
        texts.append(Text(Label(f"step {t}", math=False), (a.x + b.x) / 2, -0.35 if not state else -0.8, "small"))
    boxes = [_box_of(n) for n in nodes] + [(e.at[0] - 0.4, e.at[1] - 0.2, e.at[0] + 0.4, e.at[1] + 0.25)
                                           for e in edges if e.at]
    boxes += [(t.x - 0.5, t.y - 0.2, t.x + 0.5, t.y + 0.2) for t in texts]
    margin = 0.15
    return Diagram(tuple(nodes), tuple(edges), tuple(texts), (),
                   round(min(b[0] for b in boxes) - margin, 3), round(min(b[1] for b in boxes) - margin, 3),
                   round(max(b[2] for b in boxes) + margin, 3), round(max(b[3] for b in boxes) + margin, 3))

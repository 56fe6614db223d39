"""A small, independent interpreter of key.json's `graph` (README "The graph"): NumPy only, no gradekit.

It is a second path to every value of a key, as finite differences are to the gradients: it
knows the ONNX operators' semantics (opset 21), the `grad` and `eval` step kinds of the format,
and nothing of how gradekit computes. Local derivatives of `grad` steps are taken numerically
(central differences of the step's own computation, with every other named value held).
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

import numpy as np

Array = np.ndarray
FD_STEP = 2.0 ** -17  # about 7.6e-6, a power of 2: x ± FD_STEP is exact for the small grid values of a map


def _axes(inputs: list[Array], at: Mapping[str, Any], index: int = 1) -> tuple[int, ...] | None:
    if len(inputs) > index:
        return tuple(int(a) for a in np.ravel(inputs[index]))
    return None


def _reduce(fn: Callable[..., Array]) -> Callable[[list[Array], Mapping[str, Any]], Array]:
    def run(ins: list[Array], at: Mapping[str, Any]) -> Array:
        axes = _axes(ins, at)
        if axes is None and at.get("noop_with_empty_axes", 0):
            return ins[0]
        return fn(ins[0], axis=axes, keepdims=bool(at.get("keepdims", 1)))
    return run


def _softmax(x: Array, axis: int) -> Array:
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _one_hot(ins: list[Array], at: Mapping[str, Any]) -> Array:
    indices, depth, values = ins[0].astype(np.int64), int(np.ravel(ins[1])[0]), np.ravel(ins[2])
    out = np.where(indices[..., None] == np.arange(depth), values[1], values[0])
    axis = int(at.get("axis", -1))
    return np.moveaxis(out, -1, axis) if axis != -1 else out


def _nll(ins: list[Array], at: Mapping[str, Any]) -> Array:
    logp, target = ins[0], ins[1].astype(np.int64)
    picked = -logp[np.arange(logp.shape[0]), target]
    reduction = at.get("reduction", "mean")
    return np.asarray(picked.mean() if reduction == "mean" else picked.sum() if reduction == "sum" else picked)


def _conv(ins: list[Array], at: Mapping[str, Any]) -> Array:
    """ONNX Conv (NCHW, group 1): cross-correlation of the zero-padded input with each filter, plus B."""
    x, w = ins[0], ins[1]
    b = ins[2] if len(ins) > 2 else np.zeros(w.shape[0])
    kh, kw = w.shape[2:]
    sh, sw = at.get("strides", [1, 1])
    top, left, bottom, right = at.get("pads", [0, 0, 0, 0])
    xp = np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)))
    ho, wo = (xp.shape[2] - kh) // sh + 1, (xp.shape[3] - kw) // sw + 1
    out = np.zeros((x.shape[0], w.shape[0], ho, wo))
    for n in range(x.shape[0]):
        for m in range(w.shape[0]):
            for r in range(ho):
                for c in range(wo):
                    out[n, m, r, c] = np.sum(xp[n, :, r * sh:r * sh + kh, c * sw:c * sw + kw] * w[m]) + b[m]
    return out


def _pool(reduce: Callable[[Array], float]) -> Callable[[list[Array], Mapping[str, Any]], Array]:
    """ONNX MaxPool / AveragePool (NCHW, no padding counted: pads of 0)."""
    def run(ins: list[Array], at: Mapping[str, Any]) -> Array:
        x = ins[0]
        kh, kw = at["kernel_shape"]
        sh, sw = at.get("strides", [1, 1])
        if any(at.get("pads", [0, 0, 0, 0])):
            raise NotImplementedError("pooling with pads")
        ho, wo = (x.shape[2] - kh) // sh + 1, (x.shape[3] - kw) // sw + 1
        out = np.zeros(x.shape[:2] + (ho, wo))
        for r in range(ho):
            for c in range(wo):
                for n in range(x.shape[0]):
                    for ch in range(x.shape[1]):
                        out[n, ch, r, c] = reduce(x[n, ch, r * sh:r * sh + kh, c * sw:c * sw + kw])
        return out
    return run


_CAST = {1: np.float32, 6: np.int32, 7: np.int64, 9: np.bool_, 11: np.float64}

OPERATORS: dict[str, Callable[[list[Array], Mapping[str, Any]], Array]] = {
    "MatMul": lambda i, a: i[0] @ i[1],
    "Add": lambda i, a: i[0] + i[1],
    "Sub": lambda i, a: i[0] - i[1],
    "Mul": lambda i, a: i[0] * i[1],
    "Div": lambda i, a: i[0] / i[1],
    "Neg": lambda i, a: -i[0],
    "Exp": lambda i, a: np.exp(i[0]),
    "Log": lambda i, a: np.log(i[0]),
    "Sqrt": lambda i, a: np.sqrt(i[0]),
    "Identity": lambda i, a: i[0],
    "Relu": lambda i, a: np.maximum(i[0], 0.0),
    "LeakyRelu": lambda i, a: np.where(i[0] >= 0, i[0], a.get("alpha", 0.01) * i[0]),
    "Sigmoid": lambda i, a: 1.0 / (1.0 + np.exp(-i[0])),
    "Tanh": lambda i, a: np.tanh(i[0]),
    "Softmax": lambda i, a: _softmax(i[0], int(a.get("axis", -1))),
    "ArgMax": lambda i, a: np.argmax(i[0], axis=int(a.get("axis", 0)), keepdims=bool(a.get("keepdims", 1))),
    "ReduceSum": _reduce(np.sum),
    "ReduceMean": _reduce(np.mean),
    "Transpose": lambda i, a: np.transpose(i[0], a.get("perm")),
    "Reshape": lambda i, a: np.reshape(i[0], [int(s) for s in np.ravel(i[1])]),
    "Unsqueeze": lambda i, a: np.expand_dims(i[0], tuple(int(x) for x in np.ravel(i[1]))),
    "OneHot": _one_hot,
    "Cast": lambda i, a: i[0].astype(_CAST[int(a["to"])]),
    "Where": lambda i, a: np.where(i[0], i[1], i[2]),
    "Greater": lambda i, a: i[0] > i[1],
    "GreaterOrEqual": lambda i, a: i[0] >= i[1],
    "Less": lambda i, a: i[0] < i[1],
    "Max": lambda i, a: np.maximum.reduce(np.broadcast_arrays(*i)),
    "Min": lambda i, a: np.minimum.reduce(np.broadcast_arrays(*i)),
    "Reciprocal": lambda i, a: 1.0 / i[0],
    "NegativeLogLikelihoodLoss": _nll,
    "Conv": _conv,
    "MaxPool": _pool(np.max),
    "AveragePool": _pool(np.mean),
}


class Interpreter:
    """Evaluates one problem's graph: `given` and the constants in, every step's value out."""

    def __init__(self, graph: Mapping[str, Any]):
        assert graph["format"] == "gradekit-graph" and graph["version"] == 1
        self.steps = list(graph["steps"])
        self.output = graph.get("output", "loss")  # the scalar every d<X> step is the gradient of
        self.by_name = {s["name"]: s for s in self.steps}
        self.constants = {n: np.asarray(c["value"], dtype=np.int64 if c["dtype"] == "int64" else np.float64)
                          for n, c in graph["constants"].items()}

    # -- what a step reads --

    def inputs_of(self, step: Mapping[str, Any]) -> list[str]:
        """The names a step reads directly."""
        if step["kind"] == "op":
            return list(step["inputs"])
        if step["kind"] == "grad":
            out = [step["wrt"]]
            for term in step["terms"]:
                out.append(term["of"])
                if term["upstream"] != 1:
                    out.append(term["upstream"])
            return out
        return [step["of"], *step["with"].values()]

    def own(self, name: str) -> list[str]:
        """The internal steps of a named step's own computation, in order, and the step itself."""
        needed: set[str] = set()
        stack = [name]
        while stack:
            n = stack.pop()
            if n in needed:
                continue
            needed.add(n)
            for d in self.inputs_of(self.by_name[n]) if self.by_name[n]["kind"] == "op" else []:
                if d.startswith("_") and d in self.by_name:
                    stack.append(d)
        return [s["name"] for s in self.steps if s["name"] in needed]

    def reads(self, name: str) -> set[str]:
        """The named values and given values a named step's computation reads (its own internal steps
        looked through): what follow-through must take from the student for this step."""
        step = self.by_name[name]
        if step["kind"] == "grad":
            out = {step["wrt"]}
            for term in step["terms"]:
                out |= self.reads(term["of"]) - {term["of"]}
                if term["upstream"] != 1:
                    out.add(term["upstream"])
            return out
        if step["kind"] == "eval":
            return set(self.inputs_of(step))
        out: set[str] = set()
        for n in self.own(name):
            for d in self.inputs_of(self.by_name[n]):
                if not (d.startswith("_") and d in self.by_name) and d not in self.constants:
                    out.add(d)
        return out

    # -- evaluation --

    def _op(self, step: Mapping[str, Any], env: Mapping[str, Array]) -> Array:
        ins = [self.constants[d] if d in self.constants else env[d] for d in step["inputs"]]
        return np.asarray(OPERATORS[step["op"]](ins, step.get("attributes", {})))

    def _own_value(self, name: str, env: dict[str, Array]) -> Array:
        """A named step redone from env: its own internal steps re-run, everything else read."""
        local = dict(env)
        for n in self.own(name):
            local[n] = self.evaluate_step(self.by_name[n], local)
        return local[name]

    def _grad(self, step: Mapping[str, Any], env: Mapping[str, Array]) -> Array:
        wrt = step["wrt"]
        base = np.asarray(env[wrt], dtype=float)
        total = np.zeros_like(base)
        for term in step["terms"]:
            upstream = 1.0 if term["upstream"] == 1 else np.asarray(env[term["upstream"]], dtype=float)
            for index in np.ndindex(base.shape):
                moved = []
                for sign in (1, -1):
                    value = base.copy()
                    value[index] += sign * FD_STEP
                    moved.append(np.asarray(self._own_value(term["of"], {**env, wrt: value}), dtype=float))
                # the difference entry by entry before the sum: a map's large entries cancel exactly
                total[index] += float(np.sum(upstream * (moved[0] - moved[1]))) / (2 * FD_STEP)
        return total

    def evaluate_step(self, step: Mapping[str, Any], env: Mapping[str, Array]) -> Array:
        if step["kind"] == "op":
            return self._op(step, env)
        if step["kind"] == "grad":
            return self._grad(step, env)
        replaced = {**{k: env[k] for k in env if not k.startswith("_")}}
        given = {k: v for k, v in replaced.items() if k in self.given_names}
        given.update({k: env[v] for k, v in step["with"].items()})
        return self.run(given, until=step["of"])[step["of"]]

    def run(self, given: Mapping[str, Any], until: str | None = None) -> dict[str, Array]:
        """Every step's value, in order, from the given values (up to and with `until`)."""
        self.given_names = set(given)
        env = {k: np.asarray(v, dtype=float) for k, v in given.items()}
        for step in self.steps:
            env[step["name"]] = self.evaluate_step(step, env)
            if step["name"] == until:
                break
        return env

    def loss_from(self, env: Mapping[str, Array], name: str, value: Array) -> float:
        """The loss with `name` set to `value` and every forward step after it re-run."""
        local = dict(env)
        local[name] = value
        start = 0 if name not in self.by_name else [s["name"] for s in self.steps].index(name) + 1
        for step in self.steps[start:]:
            local[step["name"]] = self.evaluate_step(step, local)
            if step["name"] == self.output:
                break
        return float(local[self.output])

"""Independent checks of the engine: centred finite differences and SymPy's symbolic derivatives.

Neither check uses the engine's backward steps. Finite differences perturb one entry of a
quantity (a parameter, or an intermediate such as Z2) and re-run the engine's forward pass from
there. The SymPy check rebuilds the same network symbolically from its forward definitions
alone (exact rationals for the given numbers), differentiates the scalar loss with sympy.diff
and evaluates at 30 significant digits. Every gradient the trace states (dA, dZ, dW, db,
dgamma, dbeta, dXhat) is checked, then every update and the loss after the update; SymPy also
checks the forward values (Z, A, batch statistics, loss). SymPy is imported here only, inside
functions, and this module is imported only by the `verify` command, never by the CLI module.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any, Callable, Iterable, Mapping, Sequence, Union

import numpy as np

from gradekit.engine import build as engine
from gradekit.engine.layout import expected_shape, to_rows
from gradekit.engine.trace import Trace, evaluate_steps
from gradekit.model import names
from gradekit.model.network import Architecture, BatchNorm, Dense, Dropout, LayerNorm, Loss, WeightDecay
from gradekit.ops.families import network_for

Array = np.ndarray
InstanceSource = Callable[[int], Mapping[str, Array]]
Configuration = Union[tuple[str, Architecture], tuple[str, Architecture, InstanceSource]]

# SymPy evaluates the exact derivative at 30 digits, so anything beyond float64 round-off in
# the engine (1e-16..1e-14 relative, measured) is a real error; 1e-8 leaves room for round-off only.
SYMPY_TOLERANCE = 1e-8
SYMPY_DIGITS = 30
# Centred differences carry truncation error ~ h^2 |f'''| / 6 and round-off ~ 1e-16 |L| / h.
# With h = 1e-6 on values of order 1 that is about 1e-10..1e-8 (measured: worst 9.5e-9 over
# 4,000 hypothesis-drawn architectures and instances). A wrong formula is off by far more (a
# dropped 1/N, a missing Jacobian term: 1e-2 and up), so 1e-6 catches every such bug while
# leaving the method's own error a 100x margin.
FD_STEP = 1e-6
FD_TOLERANCE = 1e-6
# Instances are redrawn until they are well-conditioned for both checks (see random_instance).
KINK_MARGIN = 1e-3
VARIANCE_FLOOR = 1e-3


def relative_error(a: Array, b: Array) -> float:
    """Largest |a - b| / max(1, |b|): relative for large values, absolute near 0 (no blow-up)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape:
        return float("inf")
    if a.size == 0:
        return 0.0
    return float(np.max(np.abs(a - b) / np.maximum(1.0, np.abs(b))))


# --- random well-conditioned instances -----------------------------------------------------


DRAWS = 1000  # random_instance's budget
WIDEN_EVERY = 100  # draws whose batch-norm input barely varied before the weights are drawn twice as wide
# Where random given values come from, by the base of their name: [-1, 1] unless said here.
DRAW_RANGES = {"gamma": (0.5, 1.5)}  # a batch-norm scale near 0 kills the layer
WIDENED = frozenset({"W"})  # drawn wider after batch-norm inputs kept varying too little


def random_instance(arch: Architecture, rng: np.random.Generator) -> dict[str, Array]:
    """Random float64 given values (X, Y, parameters), redrawn until well-conditioned.

    Rejected: a ReLU/leaky ReLU input within KINK_MARGIN of 0 (a kink has no derivative, and a
    finite difference that straddles it measures neither side), and a batch-norm variance
    below VARIANCE_FLOOR (the gradient then scales like 1/sqrt(var) and its curvature like
    var^-3/2, so finite differences lose their accuracy).

    Squashing layers before a batch norm shrink the spread of its input (a sigmoid's slope is at
    most 1/4): behind two sigmoids, 2 samples drawn with weights in [-1, 1] almost never vary
    enough. Batch norm undoes any scale of its input, so the weights are drawn twice as wide
    after every WIDEN_EVERY such draws, and such architectures are sampled as readily as others.
    """
    reasons: dict[str, int] = {}
    for _ in range(DRAWS):
        spread = 2.0 ** min(4, sum(n for r, n in reasons.items() if r.startswith("batch norm")) // WIDEN_EVERY)
        given: dict[str, Array] = {}
        for g in network_for(arch).given:
            shape = expected_shape(arch, g.name)
            if g.labels:
                given[g.name] = rng.integers(0, g.labels, size=shape).astype(float)
            elif g.domain == "M" and g.axes == "batch":  # a dropout mask: 0 drops a unit of a sample, 1 keeps it
                given[g.name] = rng.integers(0, 2, size=shape).astype(float)
            else:
                low, high = DRAW_RANGES.get(g.domain, (-1.0, 1.0))
                widen = spread if g.domain in WIDENED else 1.0
                given[g.name] = rng.uniform(low * widen, high * widen, size=shape)
        reason = ill_conditioned(arch, engine.run_forward(arch, given))
        if reason is None:
            return given
        reasons[reason] = reasons.get(reason, 0) + 1
    from gradekit.util.errors import UnsatisfiableSpecError

    common = max(reasons, key=reasons.__getitem__)
    raise UnsatisfiableSpecError(f"no well-conditioned instance for the checks in {DRAWS} draws; most often "
                                 f"({reasons[common]} times): {common}")


def ill_conditioned(arch: Architecture, values: Mapping[str, Array]) -> str | None:
    """Why finite differences would be inaccurate at these values (forward values, rows layout), or
    None when they are fine: each op says (`Op.conditioning`), in the order of the ops."""
    for op in network_for(arch).ops:
        reason = op.conditioning(values, KINK_MARGIN, VARIANCE_FLOOR)
        if reason is not None:
            return reason
    return None


# --- what is checked ------------------------------------------------------------------------


def gradient_names(trace: Trace) -> list[str]:
    """Every gradient the trace states (`dW1`, `dZ2`, `dXhat2`, ...): `d` + a quantity it holds."""
    return _gradient_names(trace.names)


def _errors(trace: Trace, independent: Mapping[str, Array]) -> dict[str, float]:
    """Relative error of each trace quantity against its independently computed value (rows layout)."""
    return {name: relative_error(trace.rows[name], value) for name, value in independent.items()}


def _sgd(arch: Architecture) -> Any:
    """The model's SGD update op, if it has one (its learning rate and parameters)."""
    return next((op for op in network_for(arch).after if op.kind == "sgd"), None)


def _updates(arch: Architecture, given: Mapping[str, Array], grads: Mapping[str, Array]) -> dict[str, Array]:
    """`{p}_new = p - lr * dp` from independent gradients (the SGD rule, applied here on its own)."""
    sgd = _sgd(arch)
    if sgd is None:
        return {}
    return {names.new(p.name): np.asarray(given[p.name], dtype=float) - sgd.lr * np.asarray(grads[names.grad(p.name)])
            for p in sgd.params}


# --- finite differences ------------------------------------------------------------------


def _loss_after_replacing(arch: Architecture, trace: Trace, name: str, value: Array) -> float:
    """The loss with `name` set to `value` (rows layout) and the forward pass re-run from there on.

    A given value re-runs the whole forward pass; an intermediate (Z2, A1, Xhat2) keeps the
    forward values computed before it and re-evaluates only the forward steps after it.
    """
    forward = engine.forward_steps(arch)
    if name in arch.given_names():
        given = {n: trace.rows[n] for n in arch.given_names()}
        return float(evaluate_steps(forward, {**given, name: value})[engine.output_name(arch)])
    start = next(i for i, s in enumerate(forward) if s.name == name) + 1
    values = {**trace.rows, name: value}
    for s in forward[start:]:
        values[s.name] = s.evaluate(values)
    return float(values[engine.output_name(arch)])


def finite_difference_gradients(arch: Architecture, trace: Trace) -> dict[str, Array]:
    """Every gradient of the trace by centred differences of the forward pass: dq ~ (L(q+h) - L(q-h)) / 2h
    (rows layout)."""
    grads: dict[str, Array] = {}
    for grad_name in gradient_names(trace):
        name = names.gradient_of(grad_name)
        base = np.asarray(trace.rows[name], dtype=float)
        grad = np.zeros_like(base)
        for index in np.ndindex(base.shape):
            up, down = base.copy(), base.copy()
            up[index] += FD_STEP
            down[index] -= FD_STEP
            plus = _loss_after_replacing(arch, trace, name, up)
            minus = _loss_after_replacing(arch, trace, name, down)
            grad[index] = (plus - minus) / (2 * FD_STEP)
        grads[grad_name] = grad
    return grads


def _differentiable(arch: Any) -> bool:
    """Whether the family has a scalar output its gradients are of (a loss, a circuit's output, a
    cell's stand-in loss); an optimizer exercise has none: its gradients are given."""
    return any(s.name == network_for(arch).output for s in engine.steps_for(arch))


def finite_difference_errors(arch: Architecture, given: Mapping[str, Array]) -> dict[str, float]:
    """Per quantity: the trace against finite differences (gradients, updates, loss after); nothing
    for a family without a loss (an optimizer exercise: its gradients are given)."""
    if not _differentiable(arch):
        return {}
    trace = engine.run(arch, given)
    independent: dict[str, Array] = finite_difference_gradients(arch, trace)
    updated = _updates(arch, trace.rows, independent)
    independent.update(updated)
    if names.LOSS_NEW in trace:
        given_rows = {n: trace.rows[n] for n in arch.given_names()}
        new_params = {names.before_update(n): v for n, v in updated.items()}
        independent[names.LOSS_NEW] = evaluate_steps(engine.forward_steps(arch), {**given_rows, **new_params})["loss"]
    return _errors(trace, independent)


def finite_difference_check(arch: Architecture, given: Mapping[str, Array]) -> float:
    """Largest relative error of the engine's gradients, updates and loss after against finite differences."""
    return max([0.0, *finite_difference_errors(arch, given).values()])


# --- SymPy ----------------------------------------------------------------------------------


def _exact(value: float) -> Any:
    """A float as the exact rational it stands for (0.1 is 3602879701896397/2^55), so SymPy is exact."""
    import sympy

    return sympy.Rational(*float(value).as_integer_ratio())


class _Evaluator:
    """Values of SymPy expressions at a point, in mpmath at SYMPY_DIGITS digits.

    Each distinct subexpression is evaluated once and remembered: the derivatives of one loss
    share most of their subtrees, and a plain evalf per derivative would redo them every time.
    """

    def __init__(self, point: Mapping[Any, Any]):
        import mpmath
        import sympy

        self.mpmath, self.sympy = mpmath, sympy
        self.memo: dict[Any, Any] = {}
        self.functions = {sympy.exp: mpmath.exp, sympy.log: mpmath.log, sympy.tanh: mpmath.tanh}
        for symbol, value in point.items():
            self.set(symbol, value)

    def set(self, symbol: Any, value: Any) -> None:
        """Give a symbol its value (an exact Rational, an int, or an mpf)."""
        with self.mpmath.workdps(SYMPY_DIGITS):
            self.memo[symbol] = value if isinstance(value, self.mpmath.mpf) else self._number(value)

    def _number(self, e: Any) -> Any:
        if isinstance(e, int):
            return self.mpmath.mpf(e)
        return self.mpmath.mpf(int(e.p)) / int(e.q)  # a Rational; exact when q is a power of 2

    def __call__(self, e: Any) -> Any:
        with self.mpmath.workdps(SYMPY_DIGITS):
            return self._value(e)

    def _value(self, e: Any) -> Any:
        v = self.memo.get(e)
        if v is not None:
            return v
        if e.is_Rational:
            v = self._number(e)
        elif e.is_Add:
            v = self.mpmath.fsum(self._value(a) for a in e.args)
        elif e.is_Mul:
            v = self.mpmath.fprod(self._value(a) for a in e.args)
        elif e.is_Pow:
            base, power = e.args
            v = self._value(base) ** (int(power) if power.is_Integer else self._value(power))
        elif e.func in self.functions:
            v = self.functions[e.func](self._value(e.args[0]))
        elif e.is_Symbol:
            raise KeyError(f"no value for the symbol {e}")
        else:  # anything else SymPy may produce: its own arbitrary-precision evaluation
            point = {s: self.sympy.Float(str(x), SYMPY_DIGITS) for s, x in self.memo.items() if s.is_Symbol}
            v = self.mpmath.mpf(str(self.sympy.N(e.xreplace(point), SYMPY_DIGITS)))
        self.memo[e] = v
        return v


def _symbol_matrix(name: str, shape: tuple[int, ...]) -> Any:
    """A Matrix of fresh real symbols `name_i_j`; a scalar (shape ()) is a 1x1 Matrix.

    Real, because SymPy otherwise asks whether tanh of a long expression is real by reducing
    its imaginary part modulo pi/2, which can exhaust memory.
    """
    import sympy

    rows, cols = (tuple(shape) + (1, 1))[:2]
    return sympy.Matrix(rows, cols, lambda i, j: sympy.Symbol(f"{name}_{i}_{j}", real=True))


class _Symbols:
    """What an op's `symbolic` hook writes its forward pass with (gradekit.ops.base.Symbolic): the
    network's values so far as SymPy matrices (rows layout), fresh symbols, and ReLU indicators."""

    def __init__(self, sp: Any, values: dict[str, Any], replaced: Mapping[str, Any], indicators: dict[str, Any]):
        self.sp, self.values, self.replaced, self.indicators = sp, values, replaced, indicators

    def symbols(self, name: str, shape: tuple[int, int]) -> Any:
        return _symbol_matrix(name, shape)

    def exact(self, value: float) -> Any:
        return _exact(value)

    def indicator(self, name: str, of: Any) -> Any:
        """Symbols standing for [of > 0], entry by entry; their values are set from the point."""
        if name not in self.indicators:
            self.indicators[name] = (_symbol_matrix(name, of.shape), of)
        return self.indicators[name][0]

    def put(self, name: str, make: Callable[[], Any]) -> Any:
        """A forward quantity: made by the op, or the stand-in that replaces it."""
        self.values[name] = self.replaced[name] if name in self.replaced else make()
        return self.values[name]


class _SymbolicModel:
    """One architecture's network in SymPy (rows layout: samples are rows), built from the
    forward definitions alone (each op's `symbolic` hook) and differentiated once; an instance
    only evaluates it.

    Everything is a symbol: X, the targets (one-hot T for cross-entropy), the parameters, and
    `h{l}`, the indicator [Z > 0] of each ReLU entry. A ReLU is `h * Z` (leaky: `(h + slope
    (1 - h)) * Z`); away from the kink h is a constant 0 or 1 that the point fixes, which is
    exactly the derivative of the piece the point lies on. So one expression serves every
    instance, whatever its numbers and its ReLU pattern.

    The gradient of a quantity is sympy.diff of the loss with respect to each of its entries.
    For an intermediate (Z2, A1, Xhat2) the loss is rebuilt from that quantity on, with the
    quantity replaced by fresh symbols `s_Z2_i_j`. For a parameter the loss is likewise taken
    from the input of its layer on (A1 for W2: A1 does not depend on W2), which is the same
    derivative of a shorter expression.
    """

    def __init__(self, arch: Architecture, intermediates: bool):
        import sympy

        self.sp, self.arch, self.net = sympy, arch, network_for(arch)
        # Class labels are one-hot rows of symbols (a loss reads the true class's column); every
        # other given value is a matrix of symbols of its shape (a scalar is 1x1), and the loss may
        # be differentiated with respect to it.
        self.labels = {g.name: g.labels for g in self.net.given if g.labels}
        rows = {g.name: g.shape[0] for g in self.net.given if g.labels}  # one label per sample (or output step)
        self.inputs = {name: _symbol_matrix(name, (rows[name], k)) for name, k in self.labels.items()}
        self.params = {g.name: _symbol_matrix(g.name, (g.shape + (1, 1))[:2]) for g in self.net.given
                       if g.name not in self.labels}
        self.indicators: dict[str, Any] = {}
        self.forward = self._forward({})
        steps = [s.name for s in engine.steps_for(arch)]
        wanted = [g for g in _gradient_names(steps) if intermediates or names.gradient_of(g) in self.params]
        self.stand_ins: dict[str, Any] = {}
        self.output = engine.output_name(arch)
        tails: dict[str | None, Any] = {None: self.forward[self.output]}
        self.gradients: dict[str, Any] = {}
        for grad_name in wanted:
            name = names.gradient_of(grad_name)
            start = self._tail_start(name)
            if start not in tails:
                self.stand_ins[start] = _symbol_matrix(f"s_{start}", self.forward[start].shape)
                tails[start] = self._forward({start: self.stand_ins[start]})[self.output]
            of = self.params[name] if name in self.params else self.stand_ins[name]
            self.gradients[grad_name] = of.applyfunc(tails[start].diff)

    def _forward(self, replaced: Mapping[str, Any]) -> dict[str, Any]:
        """Every forward quantity and the loss; a quantity in `replaced` is taken from there."""
        values = {**self.inputs, **self.params}
        s = _Symbols(self.sp, values, replaced, self.indicators)
        for op in self.net.ops:
            op.symbolic(s)
        return {k: v for k, v in values.items() if k not in self.inputs and k not in self.params}

    def _tail_start(self, name: str) -> str | None:
        """The forward quantity from which on the loss depends on `name` (None: the whole network)."""
        if name not in self.params:
            return name
        parsed = names.parse(name)
        op = self.net.layer_op(parsed.index) if parsed is not None and parsed.index else None
        if op is None:  # not a layer's parameter: from the start
            return None
        l = op.l
        if op.kind == "batch_norm":
            return names.of("Xhat", l)  # gamma and beta enter after the normalization
        return None if l == 1 else names.of("A", l - 1)

    def at(self, given_rows: Mapping[str, Array]) -> _Evaluator:
        """An evaluator at one instance (values in rows), with every ReLU indicator and stand-in set."""
        point: dict[Any, Any] = {}

        def assign(symbols: Any, values: Array) -> None:
            point.update(zip(symbols, (_exact(v) for v in np.ravel(values))))

        for name, classes in self.labels.items():
            labels = np.asarray(given_rows[name]).astype(int)
            assign(self.inputs[name], (labels[:, None] == np.arange(classes)).astype(float))
        for p, symbols in self.params.items():
            assign(symbols, given_rows[p])
        evaluate = _Evaluator(point)
        for h, z in self.indicators.values():  # in layer order: Z{l} needs the indicators before it
            for hij, zij in zip(h, z):
                evaluate.set(hij, 1 if evaluate(zij) > 0 else 0)
        for name, symbols in self.stand_ins.items():
            for s, e in zip(symbols, self.forward[name]):
                evaluate.set(s, evaluate(e))
        return evaluate


def _gradient_names(steps: Sequence[str]) -> list[str]:
    """The steps named d<X> for a quantity X of the trace: gradients of the loss."""
    known = set(steps)
    return [n for n in steps if names.gradient_of(n) in known]


def _model_key(arch: Architecture) -> Architecture:
    """What the symbolic model depends on: not the layout (it is built in rows), nor the learning rate."""
    return replace(arch, layout="rows", **({"learning_rate": 1.0} if hasattr(arch, "learning_rate") else {}))


def _model(arch: Architecture, intermediates: bool) -> _SymbolicModel:
    return _cached_model(_model_key(arch), intermediates)


@lru_cache(maxsize=64)
def _cached_model(arch: Architecture, intermediates: bool) -> _SymbolicModel:
    # Cached: building and differentiating is the slow part (seconds), evaluating an instance
    # the fast one (milliseconds), and verify checks many instances of each architecture.
    return _SymbolicModel(arch, intermediates)


def _numeric(evaluate: _Evaluator, m: Any) -> Array:
    return np.array([[float(evaluate(m[i, j])) for j in range(m.shape[1])] for i in range(m.shape[0])])


def sympy_values(arch: Architecture, given: Mapping[str, Array], intermediates: bool = True) -> dict[str, Array]:
    """What SymPy says every checked quantity is, in the rows layout.

    The forward values and the loss; the gradient of every parameter and, with
    `intermediates`, of every intermediate the engine states (dA, dZ, dXhat); the updates
    `p - lr * dp`, and the loss after them (the same symbolic loss at the updated point, where
    a ReLU input may have changed sign).
    """
    rows = {n: to_rows(np.asarray(v, dtype=float), arch.layout) for n, v in given.items()}
    if not _differentiable(arch):
        return _values_without_loss(arch, rows)
    model = _model(arch, intermediates)
    evaluate = model.at(rows)
    shapes = {p: np.shape(rows[p]) for p in arch.parameter_names()}
    out = model.output
    results: dict[str, Array] = {out: np.asarray(float(evaluate(model.forward[out])))}
    scalars = {s.name for s in engine.steps_for(arch) if s.axes == "scalar"}
    for name, m in model.forward.items():
        if name != out:
            if not hasattr(m, "shape"):  # a scalar beside the loss (a data loss, a penalty): no Matrix
                results[name] = np.asarray(float(evaluate(m)))
                continue
            value = _numeric(evaluate, m)
            results[name] = value.reshape(()) if name in scalars and value.size == 1 else value
    for grad_name, m in model.gradients.items():
        value = _numeric(evaluate, m)
        scalar = shapes.get(names.gradient_of(grad_name)) == () or (grad_name in scalars and value.size == 1)
        results[grad_name] = value.reshape(()) if scalar else value
    updated = _updates(arch, rows, results)
    results.update(updated)
    if _sgd(arch) is not None:
        new_rows = {**rows, **{p: updated[names.new(p)] for p in arch.parameter_names()}}
        results["loss_new"] = np.asarray(float(model.at(new_rows)(model.forward[out])))
    return results


@lru_cache(maxsize=64)
def _computed_symbolically(arch: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """A family without a loss (an optimizer exercise): every computed quantity in SymPy as a
    function of the given values' symbols (θ^(T) of θ^(0), the initial state and the gradients)."""
    import sympy

    net = network_for(arch)
    symbols = {g.name: _symbol_matrix(g.name, (g.shape + (1, 1))[:2]) for g in net.given}
    values: dict[str, Any] = dict(symbols)
    s = _Symbols(sympy, values, {}, {})
    for op in net.ops:
        op.symbolic(s)
    return symbols, {k: v for k, v in values.items() if k not in symbols}


def _values_without_loss(arch: Any, rows: Mapping[str, Array]) -> dict[str, Array]:
    symbols, computed = _computed_symbolically(arch)
    point: dict[Any, Any] = {}
    for name, m in symbols.items():
        point.update(zip(m, (_exact(v) for v in np.ravel(rows[name]))))
    evaluate = _Evaluator(point)
    return {name: _numeric(evaluate, m) for name, m in computed.items()}


def sympy_errors(arch: Architecture, given: Mapping[str, Array], intermediates: bool = True) -> dict[str, float]:
    """Per quantity: the trace against SymPy."""
    return _errors(engine.run(arch, given), sympy_values(arch, given, intermediates))


def sympy_check(arch: Architecture, given: Mapping[str, Array], intermediates: bool = True) -> float:
    """Largest relative error of the engine (forward, gradients, updates, loss after) against SymPy."""
    return max(sympy_errors(arch, given, intermediates).values())


# --- the verify command's table -----------------------------------------------------------


@dataclass(frozen=True)
class VerifyRow:
    """One configuration's result; sympy_error is None when SymPy checked no instance."""

    label: str
    instances: int
    fd_error: float
    sympy_error: float | None
    sympy_instances: int
    worst: str  # the quantity with the largest error relative to its tolerance

    @property
    def agrees(self) -> bool:
        return self.fd_error <= FD_TOLERANCE and (self.sympy_error is None or self.sympy_error <= SYMPY_TOLERANCE)

    @property
    def verdict(self) -> str:
        return "agree" if self.agrees else "DISAGREE"


def _check_configuration(label: str, arch: Architecture, instances: Sequence[Mapping[str, Array]],
                         symbolic: int) -> VerifyRow:
    """Both checks of every instance of one configuration (SymPy on the first `symbolic`).

    Top-level so that worker processes can run it; one configuration per call, so that each
    worker builds an architecture's symbolic model once and evaluates it for every instance.
    """
    fd_worst, sym_worst, worst = 0.0, None, (0.0, "")
    for i, given in enumerate(instances):
        fd = finite_difference_errors(arch, given)
        sym = sympy_errors(arch, given) if i < symbolic else {}
        fd_worst = max([fd_worst, *fd.values()])
        if sym:
            sym_worst = max(sym_worst or 0.0, *sym.values())
        scored = [(e / FD_TOLERANCE, f"{n} (finite differences)") for n, e in fd.items()]
        scored += [(e / SYMPY_TOLERANCE, f"{n} (SymPy)") for n, e in sym.items()]
        worst = max([worst, *scored])
    return VerifyRow(label, len(instances), fd_worst, sym_worst, min(symbolic, len(instances)), worst[1])


def _instances(config: Configuration, seed: int) -> tuple[str, Architecture, InstanceSource]:
    """A configuration with its source of instances: its own, or random ones from `seed`."""
    if len(config) == 3:
        return config  # type: ignore[return-value]
    label, arch = config  # type: ignore[misc]
    key = zlib.crc32(label.encode())  # instances depend on the label, not on the list's order
    return label, arch, lambda i: random_instance(arch, np.random.default_rng([seed, key, i]))


def _model_cost(arch: Architecture) -> int:
    """A rough cost of building a symbolic model: expression size grows with every op and given entry."""
    net = network_for(arch)
    return len(net.ops) * sum(int(np.prod(g.shape)) for g in net.given)


def _check_group(tasks: Sequence[tuple[str, Architecture, Sequence[Mapping[str, Array]], int]]) -> list[VerifyRow]:
    """Configurations that share one symbolic model, checked in one process (so built once)."""
    return [_check_configuration(*task) for task in tasks]


def verify(configs: Iterable[Configuration], count: int, seed: int = 0, *,
           sympy_count: int | None = None, jobs: int = 1,
           progress: Callable[[int], None] = lambda done: None) -> list[VerifyRow]:
    """Check `count` instances of each configuration with finite differences, and with SymPy
    the first `sympy_count` of them (default: all).

    A configuration is (label, Architecture), checked on random_instance draws from `seed`, or
    (label, Architecture, instance function) for instances drawn elsewhere (the built-in
    problems' own sampler). With jobs > 1 the configurations are spread over worker processes,
    those sharing a symbolic model (same network in either layout) in the same worker.
    `progress` is told how many more configurations are done, as they finish.
    """
    symbolic = count if sympy_count is None else min(sympy_count, count)
    sourced = [_instances(c, seed) for c in configs]
    tasks = [(label, arch, [source(i) for i in range(count)], symbolic) for label, arch, source in sourced]
    groups: dict[Architecture, list[int]] = {}
    for i, (_, arch, _, _) in enumerate(tasks):
        groups.setdefault(_model_key(arch), []).append(i)
    # Longest first, so that no worker is left with a slow model at the end.
    order = sorted(groups.values(), key=lambda g: (_model_cost(tasks[g[0]][1]), len(g)), reverse=True)
    if jobs > 1 and len(order) > 1:
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(max_workers=jobs) as pool:
            done = []
            for rows_of_group in pool.map(_check_group, [[tasks[i] for i in g] for g in order], chunksize=1):
                done.append(rows_of_group)
                progress(len(rows_of_group))
    else:
        done = []
        for g in order:
            done.append(_check_group([tasks[i] for i in g]))
            progress(len(g))
    rows: dict[int, VerifyRow] = {i: row for g, group_rows in zip(order, done) for i, row in zip(g, group_rows)}
    return [rows[i] for i in range(len(tasks))]


def builtin_configurations(seed: int = 0) -> list[tuple[str, Architecture, InstanceSource]]:
    """Every built-in problem, with instances drawn by its own sampler (as students get them)."""
    from gradekit.sampling.sampler import sample
    from gradekit.spec.reader import builtin_problem_paths, load_problem
    from gradekit.sampling.variants import Variant, problem_seed

    configs: list[tuple[str, Architecture, InstanceSource]] = []
    for pid, path in builtin_problem_paths().items():
        problem = load_problem(path)

        def instance(i: int, problem=problem, pid=pid) -> Mapping[str, Array]:
            return sample(problem, problem_seed("verify", Variant(seed=seed * 1_000_003 + i), pid)).given

        configs.append((pid, problem.arch, instance))
    return configs


def _two_layer(layout: str, act: str, bias: str, slope: float = 0.01) -> Architecture:
    return Architecture(layout, 2, 3, (Dense(2, act, bias, slope), Dense(1, "identity", bias)),  # type: ignore[arg-type]
                        Loss("mse", "mean", True), 0.1)


def engine_configurations() -> list[tuple[str, Architecture]]:
    """Architectures covering every activation, loss (and reduction, and 1/2), layout, bias kind,
    depth 1 to 3, with and without batch norm. Only valid combinations: cross-entropy needs a
    softmax output, binary cross-entropy a 1-unit sigmoid output, batch norm 2+ samples."""
    out: list[tuple[str, Architecture]] = []
    for lay in ("rows", "columns"):
        out += [
            (f"{lay}: identity hidden, mse 1/2 mean, vector bias", _two_layer(lay, "identity", "vector")),
            (f"{lay}: sigmoid hidden, mse 1/2 mean, scalar bias", _two_layer(lay, "sigmoid", "scalar")),
            (f"{lay}: tanh hidden, mse 1/2 mean, no bias", _two_layer(lay, "tanh", "none")),
            (f"{lay}: relu hidden, mse 1/2 mean, vector bias", _two_layer(lay, "relu", "vector")),
            (f"{lay}: leaky_relu hidden, mse 1/2 mean, scalar bias", _two_layer(lay, "leaky_relu", "scalar", 0.1)),
            (f"{lay}: depth 1, 2 linear outputs, mse mean",
             Architecture(lay, 3, 3, (Dense(2, "identity"),), Loss("mse", "mean"), 0.1)),
            (f"{lay}: depth 1 softmax, cross_entropy sum, scalar bias",
             Architecture(lay, 2, 2, (Dense(3, "softmax", "scalar"),), Loss("cross_entropy", "sum"), 0.5)),
            (f"{lay}: depth 1 sigmoid, binary_cross_entropy sum, no bias",
             Architecture(lay, 3, 3, (Dense(1, "sigmoid", "none"),), Loss("binary_cross_entropy", "sum"), 0.5)),
            (f"{lay}: tanh, sigmoid output, binary_cross_entropy mean",
             Architecture(lay, 3, 3, (Dense(2, "tanh"), Dense(1, "sigmoid")), Loss("binary_cross_entropy", "mean"), 0.5)),
            (f"{lay}: tanh, softmax output under mse 1/2 sum",
             Architecture(lay, 2, 2, (Dense(2, "tanh"), Dense(3, "softmax")), Loss("mse", "sum", True), 0.5)),
            (f"{lay}: batch norm + relu, softmax, cross_entropy mean",
             Architecture(lay, 2, 3, (Dense(2, "identity", "none"), BatchNorm(2, "relu"), Dense(2, "softmax")),
                          Loss("cross_entropy", "mean"), 0.1)),
            (f"{lay}: sigmoid, batch norm + tanh, identity output, mse mean",
             Architecture(lay, 2, 3, (Dense(2, "sigmoid", "scalar"), BatchNorm(2, "tanh", 1e-3),
                                      Dense(1, "identity", "none")), Loss("mse", "mean"), 0.1)),
            (f"{lay}: batch norm output + sigmoid, binary_cross_entropy mean",
             Architecture(lay, 2, 3, (Dense(1, "identity"), BatchNorm(1, "sigmoid")),
                          Loss("binary_cross_entropy", "mean"), 0.5)),
            (f"{lay}: three layers leaky_relu, tanh, sigmoid, mse sum",
             Architecture(lay, 2, 2, (Dense(2, "leaky_relu", slope=0.2), Dense(2, "tanh", "scalar"),
                                      Dense(2, "sigmoid", "none")), Loss("mse", "sum"), 0.1)),
        ]
    out += regularization_configurations()
    return out


def regularization_configurations() -> list[tuple[str, Architecture]]:
    """Weight decay (each convention), dropout (inverted or not) and layer normalization."""
    out: list[tuple[str, Architecture]] = []
    for lay in ("rows", "columns"):
        out += [
            (f"{lay}: weight decay lambda/2, biases out, relu, softmax cross_entropy mean",
             Architecture(lay, 2, 3, (Dense(2, "relu"), Dense(3, "softmax")), Loss("cross_entropy", "mean"), 0.1,
                          WeightDecay(0.1))),
            (f"{lay}: weight decay lambda, biases in, divided by N, tanh, scalar bias, mse 1/2 mean",
             Architecture(lay, 2, 3, (Dense(2, "tanh", "scalar"), Dense(1, "identity")), Loss("mse", "mean", True),
                          0.1, WeightDecay(0.05, False, True, True))),
            (f"{lay}: inverted dropout (keep 0.8) on relu, sigmoid, dropout (drop 0.5), softmax cross_entropy mean",
             Architecture(lay, 2, 3, (Dense(3, "relu", dropout=Dropout(0.8)), Dense(2, "sigmoid", "scalar",
                                                                                     dropout=Dropout(0.5, "drop")),
                                      Dense(2, "softmax")), Loss("cross_entropy", "mean"), 0.1)),
            (f"{lay}: plain dropout (drop 0.25) on tanh with weight decay, mse sum",
             Architecture(lay, 2, 2, (Dense(2, "tanh", dropout=Dropout(0.25, "drop", False)), Dense(1, "identity")),
                          Loss("mse", "sum"), 0.1, WeightDecay(0.1))),
            (f"{lay}: layer norm + relu, softmax, cross_entropy mean",
             Architecture(lay, 2, 2, (Dense(3, "identity"), LayerNorm(3, "relu"), Dense(2, "softmax")),
                          Loss("cross_entropy", "mean"), 0.1)),
            (f"{lay}: scalar bias, layer norm output over 2 units + sigmoid, dropout before, mse 1/2 mean",
             Architecture(lay, 2, 3, (Dense(2, "tanh", dropout=Dropout(0.5)), Dense(2, "identity", "scalar"),
                                      LayerNorm(2, "sigmoid", 1e-8)), Loss("mse", "mean", True), 0.1)),
        ]
    return out


def circuit_configurations() -> list[tuple[str, Any]]:
    """Computational graphs covering every gate kind, a fork of each arity and every local gradient
    (the op-contract test walks these beside engine_configurations; random instances in [-1, 1])."""
    from gradekit.model.circuit import parse_function

    return [
        ("circuit: add, multiply (cs231n's first)", parse_function("q = x + y\nf = q * z")),
        ("circuit: sigmoid neuron", parse_function("f = sigmoid(w0 * x0 + w1 * x1 + w2)")),
        ("circuit: staged, forks", parse_function("f = (x + sigmoid(y)) / (sigmoid(x) + (x + y)^2)")),
        ("circuit: max, min, relu, exp, log, tanh, scale, shift",
         parse_function("a = max(x, y) * exp(-z)\ng = min(x, z) + log(y * y + 1) - tanh(x)\n"
                        "f = relu(a) + square(g) / (2 + sigmoid(z)) - 3 * x + 0.5")),
    ]


def rnn_configurations() -> list[tuple[str, Any]]:
    """Unrolled RNNs (family "rnn"): 2 and 3 steps, hidden and input sizes 1 and 2, tanh and linear,
    h0 given or 0, an output at every step or at the last, both conventions, sum and mean, 1/2."""
    from gradekit.model.lstm import Lstm
    from gradekit.model.rnn import Rnn

    return [
        ("rnn: T=3, 1-1-1, tanh, last output, rows", Rnn("rows", 1, 1, 1, 3)),
        ("rnn: T=2, 2-2-1, tanh, every output, columns, mean", Rnn("columns", 2, 2, 1, 2, outputs_at="every",
                                                                   reduction="mean")),
        ("rnn: T=3, 1-2-2, tanh, h0 given, every output, rows, halved", Rnn("rows", 1, 2, 2, 3, h0="given",
                                                                            outputs_at="every", half=True)),
        ("rnn: T=2, 2-1-1, linear, h0 given, last output, columns", Rnn("columns", 2, 1, 1, 2, "identity", "given")),
        ("rnn: T=3, 1-2-2, tanh, softmax every output, rows, mean", Rnn("rows", 1, 2, 2, 3, outputs_at="every",
                                                                        reduction="mean", loss="cross_entropy")),
        ("rnn: T=2, 2-1-3, tanh, h0 given, softmax last output, columns", Rnn("columns", 2, 1, 3, 2, h0="given",
                                                                               loss="cross_entropy")),
        ("lstm: one cell step, 1 input, rows", Lstm("rows", 1)),
        ("lstm: one cell step, 2 inputs, columns", Lstm("columns", 2)),
    ]


def cnn_configurations() -> list[tuple[str, Any]]:
    """Convolution and pooling exercises (family "cnn"): both conventions, kernels 2x2 and 3x3,
    stride 1 and 2, padding 0 and 1; max and average pooling, side by side and overlapping."""
    from gradekit.model.cnn import Cnn

    return [
        ("cnn: conv 3x3 correlation, 4x4", Cnn("conv", (4, 4), 3, 1, 0)),
        ("cnn: conv 3x3 convolution, stride 2, padding 1, 5x5", Cnn("conv", (5, 5), 3, 2, 1, "convolution")),
        ("cnn: conv 2x2 correlation, stride 2, 4x5", Cnn("conv", (4, 5), 2, 2, 0)),
        ("cnn: conv 2x2 convolution, padding 1, 3x3", Cnn("conv", (3, 3), 2, 1, 1, "convolution")),
        ("cnn: max pool 2x2 stride 2, 4x4", Cnn("pool", (4, 4), 2, 2, pool="max")),
        ("cnn: max pool 2x2 stride 1, 3x3", Cnn("pool", (3, 3), 2, 1, pool="max")),
        ("cnn: average pool 2x2 stride 1, 3x4", Cnn("pool", (3, 4), 2, 1, pool="average")),
        ("cnn: conv, ReLU, max pool", Cnn("conv_relu_pool", (5, 5), 2, 1, 0)),
        ("cnn: conv (convolution, padding 1), ReLU, average pool stride 1",
         Cnn("conv_relu_pool", (4, 4), 3, 1, 1, "convolution", "average", 1)),
    ]


def optimizer_configurations() -> list[tuple[str, Any]]:
    """Optimizer exercises (family "optimizer"): every rule, convention, ε placement, bias
    correction and kind of weight decay, on vectors and a 2x2 matrix, over 1 to 3 steps."""
    from gradekit.model.optimizer import Optimizer as Opt

    return [
        ("optimizer: sgd, L2, 2 steps", Opt("sgd", (1, 3), 2, 0.1, decay="l2", weight_decay=0.1)),
        ("optimizer: momentum classic, 2x2, 2 steps", Opt("momentum", (2, 2), 2, 0.1, "classic", 0.9)),
        ("optimizer: momentum pytorch, decoupled decay, 3 steps",
         Opt("momentum", (1, 2), 3, 0.1, "pytorch", 0.9, decay="decoupled", weight_decay=0.01)),
        ("optimizer: momentum cs231n, L2, 2 steps", Opt("momentum", (1, 3), 2, 0.1, "cs231n", 0.9, decay="l2",
                                                        weight_decay=0.1)),
        ("optimizer: momentum ema, 1 step", Opt("momentum", (1, 4), 1, 0.5, "ema", 0.9)),
        ("optimizer: nesterov cs231n, 2 steps", Opt("nesterov", (1, 2), 2, 0.1, "cs231n", 0.9)),
        ("optimizer: nesterov pytorch, L2, 2 steps", Opt("nesterov", (1, 2), 2, 0.1, "pytorch", 0.9, decay="l2",
                                                         weight_decay=0.1)),
        ("optimizer: rmsprop eps outside, 2 steps", Opt("rmsprop", (1, 3), 2, 0.01, rho=0.9, eps=1e-8)),
        ("optimizer: rmsprop eps inside, 2x2, 2 steps", Opt("rmsprop", (2, 2), 2, 0.01, rho=0.9, eps=0.01,
                                                           eps_place="inside")),
        ("optimizer: adam bias corrected, 3 steps", Opt("adam", (1, 2), 3, 0.1, beta1=0.9, beta2=0.99)),
        ("optimizer: adam no bias correction, eps inside, L2", Opt("adam", (1, 2), 2, 0.1, beta1=0.9, beta2=0.99,
                                                                   eps=0.01, eps_place="inside",
                                                                   bias_correction=False, decay="l2",
                                                                   weight_decay=0.1)),
        ("optimizer: adamw, 2x2, 2 steps", Opt("adam", (2, 2), 2, 0.01, beta1=0.9, beta2=0.999,
                                               decay="decoupled", weight_decay=0.1)),
    ]

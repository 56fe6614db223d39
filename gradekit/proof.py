"""Independent checks of the engine: centred finite differences and SymPy's symbolic derivatives.

Neither check uses the engine's backward steps. Finite differences perturb each parameter and
re-run the forward pass; the SymPy check rebuilds the same network symbolically from its
forward definitions (exact rationals for the given numbers), differentiates the loss with
sympy.diff and evaluates at 30 digits. SymPy is imported here only, never by the CLI module.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable, Mapping

import numpy as np

from gradekit import engine
from gradekit.network import Architecture, BatchNorm, Dense, Loss
from gradekit.trace import Trace, transpose2d

Array = np.ndarray

# SymPy is exact, so any disagreement beyond float64 round-off is a real error.
SYMPY_TOLERANCE = 1e-8
# Centred differences have truncation error O(h^2) and round-off O(eps/h); with h = 1e-6 on
# values of order 1 the combination is about 1e-9..1e-7, so they are held to a looser bound.
FD_STEP = 1e-6
FD_TOLERANCE = 1e-6


def relative_error(a: Array, b: Array) -> float:
    """Largest |a - b| / max(1, |b|): relative for large values, absolute near 0."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape:
        return float("inf")
    if a.size == 0:
        return 0.0
    return float(np.max(np.abs(a - b) / np.maximum(1.0, np.abs(b))))


# --- random well-conditioned instances -----------------------------------------------------


def random_instance(arch: Architecture, rng: np.random.Generator) -> dict[str, Array]:
    """Random given values for arch, redrawn until no ReLU-type input sits at its kink."""
    from gradekit.spec import expected_shape

    for _ in range(1000):
        given: dict[str, Array] = {}
        for name in arch.given_names():
            shape = expected_shape(arch, name)
            if name == "Y" and arch.classifies:
                classes = arch.outputs if arch.loss.kind == "cross_entropy" else 2
                given[name] = rng.integers(0, classes, size=shape).astype(float)
            elif name.startswith("gamma"):
                given[name] = rng.uniform(0.5, 1.5, size=shape)
            else:
                given[name] = rng.uniform(-1.0, 1.0, size=shape)
        values = engine.run_forward(arch, given)
        # Finite differences straddle a kink if |Z| < h, and a kink has no derivative.
        if all(np.min(np.abs(values[f"Z{l}"])) > 1e-3 for l, layer in enumerate(arch.layers, start=1)
               if layer.activation in ("relu", "leaky_relu")):
            return given
    raise RuntimeError("could not draw an instance away from the ReLU kinks")


# --- finite differences ------------------------------------------------------------------


def finite_difference_gradients(arch: Architecture, given: Mapping[str, Array]) -> dict[str, Array]:
    """d(loss)/d(parameter) for every parameter, by centred differences of the forward pass."""
    grads: dict[str, Array] = {}
    for p in arch.parameter_names():
        base = np.asarray(given[p], dtype=float)
        grad = np.zeros_like(base)
        for index in np.ndindex(base.shape):
            up, down = base.copy(), base.copy()
            up[index] += FD_STEP
            down[index] -= FD_STEP
            plus = engine.forward_loss(arch, {**given, p: up})
            minus = engine.forward_loss(arch, {**given, p: down})
            grad[index] = (plus - minus) / (2 * FD_STEP)
        grads[p] = grad
    return grads


def _check_against(arch: Architecture, trace: Trace, grads: Mapping[str, Array],
                   loss_at: Callable[[Mapping[str, Array]], float]) -> float:
    """Largest error of the trace's gradients, updates and loss after, against independent ones."""
    worst = 0.0
    lr = arch.learning_rate
    updated = {}
    for p, g in grads.items():
        worst = max(worst, relative_error(trace[f"d{p}"], g))
        updated[p] = np.asarray(trace[p]) - lr * np.asarray(g, dtype=float)
        worst = max(worst, relative_error(trace[f"{p}_new"], updated[p]))
    worst = max(worst, relative_error(trace["loss"], loss_at({})))
    worst = max(worst, relative_error(trace["loss_new"], loss_at(updated)))
    return worst


def finite_difference_check(arch: Architecture, given: Mapping[str, Array]) -> float:
    trace = engine.run(arch, given)
    grads = finite_difference_gradients(arch, given)
    return _check_against(arch, trace, grads, lambda new: float(engine.forward_loss(arch, {**given, **new})))


# --- SymPy ----------------------------------------------------------------------------------


def _exact(value: float):
    """A float as the exact rational it stands for (no rounding: SymPy then works exactly)."""
    import sympy

    return sympy.Rational(*float(value).as_integer_ratio())


class _Symbolic:
    """The network rebuilt in SymPy, in the rows layout, from the forward definitions only."""

    def __init__(self, arch: Architecture, given: Mapping[str, Array]):
        import sympy

        self.sp = sympy
        self.arch = arch
        # Work in rows: samples are rows. Given values in the columns layout are transposed.
        self.given_rows = {n: transpose2d(np.asarray(v, dtype=float)) if arch.layout == "columns" else
                           np.asarray(v, dtype=float) for n, v in given.items()}
        self.symbols: dict[str, np.ndarray] = {}
        for p in arch.parameter_names():
            shape = self.given_rows[p].shape
            flat = [sympy.Symbol(f"{p}_{i}") for i in range(int(np.prod(shape, dtype=int)))]
            self.symbols[p] = np.array(flat, dtype=object).reshape(shape)

    def point(self, values: Mapping[str, Array] | None = None) -> dict:
        """Symbol -> exact value, from the given parameters or from `values` (rows layout)."""
        source = values or self.given_rows
        return {s: _exact(v) for p, syms in self.symbols.items()
                for s, v in zip(syms.ravel(), np.asarray(source[p], dtype=float).ravel())}

    def loss(self, at: Mapping) -> object:
        """The symbolic loss; `at` (a numeric point) only picks each ReLU's linear piece."""
        sp, arch = self.sp, self.arch
        x = sp.Matrix(self.given_rows["X"].tolist()).applyfunc(_exact)
        n = x.shape[0]
        a = x
        for l, layer in enumerate(arch.layers, start=1):
            if isinstance(layer, Dense):
                z = a * sp.Matrix(self.symbols[f"W{l}"].tolist())
                if layer.bias == "vector":
                    brow = sp.Matrix(self.symbols[f"b{l}"].tolist())
                    z = z + sp.ones(n, 1) * brow
                elif layer.bias == "scalar":
                    z = z.applyfunc(lambda e, b=self.symbols[f"b{l}"].item(): e + b)
            else:
                z = self._batchnorm(a, l, layer)
            a = self._activate(z, layer, at)
        return self._loss(a, n)

    def _batchnorm(self, x, l: int, layer: BatchNorm):
        sp = self.sp
        n, units = x.shape
        gamma, beta = self.symbols[f"gamma{l}"], self.symbols[f"beta{l}"]
        out = sp.zeros(n, units)
        for j in range(units):
            col = [x[i, j] for i in range(n)]
            mu = sum(col) / n
            var = sum((c - mu) ** 2 for c in col) / n
            for i in range(n):
                out[i, j] = gamma[0, j] * (col[i] - mu) / sp.sqrt(var + _exact(layer.eps)) + beta[0, j]
        return out

    def _activate(self, z, layer, at: Mapping):
        sp = self.sp
        act = layer.activation
        if act == "identity":
            return z
        if act == "sigmoid":
            return z.applyfunc(lambda e: 1 / (1 + sp.exp(-e)))
        if act == "tanh":
            return z.applyfunc(sp.tanh)
        if act in ("relu", "leaky_relu"):
            slope = 0 if act == "relu" else _exact(layer.slope)
            # The kink has no derivative; away from it the function is one linear piece, the one
            # the numeric point lies on.
            return z.applyfunc(lambda e: e if float(e.xreplace(at)) > 0 else slope * e)
        rows = []
        for i in range(z.shape[0]):
            exps = [sp.exp(z[i, k]) for k in range(z.shape[1])]
            total = sum(exps)
            rows.append([e / total for e in exps])
        return sp.Matrix(rows)

    def _loss(self, a, n: int):
        sp = self.sp
        loss: Loss = self.arch.loss
        scale = _exact(loss.scale(n))
        y = self.given_rows["Y"]
        if loss.kind == "mse":
            return scale * sum((a[i, k] - _exact(y[i, k])) ** 2 for i in range(n) for k in range(a.shape[1]))
        if loss.kind == "cross_entropy":
            return -scale * sum(sp.log(a[i, int(y[i])]) for i in range(n))
        return -scale * sum(_exact(y[i]) * sp.log(a[i, 0]) + (1 - _exact(y[i])) * sp.log(1 - a[i, 0])
                            for i in range(n))


def _evaluator(expressions: list, symbols: list):
    """Evaluate expressions at a point in 30-digit mpmath arithmetic, shared subexpressions once.

    Float inputs are exact binary fractions, so mpmath receives them without rounding; cse
    keeps the many derivatives of one loss from recomputing the same exponentials.
    """
    import mpmath
    import sympy

    fn = sympy.lambdify(symbols, expressions, modules="mpmath", cse=True)

    def at(values: list[float]) -> list[float]:
        with mpmath.workdps(30):
            return [float(v) for v in fn(*[mpmath.mpf(v) for v in values])]

    return at


def sympy_check(arch: Architecture, given: Mapping[str, Array]) -> float:
    """Largest error of the trace's gradients, updates and loss after, against SymPy."""
    trace = engine.run(arch, given)
    net = _Symbolic(arch, given)
    symbols = [s for syms in net.symbols.values() for s in syms.ravel()]
    start = [float(v) for p in net.symbols for v in net.given_rows[p].ravel()]
    loss = net.loss(net.point())
    evaluate = _evaluator([loss, *[loss.diff(s) for s in symbols]], symbols)
    values = evaluate(start)
    grads: dict[str, Array] = {}
    at = 1
    for p, syms in net.symbols.items():
        g = np.array(values[at:at + syms.size]).reshape(syms.shape)
        at += syms.size
        grads[p] = transpose2d(g) if arch.layout == "columns" else g

    def loss_at(new: Mapping[str, Array]) -> float:
        if not new:
            return values[0]
        # After the update a ReLU input may cross 0, so the network is rebuilt at the new point
        # (each ReLU takes the linear piece the new point lies on).
        rows = {p: transpose2d(v) if arch.layout == "columns" else v for p, v in new.items()}
        point = net.point({**net.given_rows, **rows})
        return float(net.loss(point).xreplace(point).evalf(30))

    return _check_against(arch, trace, grads, loss_at)


# --- the verify command's table -----------------------------------------------------------


@dataclass(frozen=True)
class VerifyRow:
    label: str
    instances: int
    fd_error: float
    sympy_error: float

    @property
    def agrees(self) -> bool:
        return self.fd_error <= FD_TOLERANCE and self.sympy_error <= SYMPY_TOLERANCE

    @property
    def verdict(self) -> str:
        return "agree" if self.agrees else "DISAGREE"


def _check_one(arch: Architecture, given: Mapping[str, Array], with_sympy: bool) -> tuple[float, float]:
    """Both checks of one instance (a top-level function, so worker processes can run it)."""
    fd = finite_difference_check(arch, given)
    return fd, (sympy_check(arch, given) if with_sympy else 0.0)


def verify(configs: Iterable[tuple[str, Architecture, Callable[[int], Mapping[str, Array]]]],
           count: int, sympy_count: int | None = None, jobs: int = 1) -> list[VerifyRow]:
    """Check `count` instances of each configuration (SymPy on the first `sympy_count`).

    With jobs > 1 the instances are spread over worker processes: SymPy is the slow part
    and every instance is independent.
    """
    symbolic = count if sympy_count is None else min(sympy_count, count)
    configs = list(configs)
    tasks = [(label, arch, instance(i), i < symbolic) for label, arch, instance in configs for i in range(count)]
    if jobs > 1 and len(tasks) > 1:
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(max_workers=jobs) as pool:
            results = list(pool.map(_check_one, *zip(*[(a, g, w) for _, a, g, w in tasks]), chunksize=2))
    else:
        results = [_check_one(a, g, w) for _, a, g, w in tasks]
    rows = []
    for label, _, _ in configs:
        mine = [r for (name, _, _, _), r in zip(tasks, results) if name == label]
        rows.append(VerifyRow(label, count, max((r[0] for r in mine), default=0.0),
                              max((r[1] for r in mine), default=0.0)))
    return rows


def builtin_configurations(seed: int = 0) -> list[tuple[str, Architecture, Callable[[int], Mapping[str, Array]]]]:
    """Every built-in problem, with instances drawn by its own sampler (as students get them)."""
    from gradekit.sampler import sample
    from gradekit.spec import builtin_problem_paths, load_problem
    from gradekit.variants import Variant, problem_seed

    configs = []
    for pid, path in builtin_problem_paths().items():
        problem = load_problem(path)

        def instance(i: int, problem=problem, pid=pid) -> Mapping[str, Array]:
            return sample(problem, problem_seed("verify", Variant(seed=seed * 1_000_003 + i), pid)).given

        configs.append((pid, problem.arch, instance))
    return configs


def engine_configurations() -> list[tuple[str, Architecture]]:
    """A set of architectures covering every activation, loss, layout, bias kind, depth 1-3, batch norm."""
    out: list[tuple[str, Architecture]] = []
    hidden = ("identity", "sigmoid", "tanh", "relu", "leaky_relu")
    for layout in ("rows", "columns"):
        for i, act in enumerate(hidden):
            bias = ("vector", "scalar", "none")[i % 3]
            out.append((f"{layout} {act} mse-half-mean {bias}",
                        Architecture(layout, 2, 3, (Dense(2, act, bias, 0.1), Dense(1, "identity", bias)),
                                     Loss("mse", "mean", True), 0.1)))
        out.append((f"{layout} softmax cross_entropy sum, scalar bias",
                    Architecture(layout, 2, 2, (Dense(3, "softmax", "scalar"),), Loss("cross_entropy", "sum"), 0.5)))
        out.append((f"{layout} tanh+sigmoid binary_cross_entropy",
                    Architecture(layout, 3, 3, (Dense(2, "tanh"), Dense(1, "sigmoid")),
                                 Loss("binary_cross_entropy", "mean"), 0.5)))
        out.append((f"{layout} relu+batch_norm+softmax",
                    Architecture(layout, 2, 3, (Dense(2, "identity", "none"), BatchNorm(2, "relu"),
                                                Dense(2, "softmax")), Loss("cross_entropy", "mean"), 0.1)))
        out.append((f"{layout} three layers, sigmoid output, mse sum",
                    Architecture(layout, 2, 2, (Dense(2, "leaky_relu", slope=0.2), Dense(2, "tanh", "scalar"),
                                                Dense(2, "sigmoid", "none")), Loss("mse", "sum", False), 0.1)))
    return out


def random_configurations(seed: int = 0) -> list[tuple[str, Architecture, Callable[[int], Mapping[str, Array]]]]:
    """engine_configurations() with random well-conditioned instances."""
    configs = []
    for k, (label, arch) in enumerate(engine_configurations()):
        def instance(i: int, arch=arch, k=k) -> Mapping[str, Array]:
            return random_instance(arch, np.random.default_rng([seed, k, i]))

        configs.append((label, arch, instance))
    return configs

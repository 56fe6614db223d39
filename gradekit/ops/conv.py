"""A 2-D convolution layer on one map: Z = X * K + b, with stride s and zero padding p, in the
convention the sheet states ("correlation": Z[r, c] = Σ_ij Xp[rs + i, cs + j] K[i, j], PyTorch's;
"convolution": the same with the kernel flipped, K[k-1-i, k-1-j]).

Backward, from the given upstream gradient G = dL/dZ:
dK = Σ over positions of G[r, c] times the window under it (flipped back under "convolution"),
db = Σ G, and dX = the full correlation of G (spread with s - 1 zeros between entries for stride
s) with the kernel flipped, the padding then cropped.

Every value is a grid (rows, columns) of one sample; the functions below also take stacks of
them (leading axes), as the sampler and the mistakes catalogue hand them in.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator

import numpy as np

from gradekit.model import names
from gradekit.model.cnn import Cnn
from gradekit.model.notation import tex
from gradekit.ops.base import Builder, Check, Given, Graph, Op, Step, Symbolic
from gradekit.ops.mistakes import Mistake, Values
from gradekit.ops.quality import entries
from gradekit.ops.worked import Context, Expr, Worked

Array = np.ndarray


def pad(x: Array, p: int) -> Array:
    if p == 0:
        return x
    width = [(0, 0)] * (x.ndim - 2) + [(p, p), (p, p)]
    return np.pad(x, width)


def flip(k: Array) -> Array:
    return k[..., ::-1, ::-1]


def correlate(xp: Array, k: Array, s: int) -> Array:
    """out[r, c] = Σ_ij xp[rs + i, cs + j] k[i, j] over the last two axes (valid, stride s)."""
    kh, kw = k.shape[-2:]
    ho, wo = (xp.shape[-2] - kh) // s + 1, (xp.shape[-1] - kw) // s + 1
    out = 0.0
    for i in range(kh):
        for j in range(kw):
            out = out + xp[..., i:i + s * (ho - 1) + 1:s, j:j + s * (wo - 1) + 1:s] * k[..., i, j][..., None, None]
    return np.asarray(out, dtype=float)


def spread(g: Array, s: int) -> Array:
    """g with s - 1 zeros between neighbouring entries (the upstream gradient of a stride-s layer)."""
    if s == 1:
        return g
    ho, wo = g.shape[-2:]
    out = np.zeros(g.shape[:-2] + (s * (ho - 1) + 1, s * (wo - 1) + 1))
    out[..., ::s, ::s] = g
    return out


def d_input(g: Array, kf: Array, s: int, p: int, shape: tuple[int, int], spread_it: bool = True,
            full: bool = True, flip_it: bool = True, crop: bool = True) -> Array:
    """dX: the full correlation of the spread G with the flipped (effective) kernel, then cropped.

    The keywords undo one step each (the catalogued mistakes)."""
    k = kf.shape[-1]
    gs = spread(g, s) if spread_it else g
    kk = flip(kf) if flip_it else kf
    hp, wp = shape[0] + 2 * p, shape[1] + 2 * p
    if full:
        grid = correlate(pad(gs, k - 1), kk, 1)
    else:  # valid only: the entries a valid correlation reaches, the edges left 0
        inner = correlate(gs, kk, 1) if gs.shape[-1] >= k else np.zeros(gs.shape[:-2] + (0, 0))
        grid = np.zeros(gs.shape[:-2] + (gs.shape[-2] + k - 1, gs.shape[-1] + k - 1))
        grid[..., k - 1:k - 1 + inner.shape[-2], k - 1:k - 1 + inner.shape[-1]] = inner
    out = np.zeros(g.shape[:-2] + (hp, wp))
    h, w = min(hp, grid.shape[-2]), min(wp, grid.shape[-1])
    out[..., :h, :w] = grid[..., :h, :w]
    if crop:
        return out[..., p:p + shape[0], p:p + shape[1]]
    return out[..., :shape[0], :shape[1]]  # the padded gradient read from its corner


def d_kernel(xp: Array, g: Array, k: int, s: int) -> Array:
    """dK_eff[i, j] = Σ_rc G[r, c] Xp[rs + i, cs + j]: each kernel entry summed over every position."""
    ho, wo = g.shape[-2:]
    out = np.zeros(g.shape[:-2] + (k, k))
    for i in range(k):
        for j in range(k):
            out[..., i, j] = np.sum(xp[..., i:i + s * (ho - 1) + 1:s, j:j + s * (wo - 1) + 1:s] * g, axis=(-2, -1))
    return out


def anti_identity(n: int) -> Array:
    return np.eye(n)[::-1]


@dataclass(frozen=True)
class Conv2d(Op):
    """One 2-D convolution layer: X1, K1, b1 given, Z1 its output; dZ1 comes from the ops after it."""

    model: Cnn
    kind = "conv2d"

    x, k_name, b, z = "X1", "K1", "b1", "Z1"

    @property
    def g(self) -> str:
        return names.grad(self.z)

    @property
    def flipped(self) -> bool:
        return self.model.convention == "convolution"

    def kernel(self, k: Array) -> Array:
        """The kernel the window is multiplied by (flipped under true convolution)."""
        return flip(k) if self.flipped else k

    def given(self) -> tuple[Given, ...]:
        m = self.model
        return (Given(self.x, m.size, "weights", "X"), Given(self.k_name, (m.kernel, m.kernel), "weights", "K"),
                Given(self.b, (1, 1), "unit", "b"))

    # -- the trace --

    def f(self, x: Array, k: Array, b: Array) -> Array:
        m = self.model
        return correlate(pad(x, m.padding), self.kernel(k), m.stride) + b

    def dx(self, g: Array, k: Array, **undo: bool) -> Array:
        m = self.model
        return d_input(g, self.kernel(k), m.stride, m.padding, m.size, **undo)

    def dk(self, x: Array, g: Array, flip_back: bool = True) -> Array:
        m = self.model
        eff = d_kernel(pad(x, m.padding), g, m.kernel, m.stride)
        return flip(eff) if self.flipped and flip_back else eff

    def forward(self, b: Builder) -> None:
        m = self.model
        k, z = tex(self.k_name), tex(self.z)
        kij = "K_{k-1-i,\\,k-1-j}" if self.flipped else "K_{i,j}"
        where = "true convolution (the kernel flipped)" if self.flipped else "cross-correlation"
        formula = (rf"{z}_{{r,c}} = \sum_{{i,j}} \tilde{{X}}_{{{m.stride}r+i,\,{m.stride}c+j}}\, {kij.replace('K', k)}"
                   rf" + {tex(self.b)}")
        b.add(self, "forward", self.z, "forward", (self.x, self.k_name, self.b), formula, self.f,
              f"the output map ({where}, stride {m.stride}, padding {m.padding}, on X padded with zeros)",
              "weights")

    def backward(self, b: Builder) -> None:
        g, x, k = tex(self.g), tex(self.x), tex(self.k_name)
        b.add(self, "d_weight", names.grad(self.k_name), "backward", (self.x, self.g),
              rf"d{k}_{{i,j}} = \sum_{{r,c}} {g}_{{r,c}}\, \frac{{\partial {tex(self.z)}_{{r,c}}}}{{\partial {k}_{{i,j}}}}",
              lambda xv, gv: self.dk(xv, gv), "the kernel's gradient: each entry summed over every output position",
              "weights")
        b.add(self, "d_bias", names.grad(self.b), "backward", (self.g,), rf"d{tex(self.b)} = \sum_{{r,c}} {g}_{{r,c}}",
              lambda gv: np.sum(gv, axis=(-2, -1), keepdims=True), "the bias's gradient: the sum of G", "unit")
        b.add(self, "d_input", names.grad(self.x), "backward", (self.g, self.k_name),
              rf"d{x} = \text{{crop}}_{{{self.model.padding}}}\bigl(\text{{full correlation of }} {g}"
              rf"\text{{ (spread for stride {self.model.stride}) with the kernel flipped}}\bigr)",
              lambda gv, kv: self.dx(gv, kv), "the input's gradient", "weights")

    # -- worked entries --

    def k_entry(self, i: int, j: int) -> tuple[int, int]:
        """The entry of K that multiplies window position (i, j)."""
        n = self.model.kernel
        return (n - 1 - i, n - 1 - j) if self.flipped else (i, j)

    def worked(self, step: Step, cx: Context) -> Worked | None:
        m = self.model
        s, p, n = m.stride, m.padding, m.kernel
        r, c = cx.pick(step.name)
        sym: list[str] = []
        num: list[str] = []
        if step.role == "forward":
            for i in range(n):
                for j in range(n):
                    xr, xc = r * s + i - p, c * s + j - p
                    if not (0 <= xr < m.size[0] and 0 <= xc < m.size[1]):
                        continue  # a padding zero
                    ki, kj = self.k_entry(i, j)
                    sym.append(f"{cx.sym(self.x, xr, xc)} {cx.sym(self.k_name, ki, kj)}")
                    num.append(rf"{cx.num(self.x, xr, xc, paren=False)} \cdot {cx.num(self.k_name, ki, kj)}")
            sym.append(cx.sym(self.b, 0, 0))
            num.append(cx.num(self.b, 0, 0))
            where = f"row {r + 1}, column {c + 1}: the window at rows {r * s + 1 - p}..{r * s + n - p}, " \
                    f"columns {c * s + 1 - p}..{c * s + n - p} of X (padding outside X is 0)"
        elif step.role == "d_weight":
            ei, ej = self.k_entry(r, c)  # dK[r, c] pairs with window position (ei, ej)
            ho, wo = m.out_shape
            for a in range(ho):
                for bb in range(wo):
                    xr, xc = a * s + ei - p, bb * s + ej - p
                    if not (0 <= xr < m.size[0] and 0 <= xc < m.size[1]):
                        continue
                    sym.append(f"{cx.sym(self.g, a, bb)} {cx.sym(self.x, xr, xc)}")
                    num.append(rf"{cx.num(self.g, a, bb, paren=False)} \cdot {cx.num(self.x, xr, xc)}")
            where = f"row {r + 1}, column {c + 1}: summed over every output position"
        elif step.role == "d_bias":
            ho, wo = m.out_shape
            for a in range(ho):
                for bb in range(wo):
                    sym.append(cx.sym(self.g, a, bb))
                    num.append(cx.num(self.g, a, bb))
            where = "the sum of every entry of G"
        else:  # d_input: every output whose window covers X[r, c]
            ho, wo = m.out_shape
            for a in range(ho):
                for bb in range(wo):
                    i, j = r + p - a * s, c + p - bb * s
                    if 0 <= i < n and 0 <= j < n:
                        ki, kj = self.k_entry(i, j)
                        sym.append(f"{cx.sym(self.g, a, bb)} {cx.sym(self.k_name, ki, kj)}")
                        num.append(rf"{cx.num(self.g, a, bb, paren=False)} \cdot {cx.num(self.k_name, ki, kj)}")
            where = f"row {r + 1}, column {c + 1}: every output whose window covers it"
        if not sym:
            sym, num = ["0"], ["0"]
        lines = (Expr(tuple(sym)), Expr(tuple(num)))
        return Worked(cx.sym(step.name, r, c), where, lines, cx.result(step.name, r, c))

    def notes(self, step: Step, cx: Context) -> tuple[str, ...]:
        m = self.model
        if step.role == "loss":
            return ()
        if step.role == "forward":
            ho, wo = m.out_shape
            out = [rf"The output size is $\lfloor (n + 2p - k)/s \rfloor + 1$: "
                   rf"$\lfloor ({m.size[0]} + {2 * m.padding} - {m.kernel})/{m.stride} \rfloor + 1 = {ho}$ rows "
                   rf"and ${wo}$ columns."]
            if self.flipped:
                out.append("Under true convolution the kernel is flipped (rows and columns reversed) before it "
                           "slides over the input.")
            return tuple(out)
        if step.role == "d_input":
            out = ["dX is the full correlation of G with the kernel rotated by 180 degrees: every input entry "
                   "collects the products from each window that covers it."]
            if m.stride > 1:
                out.append(f"For stride {m.stride}, G is first spread with {m.stride - 1} zero(s) between "
                           "neighbouring entries.")
            if m.padding:
                out.append(f"The {m.padding} row(s) and column(s) of padding are cropped from the result.")
            return tuple(out)
        if step.role == "d_weight" and self.flipped:
            return ("Under true convolution the gradient of the flipped kernel is flipped back.",)
        return ()

    # -- grading --

    def mistakes(self, step: Step, v: Values) -> Iterator[Mistake]:
        m = self.model
        other = "cross-correlation (kernel as given)" if self.flipped else "true convolution (kernel flipped)"
        said = "true convolution: flip the kernel" if self.flipped else "cross-correlation: do not flip the kernel"
        if step.role == "loss":
            return
        x, k, b, g = v[self.x], v[self.k_name], v[self.b], v[self.g]
        if step.role == "forward":
            yield Mistake("conv_kernel_flip", f"the output was computed as {other}; this sheet says {said}",
                          correlate(pad(x, m.padding), self.kernel(flip(k)), m.stride) + b)
            yield Mistake("conv_bias_missing", "the bias was not added to each output entry",
                          correlate(pad(x, m.padding), self.kernel(k), m.stride) + 0.0 * b)
        elif step.role == "d_weight":
            yield Mistake("conv_dk_not_summed", "dK sums the products over EVERY output position (here it was "
                          "averaged)", self.dk(x, g) / float(np.prod(m.out_shape)))
            if self.flipped:
                yield Mistake("conv_dk_not_flipped_back", "under true convolution the gradient of the flipped "
                              "kernel must be flipped back to give dK", self.dk(x, g, flip_back=False))
            else:
                yield Mistake("conv_kernel_flip", "dK was flipped: under cross-correlation dK[i, j] pairs with "
                              "window position (i, j) as it is", flip(self.dk(x, g)))
        elif step.role == "d_bias":
            yield Mistake("conv_db_not_sum", "db is the SUM of G over the whole map (here its mean)",
                          np.mean(g, axis=(-2, -1), keepdims=True))
        else:
            yield Mistake("conv_dx_kernel_not_flipped", "dX correlates G with the kernel ROTATED by 180 degrees "
                          "(the flip was skipped or done twice)", self.dx(g, k, flip_it=False))
            yield Mistake("conv_dx_valid", "dX is a FULL correlation (G padded with k - 1 zeros), not a valid one: "
                          "the edge entries were missed", self.dx(g, k, full=False))
            if m.stride > 1:
                yield Mistake("conv_stride_not_spread", f"for stride {m.stride} the upstream gradient must be spread "
                              f"with {m.stride - 1} zero(s) between entries first", self.dx(g, k, spread_it=False))
            if m.padding:
                yield Mistake("conv_padding_not_cropped", "the padding rows and columns were not cropped from dX: "
                              "drop the first and last padded row and column", self.dx(g, k, crop=False))

    # -- graph and proof --

    def graph(self, step: Step, g: Graph) -> None:
        m = self.model
        if step.role != "forward":
            wrt = {"d_weight": self.k_name, "d_bias": self.b, "d_input": self.x}[step.role]
            g.grad(step.name, wrt, [(self.z, self.g)])
            return
        n = m.kernel
        x4 = g.op(g.temp(step.name, "x4"), "Reshape", [self.x, g.constant([1, 1, *m.size], "int64")])
        kernel = self.k_name
        if self.flipped:  # ONNX Conv is cross-correlation: true convolution is Conv on J K J (J flips)
            j = g.constant(anti_identity(n).ravel().tolist())
            jm = g.op(g.temp(step.name, "flip"), "Reshape", [j, g.constant([n, n], "int64")])
            kernel = g.matmul(g.temp(step.name, "kflip"), g.matmul(g.temp(step.name, "kflip_rows"), jm, self.k_name), jm)
        k4 = g.op(g.temp(step.name, "k4"), "Reshape", [kernel, g.constant([1, 1, n, n], "int64")])
        b1 = g.op(g.temp(step.name, "b1"), "Reshape", [self.b, g.constant([1], "int64")])
        p = m.padding
        conv = g.op(g.temp(step.name, "conv"), "Conv", [x4, k4, b1], kernel_shape=[n, n],
                    strides=[m.stride, m.stride], pads=[p, p, p, p])
        g.op(step.name, "Reshape", [conv, g.constant(list(m.out_shape), "int64")])


    def symbolic(self, s: Symbolic) -> None:
        m = self.model
        sp = s.sp
        x, k, b = s.values[self.x], s.values[self.k_name], s.values[self.b]
        n, st, p = m.kernel, m.stride, m.padding
        ho, wo = m.out_shape

        def xp(i: int, j: int) -> Any:
            i, j = i - p, j - p
            return x[i, j] if 0 <= i < m.size[0] and 0 <= j < m.size[1] else 0

        def entry(r: int, c: int) -> Any:
            return sum((xp(r * st + i, c * st + j) * k[self.k_entry(i, j)] for i in range(n) for j in range(n)),
                       sp.Integer(0)) + b[0, 0]

        s.put(self.z, lambda: sp.Matrix(ho, wo, entry))

    # -- quality --

    def checks(self, net: Any, problem: Any) -> tuple[Check, ...]:
        z = self.z
        return (Check("zero_quantity", "the output map is 0 everywhere", "forward",
                      lambda v: (np.abs(entries(v[z])) < 1e-9).all(axis=1), group=2),)

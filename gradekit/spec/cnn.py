"""The convolution/pooling exercise's part of a problem spec: the input's size and the [layer] table."""

from __future__ import annotations

from gradekit.model.cnn import CONVENTIONS, LAYERS, POOLS, Cnn
from gradekit.model.problem import Domain
from gradekit.spec.fields import Fields

DEFAULT_DOMAINS = {  # hand-friendly: small integers for the input and the kernel, one decimal for G
    "X": Domain(-3.0, 3.0, 1.0),
    "K": Domain(-2.0, 2.0, 1.0, nonzero=True),
    "b": Domain(-1.0, 1.0, 0.5),
    "T": Domain(-3.0, 3.0, 0.1),
}
DOMAIN_WORDS = "X, K, b, T (or X1, K1, b1, T1)"


def cnn(f: Fields) -> Cnn:
    rows = f.positive_int("rows", 4, limit=6)
    cols = f.positive_int("columns", rows, limit=6)
    if f.get("layout", str, "rows") != "rows":
        raise f.fail("layout", "a convolution exercise has no layout choice (maps are written as grids)")
    if f.get("samples", int, 1) != 1:
        raise f.fail("samples", "a convolution exercise has one sample")
    lf = f.table_of("layer")
    layer = lf.choice("type", LAYERS)
    if layer in ("conv", "conv_relu_pool"):
        kernel = lf.positive_int("kernel", 3, limit=3)
        if kernel not in (2, 3):
            raise lf.fail("kernel", "a kernel is 2x2 or 3x3")
        stride = lf.positive_int("stride", 1, limit=2)
        padding = lf.get("padding", int, 0)
        if padding not in (0, 1):
            raise lf.fail("padding", "the zero padding is 0 or 1")
        convention = lf.choice("convention", CONVENTIONS, "correlation")
        mode, pool_stride = "max", 2
        if layer == "conv_relu_pool":
            mode = lf.choice("pool", POOLS, "max")
            pool_stride = lf.positive_int("pool_stride", 2, limit=2)
        lf.reject_unknown()
        model = Cnn(layer, (rows, cols), kernel, stride, padding, convention, mode, pool_stride)  # type: ignore[arg-type]
        if layer == "conv_relu_pool" and min(model.out_shape) < 2:
            raise f.fail("rows", f"the convolution's {model.out_shape[0]}x{model.out_shape[1]} output is too small "
                         "for 2x2 pooling")
    else:
        mode = lf.choice("pool", POOLS, "max")
        stride = lf.positive_int("stride", 2, limit=2)
        lf.reject_unknown()
        model = Cnn("pool", (rows, cols), 2, stride, 0, pool=mode)  # type: ignore[arg-type]
    if min(model.out_shape) < 1:
        raise f.fail("rows", f"a {model.kernel}x{model.kernel} window does not fit in a {rows}x{cols} input")
    return model

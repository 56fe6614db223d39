"""The convolution and pooling ops by hand: the conventions, stride and padding, pooling's routing,
and the spec's errors."""

from __future__ import annotations

import numpy as np
import pytest

from gradekit.engine import build as engine
from gradekit.model.cnn import Cnn
from gradekit.ops.conv import correlate, d_input, pad
from gradekit.ops.pool import route
from gradekit.spec.fields import Fields
from gradekit.spec.cnn import cnn
from gradekit.util.errors import SpecError

X = np.array([[1.0, 2, 0, -1], [3, -1, 2, 1], [0, 1, -2, 2], [2, 0, 1, 3]])
K = np.array([[1.0, -1], [2, 0]])


def run(model, **given):
    values = {"X1": X, "K1": K, "b1": np.array([[0.5]]), "T1": np.zeros(model.out_shape if model.layer == "conv" else (2, 2))}
    values.update(given)
    return engine.run(model, {n: values[n] for n in model.given_names()})


def by_hand(x, k, s, p):
    """Z[r, c] = Σ_ij Xp[rs + i, cs + j] k[i, j], written as the loops of a textbook."""
    xp = np.pad(x, p)
    n = k.shape[0]
    ho, wo = (xp.shape[0] - n) // s + 1, (xp.shape[1] - n) // s + 1
    return np.array([[sum(xp[r * s + i, c * s + j] * k[i, j] for i in range(n) for j in range(n))
                      for c in range(wo)] for r in range(ho)])


def test_cross_correlation_and_true_convolution_differ_by_the_flip():
    corr = run(Cnn("conv", (4, 4), 2, 1, 0, "correlation"))
    conv = run(Cnn("conv", (4, 4), 2, 1, 0, "convolution"))
    np.testing.assert_allclose(corr["Z1"], by_hand(X, K, 1, 0) + 0.5)
    np.testing.assert_allclose(conv["Z1"], by_hand(X, K[::-1, ::-1], 1, 0) + 0.5)
    assert corr["Z1"][0, 0] == 1 * 1 + 2 * -1 + 3 * 2 + -1 * 0 + 0.5  # the window at the top left
    assert conv["Z1"][0, 0] == 1 * 0 + 2 * 2 + 3 * -1 + -1 * 1 + 0.5


@pytest.mark.parametrize("stride, padding", [(1, 0), (2, 0), (1, 1), (2, 1)])
def test_dx_is_the_transpose_of_the_forward_map(stride, padding):
    """<dZ, conv(X)> = <dX, X> for every X: dX is the adjoint (spread, full correlation, cropped)."""
    rng = np.random.default_rng(stride + 2 * padding)
    x, k = rng.standard_normal((5, 5)), rng.standard_normal((3, 3))
    z = correlate(pad(x, padding), k, stride)
    g = rng.standard_normal(z.shape)
    dx = d_input(g, k, stride, padding, (5, 5))
    assert np.sum(g * z) == pytest.approx(np.sum(dx * x))


def test_stride_two_spreads_the_gradient_and_padding_is_cropped():
    m = Cnn("conv", (5, 5), 3, 2, 1, "correlation")
    t = run(m, X1=np.arange(25.0).reshape(5, 5), K1=np.ones((3, 3)), T1=np.zeros((3, 3)))
    dz, k = t["dZ1"], t["K1"]
    assert t["dX1"].shape == (5, 5)
    # X[0, 0] (padded position (1, 1)) lies in the window of output (0, 0) only
    assert t["dX1"][0, 0] == pytest.approx(dz[0, 0] * k[1, 1])
    # X[1, 1] (padded (2, 2)) lies in the windows of outputs (0, 0), (0, 1), (1, 0) and (1, 1)
    assert t["dX1"][1, 1] == pytest.approx(dz[0, 0] * k[2, 2] + dz[0, 1] * k[2, 0] + dz[1, 0] * k[0, 2] + dz[1, 1] * k[0, 0])
    assert t["db1"][0, 0] == pytest.approx(dz.sum())


def test_max_pool_routes_to_the_maximum_and_overlapping_windows_add_up():
    x = np.array([[1.0, 5, 2], [0, 3, 4], [6, 1, 0]])
    g = np.array([[1.0, 10], [100, 1000]])
    dx = route(x, g, 2, 1, "max")
    assert dx[0, 1] == 11  # 5 is the maximum of both top windows
    assert dx[2, 0] == 100 and dx[1, 2] == 1000
    assert dx.sum() == g.sum()
    avg = route(x, g, 2, 1, "average")
    assert avg[1, 1] == pytest.approx(g.sum() / 4)  # the centre is in every window


@pytest.mark.parametrize("table, words", [
    ({"layer": {"type": "conv", "kernel": 4}}, "kernel"),
    ({"layer": {"type": "conv", "padding": 2}}, "padding"),
    ({"layer": {"type": "lstm"}}, "type"),
    ({"rows": 2, "layer": {"type": "conv", "kernel": 3}}, "does not fit"),
    ({"layer": {"type": "conv", "dilation": 2}}, "dilation"),
])
def test_bad_specs_are_one_line_errors(table, words):
    with pytest.raises(SpecError) as e:
        cnn(Fields(table, "my.toml"))
    assert words in str(e.value) and "\n" not in str(e.value)

"""Losses in the `rows` layout, with the convention spelled out: L = scale * sum over samples.

`scale` is (1/2 if the spec halves a squared error) times (1/N for reduction `mean`).
Class targets `y` are integer labels of shape (N,); regression targets have A's shape. As in
gradekit.ops.layers, a stack of instances works too (samples on axis -2 of A, on axis -1 of labels).
"""

from __future__ import annotations

import numpy as np

from gradekit.model.network import Loss

Array = np.ndarray


def one_hot(y: Array, classes: int) -> Array:
    """(N,) integer labels -> (N, K) indicator rows."""
    return (y[..., None] == np.arange(classes)).astype(float)


def binary_targets(y: Array) -> Array:
    """(N,) 0/1 labels -> (N, 1), the shape of a single sigmoid output."""
    return y[..., None].astype(float)


def _picked(a: Array, y: Array) -> Array:
    """A[n, y_n]: each sample's probability of its true class.  -> (N,)"""
    labels = y.astype(int)
    if a.ndim == 2:  # plain fancy indexing: several times cheaper than take_along_axis
        return a[np.arange(a.shape[0]), labels]
    return np.take_along_axis(a, labels[..., None], axis=-1)[..., 0]


def loss_forward(loss: Loss, a: Array, y: Array) -> Array:
    """The scalar loss of output `a` against targets `y`.

    mse:                  scale * sum (A - Y)^2
    cross_entropy:        scale * sum_n -log A[n, y_n]           (A is a softmax output)
    binary_cross_entropy: scale * sum_n -(y log a + (1-y) log(1-a))
    """
    s = loss.scale(a.shape[-2])
    if loss.kind == "mse":
        return np.asarray(s * ((a - y) ** 2).sum(axis=(-2, -1)))
    if loss.kind == "cross_entropy":
        return np.asarray(-s * np.log(_picked(a, y)).sum(axis=-1))
    if loss.kind == "binary_cross_entropy":
        t = binary_targets(y)
        return np.asarray(-s * (t * np.log(a) + (1 - t) * np.log(1 - a)).sum(axis=(-2, -1)))
    raise ValueError(f"unknown loss {loss.kind!r}")


def loss_backward(loss: Loss, a: Array, y: Array) -> Array:
    """dA = dL/dA.

    mse:                  (2 or 1 when halved) * (1/N if mean) * (A - Y)
    cross_entropy:        -(1/N if mean) * onehot(Y) / A
    binary_cross_entropy: (1/N if mean) * (A - y) / (A (1 - A))
    """
    s = loss.scale(a.shape[-2])
    if loss.kind == "mse":
        return 2.0 * s * (a - y)
    if loss.kind == "cross_entropy":
        return -s * one_hot(y, a.shape[-1]) / a
    if loss.kind == "binary_cross_entropy":
        t = binary_targets(y)
        return s * (a - t) / (a * (1 - a))
    raise ValueError(f"unknown loss {loss.kind!r}")


def output_delta(loss: Loss, a: Array, y: Array) -> Array:
    """dZ of the output layer for the paired losses, where the Jacobian collapses.

    softmax + cross_entropy and sigmoid + binary_cross_entropy: dZ = (1/N if mean) * (A - Y).
    """
    s = loss.scale(a.shape[-2])
    if loss.kind == "cross_entropy":
        return s * (a - one_hot(y, a.shape[-1]))
    if loss.kind == "binary_cross_entropy":
        return s * (a - binary_targets(y))
    raise ValueError(f"no collapsed output gradient for {loss.kind!r}")


def predict(loss: Loss, a: Array) -> Array:
    """Predicted classes (N,): argmax of the softmax, or sigmoid output >= 1/2."""
    if loss.kind == "binary_cross_entropy":
        return (a[..., 0] >= 0.5).astype(int)
    return a.argmax(axis=-1)

"""Forward/backward pairs of the layers, in the `rows` layout (samples are rows).

Each backward sits beside its forward with the local derivative written out, because these
formulas are the ones students read in the worked solutions. The `columns` layout is the
transpose of this one and is handled by the trace (see gradekit.engine.trace.in_layout).
Shapes: N samples, D inputs, U units. Every function also takes a stack of instances (any
leading axes, as the sampler's batches have): samples are always axis -2, units axis -1, and a
scalar per instance has no axes of its own.
"""

from __future__ import annotations

import numpy as np

Array = np.ndarray


# --- affine -------------------------------------------------------------------------------


def affine_forward(x: Array, w: Array, b: Array | None) -> Array:
    """Z = X W + b.  x: (N, D), w: (D, U), b: (1, U) vector, () scalar or None -> (N, U)."""
    z = x @ w
    if b is None:
        return z
    return z + (b[..., None, None] if b.ndim == z.ndim - 2 else b)  # a scalar meets every entry


def affine_backward_input(dz: Array, w: Array) -> Array:
    """dX = dZ W^T (each input feeds every unit through its weight).  -> (N, D)"""
    return dz @ np.swapaxes(w, -1, -2)  # not w.mT (NumPy 2 only): the bundled grader runs on NumPy 1.x too


def affine_backward_weight(x: Array, dz: Array) -> Array:
    """dW = X^T dZ (sums each weight's contribution over the samples).  -> (D, U)"""
    return np.swapaxes(x, -1, -2) @ dz


def affine_backward_bias(dz: Array, bias_kind: str) -> Array:
    """db = dZ summed over everything b was broadcast to: samples (vector) or all entries (scalar)."""
    if bias_kind == "scalar":
        return np.asarray(dz.sum(axis=(-2, -1)))
    return dz.sum(axis=-2, keepdims=True)


# --- activations ----------------------------------------------------------------------------


def sigmoid(z: Array) -> Array:
    # Split by sign so that exp never overflows for large |z|.
    out = np.empty_like(z, dtype=float)
    pos = z >= 0
    out[pos] = 1.0 / (1.0 + np.exp(-z[pos]))
    ez = np.exp(z[~pos])
    out[~pos] = ez / (1.0 + ez)
    return out


def softmax(z: Array) -> Array:
    """Row-wise softmax: each sample's class scores -> probabilities.  (N, K) -> (N, K)"""
    shifted = z - z.max(axis=-1, keepdims=True)  # same result, no overflow
    e = np.exp(shifted)
    return e / e.sum(axis=-1, keepdims=True)


def activation_forward(name: str, z: Array, slope: float = 0.01) -> Array:
    if name == "identity":
        return z.copy()
    if name == "sigmoid":
        return sigmoid(z)
    if name == "tanh":
        return np.tanh(z)
    if name == "relu":
        return np.maximum(z, 0.0)
    if name == "leaky_relu":
        return np.where(z > 0, z, slope * z)
    if name == "softmax":
        return softmax(z)
    raise ValueError(f"unknown activation {name!r}")


# Which of Z (pre-activation) or A (activation) each derivative is written in: sigmoid and tanh
# are cheapest by hand from A, the piecewise-linear ones need the sign of Z.
ACTIVATION_DERIVATIVE_INPUT = {
    "identity": (),
    "sigmoid": ("A",),
    "tanh": ("A",),
    "relu": ("Z",),
    "leaky_relu": ("Z",),
    "softmax": ("A",),
}


def activation_backward(name: str, da: Array, at: Array | None, slope: float = 0.01) -> Array:
    """dZ from dA; `at` is A or Z as ACTIVATION_DERIVATIVE_INPUT says.

    identity:   dZ = dA
    sigmoid:    dZ = dA * A (1 - A)
    tanh:       dZ = dA * (1 - A^2)
    relu:       dZ = dA * [Z > 0]
    leaky_relu: dZ = dA * (1 if Z > 0 else slope)
    softmax:    dZ = A * (dA - sum_k dA_k A_k)   (the softmax Jacobian, per sample)
    """
    if name == "identity":
        return da.copy()
    assert at is not None
    if name == "sigmoid":
        return da * at * (1.0 - at)
    if name == "tanh":
        return da * (1.0 - at**2)
    if name == "relu":
        return da * (at > 0)
    if name == "leaky_relu":
        return da * np.where(at > 0, 1.0, slope)
    if name == "softmax":
        return at * (da - (da * at).sum(axis=-1, keepdims=True))
    raise ValueError(f"unknown activation {name!r}")


# --- batch normalization (training mode) -------------------------------------------------------


def batchnorm_mean(x: Array) -> Array:
    """mu = mean over samples.  (N, U) -> (1, U)"""
    return x.sum(axis=-2, keepdims=True) / x.shape[-2]  # sum/N: ndarray.mean is ~4x slower on tiny arrays


def batchnorm_var(x: Array, mu: Array) -> Array:
    """var = mean over samples of (x - mu)^2 (biased: divides by N, as in training).  -> (1, U)"""
    d = x - mu
    return (d * d).sum(axis=-2, keepdims=True) / x.shape[-2]


def batchnorm_normalize(x: Array, mu: Array, var: Array, eps: float) -> Array:
    """Xhat = (x - mu) / sqrt(var + eps).  -> (N, U)"""
    return (x - mu) / np.sqrt(var + eps)


def batchnorm_scale(xhat: Array, gamma: Array, beta: Array) -> Array:
    """Z = gamma * Xhat + beta.  gamma, beta: (1, U)"""
    return gamma * xhat + beta


def batchnorm_backward_gamma(dz: Array, xhat: Array) -> Array:
    """dgamma = sum over samples of dZ * Xhat.  -> (1, U)"""
    return (dz * xhat).sum(axis=-2, keepdims=True)


def batchnorm_backward_beta(dz: Array) -> Array:
    """dbeta = sum over samples of dZ.  -> (1, U)"""
    return dz.sum(axis=-2, keepdims=True)


def batchnorm_backward_xhat(dz: Array, gamma: Array) -> Array:
    """dXhat = dZ * gamma.  -> (N, U)"""
    return dz * gamma


def batchnorm_backward_input(dxhat: Array, xhat: Array, var: Array, eps: float) -> Array:
    """dX = (N dXhat - sum dXhat - Xhat sum(dXhat Xhat)) / (N sqrt(var + eps)).

    The two sums (over samples) are the paths through mu and var: every sample moves the
    batch statistics, so each sample's gradient depends on the whole batch.
    """
    n = dxhat.shape[-2]
    total = dxhat.sum(axis=-2, keepdims=True)
    along = (dxhat * xhat).sum(axis=-2, keepdims=True)
    return (n * dxhat - total - xhat * along) / (n * np.sqrt(var + eps))

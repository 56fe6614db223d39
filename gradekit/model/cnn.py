"""A convolution or pooling exercise (family "cnn"): 2-D layers on one input map, one sample.

`layer` says which: "conv" (a kernel K, a bias b, stride and zero padding, and the convention:
"correlation", cross-correlation as PyTorch and cs231n compute it, or "convolution", the kernel
flipped first), "pool" ("max" or "average" over 2x2 windows, stride 2 or overlapping with
stride 1), or "conv_relu_pool" (the convolution, a ReLU, then 2x2 pooling with `pool_stride`).
The loss is the squared error 1/2 Σ (out - T)^2 against a given target map T on the last map: the
exercise asks for the maps and the gradients sent back (dX, and dK, db for a convolution).

Every value is a grid: a 2-D array (rows, columns) with one sample, written as a matrix on the
sheet (rows layout; the maps' rows are the image's rows). Numbers live apart from the model, as
for every family: the model is frozen and hashable.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

from gradekit.model import names

LAYERS: tuple[str, ...] = ("conv", "pool", "conv_relu_pool")
CONVENTIONS: tuple[str, ...] = ("correlation", "convolution")
POOLS: tuple[str, ...] = ("max", "average")


def out_size(n: int, k: int, stride: int, pad: int) -> int:
    """floor((n + 2p - k) / s) + 1: the output's size along one axis."""
    return (n + 2 * pad - k) // stride + 1


@dataclass(frozen=True)
class Cnn:
    """Everything about a convolution or pooling exercise except its numbers (family "cnn")."""

    family: ClassVar[str] = "cnn"
    layer: Literal["conv", "pool", "conv_relu_pool"]
    size: tuple[int, int]  # the input map's rows and columns
    kernel: int = 3  # the kernel's (or pooling window's) side
    stride: int = 1
    padding: int = 0
    convention: Literal["correlation", "convolution"] = "correlation"
    pool: Literal["max", "average"] = "max"
    pool_stride: int = 2  # conv_relu_pool: the 2x2 pooling's stride
    layout: Literal["rows"] = "rows"
    samples: int = 1

    @property
    def out_shape(self) -> tuple[int, int]:
        return (out_size(self.size[0], self.kernel, self.stride, self.padding),
                out_size(self.size[1], self.kernel, self.stride, self.padding))

    @property
    def output(self) -> str:
        return names.of("Z" if self.layer != "pool" else "P", 1)

    def parameter_names(self) -> tuple[str, ...]:
        """Every given value: the loss L = Σ G ⊙ output is differentiated with respect to each."""
        return self.given_names()

    def given_names(self) -> tuple[str, ...]:
        """The input map, the kernel and bias of a convolution, then the target map T."""
        params = (names.of("K", 1), names.of("b", 1)) if self.layer != "pool" else ()
        return (names.of("X", 1), *params, names.of("T", 1))

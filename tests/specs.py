"""Problem specs that several test folders write (as text, to be formatted and written to a file)."""

# A columns-layout problem whose X and activations have one column per sample.
WIDE_SPEC = """
id = "wide"
title = "A batch of {samples} samples in columns"
layout = "columns"
inputs = 3
samples = {samples}
decimals = 4
asked = ["Z1", "A1", "Z2", "loss", "dZ2", "dW2", "dA1", "dZ1", "dW1", "W1_new"]

[[layers]]
units = 4
activation = "tanh"
bias = "none"

[[layers]]
units = 2
activation = "identity"
bias = "none"

[loss]
kind = "mse"
reduction = "mean"
half = true

[update]
learning_rate = 0.5

[sampling]
X = {{ min = -1.0, max = 1.0, step = 0.25, nonzero = true }}
Y = {{ min = -1.0, max = 1.0, step = 0.5 }}
W = {{ min = -1.0, max = 1.0, step = 0.1, nonzero = true }}
"""

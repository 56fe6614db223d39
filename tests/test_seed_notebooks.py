"""The seed notebooks (shared/seeds/) reproduced from their own given values.

Where a notebook printed a correct number, the engine must give it; where it printed a wrong
one, the test states the correct value and why, so the mistake is on record (the grader's
diagnosis catalogue is built from these very mistakes).
"""

from __future__ import annotations

import numpy as np

from gradekit import engine, layers
from gradekit.losses import one_hot
from gradekit.network import Architecture, Dense, Loss
from gradekit.sampler import sample
from gradekit.spec import builtin_problem_paths, load_problem


def test_004_single_sigmoid_sample_reproduced_to_six_decimals():
    trace = sample(load_problem(builtin_problem_paths()["textbook-sigmoid-single"]), 0).trace
    expected = {
        "Z1": [[1.099, 1.13]],
        "A1": [[0.750073, 0.755839]],
        "Z2": [[1.07789]],
        "A2": [[0.746095]],
        "loss": 0.011843,
        "dA2": [[-0.153905]],
        "dZ2": [[-0.029155]],
        "dW2": [[-0.021869], [-0.022037]],
        "db2": [[-0.029155]],
        "dA1": [[0.011662, -0.014578]],
        "dZ1": [[0.002186, -0.00269]],
        "dW1": [[0.001093, -0.001345], [0.000219, -0.000269]],
        "db1": [[0.002186, -0.00269]],
        "loss_new": 0.010953,
    }
    for name, value in expected.items():
        np.testing.assert_allclose(trace[name], value, atol=5e-7, err_msg=name)


def textbook_000():
    return sample(load_problem(builtin_problem_paths()["textbook-tanh-softmax-columns"]), 0).trace


def test_000_forward_pass_matches_the_notebook():
    trace = textbook_000()
    np.testing.assert_allclose(trace["Z1"], [[0, -1, -1.5], [2, 4, 6.5]], atol=1e-12)
    np.testing.assert_allclose(trace["A1"], [[0.0, -0.76159416, -0.90514825], [0.96402758, 0.9993293, 0.99999548]],
                               atol=5e-9)
    np.testing.assert_allclose(trace["A2"], [[0.46610686, 0.31533481, 0.28616887],
                                             [0.06778628, 0.00931651, 0.0063363],
                                             [0.46610686, 0.67534868, 0.70749484]], atol=5e-9)
    np.testing.assert_array_equal(trace["pred"], [0, 2, 2])  # argmax takes the first of a tie in sample 0


def test_000_notebook_softmax_jacobian_is_wrong():
    # The notebook computes dZ2 = A2*dA2 - A2*(A2*sum(A2*dA2)): A2 appears twice in the second
    # term. The Jacobian of softmax gives dZ = A*(dA - sum(A*dA)), which with cross-entropy
    # collapses to (A2 - onehot(Y)) / N.
    trace = textbook_000()
    a2 = trace["A2"]
    correct = (a2 - one_hot(np.array([0, 1, 2]), 3).T) / 3
    np.testing.assert_allclose(trace["dZ2"], correct, atol=1e-12)
    notebook = np.array([[-2.60914798e-01, 3.31453475e-02, 2.72975400e-02],
                         [1.53165977e-03, -3.33304401e-01, 1.33828888e-05],
                         [7.24185355e-02, 1.52031947e-01, -1.66483685e-01]])
    da2 = -one_hot(np.array([0, 1, 2]), 3).T / a2 / 3
    np.testing.assert_allclose(a2 * da2 - a2 * (a2 * (a2 * da2).sum(axis=0)), notebook, atol=1e-8)  # their formula
    assert np.abs(trace["dZ2"] - notebook).max() > 0.08
    # Its columns sum to 0 (softmax probabilities always sum to 1); the notebook's do not.
    np.testing.assert_allclose(trace["dZ2"].sum(axis=0), 0, atol=1e-12)


def test_000_scalar_bias_gradient_is_the_total_sum_and_it_is_zero():
    # b2 is one number added to every class score, so dL/db2 sums dZ2 over classes and samples.
    # The notebook sums over samples only and prints a vector [-0.2005, -0.3318, 0.0580]. The
    # total is exactly 0: adding the same number to all softmax inputs changes nothing.
    trace = textbook_000()
    assert np.shape(trace["db2"]) == ()
    assert abs(float(trace["db2"])) < 1e-15


def test_001_relu_softmax_forward_and_the_missing_one_over_n():
    x = np.array([[5.1, 1.4], [7.0, 4.7], [6.3, 6.0], [4.9, 1.5]])
    w1 = np.array([[0.00496714, -0.00138264, 0.00647689, 0.0152303],
                   [-0.00234153, -0.00234137, 0.01579213, 0.00767435]])
    w2 = np.array([[-0.00469474, 0.0054256, -0.00463418], [-0.0046573, 0.00241962, -0.0191328],
                   [-0.01724918, -0.00562288, -0.01012831], [0.00314247, -0.00908024, -0.01412304]])
    arch = Architecture("rows", 2, 4, (Dense(4, "relu"), Dense(3, "softmax")), Loss("cross_entropy", "mean"), 0.1)
    trace = engine.run(arch, {"X": x, "Y": np.array([0, 1, 2, 0.0]), "W1": w1, "b1": np.zeros((1, 4)),
                              "W2": w2, "b2": np.zeros((1, 3))})
    # The notebook prints its weights to 8 decimals; times inputs up to 7 that leaves ~5e-8.
    np.testing.assert_allclose(trace["Z1"][0], [0.02205427, -0.0103294, 0.05514109, 0.08841861], atol=6e-8)
    np.testing.assert_allclose(trace["A2"][0], [0.33348322, 0.33341105, 0.33310573], atol=6e-8)
    np.testing.assert_allclose(trace["loss"], 1.098526115817355, atol=6e-8)
    # The notebook's dl_dzj = p - onehot is the gradient of the SUM of the losses; its loss is
    # the mean, so the correct dZ2 is a quarter of it (and so are dW2 and db2).
    notebook_dz = trace["A2"] - one_hot(np.array([0, 1, 2, 0]), 3)
    np.testing.assert_allclose(trace["dZ2"], notebook_dz / 4, atol=1e-12)
    np.testing.assert_allclose(trace["db2"], [[-0.66601871, 0.33381037, 0.33220833]] * np.array(0.25), atol=6e-8)


def test_002_printed_forward_values_do_not_follow_from_the_given_weights():
    # The notebook's printed s = W_1 X comes from another run: with the W_1 and X it shows,
    # s[0, 0] = 0.6 * 0.75 + 0.01 * 0.8 = 0.458, not the printed 0.4609029. The engine computes
    # from the given arrays.
    x = np.array([[0.75, 0.2, -0.75, 0.2], [0.8, 0.05, 0.8, -0.05]])
    w1 = np.array([[0.6, 0.01], [0.7, 0.43], [0.0, 0.88]])
    w2 = np.array([[0.02, 0.03, 0.09]])
    arch = Architecture("columns", 2, 4, (Dense(3, "relu", "none"), Dense(1, "identity", "none")),
                        Loss("mse", "mean", True), 0.5)
    trace = engine.run(arch, {"X": x, "Y": np.array([[1, 1, -1, -1.0]]), "W1": w1, "W2": w2})
    assert trace["Z1"][0, 0] == 0.6 * 0.75 + 0.01 * 0.8
    assert abs(trace["Z1"][0, 0] - 0.4609029) > 2e-3
    # By hand: the output of sample 0 is W2 relu(W1 x) = 0.02*0.458 + 0.03*0.869 + 0.09*0.704.
    np.testing.assert_allclose(trace["Z2"][0, 0], 0.02 * 0.458 + 0.03 * (0.7 * 0.75 + 0.43 * 0.8) + 0.09 * 0.704)
    # The notebook's formulas are right: dL/dYout = (Yout - y) / N, and the update is W - 0.5 dW.
    np.testing.assert_allclose(trace["dZ2"], (trace["Z2"] - np.array([[1, 1, -1, -1]])) / 4)
    np.testing.assert_allclose(trace["W2_new"], w2 - 0.5 * trace["dW2"])


def test_003_batch_norm_normalizes_each_feature_over_the_samples():
    # The notebook's matrix [[1..5], [6..10]] is normalized along its rows, i.e. the samples are
    # its columns: in the rows layout that is its transpose. Each feature becomes
    # (-sqrt 2, -sqrt 2 / 2, 0, sqrt 2 / 2, sqrt 2) (with eps = 0, as the notebook's np.var).
    m = np.array([[1, 2, 3, 4, 5], [6, 7, 8, 9, 10.0]]).T
    mu = layers.batchnorm_mean(m)
    var = layers.batchnorm_var(m, mu)
    np.testing.assert_allclose(mu, [[3, 8]])
    np.testing.assert_allclose(var, [[2, 2]])
    xhat = layers.batchnorm_normalize(m, mu, var, 0.0)
    np.testing.assert_allclose(xhat.T, [[-1.41421356, -0.70710678, 0, 0.70710678, 1.41421356]] * 2, atol=1e-8)
    # The notebook's backward sets dbeta = sum(output, axis=1) (summing the forward output, per
    # sample); dbeta is the upstream gradient summed over the samples.
    upstream = np.arange(10.0).reshape(5, 2)
    np.testing.assert_allclose(layers.batchnorm_backward_beta(upstream), [[20, 25]])
    # And dgamma = sum(upstream * xhat) per feature.
    np.testing.assert_allclose(layers.batchnorm_backward_gamma(upstream, xhat),
                               [[(upstream[:, 0] * xhat[:, 0]).sum(), (upstream[:, 1] * xhat[:, 1]).sum()]])

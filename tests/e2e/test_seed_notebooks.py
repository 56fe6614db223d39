"""The seed notebooks (../shared/seeds/) reproduced from their own given values.

Each test builds the notebook's network from the numbers the notebook gives, runs the engine,
and compares with what the notebook printed. Where the notebook printed a correct number the
engine must give it (to the printed precision); where it printed a wrong one the test states
the correct value, why the notebook's is wrong, and that the two differ. Every notebook
instance is also proven with SymPy, so "correct" here never just means "what the engine says".
"""

from __future__ import annotations

import numpy as np

from gradekit.engine import build as engine
from gradekit.ops import batchnorm as layers
from gradekit.ops.softmax import softmax
from gradekit.proof import checks as proof
from gradekit.ops.losses import one_hot
from gradekit.model.network import Architecture, BatchNorm, Dense, Loss
from gradekit.sampling.sampler import sample
from gradekit.spec.reader import builtin_problem_paths, load_problem

PRINTED_6 = 5e-7  # np.set_printoptions(precision=6): half a unit in the 6th decimal
PRINTED_8 = 5e-9  # numpy's default printing: 8 decimals


def _proven(arch: Architecture, given: dict[str, np.ndarray]) -> None:
    """The engine's trace of this notebook instance agrees with SymPy (and finite differences)."""
    assert proof.sympy_check(arch, given) < proof.SYMPY_TOLERANCE
    assert proof.finite_difference_check(arch, given) < proof.FD_TOLERANCE


# --- 004: one sample, sigmoid hidden and output layers, halved squared error, one SGD step ------

ARCH_004 = Architecture("rows", 2, 1, (Dense(2, "sigmoid", "vector"), Dense(1, "sigmoid", "scalar")),
                        Loss("mse", "mean", half=True), learning_rate=0.5)  # b2 = 1 is a scalar there
GIVEN_004 = {"X": np.array([[0.5, 0.1]]), "Y": np.array([[0.9]]),
             "W1": np.array([[0.15, 0.2], [0.24, 0.3]]), "b1": np.array([[1.0, 1.0]]),
             "W2": np.array([[-0.4], [0.5]]), "b2": np.array(1.0)}
# Everything the notebook printed, under the engine's names (its names in the comments).
PRINTED_004 = {
    "Z1": [[1.099, 1.13]],                                # inL1
    "A1": [[0.750073, 0.755839]],                         # outL1
    "Z2": [[1.07789]],                                    # inL2
    "A2": [[0.746095]],                                   # outL2
    "loss": 0.011843,                                     # "Error before"
    "dA2": [[-0.153905]],                                 # dEdOutL2
    "dZ2": [[-0.029155]],                                 # dEdInL2
    "dW2": [[-0.021869], [-0.022037]],                    # dEdW2
    "db2": -0.029155,                                     # dEdB2
    "dA1": [[0.011662, -0.014578]],                       # dEdOutL1
    "dZ1": [[0.002186, -0.00269]],                        # dEdInL1
    "dW1": [[0.001093, -0.001345], [0.000219, -0.000269]],  # dEdW1
    "db1": [[0.002186, -0.00269]],                        # dEdB1
    "loss_new": 0.010953,                                 # "Error afterL", after w -= 0.5 * dEdw
}


def test_004_every_printed_number_is_reproduced():
    trace = engine.run(ARCH_004, GIVEN_004)
    for name, printed in PRINTED_004.items():
        np.testing.assert_allclose(trace[name], printed, rtol=0, atol=PRINTED_6, err_msg=name)
    # By hand: dZ2 = (A2 - y) * A2 (1 - A2), and the update moves b2 against its gradient.
    a2 = 1 / (1 + np.exp(-(0.750073 * -0.4 + 0.755839 * 0.5 + 1)))
    assert abs(trace["dZ2"][0, 0] - (a2 - 0.9) * a2 * (1 - a2)) < 1e-6
    assert abs(trace["b2_new"] - (1 - 0.5 * trace["db2"])) < 1e-15
    _proven(ARCH_004, GIVEN_004)


def test_004_builtin_textbook_problem_is_this_notebook():
    trace = sample(load_problem(builtin_problem_paths()["textbook-sigmoid-single"]), 0).trace
    for name, printed in PRINTED_004.items():
        np.testing.assert_allclose(np.squeeze(trace[name]), np.squeeze(printed), rtol=0, atol=PRINTED_6,
                                   err_msg=name)


# --- 000: samples in columns, tanh, softmax with one scalar output bias, mean cross-entropy ------

ARCH_000 = Architecture("columns", 2, 3, (Dense(2, "tanh", "vector"), Dense(3, "softmax", "scalar")),
                        Loss("cross_entropy", "mean"), 0.1)
GIVEN_000 = {"X": np.array([[1.0, 2, 4], [-2, -5, -8]]), "Y": np.array([0.0, 1, 2]),
             "W1": np.array([[0.5, 0.5], [0.5, -0.5]]), "b1": np.array([[0.5], [0.5]]),
             "W2": np.array([[-1.0, 1], [1, -1], [-2, 1]]), "b2": np.array(-0.1)}
A2_000 = np.array([[0.46610686, 0.31533481, 0.28616887],
                   [0.06778628, 0.00931651, 0.0063363],
                   [0.46610686, 0.67534868, 0.70749484]])


def test_000_softmax_example_normalizes_each_column():
    # The notebook's first cell: softmax down each column (samples are columns).
    z = np.array([[0.1, -0.1, -0.2], [-0.2, 0.2, 0.3], [-0.3, 0.1, 0.2], [0.4, -0.3, -0.5]])
    a = softmax(z.T).T
    np.testing.assert_allclose(a, [[0.26588694, 0.22779083, 0.20486076], [0.19697389, 0.30748546, 0.3377583],
                                   [0.17822935, 0.27822435, 0.30561635], [0.35890983, 0.18649936, 0.15176459]],
                               atol=PRINTED_8)
    np.testing.assert_allclose(a.sum(axis=0), 1.0)


def test_000_forward_pass_and_prediction_match_the_notebook():
    trace = engine.run(ARCH_000, GIVEN_000)
    np.testing.assert_allclose(trace["Z1"], [[0, -1, -1.5], [2, 4, 6.5]], atol=1e-15)
    np.testing.assert_allclose(trace["A1"], [[0.0, -0.76159416, -0.90514825], [0.96402758, 0.9993293, 0.99999548]],
                               atol=PRINTED_8)
    np.testing.assert_allclose(trace["Z2"], [[0.86402758, 1.66092346, 1.80514373],
                                             [-1.06402758, -1.86092346, -2.00514373],
                                             [0.86402758, 2.42251761, 2.71029199]], atol=PRINTED_8)
    np.testing.assert_allclose(trace["A2"], A2_000, atol=PRINTED_8)
    # Sample 0 is an exact tie between classes 0 and 2 (W2 rows -1,1 and -2,1 meet A1 = (0, .964));
    # argmax takes the first, as the notebook's np.argmax does: P = [0 2 2].
    np.testing.assert_array_equal(trace["pred"], [0, 2, 2])
    # dLossdA2 = -Yonehot / A2 / 3 is right (the mean over 3 samples): the notebook's printout.
    np.testing.assert_allclose(trace["dA2"], [[-0.71514359, 0, 0], [0, -35.77877846, 0], [0, 0, -0.47114596]],
                               atol=PRINTED_8)
    _proven(ARCH_000, GIVEN_000)


def test_000_notebook_softmax_jacobian_multiplies_by_A2_twice():
    # The notebook computes dLossdZ2 = prod2 - A2 * sumprod, where prod2 = A2 * dA2 and
    # sumprod = A2 * sum(A2 * dA2) already holds the A2 factor: the second term gets A2 twice.
    # The softmax Jacobian gives dZ2 = A2 * (dA2 - sum_k A2_k dA2_k) = prod2 - sumprod, which with
    # cross-entropy collapses to (A2 - onehot(Y)) / 3. From the notebook's own printed terms:
    prod2 = -np.eye(3) / 3  # printed "A2*dLossdA": -1/3 on the diagonal
    sumprod = np.array([[-0.15536895, -0.1051116, -0.09538962],
                        [-0.02259543, -0.0031055, -0.0021121],
                        [-0.15536895, -0.22511623, -0.23583161]])  # printed; = -A2 / 3
    correct = prod2 - sumprod
    trace = engine.run(ARCH_000, GIVEN_000)
    np.testing.assert_allclose(trace["dZ2"], correct, atol=PRINTED_8)
    np.testing.assert_allclose(trace["dZ2"], (A2_000 - one_hot(np.array([0, 1, 2]), 3).T) / 3, atol=PRINTED_8)
    np.testing.assert_allclose(trace["dZ2"], [[-0.17796438, 0.1051116, 0.09538962],
                                              [0.02259543, -0.33022783, 0.0021121],
                                              [0.15536895, 0.22511623, -0.09750172]], atol=PRINTED_8)
    notebook = np.array([[-2.60914798e-01, 3.31453475e-02, 2.72975400e-02],
                         [1.53165977e-03, -3.33304401e-01, 1.33828888e-05],
                         [7.24185355e-02, 1.52031947e-01, -1.66483685e-01]])
    np.testing.assert_allclose(prod2 - A2_000 * sumprod, notebook, atol=1e-8)  # their formula, their numbers
    assert np.abs(trace["dZ2"] - notebook).max() > 0.08
    # The correct dZ2 sums to 0 per sample (the probabilities always sum to 1); the notebook's does not.
    np.testing.assert_allclose(trace["dZ2"].sum(axis=0), 0, atol=1e-15)
    assert np.abs(notebook.sum(axis=0)).max() > 0.1
    # Everything after inherits the error: the notebook's dLossdW2 [[-0.0500, -0.1911], ...] is
    # wrong; the correct dW2[0, 0] = sum over samples of dZ2[0, n] * A1[0, n]:
    by_hand = -0.17796438 * 0 + 0.1051116 * -0.76159416 + 0.09538962 * -0.90514825
    assert abs(trace["dW2"][0, 0] - by_hand) < 1e-8 and abs(trace["dW2"][0, 0] - -0.04995162) > 0.1


def test_000_scalar_bias_gradient_is_the_total_sum_and_it_is_zero():
    # b2 = [[-0.1]] is one number added to every class score, so dL/db2 sums dZ2 over classes
    # AND samples. The notebook sums over samples only and prints a per-class vector
    # [-0.20047191 -0.33175936 0.0579668] (of its wrong dZ2). The correct total is exactly 0:
    # adding the same number to every softmax input changes no probability, hence no loss.
    trace = engine.run(ARCH_000, GIVEN_000)
    assert np.shape(trace["db2"]) == ()
    assert abs(float(trace["db2"])) < 1e-15
    assert abs(float(trace["b2_new"]) - -0.1) < 1e-16


def test_000_builtin_textbook_problem_is_this_notebook():
    trace = sample(load_problem(builtin_problem_paths()["textbook-tanh-softmax-columns"]), 0).trace
    reference = engine.run(ARCH_000, GIVEN_000)
    for name in ("Z1", "A1", "Z2", "A2", "loss", "dZ2", "dW2", "db2", "dA1", "dZ1", "dW1", "db1"):
        np.testing.assert_allclose(trace[name], reference[name], rtol=1e-14, atol=1e-15, err_msg=name)


# --- 001: samples in rows, ReLU + softmax, mean cross-entropy over 4 samples -----------------------

X_001 = np.array([[5.1, 1.4], [7.0, 4.7], [6.3, 6.0], [4.9, 1.5]])
ARCH_001 = Architecture("rows", 2, 4, (Dense(4, "relu"), Dense(3, "softmax")), Loss("cross_entropy", "mean"), 0.1)


def _given_001() -> dict[str, np.ndarray]:
    # The notebook draws its weights with np.random.seed(42); randn(2, 4) * 0.01, randn(4, 3) * 0.01.
    # The legacy RandomState stream is frozen, so this gives the notebook's exact floats, not
    # just the 8 decimals it printed.
    rs = np.random.RandomState(42)
    w1, w2 = rs.randn(2, 4) * 0.01, rs.randn(4, 3) * 0.01
    return {"X": X_001, "Y": np.array([0.0, 1, 2, 0]), "W1": w1, "b1": np.zeros((1, 4)), "W2": w2,
            "b2": np.zeros((1, 3))}


def test_001_weights_are_the_printed_ones():
    given = _given_001()
    np.testing.assert_allclose(given["W1"], [[0.00496714, -0.00138264, 0.00647689, 0.0152303],
                                             [-0.00234153, -0.00234137, 0.01579213, 0.00767435]], atol=PRINTED_8)
    np.testing.assert_allclose(given["W2"], [[-0.00469474, 0.0054256, -0.00463418],
                                             [-0.0046573, 0.00241962, -0.0191328],
                                             [-0.01724918, -0.00562288, -0.01012831],
                                             [0.00314247, -0.00908024, -0.01412304]], atol=PRINTED_8)


def test_001_forward_pass_and_loss_match_the_notebook():
    trace = engine.run(ARCH_001, _given_001())
    np.testing.assert_allclose(trace["Z1"], [[0.02205427, -0.0103294, 0.05514109, 0.08841861],
                                             [0.02376478, -0.02068294, 0.1195612, 0.14268152],
                                             [0.01724379, -0.02275887, 0.13555715, 0.14199696],
                                             [0.02082669, -0.01028701, 0.05542493, 0.08613998]], atol=PRINTED_8)
    assert (trace["A1"][:, 1] == 0).all()  # the second unit is off for every sample
    np.testing.assert_allclose(trace["Z2"], [[-0.00077682, -0.00099326, -0.00190943],
                                             [-0.00172553, -0.00183892, -0.00333618],
                                             [-0.00197298, -0.00195803, -0.0034583],
                                             [-0.00078312, -0.00098082, -0.00187443]], atol=PRINTED_8)
    np.testing.assert_allclose(trace["A2"], [[0.33348322, 0.33341105, 0.33310573],
                                             [0.33352486, 0.33348704, 0.3329881],
                                             [0.33349667, 0.33350165, 0.33300168],
                                             [0.33347655, 0.33341063, 0.33311282]], atol=PRINTED_8)
    # The notebook calls it "cross binary entropy"; it is the categorical cross-entropy, averaged.
    assert abs(float(trace["loss"]) - 1.098526115817355) < 1e-14
    _proven(ARCH_001, _given_001())


def test_001_notebook_gradients_omit_the_one_over_n_of_the_mean():
    # dl_dzj = p - onehot is the gradient of the SUM of the per-sample losses, but the loss the
    # notebook computes is their mean (np.mean): every gradient it prints is 4 times too large.
    # The correct ones are the printed ones divided by N = 4 (the ReLU mask is the same either way).
    trace = engine.run(ARCH_001, _given_001())
    printed = {
        "dZ2": [[-0.66651678, 0.33341105, 0.33310573], [0.33352486, -0.66651296, 0.3329881],
                [0.33349667, 0.33350165, -0.66699832], [-0.66652345, 0.33341063, 0.33311282]],  # dl_dzj
        "dW2": [[-0.01490413, 0.00420828, 0.01069585], [0, 0, 0], [0.01139001, 0.00238335, -0.01377336],
                [-0.02140346, 0.01045687, 0.01094659]],  # dz_out_dw2
        "db2": [[-0.66601871, 0.33381037, 0.33220833]],  # dz_out_db2
        "dZ1": [[0.00339441, 0, 0.00624834, -0.00982643], [-0.00672517, 0, -0.00537792, 0.00239739],
                [0.00333475, 0, -0.00087222, 0.00743977], [0.00339441, 0, 0.00624839, -0.00982655]],  # dL_dZ1
        "dW1": [[0.00787682, 0, 0.01934324, -0.03461259], [-0.00175601, 0, -0.01238925, 0.02740953]],  # dL_dW1
    }
    for name, values in printed.items():
        np.testing.assert_allclose(trace[name], np.array(values) / 4, rtol=0, atol=PRINTED_8 / 4 + 1e-15,
                                   err_msg=name)
        assert np.abs(trace[name] - np.array(values)).max() > 0.75 * np.abs(values).max()
    np.testing.assert_allclose(trace["dZ2"], (trace["A2"] - one_hot(np.array([0, 1, 2, 0]), 3)) / 4, atol=1e-16)


# --- 002: samples in columns, ReLU without bias, linear output, halved mean squared error -------

ARCH_002 = Architecture("columns", 2, 4, (Dense(3, "relu", "none"), Dense(1, "identity", "none")),
                        Loss("mse", "mean", half=True), 0.5)
GIVEN_002 = {"X": np.array([[0.75, 0.2, -0.75, 0.2], [0.8, 0.05, 0.8, -0.05]]), "Y": np.array([[1.0, 1, -1, -1]]),
             "W1": np.array([[0.6, 0.01], [0.7, 0.43], [0.0, 0.88]]), "W2": np.array([[0.02, 0.03, 0.09]])}


def test_002_backward_pass_and_update_match_the_notebook():
    trace = engine.run(ARCH_002, GIVEN_002)
    np.testing.assert_allclose(trace["dZ2"], [[-0.2253525, -0.24719625, 0.26584, 0.25148625]], atol=PRINTED_8)
    np.testing.assert_allclose(trace["dW2"], [[-0.10294599, -0.2059524, 0.01762657]], atol=PRINTED_8)
    np.testing.assert_allclose(trace["dZ1"], [[-0.00450705, -0.00494393, 0, 0.00502973],  # delta_1
                                              [-0.00676058, -0.00741589, 0, 0.00754459],
                                              [-0.02028173, -0.02224766, 0.0239256, 0]], atol=PRINTED_8)
    np.testing.assert_allclose(trace["dW1"], [[-0.00336313, -0.00410432], [-0.00504469, -0.00615648],
                                              [-0.03760503, 0.00180272]], atol=PRINTED_8)
    np.testing.assert_allclose(trace["W2_new"], [[0.07147299, 0.1329762, 0.08118672]], atol=PRINTED_8)
    np.testing.assert_allclose(trace["W1_new"], [[0.60168156, 0.01205216], [0.70252235, 0.43307824],
                                                 [0.01880251, 0.87909864]], atol=PRINTED_8)
    # By hand: sample 0's output is W2 relu(W1 x) = 0.02*0.458 + 0.03*0.869 + 0.09*0.704 = 0.09859,
    # and dL/dYout = (0.09859 - 1) / 4 = -0.2253525, the printed first entry.
    assert abs(trace["Z2"][0, 0] - 0.09859) < 1e-15 and abs((0.09859 - 1) / 4 - -0.2253525) < 1e-15
    _proven(ARCH_002, GIVEN_002)


def test_002_printed_forward_pass_is_the_one_after_the_update():
    # The forward cell (In [54]) ran after the update cell (In [51]): its printed s = W_1 X, the
    # output and "Loss 0.46571183" are those of the UPDATED weights, not of the given W_1 shown.
    # With the given W_1, s[0, 0] = 0.6 * 0.75 + 0.01 * 0.8 = 0.458 (printed 0.4609029), and the
    # loss before the step, 0.49161195, is never printed. The printed loss is the loss after.
    trace = engine.run(ARCH_002, GIVEN_002)
    assert trace["Z1"][0, 0] == 0.6 * 0.75 + 0.01 * 0.8
    assert abs(0.60168156 * 0.75 + 0.01205216 * 0.8 - 0.4609029) < 1e-8  # the updated W_1 gives the printout
    np.testing.assert_allclose(float(trace["loss"]), 0.49161195, atol=PRINTED_8)
    np.testing.assert_allclose(float(trace["loss_new"]), 0.46571183, atol=PRINTED_8)
    after = engine.run(ARCH_002, {**GIVEN_002, "W1": trace["W1_new"], "W2": trace["W2_new"]})
    np.testing.assert_allclose(after["Z1"], [[0.4609029, 0.12093892, -0.44161944, 0.1197337],
                                             [0.87335435, 0.16215838, -0.18042917, 0.11885056],
                                             [0.7173808, 0.04771543, 0.68917703, -0.04019443]], atol=PRINTED_8)
    np.testing.assert_allclose(after["A2"], [[0.20731924, 0.03408093, 0.05595202, 0.02436202]], atol=PRINTED_8)


# --- 003: batch normalization ------------------------------------------------------------------


def test_003_batch_norm_in_the_columns_layout_normalizes_each_row_over_its_columns():
    # The notebook normalizes [[1..5], [6..10]] along axis=1: its samples are the columns, which
    # is the engine's columns layout. Put the matrix through a batch-norm layer there (behind an
    # identity layer W = I, since batch norm normalizes a layer's output), with the notebook's eps.
    m = np.array([[1.0, 2, 3, 4, 5], [6, 7, 8, 9, 10]])
    arch = Architecture("columns", 2, 5, (Dense(2, "identity", "none"), BatchNorm(2, "identity", eps=1e-9)),
                        Loss("mse", "mean"))
    trace = engine.run(arch, {"X": m, "Y": np.zeros((2, 5)), "W1": np.eye(2),
                              "gamma2": np.ones((2, 1)), "beta2": np.zeros((2, 1))})
    np.testing.assert_allclose(trace["mu2"], [[3], [8]])
    np.testing.assert_allclose(trace["var2"], [[2], [2]])  # divides by N, as np.var does
    expected = [[-1.41421356, -0.70710678, 0, 0.70710678, 1.41421356]] * 2
    np.testing.assert_allclose(trace["Xhat2"], expected, atol=PRINTED_8)
    np.testing.assert_allclose(trace["Z2"], expected, atol=PRINTED_8)  # gamma = 1, beta = 0: output = x_hat
    # The same through the layer functions, which work in rows (samples are rows): the transpose.
    mu = layers.batchnorm_mean(m.T)
    xhat = layers.batchnorm_normalize(m.T, mu, layers.batchnorm_var(m.T, mu), 1e-9)
    np.testing.assert_allclose(xhat.T, expected, atol=PRINTED_8)


def test_003_notebook_dgamma_and_dbeta_sum_over_the_wrong_things():
    # Cell 659 feeds the forward output back as the upstream gradient (dout = output = x_hat).
    # Its dgamma = np.sum(dout * x_hat, axis=0) sums over the 2 features, per sample, and prints
    # [4. 1. 0. 1. 4.]; gamma has one entry per feature, so dgamma sums over the 5 samples:
    # sum of x_hat^2 = N var / (var + eps) = 5 for each feature. Its dbeta = np.sum(output, axis=1)
    # sums the forward output instead of the upstream gradient (here the same numbers, by accident).
    m = np.array([[1.0, 2, 3, 4, 5], [6, 7, 8, 9, 10]]).T  # rows layout: samples are rows
    mu = layers.batchnorm_mean(m)
    var = layers.batchnorm_var(m, mu)
    xhat = layers.batchnorm_normalize(m, mu, var, 1e-9)
    dout = xhat
    np.testing.assert_allclose((dout * xhat).sum(axis=1), [4, 1, 0, 1, 4], atol=1e-8)  # the notebook's number
    np.testing.assert_allclose(layers.batchnorm_backward_gamma(dout, xhat), [[5, 5]], atol=1e-8)
    np.testing.assert_allclose(layers.batchnorm_backward_beta(dout), [[0, 0]], atol=1e-12)


def test_003_notebook_staged_backward_agrees_with_the_engine_formula():
    # bn_backward (cell 579) walks the computational graph step by step (through ivar, sqrtvar,
    # var, the mean); applied along the sample axis it is right, and must equal the engine's
    # compact dX = (N dXhat - sum dXhat - Xhat sum(dXhat Xhat)) / (N sqrt(var + eps)).
    rng = np.random.default_rng(3)
    x, gamma, eps = rng.normal(size=(5, 3)), rng.uniform(0.5, 1.5, size=(1, 3)), 1e-5
    dout = rng.normal(size=(5, 3))
    n = x.shape[0]
    mean = x.sum(axis=0) / n
    x_mean = x - mean
    var = (x_mean**2).sum(axis=0) / n
    sqrtvar = np.sqrt(var + eps)
    ivar = 1 / sqrtvar
    x_hat = x_mean * ivar
    # The notebook's bn_backward, line for line:
    dbeta = np.sum(dout, axis=0)
    dgamma = np.sum(dout * x_hat, axis=0)
    dxhat = dout * gamma
    divar = np.sum(dxhat * x_mean, axis=0)
    dxmu1 = dxhat * ivar
    dsqrtvar = -1.0 / (sqrtvar**2) * divar
    dvar = 0.5 * 1.0 / np.sqrt(var + eps) * dsqrtvar
    dsq = 1.0 / n * np.ones(x.shape) * dvar
    dxmu2 = 2 * x_mean * dsq
    dmu = -1 * np.sum(dxmu1 + dxmu2, axis=0)
    dx = dxmu1 + dxmu2 + 1.0 / n * np.ones(x.shape) * dmu
    mu_e = layers.batchnorm_mean(x)
    var_e = layers.batchnorm_var(x, mu_e)
    xhat_e = layers.batchnorm_normalize(x, mu_e, var_e, eps)
    np.testing.assert_allclose(layers.batchnorm_backward_beta(dout), [dbeta], rtol=1e-12)
    np.testing.assert_allclose(layers.batchnorm_backward_gamma(dout, xhat_e), [dgamma], rtol=1e-12)
    d_xhat = layers.batchnorm_backward_xhat(dout, gamma)
    np.testing.assert_allclose(layers.batchnorm_backward_input(d_xhat, xhat_e, var_e, eps), dx, rtol=1e-10,
                               atol=1e-13)


def test_003_batch_of_one_sample_normalizes_everything_to_zero():
    # Cell 661 runs batch norm on count_data = 1 sample: the variance is 0 and every x_hat is 0,
    # so the layer outputs beta whatever its input (and passes no gradient back). Batch norm
    # needs N >= 2, which the spec checker enforces.
    x = np.array([[0.3, -1.2, 2.0]])
    mu = layers.batchnorm_mean(x)
    xhat = layers.batchnorm_normalize(x, mu, layers.batchnorm_var(x, mu), 1e-9)
    np.testing.assert_array_equal(xhat, [[0, 0, 0]])

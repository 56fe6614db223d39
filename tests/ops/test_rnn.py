"""The recurrent family (issue 22): follow-through through time, and every named BPTT mistake
recognized from a student's real wrong computation."""

from __future__ import annotations

import numpy as np
import pytest

from gradekit.grading.grade import grade_submission
from grading_helpers import key_for, student_values, submission, with_answers

LAST = "rnn-tanh-last-step"  # rows, one unit, h0 = 0, output at step 3 only
EVERY = "rnn-two-units-every-step"  # columns, two units, h0 given, outputs at steps 1 and 2
CELL = "lstm-cell-step"  # one LSTM cell step, a single unit
SOFTMAX = "rnn-softmax-every-step"  # rows, two units, 2 classes at steps 1 and 2, cross-entropy averaged
SEEDS = range(6)


def graded(pid: str, seed: int, changes: dict):
    key = key_for(pid, seed)
    values = student_values(key, pid, changes)
    report = grade_submission(submission(with_answers(key, pid, values)), key)
    return {q.name: q for p in report.problems for q in p.quantities}


@pytest.mark.parametrize("pid", [LAST, EVERY, SOFTMAX])
def test_a_slip_in_h1_carried_honestly_earns_follow_through_later(pid):
    for seed in range(3):
        # a slip of the right magnitude (a single number 25% off: a plausible attempt, policy rule 3)
        s = graded(pid, seed, {"h1": lambda v: 1.25 * np.tanh(v["z1"])})
        assert s["h1"].status == "incorrect" and s["h1"].points == 0
        assert s["z1"].status == "correct"
        later = [q for q in s if q not in ("z1", "h1")]
        followed = [q for q in later if s[q].status == "follow-through"]
        assert all(s[q].status in ("follow-through", "correct") for q in later), \
            [(q, s[q].status) for q in later if s[q].status not in ("follow-through", "correct")]
        assert {"z2", "h2", "loss", "dWhh"} <= set(followed), followed
        assert all(s[q].points == pytest.approx(s[q].possible) for q in later)


def _x_rows(v, t):
    return v["X"][t - 1:t, :]


CASES = [
    # (problem, quantity, the student's wrong computation (problem's own layout), words of the feedback)
    (LAST, "dWhh", {"dWhh": lambda v: v["h2"].T @ v["dz3"]}, "last step only"),
    (LAST, "dWxh", {"dWxh": lambda v: _x_rows(v, 3).T @ v["dz3"]}, "last step only"),
    (LAST, "dbh", {"dbh": lambda v: v["dz3"]}, "last step only"),
    (LAST, "dWhh", {"dWhh": lambda v: v["h2"].T @ v["dz2"] + v["h3"].T @ v["dz3"]}, "paired with h_t"),
    (EVERY, "dWhh", {"dWhh": lambda v: v["dz1"] @ v["h1"].T + v["dz2"] @ v["h2"].T}, "paired with h_t"),
    (EVERY, "dWhy", {"dWhy": lambda v: v["dy2"] @ v["h2"].T}, "last step only"),
    (EVERY, "dh1", {"dh1": lambda v: v["Why"].T @ v["dy1"]}, "carried back from step 2"),
    (EVERY, "dh1", {"dh1": lambda v: v["Why"].T @ v["dy1"] + v["Whh"] @ v["dz2"]}, "W_hh is not transposed"),
    (LAST, "dz1", {"dz1": lambda v: v["dh1"] * (1 - v["z1"] ** 2)}, "not 1 - z_1^2"),
    (LAST, "dz2", {"dz2": lambda v: v["dh2"] * (1 - np.tanh(v["h2"]) ** 2)}, "taken at the output h_2"),
    (EVERY, "dz1", {"dz1": lambda v: v["dh1"] * (1 - v["z1"] ** 2)}, "not 1 - z_1^2"),
    (EVERY, "dy1", {"dy1": lambda v: v["y1"] - v["Y"][:, :1]}, "MEAN over the 2 output steps"),
    # softmax cross-entropy outputs: Y holds one class label per output step
    (SOFTMAX, "dy1", {"dy1": lambda v: 0.5 * v["p1"]}, "one-hot of step 1's label was not subtracted"),
    (SOFTMAX, "dy2", {"dy2": lambda v: v["p2"] - np.eye(2)[int(v["Y"][1])]}, "MEAN over the 2 output steps"),
    # the LSTM cell step
    (CELL, "dc1", {"dc1": lambda v: v["dh1"] * v["o1"] * (1 - np.tanh(v["c1"]) ** 2)}, "only from h_t"),
    (CELL, "dc1", {"dc1": lambda v: v["dh1"] * v["o1"] * (1 - np.tanh(v["c1"]) ** 2) + v["dc2"]}, "forget gate"),
    (CELL, "dz1", {"dz1": lambda v: np.concatenate([v["di1"] * (1 - v["i1"] ** 2), v["df1"] * (1 - v["f1"] ** 2),
                                                    v["do1"] * (1 - v["o1"] ** 2), v["dg1"] * v["g1"] * (1 - v["g1"])],
                                                   axis=1)}, "swapped"),
    (CELL, "do1", {"do1": lambda v: v["dh1"] * v["c1"]}, "not c_t"),
]


@pytest.mark.parametrize("pid, name, change, words", CASES, ids=[f"{c[0]}:{c[1]}:{c[3][:20]}" for c in CASES])
def test_bptt_mistake_is_named(pid, name, change, words):
    wrong = named = 0
    for seed in SEEDS:
        q = graded(pid, seed, change)[name]
        if q.status == "correct":
            continue
        assert q.status in ("incorrect", "invalid") and q.points == 0, (seed, q)
        wrong += 1
        named += words in q.feedback
    assert wrong >= 3, f"the mistake made a difference on only {wrong} of {len(SEEDS)} instances"
    assert named == wrong, f"named on {named} of {wrong} wrong answers: {words}"


def test_a_bad_rnn_spec_is_one_line_naming_file_and_field(tmp_path):
    from gradekit.spec.reader import load_problem
    from gradekit.util.errors import SpecError
    from gradekit.util.resources import problems_dir

    text = (problems_dir() / f"{LAST}.toml").read_text()
    for old, new, words in [("steps = 3", "steps = 4", "steps"), ("Whh = {", "h0 = {", "write h for h0"),
                            ('activation = "tanh"', 'activation = "relu"', "activation")]:
        path = tmp_path / "bad.toml"
        path.write_text(text.replace(old, new))
        with pytest.raises(SpecError) as err:
            load_problem(path)
        assert "bad.toml" in str(err.value) and words in str(err.value) and "\n" not in str(err.value)


def test_a_slip_in_the_forget_gate_earns_follow_through_in_the_lstm_cell():
    for seed in range(3):
        s = graded(CELL, seed, {"f1": lambda v: 1.25 / (1 + np.exp(-v["z1"][:, 1:2]))})
        assert s["f1"].status == "incorrect"
        for later in ("c1", "dc0"):  # computed from f1 itself
            assert s[later].status == "follow-through", (later, s[later].feedback)
        for later in ("h1", "do1", "dc1", "di1", "dg1", "dz1", "dWx"):  # through c1 (a small change may be in the margin)
            assert s[later].status in ("follow-through", "correct"), (later, s[later].feedback)
            assert s[later].points == pytest.approx(s[later].possible)


def test_softmax_cross_entropy_outputs_worked_by_hand():
    """Rows, 1 input, 1 linear unit, 2 classes at both steps, the mean over the 2 steps:
    z1 = 0.5, y1 = (0.5, -0.5), p1 = (sigmoid(1), sigmoid(-1)); z2 = 0.5 + 2 * 0.5 = 1.5,
    y2 = (1.5, -1.5), p2 = (sigmoid(3), sigmoid(-3)); labels (1, 0)."""
    from gradekit.engine import build as engine
    from gradekit.model.rnn import Rnn

    arch = Rnn("rows", 1, 1, 2, 2, "identity", outputs_at="every", reduction="mean", loss="cross_entropy")
    given = {"X": np.array([[1.0], [2.0]]), "Y": np.array([1.0, 0.0]), "Wxh": np.array([[0.5]]),
             "Whh": np.array([[1.0]]), "bh": np.array([[0.0]]), "Why": np.array([[1.0, -1.0]]),
             "by": np.array([[0.0, 0.0]])}
    tr = engine.run(arch, given)
    np.testing.assert_allclose(tr["p1"], [[0.7310586, 0.2689414]], atol=1e-7)
    np.testing.assert_allclose(tr["p2"], [[0.9525741, 0.0474259]], atol=1e-7)
    # L = -(1/2)(log p1[1] + log p2[0]) = (1.3132617 + 0.0485874) / 2
    assert float(tr["loss"]) == pytest.approx(0.6809245, abs=1e-7)
    # dy_t = (1/2)(p_t - onehot(y_t))
    np.testing.assert_allclose(tr["dy1"], [[0.3655293, -0.3655293]], atol=1e-7)
    np.testing.assert_allclose(tr["dy2"], [[-0.0237129, 0.0237129]], atol=1e-7)
    # dh2 = dy2 W_hy^T; dh1 = dy1 W_hy^T + dz2 W_hh^T = 0.7310586 - 0.0474259
    np.testing.assert_allclose(tr["dh2"], [[-0.0474259]], atol=1e-7)
    np.testing.assert_allclose(tr["dh1"], [[0.6836327]], atol=1e-7)
    # dW_hy = h1^T dy1 + h2^T dy2 = 0.5 dy1 + 1.5 dy2
    np.testing.assert_allclose(tr["dWhy"], [[0.1471953, -0.1471953]], atol=1e-7)


def test_a_bad_softmax_rnn_spec_is_one_line_naming_file_and_field(tmp_path):
    from gradekit.spec.reader import load_problem
    from gradekit.util.errors import SpecError
    from gradekit.util.resources import problems_dir

    text = (problems_dir() / f"{SOFTMAX}.toml").read_text()
    for old, new, words in [("outputs = 2", "outputs = 1", "2 classes or more"),
                            ('reduction = "mean"', 'reduction = "mean"\nhalf = true', "no 1/2"),
                            ('kind = "cross_entropy"', 'kind = "hinge"', "kind")]:
        path = tmp_path / "bad.toml"
        path.write_text(text.replace(old, new))
        with pytest.raises(SpecError) as err:
            load_problem(path)
        assert "bad.toml" in str(err.value) and words in str(err.value) and "\n" not in str(err.value)
